#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpRequest, HttpResponse, HttpServer, web};
use authtoken_actix::{AuthMiddleware, Authenticated};
use authtoken_demo::{Demo, DemoError, DemoUser, MAX_BODY_BYTES, Reply};
use tokio::task::JoinHandle;

/// The demo API of the authtoken design, on actix-web:
///
/// | route | answers |
/// | --- | --- |
/// | `GET /api/health` | 200, whatever `Authorization` header is sent |
/// | `POST /api/register` | 201 `{"token"}` |
/// | `GET /api/me` | 200 `{"username"}` |
/// | `DELETE /api/me` | 204 |
/// | `POST /api/token` | 200 `{"token"}` (JSON or form) |
/// | `POST /api/logout`, `POST /api/logout-all` | 204 |
/// | `GET /api/tokens`, `POST /api/tokens` | 200 the caller's tokens, 201 a new one |
/// | `DELETE /api/tokens/{id}` | 204 |
///
/// `/api/me` sits behind the [`AuthMiddleware`]; the token endpoints are the
/// library's, mounted under `/api` with [`authtoken_actix::token_endpoints`]
/// ([`Demo::endpoints`]). Every error, 404 and 405 included, has a JSON body. With [`Demo::serves_baseline`] (the benchmarks'
/// switch) it also serves [`authtoken_demo::BASELINE_PATH`] and
/// [`authtoken_demo::BENCH_ME_PATH`] (`GET /api/me` for a fixed user, without the
/// [`AuthMiddleware`]). Registration's body is read as raw bytes and parsed by the
/// demo crate, the token endpoints' by actix-web's extractors; either way a
/// malformed body is a JSON 400, never actix-web's text.
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
        .configure(|config| {
            if serves_baseline {
                // Right after `/api/me`: one failed match more than it, as few as can be.
                config
                    .service(resource(authtoken_demo::BENCH_ME_PATH).route(web::get().to(bench_me)))
                    .service(
                        resource(authtoken_demo::BASELINE_PATH).route(web::get().to(baseline)),
                    );
            }
        })
        .service(resource("/api/register").route(web::post().to(register)))
        // Last: the scope takes every other path under `/api`; an unknown one falls
        // through to the app's JSON 404.
        .service(web::scope("/api").configure(authtoken_actix::token_endpoints(endpoints)))
        .default_service(web::to(not_found))
}

/// A resource whose other methods answer the demo's JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// A running demo server: stop it with [`Running::stop`].
pub struct Running {
    address: SocketAddr,
    handle: ServerHandle,
    server: JoinHandle<io::Result<()>>,
    demo: Demo,
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
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
        let served = match self.server.await {
            Ok(served) => served,
            Err(error) => Err(io::Error::other(error)),
        };
        self.demo.close().await;
        served
    }
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

/// Copies the demo's answer into a response.
fn respond(reply: Reply) -> HttpResponse {
    let headers = reply.headers().to_vec();
    let (status, body) = reply.into_parts();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for header in headers {
        response.insert_header(header);
    }
    match body {
        Some(body) => response
            .insert_header((
                CONTENT_TYPE,
                HeaderValue::from_static(authtoken_demo::CONTENT_TYPE),
            ))
            .body(body),
        None => response.finish(),
    }
}

fn respond_result(result: Result<Reply, DemoError>) -> HttpResponse {
    respond(result.unwrap_or_else(Reply::from))
}

fn content_type(request: &HttpRequest) -> Option<&[u8]> {
    request
        .headers()
        .get(CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
}

/// The body as bytes, at most [`MAX_BODY_BYTES`] of them.
async fn read_body(body: web::Payload) -> Result<web::Bytes, DemoError> {
    match body.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(DemoError::MalformedBody(
            "the request body could not be read".to_owned(),
        )),
        Err(_) => Err(DemoError::PayloadTooLarge),
    }
}

async fn health(demo: web::Data<Demo>) -> HttpResponse {
    respond(demo.health())
}

async fn baseline(demo: web::Data<Demo>, request: HttpRequest) -> HttpResponse {
    let authorization = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    respond(demo.baseline(authorization).await)
}

/// As [`me`] for a fixed user, without authentication (benchmark only).
async fn bench_me(demo: web::Data<Demo>) -> HttpResponse {
    respond(demo.bench_me().await)
}

async fn register(demo: web::Data<Demo>, request: HttpRequest, body: web::Payload) -> HttpResponse {
    match read_body(body).await {
        Ok(body) => respond_result(demo.register(content_type(&request), &body).await),
        Err(error) => respond(error.into()),
    }
}

async fn me(demo: web::Data<Demo>, user: Authenticated<DemoUser>) -> HttpResponse {
    respond(demo.me(&user))
}

async fn delete_account(demo: web::Data<Demo>, user: Authenticated<DemoUser>) -> HttpResponse {
    respond_result(demo.delete_account(&user).await)
}

async fn not_found() -> HttpResponse {
    respond(DemoError::NotFound.into())
}

async fn method_not_allowed() -> HttpResponse {
    respond(DemoError::MethodNotAllowed.into())
}

/// One line per request: method, path (never the query, never a header), status and
/// time taken.
async fn log_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let method = request.method().clone();
    let path = request.path().to_owned();
    let started = Instant::now();
    let response = next.call(request).await;
    let status = match &response {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    tracing::info!(
        %method,
        %path,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}
