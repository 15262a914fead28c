//! Authentication with the token cache off, so that every request reaches SQLite: in
//! memory and on a file, with 10^3 and 10^6 tokens stored. Three groups:
//! `authenticate_cache_off` (one request at a time), `round_trip` (`SELECT 1` on the
//! same pool: the part of each request that does not depend on the store's size) and
//! `authenticate_cache_off_concurrent` (64 requests at once, the time per request).
//! Then the largest store is compared with the smallest in alternating rounds, and
//! the ratio printed: what the 1.3x target is read from, since on a shared machine
//! a group measured minutes after another can differ by more than that.
//!
//! `cargo bench -p authtoken-sqlx --bench lookup`
//!
//! The 10^6 stores are filled inside SQLite in one transaction (a few seconds each);
//! set `AUTHTOKEN_BENCH_SIZES=1000` to measure the small stores alone.

use std::hint::black_box;
use std::time::{Duration, Instant};

use authtoken::{Authenticator, IssueOptions, UserIdLoader};
use authtoken_sqlx::SqlxStore;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sqlx::SqlitePool;

/// Rows written by one statement while filling a store.
const BATCH: u64 = 100_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn sizes() -> Vec<u64> {
    std::env::var("AUTHTOKEN_BENCH_SIZES")
        .ok()
        .map(|sizes| {
            sizes
                .split(',')
                .filter_map(|size| size.trim().parse().ok())
                .collect::<Vec<u64>>()
        })
        .filter(|sizes| !sizes.is_empty())
        .unwrap_or_else(|| vec![1_000, 1_000_000])
}

/// Adds `count` tokens of other users with random digests, in one transaction.
async fn fill(store: &SqlxStore, count: u64) {
    let pool = store.sqlite_pool().expect("a SQLite store");
    let mut transaction = pool.begin().await.expect("a transaction");
    let mut left = count;
    while left > 0 {
        let batch = left.min(BATCH);
        sqlx::query(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1) \
             INSERT INTO authtoken_tokens (digest, key_version, user_id, name, created_at) \
             SELECT randomblob(32), 0, CAST(x % 1000 AS TEXT), 'filler', 0 FROM n",
        )
        .bind(i64::try_from(batch).expect("a small batch"))
        .execute(&mut *transaction)
        .await
        .expect("filler rows");
        left -= batch;
    }
    transaction.commit().await.expect("committed");
}

/// A store of `size` tokens, one of them returned in a header; the cache is off.
async fn setup(url: &str, size: u64) -> (Authenticator<String>, SqlitePool, String) {
    let started = Instant::now();
    let store = SqlxStore::connect(url).await.expect("SQLite opens");
    store.migrate().await.expect("migrations");
    fill(&store, size - 1).await;
    let pool = store.sqlite_pool().expect("a SQLite store").clone();
    // A file store in its steady state: the rows just written moved from the
    // write-ahead log into the database file.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .expect("a checkpoint");
    let auth = Authenticator::builder(store, UserIdLoader)
        .cache_capacity(0)
        .build()
        .expect("settings");
    let issued = auth
        .issue("bench-user", IssueOptions::new().name("bench"))
        .await
        .expect("issued");
    let header = format!("Token {}", issued.token().expose_secret());
    auth.authenticate(Some(header.as_bytes()))
        .await
        .expect("valid")
        .expect("not anonymous");
    eprintln!("{url}: {size} tokens stored in {:?}", started.elapsed());
    (auth, pool, header)
}

