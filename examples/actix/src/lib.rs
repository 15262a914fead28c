#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod bench;
mod error;

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpResponse, HttpServer, Responder, web};
use authtoken_actix::{AuthMiddleware, Authenticated};
use authtoken_demo::{Demo, DemoUser, page};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::error::{ApiError, json_error};

/// The largest registration body read; a larger one is answered 413.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The demo API of the authtoken design, on actix-web:
///
/// | route | answers |
/// | --- | --- |
/// | `GET /api/health` | 200 `{"status":"ok"}`, whatever `Authorization` header is sent |
/// | `GET /tokens`, `GET /tokens/{name}` | the token management page ([`authtoken_demo::page`]) |
/// | `POST /api/register` | 201 `{"token"}` |
/// | `GET /api/me` | 200 `{"username"}` |
/// | `DELETE /api/me` | 204 |
/// | `POST /api/token` | 200 `{"token"}` (JSON or form) |
/// | `POST /api/logout`, `POST /api/logout-all` | 204 |
/// | `GET /api/tokens`, `POST /api/tokens` | 200 the caller's tokens, 201 a new one |
/// | `DELETE /api/tokens/{id}` | 204 |
///
/// `/api/me` sits behind the [`AuthMiddleware`] and its handlers take the
/// [`Authenticated`] user; the token endpoints are the library's, mounted under `/api`
/// with [`authtoken_actix::token_endpoints`] ([`Demo::endpoints`]). Every error, a
/// body `web::Json` could not read, a 404 and a 405 included, has a JSON body. With
/// [`Demo::serves_baseline`] (the benchmarks' switch) it also serves
/// [`authtoken_demo::BASELINE_PATH`] and [`authtoken_demo::BENCH_ME_PATH`].
pub fn app(
    demo: Demo,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let auth = AuthMiddleware::new(demo.authenticator().clone());
    let serves_baseline = demo.serves_baseline();
    let endpoints = demo.endpoints().clone();
    let json_config = web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(json_error);
    // actix-web tries resources in the order they are registered, so the routes
    // called most come first: `/api/me` costs one failed match more than
    // `/api/health`.
    App::new()
        .app_data(web::Data::new(demo))
        .wrap(from_fn(log_request))
        .service(resource("/api/health").route(web::get().to(health)))
        .service(
            resource("/api/me")
                .wrap(auth)
                .route(web::get().to(me))
                .route(web::delete().to(delete_account)),
        )
        // Right after `/api/me`: one failed match more than it, as few as can be.
        .configure(|config| {
            if serves_baseline {
                bench::routes(config);
            }
        })
        .service(
            resource("/api/register")
                .app_data(json_config)
                .route(web::post().to(register)),
        )
        .route(
            page::PATH,
            web::get().to(|| async { page_file(page::PAGE) }),
        )
        .route(
            "/tokens/{name}",
            web::get().to(|name: web::Path<String>| async move {
                page::file(&name).map(page_file).ok_or(ApiError::NotFound)
            }),
        )
        // Last: the scope takes every other path under `/api`; an unknown one falls
        // through to the app's JSON 404.
        .service(web::scope("/api").configure(authtoken_actix::token_endpoints(endpoints)))
        .default_service(web::to(not_found))
}

/// A file of the token management page, with its headers.
fn page_file(file: page::PageFile) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    for header in file.headers() {
        response.insert_header(header);
    }
    response.body(file.body)
}

/// A resource whose other methods answer a JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// `POST /api/register`'s body: a JSON object `{"username", "password"}`. No `Debug`,
/// so the password cannot end up in a log.
#[derive(Deserialize)]
struct Registration {
    username: String,
    password: String,
    /// Any other field, ignored. Flattening one also makes serde read the body as a
    /// JSON object only: without it `["ada", "pw"]` would register ada.
    #[serde(flatten)]
    _other: serde::de::IgnoredAny,
}

async fn health() -> impl Responder {
    web::Json(json!({ "status": "ok" }))
}

async fn register(
    demo: web::Data<Demo>,
    body: web::Json<Registration>,
) -> Result<HttpResponse, ApiError> {
    let token = demo.register(&body.username, &body.password).await?;
    Ok(HttpResponse::Created().json(token))
}

async fn me(user: Authenticated<DemoUser>) -> impl Responder {
    profile(user.user())
}

/// `GET /api/me`'s answer for `user`; the benchmark's `BENCH_ME_PATH` answers with it too.
fn profile(user: &DemoUser) -> web::Json<Value> {
    web::Json(json!({ "username": user.username() }))
}

async fn delete_account(
    demo: web::Data<Demo>,
    user: Authenticated<DemoUser>,
) -> Result<HttpResponse, ApiError> {
    demo.delete_account(&user).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// One line per request: method, path (never the query, never a header), status and
/// time taken.
async fn log_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let (method, path) = (request.method().clone(), request.path().to_owned());
    let started = Instant::now();
    let response = next.call(request).await;
    let status = response.as_ref().map_or_else(
        |error| error.as_response_error().status_code(),
        ServiceResponse::status,
    );
    tracing::info!(
        %method,
        %path,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// Serves [`app`] on `listener` with actix-web's workers; the server runs on the
/// current tokio runtime until [`Running::stop`]. It does not listen for signals:
/// the caller decides when to stop.
///
/// # Errors
///
/// The listener's I/O error.
///
/// # Panics
///
/// When called outside a tokio runtime.
pub fn start(listener: std::net::TcpListener, demo: Demo) -> io::Result<Running> {
    let address = listener.local_addr()?;
    let factory = demo.clone();
    let server = HttpServer::new(move || app(factory.clone()))
        .disable_signals()
        .listen(listener)?
        .run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    Ok(Running {
        address,
        handle,
        server,
        demo,
    })
}

/// A running demo server: stop it with [`Running::stop`].
#[derive(Debug)]
pub struct Running {
    address: SocketAddr,
    handle: ServerHandle,
    server: JoinHandle<io::Result<()>>,
    demo: Demo,
}

impl Running {
    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections, lets requests in flight finish, then closes the
    /// demo's database.
    ///
    /// # Errors
    ///
    /// The server's I/O error, if it failed while running.
    pub async fn stop(self) -> io::Result<()> {
        self.handle.stop(true).await;
        let served = self
            .server
            .await
            .unwrap_or_else(|error| Err(io::Error::other(error)));
        self.demo.close().await;
        served
    }
}
