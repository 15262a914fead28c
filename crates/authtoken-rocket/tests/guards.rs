//! The guards, fairing and catchers, in process through Rocket's local client.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authtoken::{
    AuthError, Authenticator, InvalidTokenLimit, IssueOptions, Keyword, MemoryStore, UserLoader,
};
use authtoken_rocket::{
    AuthFairing, AuthRejection, Authenticated, MaybeAuthenticated, RequireScope, ScopeName,
};
use rocket::config::LogLevel;
use rocket::fairing::AdHoc;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::outcome::Outcome;
use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::TcpStream;
use rocket::tokio::sync::oneshot;
use rocket::{Build, Config, Rocket, get, routes};

/// Every id is a user; counts the loads and fails on demand.
#[derive(Clone, Default)]
struct Users {
    loads: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl UserLoader for Users {
    type User = String;
    type Error = io::Error;

    async fn load(&self, user_id: &str) -> Result<Option<String>, io::Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(io::Error::other("database is down"));
        }
        Ok(Some(user_id.to_owned()))
    }
}

struct Write;
impl ScopeName for Write {
    const NAME: &'static str = "write";
}

struct Read;
impl ScopeName for Read {
    const NAME: &'static str = "read";
}

#[get("/required")]
fn required(user: Authenticated<String>) -> String {
    user.into_inner().user().clone()
}

#[get("/optional")]
fn optional(user: MaybeAuthenticated<String>) -> String {
    match user.into_inner() {
        Some(identity) => identity.user().clone(),
        None => "anonymous".to_owned(),
    }
}

/// Rocket's own `Option<T>` guard, which this crate cannot change.
#[get("/option")]
fn option(user: Option<Authenticated<String>>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |user| user.user().clone())
}

#[get("/scoped")]
fn scoped(user: RequireScope<Write, String>) -> String {
    format!("{} writes", user.into_inner().user())
}

#[get("/many")]
fn many(
    first: Authenticated<String>,
    second: MaybeAuthenticated<String>,
    _read: RequireScope<Read, String>,
    _write: RequireScope<Write, String>,
) -> String {
    let second = second.0.map(|identity| identity.user().clone());
    format!(
        "{} {}",
        first.into_inner().user(),
        second.unwrap_or_default()
    )
}

#[get("/own")]
fn own(user: Result<Authenticated<String>, AuthRejection>) -> Result<String, AuthRejection> {
    user.map(|user| user.user().clone())
}

#[get("/plain-401")]
fn plain_401() -> Status {
    Status::Unauthorized
}

/// Quiet, and listening on 127.0.0.1, a free port, when launched.
fn quiet() -> Rocket<Build> {
    rocket::custom(Config {
        log_level: LogLevel::Off,
        address: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        ..Config::debug_default()
    })
}

fn app(auth: &Authenticator<String>) -> Rocket<Build> {
    quiet()
        .mount(
            "/",
            routes![required, optional, option, scoped, many, own, plain_401],
        )
        .register("/", authtoken_rocket::catchers())
        .attach(AuthFairing::new(auth.clone()))
}

struct Setup {
    client: Client,
    auth: Authenticator<String>,
    users: Users,
}

async fn setup() -> Setup {
    setup_with(|builder| builder).await
}

async fn setup_with(
    configure: impl FnOnce(
        authtoken::AuthenticatorBuilder<String>,
    ) -> authtoken::AuthenticatorBuilder<String>,
) -> Setup {
    let users = Users::default();
    // No cache: every authentication reaches the loader, so the count is exact.
    let builder = Authenticator::builder(MemoryStore::new(), users.clone()).cache_capacity(0);
    let auth = configure(builder).build().expect("a valid configuration");
    let client = Client::tracked(app(&auth)).await.expect("a valid rocket");
    Setup {
        client,
        auth,
        users,
    }
}

impl Setup {
    async fn token(&self, scopes: &[&str]) -> String {
        let issued = self
            .auth
            .issue("alice", IssueOptions::new().scopes(scopes.iter().copied()))
            .await
            .expect("issued");
        format!("Token {}", issued.token().expose_secret())
    }

