//! Layer (b) of the behaviour suite: the demo API of the design, over real TCP,
//! against every example server, through a [`Launcher`].
//!
//! # The contract a launcher fulfils
//!
//! [`Launcher::launch`] starts the example's server **in this process**, on
//! `127.0.0.1:0` (an ephemeral port), with its database at the given `DATABASE_URL`
//! (a SQLite file URL, `sqlite:///tmp/.../demo.db?mode=rwc`, a PostgreSQL URL whose
//! `search_path` is a schema of the case's own, or a MySQL URL naming a database of
//! the case's own), and returns once the server accepts
//! connections: migrations have run, the socket is bound. It returns a
//! [`RunningServer`] holding the bound address and a stop action.
//!
//! - `launch` is a plain blocking function, so that any framework fits: a tokio-based
//!   server (axum) runs on a thread with a runtime of its own
//!   ([`RunningServer::on_tokio_thread`] does all of that); actix-web runs its own
//!   `System` on a thread it spawns; rocket launches on a runtime of its own. The
//!   cases call it through `spawn_blocking`, never on the runtime that drives the
//!   client, so it may block.
//! - Stopping (on drop, or through [`RunningServer::stop`]) shuts the server down
//!   gracefully and **returns only once it has stopped and closed its database**, so
//!   that the next launch on the same database sees every committed user and token.
//! - The server is the example's own app (the routes, layers and error handling that
//!   its binary serves), built with the `authtoken-demo` crate on that database: the
//!   cases may read and write its tables (`users`, and the token store's
//!   `authtoken_tokens`) through a connection of their own.
//!
//! # The cases
//!
//! [`demo_api_cases!`](crate::demo_api_cases) expands into one named `#[tokio::test]`
//! per function of [`cases`], so that a failure names the case and the example, on
//! SQLite, or with a third argument `postgres` on PostgreSQL, `mysql` on MySQL or
//! MariaDB:
//!
//! ```text
//! authtoken_behaviour::demo_api_cases!(axum_example, AxumLauncher);
//! authtoken_behaviour::demo_api_cases!(axum_example_postgres, AxumLauncher, postgres);
//! authtoken_behaviour::demo_api_cases!(axum_example_mysql, AxumLauncher, mysql);
//! ```
//!
//! Each case starts its own server on a fresh database ([`TestDatabase`]: a SQLite file
//! in a temporary directory, or a PostgreSQL schema or MySQL database dropped when
//! the case ends, so that cases run in parallel and again) and registers only the few
//! users it needs (password hashing is the slow part). The PostgreSQL cases run on the
//! server named by `AUTHTOKEN_TEST_POSTGRES_URL`, the MySQL cases on the MySQL or
//! MariaDB server named by `AUTHTOKEN_TEST_MYSQL_URL`, and each skips with a line on
//! stderr when its variable is not set; on PostgreSQL one more case runs two servers
//! on one database and checks that a revocation on one reaches the other's cache.
//!
//! Not reachable through the demo API, and covered by the adapter cases instead: the
//! 403 of a missing scope (no demo route requires one).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authtoken::{AuthError, Authenticator, IssueOptions, ManualClock, UserIdLoader};
use authtoken_sqlx::SqlxStore;
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a server could not be started.
pub type LaunchError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Starts one example's server in-process. The contract is in the [module
/// docs](self).
pub trait Launcher {
    /// The example, for messages (`"axum example"`).
    const NAME: &'static str;

    /// Whether `Authorization` values that are not UTF-8 reach the app. Rocket drops
    /// such a header while parsing the request, so for its example this is false and
    /// the cases expect the header to count as absent: still a 401, "not provided".
    const NON_UTF8_HEADERS: bool = true;

    /// Starts the example on `127.0.0.1:0` with `database_url`; returns once it
    /// accepts connections.
    ///
    /// # Errors
    ///
    /// Whatever kept the server from starting.
    fn launch(database_url: &str) -> Result<RunningServer, LaunchError>;
}

/// A server started by a [`Launcher`]: its address, and a stop action that runs on
/// drop.
pub struct RunningServer {
    address: SocketAddr,
    stop: Option<Box<dyn FnOnce() + Send>>,
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("address", &self.address)
            .field("running", &self.stop.is_some())
            .finish()
    }
}

/// Tells [`RunningServer::on_tokio_thread`] where the server listens.
#[derive(Debug)]
pub struct Ready(std::sync::mpsc::Sender<Result<SocketAddr, LaunchError>>);

impl Ready {
    /// The server is bound to `address` and about to serve.
    pub fn listening(self, address: SocketAddr) {
        // The launcher waits for this message; if it is gone, nobody is listening.
        let _ = self.0.send(Ok(address));
    }
}

/// Completes when the server should stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

impl RunningServer {
    /// A server listening on `address`; `stop` must stop it and return only once it
    /// has stopped and closed its database.
    pub fn new(address: SocketAddr, stop: impl FnOnce() + Send + 'static) -> Self {
        Self {
            address,
            stop: Some(Box::new(stop)),
        }
    }

    /// Runs a tokio-based server on a thread with a runtime of its own. `serve`
    /// receives the database URL, a [`Ready`] to call with the bound address, and a
    /// [`Shutdown`] future; it should return once the server has stopped and closed
    /// its database. Returns when `serve` has called [`Ready::listening`].
    ///
    /// # Errors
    ///
    /// The runtime could not be built, or `serve` failed before it was listening.
    pub fn on_tokio_thread<F, Fut>(database_url: &str, serve: F) -> Result<Self, LaunchError>
    where
        F: FnOnce(String, Ready, Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), LaunchError>>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let database_url = database_url.to_owned();
        let thread = std::thread::Builder::new()
            .name("demo-server".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error.into()));
                        return;
                    }
                };
                let shutdown: Shutdown = Box::pin(async move {
                    // A dropped sender stops the server too.
                    let _ = stop_rx.await;
                });
                let failed = ready_tx.clone();
                if let Err(error) = runtime.block_on(serve(database_url, Ready(ready_tx), shutdown))
                {
                    // Before `listening`: the launch fails with this error. After it: the
                    // cases see a server that stopped answering, and this line says why.
                    eprintln!("the demo server failed: {error}");
                    let _ = failed.send(Err(error));
                }
            })?;
        match ready_rx.recv() {
            Ok(Ok(address)) => Ok(Self::new(address, move || {
                let _ = stop_tx.send(());
                if thread.join().is_err() {
                    eprintln!("the demo server thread panicked");
                }
            })),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the server thread ended before it was listening".into())
            }
        }
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops the server without blocking the caller's runtime; returns once it has
    /// stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            tokio::task::spawn_blocking(stop)
                .await
                .expect("stopping the server panicked");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

