//! The middleware and extractors, in-process with `actix_web::test`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, ResponseError, web};
use authtoken::{
    AuthError, Authentication, Authenticator, Challenge, InvalidTokenLimit, IssueOptions,
    MemoryStore, Rejection, UserIdLoader, UserLoader,
};
use authtoken_actix::{
    AuthMiddleware, AuthRejection, Authenticated, MaybeAuthenticated, RequireScope, ScopeName,
};

/// Users are their ids; `"gone"` does not exist and `"broken"` makes the loader
/// fail. Counts every load, so a test can tell how often a request authenticated.
#[derive(Clone, Default)]
struct Users {
    loads: Arc<AtomicUsize>,
}

impl UserLoader for Users {
    type User = String;
    type Error = io::Error;

    async fn load(&self, user_id: &str) -> Result<Option<String>, io::Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        match user_id {
            "gone" => Ok(None),
            "broken" => Err(io::Error::other("database is down")),
            id => Ok(Some(id.to_owned())),
        }
    }
}

struct Write;
impl ScopeName for Write {
    const NAME: &'static str = "write";
}

struct Fixture {
    auth: Authenticator<String>,
    loads: Arc<AtomicUsize>,
}

impl Fixture {
    fn new() -> Self {
        let users = Users::default();
        let loads = Arc::clone(&users.loads);
        // No cache: every authentication reaches the loader, so loads count them.
        let auth = Authenticator::builder(MemoryStore::new(), users)
            .cache_capacity(0)
            .build()
            .expect("a valid configuration");
        Self { auth, loads }
    }

    async fn header(&self, user: &str, scopes: &[&str]) -> String {
        let issued = self
            .auth
            .issue(user, IssueOptions::new().scopes(scopes.iter().copied()))
            .await
            .expect("issued");
        format!("Bearer {}", issued.token().expose_secret())
    }

    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    /// `GET uri` with these `Authorization` values, sent to a new app with the
    /// middleware and [`routes`] (the authenticator keeps every state a test needs).
    async fn get(&self, uri: &str, authorization: &[&str]) -> Reply {
        let app = test::init_service(
            App::new()
                .wrap(AuthMiddleware::new(self.auth.clone()))
                .configure(routes),
        )
        .await;
        send(&app, get(uri, authorization).to_request()).await
    }

    /// Asserts that `GET uri` is answered 200 with `body`.
    async fn ok(&self, uri: &str, authorization: &[&str], body: &str) {
        let reply = self.get(uri, authorization).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, body),
            "{uri} {authorization:?}"
        );
    }

    /// Asserts that `GET uri` is refused with the core's answer to `error`.
    async fn refused(&self, uri: &str, authorization: &[&str], error: &AuthError) -> Reply {
        let reply = self.get(uri, authorization).await;
        assert_refused(&reply, &self.auth, error);
        reply
    }
}

async fn required(user: Authenticated<String>) -> String {
    user.user().clone()
}

async fn optional(user: MaybeAuthenticated<String>) -> String {
    user.as_ref()
        .map_or_else(|| "anonymous".to_owned(), |id| id.user().clone())
}

async fn scoped(user: RequireScope<Write, String>) -> String {
    format!("{} may write", user.user())
}

/// What the issue is about: actix-web's own `Option<T>` hides the error.
async fn swallowed(user: Option<Authenticated<String>>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |id| id.user().clone())
}

async fn open() -> &'static str {
    "open"
}

async fn everything(
    a: Authenticated<String>,
    b: MaybeAuthenticated<String>,
    c: RequireScope<Write, String>,
    d: web::ReqData<Authentication<String>>,
) -> String {
    let d = d.require().expect("authenticated").user().clone();
    format!(
        "{} {} {} {d}",
        a.user(),
        b.0.expect("a user").user(),
        c.user()
    )
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/required", web::get().to(required))
        .route("/optional", web::get().to(optional))
        .route("/scoped", web::get().to(scoped))
        .route("/swallowed", web::get().to(swallowed))
        .route("/open", web::get().to(open));
}

/// A GET request to `uri` with these `Authorization` values.
fn get(uri: &str, authorization: &[&str]) -> TestRequest {
    let mut request = TestRequest::get().uri(uri);
    for value in authorization {
        request = request.append_header(("Authorization", *value));
    }
    request
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn send<S, R, B>(app: &S, request: R) -> Reply
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("visible ASCII").to_owned())
    };
    let challenge = header("www-authenticate");
    let content_type = header("content-type");
    let status = response.status();
    let body = test::read_body(response).await;
    Reply {
        status,
        challenge,
        content_type,
        body: String::from_utf8(body.to_vec()).expect("UTF-8"),
    }
}

