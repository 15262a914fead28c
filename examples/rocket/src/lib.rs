#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use std::io::Cursor;
use std::net::SocketAddr;
use std::time::Instant;

use authtoken_demo::{Demo, DemoError, DemoUser, MAX_BODY_BYTES, Reply};
use authtoken_rocket::{AuthFairing, AuthRejection, Authenticated};
use rocket::config::LogLevel;
use rocket::data::{ByteUnit, Data};
use rocket::fairing::{AdHoc, Fairing, Info, Kind};
use rocket::http::{Header, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, Responder, Response};
use rocket::{Build, Config, Rocket, Shutdown, State, catch, catchers, delete, get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The paths of the demo API, to tell a wrong method (405) from an unknown path (404);
/// `/api/tokens/<id>` is told by its prefix, [`TOKEN_PATH_PREFIX`].
const PATHS: [&str; 7] = [
    "/api/health",
    "/api/register",
    "/api/token",
    "/api/me",
    "/api/logout",
    "/api/logout-all",
    "/api/tokens",
];

/// The prefix of `DELETE /api/tokens/<id>`: a path under it with one more non-empty
/// segment is that route's.
const TOKEN_PATH_PREFIX: &str = "/api/tokens/";

/// Whether `path` is one of the demo API's, whatever the method.
fn known_path(path: &str) -> bool {
    PATHS.contains(&path)
        || path
            .strip_prefix(TOKEN_PATH_PREFIX)
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// The example's Rocket settings for `address`: that address and port (0 picks a free
/// one), no colours, and Rocket's own logger off. Rocket then logs through whatever
/// `log` logger the application installed (the binary installs `tracing-subscriber`,
/// which receives `log` records too), and not at all otherwise.
pub fn config(address: SocketAddr) -> Config {
    Config {
        address: address.ip(),
        port: address.port(),
        log_level: LogLevel::Off,
        cli_colors: false,
        ..Config::release_default()
    }
}

/// The demo API of the authtoken design, on Rocket, with `config`:
///
/// | route | answers |
/// | --- | --- |
/// | `GET /api/health` | 200, whatever `Authorization` header is sent |
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
/// own errors in JSON. `GET /api/me` and `DELETE /api/me` take the `Authenticated`
/// guard (as a `Result`, answering a refused request themselves); every other
/// error, 404 and 405 included, has a JSON body from the catcher.
///
/// With [`Demo::serves_baseline`] (the load benchmark's switch) it also serves
/// [`authtoken_demo::BASELINE_PATH`].
pub fn app(demo: Demo, config: Config) -> Rocket<Build> {
    let auth = AuthFairing::new(demo.authenticator().clone());
    let mut rocket = rocket::custom(config);
    if demo.serves_baseline() {
        rocket = rocket.mount("/", rocket::routes![baseline]);
    }
    rocket
        .mount("/", rocket::routes![health, register, me, delete_account])
        .mount("/api", authtoken_rocket::token_routes::<DemoUser>())
        .register("/", catchers![errors])
        .manage(demo.endpoints().clone())
        .manage(demo)
        .attach(auth)
        .attach(RequestLog)
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
        let served = match self.task.await {
            Ok(served) => served,
            Err(_) => Err(StartError::Stopped),
        };
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
    let (listening, listened) = oneshot::channel::<SocketAddr>();
    let listening = std::sync::Mutex::new(Some(listening));
    let rocket = app(demo.clone(), config)
        .attach(AdHoc::on_liftoff("listening", move |rocket| {
            Box::pin(async move {
                let address = SocketAddr::new(rocket.config().address, rocket.config().port);
                let sender = listening.lock().ok().and_then(|mut sender| sender.take());
                if let Some(sender) = sender {
                    // The receiver is gone only when `start` was dropped.
                    let _ = sender.send(address);
                }
            })
        }))
        .ignite()
        .await
        .map_err(StartError::from)?;
    let shutdown = rocket.shutdown();
    let task =
        tokio::spawn(async move { rocket.launch().await.map(drop).map_err(StartError::from) });
    match listened.await {
        Ok(address) => Ok(Server {
            address,
            shutdown,
            task,
            demo,
        }),
        // The liftoff fairing never ran: the launch failed, and the task says why.
        Err(_) => match task.await {
            Ok(Err(error)) => Err(error),
            _ => Err(StartError::Stopped),
        },
    }
}

/// A response: a status and an optional JSON body, from the demo's answer or a
/// catcher.
struct Answer {
    status: u16,
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        let headers = reply.headers().to_vec();
        let (status, body) = reply.into_parts();
        Self {
            status,
            body,
            headers,
        }
    }
}

impl From<Result<Reply, DemoError>> for Answer {
    fn from(result: Result<Reply, DemoError>) -> Self {
        result.unwrap_or_else(Reply::from).into()
    }
}

impl From<DemoError> for Answer {
    fn from(error: DemoError) -> Self {
        Reply::from(error).into()
    }
}

impl<'r> Responder<'r, 'static> for Answer {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response.status(Status::new(self.status));
        for (name, value) in self.headers {
            response.header(Header::new(name, value));
        }
        if let Some(body) = self.body {
            response
                .header(Header::new("Content-Type", authtoken_demo::CONTENT_TYPE))
                .sized_body(body.len(), Cursor::new(body));
        }
        Ok(response.finalize())
    }
}

