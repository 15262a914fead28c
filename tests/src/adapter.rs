//! Layer (a) of the behaviour suite: the adapter cases, written once and run
//! in-process against every framework adapter through a [`Harness`].
//!
//! # The contract an adapter's harness fulfils
//!
//! [`Harness::build`] receives an [`Authenticator<TestUser>`] and wires it into the
//! framework with the adapter's own public API (layer, middleware or managed state),
//! serving these routes, all `GET`:
//!
//! | route | extractor(s) | 200 body |
//! | --- | --- | --- |
//! | `/required` | `Authenticated<TestUser>` | the user id |
//! | `/optional` | `MaybeAuthenticated<TestUser>` | the user id, or `anonymous` |
//! | `/scoped` | the adapter's scope requirement, scope [`WRITE_SCOPE`] | the user id |
//! | `/checked` | `Authenticated<TestUser>`, then `identity.require_scope(WRITE_SCOPE)?` in the handler, which returns `Result<_, AuthRejection>` | the user id |
//! | `/twice` | two authentication extractors in one handler (say `Authenticated` and `MaybeAuthenticated`), both must agree | the user id |
//!
//! Rejections are the adapter's own `AuthRejection` responses: nothing in the harness
//! decides a status.
//!
//! [`Harness::send`] sends one request in-process and returns what came back
//! ([`TestResponse`]): status, every `WWW-Authenticate` value, the content type and
//! the body. Every `Authorization` value of a [`TestRequest`] is sent as a separate
//! header line, in order.
//!
//! Runtime: every case runs inside `#[tokio::test]` (a current-thread tokio runtime),
//! awaits [`Harness::build`] once and [`Harness::send`] any number of times, sometimes
//! 50 sends at once through `join_all` on that one task. Neither future has to be
//! `Send`, so a framework whose test service is `!Send` (actix-web) can be driven
//! directly; a framework that needs a runtime of its own (an actix `System`) may run
//! the app on a thread it spawns in `build` and answer `send` over a channel.
//! actix-web's `test::init_service` runs on the case's runtime as it is (keep the
//! service, whose type cannot be named, behind an `Rc`'d closure), and so does
//! rocket's `local::asynchronous::Client`.
//!
//! Header bytes: values are always valid HTTP field values (no control bytes but
//! tab). Bytes above 0x7F that are not UTF-8 appear only when
//! [`Harness::NON_UTF8_HEADERS`] is true; a framework whose in-process client takes
//! header values as `&str` (rocket) sets it to false and gets the UTF-8 variant of
//! those cases instead.
//!
//! # The cases
//!
//! [`adapter_cases!`](crate::adapter_cases) expands into one named `#[tokio::test]`
//! per function of [`cases`], so that a failure names the case and the adapter:
//!
//! ```text
//! authtoken_behaviour::adapter_cases!(axum_adapter, AxumHarness);
//! ```
//!
//! Tokens live in an [`authtoken::MemoryStore`] wrapped by [`TestStore`], which counts
//! lookups and fails on demand. Every case runs twice: with the token cache on (the
//! default configuration) and off (every authenticated request reaches the store
//! exactly once).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use authtoken::{
    Authenticator, AuthenticatorBuilder, InsertOutcome, IssueOptions, IssuedToken, ManualClock,
    MemoryStore, NewToken, Slide, TokenDigest, TokenId, TokenInfo, TokenRecord, TokenStore,
    UserLoader,
};
use time::OffsetDateTime;

/// The scope `/scoped` requires.
pub const WRITE_SCOPE: &str = "write";

/// The user of the test apps. Ids decide what [`TestUsers`] answers: `deleted…` is no
/// user, `inactive…` an inactive one, `broken…` a loader failure, anything else an
/// active user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// The id the token names.
    pub id: String,
    /// Whether the user may authenticate.
    pub active: bool,
}

/// The [`UserLoader`] of the test apps; see [`TestUser`] for the ids it knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestUsers;

/// The failure [`TestStore`] and [`TestUsers`] report when told to fail.
#[derive(Debug, Clone, Copy)]
pub struct Down;

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the test backend is down")
    }
}

impl std::error::Error for Down {}

impl UserLoader for TestUsers {
    type User = TestUser;
    type Error = Down;

    async fn load(&self, user_id: &str) -> Result<Option<TestUser>, Down> {
        if user_id.starts_with("broken") {
            return Err(Down);
        }
        if user_id.starts_with("deleted") {
            return Ok(None);
        }
        Ok(Some(TestUser {
            id: user_id.to_owned(),
            active: !user_id.starts_with("inactive"),
        }))
    }

    fn is_active(&self, user: &TestUser) -> bool {
        user.active
    }
}

#[derive(Debug, Default)]
struct StoreState {
    memory: MemoryStore,
    lookups: AtomicUsize,
    failing: AtomicBool,
}

/// An [`authtoken::MemoryStore`] that counts `find_by_digest` calls and fails every
/// call while [`TestStore::set_failing`] says so. Clones share one store.
#[derive(Debug, Clone, Default)]
pub struct TestStore {
    state: Arc<StoreState>,
}

impl TestStore {
    /// How many lookups by digest have been made.
    pub fn lookups(&self) -> usize {
        self.state.lookups.load(Ordering::SeqCst)
    }

