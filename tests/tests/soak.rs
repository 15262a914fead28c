//! The soak: each example (axum, actix-web, rocket) in turn, started in-process on a
//! SQLite file, under a mixed load for `AUTHTOKEN_SOAK_SECONDS` seconds each, from
//! clients in this process over loopback.
//!
//! Skipped, with a loud line, unless `AUTHTOKEN_SOAK_SECONDS` is set (`.ci/run` sets
//! it to 60), so that `cargo test` stays fast on a laptop:
//!
//! ```text
//! AUTHTOKEN_SOAK_SECONDS=60 cargo test -p authtoken-behaviour --test soak -- --nocapture
//! ```
//!
//! The load: valid tokens (far more distinct ones than the authenticator's cache
//! holds, so that the cache keeps evicting), malformed ones, well-formed unknown
//! ones, revoked ones, expired ones, and a client that logs in, uses its token, logs
//! out (and now and then logs out everywhere) and checks that the token stopped
//! working. It checks:
//!
//! - no 5xx at all (there is no fault window in the soak);
//! - every answer is the one its token deserves: 200 with the user's name for a
//!   valid token, 401 "Invalid token." or "Token has expired." otherwise (or 429
//!   with `Retry-After` for a bad token, should a limiter refuse repeated bad
//!   tokens; a valid token is never 429);
//! - memory is flat after warm-up: the resident set (`VmRSS` of this process, which
//!   holds the server too) grows by less than `RSS_GROWTH_LIMIT` from the end of the
//!   warm-up (the first third) to the end, and the server's cache never holds more
//!   tokens than its capacity.
//!
//! The load is bounded in time (the duration, and `REQUEST_DEADLINE` per request)
//! and in count (`MAX_REQUESTS` per example).

mod launchers;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authtoken::{Authenticator, IssueOptions, ManualClock, UserIdLoader};
use authtoken_behaviour::demo_api::{Backend, LaunchError, RunningServer, TestDatabase};
use authtoken_demo::Demo;
use authtoken_sqlx::SqlxStore;
use launchers::OnDemo;
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// The variable that turns the soak on: seconds per example.
const SECONDS_VARIABLE: &str = "AUTHTOKEN_SOAK_SECONDS";
/// The demo's cache capacity: the core's default, which the demo keeps.
const CACHE_CAPACITY: usize = 10_000;
/// Distinct valid tokens: far more than the cache holds.
const VALID_TOKENS: usize = 3 * CACHE_CAPACITY;
/// Revoked and expired tokens.
const DEAD_TOKENS: usize = 500;
/// Clients sending token traffic, besides the login client.
const CLIENTS: usize = 4;
/// A request that takes longer fails the soak.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// At most this many requests per example.
const MAX_REQUESTS: u64 = 5_000_000;
/// How much the resident set may grow after warm-up, in KiB: a bounded cache and
/// allocator noise stay far below it; a cache that kept every token it saw would not
/// (`VALID_TOKENS` entries of several hundred bytes each, after warm-up).
const RSS_GROWTH_LIMIT_KIB: u64 = 24 * 1024;

const USER: &str = "soak user";
const LOGIN_USER: &str = "soak login";
const PASSWORD: &str = "correct horse battery staple";

/// `VmRSS` of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// What a request sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    Malformed,
    Unknown,
    Revoked,
    Expired,
}

/// The tokens the clients send.
struct Tokens {
    valid: Vec<String>,
    revoked: Vec<String>,
    expired: Vec<String>,
    unknown: Vec<String>,
}

/// Counters shared by the clients.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    server_errors: AtomicU64,
    limited: AtomicU64,
    logins: AtomicU64,
    logouts: AtomicU64,
    /// The first wrong answer, if any.
    wrong: Mutex<Option<String>>,
}

impl Counters {
    fn wrong(&self, message: String) {
        let mut wrong = self.wrong.lock().expect("lock");
        if wrong.is_none() {
            *wrong = Some(message);
        }
    }
}

/// One answer.
struct Answer {
    status: u16,
    retry_after: bool,
    body: String,
}

