#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod bench;

use std::future::Future;
use std::time::Instant;

use authtoken_axum::Authenticated;
use authtoken_axum::authtoken::Authenticator;
use authtoken_axum::authtoken::endpoints::TokenBody;
use authtoken_demo::{Demo, DemoError, DemoUser, page};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

/// The demo API of the authtoken design, on axum:
///
/// | route | answers |
/// | --- | --- |
/// | `GET /api/health` | 200 `{"status":"ok"}`, whatever `Authorization` header is sent |
/// | `GET /tokens`, `GET /tokens/{name}` | the token management page ([`authtoken_demo::page`]) |
/// | `POST /api/register` | 201 `{"token"}` |
/// | `GET /api/me` | 200 `{"username"}` |
/// | `DELETE /api/me` | 204 |
/// | `POST /api/token`, `POST /api/logout`, `POST /api/logout-all`, `GET`/`POST /api/tokens`, `DELETE /api/tokens/{id}` | the library's token endpoints ([`authtoken_axum::token_routes`]) |
///
/// The handlers of `/api/me` take [`Authenticated`], which finds the authenticator
/// in the router's state. Every error, 404 and 405 included, has a JSON body.
///
/// With [`Demo::serves_baseline`] (the benchmarks' switch) it also serves
/// [`authtoken_demo::BASELINE_PATH`] and [`authtoken_demo::BENCH_ME_PATH`].
pub fn app(demo: Demo) -> Router {
    let state = AppState {
        auth: demo.authenticator().clone(),
        demo,
    };
    let mut router = Router::new()
        .route("/api/me", get(me).delete(delete_account))
        .route("/api/health", get(health))
        .route("/api/register", post(register))
        .route(page::PATH, get(|| async { page_file(page::PAGE) }))
        .route(
            "/tokens/{name}",
            get(|Path(name): Path<String>| async move {
                page::file(&name).map(page_file).ok_or(ApiError::NotFound)
            }),
        )
        .nest(
            "/api",
            authtoken_axum::token_routes(state.demo.endpoints().clone()),
        );
    if state.demo.serves_baseline() {
        router = router.merge(bench::routes());
    }
    router
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound })
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

/// A file of the token management page, with its headers.
fn page_file(file: page::PageFile) -> impl IntoResponse {
    (file.headers(), file.body)
}

/// `POST /api/register`'s body: a JSON object.
#[derive(Deserialize)]
struct Registration {
    username: String,
    password: String,
    /// Other members, ignored. Flattening makes serde read the body as an object
    /// only: `["name", "password"]` is refused, as DRF refuses it.
    #[serde(flatten)]
    _others: serde::de::IgnoredAny,
}

/// `GET /api/me`'s body.
#[derive(Serialize)]
struct Me<'a> {
    username: &'a str,
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn register(
    State(demo): State<Demo>,
    ApiJson(form): ApiJson<Registration>,
) -> Result<(StatusCode, Json<TokenBody>), ApiError> {
    let token = demo.register(&form.username, &form.password).await?;
    Ok((StatusCode::CREATED, Json(token)))
}

async fn me(user: Authenticated<DemoUser>) -> Response {
    me_response(user.user())
}

/// `GET /api/me`'s answer for `user` (also the benchmarks' fixed user's).
fn me_response(user: &DemoUser) -> Response {
    Json(Me {
        username: user.username(),
    })
    .into_response()
}

async fn delete_account(
    State(demo): State<Demo>,
    user: Authenticated<DemoUser>,
) -> Result<StatusCode, ApiError> {
    demo.delete_account(&user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// axum's `Json`, rejecting with [`ApiError`] (a JSON body) instead of plain text.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
struct ApiJson<T>(T);

/// Every error this application answers, as JSON.
enum ApiError {
    Demo(DemoError),
    Body(JsonRejection),
    Unauthorized,
    NotFound,
    MethodNotAllowed,
}

impl From<DemoError> for ApiError {
    fn from(error: DemoError) -> Self {
        Self::Demo(error)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::Body(rejection)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = |status: StatusCode, text: &str| {
            (status, Json(json!({ "detail": text }))).into_response()
        };
        match self {
            Self::Demo(error) => {
                let status = StatusCode::from_u16(error.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = (status, Json(error.body())).into_response();
                if let Some(seconds) = error.retry_after() {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            // A body that is JSON but not the expected shape is a 400, as DRF answers it.
            Self::Body(rejection) => match rejection.status() {
                StatusCode::UNPROCESSABLE_ENTITY => {
                    detail(StatusCode::BAD_REQUEST, &rejection.body_text())
                }
                status => detail(status, &rejection.body_text()),
            },
            Self::Unauthorized => detail(StatusCode::UNAUTHORIZED, "Invalid token."),
            Self::NotFound => detail(StatusCode::NOT_FOUND, "Not found."),
            Self::MethodNotAllowed => detail(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
        }
    }
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