    async fn get(&self, path: &str, authorization: &[&str]) -> LocalResponse<'_> {
        let mut request = self.client.get(path.to_owned());
        for value in authorization {
            request.add_header(Header::new("Authorization", value.to_string()));
        }
        request.dispatch().await
    }

    /// The status and body of `GET path` with these `Authorization` values.
    async fn answer(&self, path: &str, authorization: &[&str]) -> (u16, String) {
        let response = self.get(path, authorization).await;
        let status = response.status().code;
        (status, response.into_string().await.unwrap_or_default())
    }

    /// The status of `GET /optional` with a bad token, from `peer`, with a client-IP
    /// header `(name, value)`.
    async fn bad_token_from(&self, peer: &str, (name, value): (&'static str, String)) -> u16 {
        let peer: SocketAddr = peer.parse().expect("an address");
        let request = self
            .client
            .get("/optional")
            .remote(peer)
            .header(Header::new("Authorization", "Token atk_typo"))
            .header(Header::new(name, value));
        request.dispatch().await.status().code
    }
}

/// Status, `WWW-Authenticate`, content type and body, as sent.
async fn parts(response: LocalResponse<'_>) -> (u16, Option<String>, Option<String>, String) {
    let status = response.status().code;
    let challenge = response
        .headers()
        .get_one("WWW-Authenticate")
        .map(str::to_owned);
    let content_type = response
        .headers()
        .get_one("Content-Type")
        .map(str::to_owned);
    let body = response.into_string().await.unwrap_or_default();
    (status, challenge, content_type, body)
}

/// What the core says the response for `error` is.
fn expected(
    auth: &Authenticator<String>,
    error: &AuthError,
) -> (u16, Option<String>, Option<String>, String) {
    let response = auth.error_response(error);
    (
        response.status,
        response
            .www_authenticate
            .map(|value| String::from_utf8(value.to_vec()).expect("an ASCII challenge")),
        Some(authtoken::ErrorResponse::CONTENT_TYPE.to_owned()),
        String::from_utf8(response.body.to_vec()).expect("a UTF-8 body"),
    )
}

#[rocket::async_test]
async fn required_and_optional_answer_the_user() {
    let setup = setup().await;
    let token = setup.token(&[]).await;
    for path in ["/required", "/optional"] {
        assert_eq!(
            setup.answer(path, &[&token]).await,
            (200, "alice".to_owned())
        );
    }
}

