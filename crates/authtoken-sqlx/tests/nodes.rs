//! Several nodes on one database: revocations reaching every node's cache (pushed on
//! PostgreSQL, bounded by the cache ttl elsewhere), and a database that goes away and
//! comes back.

mod common;

use std::future::Future;
use std::time::Duration;

use authtoken::{AuthError, Authenticator, Identity, IssueOptions, IssuedToken};
use authtoken_sqlx::{PoolConfig, RevocationListener, SqlxStore};
use common::proxy::{Proxy, server_addr};
use common::{Cleanup, TestUser, TestUsers};
use tokio::time::{Instant, sleep, timeout};

/// Long enough that only a pushed revocation, never the ttl, empties a cache here.
const LONG_CACHE_TTL: Duration = Duration::from_secs(3600);
/// How soon a revocation made on one node must be seen on the others (PostgreSQL).
const PUSH_DEADLINE: Duration = Duration::from_secs(1);
/// A hang guard: far longer than any bounded wait in these tests.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn node(store: SqlxStore, users: &TestUsers) -> Authenticator<TestUser> {
    Authenticator::builder(store, users.clone())
        .cache_ttl(LONG_CACHE_TTL)
        .build()
        .expect("config")
}

async fn check(
    node: &Authenticator<TestUser>,
    issued: &IssuedToken,
) -> Result<Option<Identity<TestUser>>, AuthError> {
    let header = format!("Bearer {}", issued.token().expose_secret());
    node.authenticate(Some(header.as_bytes())).await
}