    /// Makes every call fail (`true`) or succeed again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<&MemoryStore, Down> {
        if self.state.failing.load(Ordering::SeqCst) {
            Err(Down)
        } else {
            Ok(&self.state.memory)
        }
    }
}

impl TokenStore for TestStore {
    type Error = Down;

    async fn insert(&self, token: &NewToken, limit: Option<u32>) -> Result<InsertOutcome, Down> {
        Ok(never(self.check()?.insert(token, limit).await))
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Down> {
        self.state.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(never(self.check()?.find_by_digest(digest).await))
    }

    async fn get(&self, id: TokenId) -> Result<Option<TokenRecord>, Down> {
        Ok(never(self.check()?.get(id).await))
    }

    async fn revoke(&self, id: TokenId) -> Result<Option<TokenRecord>, Down> {
        Ok(never(self.check()?.revoke(id).await))
    }

    async fn revoke_user(&self, user_id: &str) -> Result<Vec<TokenRecord>, Down> {
        Ok(never(self.check()?.revoke_user(user_id).await))
    }

    async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>, Down> {
        Ok(never(self.check()?.list(user_id).await))
    }

    async fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> Result<bool, Down> {
        Ok(never(self.check()?.touch(id, used_at, slide).await))
    }

    async fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> Result<bool, Down> {
        Ok(never(self.check()?.shorten_expiry(id, at).await))
    }

    async fn replace_digest(
        &self,
        id: TokenId,
        digest: &TokenDigest,
        key_version: u32,
    ) -> Result<(), Down> {
        never(self.check()?.replace_digest(id, digest, key_version).await);
        Ok(())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, Down> {
        Ok(never(self.check()?.purge_expired(now).await))
    }
}

/// Unwraps what the memory store cannot fail at.
fn never<T>(result: Result<T, std::convert::Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

/// A request to send: a path (always `GET`) and header lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRequest {
    /// The path, such as `/required`.
    pub path: String,
    /// Header lines, names in lower case, values as raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The peer address the request comes from (what the invalid-token limiter
    /// counts by); `None` leaves the harness's default.
    pub client: Option<SocketAddr>,
}

impl TestRequest {
    /// `GET path` without headers.
    pub fn get(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            headers: Vec::new(),
            client: None,
        }
    }

    /// Sends the request from `client`.
    #[must_use]
    pub fn from(mut self, client: SocketAddr) -> Self {
        self.client = Some(client);
        self
    }

    /// Adds an `Authorization` header line.
    #[must_use]
    pub fn authorization(mut self, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push(("authorization".to_owned(), value.as_ref().to_vec()));
        self
    }

    /// The values of every header line called `name`, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// Every `WWW-Authenticate` value, in order.
    pub www_authenticate: Vec<String>,
    /// The `content-type`, if any.
    pub content_type: Option<String>,
    /// The `Retry-After` value, if any.
    pub retry_after: Option<String>,
    /// The body, as text.
    pub body: String,
}

/// How the cases drive one framework adapter in-process; the module docs give the
/// contract.
pub trait Harness: Sized {
    /// The adapter's name, shown in failure messages.
    const NAME: &'static str;

    /// Whether header values that are not UTF-8 reach the app in-process.
    const NON_UTF8_HEADERS: bool;

    /// Builds the app of the module docs around `authenticator`.
    fn build(authenticator: Authenticator<TestUser>) -> impl Future<Output = Self>;

