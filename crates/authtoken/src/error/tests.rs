//! The error table, word for word, and the challenges and bodies built from it.
use super::*;

fn all_errors() -> Vec<AuthError> {
    let mut errors = FIXED_CHALLENGE_ERRORS.to_vec();
    errors.extend([
        AuthError::InsufficientScope {
            required: "write".into(),
        },
        AuthError::Unavailable(StoreError::new(std::io::Error::other("down"))),
    ]);
    errors
}

#[test]
fn the_error_table() {
    let table = [
        (401, "Authentication credentials were not provided."),
        (401, "Invalid token header. No credentials provided."),
        (
            401,
            "Invalid token header. Token string should not contain spaces.",
        ),
        (
            401,
            "Invalid token header. Token string should not contain invalid characters.",
        ),
        (
            400,
            "Invalid token header. Multiple different Authorization headers were sent.",
        ),
        (401, "Invalid token."),
        (401, "Token has expired."),
        (401, "User inactive or deleted."),
        (403, "You do not have permission to perform this action."),
        (503, "Authentication service unavailable."),
    ];
    for (error, (status, detail)) in all_errors().iter().zip(table) {
        assert_eq!(error.status(), status, "{error:?}");
        assert_eq!(error.detail(), detail);
        assert_eq!(error.to_string(), detail);
        assert_eq!(error.json_body(), format!("{{\"detail\":\"{detail}\"}}"));
    }
}

#[test]
fn throttled_is_429_with_retry_after_and_no_challenge() {
    let error = AuthError::Throttled { retry_after: 7 };
    for challenge in [Challenge::bearer("api"), Challenge::keyword("Token")] {
        let response = error.response(&challenge);
        assert_eq!(response.status, 429);
        assert_eq!(response.retry_after, Some(7));
        assert_eq!(response.www_authenticate, None);
        assert_eq!(
            response.body,
            "{\"detail\":\"Request was throttled. Expected available in 7 seconds.\"}"
        );
    }
    assert_eq!(
        AuthError::Throttled { retry_after: 1 }.json_body(),
        "{\"detail\":\"Request was throttled. Expected available in 1 second.\"}"
    );
    for other in all_errors() {
        assert_eq!(other.retry_after(), None);
        assert_eq!(other.response(&Challenge::bearer("api")).retry_after, None);
    }
}

#[test]
fn bearer_challenges_follow_rfc_6750() {
    let challenge = Challenge::bearer("api");
    assert_eq!(
        AuthError::NotProvided
            .www_authenticate(&challenge)
            .as_deref(),
        Some("Bearer realm=\"api\"")
    );
    assert_eq!(
        AuthError::InvalidToken
            .www_authenticate(&challenge)
            .as_deref(),
        Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Invalid token.\"")
    );
    assert_eq!(
        AuthError::InsufficientScope {
            required: "write".into()
        }
        .www_authenticate(&challenge)
        .as_deref(),
        Some(
            "Bearer realm=\"api\", error=\"insufficient_scope\", \
             error_description=\"You do not have permission to perform this action.\", scope=\"write\""
        )
    );
    let unavailable = AuthError::Unavailable(StoreError::new(std::io::Error::other("x")));
    assert_eq!(unavailable.www_authenticate(&challenge), None);
}

#[test]
fn every_401_carries_a_challenge_in_both_styles() {
    for challenge in [Challenge::bearer("api"), Challenge::keyword("Token")] {
        for error in all_errors() {
            if error.status() == 401 {
                assert!(error.www_authenticate(&challenge).is_some(), "{error:?}");
            }
        }
    }
}

#[test]
fn keyword_challenges_are_bare() {
    let challenge = Challenge::keyword("Token");
    assert_eq!(
        AuthError::InvalidToken
            .www_authenticate(&challenge)
            .as_deref(),
        Some("Token")
    );
    let scope = AuthError::InsufficientScope {
        required: "x".into(),
    };
    assert_eq!(scope.www_authenticate(&challenge), None);
}

/// The `WWW-Authenticate` value written out from scratch, as every response
/// was built before challenges kept theirs.
fn built(error: &AuthError, challenge: &Challenge) -> Option<String> {
    challenge.build(error)
}

#[test]
fn precomputed_challenges_equal_the_built_ones() {
    let mut errors = all_errors();
    errors.push(AuthError::Throttled { retry_after: 3 });
    let challenges = [
        Challenge::bearer("api"),
        Challenge::bearer("a\"b realm"),
        Challenge::bearer(""),
        Challenge::keyword("Token"),
        Challenge::keyword("Bearer"),
    ];
    for challenge in &challenges {
        for error in &errors {
            let expected = built(error, challenge);
            let shared = error.www_authenticate_bytes(challenge);
            assert_eq!(
                shared.as_deref(),
                expected.as_deref().map(str::as_bytes),
                "{error:?} {challenge:?}"
            );
            assert_eq!(error.www_authenticate(challenge), expected);
            let response = error.response(challenge);
            assert_eq!(response.www_authenticate, shared);
            if let Some(value) = &response.www_authenticate {
                assert!(
                    value.iter().all(|b| (b' '..=b'~').contains(b)),
                    "{value:?} is a valid header value"
                );
            }
        }
    }
    // The fixed ones are built once, when the challenge is made, not per call.
    let challenge = Challenge::bearer("api");
    let pointer = |challenge: &Challenge| {
        AuthError::InvalidToken
            .www_authenticate_bytes(challenge)
            .map(|value| value.as_ptr())
    };
    assert_eq!(pointer(&challenge), pointer(&challenge));
    assert_eq!(pointer(&challenge), pointer(&challenge.clone()));
    assert_eq!(challenge, Challenge::bearer("api"));
    assert_ne!(challenge, Challenge::bearer("other"));
    assert_ne!(Challenge::keyword("Token"), Challenge::keyword("Bearer"));
}