async fn send(request: reqwest::RequestBuilder, counters: &Counters) -> Option<Answer> {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let exchange = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body = response.text().await?;
        Ok::<_, reqwest::Error>(Answer {
            status,
            retry_after,
            body,
        })
    };
    match tokio::time::timeout(REQUEST_DEADLINE, exchange).await {
        Ok(Ok(answer)) => {
            if answer.status >= 500 {
                counters.server_errors.fetch_add(1, Ordering::Relaxed);
                counters.wrong(format!("{}: {}", answer.status, answer.body));
            }
            Some(answer)
        }
        Ok(Err(error)) => {
            counters.wrong(format!("no answer: {error}"));
            None
        }
        Err(_) => {
            counters.wrong(format!("no answer within {REQUEST_DEADLINE:?}"));
            None
        }
    }
}

fn detail(answer: &Answer) -> Option<String> {
    serde_json::from_str::<Value>(&answer.body)
        .ok()?
        .get("detail")?
        .as_str()
        .map(str::to_owned)
}

/// Whether `answer` is right for a token of `kind`.
fn correct(kind: Kind, answer: &Answer) -> bool {
    let refused = |expected: &str| {
        (answer.status == 401 && detail(answer).as_deref() == Some(expected))
            || (answer.status == 429 && answer.retry_after)
    };
    match kind {
        Kind::Valid => {
            answer.status == 200
                && serde_json::from_str::<Value>(&answer.body)
                    .is_ok_and(|body| body["username"] == USER)
        }
        Kind::Malformed | Kind::Unknown | Kind::Revoked => refused("Invalid token."),
        Kind::Expired => refused("Token has expired."),
    }
}