    /// Sends one request in-process.
    fn send(&self, request: TestRequest) -> impl Future<Output = TestResponse>;
}

/// The five routes.
pub const ROUTES: [&str; 5] = ["/required", "/optional", "/scoped", "/checked", "/twice"];

/// Every token a [`Fixture`] of this process issued, for the log scan.
static ISSUED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Every token the fixtures of this process have issued so far.
pub fn issued_tokens() -> Vec<String> {
    ISSUED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

thread_local! {
    /// Whether the fixtures of the case running on this thread have the token cache
    /// on: [`adapter_cases!`](crate::adapter_cases) runs every case both ways.
    static CACHE_ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `case` with the token cache of its fixtures on (`true`, the default
/// configuration) or off. Cases run on the test's own thread (a current-thread
/// runtime), where this holds.
pub async fn with_cache<F: Future<Output = ()>>(cache_on: bool, case: F) {
    CACHE_ON.with(|cell| cell.set(cache_on));
    case.await;
}

/// Whether the running case's fixtures have the token cache on.
pub fn cache_on() -> bool {
    CACHE_ON.with(std::cell::Cell::get)
}

/// An authenticator over a fresh [`TestStore`], with a [`ManualClock`] and the token
/// cache on or off as the running case says ([`with_cache`]).
#[derive(Debug)]
pub struct Fixture {
    /// The authenticator the app is built with.
    pub auth: Authenticator<TestUser>,
    /// Its store.
    pub store: TestStore,
    /// Its clock.
    pub clock: Arc<ManualClock>,
}

impl Fixture {
    /// The default settings (keywords `Token` and `Bearer`, realm `api`), the cache
    /// on or off as the case runs.
    pub fn new() -> Self {
        Self::with(|builder| builder)
    }

    /// The default settings changed by `configure`.
    pub fn with(
        configure: impl FnOnce(AuthenticatorBuilder<TestUser>) -> AuthenticatorBuilder<TestUser>,
    ) -> Self {
        let store = TestStore::default();
        let clock = Arc::new(ManualClock::starting_now());
        let builder = Authenticator::builder(store.clone(), TestUsers)
            .cache_capacity(if cache_on() { 10_000 } else { 0 })
            .clock(Arc::clone(&clock) as Arc<dyn authtoken::Clock>);
        let auth = configure(builder).build().expect("valid test settings");
        Self { auth, store, clock }
    }

    /// Issues a token (and records it in [`issued_tokens`]).
    pub async fn issue(&self, user_id: &str, options: IssueOptions) -> IssuedToken {
        let issued = self
            .auth
            .issue(user_id, options)
            .await
            .expect("the test store issues");
        ISSUED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(issued.token().expose_secret().to_owned());
        issued
    }

    /// Issues a token with `scopes` and returns its plaintext.
    pub async fn token(&self, user_id: &str, scopes: &[&str]) -> String {
        let issued = self
            .issue(user_id, IssueOptions::new().scopes(scopes.iter().copied()))
            .await;
        issued.token().expose_secret().to_owned()
    }

    /// Builds the harness's app around this fixture's authenticator.
    pub async fn app<H: Harness>(&self) -> H {
        H::build(self.auth.clone()).await
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// The DRF details the cases expect, word for word.
pub mod detail {
    /// No credentials on a required route.
    pub const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
    /// The keyword alone.
    pub const NO_CREDENTIALS: &str = "Invalid token header. No credentials provided.";
    /// Whitespace inside the credential.
    pub const SPACES: &str = "Invalid token header. Token string should not contain spaces.";
    /// Bytes that are not visible ASCII.
    pub const INVALID_CHARACTERS: &str =
        "Invalid token header. Token string should not contain invalid characters.";
    /// Different `Authorization` headers.
    pub const CONFLICTING: &str =
        "Invalid token header. Multiple different Authorization headers were sent.";
    /// Bad format, checksum, unknown or revoked.
    pub const INVALID_TOKEN: &str = "Invalid token.";
    /// Expired.
    pub const EXPIRED: &str = "Token has expired.";
    /// User missing or inactive.
    pub const USER_INACTIVE: &str = "User inactive or deleted.";
    /// Missing scope.
    pub const FORBIDDEN: &str = "You do not have permission to perform this action.";
    /// Store or loader down.
    pub const UNAVAILABLE: &str = "Authentication service unavailable.";
    /// Too many invalid tokens from one client, `retry_after` seconds before the
    /// window ends.
    pub fn throttled(retry_after: u64) -> String {
        format!("Request was throttled. Expected available in {retry_after} seconds.")
    }
}

/// The challenge of a request that sent nothing.
pub const BEARER_CHALLENGE: &str = r#"Bearer realm="api""#;

/// The RFC 6750 challenge for an invalid token with `detail`.
pub fn invalid_token_challenge(detail: &str) -> String {
    format!(r#"Bearer realm="api", error="invalid_token", error_description="{detail}""#)
}

/// `{"detail":"..."}`.
pub fn json_detail(detail: &str) -> String {
    format!(r#"{{"detail":"{detail}"}}"#)
}

/// Sends `GET path` with one `Authorization` value, or none.
pub async fn get<H: Harness>(app: &H, path: &str, authorization: Option<&[u8]>) -> TestResponse {
    let mut request = TestRequest::get(path);
    if let Some(value) = authorization {
        request = request.authorization(value);
    }
    app.send(request).await
}

fn describe(header: Option<&[u8]>) -> String {
    match header {
        None => "no Authorization header".to_owned(),
        Some(value) => format!("Authorization {:?}", String::from_utf8_lossy(value)),
    }
}

/// Asserts a 200 with `body`.
#[track_caller]
pub fn assert_ok<H: Harness>(response: &TestResponse, body: &str, context: &str) {
    assert_eq!(
        (response.status, response.body.as_str()),
        (200, body),
        "{}: {context}: expected 200 {body:?}, got {response:?}",
        H::NAME
    );
}

/// Asserts an error response: status, JSON body with `detail`, JSON content type, and
/// exactly the `WWW-Authenticate` values given.
#[track_caller]
pub fn assert_error<H: Harness>(
    response: &TestResponse,
    status: u16,
    detail: &str,
    www_authenticate: Option<&str>,
    context: &str,
) {
    assert_error_body::<H>(
        response,
        status,
        &json_detail(detail),
        www_authenticate,
        context,
    );
}

/// As [`assert_error`], with the whole `body` expected.
pub fn assert_error_body<H: Harness>(
    response: &TestResponse,
    status: u16,
    body: &str,
    www_authenticate: Option<&str>,
    context: &str,
) {
    let name = H::NAME;
    assert_eq!(
        response.status, status,
        "{name}: {context}: status, in {response:?}"
    );
    assert_eq!(
        response.body, body,
        "{name}: {context}: body, in {response:?}"
    );
    assert_eq!(
        response
            .content_type
            .as_deref()
            .and_then(|c| c.split(';').next()),
        Some("application/json"),
        "{name}: {context}: content type, in {response:?}"
    );
    let expected: Vec<String> = www_authenticate.map(str::to_owned).into_iter().collect();
    assert_eq!(
        response.www_authenticate, expected,
        "{name}: {context}: WWW-Authenticate, in {response:?}"
    );
}

/// Asserts that `header` is refused with the same 401 (`detail`, RFC 6750
/// `invalid_token`) on every route, `/optional` included.
pub async fn assert_refused_everywhere<H: Harness>(app: &H, header: &[u8], detail: &str) {
    let challenge = invalid_token_challenge(detail);
    for path in ROUTES {
        let response = get(app, path, Some(header)).await;
        let context = format!("GET {path} with {}", describe(Some(header)));
        assert_error::<H>(&response, 401, detail, Some(&challenge), &context);
    }
}

/// Asserts an anonymous request: 200 `anonymous` on `/optional`, 401 "not provided"
/// with the bare challenge elsewhere.
pub async fn assert_anonymous<H: Harness>(app: &H, header: Option<&[u8]>) {
    for path in ROUTES {
        let response = get(app, path, header).await;
        let context = format!("GET {path} with {}", describe(header));
        if path == "/optional" {
            assert_ok::<H>(&response, "anonymous", &context);
        } else {
            assert_error::<H>(
                &response,
                401,
                detail::NOT_PROVIDED,
                Some(BEARER_CHALLENGE),
                &context,
            );
        }
    }
}

/// Asserts that `header` authenticates `user` on `/required`, `/optional` and `/twice`.
pub async fn assert_user<H: Harness>(app: &H, header: &[u8], user: &str) {
    for path in ["/required", "/optional", "/twice"] {
        let response = get(app, path, Some(header)).await;
        let context = format!("GET {path} with {}", describe(Some(header)));
        assert_ok::<H>(&response, user, &context);
    }
}

/// The cases, one function each; [`adapter_cases!`](crate::adapter_cases) runs them
/// all.
pub mod cases {
    use super::*;

    /// No `Authorization` header: anonymous on `/optional`, 401 "not provided" on
    /// every required route, with the bare `Bearer realm="api"` challenge.
    pub async fn no_header_is_anonymous<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        assert_anonymous(&app, None).await;
    }

    /// Another scheme (or an empty value) is anonymous too, as in DRF.
    pub async fn another_scheme_is_anonymous<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        for header in [
            &b"Basic YWxpY2U6c2VjcmV0"[..],
            b"Digest username=\"alice\"",
            b"Tokens abc",
            b"",
        ] {
            assert_anonymous(&app, Some(header)).await;
        }
    }

    /// Anonymous requests never reach the store.
    pub async fn anonymous_requests_skip_the_store<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        assert_anonymous(&app, None).await;
        assert_anonymous(&app, Some(b"Basic YWxpY2U6c2VjcmV0")).await;
        assert_eq!(fixture.store.lookups(), 0, "{}", H::NAME);
    }

    /// The keyword with nothing after it.
    pub async fn keyword_alone<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        for header in [&b"Token"[..], b"Bearer", b"token   ", b"BEARER\t"] {
            assert_refused_everywhere(&app, header, detail::NO_CREDENTIALS).await;
        }
    }

    /// Whitespace inside the credential.
    pub async fn spaces_inside_the_credential<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let token = fixture.token("alice", &[]).await;
        let (head, tail) = token.split_at(10);
        for header in [
            format!("Token {head} {tail}"),
            format!("Bearer {token} extra"),
            format!("Token {head}\t{tail}"),
        ] {
            assert_refused_everywhere(&app, header.as_bytes(), detail::SPACES).await;
        }
    }

    /// Bytes that are not visible ASCII in the credential: UTF-8 letters, and bytes
    /// that are not UTF-8 where the framework carries them.
    pub async fn invalid_characters<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let token = fixture.token("alice", &[]).await;
        let mut headers = vec![
            format!("Token {token}é").into_bytes(),
            "Bearer ätk_ünïcödé".as_bytes().to_vec(),
            format!("Token \u{fffd}{token}").into_bytes(),
        ];
        if H::NON_UTF8_HEADERS {
            headers.push(b"Token atk_\xff\xfe\x80".to_vec());
            let mut raw = format!("Bearer {token}").into_bytes();
            raw.push(0xC3);
            headers.push(raw);
        }
        for header in headers {
            assert_refused_everywhere(&app, &header, detail::INVALID_CHARACTERS).await;
        }
    }

    /// A typo in a real token fails its checksum, without a store lookup.
    pub async fn bad_checksum<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let token = fixture.token("alice", &[]).await;
        let mut typo = token.into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'A' { b'B' } else { b'A' };
        let mut header = b"Token ".to_vec();
        header.extend_from_slice(&typo);
        assert_refused_everywhere(&app, &header, detail::INVALID_TOKEN).await;
        assert_eq!(
            fixture.store.lookups(),
            0,
            "{}: a bad checksum reached the store",
            H::NAME
        );
    }

    /// Strings that are not tokens at all.
    pub async fn malformed_token<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let long = format!("Token atk_{}", "a".repeat(4000));
        for header in [
            &b"Token atk_typo"[..],
            b"Bearer not-a-token",
            b"Token 0123456789abcdef0123456789abcdef01234567",
            long.as_bytes(),
        ] {
            assert_refused_everywhere(&app, header, detail::INVALID_TOKEN).await;
        }
    }

