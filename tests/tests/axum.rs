//! The adapter cases against authtoken-axum, in-process through
//! `tower::ServiceExt::oneshot`: once with the extractors alone (the authenticator in
//! the router's state), once behind an `AuthLayer` as well.

use authtoken::Authenticator;
use authtoken_axum::{
    AuthLayer, AuthRejection, Authenticated, MaybeAuthenticated, RequireScope, ScopeName,
};
use authtoken_behaviour::adapter::{Harness, TestRequest, TestResponse, TestUser, WRITE_SCOPE};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, Request};
use axum::routing::get;
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Write;

impl ScopeName for Write {
    const NAME: &'static str = WRITE_SCOPE;
}

async fn required(user: Authenticated<TestUser>) -> String {
    user.user().id.clone()
}

async fn optional(user: MaybeAuthenticated<TestUser>) -> String {
    user.0.map_or_else(
        || "anonymous".to_owned(),
        |identity| identity.user().id.clone(),
    )
}

async fn scoped(user: RequireScope<Write, TestUser>) -> String {
    user.user().id.clone()
}

async fn checked(user: Authenticated<TestUser>) -> Result<String, AuthRejection> {
    user.require_scope(WRITE_SCOPE)?;
    Ok(user.user().id.clone())
}

async fn twice(first: Authenticated<TestUser>, second: MaybeAuthenticated<TestUser>) -> String {
    let second = second.0.expect("the required extractor passed");
    assert_eq!(first.user(), second.user(), "two extractors disagree");
    first.user().id.clone()
}

/// The routes, with an `AuthLayer` around them when `LAYER` is true.
struct AxumHarness<const LAYER: bool> {
    router: Router,
}

impl<const LAYER: bool> Harness for AxumHarness<LAYER> {
    const NAME: &'static str = if LAYER { "axum (layer)" } else { "axum" };
    const NON_UTF8_HEADERS: bool = true;

    async fn build(authenticator: Authenticator<TestUser>) -> Self {
        let mut router = Router::new()
            .route("/required", get(required))
            .route("/optional", get(optional))
            .route("/scoped", get(scoped))
            .route("/checked", get(checked))
            .route("/twice", get(twice));
        if LAYER {
            router = router.layer(AuthLayer::new(authenticator.clone()));
        }
        let router = router.with_state(authenticator);
        Self { router }
    }

    async fn send(&self, request: TestRequest) -> TestResponse {
        let mut builder = Request::builder().method("GET").uri(&request.path);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
            let value = HeaderValue::from_bytes(value).expect("a valid header value");
            builder = builder.header(name, value);
        }
        if let Some(client) = request.client {
            builder = builder.extension(ConnectInfo(client));
        }
        let request = builder.body(Body::empty()).expect("a valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("routers are infallible");
        read_response(response).await
    }
}

/// What came back, as the cases read it.
async fn read_response(response: axum::response::Response) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers();
    let www_authenticate = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("an ASCII challenge").to_owned())
        .collect();
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().expect("an ASCII content type").to_owned());
    let retry_after = headers
        .get(RETRY_AFTER)
        .map(|v| v.to_str().expect("an ASCII Retry-After").to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    TestResponse {
        status,
        www_authenticate,
        content_type,
        retry_after,
        body: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    }
}

authtoken_behaviour::adapter_cases!(axum_adapter, AxumHarness<false>);
authtoken_behaviour::adapter_cases!(axum_layer_adapter, AxumHarness<true>);

/// The whole suite once more, with every log line of the process captured at TRACE
/// level: not one holds a token.
#[tokio::test]
async fn no_token_in_any_log_line() {
    let logs = authtoken_behaviour::logs::capture();
    authtoken_behaviour::adapter_cases!(@run_all AxumHarness<false>).await;
    authtoken_behaviour::adapter_cases!(@run_all AxumHarness<true>).await;
    logs.assert_no_token(
        &authtoken_behaviour::adapter::issued_tokens(),
        &authtoken::TokenPrefix::default(),
    );
}

/// With the invalid-token limiter on, a router served without
/// `into_make_service_with_connect_info` cannot tell clients apart: the core says so
/// in one warning (not one a request), and says nothing once the peer is known.
#[tokio::test]
async fn the_limiter_without_a_peer_address_warns_once() {
    use tracing::Instrument;

    let logs = authtoken_behaviour::logs::capture();
    let app = |limit: bool| {
        let mut builder =
            Authenticator::builder(authtoken::MemoryStore::new(), authtoken::UserIdLoader);
        if limit {
            builder = builder.invalid_token_limit(3, std::time::Duration::from_secs(60));
        }
        let auth = builder.build().expect("valid settings");
        Router::new()
            .route("/", get(|_: Option<Authenticated<String>>| async { "ok" }))
            .with_state(auth)
    };
    let send = |app: Router, peer: bool| async move {
        let mut request = Request::builder()
            .uri("/")
            .header("authorization", "Token atk_typo");
        if peer {
            request =
                request.extension(ConnectInfo(std::net::SocketAddr::from(([192, 0, 2, 1], 1))));
        }
        let request = request.body(Body::empty()).expect("a valid request");
        let response = app.oneshot(request).await.expect("routers are infallible");
        assert_eq!(response.status(), 401);
    };
    // Each case runs in a span of its own, which the captured lines name.
    for (span, limit, peer, warnings) in [
        ("no_peer_limited", true, false, 1),
        ("peer_limited", true, true, 0),
        ("no_peer_unlimited", false, false, 0),
    ] {
        let app = app(limit);
        async {
            for _ in 0..3 {
                send(app.clone(), peer).await;
            }
        }
        .instrument(tracing::info_span!("limiter_warning", case = span))
        .await;
        let text = logs.text();
        let lines = text.lines().filter(|line| {
            line.contains(&format!("case=\"{span}\""))
                && line.contains("WARN")
                && line.contains("cannot tell clients apart")
        });
        assert_eq!(lines.count(), warnings, "{span}: {text}");
    }
}

/// The token endpoints, mounted with `token_routes` under `/api`.
struct AxumEndpoints {
    router: Router,
}

impl authtoken_behaviour::endpoints::EndpointsHarness for AxumEndpoints {
    const NAME: &'static str = "axum";

    async fn build(endpoints: authtoken::endpoints::TokenEndpoints<TestUser>) -> Self {
        let router = Router::new().nest("/api", authtoken_axum::token_routes(endpoints));
        Self { router }
    }

    async fn send(&self, request: authtoken_behaviour::endpoints::EndpointRequest) -> TestResponse {
        let mut builder = Request::builder().method(request.method).uri(&request.path);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(client) = request.client {
            builder = builder.extension(ConnectInfo(client));
        }
        let request = builder
            .body(Body::from(request.body))
            .expect("a valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("routers are infallible");
        read_response(response).await
    }
}

authtoken_behaviour::endpoint_cases!(axum_endpoints, AxumEndpoints);
