//! Authentication with the token cache off, so that every request reaches SQLite: in
//! memory and on a file, with 10^3 and 10^6 tokens stored.
//!
//! `cargo bench -p authtoken-sqlx --bench lookup`
//!
//! The 10^6 stores are filled inside SQLite in one transaction (a few seconds each);
//! set `AUTHTOKEN_BENCH_SIZES=1000` to measure the small stores alone.

use std::hint::black_box;
use std::time::{Duration, Instant};

use authtoken::{Authenticator, IssueOptions, UserIdLoader};
use authtoken_sqlx::SqlxStore;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

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
async fn setup(url: &str, size: u64) -> (Authenticator<String>, String) {
    let started = Instant::now();
    let store = SqlxStore::connect(url).await.expect("SQLite opens");
    store.migrate().await.expect("migrations");
    fill(&store, size - 1).await;
    let auth = Authenticator::builder(store, UserIdLoader)
        .cache_capacity(0)
        .build()
        .expect("settings");
    let issued = auth
        .issue("bench-user", IssueOptions::new().name("bench"))
        .await
        .expect("issued");
    let header = format!("Token {}", issued.token().expose_secret());
    eprintln!("{url}: {size} tokens stored in {:?}", started.elapsed());
    (auth, header)
}

fn cache_off(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group("authenticate_cache_off");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for size in sizes() {
        let file = dir.path().join(format!("tokens-{size}.db"));
        let stores = [
            ("sqlite_memory", "sqlite::memory:".to_owned()),
            (
                "sqlite_file",
                format!("sqlite://{}?mode=rwc", file.display()),
            ),
        ];
        for (name, url) in stores {
            let (auth, header) = rt.block_on(setup(&url, size));
            rt.block_on(auth.authenticate(Some(header.as_bytes())))
                .expect("valid")
                .expect("not anonymous");
            group.bench_with_input(BenchmarkId::new(name, size), &header, |b, header| {
                b.iter(|| {
                    rt.block_on(auth.authenticate(Some(black_box(header.as_bytes()))))
                        .expect("valid")
                });
            });
            rt.block_on(auth.flush());
        }
    }
    group.finish();
}

criterion_group!(benches, cache_off);
criterion_main!(benches);