/// The variable naming the PostgreSQL server of the PostgreSQL cases.
pub const POSTGRES_URL: &str = "AUTHTOKEN_TEST_POSTGRES_URL";

/// The variable naming the MySQL or MariaDB server of the MySQL cases.
pub const MYSQL_URL: &str = "AUTHTOKEN_TEST_MYSQL_URL";

/// The database a case runs its servers on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A schema of its own on the PostgreSQL server at `server_url`.
    Postgres {
        /// The server (and database) in which each case creates its schema.
        server_url: String,
    },
    /// A database of its own on the MySQL or MariaDB server at `server_url`.
    Mysql {
        /// The server on which each case creates its database (the URL's own
        /// database is only connected to).
        server_url: String,
    },
}

impl Backend {
    /// SQLite: always there.
    pub fn sqlite() -> Option<Self> {
        Some(Self::Sqlite)
    }

    /// The PostgreSQL server in `AUTHTOKEN_TEST_POSTGRES_URL`, or `None` after a skip
    /// line on stderr when the variable is not set.
    pub fn postgres() -> Option<Self> {
        static ANNOUNCED: std::sync::Once = std::sync::Once::new();
        server_url(POSTGRES_URL, "PostgreSQL", &ANNOUNCED)
            .map(|server_url| Self::Postgres { server_url })
    }

    /// The MySQL or MariaDB server in `AUTHTOKEN_TEST_MYSQL_URL`, or `None` after a
    /// skip line on stderr when the variable is not set.
    pub fn mysql() -> Option<Self> {
        static ANNOUNCED: std::sync::Once = std::sync::Once::new();
        server_url(MYSQL_URL, "MySQL", &ANNOUNCED).map(|server_url| Self::Mysql { server_url })
    }
}

/// The URL in `variable`, or `None` after a skip line on stderr when it is not set.
fn server_url(variable: &str, database: &str, announced: &std::sync::Once) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            // Once per test binary, past the test harness's output capture, so that a
            // run without the server says so; and once per case, captured.
            announced.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the {database} demo-API cases: {variable} is not set"
                );
            });
            eprintln!("skipping: {variable} is not set");
            None
        }
    }
}

/// `server_url` with its database replaced by `database`: the path after the host,
/// up to the query.
fn with_database(server_url: &str, database: &str) -> String {
    let authority = server_url.find("://").map_or(0, |at| at + 3);
    let rest = &server_url[authority..];
    let path = rest.find(['/', '?']).map_or(rest.len(), |at| at);
    let query = rest[path..].find('?').map_or("", |at| &rest[path + at..]);
    format!("{}/{database}{query}", &server_url[..authority + path])
}

/// A fresh database for one case: a SQLite file in a temporary directory, a
/// PostgreSQL schema, or a MySQL database; deleted (dropped) on drop, after the
/// servers that use it.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// What to drop, and on which server.
    drop: Option<Dropped>,
}

/// What a [`TestDatabase`] drops when it is dropped.
#[derive(Debug)]
enum Dropped {
    /// The schema on the PostgreSQL server at the URL.
    Schema(String, String),
    /// The database on the MySQL server at the URL.
    Database(String, String),
}

impl TestDatabase {
    /// Creates the database: a temporary directory (the file is created by the first
    /// server), or a schema that the returned URL makes every connection's
    /// `search_path`.
    pub async fn create(backend: &Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    drop: None,
                }
            }
            Backend::Postgres { server_url } => {
                let schema = unique_schema_name();
                let mut conn = sqlx::PgConnection::connect(server_url)
                    .await
                    .unwrap_or_else(|error| panic!("{POSTGRES_URL}: cannot connect: {error}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create the schema");
                let _ = conn.close().await;
                let separator = if server_url.contains('?') { '&' } else { '?' };
                let url = format!("{server_url}{separator}options=-c%20search_path%3D{schema}");
                Self {
                    url,
                    _dir: None,
                    drop: Some(Dropped::Schema(server_url.clone(), schema)),
                }
            }
            Backend::Mysql { server_url } => {
                let database = unique_schema_name();
                let mut conn = sqlx::MySqlConnection::connect(server_url)
                    .await
                    .unwrap_or_else(|error| panic!("{MYSQL_URL}: cannot connect: {error}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE `{database}` CHARACTER SET utf8mb4"
                )))
                .execute(&mut conn)
                .await
                .expect("create the database");
                let _ = conn.close().await;
                Self {
                    url: with_database(server_url, &database),
                    _dir: None,
                    drop: Some(Dropped::Database(server_url.clone(), database)),
                }
            }
        }
    }

    /// The `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(dropped) = self.drop.take() else {
            return;
        };
        // Drop runs inside the case's runtime, which cannot block on a future: the
        // schema is dropped from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime
                .block_on(async {
                    match &dropped {
                        Dropped::Schema(server_url, schema) => {
                            let mut conn = sqlx::PgConnection::connect(server_url).await?;
                            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "SET lock_timeout = '10s'; \
                                 DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                            )))
                            .execute(&mut conn)
                            .await?;
                            conn.close().await
                        }
                        Dropped::Database(server_url, database) => {
                            let mut conn = sqlx::MySqlConnection::connect(server_url).await?;
                            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "SET SESSION lock_wait_timeout = 10; \
                                 DROP DATABASE IF EXISTS `{database}`"
                            )))
                            .execute(&mut conn)
                            .await?;
                            conn.close().await
                        }
                    }
                })
                .map_err(|error| format!("could not drop {dropped:?}: {error}"))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(message)) => eprintln!("{message}"),
            Err(_) => eprintln!("dropping a test schema panicked"),
        }
    }
}

/// A schema (or database) name no other case, in this run or another, uses.
fn unique_schema_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "authtoken_demo_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000_000
    )
}

/// Starts `L` on `database` without blocking the caller's runtime.
pub async fn launch<L: Launcher>(database: &TestDatabase) -> RunningServer {
    let url = database.url().to_owned();
    tokio::task::spawn_blocking(move || L::launch(&url))
        .await
        .expect("the launcher panicked")
        .unwrap_or_else(|error| panic!("{} did not start: {error}", L::NAME))
}