/// Every store is filled before any is measured, so that filling the large ones does
/// not run between the measurements of the small ones.
fn cache_off(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut stores: Vec<Store> = Vec::new();
    for size in sizes() {
        let file = dir.path().join(format!("tokens-{size}.db"));
        for (name, url) in [
            ("sqlite_memory", "sqlite::memory:".to_owned()),
            (
                "sqlite_file",
                format!("sqlite://{}?mode=rwc", file.display()),
            ),
        ] {
            let (auth, pool, header) = rt.block_on(setup(&url, size));
            stores.push((name, size, auth, pool, header));
        }
    }

    // One request at a time: each lookup waits for the connection's worker thread to
    // wake, which on an idle machine costs more than the lookup itself; the
    // round-trip group measures that floor (`SELECT 1` on the same pool).
    let mut group = c.benchmark_group("authenticate_cache_off");
    configure(&mut group);
    for (name, size, auth, _, header) in &stores {
        group.bench_with_input(BenchmarkId::new(*name, size), header, |b, header| {
            b.iter(|| {
                rt.block_on(auth.authenticate(Some(black_box(header.as_bytes()))))
                    .expect("valid")
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("round_trip");
    configure(&mut group);
    for (name, size, _, pool, _) in &stores {
        group.bench_with_input(BenchmarkId::new(*name, size), pool, |b, pool| {
            b.iter(|| {
                rt.block_on(sqlx::query("SELECT 1").fetch_one(pool))
                    .expect("a row")
            });
        });
    }
    group.finish();

    // Under load, as a server sees it: CONCURRENT requests at once, so the worker
    // threads stay awake; the time is per request.
    let mut group = c.benchmark_group("authenticate_cache_off_concurrent");
    configure(&mut group);
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    for (name, size, auth, _, header) in &stores {
        group.bench_with_input(BenchmarkId::new(*name, size), header, |b, header| {
            b.iter(|| rt.block_on(authenticate_at_once(auth, header, CONCURRENT)));
        });
    }
    group.finish();

    paired_ratios(&rt, &stores);
    for (_, _, auth, _, _) in &stores {
        rt.block_on(auth.flush());
    }
}

/// Stores as set up: name, size, authenticator, pool, header.
type Store = (&'static str, u64, Authenticator<String>, SqlitePool, String);

/// Rounds of the paired comparison, and requests a store serves in each.
const PAIRED_ROUNDS: usize = 15;
const PAIRED_REQUESTS: usize = 2_000;

/// The largest store against the smallest of each kind, measured in alternation
/// (which goes first swaps every round) so that a machine growing slower or faster
/// weighs on both alike: the median of the per-round ratios, printed. One request
/// at a time, then `CONCURRENT` at once.
fn paired_ratios(rt: &tokio::runtime::Runtime, stores: &[Store]) {
    for kind in ["sqlite_memory", "sqlite_file"] {
        let of_kind: Vec<&Store> = stores.iter().filter(|store| store.0 == kind).collect();
        let (Some(small), Some(large)) = (
            of_kind.iter().min_by_key(|store| store.1),
            of_kind.iter().max_by_key(|store| store.1),
        ) else {
            continue;
        };
        if small.1 == large.1 {
            continue;
        }
        for concurrent in [1, CONCURRENT] {
            let mut ratios = Vec::with_capacity(PAIRED_ROUNDS);
            for round in 0..PAIRED_ROUNDS {
                let (first, second) = if round % 2 == 0 {
                    (small, large)
                } else {
                    (large, small)
                };
                let first_time = serve(rt, first, concurrent);
                let second_time = serve(rt, second, concurrent);
                let (small_time, large_time) = if round % 2 == 0 {
                    (first_time, second_time)
                } else {
                    (second_time, first_time)
                };
                ratios.push(large_time.as_secs_f64() / small_time.as_secs_f64());
            }
            ratios.sort_by(f64::total_cmp);
            eprintln!(
                "{kind}, {concurrent} request(s) at once: {} tokens take {:.2}x the time of {} \
                 (median of {PAIRED_ROUNDS} paired rounds of {PAIRED_REQUESTS} requests; \
                 range {:.2}x to {:.2}x)",
                large.1,
                ratios[PAIRED_ROUNDS / 2],
                small.1,
                ratios[0],
                ratios[PAIRED_ROUNDS - 1],
            );
        }
    }
}

/// The time `store` takes to authenticate `PAIRED_REQUESTS` requests, `concurrent`
/// at a time.
fn serve(rt: &tokio::runtime::Runtime, store: &Store, concurrent: usize) -> Duration {
    let (_, _, auth, _, header) = store;
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..PAIRED_REQUESTS / concurrent {
            authenticate_at_once(auth, header, concurrent).await;
        }
    });
    started.elapsed()
}

/// Authenticates `header` with `count` requests at once, each its own task, and
/// checks that every one was accepted.
async fn authenticate_at_once(auth: &Authenticator<String>, header: &str, count: usize) {
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..count {
        let auth = auth.clone();
        let header = header.to_owned();
        requests.spawn(async move {
            auth.authenticate(Some(header.as_bytes()))
                .await
                .map(|identity| identity.is_some())
        });
    }
    while let Some(done) = requests.join_next().await {
        assert!(matches!(done, Ok(Ok(true))), "authenticated");
    }
}

/// Requests in flight at once in the concurrent group.
const CONCURRENT: usize = 64;

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
}

criterion_group!(benches, cache_off);
criterion_main!(benches);