#[test]
fn static_bodies_equal_the_escaped_ones() {
    let mut errors = all_errors();
    errors.push(AuthError::Throttled { retry_after: 3 });
    for error in &errors {
        let built = error.build_json_body();
        assert_eq!(error.json_body(), built, "{error:?}");
        assert_eq!(error.json_body_bytes(), built.as_bytes(), "{error:?}");
        assert_eq!(
            error.response(&Challenge::bearer("api")).body,
            built.as_bytes()
        );
        match error {
            AuthError::Throttled { .. } => assert_eq!(error.static_json_body(), None),
            _ => assert_eq!(error.static_json_body(), Some(built.as_str())),
        }
    }
}

#[test]
fn challenges_compare_and_print_by_their_settings() {
    assert_eq!(Challenge::bearer("api"), Challenge::bearer("api"));
    assert_ne!(Challenge::bearer("api"), Challenge::bearer("other"));
    assert_ne!(Challenge::bearer("api"), Challenge::keyword("Bearer"));
    assert_eq!(
        format!("{:?}", Challenge::bearer("api")),
        "Challenge { style: Bearer, realm: \"api\", keyword: \"Bearer\", error_body: false }"
    );
}

#[test]
fn realms_cannot_break_the_quoting() {
    let challenge = Challenge::bearer("a\"b\\c\nd");
    assert_eq!(challenge.realm(), "abcd");
}

#[test]
fn store_errors_keep_their_source_and_hide_it_from_the_body() {
    let error = AuthError::Unavailable(StoreError::new(std::io::Error::other("secret dsn")));
    assert!(!error.json_body().contains("secret dsn"));
    let store = StdError::source(&error).expect("a source");
    assert!(
        store
            .source()
            .expect("the cause")
            .to_string()
            .contains("secret dsn")
    );
}

#[test]
fn every_error_has_its_own_stable_code() {
    let mut errors = all_errors();
    errors.push(AuthError::Throttled { retry_after: 3 });
    let codes: Vec<&str> = errors.iter().map(AuthError::code).collect();
    assert_eq!(
        codes,
        [
            "not_authenticated",
            "no_credentials",
            "credential_contains_spaces",
            "credential_invalid_characters",
            "conflicting_headers",
            "invalid_token",
            "token_expired",
            "user_inactive",
            "insufficient_scope",
            "unavailable",
            "throttled",
        ]
    );
    assert_eq!(
        AuthError::InsufficientScope {
            required: "write".into()
        }
        .required_scope(),
        Some("write")
    );
    assert_eq!(AuthError::InvalidToken.required_scope(), None);
}

#[test]
fn an_error_body_replaces_the_body_only() {
    let body: Arc<ErrorBodyFn> = Arc::new(|error: &AuthError| {
        Bytes::from(format!(
            r#"{{"error":{{"code":"{}","scope":{:?}}}}}"#,
            error.code(),
            error.required_scope().unwrap_or("")
        ))
    });
    for plain in [Challenge::bearer("api"), Challenge::keyword("Token")] {
        let custom = plain.clone().with_error_body(Arc::clone(&body));
        assert_ne!(custom, plain);
        let mut errors = all_errors();
        errors.push(AuthError::Throttled { retry_after: 3 });
        for error in errors {
            let (ours, theirs) = (error.response(&custom), error.response(&plain));
            assert_eq!(ours.status, theirs.status, "{error:?}");
            assert_eq!(ours.www_authenticate, theirs.www_authenticate, "{error:?}");
            assert_eq!(ours.retry_after, theirs.retry_after, "{error:?}");
            assert_eq!(theirs.body, error.json_body_bytes(), "{error:?}");
            let expected = format!(
                r#"{{"error":{{"code":"{}","scope":{:?}}}}}"#,
                error.code(),
                error.required_scope().unwrap_or("")
            );
            assert_eq!(ours.body, expected.as_bytes(), "{error:?}");
            let rejection = crate::Rejection::new(error.clone(), custom.clone());
            assert_eq!(rejection.body(), expected);
            assert_eq!(rejection.response(), ours);
        }
    }
}

#[test]
fn the_message_is_the_detail_with_the_wait() {
    assert_eq!(AuthError::InvalidToken.message(), "Invalid token.");
    assert_eq!(
        AuthError::Throttled { retry_after: 1 }.message(),
        "Request was throttled. Expected available in 1 second."
    );
}