/// What came back from the server.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Every `WWW-Authenticate` value.
    pub www_authenticate: Vec<String>,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// The body as text.
    pub text: String,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|error| {
            panic!(
                "status {}: body is not JSON ({error}): {:?}",
                self.status, self.text
            )
        })
    }

    /// Asserts a JSON body (content type and syntax) and returns it.
    pub fn json_body(&self) -> Value {
        let content_type = self.content_type.as_deref().unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "status {}: content type {content_type:?}, body {:?}",
            self.status,
            self.text
        );
        self.json()
    }

    /// The `token` of a JSON body.
    pub fn token(&self) -> String {
        self.json()["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {:?}", self.text))
            .to_owned()
    }
}

/// An HTTP client for one running server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

/// An `Authorization` header value for a token.
pub fn token_header(token: &str) -> String {
    format!("Token {token}")
}

const JSON_TYPE: &str = "application/json";
const FORM_TYPE: &str = "application/x-www-form-urlencoded";

impl Client {
    /// A client for the server at `address`.
    pub fn new(address: SocketAddr) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        Self {
            base: format!("http://{address}"),
            http,
        }
    }

    /// Sends a request: every `Authorization` value as a header line of its own, and
    /// an optional body with its content type.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: &[&[u8]],
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for value in authorization {
            let value =
                reqwest::header::HeaderValue::from_bytes(value).expect("a valid header value");
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        if let Some((content_type, body)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path}: no response: {error}"));
        let status = response.status().as_u16();
        let headers = response.headers();
        let www_authenticate = headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let text = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("{path}: body unreadable: {error}"));
        Reply {
            status,
            www_authenticate,
            content_type,
            retry_after,
            text,
        }
    }

    /// `GET path` with an `Authorization` header value, if any.
    pub async fn get(&self, path: &str, authorization: Option<&str>) -> Reply {
        let values: Vec<&[u8]> = authorization.iter().map(|value| value.as_bytes()).collect();
        self.send("GET", path, &values, None).await
    }

    /// `POST path` with an `Authorization` header value and no body.
    pub async fn post(&self, path: &str, authorization: Option<&str>) -> Reply {
        let values: Vec<&[u8]> = authorization.iter().map(|value| value.as_bytes()).collect();
        self.send("POST", path, &values, None).await
    }

    /// `DELETE path` with an `Authorization` header value.
    pub async fn delete(&self, path: &str, authorization: Option<&str>) -> Reply {
        let values: Vec<&[u8]> = authorization.iter().map(|value| value.as_bytes()).collect();
        self.send("DELETE", path, &values, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            &[],
            Some((JSON_TYPE, body.to_string().into_bytes())),
        )
        .await
    }

    /// `POST path` with raw bytes of a content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.send("POST", path, &[], Some((content_type, body.to_vec())))
            .await
    }

    /// `POST /api/register`.
    pub async fn register(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            "/api/register",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Registers and returns the token; panics unless 201.
    pub async fn register_ok(&self, username: &str, password: &str) -> String {
        let reply = self.register(username, password).await;
        assert_eq!(reply.status, 201, "register {username:?}: {reply:?}");
        reply.json_body();
        reply.token()
    }

    /// `POST /api/token` with a JSON body.
    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            "/api/token",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Logs in with a JSON body and returns the token; panics unless 200.
    pub async fn login_ok(&self, username: &str, password: &str) -> String {
        let reply = self.login(username, password).await;
        assert_eq!(reply.status, 200, "login {username:?}: {reply:?}");
        reply.json_body();
        reply.token()
    }

    /// `GET /api/me` with `Token <token>`.
    pub async fn me(&self, token: &str) -> Reply {
        self.get("/api/me", Some(&token_header(token))).await
    }

    /// Asserts that `token` authenticates as `username`.
    pub async fn assert_user(&self, token: &str, username: &str) {
        let reply = self.me(token).await;
        assert_eq!(reply.status, 200, "GET /api/me as {username:?}: {reply:?}");
        assert_eq!(reply.json_body(), json!({ "username": username }));
    }

    /// Asserts that `token` is refused with 401 "Invalid token.".
    pub async fn assert_revoked(&self, token: &str) {
        assert_auth_error(&self.me(token).await, &AuthError::InvalidToken);
    }
}

/// Asserts the response the core words for `error`: status, JSON `detail`, and a
/// `WWW-Authenticate` challenge on every 401.
pub fn assert_auth_error(reply: &Reply, error: &AuthError) {
    assert_eq!(
        reply.status,
        error.status(),
        "expected {error:?}: {reply:?}"
    );
    assert_eq!(
        reply.json_body(),
        json!({ "detail": error.detail() }),
        "expected {error:?}"
    );
    if reply.status == 401 {
        assert_eq!(reply.www_authenticate.len(), 1, "one challenge: {reply:?}");
        let challenge = &reply.www_authenticate[0];
        assert!(challenge.starts_with("Bearer realm="), "{challenge}");
        let invalid_token = !matches!(error, AuthError::NotProvided);
        assert_eq!(
            challenge.contains("error=\"invalid_token\""),
            invalid_token,
            "challenge for {error:?}: {challenge}"
        );
    }
}

/// Sends raw bytes on a fresh connection and reads until the server closes it.
/// Returns the status code of the response, or why there was none.
pub async fn raw_exchange(address: SocketAddr, request: &[u8]) -> Result<u16, String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|error| format!("connect: {error}"))?;
        stream
            .write_all(request)
            .await
            .map_err(|error| format!("write: {error}"))?;
        let mut response = Vec::new();
        // A server may close right after answering a request it refused; whatever it
        // sent before that is the answer.
        let read = stream.read_to_end(&mut response).await;
        if response.is_empty() {
            return Err(format!(
                "the connection closed without a response ({read:?})"
            ));
        }
        let head = String::from_utf8_lossy(&response);
        let status_line = head.lines().next().unwrap_or_default();
        let mut parts = status_line.split(' ');
        match (parts.next(), parts.next().map(str::parse::<u16>)) {
            (Some(version), Some(Ok(status))) if version.starts_with("HTTP/1.") => Ok(status),
            _ => Err(format!("not an HTTP response: {status_line:?}")),
        }
    };
    // A guard against a server that never answers, not a measure of speed.
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| Err("no response within 30 seconds".to_owned()))
}

