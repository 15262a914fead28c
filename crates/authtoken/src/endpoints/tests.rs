//! The token endpoints' logic and policy, on the memory store and a manual clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;
use crate::{AuthError, ManualClock, MemoryStore, UserIdLoader};

const DAY: Duration = Duration::from_secs(24 * 3600);
const CLIENT: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
const OTHER_CLIENT: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));

/// `alice` (id 1) and `bob` (id 2), password `pw`; fails when `down` is set.
#[derive(Clone, Default)]
struct Users {
    down: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the users table is down")]
struct Down;

impl CheckCredentials for Users {
    type Error = Down;

    async fn check(&self, username: &str, password: &str) -> Result<Option<String>, Down> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Down);
        }
        let id = match username {
            "alice" => "1",
            "bob" => "2",
            _ => return Ok(None),
        };
        Ok((password == "pw").then(|| id.to_owned()))
    }

    fn retry_after(&self, _: &Down) -> Option<u64> {
        Some(3)
    }
}

struct Setup {
    endpoints: TokenEndpoints<String>,
    users: Users,
    clock: Arc<ManualClock>,
}

fn setup() -> Setup {
    setup_with(TokenPolicy::new(["read", "write", "tokens"]))
}

fn setup_with(policy: TokenPolicy) -> Setup {
    let clock = Arc::new(ManualClock::starting_now());
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .clock(clock.clone())
        .token_ttl(Some(DAY))
        .sliding_expiry(true)
        .cache_capacity(0)
        .build()
        .expect("valid settings");
    let users = Users::default();
    let endpoints = TokenEndpoints::new(auth, users.clone(), policy).expect("a valid policy");
    Setup {
        endpoints,
        users,
        clock,
    }
}

impl Setup {
    async fn login(&self, username: &str) -> String {
        let body = self
            .endpoints
            .login(CLIENT, LoginForm::new(username, "pw"))
            .await
            .expect("logged in");
        body.token().expose_secret().to_owned()
    }

    async fn identity(&self, token: &str) -> Result<Identity<String>, AuthError> {
        self.endpoints
            .authenticator()
            .authenticate_credential(token.as_bytes())
            .await
    }

    async fn me(&self, token: &str) -> Identity<String> {
        self.identity(token).await.expect("a valid token")
    }

    async fn create(&self, token: &str, form: NewTokenForm) -> Result<CreatedToken, EndpointError> {
        let me = self.me(token).await;
        self.endpoints.create(&me, form).await
    }
}

fn named(name: &str) -> NewTokenForm {
    NewTokenForm {
        name: Some(name.into()),
        ..NewTokenForm::default()
    }
}

fn field_errors(error: &EndpointError, field: &str) -> Vec<String> {
    match error {
        EndpointError::Fields(errors) => errors.get(field).map(str::to_owned).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

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