/// Polls `attempt` until it returns true or `deadline` passes; true if it did.
async fn eventually<F, Fut>(deadline: Duration, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + deadline;
    loop {
        if attempt().await {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// Caches `issued` on `node`, then checks that it is served from that cache. A lookup
/// that overlaps a revocation heard on the channel does not cache what it read, and
/// the tests of this file run at once on one database, where they hear each other's
/// revocations: the node is asked again until the token is cached.
async fn cache_on(node: &Authenticator<TestUser>, issued: &IssuedToken) {
    let before = node.cached_tokens();
    let cached = eventually(PUSH_DEADLINE, || async {
        check(node, issued)
            .await
            .expect("authenticates")
            .expect("a user");
        node.cached_tokens() == before + 1
    })
    .await;
    assert!(cached, "cached on this node");
}

/// Revoked on A, the token is refused by B (whose cache held it) within the deadline.
async fn refused_within(node_b: &Authenticator<TestUser>, issued: &IssuedToken) -> bool {
    eventually(PUSH_DEADLINE, || async {
        check(node_b, issued).await.is_err()
    })
    .await
}

/// Two nodes on the database at `url`: A on a migrated store, B on its own pool with
/// a revocation listener running.
async fn listening_pair(
    url: &str,
    users: &TestUsers,
) -> (
    SqlxStore,
    SqlxStore,
    Authenticator<TestUser>,
    Authenticator<TestUser>,
    RevocationListener,
) {
    let store_a = migrated(url).await;
    let store_b = SqlxStore::connect(url).await.expect("connect node B");
    let node_a = node(store_a.clone(), users);
    let node_b = node(store_b.clone(), users);
    let listener = store_b
        .spawn_revocation_listener(node_b.clone())
        .await
        .expect("listen")
        .expect("PostgreSQL pushes revocations");
    (store_a, store_b, node_a, node_b, listener)
}

async fn postgres_schema() -> Option<(String, Cleanup)> {
    common::postgres_url().await
}

async fn migrated(url: &str) -> SqlxStore {
    let store = SqlxStore::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pushes_every_revocation_to_every_node() {
    let Some((url, cleanup)) = postgres_schema().await else {
        return;
    };
    let users = TestUsers::new();
    let (store_a, store_b, node_a, node_b, listener) = listening_pair(&url, &users).await;
    assert!(listener.is_running());

    // One token.
    let issued = node_a.issue("1", IssueOptions::new()).await.expect("issue");
    cache_on(&node_b, &issued).await;
    assert!(node_a.revoke(issued.info().id).await.expect("revoke"));
    assert!(refused_within(&node_b, &issued).await, "revoke one");
    assert_eq!(
        check(&node_b, &issued).await.err(),
        Some(AuthError::InvalidToken)
    );

    // Every token of a user (as deleting the user does).
    let mut theirs = Vec::new();
    for _ in 0..3 {
        let issued = node_a.issue("2", IssueOptions::new()).await.expect("issue");
        cache_on(&node_b, &issued).await;
        theirs.push(issued);
    }
    let kept = node_a.issue("3", IssueOptions::new()).await.expect("issue");
    cache_on(&node_b, &kept).await;
    assert_eq!(node_a.revoke_user("2").await.expect("revoke all"), 3);
    for issued in &theirs {
        assert!(refused_within(&node_b, issued).await, "revoke a user's");
    }
    assert!(
        check(&node_b, &kept).await.is_ok(),
        "another user's token stays"
    );

    // Rotation with no grace: the old token's expiry moves to now.
    let old = node_a.issue("4", IssueOptions::new()).await.expect("issue");
    cache_on(&node_b, &old).await;
    let new = node_a
        .rotate(old.info().id, Duration::ZERO)
        .await
        .expect("rotate");
    assert!(refused_within(&node_b, &old).await, "rotation");
    assert_eq!(
        check(&node_b, &old).await.err(),
        Some(AuthError::TokenExpired)
    );
    assert!(check(&node_b, &new).await.is_ok());

    // A row deleted by hand, outside this crate.
    let manual = node_a.issue("5", IssueOptions::new()).await.expect("issue");
    cache_on(&node_b, &manual).await;
    sqlx::query("DELETE FROM authtoken_tokens WHERE id = $1")
        .bind(manual.info().id.0)
        .execute(store_a.pg_pool().expect("postgres"))
        .await
        .expect("delete");
    assert!(refused_within(&node_b, &manual).await, "DELETE by hand");

    // A revocation that rolls back is not announced.
    let survivor = node_a.issue("6", IssueOptions::new()).await.expect("issue");
    cache_on(&node_b, &survivor).await;
    let mut tx = store_a
        .pg_pool()
        .expect("postgres")
        .begin()
        .await
        .expect("begin");
    sqlx::query("DELETE FROM authtoken_tokens WHERE id = $1")
        .bind(survivor.info().id.0)
        .execute(&mut *tx)
        .await
        .expect("delete");
    tx.rollback().await.expect("rollback");
    // Then a committed revocation of another token: once B has heard it, it would
    // have heard the rolled-back one too.
    let marker = node_a.issue("7", IssueOptions::new()).await.expect("issue");
    cache_on(&node_b, &marker).await;
    let cached = node_b.cached_tokens();
    assert!(node_a.revoke(marker.info().id).await.expect("revoke"));
    assert!(refused_within(&node_b, &marker).await);
    assert_eq!(
        node_b.cached_tokens(),
        cached - 1,
        "only the revoked token left"
    );
    assert!(check(&node_b, &survivor).await.is_ok());

    listener.stop();
    store_a.close().await;
    store_b.close().await;
    cleanup.run().await;
}

/// A user deactivated on one node (`user_changed`) is refused by every node whose
/// cache held the user's tokens, within the push deadline; other users stay cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pushes_user_changes_to_every_node() {
    let Some((url, cleanup)) = postgres_schema().await else {
        return;
    };
    let users = TestUsers::new();
    let (store_a, store_b, node_a, node_b, listener) = listening_pair(&url, &users).await;

    let mut theirs = Vec::new();
    for _ in 0..2 {
        let issued = node_a.issue("8", IssueOptions::new()).await.expect("issue");
        cache_on(&node_b, &issued).await;
        theirs.push(issued);
    }
    let other = node_a.issue("9", IssueOptions::new()).await.expect("issue");
    cache_on(&node_b, &other).await;

    // The application deactivates user 8 (in the users table both nodes read) and
    // says so on node A.
    users.set("8", Some(false));
    node_a.user_changed("8").await.expect("announce");
    for issued in &theirs {
        assert!(refused_within(&node_b, issued).await, "deactivated user");
        assert_eq!(
            check(&node_b, issued).await.err(),
            Some(AuthError::UserInactive)
        );
    }
    assert!(check(&node_b, &other).await.is_ok(), "another user stays");

    // A user id that is not a token digest, and holds the prefix's separator too.
    users.set("user:9", Some(true));
    let odd = node_a
        .issue("user:9", IssueOptions::new())
        .await
        .expect("issue");
    cache_on(&node_b, &odd).await;
    users.set("user:9", None);
    node_a.user_changed("user:9").await.expect("announce");
    assert!(refused_within(&node_b, &odd).await, "deleted user");
    assert!(check(&node_b, &other).await.is_ok(), "user 9 is not user:9");

    listener.stop();
    store_a.close().await;
    store_b.close().await;
    cleanup.run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_listener_reconnects_after_a_dropped_connection() {
    let Some((url, cleanup)) = postgres_schema().await else {
        return;
    };
    let users = TestUsers::new();
    let store_a = migrated(&url).await;
    let node_a = node(store_a.clone(), &users);

    // Node B reaches the database through a proxy that the test cuts.
    let proxy = Proxy::start(server_addr(&url, 5432)).await;
    let marker = format!("authtoken_listener_{}", std::process::id());
    let marker = format!("{marker}_{}", rand_suffix());
    let url_b = format!("{}&application_name={marker}", proxy.url_for(&url));
    let store_b = SqlxStore::connect_with(
        &url_b,
        PoolConfig::new().acquire_timeout(Duration::from_millis(300)),
    )
    .await
    .expect("connect node B");
    let node_b = node(store_b.clone(), &users);
    let listener = store_b
        .spawn_revocation_listener(node_b.clone())
        .await
        .expect("listen")
        .expect("PostgreSQL pushes revocations");

    let before = node_a.issue("1", IssueOptions::new()).await.expect("issue");
    cache_on(&node_b, &before).await;
    proxy.cut();
    sleep(Duration::from_millis(200)).await;
    proxy.restore();

    // The listener subscribes again by itself: wait until PostgreSQL shows it.
    let admin = store_a.pg_pool().expect("postgres").clone();
    let subscribed = eventually(HANG_GUARD, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE application_name = $1 AND query LIKE 'LISTEN%'",
        )
        .bind(&marker)
        .fetch_one(&admin)
        .await
        .is_ok_and(|count| count == 1)
    })
    .await;
    assert!(subscribed, "the listener subscribed again");
    assert!(listener.is_running());

    // Revocations made while it was away may be lost: the cache was cleared.
    assert!(
        eventually(HANG_GUARD, || async { node_b.cached_tokens() == 0 }).await,
        "cache cleared after reconnecting"
    );
    // And pushed revocations arrive again (twice, so that the second one cannot be
    // explained by that clearing).
    for _ in 0..2 {
        let issued = node_a.issue("1", IssueOptions::new()).await.expect("issue");
        cache_on(&node_b, &issued).await;
        assert!(node_a.revoke(issued.info().id).await.expect("revoke"));
        assert!(
            refused_within(&node_b, &issued).await,
            "pushed after reconnecting"
        );
    }

    drop(listener);
    store_a.close().await;
    store_b.close().await;
    cleanup.run().await;
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
        % 1_000_000_000
}

/// The database goes away: an uncached token gets 503 within the acquire timeout, never
/// 401 and never a user; a cached one is still served; when the database is back,
/// the same authenticator recovers.
async fn outage_then_recovery(url: &str, default_port: u16) {
    let users = TestUsers::new();
    let direct = migrated(url).await;
    let node_a = node(direct.clone(), &users);
    let proxy = Proxy::start(server_addr(url, default_port)).await;
    let store = SqlxStore::connect_with(
        &proxy.url_for(url),
        PoolConfig::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_millis(500)),
    )
    .await
    .expect("connect through the proxy");
    let authenticator = node(store.clone(), &users);

    let cached = node_a.issue("1", IssueOptions::new()).await.expect("issue");
    let uncached = node_a.issue("2", IssueOptions::new()).await.expect("issue");
    cache_on(&authenticator, &cached).await;

    proxy.cut();
    for _ in 0..2 {
        let answer = timeout(HANG_GUARD, check(&authenticator, &uncached))
            .await
            .expect("answers within the acquire timeout, not never");
        match answer {
            Err(error @ AuthError::Unavailable(_)) => assert_eq!(error.status(), 503),
            other => panic!("expected Unavailable (503), got {other:?}"),
        }
    }
    let issued = timeout(HANG_GUARD, authenticator.issue("3", IssueOptions::new()))
        .await
        .expect("answers");
    assert!(issued.is_err(), "nothing is issued without the database");
    assert!(
        check(&authenticator, &cached).await.is_ok(),
        "a cached token is served from the cache"
    );

    proxy.restore();
    let recovered = eventually(HANG_GUARD, || async {
        matches!(check(&authenticator, &uncached).await, Ok(Some(_)))
    })
    .await;
    assert!(recovered, "recovers once the database is back");
    let identity = check(&authenticator, &uncached)
        .await
        .expect("ok")
        .expect("user");
    assert_eq!(identity.user().id, "2");
    authenticator
        .issue("3", IssueOptions::new())
        .await
        .expect("issues again");

    store.close().await;
    direct.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_then_recovers() {
    let Some((url, cleanup)) = postgres_schema().await else {
        return;
    };
    outage_then_recovery(&url, 5432).await;
    cleanup.run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_outage_answers_503_then_recovers() {
    let Some((url, cleanup)) = common::mysql_url().await else {
        return;
    };
    outage_then_recovery(&url, 3306).await;
    cleanup.run().await;
}

/// Without a push, another node's revocation reaches a cache when the entry's ttl runs
/// out (the bound the README states); the case runs on every backend in
/// `tests/authenticator.rs`. Here: there is no listener to start on SQLite or MySQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_mysql_have_no_listener() {
    let users = TestUsers::new();
    let sqlite = common::sqlite_memory().await;
    let authenticator = node(sqlite.store.clone(), &users);
    assert!(
        sqlite
            .store
            .spawn_revocation_listener(authenticator)
            .await
            .expect("no error")
            .is_none()
    );
    if let Some(mysql) = common::mysql().await {
        let cleanup = mysql.cleanup();
        let authenticator = node(mysql.store.clone(), &users);
        assert!(
            mysql
                .store
                .spawn_revocation_listener(authenticator)
                .await
                .expect("no error")
                .is_none()
        );
        mysql.store.close().await;
        if let Some(cleanup) = cleanup {
            cleanup.run().await;
        }
    }
}
