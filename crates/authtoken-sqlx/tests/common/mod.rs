//! What the store and authenticator tests share: the backends they run on, a store
//! that counts its calls, and a user loader with users that can be switched off.

#![allow(dead_code)]

pub mod proxy;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use authtoken::{
    InsertOutcome, NewToken, Slide, TokenDigest, TokenId, TokenInfo, TokenRecord, TokenStore,
    UserLoader,
};
use authtoken_sqlx::{PoolConfig, SqlxStore};
use sqlx::Connection as _;
use time::OffsetDateTime;

/// A database for one test: the store, and what keeps the database alive.
pub struct TestDb {
    pub store: SqlxStore,
    /// The URL of this test's own database (or schema, on PostgreSQL).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    cleanup: Option<Cleanup>,
}

impl TestDb {
    /// What drops this test's schema or database once the test is done with it.
    pub fn cleanup(&self) -> Option<Cleanup> {
        self.cleanup.clone()
    }
}

pub const POSTGRES_URL: &str = "AUTHTOKEN_TEST_POSTGRES_URL";
pub const MYSQL_URL: &str = "AUTHTOKEN_TEST_MYSQL_URL";

/// The server URL in `variable`, or a skip line and `None` when it is not set.
pub fn server_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipping: {variable} is not set");
            None
        }
    }
}

/// A name no other test, in this run or another, uses.
fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "authtoken_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000_000
    )
}

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{param}")
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Drops what a test created on a server.
#[derive(Clone, Debug)]
pub enum Cleanup {
    PostgresSchema {
        server_url: String,
        schema: String,
    },
    MySqlDatabase {
        server_url: String,
        database: String,
    },
}

impl Cleanup {
    pub async fn run(self) {
        let result = match &self {
            Cleanup::PostgresSchema { server_url, schema } => {
                match sqlx::PgConnection::connect(server_url).await {
                    Ok(mut conn) => sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                    )))
                    .execute(&mut conn)
                    .await
                    .map(drop),
                    Err(error) => Err(error),
                }
            }
            Cleanup::MySqlDatabase {
                server_url,
                database,
            } => match sqlx::MySqlConnection::connect(server_url).await {
                Ok(mut conn) => sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS `{database}`"
                )))
                .execute(&mut conn)
                .await
                .map(drop),
                Err(error) => Err(error),
            },
        };
        if let Err(error) = result {
            eprintln!("could not clean up {self:?}: {error}");
        }
    }
}

/// A fresh schema on the PostgreSQL server in `AUTHTOKEN_TEST_POSTGRES_URL`, made the
/// `search_path` of every connection through the returned URL. `None` (after a skip
/// line) when the variable is not set.
pub async fn postgres_url() -> Option<(String, Cleanup)> {
    let server_url = server_url(POSTGRES_URL)?;
    let schema = unique_name();
    let mut conn = sqlx::PgConnection::connect(&server_url)
        .await
        .unwrap_or_else(|error| panic!("{POSTGRES_URL}: cannot connect: {error}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let url = with_param(&server_url, &format!("options=-c%20search_path%3D{schema}"));
    Some((url, Cleanup::PostgresSchema { server_url, schema }))
}

/// A fresh database on the MySQL or MariaDB server in `AUTHTOKEN_TEST_MYSQL_URL`.
/// `None` (after a skip line) when the variable is not set.
pub async fn mysql_url() -> Option<(String, Cleanup)> {
    let server_url = server_url(MYSQL_URL)?;
    let database = unique_name();
    let mut conn = sqlx::MySqlConnection::connect(&server_url)
        .await
        .unwrap_or_else(|error| panic!("{MYSQL_URL}: cannot connect: {error}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE `{database}` CHARACTER SET utf8mb4"
    )))
    .execute(&mut conn)
    .await
    .expect("create database");
    let url = with_database(&server_url, &database);
    Some((
        url,
        Cleanup::MySqlDatabase {
            server_url,
            database,
        },
    ))
}

async fn migrated(url: String, cleanup: Cleanup) -> TestDb {
    let store = SqlxStore::connect_with(&url, PoolConfig::new().max_connections(5))
        .await
        .unwrap_or_else(|error| panic!("connect to the test database: {error}"));
    store.migrate().await.expect("migrate");
    TestDb {
        store,
        url,
        _dir: None,
        cleanup: Some(cleanup),
    }
}

/// A migrated store in a fresh PostgreSQL schema, or `None` when there is no server.
pub async fn postgres() -> Option<TestDb> {
    let (url, cleanup) = postgres_url().await?;
    Some(migrated(url, cleanup).await)
}

/// A migrated store in a fresh MySQL/MariaDB database, or `None` when there is none.
pub async fn mysql() -> Option<TestDb> {
    let (url, cleanup) = mysql_url().await?;
    Some(migrated(url, cleanup).await)
}

/// An in-memory SQLite database, migrated.
pub async fn sqlite_memory() -> TestDb {
    let url = "sqlite::memory:".to_owned();
    let store = SqlxStore::connect(&url)
        .await
        .expect("open in-memory SQLite");
    store.migrate().await.expect("migrate");
    TestDb {
        store,
        url,
        _dir: None,
        cleanup: None,
    }
}

/// An SQLite file in a fresh temporary folder, migrated.
pub async fn sqlite_file() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tokens.db").display()
    );
    let store = SqlxStore::connect(&url).await.expect("open SQLite file");
    store.migrate().await.expect("migrate");
    TestDb {
        store,
        url,
        _dir: Some(dir),
        cleanup: None,
    }
}