fn detail(message: &str) -> String {
    serde_json::json!({ "detail": message }).to_string()
}

/// Every refusal is the core's response, copied: status, challenge, JSON body.
fn assert_refused(reply: &Reply, auth: &Authenticator<String>, error: &AuthError) {
    let expected = auth.error_response(error);
    assert_eq!(reply.status.as_u16(), expected.status, "{reply:?}");
    assert_eq!(
        reply.challenge.as_deref().map(str::as_bytes),
        expected.www_authenticate.as_deref(),
        "{reply:?}"
    );
    assert_eq!(reply.body, expected.body, "{reply:?}");
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
}

#[actix_web::test]
async fn a_required_user() {
    let fx = Fixture::new();
    let ada = fx.header("ada", &[]).await;
    let gone = fx.header("gone", &[]).await;
    fx.ok("/required", &[&ada], "ada").await;

    let refusals: [(&[&str], AuthError); 5] = [
        (&[], AuthError::NotProvided),
        // Another scheme is anonymous too.
        (&["Basic YWRhOnB3"], AuthError::NotProvided),
        (&["Bearer atk_nope"], AuthError::InvalidToken),
        (&["Token"], AuthError::NoCredentials),
        (&[&gone], AuthError::UserInactive),
    ];
    for (authorization, error) in &refusals {
        fx.refused("/required", authorization, error).await;
    }

    // In so many words:
    let anonymous = fx.get("/required", &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.challenge.as_deref(),
        Some(r#"Bearer realm="api""#)
    );
    assert_eq!(
        anonymous.body,
        detail("Authentication credentials were not provided.")
    );
    let invalid = fx.get("/required", &["Bearer atk_nope"]).await;
    assert_eq!(invalid.body, detail("Invalid token."));
    let challenge = invalid.challenge.unwrap_or_default();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[actix_web::test]
async fn an_optional_user_anonymous_is_not_a_bad_token() {
    let fx = Fixture::new();
    let ada = fx.header("ada", &[]).await;
    fx.ok("/optional", &[], "anonymous").await;
    fx.ok("/optional", &[&ada], "ada").await;
    // A bad token is refused, as DRF does.
    fx.refused("/optional", &["Token atk_nope"], &AuthError::InvalidToken)
        .await;
    let spaces = AuthError::CredentialContainsSpaces;
    fx.refused("/optional", &["Token a b"], &spaces).await;
}

/// Pins actix-web's own `impl FromRequest for Option<T>`, which this crate cannot
/// override: it turns every error of `Authenticated` into `None`, so a bad token and
/// even a failing store pass as anonymous. `MaybeAuthenticated` is the optional user
/// that refuses them. Should actix-web change this, this test says so (and the docs
/// of `Authenticated`, `MaybeAuthenticated` and the README need updating).
#[actix_web::test]
async fn option_of_authenticated_is_actix_webs_and_swallows_every_rejection() {
    let fx = Fixture::new();
    let (ada, broken) = (fx.header("ada", &[]).await, fx.header("broken", &[]).await);
    // A request, what `MaybeAuthenticated` answers, and what `Option` makes of it.
    let cases: [(&[&str], StatusCode, &str); 5] = [
        (&[&ada], StatusCode::OK, "ada"),
        (&[], StatusCode::OK, "anonymous"),
        (&["Token atk_nope"], StatusCode::UNAUTHORIZED, "anonymous"),
        (&["Token a b"], StatusCode::UNAUTHORIZED, "anonymous"),
        (&[&broken], StatusCode::SERVICE_UNAVAILABLE, "anonymous"),
    ];
    for (authorization, maybe, option) in cases {
        let reply = fx.get("/optional", authorization).await;
        assert_eq!(reply.status, maybe, "MaybeAuthenticated, {authorization:?}");
        fx.ok("/swallowed", authorization, option).await;
    }
}

#[actix_web::test]
async fn a_required_scope() {
    let fx = Fixture::new();
    let writer = fx.header("ada", &["read", "write"]).await;
    let reader = fx.header("bob", &["read"]).await;
    fx.ok("/scoped", &[&writer], "ada may write").await;

    let forbidden = AuthError::InsufficientScope {
        required: "write".into(),
    };
    let reply = fx.refused("/scoped", &[&reader], &forbidden).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let challenge = reply.challenge.unwrap_or_default();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="write""#), "{challenge}");

    fx.refused("/scoped", &[], &AuthError::NotProvided).await;
    fx.refused("/scoped", &["Bearer atk_nope"], &AuthError::InvalidToken)
        .await;
}

#[actix_web::test]
async fn a_required_scope_of_routes() {
    let fx = Fixture::new();
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reached);
    let app = test::init_service(
        App::new().route("/public", web::get().to(open)).service(
            web::scope("/private")
                .wrap(AuthMiddleware::new(fx.auth.clone()).require_authentication())
                .route(
                    "/handler",
                    web::get().to(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async { HttpResponse::Ok().body("inside") }
                    }),
                ),
        ),
    )
    .await;
    let ada = fx.header("ada", &[]).await;
    let gone = fx.header("gone", &[]).await;

    // Outside the scope, no middleware ran: a bad token is nobody's business.
    for authorization in [&[][..], &["Token atk_nope"]] {
        let reply = send(&app, get("/public", authorization).to_request()).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, "open")
        );
    }

    // Inside, refused before the handler: from memory, or after asking the store.
    let refusals: [(&[&str], AuthError); 3] = [
        (&[], AuthError::NotProvided),
        (&["Token atk_nope"], AuthError::InvalidToken),
        (&[&gone], AuthError::UserInactive),
    ];
    for (authorization, error) in &refusals {
        let reply = send(&app, get("/private/handler", authorization).to_request()).await;
        assert_refused(&reply, &fx.auth, error);
    }
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "refused before the handler"
    );
    // The refusal carries its error, for the middleware outside (a request log).
    let response = test::call_service(&app, get("/private/handler", &[]).to_request()).await;
    let error = response.response().error().expect("the refusal's error");
    let rejection = error.as_error::<AuthRejection>().expect("an AuthRejection");
    assert_eq!(rejection.error(), Some(&AuthError::NotProvided));

    let reply = send(&app, get("/private/handler", &[&ada]).to_request()).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "inside")
    );
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn once_per_request_however_many_extractors_and_middlewares() {
    let fx = Fixture::new();
    let app = test::init_service(
        App::new()
            .wrap(AuthMiddleware::new(fx.auth.clone()))
            .service(
                web::scope("/nested")
                    .wrap(AuthMiddleware::new(fx.auth.clone()).require_authentication())
                    .route("/everything", web::get().to(everything)),
            )
            .route("/everything", web::get().to(everything)),
    )
    .await;
    let header = fx.header("ada", &["write"]).await;

    for (uri, how) in [
        ("/everything", "four extractors"),
        ("/nested/everything", "four extractors and two middlewares"),
    ] {
        let before = fx.loads();
        let reply = send(&app, get(uri, &[&header]).to_request()).await;
        assert_eq!(reply.body, "ada ada ada ada");
        assert_eq!(fx.loads() - before, 1, "one authentication for {how}");
    }
}

