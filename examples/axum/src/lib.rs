#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use std::future::Future;
use std::time::Instant;

use authtoken_axum::Authenticated;
use authtoken_axum::authtoken::Authenticator;
use authtoken_demo::{Demo, DemoError, DemoUser, MAX_BODY_BYTES, Reply};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::LengthLimitError;
use tokio::net::TcpListener;

/// The demo API of the authtoken design, on axum:
///
/// | route | answers |
/// | --- | --- |
/// | `GET /api/health` | 200, whatever `Authorization` header is sent |
/// | `POST /api/register` | 201 `{"token"}` |
/// | `GET /api/me` | 200 `{"username"}` |
/// | `DELETE /api/me` | 204 |
/// | `POST /api/token`, `POST /api/logout`, `POST /api/logout-all`, `GET`/`POST /api/tokens`, `DELETE /api/tokens/{id}` | the library's token endpoints ([`authtoken_axum::token_routes`]) |
///
/// The handlers of `/api/me` take [`Authenticated`], which finds the authenticator
/// in the router's state. Every error, 404 and 405 included, has a JSON body.
///
/// With [`Demo::serves_baseline`] (the benchmarks' switch) it also serves
/// [`authtoken_demo::BASELINE_PATH`] and [`authtoken_demo::BENCH_ME_PATH`] (`GET
/// /api/me` for a fixed user, without authentication).
pub fn app(demo: Demo) -> Router {
    let state = AppState {
        auth: demo.authenticator().clone(),
        demo,
    };
    let token_routes = authtoken_axum::token_routes(state.demo.endpoints().clone());
    let mut router = Router::new()
        .nest("/api", token_routes)
        .route("/api/me", get(me).delete(delete_account));
    if state.demo.serves_baseline() {
        router = router
            .route(authtoken_demo::BASELINE_PATH, get(baseline))
            .route(authtoken_demo::BENCH_ME_PATH, get(bench_me));
    }
    router
        .route("/api/health", get(health))
        .route("/api/register", post(register))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// What the handlers share: the demo, and the authenticator the extractors use.
#[derive(Clone, FromRef)]
struct AppState {
    demo: Demo,
    auth: Authenticator<DemoUser>,
}

/// Serves [`app`] on `listener` until `shutdown` completes, lets requests in flight
/// finish, then closes the demo's database.
///
/// # Errors
///
/// The listener's I/O error.
pub async fn serve<F>(listener: TcpListener, demo: Demo, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    // The peer address reaches the extractors as `ConnectInfo`, for the invalid-token
    // limiter.
    let app = app(demo.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    demo.close().await;
    served
}

/// Copies the demo's answer into a response.
fn respond(reply: Reply) -> Response {
    let headers = reply.headers().to_vec();
    let (status, body) = reply.into_parts();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match body {
        Some(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(authtoken_demo::CONTENT_TYPE),
            )],
            body,
        )
            .into_response(),
        None => status.into_response(),
    };
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::try_from(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn respond_result(result: Result<Reply, DemoError>) -> Response {
    respond(result.unwrap_or_else(Reply::from))
}

fn content_type(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes)
}

/// The body as bytes, at most [`MAX_BODY_BYTES`] of them.
async fn read_body(body: Body) -> Result<axum::body::Bytes, DemoError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(error) = source {
                if error.is::<LengthLimitError>() {
                    return DemoError::PayloadTooLarge;
                }
                source = error.source();
            }
            DemoError::MalformedBody("the request body could not be read".to_owned())
        })
}

async fn health(State(demo): State<Demo>) -> Response {
    respond(demo.health())
}

async fn baseline(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    respond(demo.baseline(authorization).await)
}

/// As [`me`] for a fixed user, without authentication (benchmark only).
async fn bench_me(State(demo): State<Demo>) -> Response {
    respond(demo.bench_me().await)
}

async fn register(State(demo): State<Demo>, headers: HeaderMap, body: Body) -> Response {
    match read_body(body).await {
        Ok(body) => respond_result(demo.register(content_type(&headers), &body).await),
        Err(error) => respond(error.into()),
    }
}

async fn me(State(demo): State<Demo>, user: Authenticated<DemoUser>) -> Response {
    respond(demo.me(&user))
}

async fn delete_account(State(demo): State<Demo>, user: Authenticated<DemoUser>) -> Response {
    respond_result(demo.delete_account(&user).await)
}

async fn not_found() -> Response {
    respond(DemoError::NotFound.into())
}

async fn method_not_allowed() -> Response {
    respond(DemoError::MethodNotAllowed.into())
}

/// One line per request: method, path (never the query, never a header), status and
/// time taken.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        elapsed = ?started.elapsed(),
        "request"
    );
    response
}