/// A raw `GET path` with extra header lines (each ending in CRLF).
pub fn raw_get(path: &str, header_lines: &[&[u8]]) -> Vec<u8> {
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
    for line in header_lines {
        request.extend_from_slice(line);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request
}

/// Runs `$body` with `$pool` bound to the store's pool, SQLite, PostgreSQL or MySQL,
/// and `$sql` to `$query` as that database reads it (`$query` is written with a `$1`
/// placeholder, which MySQL reads as `?`).
macro_rules! on_store_pool {
    ($store:expr, $pool:ident, $sql:ident = $query:expr => $body:expr) => {
        match ($store.sqlite_pool(), $store.pg_pool(), $store.mysql_pool()) {
            (Some($pool), _, _) => {
                let $sql = sqlx::AssertSqlSafe($query.to_owned());
                $body
            }
            (_, Some($pool), _) => {
                let $sql = sqlx::AssertSqlSafe($query.to_owned());
                $body
            }
            (_, _, Some($pool)) => {
                let $sql = sqlx::AssertSqlSafe($query.replace("$1", "?"));
                $body
            }
            (None, None, None) => unreachable!("the demo runs on SQLite, PostgreSQL or MySQL"),
        }
    };
}

/// Direct access to a demo database, for the rows of the error table the API cannot
/// produce on its own: tokens minted in the past, a user switched off, a broken store.
#[derive(Debug)]
pub struct Backdoor {
    store: SqlxStore,
    auth: Authenticator<String>,
    clock: Arc<ManualClock>,
}

impl Backdoor {
    /// Opens the database a running server uses.
    pub async fn open(database: &TestDatabase) -> Self {
        let store = SqlxStore::connect(database.url())
            .await
            .expect("the demo database opens");
        let clock = Arc::new(ManualClock::starting_now());
        let auth = Authenticator::builder(store.clone(), UserIdLoader)
            .clock(clock.clone())
            .cache_capacity(0)
            .build()
            .expect("an authenticator");
        Self { store, auth, clock }
    }

    /// The id of a user, as tokens name it.
    pub async fn user_id(&self, username: &str) -> String {
        let id: Result<i64, sqlx::Error> = on_store_pool!(
            &self.store, pool, sql = "SELECT id FROM users WHERE username = $1" => {
            sqlx::query_scalar(sql)
                .bind(username)
                .fetch_one(pool)
                .await
        });
        id.expect("the user exists").to_string()
    }

    /// A token for `user_id` that expired a day ago.
    pub async fn expired_token(&self, user_id: &str) -> String {
        self.clock
            .set(time::OffsetDateTime::now_utc() - time::Duration::days(2));
        let issued = self
            .auth
            .issue(
                user_id,
                IssueOptions::new().expires_in(Duration::from_secs(3600)),
            )
            .await
            .expect("a token");
        issued.token().expose_secret().to_owned()
    }

    /// A token that never expires, for `user_id` (which need not exist).
    pub async fn token_for(&self, user_id: &str) -> String {
        self.clock.set(time::OffsetDateTime::now_utc());
        let issued = self
            .auth
            .issue(user_id, IssueOptions::new().never_expires())
            .await
            .expect("a token");
        issued.token().expose_secret().to_owned()
    }

    /// Marks a user inactive.
    pub async fn deactivate(&self, username: &str) {
        let done = on_store_pool!(
            &self.store, pool, sql = "UPDATE users SET is_active = FALSE WHERE username = $1" => {
            sqlx::query(sql)
                .bind(username)
                .execute(pool)
                .await
                .map(drop)
        });
        done.expect("deactivate");
    }

    /// Breaks the token store: its table is gone.
    pub async fn break_token_store(&self) {
        let done = on_store_pool!(&self.store, pool, sql = "DROP TABLE authtoken_tokens" => {
            sqlx::query(sql)
                .execute(pool)
                .await
                .map(drop)
        });
        done.expect("drop the tokens table");
    }

    /// Closes the connection.
    pub async fn close(self) {
        self.store.close().await;
    }
}

/// The cases, each generic over the [`Launcher`] of one example.
pub mod cases {
    use super::*;

    const PASSWORD: &str = "correct horse battery staple";

    async fn start<L: Launcher>(backend: &Backend) -> (TestDatabase, RunningServer, Client) {
        let database = TestDatabase::create(backend).await;
        let server = launch::<L>(&database).await;
        let client = Client::new(server.address());
        (database, server, client)
    }

    /// `GET /api/health`: 200 without auth, whatever `Authorization` header is sent.
    pub async fn health_ignores_authorization<L: Launcher>(backend: Backend) {
        let (_db, server, client) = start::<L>(&backend).await;
        let reply = client.get("/api/health", None).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json_body();
        let values: [&[&[u8]]; 8] = [
            &[b"Token"],
            &[b"Bearer atk_nonsense"],
            &[b"Token a b"],
            &[b"Token caf\xe9"],
            &[b"Token \xff\xfe"],
            &[b"Basic YWxhZGRpbjpvcGVuc2VzYW1l"],
            &[b"Token one", b"Token two"],
            &[b"Token atk_00000000000000000000000000000000000000"],
        ];
        for value in values {
            let reply = client.send("GET", "/api/health", value, None).await;
            assert_eq!(reply.status, 200, "{value:?}: {reply:?}");
        }
        let raw = raw_exchange(
            server.address(),
            &raw_get("/api/health", &[b"Authorization: Token \xc3\x28"]),
        )
        .await;
        assert_eq!(raw, Ok(200));
    }

    /// `POST /api/register`: 201 and a token that works at once.
    pub async fn register_issues_a_working_token<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let token = client.register_ok("ada", PASSWORD).await;
        assert!(token.starts_with("atk_"), "{token}");
        client.assert_user(&token, "ada").await;
    }

    /// Empty, missing, over-long and malformed fields: 400 with a JSON body, and
    /// nobody is registered.
    pub async fn register_validates_its_input<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let long_name = "é".repeat(151);
        let long_password = "p".repeat(1025);
        let bodies = [
            json!({ "username": "", "password": PASSWORD }),
            json!({ "username": "ada", "password": "" }),
            json!({ "username": "   ", "password": PASSWORD }),
            json!({ "password": PASSWORD }),
            json!({ "username": "ada" }),
            json!({}),
            json!({ "username": 7, "password": PASSWORD }),
            json!({ "username": long_name, "password": PASSWORD }),
            json!({ "username": "ada", "password": long_password }),
            json!(["ada", PASSWORD]),
        ];
        for body in &bodies {
            let reply = client.post_json("/api/register", body).await;
            assert_eq!(reply.status, 400, "{body}: {reply:?}");
            assert!(reply.json_body().is_object(), "{body}: {reply:?}");
        }
        for raw in [
            &b"{"[..],
            b"{\"username\": \"ada\",",
            b"not json",
            b"\xff\xfe\x00",
        ] {
            let reply = client.post_raw("/api/register", JSON_TYPE, raw).await;
            assert_eq!(reply.status, 400, "{raw:?}: {reply:?}");
            assert!(reply.json_body().is_object(), "{raw:?}: {reply:?}");
        }
        // Nothing above registered "ada".
        let reply = client.login("ada", PASSWORD).await;
        assert_eq!(reply.status, 400, "{reply:?}");
    }

    /// A taken username: 400 or 409 with a JSON body; the first user is untouched.
    pub async fn register_refuses_a_taken_name<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let token = client.register_ok("ada", PASSWORD).await;
        let reply = client.register("ada", "another password").await;
        assert!(matches!(reply.status, 400 | 409), "{reply:?}");
        assert!(reply.json_body().is_object());
        client.assert_user(&token, "ada").await;
        client.login_ok("ada", PASSWORD).await;
    }

    /// `POST /api/token` (JSON): 200 and a new token at each login, all valid at once.
    pub async fn login_issues_a_new_token_each_time<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let registered = client.register_ok("ada", PASSWORD).await;
        let first = client.login_ok("ada", PASSWORD).await;
        let second = client.login_ok("ada", PASSWORD).await;
        assert_ne!(first, second);
        assert_ne!(first, registered);
        for token in [&registered, &first, &second] {
            client.assert_user(token, "ada").await;
        }
    }

    /// Personal tokens over HTTP: created with a name, scopes and a lifetime, listed
    /// (newest first, the current one marked, a hint and never the secret), refused
    /// the management of tokens without the `tokens` scope, revoked.
    pub async fn personal_tokens<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let login = client.register_ok("ada", PASSWORD).await;
        let header = token_header(&login);
        let body = serde_json::json!({"name": "ci", "scopes": ["read"], "expires_in": 3600});
        let reply = client
            .send(
                "POST",
                "/api/tokens",
                &[header.as_bytes()],
                Some(("application/json", body.to_string().into_bytes())),
            )
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        let created = reply.json_body();
        let secret = created["token"].as_str().expect("the secret").to_owned();
        let id = created["id"].as_i64().expect("an id");
        assert_eq!(created["scopes"], serde_json::json!(["read"]));
        let hint = created["hint"].as_str().expect("a hint");
        assert!(
            hint.len() <= 8 && secret.ends_with(&hint[hint.len() - 4..]),
            "{hint}"
        );
        client.assert_user(&secret, "ada").await;

        let reply = client.get("/api/tokens", Some(&header)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let list = reply.json_body();
        let items = list.as_array().expect("an array");
        assert_eq!(items.len(), 2, "{list}");
        assert_eq!(
            (items[0]["id"].as_i64(), &items[0]["current"]),
            (Some(id), &serde_json::json!(false))
        );
        assert_eq!(items[1]["current"], true, "{list}");
        assert!(!reply.text.contains(&secret) && !reply.text.contains(&login));

        let reader = token_header(&secret);
        let reply = client.get("/api/tokens", Some(&reader)).await;
        assert_eq!(reply.status, 403, "no tokens scope: {reply:?}");

        let path = format!("/api/tokens/{id}");
        let reply = client.delete(&path, Some(&header)).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        client.assert_revoked(&secret).await;
        let reply = client.delete(&path, Some(&header)).await;
        assert_eq!(reply.status, 404, "{reply:?}");
        assert_eq!(
            reply.json_body(),
            serde_json::json!({"detail": "Not found."})
        );
    }

    /// `POST /api/token` with an `application/x-www-form-urlencoded` body, as DRF's
    /// `obtain_auth_token` takes it.
    pub async fn login_by_form<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        client.register_ok("Zoë Ådå", PASSWORD).await;
        let body = "username=Zo%C3%AB+%C3%85d%C3%A5&password=correct+horse+battery+staple";
        let reply = client
            .post_raw("/api/token", FORM_TYPE, body.as_bytes())
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        client.assert_user(&reply.token(), "Zoë Ådå").await;
        let reply = client
            .post_raw(
                "/api/token",
                FORM_TYPE,
                b"username=Zo%C3%AB+%C3%85d%C3%A5&password=wrong",
            )
            .await;
        assert_eq!(reply.status, 400, "{reply:?}");
        assert!(reply.json_body().is_object());
    }

    /// Wrong password or unknown user: 400 with DRF's body; blank fields: 400.
    pub async fn login_refuses_wrong_credentials<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        client.register_ok("ada", PASSWORD).await;
        let refused =
            json!({ "non_field_errors": ["Unable to log in with provided credentials."] });
        for (username, password) in [("ada", "wrong"), ("nobody", PASSWORD), ("ADA", PASSWORD)] {
            let reply = client.login(username, password).await;
            assert_eq!(reply.status, 400, "{username}/{password}: {reply:?}");
            assert_eq!(reply.json_body(), refused, "{username}/{password}");
        }
        for body in [json!({ "username": "", "password": "" }), json!({})] {
            let reply = client.post_json("/api/token", &body).await;
            assert_eq!(reply.status, 400, "{body}: {reply:?}");
            assert!(reply.json_body().is_object());
        }
        let reply = client.post_raw("/api/token", JSON_TYPE, b"{oops").await;
        assert_eq!(reply.status, 400, "{reply:?}");
        assert!(reply.json_body().is_object());
    }

    /// Every authenticated route without credentials, or with another scheme: 401
    /// "not provided", with a challenge that names no error.
    pub async fn protected_routes_require_credentials<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        for authorization in [None, Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l")] {
            for (method, path) in [
                ("GET", "/api/me"),
                ("POST", "/api/logout"),
                ("POST", "/api/logout-all"),
                ("DELETE", "/api/me"),
            ] {
                let values: Vec<&[u8]> =
                    authorization.iter().map(|value| value.as_bytes()).collect();
                let reply = client.send(method, path, &values, None).await;
                assert_auth_error(&reply, &AuthError::NotProvided);
            }
        }
    }

    /// The rows of the error table about the header itself.
    pub async fn malformed_authorization_headers<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let rows: [(&[u8], AuthError); 6] = [
            (b"Token", AuthError::NoCredentials),
            (b"Bearer   ", AuthError::NoCredentials),
            (b"Token atk_abc def", AuthError::CredentialContainsSpaces),
            (b"Token atk_caf\xe9", AuthError::CredentialInvalidCharacters),
            (
                b"Bearer \xff\xfe\xfd",
                AuthError::CredentialInvalidCharacters,
            ),
            (b"Token \"atk_quoted\"", AuthError::InvalidToken),
        ];
        for (value, error) in rows {
            let error = if std::str::from_utf8(value).is_err() && !L::NON_UTF8_HEADERS {
                AuthError::NotProvided
            } else {
                error
            };
            let reply = client.send("GET", "/api/me", &[value], None).await;
            assert_auth_error(&reply, &error);
        }
    }

    /// Bad format, bad checksum and unknown tokens: 401 "Invalid token.".
    pub async fn invalid_tokens<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let token = client.register_ok("ada", PASSWORD).await;
        let mut typo = token.clone();
        let last = typo.pop().expect("a character");
        typo.push(if last == 'a' { 'b' } else { 'a' });
        // Well formed, with the right checksum, never issued.
        let unknown = authtoken::TokenPrefix::default().generate();
        let unknown = unknown.expose_secret();
        for bad in [
            "atk_short",
            "nonsense",
            "0123456789abcdef0123456789abcdef01234567",
            typo.as_str(),
            &token[..token.len() - 1],
            unknown,
        ] {
            assert_auth_error(&client.me(bad).await, &AuthError::InvalidToken);
        }
        client.assert_user(&token, "ada").await;
    }

    /// An expired token: 401 "Token has expired.".
    pub async fn expired_token<L: Launcher>(backend: Backend) {
        let (database, _server, client) = start::<L>(&backend).await;
        client.register_ok("ada", PASSWORD).await;
        let backdoor = Backdoor::open(&database).await;
        let id = backdoor.user_id("ada").await;
        let expired = backdoor.expired_token(&id).await;
        backdoor.close().await;
        assert_auth_error(&client.me(&expired).await, &AuthError::TokenExpired);
    }

    /// A token of a user that is gone or inactive: 401 "User inactive or deleted.".
    pub async fn missing_or_inactive_user<L: Launcher>(backend: Backend) {
        let (database, _server, client) = start::<L>(&backend).await;
        client.register_ok("ada", PASSWORD).await;
        // Not used before the user is switched off, so that no cache holds it.
        let fresh = client.login_ok("ada", PASSWORD).await;
        let backdoor = Backdoor::open(&database).await;
        let nobody = backdoor.token_for("999999").await;
        backdoor.deactivate("ada").await;
        backdoor.close().await;
        assert_auth_error(&client.me(&nobody).await, &AuthError::UserInactive);
        assert_auth_error(&client.me(&fresh).await, &AuthError::UserInactive);
        let reply = client.login("ada", PASSWORD).await;
        assert_eq!(
            reply.status, 400,
            "an inactive user cannot log in: {reply:?}"
        );
    }

    /// The token store failing: 503, never 200 or 401; health still answers.
    pub async fn store_unavailable<L: Launcher>(backend: Backend) {
        let (database, _server, client) = start::<L>(&backend).await;
        let token = client.register_ok("ada", PASSWORD).await;
        let backdoor = Backdoor::open(&database).await;
        // A token the server has never seen, so that no cache answers for the store.
        let id = backdoor.user_id("ada").await;
        let unseen = backdoor.token_for(&id).await;
        backdoor.break_token_store().await;
        backdoor.close().await;
        let unavailable = AuthError::Unavailable(authtoken::StoreError::new(
            std::io::Error::other("the tokens table is gone"),
        ));
        assert_auth_error(&client.me(&unseen).await, &unavailable);
        // Fail closed: never a 401 (nor a 500) for a token that was valid; a 200 may
        // only come from the cache.
        let status = client.me(&token).await.status;
        assert!(matches!(status, 200 | 503), "{status}");
        assert_eq!(client.get("/api/health", None).await.status, 200);
    }

    /// `Token` and `Bearer`, in any case, with extra whitespace around the token.
    pub async fn both_keywords_any_case<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let token = client.register_ok("ada", PASSWORD).await;
        for keyword in ["Token", "Bearer", "token", "bearer", "TOKEN", "BeArEr"] {
            for value in [
                format!("{keyword} {token}"),
                format!("{keyword}  \t{token}  "),
            ] {
                let reply = client.get("/api/me", Some(&value)).await;
                assert_eq!(reply.status, 200, "{value:?}: {reply:?}");
                assert_eq!(reply.json_body(), json!({ "username": "ada" }));
            }
        }
    }

    /// `POST /api/logout`: 204; that token stops working, the others do not.
    pub async fn logout_revokes_the_token_used<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let kept = client.register_ok("ada", PASSWORD).await;
        let used = client.login_ok("ada", PASSWORD).await;
        let reply = client.post("/api/logout", Some(&token_header(&used))).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        assert!(reply.text.is_empty(), "{reply:?}");
        client.assert_revoked(&used).await;
        let again = client.post("/api/logout", Some(&token_header(&used))).await;
        assert_auth_error(&again, &AuthError::InvalidToken);
        client.assert_user(&kept, "ada").await;
    }

    /// `POST /api/logout-all`: 204; every token of the user (three logins and the
    /// registration's) stops working; another user's does not.
    pub async fn logout_all_revokes_every_token<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let registered = client.register_ok("ada", PASSWORD).await;
        let other = client.register_ok("bob", PASSWORD).await;
        let mut tokens = vec![registered];
        for _ in 0..3 {
            tokens.push(client.login_ok("ada", PASSWORD).await);
        }
        for token in &tokens {
            client.assert_user(token, "ada").await;
        }
        let reply = client
            .post("/api/logout-all", Some(&token_header(&tokens[2])))
            .await;
        assert_eq!(reply.status, 204, "{reply:?}");
        for token in &tokens {
            client.assert_revoked(token).await;
        }
        client.assert_user(&other, "bob").await;
        let fresh = client.login_ok("ada", PASSWORD).await;
        client.assert_user(&fresh, "ada").await;
    }

    /// `DELETE /api/me`: 204; the user's tokens stop working, login fails, and the
    /// name can be registered again by someone new.
    pub async fn delete_account_revokes_and_frees_the_name<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let first = client.register_ok("ada", PASSWORD).await;
        let second = client.login_ok("ada", PASSWORD).await;
        let reply = client.delete("/api/me", Some(&token_header(&second))).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        client.assert_revoked(&first).await;
        client.assert_revoked(&second).await;
        assert_eq!(client.login("ada", PASSWORD).await.status, 400);
        let again = client.register_ok("ada", "a new password").await;
        client.assert_user(&again, "ada").await;
        client.assert_revoked(&first).await;
        assert_eq!(client.login("ada", PASSWORD).await.status, 400);
        client.login_ok("ada", "a new password").await;
    }

    /// Unicode usernames come back exactly as registered, and log in.
    pub async fn unicode_usernames_round_trip<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let names = ["Zoë 🦀 日本語", "שלום עולם", "\u{e9}mile", "ß ǅ ﬁ"];
        let mut tokens = Vec::new();
        for name in names {
            tokens.push(client.register_ok(name, PASSWORD).await);
        }
        for (name, token) in names.iter().zip(&tokens) {
            client.assert_user(token, name).await;
        }
        let token = client.login_ok(names[0], PASSWORD).await;
        client.assert_user(&token, names[0]).await;
    }

    /// A composed `é` (U+00E9) and `e` with a combining acute (U+0301) are one name,
    /// kept in NFC: registering the other spelling is refused as taken, and both
    /// spellings log in to the one account.
    pub async fn nfc_spellings_are_one_account<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let (composed, decomposed) = ("\u{e9}mile", "e\u{301}mile");
        for (first, second) in [(decomposed, composed), (composed, decomposed)] {
            let token = client.register_ok(first, PASSWORD).await;
            client.assert_user(&token, composed).await;
            let reply = client.register(second, "another password").await;
            assert!(matches!(reply.status, 400 | 409), "{second:?}: {reply:?}");
            assert!(reply.json_body().is_object());
            for spelling in [composed, decomposed] {
                let token = client.login_ok(spelling, PASSWORD).await;
                client.assert_user(&token, composed).await;
            }
            let reply = client.delete("/api/me", Some(&token_header(&token))).await;
            assert_eq!(reply.status, 204, "{reply:?}");
        }
    }

    /// Usernames compare exactly (after NFC): case and trailing spaces make another
    /// name, on every database.
    pub async fn usernames_compare_exactly<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        client.register_ok("ada", PASSWORD).await;
        for other in ["ada ", "Ada", " ada"] {
            let reply = client.login(other, PASSWORD).await;
            assert_eq!(reply.status, 400, "{other:?}: {reply:?}");
        }
        let spaced = client.register_ok("ada ", "another password").await;
        client.assert_user(&spaced, "ada ").await;
        let reply = client.login("ada ", PASSWORD).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        let token = client.login_ok("ada", PASSWORD).await;
        client.assert_user(&token, "ada").await;
    }

    /// Two concurrent registrations of one name: exactly one 201, the other 400/409.
    pub async fn concurrent_registrations_of_one_name<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        for round in 0..2 {
            let name = format!("racer {round}");
            let (first, second) = tokio::join!(
                client.register(&name, PASSWORD),
                client.register(&name, PASSWORD)
            );
            let mut statuses = [first.status, second.status];
            statuses.sort_unstable();
            assert!(
                matches!(statuses, [201, 400 | 409]),
                "{name}: {first:?} / {second:?}"
            );
            let loser = if first.status == 201 { &second } else { &first };
            assert!(loser.json_body().is_object());
        }
    }

    /// Each token yields its own user, never another.
    pub async fn token_of_one_user_never_yields_another<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let ada = client.register_ok("ada", PASSWORD).await;
        let bob = client.register_ok("bob", PASSWORD).await;
        let ada_again = client.login_ok("ada", PASSWORD).await;
        for _ in 0..3 {
            client.assert_user(&bob, "bob").await;
            client.assert_user(&ada, "ada").await;
            client.assert_user(&ada_again, "ada").await;
        }
        let reply = client
            .post("/api/logout-all", Some(&token_header(&bob)))
            .await;
        assert_eq!(reply.status, 204);
        client.assert_user(&ada, "ada").await;
        client.assert_revoked(&bob).await;
    }

    /// 50 clients with 20 requests each, at once: every answer right.
    pub async fn concurrent_clients<L: Launcher>(backend: Backend) {
        let (_db, server, client) = start::<L>(&backend).await;
        let mut users = Vec::new();
        for name in ["ada", "bob", "eve"] {
            users.push((name, client.register_ok(name, PASSWORD).await));
        }
        let users = Arc::new(users);
        let clients = (0..50).map(|index| {
            let users = Arc::clone(&users);
            let client = Client::new(server.address());
            tokio::spawn(async move {
                for request in 0..20 {
                    let (name, token) = &users[(index + request) % users.len()];
                    if (index + request) % 7 == 0 {
                        let reply = client.me("atk_nonsense").await;
                        assert_eq!(reply.status, 401, "client {index}: {reply:?}");
                    } else {
                        client.assert_user(token, name).await;
                    }
                }
            })
        });
        for result in futures_util::future::join_all(clients).await {
            result.expect("a client failed");
        }
    }

    /// Raw malformed headers over a socket: 400 or 401, never a 5xx or a connection
    /// closed without an answer.
    pub async fn malformed_headers_over_a_socket<L: Launcher>(backend: Backend) {
        let (_db, server, client) = start::<L>(&backend).await;
        let token = client.register_ok("ada", PASSWORD).await;
        let big = format!("Authorization: Token {}", "a".repeat(8 * 1024));
        let valid = format!("Authorization: Token {token}");
        let requests: Vec<(&str, Vec<&[u8]>)> = vec![
            (
                "invalid UTF-8",
                vec![b"Authorization: Token \xc3\x28\xa0\xa1"],
            ),
            ("NUL", vec![b"Authorization: Token atk_\x00abc"]),
            ("NUL after keyword", vec![b"Authorization: Token\x00"]),
            ("8 KB", vec![big.as_bytes()]),
            (
                "two different headers",
                vec![
                    b"Authorization: Token atk_one",
                    b"Authorization: Token atk_two",
                ],
            ),
            (
                "a valid and an invalid header",
                vec![valid.as_bytes(), b"Authorization: Token atk_two"],
            ),
            ("control byte", vec![b"Authorization: Token atk_\x01x"]),
            ("bare CR", vec![b"Authorization: Token atk_\rx"]),
            ("no colon", vec![b"Authorization Token atk_x"]),
        ];
        for (name, lines) in &requests {
            let status = raw_exchange(server.address(), &raw_get("/api/me", lines)).await;
            assert!(
                matches!(status, Ok(400 | 401)),
                "{name}: {status:?} (expected 400 or 401)"
            );
        }
        // The same valid header twice may pass; it must not fail the server.
        let twice = [valid.as_bytes(), valid.as_bytes()];
        let status = raw_exchange(server.address(), &raw_get("/api/me", &twice)).await;
        assert!(
            matches!(status, Ok(200 | 400 | 401)),
            "same header twice: {status:?}"
        );
        // And the server still serves.
        client.assert_user(&token, "ada").await;
    }

    /// A restart on the same database keeps every user and token; revoked tokens stay
    /// revoked.
    pub async fn restart_keeps_users_and_tokens<L: Launcher>(backend: Backend) {
        let database = TestDatabase::create(&backend).await;
        let server = launch::<L>(&database).await;
        let client = Client::new(server.address());
        let ada = client.register_ok("ada", PASSWORD).await;
        let bob = client.register_ok("Bøb", PASSWORD).await;
        let ada_login = client.login_ok("ada", PASSWORD).await;
        let revoked = client.login_ok("ada", PASSWORD).await;
        let reply = client
            .post("/api/logout", Some(&token_header(&revoked)))
            .await;
        assert_eq!(reply.status, 204);
        server.stop().await;

        let server = launch::<L>(&database).await;
        let client = Client::new(server.address());
        client.assert_user(&ada, "ada").await;
        client.assert_user(&ada_login, "ada").await;
        client.assert_user(&bob, "Bøb").await;
        client.assert_revoked(&revoked).await;
        client.login_ok("Bøb", PASSWORD).await;
        let reply = client.register("ada", PASSWORD).await;
        assert!(matches!(reply.status, 400 | 409), "{reply:?}");
        server.stop().await;
    }

    /// Unknown routes: 404, and a known route with another method: 404 or 405; JSON
    /// bodies either way.
    pub async fn unknown_routes_answer_json<L: Launcher>(backend: Backend) {
        let (_db, _server, client) = start::<L>(&backend).await;
        let reply = client.get("/api/nothing-here", None).await;
        assert_eq!(reply.status, 404, "{reply:?}");
        assert!(reply.json_body().is_object());
        for (method, path) in [
            ("PUT", "/api/me"),
            ("GET", "/api/register"),
            ("GET", "/api/logout"),
        ] {
            let reply = client.send(method, path, &[], None).await;
            assert!(
                matches!(reply.status, 404 | 405),
                "{method} {path}: {reply:?}"
            );
            assert!(reply.json_body().is_object(), "{method} {path}");
        }
    }

    /// Two servers ("nodes") on one PostgreSQL database: a token that node B has
    /// cached stops working on B soon after it is revoked on node A (by logout, by
    /// logout-all, by deleting the account), long before B's cache ttl (30 s) would
    /// let it go. Only on PostgreSQL, where revocations are pushed.
    pub async fn revocation_reaches_every_node<L: Launcher>(backend: Backend) {
        /// A hang guard, well below the cache ttl: only a pushed revocation meets it.
        const PUSH_GUARD: Duration = Duration::from_secs(10);

        async fn rejected_on(node: &Client, token: &str) -> bool {
            let end = tokio::time::Instant::now() + PUSH_GUARD;
            loop {
                let reply = node.me(token).await;
                if reply.status == 401 {
                    return true;
                }
                assert_eq!(reply.status, 200, "{reply:?}");
                if tokio::time::Instant::now() >= end {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        let (database, _node_a, a) = start::<L>(&backend).await;
        let node_b = launch::<L>(&database).await;
        let b = Client::new(node_b.address());
        let logged_out = a.register_ok("ada", PASSWORD).await;
        let all = [
            a.login_ok("ada", PASSWORD).await,
            a.login_ok("ada", PASSWORD).await,
        ];
        let deleted = a.register_ok("bob", PASSWORD).await;
        // Each token is now in B's cache.
        for token in [&logged_out, &all[0], &all[1]] {
            b.assert_user(token, "ada").await;
        }
        b.assert_user(&deleted, "bob").await;

        let reply = a
            .post("/api/logout", Some(&token_header(&logged_out)))
            .await;
        assert_eq!(reply.status, 204, "{reply:?}");
        assert!(
            rejected_on(&b, &logged_out).await,
            "node B still accepts a token logged out on node A"
        );
        b.assert_user(&all[0], "ada").await;

        let reply = a
            .post("/api/logout-all", Some(&token_header(&all[0])))
            .await;
        assert_eq!(reply.status, 204, "{reply:?}");
        for token in &all {
            assert!(
                rejected_on(&b, token).await,
                "node B still accepts a token of a user logged out everywhere on node A"
            );
        }

        let reply = a.delete("/api/me", Some(&token_header(&deleted))).await;
        assert_eq!(reply.status, 204, "{reply:?}");
        assert!(
            rejected_on(&b, &deleted).await,
            "node B still accepts a token of an account deleted on node A"
        );
    }
}

/// Expands into one `#[tokio::test]` per demo-API case, in a module named
/// `$module`, run against the server `$launcher` starts: on SQLite; with a third
/// argument `postgres`, on a schema of its own on the PostgreSQL server in
/// `AUTHTOKEN_TEST_POSTGRES_URL`, where the two-node revocation case runs too; with
/// `mysql`, on a database of its own on the MySQL or MariaDB server in
/// `AUTHTOKEN_TEST_MYSQL_URL`. A case skips, with a line on stderr, when its
/// variable is not set.
#[macro_export]
macro_rules! demo_api_cases {
    ($module:ident, $launcher:ty) => {
        $crate::demo_api_cases!($module, $launcher, sqlite);
    };
    ($module:ident, $launcher:ty, sqlite) => {
        $crate::demo_api_cases!(@common $module, $launcher, sqlite, []);
    };
    ($module:ident, $launcher:ty, postgres) => {
        $crate::demo_api_cases!(@common $module, $launcher, postgres, [
            revocation_reaches_every_node,
        ]);
    };
    ($module:ident, $launcher:ty, mysql) => {
        $crate::demo_api_cases!(@common $module, $launcher, mysql, []);
    };
    (@common $module:ident, $launcher:ty, $backend:ident, [$($only:ident),* $(,)?]) => {
        $crate::demo_api_cases!(@expand $module, $launcher, $backend, [
            health_ignores_authorization,
            register_issues_a_working_token,
            register_validates_its_input,
            register_refuses_a_taken_name,
            login_issues_a_new_token_each_time,
            login_by_form,
            login_refuses_wrong_credentials,
            personal_tokens,
            protected_routes_require_credentials,
            malformed_authorization_headers,
            invalid_tokens,
            expired_token,
            missing_or_inactive_user,
            store_unavailable,
            both_keywords_any_case,
            logout_revokes_the_token_used,
            logout_all_revokes_every_token,
            delete_account_revokes_and_frees_the_name,
            unicode_usernames_round_trip,
            nfc_spellings_are_one_account,
            usernames_compare_exactly,
            concurrent_registrations_of_one_name,
            token_of_one_user_never_yields_another,
            concurrent_clients,
            malformed_headers_over_a_socket,
            restart_keeps_users_and_tokens,
            unknown_routes_answer_json,
            $($only,)*
        ]);
    };
    (@expand $module:ident, $launcher:ty, $backend:ident, [$($case:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(backend) = $crate::demo_api::Backend::$backend() {
                        $crate::demo_api::cases::$case::<$launcher>(backend).await;
                    }
                }
            )*
        }
    };
}