/// The raw `Content-Type` header, for the demo to read JSON or form bodies.
struct ContentType<'r>(Option<&'r str>);

impl ContentType<'_> {
    fn bytes(&self) -> Option<&[u8]> {
        self.0.map(str::as_bytes)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ContentType<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        request::Outcome::Success(Self(request.headers().get_one("Content-Type")))
    }
}

/// The body as bytes, at most [`MAX_BODY_BYTES`] of them.
async fn read_body(data: Data<'_>) -> Result<Vec<u8>, DemoError> {
    let limit = ByteUnit::from(MAX_BODY_BYTES);
    match data.open(limit).into_bytes().await {
        Ok(body) if body.is_complete() => Ok(body.into_inner()),
        Ok(_) => Err(DemoError::PayloadTooLarge),
        Err(_) => Err(DemoError::MalformedBody(
            "the request body could not be read".to_owned(),
        )),
    }
}

#[get("/api/health")]
fn health(demo: &State<Demo>) -> Answer {
    demo.health().into()
}

/// The raw `Authorization` header, for the benchmark's hand-written baseline.
struct RawAuthorization<'r>(Option<&'r str>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RawAuthorization<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        request::Outcome::Success(Self(request.headers().get_one("Authorization")))
    }
}

// The path is `authtoken_demo::BASELINE_PATH` (an attribute takes a literal only).
#[get("/api/bench/baseline")]
async fn baseline(demo: &State<Demo>, authorization: RawAuthorization<'_>) -> Answer {
    demo.baseline(authorization.0.map(str::as_bytes))
        .await
        .into()
}

#[post("/api/register", data = "<data>")]
async fn register(demo: &State<Demo>, content_type: ContentType<'_>, data: Data<'_>) -> Answer {
    match read_body(data).await {
        Ok(body) => demo.register(content_type.bytes(), &body).await.into(),
        Err(error) => error.into(),
    }
}

/// The `Authenticated` guard's outcome, taken as a `Result`: a refused request is
/// answered by the route with the core's rejection, straight away, instead of going
/// through Rocket's failed-guard path to the catcher (which answers the same, at a
/// cost of its own on every bad token).
type Guarded = Result<Authenticated<DemoUser>, AuthRejection>;

#[get("/api/me")]
fn me(demo: &State<Demo>, user: Guarded) -> Result<Answer, AuthRejection> {
    Ok(demo.me(&user?.into_inner()).into())
}

#[delete("/api/me")]
async fn delete_account(demo: &State<Demo>, user: Guarded) -> Result<Answer, AuthRejection> {
    Ok(demo.delete_account(&user?.into_inner()).await.into())
}

/// Every error: the rejection a guard recorded (status, JSON detail and
/// `WWW-Authenticate` from the core), or a JSON body for the status.
#[catch(default)]
fn errors(status: Status, request: &Request<'_>) -> Result<Answer, AuthRejection> {
    if let Some(rejection) = AuthRejection::recorded(request)
        && rejection.status() == status.code
    {
        return Err(rejection);
    }
    Ok(match status.code {
        // Rocket routes by method too: a known path asked with another method.
        404 if known_path(request.uri().path().as_str()) => DemoError::MethodNotAllowed.into(),
        404 => DemoError::NotFound.into(),
        413 => DemoError::PayloadTooLarge.into(),
        code => {
            let detail = format!("{}.", status.reason_lossy());
            Answer {
                status: code,
                body: Some(serde_json::json!({ "detail": detail }).to_string()),
                headers: Vec::new(),
            }
        }
    })
}

/// One line per request: method, path (never the query, never a header), status and
/// time taken.
struct RequestLog;

/// When a request arrived, in the request-local cache.
struct Started(Instant);

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "request log",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        request.local_cache(|| Started(Instant::now()));
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let started = request.local_cache(|| Started(Instant::now())).0;
        tracing::info!(
            method = %request.method(),
            path = %request.uri().path(),
            status = response.status().code,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    }
}