#[rocket::async_test]
async fn required_refuses_an_anonymous_request_with_the_core_response() {
    let setup = setup().await;
    let got = parts(setup.get("/required", &[]).await).await;
    assert_eq!(got, expected(&setup.auth, &AuthError::NotProvided));
    assert_eq!(got.1.as_deref(), Some(r#"Bearer realm="api""#));
    assert_eq!(
        got.3,
        r#"{"detail":"Authentication credentials were not provided."}"#
    );
}

#[rocket::async_test]
async fn required_refuses_a_bad_token_with_the_core_response() {
    let setup = setup().await;
    let got = parts(setup.get("/required", &["Token atk_typo"]).await).await;
    assert_eq!(got, expected(&setup.auth, &AuthError::InvalidToken));
    let got = parts(setup.get("/required", &["Token a b"]).await).await;
    assert_eq!(
        got,
        expected(&setup.auth, &AuthError::CredentialContainsSpaces)
    );
}

#[rocket::async_test]
async fn optional_is_anonymous_without_credentials() {
    let setup = setup().await;
    for headers in [&[][..], &["Basic YWxpY2U6c2VjcmV0"][..]] {
        let answer = setup.answer("/optional", headers).await;
        assert_eq!(answer, (200, "anonymous".to_owned()));
    }
}

#[rocket::async_test]
async fn optional_keeps_a_bad_token_a_401() {
    let setup = setup().await;
    let token = setup.token(&[]).await;
    let id = setup.auth.list(Some("alice")).await.expect("listed")[0].id;
    setup.auth.revoke(id).await.expect("revoked");
    let got = parts(setup.get("/optional", &[&token]).await).await;
    assert_eq!(got, expected(&setup.auth, &AuthError::InvalidToken));
}

/// Pins Rocket's blanket `FromRequest` for `Option<T>`: every failed guard becomes
/// `None`, a bad token and a failing store included. This is why
/// `MaybeAuthenticated` exists; if this test fails, Rocket changed and the docs of
/// `Authenticated`, `MaybeAuthenticated` and the README must say so.
#[rocket::async_test]
async fn rocket_s_option_makes_a_bad_token_anonymous() {
    let setup = setup().await;
    let token = setup.token(&[]).await;
    let anonymous = (200, "anonymous".to_owned());
    assert_eq!(
        setup.answer("/option", &[&token]).await,
        (200, "alice".to_owned())
    );
    for bad in ["Token atk_typo", "Token a b"] {
        assert_eq!(setup.answer("/option", &[bad]).await, anonymous, "{bad}");
        // Where MaybeAuthenticated refuses it.
        assert_eq!(setup.answer("/optional", &[bad]).await.0, 401);
    }
    setup.users.down.store(true, Ordering::SeqCst);
    assert_eq!(setup.answer("/option", &[&token]).await, anonymous);
    assert_eq!(setup.answer("/optional", &[&token]).await.0, 503);
}

#[rocket::async_test]
async fn scoped_needs_the_scope() {
    let setup = setup().await;
    let writer = setup.token(&["write"]).await;
    let answer = setup.answer("/scoped", &[&writer]).await;
    assert_eq!(answer, (200, "alice writes".to_owned()));

    let reader = setup.token(&["read"]).await;
    let got = parts(setup.get("/scoped", &[&reader]).await).await;
    let error = AuthError::InsufficientScope {
        required: "write".into(),
    };
    assert_eq!(got, expected(&setup.auth, &error));
    assert_eq!(got.0, 403);
    assert!(
        got.1
            .as_deref()
            .is_some_and(|value| value.contains(r#"scope="write""#))
    );

    let got = parts(setup.get("/scoped", &[]).await).await;
    assert_eq!(got, expected(&setup.auth, &AuthError::NotProvided));
}

#[rocket::async_test]
async fn several_guards_authenticate_once() {
    let setup = setup().await;
    let token = setup.token(&["read", "write"]).await;
    let before = setup.users.loads.load(Ordering::SeqCst);
    let answer = setup.answer("/many", &[&token]).await;
    assert_eq!(answer, (200, "alice alice".to_owned()));
    assert_eq!(setup.users.loads.load(Ordering::SeqCst) - before, 1);

    // And once per request: the next request authenticates again.
    setup.get("/many", &[&token]).await;
    assert_eq!(setup.users.loads.load(Ordering::SeqCst) - before, 2);
}

#[rocket::async_test]
async fn conflicting_headers_are_refused() {
    let setup = setup().await;
    let token = setup.token(&[]).await;
    let got = parts(setup.get("/optional", &[&token, "Token atk_other"]).await).await;
    assert_eq!(got, expected(&setup.auth, &AuthError::ConflictingHeaders));
    assert_eq!(got.0, 400);

    // The same value twice may pass.
    assert_eq!(setup.answer("/required", &[&token, &token]).await.0, 200);
}

#[rocket::async_test]
async fn a_failing_loader_is_a_503_without_a_challenge() {
    let setup = setup().await;
    let token = setup.token(&[]).await;
    setup.users.down.store(true, Ordering::SeqCst);
    for path in ["/required", "/optional"] {
        let (status, challenge, content_type, body) = parts(setup.get(path, &[&token]).await).await;
        assert_eq!(status, 503);
        assert_eq!(challenge, None);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(body, r#"{"detail":"Authentication service unavailable."}"#);
        assert!(!body.contains("database is down"));
    }
}

#[rocket::async_test]
async fn a_route_can_answer_the_rejection_itself() {
    let setup = setup().await;
    let got = parts(setup.get("/own", &["Token atk_typo"]).await).await;
    assert_eq!(got, expected(&setup.auth, &AuthError::InvalidToken));
    let token = setup.token(&[]).await;
    let answer = setup.answer("/own", &[&token]).await;
    assert_eq!(answer, (200, "alice".to_owned()));
}

#[rocket::async_test]
async fn other_errors_keep_rocket_s_default_catcher() {
    let setup = setup().await;
    let (status, challenge, _, body) = parts(setup.get("/plain-401", &[]).await).await;
    assert_eq!(status, 401);
    assert_eq!(challenge, None);
    assert!(!body.contains("detail"), "{body}");
}

#[rocket::async_test]
async fn keyword_only_challenges_are_drf_s() {
    let setup =
        setup_with(|builder| builder.keywords([Keyword::new("Token").expect("a keyword")])).await;
    let got = parts(setup.get("/required", &["Token atk_typo"]).await).await;
    assert_eq!(got.1.as_deref(), Some("Token"));
    assert_eq!(got, expected(&setup.auth, &AuthError::InvalidToken));
}

/// Why `rocket` does not launch.
async fn launch_error(rocket: Rocket<Build>) -> rocket::Error {
    Client::tracked(rocket)
        .await
        .map(drop)
        .expect_err("no launch")
}

#[rocket::async_test]
async fn a_missing_authenticator_stops_the_launch() {
    let error = launch_error(quiet().mount("/", routes![required])).await;
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::SentinelAborts(_)),
        "{error}"
    );
}

#[rocket::async_test]
async fn an_authenticator_managed_twice_stops_the_launch() {
    let auth = Authenticator::builder(MemoryStore::new(), Users::default())
        .build()
        .expect("built");
    let error = launch_error(app(&auth).manage(auth.clone())).await;
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)),
        "{error}"
    );
}