#[actix_web::test]
async fn an_unavailable_store_fails_closed() {
    let fx = Fixture::new();
    let broken = fx.header("broken", &["write"]).await;

    for uri in ["/required", "/optional", "/scoped"] {
        let reply = fx.get(uri, &[&broken]).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(reply.body, detail("Authentication service unavailable."));
        assert!(!reply.body.contains("database is down"));
    }
}

#[actix_web::test]
async fn conflicting_headers_are_refused() {
    let fx = Fixture::new();
    let ada = fx.header("ada", &[]).await;
    let bob = fx.header("bob", &[]).await;
    let conflict = AuthError::ConflictingHeaders;
    fx.refused("/optional", &[&ada, &bob], &conflict).await;
    fx.ok("/required", &[&ada, &ada], "ada").await;
}

#[actix_web::test]
async fn a_missing_middleware_is_a_generic_500() {
    let fx = Fixture::new();
    let app = test::init_service(App::new().configure(routes)).await;
    let header = fx.header("ada", &["write"]).await;
    let expected = Rejection::missing_authenticator::<String>("test").response();

    for uri in ["/required", "/optional", "/scoped", "/swallowed"] {
        let reply = send(&app, get(uri, &[&header]).to_request()).await;
        if uri == "/swallowed" {
            // actix-web's Option<T> hides even this.
            assert_eq!(reply.body, "anonymous");
            continue;
        }
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert_eq!(
            reply.body.as_bytes(),
            expected.body,
            "the core's body, naming nothing"
        );
        assert_eq!(reply.content_type.as_deref(), Some("application/json"));
        assert_eq!(reply.challenge, None);
    }

    // A middleware for another user type is no middleware for this one.
    let app = test::init_service(
        App::new()
            .wrap(AuthMiddleware::new(
                Authenticator::builder(MemoryStore::new(), UserIdLoader)
                    .build()
                    .expect("valid"),
            ))
            .route(
                "/other",
                web::get().to(|_: Authenticated<u64>| async { "unreachable" }),
            ),
    )
    .await;
    let reply = send(&app, get("/other", &[]).to_request()).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
}

