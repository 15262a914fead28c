//! What the adapter's tests share: a counting store and an authenticated user.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authtoken::{
    Authenticator, InsertOutcome, IssueOptions, MemoryStore, NewToken, Slide, TokenDigest, TokenId,
    TokenInfo, TokenRecord, TokenStore, UserIdLoader,
};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use time::OffsetDateTime;

/// A memory store that counts lookups by digest.
#[derive(Clone, Default)]
pub struct CountingStore {
    memory: Arc<MemoryStore>,
    /// How many lookups by digest the store answered.
    pub lookups: Arc<AtomicUsize>,
}

impl TokenStore for CountingStore {
    type Error = Infallible;

    async fn insert(
        &self,
        token: &NewToken,
        limit: Option<u32>,
    ) -> Result<InsertOutcome, Infallible> {
        self.memory.insert(token, limit).await
    }
    async fn find_by_digest(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<TokenRecord>, Infallible> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.memory.find_by_digest(digest).await
    }
    async fn get(&self, id: TokenId) -> Result<Option<TokenRecord>, Infallible> {
        self.memory.get(id).await
    }
    async fn revoke(&self, id: TokenId) -> Result<Option<TokenRecord>, Infallible> {
        self.memory.revoke(id).await
    }
    async fn revoke_user(&self, user_id: &str) -> Result<Vec<TokenRecord>, Infallible> {
        self.memory.revoke_user(user_id).await
    }
    async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>, Infallible> {
        self.memory.list(user_id).await
    }
    async fn touch(
        &self,
        id: TokenId,
        at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> Result<bool, Infallible> {
        self.memory.touch(id, at, slide).await
    }
    async fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> Result<bool, Infallible> {
        self.memory.shorten_expiry(id, at).await
    }
    async fn replace_digest(
        &self,
        id: TokenId,
        digest: &TokenDigest,
        version: u32,
    ) -> Result<(), Infallible> {
        self.memory.replace_digest(id, digest, version).await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, Infallible> {
        self.memory.purge_expired(now).await
    }
}

/// An authenticator without a token cache (every valid token is looked up), its
/// store's lookup count, and the `Authorization` header of a token issued to alice.
pub struct Setup {
    pub auth: Authenticator<String>,
    pub lookups: Arc<AtomicUsize>,
    pub header: String,
}

pub async fn setup() -> Setup {
    let store = CountingStore::default();
    let lookups = Arc::clone(&store.lookups);
    let auth = Authenticator::builder(store, UserIdLoader)
        .cache_capacity(0)
        .build()
        .expect("valid settings");
    let issued = auth
        .issue("alice", IssueOptions::new())
        .await
        .expect("issued");
    let header = format!("Token {}", issued.token().expose_secret());
    Setup {
        auth,
        lookups,
        header,
    }
}

/// The status and the body, as text, of `response`.
pub async fn read<B>(response: Response<B>) -> (StatusCode, String)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let status = response.status();
    let body = response.into_body().collect().await.expect("a body");
    let text = String::from_utf8(body.to_bytes().to_vec()).expect("a UTF-8 body");
    (status, text)
}