/// A guard of the application's that runs [`Authenticated`] by hand.
struct ByHand(Result<String, AuthRejection>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for ByHand {
    type Error = std::convert::Infallible;

    async fn from_request(
        request: &'r rocket::Request<'_>,
    ) -> rocket::request::Outcome<Self, Self::Error> {
        Outcome::Success(Self(match request.guard::<Authenticated<String>>().await {
            Outcome::Success(user) => Ok(user.user().clone()),
            Outcome::Error((_, rejection)) => Err(rejection),
            Outcome::Forward(status) => Ok(format!("forwarded with {status}")),
        }))
    }
}

#[get("/by-hand")]
fn by_hand(outcome: ByHand) -> Result<String, AuthRejection> {
    outcome.0
}

#[rocket::async_test]
async fn a_guard_run_by_hand_without_an_authenticator_is_a_500() {
    // No route takes a guard of this crate, so no sentinel stops the launch.
    let rocket = quiet()
        .mount("/", routes![by_hand])
        .register("/", authtoken_rocket::catchers());
    let client = Client::tracked(rocket).await.expect("launched");
    let (status, challenge, content_type, body) =
        parts(client.get("/by-hand").dispatch().await).await;
    assert_eq!(status, 500);
    assert_eq!(challenge, None);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(body, r#"{"detail":"A server error occurred."}"#);
}

/// The limiter names a client by its peer address: Rocket's `client_ip` would take
/// the `X-Real-IP` a client sends, and a client changing it would never be limited.
#[rocket::async_test]
async fn a_client_changing_its_x_real_ip_is_limited_all_the_same() {
    let setup = setup_with(|builder| builder.invalid_token_limit(2, Duration::from_secs(60))).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let real_ip = ("X-Real-IP", format!("198.51.100.{i}"));
        statuses.push(setup.bad_token_from("203.0.113.5:4000", real_ip).await);
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    // Another peer is another client.
    let other = setup.bad_token_from("203.0.113.6:4000", ("X-Real-IP", "198.51.100.0".into()));
    assert_eq!(other.await, 401);
}

/// Where the core names a header a trusted proxy sets, its address is the client
/// (whatever Rocket's own `ip_header` says).
#[rocket::async_test]
async fn a_trusted_client_ip_header_names_the_client() {
    let limit = InvalidTokenLimit::new(2, Duration::from_secs(60))
        .trusted_client_ip_header("X-Forwarded-For");
    let setup = setup_with(|builder| builder.invalid_token_limiter(Some(limit))).await;
    // One proxy, many clients: none is limited.
    for i in 0..4 {
        let forwarded = ("X-Forwarded-For", format!("198.51.100.{i}"));
        assert_eq!(
            setup.bad_token_from("203.0.113.5:4000", forwarded).await,
            401
        );
    }
    // One client, through several proxies: limited.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let peer = format!("203.0.113.{}:4000", 10 + i);
        let forwarded = ("X-Forwarded-For", "192.0.2.1, 198.51.100.9".into());
        statuses.push(setup.bad_token_from(&peer, forwarded).await);
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
}

/// Launches `rocket` and returns the port it listens on, and a handle to stop it.
async fn launch(rocket: Rocket<Build>) -> (u16, rocket::Shutdown) {
    let (sender, listening) = oneshot::channel();
    let sender = Mutex::new(Some(sender));
    let rocket = rocket.attach(AdHoc::on_liftoff("port", move |rocket| {
        Box::pin(async move {
            if let Some(sender) = sender.lock().expect("not poisoned").take() {
                let _ = sender.send((rocket.config().port, rocket.shutdown()));
            }
        })
    }));
    rocket::tokio::spawn(rocket.launch());
    listening.await.expect("rocket launched")
}

/// Sends `GET path` with these raw `Authorization` values over TCP; the status and
/// body that came back.
async fn get_raw(port: u16, path: &str, authorization: &[&[u8]]) -> (u16, String) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    let mut request = head.into_bytes();
    for value in authorization {
        request.extend_from_slice(b"Authorization: ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .expect("connected");
    stream.write_all(&request).await.expect("sent");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("received");
    let response = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok());
    (status.expect("a status line"), body.to_owned())
}

/// What Rocket does to an `Authorization` value that is not UTF-8, over a real
/// connection: `Request::from_hyp` (rocket 0.5, src/request/request.rs) drops every
/// header value that is not UTF-8 before any guard or fairing runs, and keeps no
/// trace of it. Such a header therefore counts as absent, and a valid header with a
/// non-UTF-8 duplicate passes, where the error table asks for 401 and for 400 or
/// 401. This test pins that; if it fails, Rocket changed and the guards can follow
/// the table (README, "Differences the framework forces").
#[rocket::async_test]
async fn rocket_drops_authorization_values_that_are_not_utf8() {
    let setup = setup().await;
    let token = setup.token(&[]).await;
    let (port, shutdown) = launch(app(&setup.auth)).await;
    let not_utf8: &[u8] = b"Token atk_\xff\xfe\x80";

    // Bytes that are not visible ASCII but are UTF-8 do reach the guards.
    let (status, body) = get_raw(port, "/required", &["Token atk_é".as_bytes()]).await;
    assert_eq!(
        (status, body),
        (
            401,
            expected(&setup.auth, &AuthError::CredentialInvalidCharacters).3
        )
    );
    let (status, body) = get_raw(port, "/required", &[token.as_bytes()]).await;
    assert_eq!((status, body.as_str()), (200, "alice"));

    // Alone: anonymous.
    let (status, body) = get_raw(port, "/optional", &[not_utf8]).await;
    assert_eq!((status, body.as_str()), (200, "anonymous"));
    let (status, body) = get_raw(port, "/required", &[not_utf8]).await;
    assert_eq!(
        (status, body),
        (401, expected(&setup.auth, &AuthError::NotProvided).3)
    );
    // Beside a valid token: the valid token alone.
    for values in [[token.as_bytes(), not_utf8], [not_utf8, token.as_bytes()]] {
        let (status, body) = get_raw(port, "/required", &values).await;
        assert_eq!((status, body.as_str()), (200, "alice"));
    }
    shutdown.notify();
}
