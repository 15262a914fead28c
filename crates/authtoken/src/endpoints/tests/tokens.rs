//! Personal tokens: listing, creating, revoking, the management scope, the policy.

use std::time::Duration;

use super::*;
use crate::Rejection;

#[tokio::test]
async fn the_list_is_the_callers_live_tokens_newest_first_the_current_one_marked() {
    let setup = setup();
    let old = setup.login("alice").await;
    setup.clock.advance(Duration::from_secs(1));
    let short = setup
        .create(
            &old,
            NewTokenForm {
                expires_in: Some(60),
                ..named("short")
            },
        )
        .await
        .expect("created");
    setup.clock.advance(Duration::from_secs(1));
    let new = setup.login("alice").await;
    setup.login("bob").await;

    let me = setup.me(&new).await;
    let list = setup.endpoints.list(&me).await.expect("listed");
    let names: Vec<&str> = list.iter().map(|item| item.name.as_str()).collect();
    assert_eq!(names, ["login", "short", "login"]);
    assert!(list[0].current && !list[1].current && !list[2].current);
    assert_eq!(list[1].id, short.item.id);
    assert_eq!(list[1].scopes, Vec::<String>::new());

    setup.clock.advance(Duration::from_secs(61));
    let me = setup.me(&new).await;
    let list = setup.endpoints.list(&me).await.expect("listed");
    assert_eq!(list.len(), 2, "the expired token is gone: {list:?}");

    let json = serde_json::to_value(&list[0]).expect("serializable");
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created",
            "current",
            "expires",
            "hint",
            "id",
            "last_used",
            "name",
            "scopes"
        ]
    );
    assert!(json["created"].as_str().expect("a time").ends_with('Z'));
    assert!(!json.to_string().contains(&new), "never the secret");
}

#[tokio::test]
async fn managing_tokens_needs_the_management_scope() {
    let setup = setup();
    let login = setup.login("alice").await;
    let reader = setup
        .create(
            &login,
            NewTokenForm {
                scopes: Some(vec!["read".into()]),
                ..named("reader")
            },
        )
        .await
        .expect("created");
    let reader = setup.me(reader.token().expose_secret()).await;
    let denied = setup.endpoints.list(&reader).await.expect_err("no scope");
    assert_eq!(denied.status(), 403);
    assert!(matches!(
        &denied,
        EndpointError::Auth(Rejection::Auth {
            error: AuthError::InsufficientScope { .. },
            ..
        })
    ));
    let response = setup.endpoints.error_response(&denied);
    let challenge = response.www_authenticate.expect("a challenge");
    assert!(
        std::str::from_utf8(&challenge)
            .expect("ASCII")
            .contains("insufficient_scope"),
        "{challenge:?}"
    );
    let denied = setup
        .endpoints
        .create(&reader, named("x"))
        .await
        .expect_err("no scope");
    assert_eq!(denied.status(), 403);
    let denied = setup
        .endpoints
        .revoke(&reader, &reader.token().id.to_string())
        .await
        .expect_err("no scope");
    assert_eq!(denied.status(), 403);
}

#[tokio::test]
async fn a_new_tokens_fields_are_checked() {
    let setup = setup();
    let token = setup.login("alice").await;
    let cases = [
        (NewTokenForm::default(), "name", REQUIRED.to_owned()),
        (named("  "), "name", BLANK.to_owned()),
        (
            named(&"n".repeat(MAX_TOKEN_NAME_CHARS + 1)),
            "name",
            "Ensure this field has no more than 100 characters.".to_owned(),
        ),
        (
            named("a\nb"),
            "name",
            "This field may not contain control characters.".to_owned(),
        ),
        (
            NewTokenForm {
                scopes: Some(vec!["read".into(), "admin".into()]),
                ..named("x")
            },
            "scopes",
            r#"Unknown scope: "admin"."#.to_owned(),
        ),
        (
            NewTokenForm {
                scopes: Some(vec!["read".into(); 65]),
                ..named("x")
            },
            "scopes",
            "Ensure this field has no more than 64 elements.".to_owned(),
        ),
    ];
    for (form, field, message) in cases {
        let error = setup.create(&token, form).await.expect_err("a bad field");
        assert_eq!(error.status(), 400);
        assert_eq!(field_errors(&error, field), [message]);
    }
    for seconds in [0, 59, 365 * 24 * 3600 + 1, u64::MAX] {
        let form = NewTokenForm {
            expires_in: Some(seconds),
            ..named("x")
        };
        let error = setup.create(&token, form).await.expect_err("out of bounds");
        assert_eq!(
            field_errors(&error, "expires_in"),
            ["Ensure this value is between 60 and 31536000 seconds."],
            "{seconds}"
        );
    }
    // Trimmed, and a repeated scope counted once.
    let created = setup
        .create(
            &token,
            NewTokenForm {
                scopes: Some(vec!["read".into(), "read".into()]),
                ..named("  laptop ")
            },
        )
        .await
        .expect("created");
    assert_eq!(created.item.name, "laptop");
    assert_eq!(created.item.scopes, ["read"]);
}

#[tokio::test]
async fn no_token_mints_a_stronger_one() {
    let setup =
        setup_with(TokenPolicy::new(["read", "write", "tokens"]).login_scopes(["read", "tokens"]));
    let token = setup.login("alice").await;
    let error = setup
        .create(
            &token,
            NewTokenForm {
                scopes: Some(vec!["read".into(), "write".into()]),
                ..named("stronger")
            },
        )
        .await
        .expect_err("write is not held");
    assert_eq!(error, EndpointError::PermissionDenied);
    assert_eq!(error.status(), 403);
    assert_eq!(
        error.body(),
        r#"{"detail":"You do not have permission to perform this action."}"#
    );
}

