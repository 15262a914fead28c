#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod bench;

use std::net::SocketAddr;
use std::time::Instant;
use std::{fmt, io};

use authtoken_demo::{Demo, DemoError, DemoUser, page};
use authtoken_rocket::authtoken::endpoints::TokenBody;
use authtoken_rocket::{AuthFairing, AuthRejection, Authenticated};
use rocket::config::LogLevel;
use rocket::data::{Limits, ToByteUnit};
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::{self, Json, Value, json};
use rocket::serde::{Deserialize, Serialize};
use rocket::{Build, Config, Rocket, Shutdown, State, catch, catchers, delete, get, post, routes};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The example's Rocket settings for `address`: that address and port (0 picks a free
/// one), JSON bodies of at most 16 KiB, no colours, and Rocket's own logger off.
/// Rocket then logs through whatever `log` logger the application installed (the
/// binary installs `tracing-subscriber`, which receives `log` records too), and not
/// at all otherwise.
pub fn config(address: SocketAddr) -> Config {
    Config {
        address: address.ip(),
        port: address.port(),
        limits: Limits::default().limit("json", 16.kibibytes()),
        log_level: LogLevel::Off,
        cli_colors: false,
        ..Config::release_default()
    }
}

/// The demo API of the authtoken design, on Rocket, with `config`:
///
/// | route | answers |
/// | --- | --- |
/// | `GET /api/health` | 200 `{"status": "ok"}`, whatever `Authorization` header is sent |
/// | `GET /tokens`, `GET /tokens/<name>` | the token management page ([`authtoken_demo::page`]) |
/// | `POST /api/register` | 201 `{"token"}` |
/// | `GET /api/me` | 200 `{"username"}` |
/// | `DELETE /api/me` | 204 |
/// | `POST /api/token` | 200 `{"token", ...}` (JSON or form) |
/// | `POST /api/logout` | 204 |
/// | `POST /api/logout-all` | 204 |
/// | `GET /api/tokens` | 200, the caller's tokens |
/// | `POST /api/tokens` | 201, a new personal token |
/// | `DELETE /api/tokens/<id>` | 204 |
///
/// The token endpoints (the last six) are the library's:
/// [`authtoken_rocket::token_routes`] over [`Demo::endpoints`], which answer their
/// own errors in JSON. Every other error is JSON too: the routes' own, and the
/// catchers' (404 for an unknown path or another method).
///
/// With [`Demo::serves_baseline`] (the benchmarks' switch) it also serves
/// [`authtoken_demo::BASELINE_PATH`] and [`authtoken_demo::BENCH_ME_PATH`].
pub fn app(demo: Demo, config: Config) -> Rocket<Build> {
    let mut rocket = rocket::custom(config)
        .attach(AuthFairing::new(demo.authenticator().clone()))
        .manage(demo.endpoints().clone())
        .mount(
            "/",
            routes![health, register, me, delete_me, token_page, token_page_file],
        )
        .mount("/api", authtoken_rocket::token_routes(demo.endpoints()))
        .register("/", catchers![not_found, other_errors])
        .attach(AdHoc::on_request("request start", |request, _| {
            Box::pin(async move {
                request.local_cache(|| Started(Instant::now()));
            })
        }))
        .attach(AdHoc::on_response("request log", |request, response| {
            Box::pin(async move { log_request(request, response) })
        }));
    if demo.serves_baseline() {
        rocket = rocket.mount("/", routes![bench::baseline, bench::me]);
    }
    rocket.manage(demo)
}

#[get("/api/health")]
fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[get("/tokens")]
fn token_page() -> PageFile {
    PageFile(page::PAGE)
}

#[get("/tokens/<name>")]
fn token_page_file(name: &str) -> Option<PageFile> {
    page::file(name).map(PageFile)
}

/// A file of the token management page, with its headers.
struct PageFile(page::PageFile);