/// A client sending tokens of every kind until `stop`.
async fn token_client(
    base: Arc<str>,
    tokens: Arc<Tokens>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    offset: usize,
) {
    // Out of 20 requests: 12 valid, 2 of each other kind.
    const MIX: [Kind; 20] = {
        let mut mix = [Kind::Valid; 20];
        mix[3] = Kind::Malformed;
        mix[13] = Kind::Malformed;
        mix[5] = Kind::Unknown;
        mix[15] = Kind::Unknown;
        mix[7] = Kind::Revoked;
        mix[17] = Kind::Revoked;
        mix[9] = Kind::Expired;
        mix[19] = Kind::Expired;
        mix
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let url = format!("{base}/api/me");
    let mut turn = offset;
    while !stop.load(Ordering::Relaxed) && counters.requests.load(Ordering::Relaxed) < MAX_REQUESTS
    {
        let kind = MIX[turn % MIX.len()];
        // Valid tokens in turn across all clients, so that all of them get used.
        let index = turn.wrapping_mul(CLIENTS).wrapping_add(offset);
        turn += 1;
        let token = match kind {
            Kind::Valid => tokens.valid[index % tokens.valid.len()].clone(),
            Kind::Malformed => format!("{}x", tokens.valid[index % tokens.valid.len()]),
            Kind::Unknown => tokens.unknown[index % tokens.unknown.len()].clone(),
            Kind::Revoked => tokens.revoked[index % tokens.revoked.len()].clone(),
            Kind::Expired => tokens.expired[index % tokens.expired.len()].clone(),
        };
        let request = http
            .get(&url)
            .header("Authorization", format!("Token {token}"));
        let Some(answer) = send(request, &counters).await else {
            continue;
        };
        if answer.status == 429 {
            counters.limited.fetch_add(1, Ordering::Relaxed);
        }
        if !correct(kind, &answer) {
            counters.wrong(format!(
                "a {kind:?} token got {} {:?}",
                answer.status, answer.body
            ));
        }
    }
}

/// A client that logs in, uses the token, logs out (every fifth round: logs out
/// everywhere) and checks that the token no longer works, until `stop`.
async fn login_client(base: Arc<str>, counters: Arc<Counters>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let mut round = 0_u64;
    while !stop.load(Ordering::Relaxed) && counters.requests.load(Ordering::Relaxed) < MAX_REQUESTS
    {
        round += 1;
        let login = http
            .post(format!("{base}/api/token"))
            .header("Content-Type", "application/json")
            .body(json!({ "username": LOGIN_USER, "password": PASSWORD }).to_string());
        let Some(answer) = send(login, &counters).await else {
            continue;
        };
        counters.logins.fetch_add(1, Ordering::Relaxed);
        let token = serde_json::from_str::<Value>(&answer.body)
            .ok()
            .and_then(|body| body["token"].as_str().map(str::to_owned));
        let (200, Some(token)) = (answer.status, token) else {
            counters.wrong(format!("login: {} {:?}", answer.status, answer.body));
            continue;
        };
        let header = format!("Token {token}");
        let me = |header: &str| {
            http.get(format!("{base}/api/me"))
                .header("Authorization", header)
        };
        if let Some(answer) = send(me(&header), &counters).await
            && answer.status != 200
        {
            counters.wrong(format!(
                "a fresh login got {} {:?}",
                answer.status, answer.body
            ));
        }
        let path = if round.is_multiple_of(5) {
            "/api/logout-all"
        } else {
            "/api/logout"
        };
        let logout = http
            .post(format!("{base}{path}"))
            .header("Authorization", &header);
        if let Some(answer) = send(logout, &counters).await {
            counters.logouts.fetch_add(1, Ordering::Relaxed);
            if answer.status != 204 {
                counters.wrong(format!("{path}: {} {:?}", answer.status, answer.body));
            }
        }
        if let Some(answer) = send(me(&header), &counters).await
            && !(answer.status == 401 && detail(&answer).as_deref() == Some("Invalid token."))
        {
            counters.wrong(format!(
                "a token after {path} got {} {:?}",
                answer.status, answer.body
            ));
        }
    }
}

/// Registers the users and mints the tokens, straight into the database (a pool of
/// its own that does not wait for the disk on every commit: 30 000 tokens, quickly).
async fn prepare(database: &TestDatabase, base: &str) -> Tokens {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    for username in [USER, LOGIN_USER] {
        let answer = http
            .post(format!("{base}/api/register"))
            .header("Content-Type", "application/json")
            .body(json!({ "username": username, "password": PASSWORD }).to_string())
            .send()
            .await
            .expect("register");
        assert_eq!(answer.status().as_u16(), 201, "register {username}");
    }
    let options: sqlx::sqlite::SqliteConnectOptions = database.url().parse().expect("a SQLite URL");
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            options
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10)),
        )
        .await
        .expect("open the demo database");
    let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
        .bind(USER)
        .fetch_one(&pool)
        .await
        .expect("the user");
    let user_id = user_id.to_string();
    let clock = Arc::new(ManualClock::starting_now());
    let minter = Authenticator::builder(SqlxStore::from_sqlite_pool(pool.clone()), UserIdLoader)
        .clock(clock.clone())
        .cache_capacity(0)
        .build()
        .expect("an authenticator");
    let mint = |options: IssueOptions| {
        let (minter, user_id) = (minter.clone(), user_id.clone());
        async move { minter.issue(&user_id, options).await.expect("issue") }
    };
    let mut valid = Vec::with_capacity(VALID_TOKENS);
    for _ in 0..VALID_TOKENS {
        let issued = mint(IssueOptions::new().never_expires()).await;
        valid.push(issued.token().expose_secret().to_owned());
    }
    let mut revoked = Vec::with_capacity(DEAD_TOKENS);
    for _ in 0..DEAD_TOKENS {
        let issued = mint(IssueOptions::new().never_expires()).await;
        assert!(minter.revoke(issued.info().id).await.expect("revoke"));
        revoked.push(issued.token().expose_secret().to_owned());
    }
    clock.set(time::OffsetDateTime::now_utc() - time::Duration::days(2));
    let mut expired = Vec::with_capacity(DEAD_TOKENS);
    for _ in 0..DEAD_TOKENS {
        let issued = mint(IssueOptions::new().expires_in(Duration::from_secs(3600))).await;
        expired.push(issued.token().expose_secret().to_owned());
    }
    let unknown = (0..DEAD_TOKENS)
        .map(|_| minter.prefix().generate().expose_secret().to_owned())
        .collect();
    pool.close().await;
    Tokens {
        valid,
        revoked,
        expired,
        unknown,
    }
}

/// Starts an example, handing its demo to the callback.
type LaunchFn = fn(&str, OnDemo) -> Result<RunningServer, LaunchError>;

/// What one example's soak measured.
struct Figures {
    requests: u64,
    server_errors: u64,
    limited: u64,
    logins: u64,
    logouts: u64,
    rss_start_kib: u64,
    rss_warm_kib: u64,
    rss_end_kib: u64,
    cached_tokens: usize,
}

