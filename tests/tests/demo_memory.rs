//! The examples' memory under a flood of logins: 200 at once, five times over, keep
//! the process's resident size within a bound set by the hashing threads (each
//! Argon2id hash holds about 19 MiB while it runs), not by the number of logins. A
//! test binary of its own, so that no other test's memory is counted. Linux only (the
//! resident size is read from `/proc/self/status`); elsewhere it says so and passes.

mod launchers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use authtoken_behaviour::demo_api::{Backend, Client, Launcher, TestDatabase, launch};
use launchers::{ActixLauncher, AxumLauncher, RocketLauncher};

/// Logins sent at once.
const AT_ONCE: usize = 200;
/// Floods per example.
const ROUNDS: usize = 5;
const MIB: u64 = 1024 * 1024;

/// The process's resident size in bytes, or `None` where `/proc` does not tell it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// How much the resident size may grow: the hashing threads' memory (each Argon2id
/// hash holds 19 MiB while it runs, and glibc's allocator keeps what a thread freed
/// in that thread's arena for the next hash: about five hashes' worth per thread at
/// most here, so eight are allowed), and 96 MiB for the connections, the client and
/// the runtime. A hash per login at once would take 200 x 19 MiB.
fn allowed_growth() -> u64 {
    let threads = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    threads * 8 * 19 * MIB + 96 * MIB
}

/// How much the resident size may grow from the end of the first flood to the end of
/// the last: what the first flood took is reused, not added to.
const ALLOWED_LATER_GROWTH: u64 = 32 * MIB;

async fn logins_keep_memory_bounded<L: Launcher>() {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    if resident_bytes().is_none() {
        eprintln!("SKIPPED: no /proc/self/status here, so the resident size is unknown");
        return;
    }
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let server = launch::<L>(&database).await;
    let client = Client::new(server.address());
    client.register_ok("ada", "correct horse").await;
    // Warm: the hashing threads, the dummy hash, a connection.
    client.login_ok("ada", "correct horse").await;
    let before = resident_bytes().unwrap_or_default();

    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                if let Some(now) = resident_bytes() {
                    peak.fetch_max(now, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let (mut logged_in, mut refused) = (0, 0);
    let mut after_first = None;
    for _ in 0..ROUNDS {
        let replies = futures_util::future::join_all((0..AT_ONCE).map(|_| {
            let client = client.clone();
            async move { client.login("ada", "correct horse").await }
        }))
        .await;
        for reply in &replies {
            match reply.status {
                200 => logged_in += 1,
                503 => {
                    assert_eq!(reply.retry_after.as_deref(), Some("1"), "{reply:?}");
                    refused += 1;
                }
                _ => panic!("{}: expected 200 or 503: {reply:?}", L::NAME),
            }
        }
        after_first = after_first.or(resident_bytes());
    }
    done.store(true, Ordering::SeqCst);
    sampler.await.expect("the sampler ran");
    let after = resident_bytes().unwrap_or_default();
    let peak = peak.load(Ordering::SeqCst).max(after);
    let growth = peak.saturating_sub(before);
    eprintln!(
        "{}: resident {} MiB before, peak {} MiB, {} MiB after; {logged_in} logins, {refused} refused with 503",
        L::NAME,
        before / MIB,
        peak / MIB,
        after / MIB
    );
    assert!(logged_in > 0, "{}: no login succeeded", L::NAME);
    assert!(
        growth <= allowed_growth(),
        "{}: the resident size grew by {} MiB under {AT_ONCE} logins at once (allowed {} MiB)",
        L::NAME,
        growth / MIB,
        allowed_growth() / MIB
    );
    let after_first = after_first.unwrap_or_default();
    assert!(
        after.saturating_sub(after_first) <= ALLOWED_LATER_GROWTH,
        "{}: the resident size kept growing: {} MiB after the first flood, {} MiB after the last",
        L::NAME,
        after_first / MIB,
        after / MIB
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_example() {
    logins_keep_memory_bounded::<AxumLauncher>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_example() {
    logins_keep_memory_bounded::<ActixLauncher>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_example() {
    logins_keep_memory_bounded::<RocketLauncher>().await;
}