    /// A well-formed token this store never issued.
    pub async fn unknown_token<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let elsewhere = Fixture::new().token("alice", &[]).await;
        let header = format!("Token {elsewhere}");
        assert_refused_everywhere(&app, header.as_bytes(), detail::INVALID_TOKEN).await;
    }

    /// A revoked token stops working at once.
    pub async fn revoked_token<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let issued = fixture.issue("alice", IssueOptions::new()).await;
        let header = format!("Bearer {}", issued.token().expose_secret());
        assert_user(&app, header.as_bytes(), "alice").await;
        assert!(
            fixture
                .auth
                .revoke(issued.info().id)
                .await
                .expect("revoked")
        );
        assert_refused_everywhere(&app, header.as_bytes(), detail::INVALID_TOKEN).await;
    }

    /// A token past its expiry.
    pub async fn expired_token<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let issued = fixture
            .issue(
                "alice",
                IssueOptions::new().expires_in(Duration::from_secs(60)),
            )
            .await;
        let header = format!("Token {}", issued.token().expose_secret());
        assert_user(&app, header.as_bytes(), "alice").await;
        fixture.clock.advance(Duration::from_secs(61));
        assert_refused_everywhere(&app, header.as_bytes(), detail::EXPIRED).await;
    }

    /// The token's user is inactive.
    pub async fn inactive_user<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let header = format!("Token {}", fixture.token("inactive-carol", &[]).await);
        assert_refused_everywhere(&app, header.as_bytes(), detail::USER_INACTIVE).await;
    }

    /// The token's user no longer exists.
    pub async fn deleted_user<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let header = format!("Token {}", fixture.token("deleted-dave", &[]).await);
        assert_refused_everywhere(&app, header.as_bytes(), detail::USER_INACTIVE).await;
    }

    /// A token without the route's scope: 403 with RFC 6750 `insufficient_scope`;
    /// the same token passes where no scope is required.
    pub async fn missing_scope<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        for scopes in [&[][..], &["read"], &["writes", "Write"]] {
            let header = format!("Token {}", fixture.token("alice", scopes).await);
            // The extractor's requirement and the handler's own check answer alike.
            for path in ["/scoped", "/checked"] {
                let response = get(&app, path, Some(header.as_bytes())).await;
                assert_error::<H>(
                    &response,
                    403,
                    detail::FORBIDDEN,
                    Some(&format!(
                        r#"Bearer realm="api", error="insufficient_scope", error_description="{}", scope="write""#,
                        detail::FORBIDDEN
                    )),
                    &format!("GET {path} with scopes {scopes:?}"),
                );
            }
            assert_user(&app, header.as_bytes(), "alice").await;
        }
    }

    /// With the authenticator's error body set, every refusal (extractors, the
    /// handler's own scope check, 401, 403, 429, 503) answers in the application's
    /// shape, while status, `WWW-Authenticate` and `Retry-After` stay the core's.
    pub async fn the_error_body_is_the_applications<H: Harness>() {
        let fixture = Fixture::with(|builder| {
            builder
                .invalid_token_limit(2, Duration::from_secs(60))
                .error_body(|error: &authtoken::AuthError| {
                    serde_json::json!({"error": {
                        "code": error.code(),
                        "message": error.message(),
                        "scope": error.required_scope(),
                    }})
                    .to_string()
                    .into()
                })
        });
        let app: H = fixture.app().await;
        let body = |code: &str, message: &str, scope: Option<&str>| {
            serde_json::json!({"error": {"code": code, "message": message, "scope": scope}})
                .to_string()
        };
        let read_only = format!("Token {}", fixture.token("alice", &["read"]).await);
        let scope_challenge = format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="{}", scope="write""#,
            detail::FORBIDDEN
        );
        for path in ["/scoped", "/checked"] {
            let response = get(&app, path, Some(read_only.as_bytes())).await;
            assert_error_body::<H>(
                &response,
                403,
                &body("insufficient_scope", detail::FORBIDDEN, Some(WRITE_SCOPE)),
                Some(&scope_challenge),
                &format!("GET {path} without the scope"),
            );
        }
        let response = get(&app, "/required", None).await;
        assert_error_body::<H>(
            &response,
            401,
            &body("not_authenticated", detail::NOT_PROVIDED, None),
            Some(BEARER_CHALLENGE),
            "GET /required with nothing",
        );
        let client: SocketAddr = "203.0.113.9:50000".parse().expect("an address");
        let bad = |path: &'static str| {
            app.send(
                TestRequest::get(path)
                    .authorization("Token atk_typo")
                    .from(client),
            )
        };
        for path in ["/required", "/optional"] {
            let response = bad(path).await;
            assert_error_body::<H>(
                &response,
                401,
                &body("invalid_token", detail::INVALID_TOKEN, None),
                Some(&invalid_token_challenge(detail::INVALID_TOKEN)),
                &format!("GET {path} with a bad token"),
            );
        }
        let response = bad("/checked").await;
        assert_error_body::<H>(
            &response,
            429,
            &body("throttled", &detail::throttled(60), None),
            None,
            "GET /checked, a throttled bad token",
        );
        assert_eq!(
            response.retry_after.as_deref(),
            Some("60"),
            "{}: Retry-After: {response:?}",
            H::NAME
        );
        // A token never used, so that no cache answers for it.
        let fresh = format!("Token {}", fixture.token("bob", &[]).await);
        fixture.store.set_failing(true);
        let response = get(&app, "/required", Some(fresh.as_bytes())).await;
        assert_error_body::<H>(
            &response,
            503,
            &body("unavailable", detail::UNAVAILABLE, None),
            None,
            "GET /required with the store down",
        );
        fixture.store.set_failing(false);
        assert_user(&app, fresh.as_bytes(), "bob").await;
    }

    /// A token with the scope passes.
    pub async fn scope_granted<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let header = format!(
            "Token {}",
            fixture.token("alice", &["read", WRITE_SCOPE]).await
        );
        for path in ["/scoped", "/checked"] {
            let response = get(&app, path, Some(header.as_bytes())).await;
            assert_ok::<H>(&response, "alice", &format!("GET {path} with scope write"));
        }
    }

    /// The store down: 503 on every route, `/optional` and anonymous-looking scopes
    /// included, no challenge, never 200 or 401; fine again once it is back.
    pub async fn store_unavailable<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let header = format!("Token {}", fixture.token("alice", &[WRITE_SCOPE]).await);
        fixture.store.set_failing(true);
        for path in ROUTES {
            let response = get(&app, path, Some(header.as_bytes())).await;
            assert_error::<H>(
                &response,
                503,
                detail::UNAVAILABLE,
                None,
                &format!("GET {path} with the store down"),
            );
        }
        // Anonymous requests do not need the store.
        let response = get(&app, "/optional", None).await;
        assert_ok::<H>(
            &response,
            "anonymous",
            "GET /optional anonymous, store down",
        );
        fixture.store.set_failing(false);
        assert_user(&app, header.as_bytes(), "alice").await;
    }

    /// The user loader down: 503 as well.
    pub async fn user_loader_unavailable<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let header = format!("Token {}", fixture.token("broken-erin", &[]).await);
        for path in ROUTES {
            let response = get(&app, path, Some(header.as_bytes())).await;
            assert_error::<H>(
                &response,
                503,
                detail::UNAVAILABLE,
                None,
                &format!("GET {path} with the user loader down"),
            );
        }
    }

    /// Both keywords, in any case.
    pub async fn both_keywords_any_case<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let token = fixture.token("alice", &[]).await;
        for keyword in [
            "Token", "Bearer", "token", "bearer", "TOKEN", "BEARER", "bEaReR",
        ] {
            let header = format!("{keyword} {token}");
            assert_user(&app, header.as_bytes(), "alice").await;
        }
    }

    /// Whitespace between keyword and token, and around the value, is fine (DRF).
    pub async fn whitespace_around_the_credential<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let token = fixture.token("alice", &[]).await;
        for header in [
            format!("Token   {token}"),
            format!("Bearer\t{token}"),
            format!("Token {token}   "),
            format!(" \tToken {token}"),
        ] {
            assert_user(&app, header.as_bytes(), "alice").await;
        }
    }

    /// A bad token is refused where a user is optional, as in DRF.
    pub async fn bad_token_on_optional_route_is_401<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let response = get(&app, "/optional", Some(b"Token atk_typo")).await;
        assert_error::<H>(
            &response,
            401,
            detail::INVALID_TOKEN,
            Some(&invalid_token_challenge(detail::INVALID_TOKEN)),
            "GET /optional with a bad token",
        );
    }

    /// With only `Token` accepted, challenges are DRF's bare `Token`, and `Bearer` is
    /// another scheme.
    pub async fn token_keyword_only<H: Harness>() {
        let fixture = Fixture::with(|builder| {
            builder.keywords([authtoken::Keyword::new("Token").expect("a valid keyword")])
        });
        let app: H = fixture.app().await;
        let token = fixture.token("alice", &[]).await;
        let response = get(&app, "/required", None).await;
        assert_error::<H>(
            &response,
            401,
            detail::NOT_PROVIDED,
            Some("Token"),
            "GET /required anonymous",
        );
        let response = get(&app, "/required", Some(b"Token atk_typo")).await;
        assert_error::<H>(
            &response,
            401,
            detail::INVALID_TOKEN,
            Some("Token"),
            "GET /required with a bad token",
        );
        let bearer = format!("Bearer {token}");
        let response = get(&app, "/optional", Some(bearer.as_bytes())).await;
        assert_ok::<H>(
            &response,
            "anonymous",
            "GET /optional with Bearer, only Token accepted",
        );
        assert_user(&app, format!("token {token}").as_bytes(), "alice").await;
    }

    /// Two different `Authorization` headers: refused (400 or 401), never a user.
    pub async fn conflicting_headers<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let alice = format!("Token {}", fixture.token("alice", &[]).await);
        let bob = format!("Token {}", fixture.token("bob", &[]).await);
        for (first, second) in [
            (alice.as_str(), bob.as_str()),
            (alice.as_str(), "Token atk_typo"),
            (alice.as_str(), "Basic YWxpY2U6c2VjcmV0"),
        ] {
            for path in ROUTES {
                let request = TestRequest::get(path)
                    .authorization(first)
                    .authorization(second);
                let response = app.send(request).await;
                let context = format!("GET {path} with Authorization {first:?} and {second:?}");
                match response.status {
                    400 => assert_error::<H>(
                        &response,
                        400,
                        detail::CONFLICTING,
                        Some(&format!(
                            r#"Bearer realm="api", error="invalid_request", error_description="{}""#,
                            detail::CONFLICTING
                        )),
                        &context,
                    ),
                    401 => {
                        assert_eq!(
                            response.www_authenticate.len(),
                            1,
                            "{}: {context}: {response:?}",
                            H::NAME
                        );
                        assert!(
                            response.body.starts_with(r#"{"detail":"#),
                            "{}: {context}: {response:?}",
                            H::NAME
                        );
                    }
                    _ => panic!(
                        "{}: {context}: expected 400 or 401, got {response:?}",
                        H::NAME
                    ),
                }
            }
        }
    }

    /// The same value twice is one credential.
    pub async fn same_header_twice_passes<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let header = format!("Token {}", fixture.token("alice", &[]).await);
        for path in ["/required", "/optional", "/twice"] {
            let request = TestRequest::get(path)
                .authorization(&header)
                .authorization(&header);
            let response = app.send(request).await;
            assert_ok::<H>(
                &response,
                "alice",
                &format!("GET {path} with the header twice"),
            );
        }
    }

    /// Each token yields its own user and no other, whatever the order.
    pub async fn token_of_one_user_never_yields_another<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let mut tokens = Vec::new();
        for round in 0..3 {
            for user in ["alice", "bob", "carol", "42", "Zoë"] {
                let name = format!("device {round}");
                let issued = fixture.issue(user, IssueOptions::new().name(name)).await;
                tokens.push((user, format!("Token {}", issued.token().expose_secret())));
            }
        }
        for (user, header) in tokens.iter().rev() {
            assert_user(&app, header.as_bytes(), user).await;
        }
        for (user, header) in &tokens {
            assert_user(&app, header.as_bytes(), user).await;
        }
    }

    /// One store lookup per authenticated request, however many extractors ask
    /// (`/twice` has two), with the cache off; with it on, one for the first request
    /// and none after; none for anonymous requests.
    pub async fn authenticates_once_per_request<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let header = format!("Token {}", fixture.token("alice", &[WRITE_SCOPE]).await);
        let paths = ROUTES.iter().chain(["/twice"; 3].iter());
        for (n, path) in paths.enumerate() {
            let before = fixture.store.lookups();
            let response = get(&app, path, Some(header.as_bytes())).await;
            assert_ok::<H>(&response, "alice", &format!("GET {path}"));
            let expected = usize::from(!cache_on() || n == 0);
            assert_eq!(
                fixture.store.lookups() - before,
                expected,
                "{}: GET {path} (request {n}, cache on: {})",
                H::NAME,
                cache_on()
            );
        }
        let before = fixture.store.lookups();
        let response = get(&app, "/twice", Some(b"Token atk_typo")).await;
        assert_eq!(response.status, 401, "{}: GET /twice with a typo", H::NAME);
        assert_eq!(
            fixture.store.lookups(),
            before,
            "{}: a typo reached the store",
            H::NAME
        );
    }

    /// 50 requests at once, of several users, anonymous and bad tokens mixed in: each
    /// gets its own answer.
    pub async fn concurrent_requests<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let mut users = HashMap::new();
        for user in ["alice", "bob", "carol", "dave", "erin"] {
            users.insert(user, format!("Bearer {}", fixture.token(user, &[]).await));
        }
        let names: Vec<&str> = users.keys().copied().collect();
        let requests = (0..50).map(|i| {
            let path = ROUTES[i % ROUTES.len()];
            let (header, expected): (Option<String>, Result<&str, u16>) = match i % 10 {
                7 => (
                    None,
                    if path == "/optional" {
                        Ok("anonymous")
                    } else {
                        Err(401)
                    },
                ),
                9 => (Some("Token atk_typo".to_owned()), Err(401)),
                _ => {
                    let user = names[i % names.len()];
                    let expected = if matches!(path, "/scoped" | "/checked") {
                        Err(403)
                    } else {
                        Ok(user)
                    };
                    (Some(users[user].clone()), expected)
                }
            };
            let app = &app;
            async move {
                let response = get(app, path, header.as_deref().map(str::as_bytes)).await;
                (i, path, expected, response)
            }
        });
        let results = futures_util::future::join_all(requests).await;
        assert_eq!(results.len(), 50);
        for (i, path, expected, response) in results {
            let context = format!("concurrent request {i} to {path}");
            match expected {
                Ok(body) => assert_ok::<H>(&response, body, &context),
                Err(status) => assert_eq!(
                    response.status,
                    status,
                    "{}: {context}: {response:?}",
                    H::NAME
                ),
            }
        }
    }

    /// A flood of tokens that fail the format or the checksum, from one client, on
    /// every route: every one refused, and not one reaches the store.
    pub async fn bad_token_flood_never_reaches_the_store<H: Harness>() {
        let fixture = Fixture::new();
        let app: H = fixture.app().await;
        let token = fixture.token("alice", &[]).await;
        let before = fixture.store.lookups();
        let client: SocketAddr = "203.0.113.9:40000".parse().expect("an address");
        for i in 0..200u32 {
            let header = match i % 4 {
                // A typo in a real token: the checksum fails.
                0 => {
                    let mut typo = token.clone().into_bytes();
                    let at = 4 + (i as usize % 32);
                    typo[at] = if typo[at] == b'x' { b'y' } else { b'x' };
                    format!("Token {}", String::from_utf8(typo).expect("ASCII"))
                }
                1 => format!("Bearer atk_{i:038}"),
                2 => format!("Token {}", "z".repeat(i as usize + 1)),
                _ => "Token 0123456789abcdef0123456789abcdef01234567".to_owned(),
            };
            let path = ROUTES[i as usize % ROUTES.len()];
            let request = TestRequest::get(path).authorization(&header).from(client);
            let response = app.send(request).await;
            let context = format!("flood request {i} to {path}: {header}");
            assert_error::<H>(
                &response,
                401,
                detail::INVALID_TOKEN,
                Some(&invalid_token_challenge(detail::INVALID_TOKEN)),
                &context,
            );
        }
        assert_eq!(
            fixture.store.lookups(),
            before,
            "{}: a malformed token reached the store",
            H::NAME
        );
    }

    /// With the invalid-token limiter on (3 per minute): the fourth bad token from
    /// one client is answered 429 with `Retry-After` and DRF's throttling detail,
    /// while its valid token still passes and other clients are unaffected.
    pub async fn invalid_token_limit<H: Harness>() {
        let fixture =
            Fixture::with(|builder| builder.invalid_token_limit(3, Duration::from_secs(60)));
        let app: H = fixture.app().await;
        let token = format!("Token {}", fixture.token("alice", &[]).await);
        let client: SocketAddr = "203.0.113.7:50000".parse().expect("an address");
        let other: SocketAddr = "203.0.113.8:50000".parse().expect("an address");
        let send = |header: &str, from: SocketAddr, path: &str| {
            app.send(TestRequest::get(path).authorization(header).from(from))
        };
        for i in 0..3 {
            let response = send("Token atk_typo", client, "/optional").await;
            assert_eq!(
                response.status,
                401,
                "{}: bad token {i}: {response:?}",
                H::NAME
            );
            assert_eq!(response.retry_after, None, "{}: {response:?}", H::NAME);
        }
        for path in ROUTES {
            let response = send("Token atk_typo", client, path).await;
            assert_error::<H>(
                &response,
                429,
                &detail::throttled(60),
                None,
                &format!("GET {path}, a throttled bad token"),
            );
            assert_eq!(
                response.retry_after.as_deref(),
                Some("60"),
                "{}: Retry-After of {path}: {response:?}",
                H::NAME
            );
        }
        // The valid token of the throttled client passes.
        for path in ["/required", "/optional", "/twice"] {
            let response = send(&token, client, path).await;
            assert_ok::<H>(&response, "alice", &format!("GET {path}, throttled client"));
        }
        // Another client is not throttled.
        let response = send("Token atk_typo", other, "/required").await;
        assert_eq!(
            response.status,
            401,
            "{}: another client: {response:?}",
            H::NAME
        );
        // Once the window is over, the client is answered 401 again.
        fixture.clock.advance(Duration::from_secs(61));
        let response = send("Token atk_typo", client, "/required").await;
        assert_eq!(
            response.status,
            401,
            "{}: next window: {response:?}",
            H::NAME
        );
    }
}

