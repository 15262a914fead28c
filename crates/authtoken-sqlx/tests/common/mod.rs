//! What the store and authenticator tests share: the backends they run on, a store
//! that counts its calls, and a user loader with users that can be switched off.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use authtoken::{
    InsertOutcome, NewToken, TokenDigest, TokenId, TokenInfo, TokenRecord, TokenStore, UserLoader,
};
use authtoken_sqlx::SqlxStore;
use time::OffsetDateTime;

/// A database for one test: the store, and what keeps the database alive.
pub struct TestDb {
    pub store: SqlxStore,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
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
        expires: Option<OffsetDateTime>,
    ) -> Result<(), S::Error> {
        self.counts.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(id, used_at, expires).await
    }
    async fn set_expiry(
        &self,
        id: TokenId,
        expires: Option<OffsetDateTime>,
    ) -> Result<bool, S::Error> {
        self.inner.set_expiry(id, expires).await
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