impl<'r> Responder<'r, 'static> for PageFile {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        for (name, value) in self.0.headers() {
            response.raw_header(name, value);
        }
        response.sized_body(self.0.body.len(), io::Cursor::new(self.0.body));
        response.ok()
    }
}

/// `POST /api/register`'s body: a JSON object.
#[derive(Deserialize)]
#[serde(crate = "rocket::serde")]
struct Registration {
    username: String,
    password: String,
    /// Other members, ignored. Flattening makes serde read the body as an object
    /// only: `["name", "password"]` is refused, as DRF refuses it.
    #[serde(flatten)]
    _others: rocket::serde::de::IgnoredAny,
}

// A body Rocket's `Json` cannot read is the route's to answer: as a plain data
// guard, `Json` would send it to the catchers, as a 422 when its fields are wrong.
#[post("/api/register", data = "<body>")]
async fn register(
    demo: &State<Demo>,
    body: Result<Json<Registration>, json::Error<'_>>,
) -> Result<(Status, Json<TokenBody>), ApiError> {
    let Json(Registration {
        username, password, ..
    }) = body?;
    let token = demo.register(&username, &password).await?;
    Ok((Status::Created, Json(token)))
}

/// The `Authenticated` guard taken as a `Result`: a refused token is answered by the
/// route (`?`), with the adapter's status, JSON detail and `WWW-Authenticate`,
/// without a trip through Rocket's failed-guard path and the catchers.
type User = Result<Authenticated<DemoUser>, AuthRejection>;

#[get("/api/me")]
fn me(user: User) -> Result<Json<Username>, ApiError> {
    Ok(me_body(user?.user()))
}

#[delete("/api/me")]
async fn delete_me(demo: &State<Demo>, user: User) -> Result<Status, ApiError> {
    let user = user?;
    demo.delete_account(&user).await?;
    Ok(Status::NoContent)
}

/// `{"username"}`.
#[derive(Serialize)]
#[serde(crate = "rocket::serde")]
struct Username {
    username: String,
}

/// What `GET /api/me` answers for `user` (and the benchmark's `GET /api/bench/me`).
fn me_body(user: &DemoUser) -> Json<Username> {
    Json(Username {
        username: user.username().to_owned(),
    })
}

#[catch(404)]
fn not_found() -> ApiError {
    ApiError::detail(Status::NotFound, "Not found.")
}

/// Every other error: a guard's recorded rejection (the adapter's answer, with
/// `WWW-Authenticate`), or `{"detail"}` with Rocket's wording of the status.
#[catch(default)]
fn other_errors(status: Status, request: &Request<'_>) -> ApiError {
    match AuthRejection::recorded(request) {
        Some(rejection) if rejection.status() == status.code => ApiError::Auth(rejection),
        _ => ApiError::detail(status, format!("{}.", status.reason_lossy())),
    }
}

/// Why a request failed; answered with a JSON body.
#[derive(Debug)]
enum ApiError {
    /// A token the authenticator refused.
    Auth(AuthRejection),
    /// The demo's error: its status, body and `Retry-After`.
    Demo(DemoError),
    /// `{"detail"}` with a status.
    Detail(Status, String),
}

impl ApiError {
    fn detail(status: Status, detail: impl Into<String>) -> Self {
        Self::Detail(status, detail.into())
    }
}

impl From<AuthRejection> for ApiError {
    fn from(rejection: AuthRejection) -> Self {
        Self::Auth(rejection)
    }
}

impl From<DemoError> for ApiError {
    fn from(error: DemoError) -> Self {
        Self::Demo(error)
    }
}

