//! Faults under traffic, over real HTTP: an axum app (`Authenticated`, the
//! authenticator in the router's state) on an `SqlxStore`, driven by a client in this
//! process while the database goes away and comes back.
//!
//! - PostgreSQL and MySQL/MariaDB (when their URLs are set): the app reaches the
//!   server through the TCP proxy of authtoken-sqlx's tests, which the test cuts
//!   during traffic and restores.
//! - SQLite: the database file is swapped for one that is not a database, then put
//!   back. The tests run as root, and `chmod 000` does not stop root, so the folder
//!   holding the file (with its `-wal` and `-shm`) is renamed away and a folder whose
//!   file of that name is garbage takes its place. A connection that is already open keeps reading the renamed file (POSIX
//!   and SQLite semantics), so the app's pool never reuses a connection: every query
//!   opens the file afresh, as a pool does once it has recycled its connections.
//! - Pool exhaustion: more concurrent requests than connections, and a pool whose
//!   every connection is held elsewhere.
//!
//! What must hold, at every moment: a revoked or unknown token is never 200, a valid
//! token is never 401, nothing but 200, 401 and 503 is answered, and no request hangs
//! (each must answer within `HANG_GUARD`, far above the pool's acquire timeout: it
//! proves "no hang", not speed). Inside the fault window a token the app has to look
//! up gets 503. A valid token in the app's cache may still get 200 in the window: that
//! is what the cache is for. When the database is back, everything recovers without a
//! restart.

#[path = "../../crates/authtoken-sqlx/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authtoken::{Authenticator, IssueOptions};
use authtoken_axum::Authenticated;
use authtoken_sqlx::{PoolConfig, SqlxStore};
use axum::Router;
use axum::routing::get;
use common::proxy::{Proxy, server_addr};
use common::{TestDb, TestUser, TestUsers};
use tokio::task::JoinSet;

/// The pool's acquire timeout: how long a request may wait for the database.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// Far above `ACQUIRE_TIMEOUT`: a request that takes longer hangs.
const HANG_GUARD: Duration = Duration::from_secs(30);
/// How long the fault lasts.
const FAULT: Duration = Duration::from_millis(1500);
/// Concurrent clients during the fault tests.
const CLIENTS: usize = 4;
/// Tokens issued for one use each, so that each one needs a store lookup.
const FRESH_TOKENS: usize = 300;

async fn me(user: Authenticated<TestUser>) -> String {
    user.user().id.clone()
}

/// Serves the app on an ephemeral port; stops when the returned set is dropped.
async fn serve(authenticator: Authenticator<TestUser>) -> (SocketAddr, JoinSet<()>) {
    let app = Router::new()
        .route("/me", get(me))
        .with_state(authenticator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let mut server = JoinSet::new();
    server.spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (address, server)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// `GET /me` with a token; panics when it takes longer than `HANG_GUARD`.
async fn get_me(client: &reqwest::Client, address: SocketAddr, token: &str) -> u16 {
    let request = client
        .get(format!("http://{address}/me"))
        .header("Authorization", format!("Token {token}"))
        .send();
    let response = tokio::time::timeout(HANG_GUARD, request)
        .await
        .unwrap_or_else(|_| panic!("a request hung for {HANG_GUARD:?}"))
        .expect("the app answers");
    response.status().as_u16()
}

/// What a token is to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// Valid, and in the app's cache since before the fault.
    Cached,
    /// Valid, never sent before: the app must look it up.
    Fresh,
    /// Revoked before the fault.
    Revoked,
    /// Well-formed, never issued.
    Unknown,
    /// Fails the checksum: refused without the store.
    Malformed,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Cached,
        Kind::Fresh,
        Kind::Revoked,
        Kind::Unknown,
        Kind::Malformed,
    ];

    /// The answer when the database is up.
    fn healthy(self) -> u16 {
        match self {
            Kind::Cached | Kind::Fresh => 200,
            Kind::Revoked | Kind::Unknown | Kind::Malformed => 401,
        }
    }

    /// The answers allowed for a request that ran entirely inside the fault.
    fn in_fault(self) -> &'static [u16] {
        match self {
            // The cache's point: a valid cached token may still be served.
            Kind::Cached => &[200, 503],
            Kind::Fresh | Kind::Revoked | Kind::Unknown => &[503],
            // Refused by its checksum, before the store is asked.
            Kind::Malformed => &[401],
        }
    }

    /// The answers allowed at any moment, fault or not.
    fn ever(self) -> &'static [u16] {
        match self {
            Kind::Cached | Kind::Fresh => &[200, 503],
            Kind::Revoked | Kind::Unknown => &[401, 503],
            Kind::Malformed => &[401],
        }
    }
}