/// `AuthRejection` is the core's `Rejection`: callers match on the core's enum and
/// use its accessors; the response is the core's, copied.
#[test]
fn rejections_are_the_cores() {
    let core = Rejection::new(AuthError::TokenExpired, Challenge::keyword("Token"));
    let rejection = AuthRejection::from(core.clone());
    assert!(matches!(
        &*rejection,
        Rejection::Auth {
            error: AuthError::TokenExpired,
            ..
        }
    ));
    assert_eq!(rejection.error(), Some(&AuthError::TokenExpired));
    assert_eq!(rejection.status(), 401);
    assert_eq!(rejection.status_code(), StatusCode::UNAUTHORIZED);
    assert_eq!(rejection.www_authenticate().as_deref(), Some("Token"));
    assert_eq!(rejection.to_string(), "Token has expired.");
    assert!(std::error::Error::source(&rejection).is_some());
    assert_eq!(rejection.into_inner(), core);

    let missing = AuthRejection::from(Rejection::missing_authenticator::<String>("test"));
    assert!(matches!(&*missing, Rejection::MissingAuthenticator { .. }));
    assert_eq!(missing.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(std::error::Error::source(&missing).is_none());
}

/// Every header of the response is the core's: status, `WWW-Authenticate`,
/// `Retry-After`, the JSON content type and the body.
#[actix_web::test]
async fn a_rejection_response_is_the_cores_copied() {
    let throttled = Rejection::new(
        AuthError::Throttled { retry_after: 7 },
        Challenge::bearer("api"),
    );
    for rejection in [
        throttled,
        Rejection::new(AuthError::InvalidToken, Challenge::bearer("api")),
        Rejection::new(AuthError::NotProvided, Challenge::keyword("Token")),
        Rejection::missing_authenticator::<String>("test"),
    ] {
        let expected = rejection.response();
        let response = AuthRejection::from(rejection).error_response();
        let header = |name: &str| response.headers().get(name).map(|v| v.as_bytes().to_vec());
        assert_eq!(response.status().as_u16(), expected.status);
        assert_eq!(
            header("www-authenticate"),
            expected.www_authenticate.as_ref().map(|v| v.to_vec())
        );
        assert_eq!(
            header("retry-after"),
            expected.retry_after.map(|s| s.to_string().into_bytes())
        );
        assert_eq!(
            header("content-type").as_deref(),
            Some(b"application/json".as_slice())
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("a body");
        assert_eq!(body, expected.body);
    }
}

/// With the invalid-token limiter on, a client is the connection's peer: a forged
/// `X-Real-IP` or `X-Forwarded-For` changes nothing, unless the application says its
/// proxy sets that header.
#[actix_web::test]
async fn the_limiter_counts_the_peer_unless_a_client_ip_header_is_trusted() {
    let peer: SocketAddr = "198.51.100.7:40000".parse().expect("an address");
    let limit = InvalidTokenLimit::new(1, Duration::from_secs(60));
    let app = |limit: InvalidTokenLimit| {
        let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
            .invalid_token_limiter(Some(limit))
            .build()
            .expect("valid");
        test::init_service(
            App::new()
                .wrap(AuthMiddleware::new(auth))
                .route("/optional", web::get().to(optional)),
        )
    };
    let bad = |header: &str, address: &str| {
        get("/optional", &["Token atk_nope"])
            .peer_addr(peer)
            .insert_header((header, address))
            .to_request()
    };

    // No header trusted: one client, whatever it claims.
    let peer_only = app(limit).await;
    let reply = send(&peer_only, bad("X-Real-IP", "203.0.113.1")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    for (header, address) in [
        ("X-Real-IP", "203.0.113.2"),
        ("X-Forwarded-For", "203.0.113.3"),
    ] {
        let reply = send(&peer_only, bad(header, address)).await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{header}: {address}"
        );
    }

    // X-Real-IP trusted: each address it names is a client of its own...
    let behind_proxy = app(limit.trusted_client_ip_header("X-Real-IP")).await;
    for address in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let reply = send(&behind_proxy, bad("X-Real-IP", address)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{address}");
    }
    let reply = send(&behind_proxy, bad("X-Real-IP", "203.0.113.1")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    // ...and another header is not: without X-Real-IP the peer is the client.
    let reply = send(&behind_proxy, bad("X-Forwarded-For", "203.0.113.4")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = send(&behind_proxy, bad("X-Forwarded-For", "203.0.113.5")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}