#[tokio::test]
async fn a_personal_token_expires_when_asked_and_never_slides() {
    let setup = setup();
    let token = setup.login("alice").await;
    let default = setup
        .create(&token, named("default"))
        .await
        .expect("created");
    let now = setup.endpoints.authenticator().now();
    let expires = default.item.expires.expect("an expiry");
    assert!((expires - now - time::Duration::days(30)).abs() < time::Duration::seconds(2));

    let hour = setup
        .create(
            &token,
            NewTokenForm {
                expires_in: Some(3600),
                ..named("hour")
            },
        )
        .await
        .expect("created");
    let secret = hour.token().expose_secret().to_owned();
    let me = setup.me(&secret).await;
    assert_eq!(me.user(), "1");
    assert_eq!(me.token().scopes, Vec::<String>::new());
    // Used all along, under a sliding 1-day ttl, it still ends after its hour.
    for _ in 0..5 {
        setup.clock.advance(Duration::from_secs(700));
        setup.me(&secret).await;
        setup.endpoints.authenticator().flush().await;
    }
    setup.clock.advance(Duration::from_secs(200));
    assert_eq!(
        setup.identity(&secret).await.err(),
        Some(AuthError::TokenExpired)
    );
}

#[tokio::test]
async fn revoking_takes_only_the_callers_tokens() {
    let setup = setup();
    let alice = setup.login("alice").await;
    let other = setup.login("alice").await;
    let bob = setup.login("bob").await;
    let (me, bobs) = (setup.me(&alice).await, setup.me(&bob).await);
    let other_id = setup.me(&other).await.token().id;

    for id in [
        bobs.token().id.to_string(),
        "999999".to_owned(),
        "abc".to_owned(),
        "-1".to_owned(),
        "99999999999999999999999".to_owned(),
        String::new(),
    ] {
        let error = setup
            .endpoints
            .revoke(&me, &id)
            .await
            .expect_err("not mine");
        assert_eq!(error, EndpointError::NotFound, "{id:?}");
        assert_eq!(error.body(), r#"{"detail":"Not found."}"#);
    }
    setup.me(&bob).await;

    setup
        .endpoints
        .revoke(&me, &other_id.to_string())
        .await
        .expect("revoked");
    assert_eq!(
        setup.identity(&other).await.err(),
        Some(AuthError::InvalidToken)
    );
    let again = setup
        .endpoints
        .revoke(&me, &other_id.to_string())
        .await
        .expect_err("gone");
    assert_eq!(again, EndpointError::NotFound);
    // The current token too.
    setup
        .endpoints
        .revoke(&me, &me.token().id.to_string())
        .await
        .expect("revoked");
    assert_eq!(
        setup.identity(&alice).await.err(),
        Some(AuthError::InvalidToken)
    );
}

#[tokio::test]
async fn the_application_can_write_error_bodies_in_its_own_shape() {
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .build()
        .expect("valid settings");
    let endpoints = TokenEndpoints::new(auth, Users::default(), TokenPolicy::new(["tokens"]))
        .expect("a valid policy")
        .error_body(|error| {
            Bytes::from(format!(
                r#"{{"error":{{"status":{},"message":{:?}}}}}"#,
                error.status(),
                error.to_string()
            ))
        });
    for _ in 0..5 {
        endpoints
            .login(CLIENT, LoginForm::new("alice", "nope"))
            .await
            .expect_err("wrong");
    }
    let throttled = endpoints
        .login(CLIENT, LoginForm::new("alice", "nope"))
        .await
        .expect_err("throttled");
    let response = endpoints.error_response(&throttled);
    assert_eq!(response.status, 429);
    assert!(response.retry_after.is_some());
    let body = std::str::from_utf8(&response.body).expect("UTF-8");
    assert!(body.starts_with(r#"{"error":{"status":429"#), "{body}");
}

#[test]
fn a_policy_that_contradicts_itself_is_refused() {
    let known = ["read", "tokens"];
    assert_eq!(
        TokenPolicy::new(known).login_scopes(["write"]).check(),
        Err(PolicyError::UnknownScope("write".into()))
    );
    assert_eq!(
        TokenPolicy::new(["read"]).check(),
        Err(PolicyError::UnknownScope("tokens".into()))
    );
    assert_eq!(
        TokenPolicy::new(["read", "tokens", "no spaces"]).check(),
        Err(PolicyError::InvalidScope("no spaces".into()))
    );
    for (min, default, max) in [
        (0, 60, 120),
        (120, 60, 180),
        (60, 180, 120),
        (60, 120, u64::MAX),
    ] {
        let policy = TokenPolicy::new(known)
            .lifetime_bounds(Duration::from_secs(min), Duration::from_secs(max))
            .default_lifetime(Duration::from_secs(default));
        assert_eq!(
            policy.check(),
            Err(PolicyError::Lifetimes),
            "{min} {default} {max}"
        );
    }
    assert_eq!(
        TokenPolicy::new(known)
            .login_throttle(5, Duration::ZERO)
            .check(),
        Err(PolicyError::LoginWindow)
    );
    assert!(TokenPolicy::new(known).check().is_ok());
}

#[test]
fn no_secret_in_debug() {
    let form = LoginForm::new("alice", "hunter2");
    assert!(!format!("{form:?}").contains("hunter2"));
}