async fn soak(name: &str, launch: LaunchFn, duration: Duration) -> Figures {
    let rss_start_kib = rss_kib();
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let (demo_tx, demo_rx) = std::sync::mpsc::channel::<Demo>();
    let url = database.url().to_owned();
    let server = tokio::task::spawn_blocking(move || {
        launch(
            &url,
            Box::new(move |demo: &Demo| {
                let _ = demo_tx.send(demo.clone());
            }),
        )
    })
    .await
    .expect("the launcher panicked")
    .unwrap_or_else(|error| panic!("{name} did not start: {error}"));
    let demo = demo_rx.recv().expect("the server's demo");
    let base: Arc<str> = format!("http://{}", server.address()).into();
    let tokens = Arc::new(prepare(&database, &base).await);

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for offset in 0..CLIENTS {
        clients.spawn(token_client(
            Arc::clone(&base),
            Arc::clone(&tokens),
            Arc::clone(&counters),
            Arc::clone(&stop),
            offset,
        ));
    }
    clients.spawn(login_client(
        Arc::clone(&base),
        Arc::clone(&counters),
        Arc::clone(&stop),
    ));

    let started = Instant::now();
    let mut cached_tokens = 0;
    let mut rss_warm_kib = None;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cached_tokens = cached_tokens.max(demo.authenticator().cached_tokens());
        if rss_warm_kib.is_none() && started.elapsed() >= duration / 3 {
            rss_warm_kib = Some(rss_kib());
        }
        if counters.wrong.lock().expect("lock").is_some() {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    clients.join_all().await;
    let rss_end_kib = rss_kib();
    drop(demo);
    server.stop().await;

    if let Some(wrong) = counters.wrong.lock().expect("lock").take() {
        panic!("{name}: {wrong}");
    }
    Figures {
        requests: counters.requests.load(Ordering::SeqCst),
        server_errors: counters.server_errors.load(Ordering::SeqCst),
        limited: counters.limited.load(Ordering::SeqCst),
        logins: counters.logins.load(Ordering::SeqCst),
        logouts: counters.logouts.load(Ordering::SeqCst),
        rss_start_kib,
        rss_warm_kib: rss_warm_kib.unwrap_or(rss_end_kib),
        rss_end_kib,
        cached_tokens,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_every_example() {
    let seconds = match std::env::var(SECONDS_VARIABLE) {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{SECONDS_VARIABLE} must be a number of seconds")),
        _ => {
            // Past the harness's capture, so that every run says so.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPING THE SOAK: set {SECONDS_VARIABLE} (seconds per example; .ci/run sets 60)"
            );
            return;
        }
    };
    let duration = Duration::from_secs(seconds);
    let examples: [(&str, LaunchFn); 3] = [
        ("axum example", launchers::launch_axum),
        ("actix-web example", launchers::launch_actix),
        ("rocket example", launchers::launch_rocket),
    ];
    let mut failures = Vec::new();
    for (name, launch) in examples {
        let figures = soak(name, launch, duration).await;
        let growth = figures.rss_end_kib.saturating_sub(figures.rss_warm_kib);
        {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "soak {name}: {seconds} s, {} requests ({} logins, {} logouts), {} 5xx, {} 429; \
                 VmRSS {} KiB at start, {} KiB after warm-up, {} KiB at the end (+{growth} KiB); \
                 most tokens cached {} (capacity {CACHE_CAPACITY})",
                figures.requests,
                figures.logins,
                figures.logouts,
                figures.server_errors,
                figures.limited,
                figures.rss_start_kib,
                figures.rss_warm_kib,
                figures.rss_end_kib,
                figures.cached_tokens,
            );
        }
        if figures.server_errors > 0 {
            failures.push(format!("{name}: {} 5xx", figures.server_errors));
        }
        if growth > RSS_GROWTH_LIMIT_KIB {
            failures.push(format!(
                "{name}: VmRSS grew by {growth} KiB after warm-up (limit {RSS_GROWTH_LIMIT_KIB})"
            ));
        }
        if figures.cached_tokens > CACHE_CAPACITY {
            failures.push(format!(
                "{name}: {} tokens cached, capacity {CACHE_CAPACITY}",
                figures.cached_tokens
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
