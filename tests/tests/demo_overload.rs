//! The examples when password hashing is overloaded: more registrations at once than
//! the hashing threads and their queue hold are answered 503 with `Retry-After`, and
//! the rest succeed. A test binary of its own, so that no other test's registration
//! finds the process's hashing queue full.

mod launchers;

use authtoken_behaviour::demo_api::{Backend, Client, Launcher, TestDatabase, launch};
use launchers::{ActixLauncher, AxumLauncher, RocketLauncher};

/// Registrations sent at once, well above the queue (64) and the threads (one per
/// core) together.
const AT_ONCE: usize = 300;

/// Floods `L`'s example with registrations until some are refused; every refusal is a
/// 503 with `Retry-After: 1` and a JSON body, every other answer a 201.
async fn overload_answers_retry_after<L: Launcher>() {
    // One example at a time: each flood opens hundreds of connections.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let server = launch::<L>(&database).await;
    let client = Client::new(server.address());
    for round in 0..5 {
        let replies = futures_util::future::join_all((0..AT_ONCE).map(|n| {
            let client = client.clone();
            async move { client.register(&format!("user {round} {n}"), "pw").await }
        }))
        .await;
        let mut refused = 0;
        for reply in &replies {
            match reply.status {
                201 => {}
                503 => {
                    refused += 1;
                    assert_eq!(reply.retry_after.as_deref(), Some("1"), "{reply:?}");
                    assert!(reply.json_body()["detail"].is_string(), "{reply:?}");
                }
                _ => panic!("{}: expected 201 or 503: {reply:?}", L::NAME),
            }
        }
        if refused > 0 {
            return;
        }
    }
    panic!(
        "{}: {AT_ONCE} registrations at once never filled the hashing queue",
        L::NAME
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_example() {
    overload_answers_retry_after::<AxumLauncher>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_example() {
    overload_answers_retry_after::<ActixLauncher>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_example() {
    overload_answers_retry_after::<RocketLauncher>().await;
}