/// Expands into a module `$module` with one `#[tokio::test]` per case of
/// [`adapter::cases`](crate::adapter::cases), run against `$harness`. The test
/// crate needs `tokio` with the `macros` and `rt` features.
///
/// `adapter_cases!(@run_all $harness)` is an expression that runs every case in turn
/// (awaited), for a test that wraps the whole suite (the log scan).
#[macro_export]
macro_rules! adapter_cases {
    ($module:ident, $harness:ty) => {
        $crate::adapter_cases!(@list expand ($module, $harness));
    };
    (@run_all $harness:ty) => {
        $crate::adapter_cases!(@list run ($harness))
    };
    (@list $arm:ident $args:tt) => {
        $crate::adapter_cases! { @$arm $args [
            no_header_is_anonymous,
            another_scheme_is_anonymous,
            anonymous_requests_skip_the_store,
            keyword_alone,
            spaces_inside_the_credential,
            invalid_characters,
            bad_checksum,
            malformed_token,
            unknown_token,
            revoked_token,
            expired_token,
            inactive_user,
            deleted_user,
            missing_scope,
            the_error_body_is_the_applications,
            scope_granted,
            store_unavailable,
            user_loader_unavailable,
            both_keywords_any_case,
            whitespace_around_the_credential,
            bad_token_on_optional_route_is_401,
            token_keyword_only,
            conflicting_headers,
            same_header_twice_passes,
            token_of_one_user_never_yields_another,
            authenticates_once_per_request,
            concurrent_requests,
            bad_token_flood_never_reaches_the_store,
            invalid_token_limit,
        ] }
    };
    (@run ($harness:ty) [$($case:ident),* $(,)?]) => {
        async {
            for cache_on in [true, false] {
                $(
                    $crate::adapter::with_cache(
                        cache_on,
                        $crate::adapter::cases::$case::<$harness>(),
                    )
                    .await;
                )*
            }
        }
    };
    (@expand ($module:ident, $harness:ty) [$($case:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            /// With the token cache on: the default configuration.
            mod cache_on {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[tokio::test]
                    async fn $case() {
                        $crate::adapter::with_cache(
                            true,
                            $crate::adapter::cases::$case::<$harness>(),
                        )
                        .await;
                    }
                )*
            }

            /// With the token cache off: every request reaches the store.
            mod cache_off {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[tokio::test]
                    async fn $case() {
                        $crate::adapter::with_cache(
                            false,
                            $crate::adapter::cases::$case::<$harness>(),
                        )
                        .await;
                    }
                )*
            }
        }
    };
}
