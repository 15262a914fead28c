//! `Debug` of every public type that holds a secret (a token, an HMAC key) shows
//! none of it, in the core and in the three adapters, plain and pretty.

use authtoken::{
    Authentication, Authenticator, DigestKey, IssueOptions, MemoryStore, PlaintextToken,
    TokenHasher, UserIdLoader,
};

const HMAC_SECRET: &str = "an-hmac-secret-that-must-never-show-0123456789";

fn hasher() -> TokenHasher {
    let current = DigestKey::new(2, HMAC_SECRET).expect("a key");
    let previous = DigestKey::new(1, format!("{HMAC_SECRET}-old")).expect("a key");
    TokenHasher::hmac(current, [previous]).expect("a hasher")
}

/// What must not show: the token, its random part, the HMAC secret as text and as
/// the byte list a derived `Debug` of a `Vec<u8>` would print.
fn forbidden(token: &str) -> Vec<String> {
    let bytes = |text: &str| format!("{:?}", text.as_bytes());
    let random = token[4..36].to_owned();
    vec![
        token.to_owned(),
        random,
        HMAC_SECRET.to_owned(),
        bytes(HMAC_SECRET),
        bytes(&HMAC_SECRET[..8]).trim_end_matches(']').to_owned(),
    ]
}

#[track_caller]
fn assert_redacted(name: &str, shown: [String; 2], token: &str) {
    for shown in shown {
        assert!(!shown.is_empty(), "{name}: empty Debug");
        for secret in forbidden(token) {
            assert!(
                !shown.contains(&secret),
                "{name}'s Debug shows a secret: {shown}"
            );
        }
    }
}

macro_rules! check {
    ($value:expr, $token:expr) => {{
        let value = $value;
        assert_redacted(
            stringify!($value),
            [format!("{value:?}"), format!("{value:#?}")],
            $token,
        )
    }};
}

#[tokio::test]
async fn no_public_type_shows_a_secret_in_debug() {
    let builder = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .hasher(hasher())
        .invalid_token_limit(5, std::time::Duration::from_secs(60));
    let builder_debug = [format!("{builder:?}"), format!("{builder:#?}")];
    let auth = builder.build().expect("valid settings");
    let issued = auth
        .issue("ada", IssueOptions::new().name("laptop").scopes(["read"]))
        .await
        .expect("issued");
    let token = issued.token().expose_secret().to_owned();
    assert_redacted("AuthenticatorBuilder", builder_debug, &token);

    let header = format!("Bearer {token}");
    let authentication: Authentication<String> =
        auth.authenticate_request([header.as_bytes()]).await;
    let identity = authentication.require().expect("a user").clone();

    check!(issued.token(), &token);
    check!(&issued, &token);
    check!(PlaintextToken::from_secret(token.clone()), &token);
    check!(DigestKey::new(1, HMAC_SECRET).expect("a key"), &token);
    check!(hasher(), &token);
    check!(&auth, &token);
    check!(&identity, &token);
    check!(&authentication, &token);
    check!(issued.info(), &token);

    check!(authtoken_axum::AuthLayer::new(auth.clone()), &token);
    check!(
        authtoken_axum::AuthLayer::new(auth.clone()).require_authentication(),
        &token
    );
    check!(authtoken_actix::AuthMiddleware::new(auth.clone()), &token);
    check!(authtoken_rocket::AuthFairing::new(auth.clone()), &token);
    check!(authtoken_axum::AuthService::new((), auth.clone()), &token);
    check!(authtoken_axum::Authenticated(identity.clone()), &token);
    check!(authtoken_actix::Authenticated(identity.clone()), &token);
    check!(authtoken_rocket::Authenticated(identity), &token);

    // The checks above can fail: the raw secret does show where it is asked for.
    assert!(format!("{:?}", issued.token().expose_secret()).contains(&token));
}