/// The tokens of a fault test.
struct Tokens {
    cached: String,
    revoked: String,
    unknown: String,
    malformed: String,
    /// One use each; shared by the clients.
    fresh: Mutex<Vec<String>>,
}

impl Tokens {
    /// Issues the tokens through `authenticator` (the app's), caches one, revokes one.
    async fn issue(
        authenticator: &Authenticator<TestUser>,
        address: SocketAddr,
        client: &reqwest::Client,
    ) -> Self {
        let issue = |user: &'static str| {
            let authenticator = authenticator.clone();
            async move {
                authenticator
                    .issue(user, IssueOptions::new())
                    .await
                    .expect("issue")
            }
        };
        let cached = issue("1").await.token().expose_secret().to_owned();
        assert_eq!(get_me(client, address, &cached).await, 200);
        let revoked = issue("2").await;
        assert!(
            authenticator
                .revoke(revoked.info().id)
                .await
                .expect("revoke")
        );
        let revoked = revoked.token().expose_secret().to_owned();
        let unknown = authenticator.prefix().generate().expose_secret().to_owned();
        let mut malformed = unknown.clone().into_bytes();
        let last = malformed.len() - 1;
        malformed[last] = if malformed[last] == b'A' { b'B' } else { b'A' };
        let malformed = String::from_utf8(malformed).expect("ascii");
        // One at a time: SQLite writes one at a time anyway.
        let mut fresh = Vec::with_capacity(FRESH_TOKENS);
        for _ in 0..FRESH_TOKENS {
            fresh.push(issue("3").await.token().expose_secret().to_owned());
        }
        Self {
            cached,
            revoked,
            unknown,
            malformed,
            fresh: Mutex::new(fresh),
        }
    }

    /// A token of `kind`, or `None` when the fresh ones are used up.
    fn take(&self, kind: Kind) -> Option<String> {
        match kind {
            Kind::Cached => Some(self.cached.clone()),
            Kind::Fresh => self.fresh.lock().expect("lock").pop(),
            Kind::Revoked => Some(self.revoked.clone()),
            Kind::Unknown => Some(self.unknown.clone()),
            Kind::Malformed => Some(self.malformed.clone()),
        }
    }
}

/// One request: what was sent, when, and the answer.
#[derive(Debug)]
struct Sample {
    kind: Kind,
    started: Instant,
    ended: Instant,
    status: u16,
}

