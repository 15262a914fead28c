//! Logging in and out: fields, credentials, the failed-login throttle, logout.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
#[tokio::test]
async fn a_login_issues_a_new_token_carrying_the_login_scopes() {
    let setup = setup();
    let first = setup.login("alice").await;
    let second = setup.login("alice").await;
    assert_ne!(first, second, "a token per login");
    let me = setup.me(&first).await;
    assert_eq!(me.user(), "1");
    assert_eq!(me.token().name, "login");
    assert_eq!(me.token().scopes, ["read", "write", "tokens"]);

    let setup = setup_with(TokenPolicy::new(["read", "write", "tokens"]).login_scopes(["read"]));
    let token = setup.login("bob").await;
    assert_eq!(setup.me(&token).await.token().scopes, ["read"]);
}

#[tokio::test]
async fn login_fields_are_checked_as_drf_checks_them() {
    let setup = setup();
    let error = setup
        .endpoints
        .login(CLIENT, LoginForm::default())
        .await
        .expect_err("nothing sent");
    assert_eq!(error.status(), 400);
    assert_eq!(
        error.body(),
        r#"{"username":["This field is required."],"password":["This field is required."]}"#
    );
    for (username, password, field, message) in [
        (" ", "pw", "username", BLANK.to_owned()),
        ("alice", "", "password", BLANK.to_owned()),
        (
            &"a".repeat(MAX_USERNAME_CHARS + 1),
            "pw",
            "username",
            "Ensure this field has no more than 150 characters.".to_owned(),
        ),
        (
            "alice",
            &"p".repeat(MAX_PASSWORD_BYTES + 1),
            "password",
            "Ensure this field has no more than 1024 bytes.".to_owned(),
        ),
    ] {
        let error = setup
            .endpoints
            .login(CLIENT, LoginForm::new(username, password))
            .await
            .expect_err("a bad field");
        assert_eq!(field_errors(&error, field), [message]);
    }
    let wrong = setup
        .endpoints
        .login(CLIENT, LoginForm::new("alice", "nope"))
        .await
        .expect_err("a wrong password");
    assert_eq!(wrong.status(), 400);
    assert_eq!(
        wrong.body(),
        r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_username_and_client() {
    let setup = setup();
    let login = |username: &'static str, password: &'static str, client| {
        let endpoints = setup.endpoints.clone();
        async move {
            endpoints
                .login(client, LoginForm::new(username, password))
                .await
        }
    };
    for _ in 0..5 {
        let error = login("alice", "nope", CLIENT).await.expect_err("wrong");
        assert_eq!(error, EndpointError::InvalidCredentials);
    }
    // The 6th failure within the minute, and any attempt after it, even right.
    for password in ["nope", "pw"] {
        let error = login("alice", password, CLIENT)
            .await
            .expect_err("throttled");
        assert_eq!(error.status(), 429);
        let retry_after = error.retry_after().expect("Retry-After");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert!(
            error.body().contains("Request was throttled."),
            "{}",
            error.body()
        );
        assert_eq!(
            setup.endpoints.error_response(&error).retry_after,
            Some(retry_after)
        );
    }
    // Another client, or another username from the same client, is not held back.
    login("alice", "pw", OTHER_CLIENT)
        .await
        .expect("another client");
    login("bob", "pw", CLIENT).await.expect("another username");
    // The window ends.
    setup.clock.advance(Duration::from_secs(61));
    login("alice", "pw", CLIENT).await.expect("a new window");
    // A success forgets the failures.
    for _ in 0..5 {
        login("alice", "nope", CLIENT).await.expect_err("wrong");
    }
    setup.clock.advance(Duration::from_secs(61));
    for _ in 0..4 {
        login("alice", "nope", CLIENT).await.expect_err("wrong");
    }
    login("alice", "pw", CLIENT).await.expect("right");
    for _ in 0..5 {
        let error = login("alice", "nope", CLIENT).await.expect_err("wrong");
        assert_eq!(error, EndpointError::InvalidCredentials, "counted afresh");
    }
}

#[tokio::test]
async fn a_failing_credentials_check_is_a_503_never_wrong_credentials() {
    let setup = setup();
    setup.users.down.store(true, Ordering::SeqCst);
    let error = setup
        .endpoints
        .login(CLIENT, LoginForm::new("alice", "pw"))
        .await
        .expect_err("down");
    assert_eq!(error.status(), 503);
    assert_eq!(error.retry_after(), Some(3));
    assert_eq!(
        error.body(),
        r#"{"detail":"Service temporarily unavailable."}"#
    );
    assert!(!error.body().contains("down"), "no internals in the body");
}

#[tokio::test]
async fn logout_revokes_the_token_used_and_logout_all_every_token() {
    let setup = setup();
    let (a, b) = (setup.login("alice").await, setup.login("alice").await);
    let personal = setup
        .create(&a, named("laptop"))
        .await
        .expect("created")
        .token()
        .expose_secret()
        .to_owned();
    let bobs = setup.login("bob").await;

    setup
        .endpoints
        .logout(&setup.me(&a).await)
        .await
        .expect("logged out");
    assert_eq!(
        setup.identity(&a).await.err(),
        Some(AuthError::InvalidToken)
    );
    setup.me(&b).await;

    setup
        .endpoints
        .logout_all(&setup.me(&b).await)
        .await
        .expect("logged out everywhere");
    for token in [&b, &personal] {
        assert_eq!(
            setup.identity(token).await.err(),
            Some(AuthError::InvalidToken)
        );
    }
    setup.me(&bobs).await;
}