/// Counts the calls a store receives, by method.
#[derive(Clone)]
pub struct CountingStore<S> {
    pub inner: S,
    pub counts: Arc<Counts>,
}

#[derive(Default, Debug)]
pub struct Counts {
    pub inserts: AtomicUsize,
    pub finds: AtomicUsize,
    pub touches: AtomicUsize,
}

impl Counts {
    pub fn finds(&self) -> usize {
        self.finds.load(Ordering::SeqCst)
    }
    pub fn touches(&self) -> usize {
        self.touches.load(Ordering::SeqCst)
    }
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> (Self, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        (
            Self {
                inner,
                counts: Arc::clone(&counts),
            },
            counts,
        )
    }
}

impl<S: TokenStore + Clone> TokenStore for CountingStore<S> {
    type Error = S::Error;

    async fn insert(
        &self,
        token: &NewToken,
        limit: Option<u32>,
    ) -> Result<InsertOutcome, S::Error> {
        self.counts.inserts.fetch_add(1, Ordering::SeqCst);
        self.inner.insert(token, limit).await
    }
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, S::Error> {
        self.counts.finds.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_digest(digest).await
    }
    async fn get(&self, id: TokenId) -> Result<Option<TokenRecord>, S::Error> {
        self.inner.get(id).await
    }
    async fn revoke(&self, id: TokenId) -> Result<Option<TokenRecord>, S::Error> {
        self.inner.revoke(id).await
    }
    async fn revoke_user(&self, user_id: &str) -> Result<Vec<TokenRecord>, S::Error> {
        self.inner.revoke_user(user_id).await
    }
    async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>, S::Error> {
        self.inner.list(user_id).await
    }
    async fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> Result<bool, S::Error> {
        self.counts.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(id, used_at, slide).await
    }
    async fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> Result<bool, S::Error> {
        self.inner.shorten_expiry(id, at).await
    }
    async fn announce_user_change(&self, user_id: &str) -> Result<(), S::Error> {
        self.inner.announce_user_change(user_id).await
    }
    async fn replace_digest(
        &self,
        id: TokenId,
        digest: &TokenDigest,
        key_version: u32,
    ) -> Result<(), S::Error> {
        self.inner.replace_digest(id, digest, key_version).await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, S::Error> {
        self.inner.purge_expired(now).await
    }
}

/// A user of the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    pub id: String,
    pub active: bool,
}

/// Users "1" to "9" exist and are active until changed.
#[derive(Clone, Default)]
pub struct TestUsers {
    users: Arc<Mutex<HashMap<String, bool>>>,
}

impl TestUsers {
    pub fn new() -> Self {
        let users = Self::default();
        for id in 1..=9 {
            users.set(&id.to_string(), Some(true));
        }
        users
    }

    /// `Some(active)` creates or changes a user, `None` deletes it.
    pub fn set(&self, id: &str, state: Option<bool>) {
        let mut users = self.users.lock().expect("lock");
        match state {
            Some(active) => users.insert(id.to_owned(), active),
            None => users.remove(id),
        };
    }
}

impl UserLoader for TestUsers {
    type User = TestUser;
    type Error = Infallible;

    async fn load(&self, user_id: &str) -> Result<Option<TestUser>, Infallible> {
        let users = self.users.lock().expect("lock");
        Ok(users.get(user_id).map(|&active| TestUser {
            id: user_id.to_owned(),
            active,
        }))
    }

    fn is_active(&self, user: &TestUser) -> bool {
        user.active
    }
}

/// Expands each case (an `async fn(TestDb)` in the calling file's `cases` module) into
/// one test per backend: SQLite in memory and on a file always, PostgreSQL and MySQL
/// when their test URLs are set. Used with `#[macro_use] mod common;`.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(super::common::sqlite_memory().await).await;
                }
            )*
        }
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(super::common::sqlite_file().await).await;
                }
            )*
        }
        /// In a fresh schema on `AUTHTOKEN_TEST_POSTGRES_URL`; skipped when unset.
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::common::postgres().await else { return };
                    let cleanup = db.cleanup();
                    super::cases::$case(db).await;
                    if let Some(cleanup) = cleanup {
                        cleanup.run().await;
                    }
                }
            )*
        }
        /// In a fresh database on `AUTHTOKEN_TEST_MYSQL_URL`; skipped when unset.
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::common::mysql().await else { return };
                    let cleanup = db.cleanup();
                    super::cases::$case(db).await;
                    if let Some(cleanup) = cleanup {
                        cleanup.run().await;
                    }
                }
            )*
        }
    };
}