/// Clients that send every kind of token in turn until `stop`, and record every
/// answer.
fn traffic(
    address: SocketAddr,
    tokens: &Arc<Tokens>,
    stop: &Arc<AtomicBool>,
) -> JoinSet<Vec<Sample>> {
    let mut clients = JoinSet::new();
    for offset in 0..CLIENTS {
        let (tokens, stop) = (Arc::clone(tokens), Arc::clone(stop));
        clients.spawn(async move {
            let client = client();
            let mut samples = Vec::new();
            let mut turn = offset;
            while !stop.load(Ordering::SeqCst) {
                let kind = Kind::ALL[turn % Kind::ALL.len()];
                turn += 1;
                let Some(token) = tokens.take(kind) else {
                    continue;
                };
                let started = Instant::now();
                let status = get_me(&client, address, &token).await;
                if kind == Kind::Fresh && status == 503 {
                    // Not looked up, so not cached: still fresh.
                    tokens.fresh.lock().expect("lock").insert(0, token);
                }
                samples.push(Sample {
                    kind,
                    started,
                    ended: Instant::now(),
                    status,
                });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            samples
        });
    }
    clients
}

/// Polls `attempt` every 50 ms until it holds, for at most `HANG_GUARD`.
async fn eventually<F, Fut>(mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + HANG_GUARD;
    while Instant::now() < deadline {
        if attempt().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// What a fault test does to the database.
trait Fault {
    fn start(&mut self);
    fn end(&mut self);
}

/// Runs traffic, starts the fault, ends it, waits for recovery, and checks every
/// answer; `name` is for messages.
async fn fault_under_traffic(
    name: &str,
    authenticator: Authenticator<TestUser>,
    fault: &mut impl Fault,
) {
    let (address, _server) = serve(authenticator.clone()).await;
    let client = client();
    let tokens = Arc::new(Tokens::issue(&authenticator, address, &client).await);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = traffic(address, &tokens, &stop);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let fault_start = Instant::now();
    fault.start();
    tokio::time::sleep(FAULT).await;
    fault.end();
    let fault_end = Instant::now();

    // Recovers with no restart: a token it has to look up works again.
    let recovered = eventually(|| async {
        match tokens.take(Kind::Fresh) {
            Some(token) => get_me(&client, address, &token).await == 200,
            None => false,
        }
    })
    .await;
    assert!(recovered, "{name}: no recovery after the fault");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let samples: Vec<Sample> = clients.join_all().await.into_iter().flatten().collect();

    let mut in_fault: HashMap<(Kind, u16), usize> = HashMap::new();
    for sample in &samples {
        assert!(
            sample.kind.ever().contains(&sample.status),
            "{name}: {:?} token answered {} (allowed at any time: {:?})",
            sample.kind,
            sample.status,
            sample.kind.ever()
        );
        if sample.ended < fault_start {
            assert_eq!(
                sample.status,
                sample.kind.healthy(),
                "{name}: {:?} token before the fault",
                sample.kind
            );
        }
        if sample.started > fault_start && sample.ended < fault_end {
            assert!(
                sample.kind.in_fault().contains(&sample.status),
                "{name}: {:?} token answered {} inside the fault (allowed: {:?})",
                sample.kind,
                sample.status,
                sample.kind.in_fault()
            );
            *in_fault.entry((sample.kind, sample.status)).or_default() += 1;
        }
    }
    for kind in [Kind::Fresh, Kind::Revoked, Kind::Unknown] {
        assert!(
            in_fault.get(&(kind, 503)).copied().unwrap_or(0) > 0,
            "{name}: no {kind:?} request got 503 inside the fault: {in_fault:?}"
        );
    }
    // After recovery every kind answers as when healthy, the same tokens as before.
    for kind in Kind::ALL {
        let Some(token) = tokens.take(kind) else {
            continue;
        };
        assert_eq!(
            get_me(&client, address, &token).await,
            kind.healthy(),
            "{name}: {kind:?} token after recovery"
        );
    }
    let mut in_fault: Vec<_> = in_fault.into_iter().collect();
    in_fault.sort_by_key(|&((kind, status), _)| (kind as u8, status));
    eprintln!(
        "{name}: {} requests; inside the fault, (kind, status): count: {in_fault:?}",
        samples.len()
    );
}

struct CutProxy(Proxy);

impl Fault for CutProxy {
    fn start(&mut self) {
        self.0.cut();
    }
    fn end(&mut self) {
        self.0.restore();
    }
}

/// The app reaches the server at `db.url` through a proxy that is cut during traffic.
async fn proxy_cut_under_traffic(name: &str, db: &TestDb, default_port: u16) {
    let proxy = Proxy::start(server_addr(&db.url, default_port)).await;
    let store = SqlxStore::connect_with(
        &proxy.url_for(&db.url),
        PoolConfig::new()
            .max_connections(4)
            .acquire_timeout(ACQUIRE_TIMEOUT),
    )
    .await
    .expect("connect through the proxy");
    let authenticator = Authenticator::builder(store.clone(), TestUsers::new())
        .build()
        .expect("config");
    fault_under_traffic(name, authenticator, &mut CutProxy(proxy)).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_during_traffic_answers_503_then_recovers() {
    let Some(db) = common::postgres().await else {
        return;
    };
    proxy_cut_under_traffic("postgres", &db, 5432).await;
    db.store.close().await;
    if let Some(cleanup) = db.cleanup() {
        cleanup.run().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_cut_during_traffic_answers_503_then_recovers() {
    let Some(db) = common::mysql().await else {
        return;
    };
    proxy_cut_under_traffic("mysql", &db, 3306).await;
    db.store.close().await;
    if let Some(cleanup) = db.cleanup() {
        cleanup.run().await;
    }
}

/// Swaps the folder of an SQLite file for one whose file of that name is garbage, and
/// back. Two renames each way, so that the database file, its `-wal` and its `-shm`
/// always move together.
struct SwappedFolder {
    folder: PathBuf,
    file_name: &'static str,
}

impl SwappedFolder {
    fn renamed(&self, suffix: &str) -> PathBuf {
        let mut name = self.folder.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }
}

impl Fault for SwappedFolder {
    fn start(&mut self) {
        let garbage = self.renamed(".garbage");
        std::fs::create_dir(&garbage).expect("a folder");
        std::fs::write(
            garbage.join(self.file_name),
            b"this is not an SQLite database\n".repeat(200),
        )
        .expect("write garbage");
        std::fs::rename(&self.folder, self.renamed(".away")).expect("move the database away");
        std::fs::rename(&garbage, &self.folder).expect("put garbage in its place");
    }

    fn end(&mut self) {
        // Between the two renames the file is missing: opening it fails (the app's
        // pool never creates it), which is still the fault.
        std::fs::rename(&self.folder, self.renamed(".garbage")).expect("move the garbage away");
        std::fs::rename(self.renamed(".away"), &self.folder).expect("put the database back");
    }
}

/// An SQLite pool whose connections are never reused: every query opens the file,
/// which must exist.
async fn fresh_connection_pool(path: &Path, max_connections: u32) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_release(|_, _| Box::pin(async { Ok(false) }))
        .connect_with(options)
        .await
        .expect("open SQLite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_swapped_for_garbage_answers_503_then_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("db");
    std::fs::create_dir(&folder).expect("a folder");
    let path = folder.join("tokens.db");
    let setup = SqlxStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("create the database");
    setup.migrate().await.expect("migrate");
    setup.close().await;
    let store = SqlxStore::from_sqlite_pool(fresh_connection_pool(&path, 4).await);
    let authenticator = Authenticator::builder(store.clone(), TestUsers::new())
        .build()
        .expect("config");
    let mut fault = SwappedFolder {
        folder,
        file_name: "tokens.db",
    };
    fault_under_traffic("sqlite", authenticator, &mut fault).await;
    store.close().await;
}

/// 50 concurrent requests with tokens the app must look up (cache off) on a pool of
/// 2: each queues and succeeds, or answers 503; none hangs. Then the same with both
/// connections held elsewhere: each answers 503 within the acquire timeout (bounded
/// wait, no deadlock), and all succeed once they are released.
/// `hold` takes every connection of the pool (it runs only when awaited).
async fn pool_exhaustion(name: &str, store: SqlxStore, hold: impl Future<Output = Box<dyn Send>>) {
    const REQUESTS: usize = 50;
    let authenticator = Authenticator::builder(store, TestUsers::new())
        .cache_capacity(0)
        .build()
        .expect("config");
    let (address, _server) = serve(authenticator.clone()).await;
    let mut tokens = Vec::new();
    for _ in 0..REQUESTS {
        let issued = authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("issue");
        tokens.push(issued.token().expose_secret().to_owned());
    }
    let tokens = Arc::new(tokens);
    let burst = || {
        let tokens = Arc::clone(&tokens);
        async move {
            let client = client();
            let mut requests = JoinSet::new();
            for index in 0..REQUESTS {
                let (client, tokens) = (client.clone(), Arc::clone(&tokens));
                requests.spawn(async move { get_me(&client, address, &tokens[index]).await });
            }
            let mut statuses: HashMap<u16, usize> = HashMap::new();
            for status in requests.join_all().await {
                *statuses.entry(status).or_default() += 1;
            }
            statuses
        }
    };

    let queued = burst().await;
    assert!(
        queued.keys().all(|status| [200, 503].contains(status)),
        "{name}: {queued:?}"
    );
    assert!(
        queued.contains_key(&200),
        "{name}: nothing served: {queued:?}"
    );

    let held = hold.await;
    let starved = burst().await;
    assert_eq!(
        starved,
        HashMap::from([(503, REQUESTS)]),
        "{name}: with every connection held"
    );
    drop(held);

    let released = eventually(|| async { burst().await == HashMap::from([(200, REQUESTS)]) }).await;
    assert!(
        released,
        "{name}: no recovery once the connections are back"
    );
    eprintln!("{name}: {REQUESTS} on a pool of 2: {queued:?}; starved: {starved:?}");
}

fn two_connections() -> PoolConfig {
    PoolConfig::new()
        .max_connections(2)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pool_exhaustion_queues_or_answers_503() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tokens.db").display()
    );
    let store = SqlxStore::connect_with(&url, two_connections())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let pool = store.sqlite_pool().expect("sqlite").clone();
    pool_exhaustion("sqlite", store.clone(), async move {
        let first = pool.acquire().await.expect("a connection");
        let second = pool.acquire().await.expect("a connection");
        Box::new((first, second)) as Box<dyn Send>
    })
    .await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_exhaustion_queues_or_answers_503() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let store = SqlxStore::connect_with(&db.url, two_connections())
        .await
        .expect("connect");
    let pool = store.pg_pool().expect("postgres").clone();
    pool_exhaustion("postgres", store.clone(), async move {
        let first = pool.acquire().await.expect("a connection");
        let second = pool.acquire().await.expect("a connection");
        Box::new((first, second)) as Box<dyn Send>
    })
    .await;
    store.close().await;
    db.store.close().await;
    if let Some(cleanup) = db.cleanup() {
        cleanup.run().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_pool_exhaustion_queues_or_answers_503() {
    let Some(db) = common::mysql().await else {
        return;
    };
    let store = SqlxStore::connect_with(&db.url, two_connections())
        .await
        .expect("connect");
    let pool = store.mysql_pool().expect("mysql").clone();
    pool_exhaustion("mysql", store.clone(), async move {
        let first = pool.acquire().await.expect("a connection");
        let second = pool.acquire().await.expect("a connection");
        Box::new((first, second)) as Box<dyn Send>
    })
    .await;
    store.close().await;
    db.store.close().await;
    if let Some(cleanup) = db.cleanup() {
        cleanup.run().await;
    }
}