impl From<json::Error<'_>> for ApiError {
    /// 413 for a body over the `json` limit (Rocket's `Json` says so with
    /// `UnexpectedEof`), 400 for the rest: not UTF-8, not JSON, the wrong shape.
    fn from(error: json::Error<'_>) -> Self {
        let parse_error = |error: &dyn fmt::Display| {
            Self::detail(Status::BadRequest, format!("JSON parse error - {error}"))
        };
        match error {
            json::Error::Io(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                Self::detail(Status::PayloadTooLarge, "Request body too large.")
            }
            json::Error::Io(error) => parse_error(&error),
            json::Error::Parse(_, error) => parse_error(&error),
        }
    }
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let (status, body, retry_after) = match self {
            Self::Auth(rejection) => return rejection.respond_to(request),
            Self::Demo(error) => (
                Status::new(error.status()),
                error.body(),
                error.retry_after(),
            ),
            Self::Detail(status, detail) => (status, json!({ "detail": detail }), None),
        };
        let mut response = Response::build_from((status, Json(body)).respond_to(request)?);
        if let Some(seconds) = retry_after {
            response.raw_header("Retry-After", seconds.to_string());
        }
        response.ok()
    }
}

/// When a request arrived, in the request-local cache.
struct Started(Instant);

/// One line per request: method, path (never the query, never a header), status and
/// time taken.
fn log_request(request: &Request<'_>, response: &Response<'_>) {
    let started = request.local_cache(|| Started(Instant::now())).0;
    tracing::info!(
        method = %request.method(),
        path = %request.uri().path(),
        status = response.status().code,
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Rocket refused to ignite or launch (a port in use, say): its message.
    #[error("{0}")]
    Rocket(String),
    /// The server task ended before it listened.
    #[error("the server stopped before it listened")]
    Stopped,
}

impl From<rocket::Error> for StartError {
    /// Keeps Rocket's message (reading it also keeps Rocket from panicking when the
    /// error is dropped unread).
    fn from(error: rocket::Error) -> Self {
        Self::Rocket(error.to_string())
    }
}

/// A running server: where it listens, and how to stop it.
#[derive(Debug)]
pub struct Server {
    address: SocketAddr,
    shutdown: Shutdown,
    task: JoinHandle<Result<(), StartError>>,
    demo: Demo,
}

impl Server {
    /// The address it listens on (the port it was given, or the one picked for 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A handle that stops the server: `handle.notify()`.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Waits until the server stops (Ctrl-C, SIGTERM or the shutdown handle), then
    /// closes the demo's database.
    ///
    /// # Errors
    ///
    /// Rocket's error if it failed while serving.
    pub async fn wait(self) -> Result<(), StartError> {
        let served = self.task.await.unwrap_or(Err(StartError::Stopped));
        self.demo.close().await;
        served
    }

    /// Stops the server gracefully, lets requests in flight finish, and closes the
    /// demo's database.
    ///
    /// # Errors
    ///
    /// As [`Server::wait`].
    pub async fn shutdown(self) -> Result<(), StartError> {
        self.shutdown.clone().notify();
        self.wait().await
    }
}

/// Launches [`app`] with `config` and returns once it listens.
///
/// # Errors
///
/// [`StartError`] when Rocket cannot ignite or bind.
pub async fn start(demo: Demo, config: Config) -> Result<Server, StartError> {
    // Rocket tells the port it bound (for port 0) once it has lifted off; the sender
    // goes with the rocket, so a failed launch closes the channel.
    let (listening, mut listened) = mpsc::channel::<SocketAddr>(1);
    let rocket = app(demo.clone(), config)
        .attach(AdHoc::on_liftoff("listening", move |rocket| {
            let address = SocketAddr::new(rocket.config().address, rocket.config().port);
            // The receiver is gone only when `start` was dropped.
            let _ = listening.try_send(address);
            Box::pin(async {})
        }))
        .ignite()
        .await?;
    let shutdown = rocket.shutdown();
    let task =
        tokio::spawn(async move { rocket.launch().await.map(drop).map_err(StartError::from) });
    match listened.recv().await {
        Some(address) => Ok(Server {
            address,
            shutdown,
            task,
            demo,
        }),
        // The liftoff fairing never ran: the launch failed, and the task says why.
        None => match task.await {
            Ok(Err(error)) => Err(error),
            _ => Err(StartError::Stopped),
        },
    }
}
