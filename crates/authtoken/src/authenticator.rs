//! The [`Authenticator`]: header in, user out; and the token lifecycle.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::batch::{Batcher, Turn};
use crate::cache::DigestCache;
use crate::clock::{
    Clock, SystemClock, from_unix_micros, to_store_precision, unix_micros, unix_millis,
};
use crate::digest::{TokenDigest, TokenHasher};
use crate::error::{AuthError, Challenge, ErrorResponse, IssueError, StoreError};
use crate::header::{Keyword, parse_authorization, parse_authorization_headers};
use crate::limiter::{InvalidTokenLimit, Limiter};
use crate::store::{
    InsertOutcome, JoinedLookup, NewToken, Slide, TokenId, TokenInfo, TokenRecord, TokenStore,
    TokenWithUser, check_user_id,
};
use crate::token::{PlaintextToken, TokenPrefix, classify};
use crate::user::UserLoader;

/// A request's authenticated user and the token it came with. Cheap to clone: one
/// shared pointer, to the value the cache holds.
pub struct Identity<U> {
    shared: Arc<Shared<U>>,
}

/// What an [`Identity`] points to: the user and the token's state, in one allocation.
struct Shared<U> {
    token: TokenState,
    user: U,
}

impl<U> Identity<U> {
    /// Pairs a user with a token's metadata.
    pub fn new(user: U, token: TokenInfo) -> Self {
        Self::read_at(user, token, 0, 0)
    }

    /// An identity built from a store read that began at revocation count `epoch`
    /// and millisecond `read_at` of the monotonic clock.
    fn read_at(user: U, token: TokenInfo, read_at: i64, epoch: u64) -> Self {
        let expires = token.expires.map_or(NEVER, unix_micros);
        let limit = token.expiry_limit.map_or(expires, unix_micros).max(expires);
        let last_used = token.last_used.map_or(i64::MIN, unix_millis);
        Self::from_shared(Arc::new(Shared {
            token: TokenState {
                info: token,
                expires: AtomicI64::new(expires),
                limit,
                last_touch: AtomicI64::new(last_used),
                read_at,
                epoch: AtomicU64::new(epoch),
            },
            user,
        }))
    }

    /// The identity of a cached value.
    fn from_shared(shared: Arc<Shared<U>>) -> Self {
        Self { shared }
    }

    /// The value, as the cache keeps it.
    fn shared(&self) -> &Arc<Shared<U>> {
        &self.shared
    }

    fn state(&self) -> &TokenState {
        &self.shared.token
    }

    /// The user.
    pub fn user(&self) -> &U {
        &self.shared.user
    }

    /// The token's metadata (never its secret).
    pub fn token(&self) -> &TokenInfo {
        &self.shared.token.info
    }

    /// True when the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.token().has_scope(scope)
    }

    /// `Ok` when the token carries `scope`.
    ///
    /// # Errors
    ///
    /// [`AuthError::InsufficientScope`] (403) otherwise.
    pub fn require_scope(&self, scope: &str) -> Result<(), AuthError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: scope.into(),
            })
        }
    }
}

impl<U> Clone for Identity<U> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<U: fmt::Debug> fmt::Debug for Identity<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("user", self.user())
            .field("token", self.token())
            .finish()
    }
}

/// How long a token issued with [`IssueOptions`] lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Lifetime {
    /// The configured `token_ttl`; with sliding expiry, moving with use up to
    /// `max_sliding_lifetime`.
    #[default]
    Configured,
    Never,
    /// Exactly this long: it never slides.
    For(Duration),
    /// A rotation's replacement: expires after `expires_in`, may slide up to
    /// `limit_in`.
    Span {
        expires_in: Duration,
        limit_in: Duration,
    },
}

/// The longest duration any setting or token lifetime may be: 100 years. Longer ones
/// are refused where they enter ([`ConfigError`], [`IssueError::InvalidLifetime`]), so
/// that no date arithmetic can overflow.
pub const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `at + by`, or [`IssueError::InvalidLifetime`] when `by` is over [`MAX_LIFETIME`]
/// or the sum leaves the calendar.
fn add_lifetime(at: OffsetDateTime, by: Duration) -> Result<OffsetDateTime, IssueError> {
    if by > MAX_LIFETIME {
        return Err(IssueError::InvalidLifetime);
    }
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| at.checked_add(by))
        .ok_or(IssueError::InvalidLifetime)
}

/// What to issue: a name (device label), scopes and a lifetime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueOptions {
    name: String,
    scopes: Vec<String>,
    lifetime: Lifetime,
}

impl IssueOptions {
    /// No name, no scopes, the configured lifetime.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the name, such as a device label.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Expires after `ttl`, whatever the configured lifetime; sliding expiry never
    /// moves it. At most [`MAX_LIFETIME`] ([`IssueError::InvalidLifetime`] otherwise).
    #[must_use]
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.lifetime = Lifetime::For(ttl);
        self
    }

    /// Never expires, whatever the configured lifetime.
    #[must_use]
    pub fn never_expires(mut self) -> Self {
        self.lifetime = Lifetime::Never;
        self
    }
}

/// A freshly issued token: the plaintext, returned this once, and its metadata.
#[derive(Debug)]
pub struct IssuedToken {
    token: PlaintextToken,
    info: TokenInfo,
}

impl IssuedToken {
    /// The plaintext token, to hand to the client.
    pub fn token(&self) -> &PlaintextToken {
        &self.token
    }

    /// The metadata.
    pub fn info(&self) -> &TokenInfo {
        &self.info
    }

    /// Both halves.
    pub fn into_parts(self) -> (PlaintextToken, TokenInfo) {
        (self.token, self.info)
    }
}

/// A setting given to [`AuthenticatorBuilder`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No keyword was accepted.
    #[error("at least one authorization keyword must be accepted")]
    NoKeywords,
    /// Sliding expiry needs a token lifetime to slide.
    #[error("sliding expiry needs a token lifetime (token_ttl)")]
    SlidingWithoutTtl,
    /// A duration setting is longer than [`MAX_LIFETIME`].
    #[error("{setting} must be at most 100 years")]
    DurationTooLong {
        /// The builder method that was given it.
        setting: &'static str,
    },
}

type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// [`TokenStore`] made object-safe, so that an [`Authenticator`] is generic over the
/// user type alone (a rocket guard or an actix extractor can name it).
trait ErasedStore: Send + Sync + 'static {
    fn insert<'a>(
        &'a self,
        token: &'a NewToken,
        limit: Option<u32>,
    ) -> StoreFuture<'a, InsertOutcome>;
    fn find_by_digest<'a>(
        &'a self,
        digest: &'a TokenDigest,
    ) -> StoreFuture<'a, Option<TokenRecord>>;
    fn get(&self, id: TokenId) -> StoreFuture<'_, Option<TokenRecord>>;
    fn revoke(&self, id: TokenId) -> StoreFuture<'_, Option<TokenRecord>>;
    fn revoke_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<TokenRecord>>;
    fn list<'a>(&'a self, user_id: Option<&'a str>) -> StoreFuture<'a, Vec<TokenInfo>>;
    fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> StoreFuture<'_, bool>;
    fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> StoreFuture<'_, bool>;
    fn announce_user_change<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()>;
    fn replace_digest<'a>(
        &'a self,
        id: TokenId,
        digest: &'a TokenDigest,
        key_version: u32,
    ) -> StoreFuture<'a, ()>;
    fn purge_expired(&self, now: OffsetDateTime) -> StoreFuture<'_, u64>;
}

impl<S: TokenStore> ErasedStore for S {
    fn insert<'a>(
        &'a self,
        token: &'a NewToken,
        limit: Option<u32>,
    ) -> StoreFuture<'a, InsertOutcome> {
        Box::pin(async move {
            TokenStore::insert(self, token, limit)
                .await
                .map_err(StoreError::new)
        })
    }
    fn find_by_digest<'a>(
        &'a self,
        digest: &'a TokenDigest,
    ) -> StoreFuture<'a, Option<TokenRecord>> {
        Box::pin(async move {
            TokenStore::find_by_digest(self, digest)
                .await
                .map_err(StoreError::new)
        })
    }
    fn get(&self, id: TokenId) -> StoreFuture<'_, Option<TokenRecord>> {
        Box::pin(async move { TokenStore::get(self, id).await.map_err(StoreError::new) })
    }
    fn revoke(&self, id: TokenId) -> StoreFuture<'_, Option<TokenRecord>> {
        Box::pin(async move { TokenStore::revoke(self, id).await.map_err(StoreError::new) })
    }
    fn revoke_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<TokenRecord>> {
        Box::pin(async move {
            TokenStore::revoke_user(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
    fn list<'a>(&'a self, user_id: Option<&'a str>) -> StoreFuture<'a, Vec<TokenInfo>> {
        Box::pin(async move {
            TokenStore::list(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
    fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            TokenStore::touch(self, id, used_at, slide)
                .await
                .map_err(StoreError::new)
        })
    }
    fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            TokenStore::shorten_expiry(self, id, at)
                .await
                .map_err(StoreError::new)
        })
    }
    fn announce_user_change<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            TokenStore::announce_user_change(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
    fn replace_digest<'a>(
        &'a self,
        id: TokenId,
        digest: &'a TokenDigest,
        key_version: u32,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            TokenStore::replace_digest(self, id, digest, key_version)
                .await
                .map_err(StoreError::new)
        })
    }
    fn purge_expired(&self, now: OffsetDateTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            TokenStore::purge_expired(self, now)
                .await
                .map_err(StoreError::new)
        })
    }
}

/// [`UserLoader`] made object-safe.
trait ErasedLoader<U>: Send + Sync + 'static {
    fn load<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Option<U>>;
    fn is_active(&self, user: &U) -> bool;
}

impl<L: UserLoader> ErasedLoader<L::User> for L {
    fn load<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Option<L::User>> {
        Box::pin(async move {
            UserLoader::load(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
    fn is_active(&self, user: &L::User) -> bool {
        UserLoader::is_active(self, user)
    }
}

/// [`JoinedLookup`] made object-safe.
trait ErasedJoined<U>: Send + Sync + 'static {
    fn find_with_users<'a>(
        &'a self,
        digests: &'a [TokenDigest],
    ) -> StoreFuture<'a, Vec<TokenWithUser<U>>>;
}

impl<J: JoinedLookup> ErasedJoined<J::User> for J {
    fn find_with_users<'a>(
        &'a self,
        digests: &'a [TokenDigest],
    ) -> StoreFuture<'a, Vec<TokenWithUser<J::User>>> {
        Box::pin(async move {
            JoinedLookup::find_with_users(self, digests)
                .await
                .map_err(StoreError::new)
        })
    }
}

/// What a joined lookup answers a request: its identity, a rejection, or `None`
/// when no token has the digest (under the current key).
type JoinedAnswer<U> = Result<Option<Identity<U>>, AuthError>;

/// A joined lookup, and the queue that batches its calls.
struct Joined<U> {
    lookup: Box<dyn ErasedJoined<U>>,
    batcher: Arc<Batcher<JoinedAnswer<U>>>,
}

/// A verified token's metadata and what this node tracks about it; the metadata
/// first, read on a cache hit only for a last-use write (see [`Shared`]).
struct TokenState {
    info: TokenInfo,
    /// Unix microseconds, [`NEVER`] for never; moves with sliding expiry, up to
    /// `limit`.
    expires: AtomicI64,
    /// Unix microseconds of the token's expiry limit, [`NEVER`] for none.
    limit: i64,
    /// Unix milliseconds of the last last-use write this node made or saw (with the
    /// token cache off, [`Inner::use_marks`] keeps it instead).
    last_touch: AtomicI64,
    /// The monotonic clock's millisecond of the store read behind this state.
    read_at: i64,
    /// The revocation count when that store read began, or [`CONFIRMED`] once no
    /// revocation is known to have run during that read. Until then a cached entry
    /// serves only while the revocation count is still this, so that a request
    /// starting after a revocation returned never sees an entry the revocation raced
    /// (between its insert and its removal).
    epoch: AtomicU64,
}

/// [`TokenState::epoch`] of a cached entry no revocation raced.
const CONFIRMED: u64 = u64::MAX;

/// [`TokenState::expires`] and [`TokenState::limit`] of a token that never expires.
const NEVER: i64 = i64::MAX;

/// The fewest last-use marks kept with the token cache off.
const USE_MARKS_MIN: usize = 4096;

/// Verified tokens by digest: one shared pointer to the user and token state.
type TokenCache<U> = DigestCache<Arc<Shared<U>>>;

/// The last-use write time of recently seen tokens, by digest, with the token cache
/// off.
type UseMarks = DigestCache<Arc<AtomicI64>>;

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

struct Settings {
    keywords: Vec<Keyword>,
    challenge: Challenge,
    prefix: TokenPrefix,
    hasher: TokenHasher,
    token_ttl: Option<Duration>,
    sliding_expiry: bool,
    max_sliding_lifetime: Duration,
    last_used_interval: Duration,
    max_tokens_per_user: Option<u32>,
    cache_ttl: Duration,
    cache_capacity: usize,
    legacy_keys: bool,
}

/// Aligned to 128 bytes (two cache lines, as the CPU fetches them in pairs) so that
/// its fields do not share a line with the `Arc`'s reference counts: every request
/// clones the authenticator, and on another core that would evict the settings that
/// every request reads.
#[repr(align(128))]
struct Inner<U> {
    settings: Settings,
    store: Arc<dyn ErasedStore>,
    loader: Box<dyn ErasedLoader<U>>,
    joined: Option<Joined<U>>,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCache<U>>,
    /// Throttles last-use writes with the token cache off (a cached token carries its
    /// own mark).
    use_marks: Option<UseMarks>,
    /// Bumped by every revocation before it evicts, so that a lookup that raced one
    /// never caches what was revoked.
    revocations: AtomicU64,
    pending_writes: Arc<PendingWrites>,
    /// Throttles clients that keep sending invalid credentials, when configured.
    limiter: Option<Limiter>,
}

#[derive(Default)]
struct PendingWrites {
    count: AtomicUsize,
    idle: Notify,
}

/// What is known when a store read begins: the revocation count, the wall time, and
/// the monotonic clock's reading (what a cache entry's age is counted from).
struct ReadStart {
    epoch: u64,
    now: OffsetDateTime,
    monotonic_millis: i64,
}

impl ReadStart {
    fn now<U>(inner: &Inner<U>) -> Self {
        Self {
            epoch: inner.revocations.load(Ordering::Acquire),
            now: inner.clock.now(),
            monotonic_millis: inner.clock.monotonic_millis(),
        }
    }
}

/// One last-use write in flight: counted down when dropped.
struct PendingWrite(Arc<PendingWrites>);

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if self.0.count_down() {
            self.0.idle.notify_waiters();
        }
    }
}

/// Authenticates requests and manages tokens. Cheap to clone; share one per
/// application.
///
/// Built by [`Authenticator::builder`]; generic over the application's user type
/// alone, whatever the store and loader.
///
/// Authentication runs: parse the `Authorization` header (no allocation) -> check the
/// token's format and checksum (no store access) -> digest -> in-process cache ->
/// store -> expiry -> user. Revocations through this authenticator evict from its
/// cache at once; other nodes drop a revoked token when their cache entry's ttl runs
/// out, or sooner where the store broadcasts revocations.
pub struct Authenticator<U> {
    inner: Arc<Inner<U>>,
}

impl<U> Clone for Authenticator<U> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<U> fmt::Debug for Authenticator<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("Authenticator")
            .field("keywords", &settings.keywords)
            .field("prefix", &settings.prefix)
            .field("hasher_version", &settings.hasher.current_version())
            .field("token_ttl", &settings.token_ttl)
            .field("sliding_expiry", &settings.sliding_expiry)
            .field("max_sliding_lifetime", &settings.max_sliding_lifetime)
            .field("last_used_interval", &settings.last_used_interval)
            .field("max_tokens_per_user", &settings.max_tokens_per_user)
            .field("cache_capacity", &settings.cache_capacity)
            .field("cache_ttl", &settings.cache_ttl)
            .field("legacy_keys", &settings.legacy_keys)
            .field("limiter", &self.inner.limiter)
            .field("joined_lookup", &self.inner.joined.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures an [`Authenticator`]. Every setting has a safe default.
pub struct AuthenticatorBuilder<U> {
    store: Arc<dyn ErasedStore>,
    loader: Box<dyn ErasedLoader<U>>,
    joined: Option<Box<dyn ErasedJoined<U>>>,
    max_concurrent_lookups: usize,
    keywords: Vec<Keyword>,
    realm: String,
    prefix: TokenPrefix,
    hasher: TokenHasher,
    token_ttl: Option<Duration>,
    sliding_expiry: bool,
    max_sliding_lifetime: Duration,
    last_used_interval: Duration,
    max_tokens_per_user: Option<u32>,
    cache_capacity: usize,
    cache_ttl: Duration,
    legacy_keys: bool,
    clock: Arc<dyn Clock>,
    invalid_token_limit: Option<InvalidTokenLimit>,
}

impl<U> fmt::Debug for AuthenticatorBuilder<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorBuilder")
            .field("keywords", &self.keywords)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<U: Send + Sync + 'static> AuthenticatorBuilder<U> {
    /// The accepted keywords, replacing the default `Token` and `Bearer`.
    #[must_use]
    pub fn keywords(mut self, keywords: impl IntoIterator<Item = Keyword>) -> Self {
        self.keywords = keywords.into_iter().collect();
        self
    }

    /// The realm named in RFC 6750 challenges (default `api`).
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The prefix of new tokens, and the only one accepted (default `atk`).
    #[must_use]
    pub fn prefix(mut self, prefix: TokenPrefix) -> Self {
        self.prefix = prefix;
        self
    }

    /// How digests are made (default plain SHA-256).
    #[must_use]
    pub fn hasher(mut self, hasher: TokenHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// How long new tokens live unless [`IssueOptions`] says otherwise (default:
    /// forever, as in DRF).
    #[must_use]
    pub fn token_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// With `true`, each use pushes the expiry of a token issued with the configured
    /// lifetime to now plus the token ttl (at most once per
    /// [`Self::last_used_interval`]), never past its issue plus
    /// [`Self::max_sliding_lifetime`]. Tokens issued with their own lifetime
    /// ([`IssueOptions::expires_in`]) or none never slide, and a rotated token never
    /// slides past the end of its grace period. Off by default.
    #[must_use]
    pub fn sliding_expiry(mut self, sliding: bool) -> Self {
        self.sliding_expiry = sliding;
        self
    }

    /// With sliding expiry, how long after its issue a token stops working however
    /// often it is used: its hard limit (default 365 days; never less than the token
    /// ttl). At most [`MAX_LIFETIME`].
    #[must_use]
    pub fn max_sliding_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_sliding_lifetime = lifetime;
        self
    }

    /// The least time between two writes of a token's last use (default 60 s). The
    /// writes run off the request path.
    #[must_use]
    pub fn last_used_interval(mut self, interval: Duration) -> Self {
        self.last_used_interval = interval;
        self
    }

    /// The most live tokens a user may hold (default: no limit).
    #[must_use]
    pub fn max_tokens_per_user(mut self, limit: Option<u32>) -> Self {
        self.max_tokens_per_user = limit;
        self
    }

    /// How many verified tokens the in-process cache holds (default 10,000); 0 turns
    /// the cache off and sends every request to the store.
    ///
    /// Beside it, each thread that authenticates keeps a memo of its last 64 cache
    /// hits, so that a hot token is answered without touching a lock or count that
    /// other threads write. A memo entry serves under the same rules as the cache
    /// (ttl, expiry, and no revocation, forgotten user or cleared cache since it was
    /// taken), and may keep a token evicted from the cache for capacity in memory
    /// until then: at most 64 a thread beyond the capacity.
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How long a verified token is served from the cache before the store is asked
    /// again (default 30 s). This bounds how long another node may still accept a
    /// token revoked elsewhere, where revocations are not broadcast.
    #[must_use]
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Reads a token and its user with one query instead of two, on every store read
    /// (see [`JoinedLookup`]). The loader given to [`Authenticator::builder`] still
    /// decides whether the user is active.
    #[must_use]
    pub fn joined_lookup<J: JoinedLookup<User = U>>(mut self, lookup: J) -> Self {
        self.joined = Some(Box::new(lookup));
        self
    }

    /// How many [`JoinedLookup`] queries may run at once (default 4, at least 1).
    /// Requests that miss the cache while that many run wait, and the next query asks
    /// for all their tokens at once: one round trip for many requests under load, no
    /// wait at all when the database is idle.
    #[must_use]
    pub fn max_concurrent_lookups(mut self, max: usize) -> Self {
        self.max_concurrent_lookups = max.max(1);
        self
    }

    /// Accept Django REST Framework's 40-hex keys (imported from a Django database).
    /// Off by default.
    #[must_use]
    pub fn legacy_keys(mut self, accept: bool) -> Self {
        self.legacy_keys = accept;
        self
    }

    /// Answers 429 with `Retry-After` to a client that sent more than
    /// `max_failures` invalid credentials within `per`, until that window ends
    /// (see [`crate::limiter`]). Off by default. Valid tokens are never limited;
    /// requests are counted by the client address the adapter passes to
    /// [`Authenticator::authenticate_request_from`].
    #[must_use]
    pub fn invalid_token_limit(mut self, max_failures: u32, per: Duration) -> Self {
        self.invalid_token_limit = Some(InvalidTokenLimit::new(max_failures, per));
        self
    }

    /// As [`Self::invalid_token_limit`], with every setting of [`InvalidTokenLimit`];
    /// `None` turns the limiter off.
    #[must_use]
    pub fn invalid_token_limiter(mut self, limit: Option<InvalidTokenLimit>) -> Self {
        self.invalid_token_limit = limit;
        self
    }

    /// The clock (default the system's); tests move a [`crate::ManualClock`].
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the authenticator.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when no keyword is accepted, sliding expiry is on without a
    /// token ttl, or a duration is longer than [`MAX_LIFETIME`].
    pub fn build(self) -> Result<Authenticator<U>, ConfigError> {
        if self.keywords.is_empty() {
            return Err(ConfigError::NoKeywords);
        }
        if self.sliding_expiry && self.token_ttl.is_none() {
            return Err(ConfigError::SlidingWithoutTtl);
        }
        for (setting, duration) in [
            ("token_ttl", self.token_ttl.unwrap_or_default()),
            ("max_sliding_lifetime", self.max_sliding_lifetime),
            ("cache_ttl", self.cache_ttl),
            ("last_used_interval", self.last_used_interval),
        ] {
            if duration > MAX_LIFETIME {
                return Err(ConfigError::DurationTooLong { setting });
            }
        }
        let challenge = if self.keywords.iter().any(|k| k.matches(b"Bearer")) {
            Challenge::bearer(&self.realm)
        } else {
            Challenge::keyword(self.keywords[0].as_str())
        };
        let cache = (self.cache_capacity > 0 && !self.cache_ttl.is_zero())
            .then(|| TokenCache::new(self.cache_capacity));
        let use_marks = cache
            .is_none()
            .then(|| UseMarks::new(self.cache_capacity.max(USE_MARKS_MIN)));
        Ok(Authenticator {
            inner: Arc::new(Inner {
                settings: Settings {
                    keywords: self.keywords,
                    challenge,
                    prefix: self.prefix,
                    hasher: self.hasher,
                    token_ttl: self.token_ttl,
                    sliding_expiry: self.sliding_expiry,
                    max_sliding_lifetime: self.max_sliding_lifetime,
                    last_used_interval: self.last_used_interval,
                    max_tokens_per_user: self.max_tokens_per_user,
                    cache_ttl: self.cache_ttl,
                    cache_capacity: self.cache_capacity,
                    legacy_keys: self.legacy_keys,
                },
                store: self.store,
                loader: self.loader,
                joined: self.joined.map(|lookup| Joined {
                    lookup,
                    batcher: Arc::new(Batcher::new(self.max_concurrent_lookups)),
                }),
                clock: self.clock,
                cache,
                use_marks,
                revocations: AtomicU64::new(0),
                pending_writes: Arc::default(),
                limiter: self.invalid_token_limit.map(Limiter::new),
            }),
        })
    }
}

/// Name, scopes and user id checks shared by issue and rotate.
fn validate_issue(user_id: &str, options: &IssueOptions) -> Result<(), IssueError> {
    check_user_id(user_id)?;
    if options.name.chars().count() > 255 || options.name.chars().any(char::is_control) {
        return Err(IssueError::InvalidName);
    }
    if options.scopes.len() > 64 {
        return Err(IssueError::InvalidScope(format!(
            "{} scopes",
            options.scopes.len()
        )));
    }
    for scope in &options.scopes {
        let valid = !scope.is_empty()
            && scope.len() <= 64
            && scope.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-')
            });
        if !valid {
            return Err(IssueError::InvalidScope(scope.clone()));
        }
    }
    Ok(())
}

impl<U: Send + Sync + 'static> Authenticator<U> {
    /// Starts configuring an authenticator over `store` and `loader`.
    ///
    /// ```
    /// # use authtoken::{Authenticator, UserIdLoader};
    /// # fn demo(store: impl authtoken::TokenStore) -> Result<(), authtoken::ConfigError> {
    /// let auth = Authenticator::builder(store, UserIdLoader)
    ///     .token_ttl(Some(std::time::Duration::from_secs(30 * 24 * 3600)))
    ///     .max_tokens_per_user(Some(20))
    ///     .build()?;
    /// # let _ = auth; Ok(()) }
    /// ```
    pub fn builder<S, L>(store: S, loader: L) -> AuthenticatorBuilder<U>
    where
        S: TokenStore,
        L: UserLoader<User = U>,
    {
        AuthenticatorBuilder {
            store: Arc::new(store),
            loader: Box::new(loader),
            joined: None,
            max_concurrent_lookups: 4,
            keywords: vec![
                Keyword::new("Token").unwrap_or_else(|_| unreachable!()),
                Keyword::new("Bearer").unwrap_or_else(|_| unreachable!()),
            ],
            realm: "api".to_owned(),
            prefix: TokenPrefix::default(),
            hasher: TokenHasher::sha256(),
            token_ttl: None,
            sliding_expiry: false,
            max_sliding_lifetime: Duration::from_secs(365 * 24 * 3600),
            last_used_interval: Duration::from_secs(60),
            max_tokens_per_user: None,
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(30),
            legacy_keys: false,
            clock: Arc::new(SystemClock),
            invalid_token_limit: None,
        }
    }

    /// The challenge this authenticator answers with, for [`AuthError::www_authenticate`].
    pub fn challenge(&self) -> &Challenge {
        &self.inner.settings.challenge
    }

    /// Status, `WWW-Authenticate` and JSON body for `error`: all an adapter needs to
    /// answer it.
    pub fn error_response(&self, error: &AuthError) -> ErrorResponse {
        error.response(self.challenge())
    }

    /// The accepted keywords.
    pub fn keywords(&self) -> &[Keyword] {
        &self.inner.settings.keywords
    }

    /// True when [`AuthenticatorBuilder::invalid_token_limit`] is on: only then does
    /// the client address passed to [`Self::authenticate_request_from`] matter, so an
    /// adapter for which finding it costs something skips it otherwise.
    pub fn limits_invalid_tokens(&self) -> bool {
        self.inner.limiter.is_some()
    }

    /// The token prefix.
    pub fn prefix(&self) -> &TokenPrefix {
        &self.inner.settings.prefix
    }

    /// Authenticates a request from its `Authorization` header value, if any.
    ///
    /// `Ok(None)`: anonymous (no header, or another scheme); the route decides.
    /// `Ok(Some(identity))`: authenticated.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] for every row of the error table: bad headers and tokens
    /// (401), and [`AuthError::Unavailable`] (503) when the store or loader failed.
    pub async fn authenticate(
        &self,
        header: Option<&[u8]>,
    ) -> Result<Option<Identity<U>>, AuthError> {
        let Some(header) = header else {
            return Ok(None);
        };
        match parse_authorization(header, &self.inner.settings.keywords)? {
            None => Ok(None),
            Some(credential) => self.authenticate_credential(credential).await.map(Some),
        }
    }

    /// Like [`Self::authenticate`], for every `Authorization` header of a request:
    /// several different values are refused with [`AuthError::ConflictingHeaders`].
    ///
    /// # Errors
    ///
    /// As [`Self::authenticate`].
    pub async fn authenticate_headers<'h, I>(
        &self,
        headers: I,
    ) -> Result<Option<Identity<U>>, AuthError>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        match parse_authorization_headers(headers, &self.inner.settings.keywords)? {
            None => Ok(None),
            Some(credential) => self.authenticate_credential(credential).await.map(Some),
        }
    }

    /// Authenticates a bare token (no keyword), as read from a terminal.
    ///
    /// # Errors
    ///
    /// As [`Self::authenticate`].
    pub async fn authenticate_credential(
        &self,
        credential: &[u8],
    ) -> Result<Identity<U>, AuthError> {
        match self.answer_from_memory(credential) {
            Ok(answer) => answer,
            Err(digest) => self.answer_from_store(credential, digest).await,
        }
    }

    /// What memory alone answers for a credential, without waiting: a rejection for a
    /// malformed or bad-checksum token, or the identity of a cached token. `Err` with
    /// the credential's digest when the store must be asked
    /// ([`Self::answer_from_store`]).
    pub(crate) fn answer_from_memory(
        &self,
        credential: &[u8],
    ) -> Result<Result<Identity<U>, AuthError>, TokenDigest> {
        let inner = &*self.inner;
        let settings = &inner.settings;
        if classify(&settings.prefix, credential, settings.legacy_keys).is_none() {
            return Ok(Err(AuthError::InvalidToken));
        }
        let digest = settings.hasher.digest(credential);
        let Some(cache) = &inner.cache else {
            return Err(digest);
        };
        if let Some(shared) = cache.get(&digest) {
            let identity = Identity::from_shared(shared);
            let state = identity.state();
            let epoch = state.epoch.load(Ordering::Acquire);
            let confirmed = epoch == CONFIRMED;
            if (confirmed || inner.revocations.load(Ordering::Acquire) == epoch)
                && inner.clock.monotonic_millis().saturating_sub(state.read_at)
                    < millis(settings.cache_ttl)
                && let Some(answer) = self.serve_cached(identity)
            {
                return Ok(answer);
            }
            if confirmed {
                cache.remove(&digest);
            }
        }
        Err(digest)
    }

    /// The answer for a cached identity still within the cache ttl; `None` when the
    /// store must say it: an expiry passed under sliding expiry, which another node
    /// may have moved since this one read it.
    fn serve_cached(&self, identity: Identity<U>) -> Option<Result<Identity<U>, AuthError>> {
        let state = identity.state();
        let now_ms = self.inner.clock.now_unix_millis();
        if state.expires.load(Ordering::Acquire) <= now_ms.saturating_mul(1_000) {
            let expiry_may_have_moved =
                self.inner.settings.sliding_expiry && state.limit > now_ms.saturating_mul(1_000);
            return (!expiry_may_have_moved).then_some(Err(AuthError::TokenExpired));
        }
        self.record_use(state, &state.last_touch, now_ms, None);
        Some(Ok(identity))
    }

    /// Asks the store about a well-formed credential the cache did not answer for.
    pub(crate) async fn answer_from_store(
        &self,
        credential: &[u8],
        digest: TokenDigest,
    ) -> Result<Identity<U>, AuthError> {
        let inner = &*self.inner;
        if let Some(joined) = &inner.joined
            && let Some(identity) = self.lookup_joined(joined, digest).await?
        {
            return Ok(identity);
        }
        let read = ReadStart::now(inner);
        // With a joined lookup the current digest was just asked for.
        let Some(record) = self
            .find(credential, digest, inner.joined.is_none())
            .await?
        else {
            return Err(AuthError::InvalidToken);
        };
        if record.info.is_expired_at(read.now) {
            return Err(AuthError::TokenExpired);
        }
        let user = inner
            .loader
            .load(&record.info.user_id)
            .await
            .map_err(|error| unavailable("user loader", error))?;
        self.admit(digest, record, user, &read)
    }

    /// Asks the joined lookup for `digest`, in a batch with other requests' digests
    /// when lookups are busy.
    async fn lookup_joined(&self, joined: &Joined<U>, digest: TokenDigest) -> JoinedAnswer<U> {
        let mut batch = loop {
            match joined.batcher.join(digest).await {
                Some(Turn::Answered(answer)) => return answer,
                Some(Turn::Lead(batch)) => break batch,
                // Never expected: a dropped batch hands its waiters on. Queue again.
                None => {}
            }
        };
        let read = ReadStart::now(&self.inner);
        let found = joined.lookup.find_with_users(batch.digests()).await;
        batch.release();
        let rows = match found {
            Ok(rows) => rows,
            Err(error) => {
                let error = unavailable("token lookup", error);
                batch.answer(|_| Err(error.clone()));
                return Err(error);
            }
        };
        let mut answers: Vec<(TokenDigest, Result<Identity<U>, AuthError>)> =
            Vec::with_capacity(rows.len());
        for (record, user) in rows {
            let found = record.digest;
            if batch.digests().contains(&found) && !answers.iter().any(|(seen, _)| *seen == found) {
                answers.push((found, self.admit(found, record, user, &read)));
            }
        }
        let answer_for = |digest: &TokenDigest| -> JoinedAnswer<U> {
            answers
                .iter()
                .find(|(found, _)| found == digest)
                .map(|(_, answer)| answer.clone())
                .transpose()
        };
        let own = answer_for(&digest);
        batch.answer(answer_for);
        own
    }

    /// Turns a token found in the store under `digest` and its user into an
    /// identity, or the rejection they call for; records the use and caches the
    /// identity, if the row holds `digest` (a token whose re-keying failed keeps its
    /// older digest, which a revocation would evict: it is not cached under the new).
    fn admit(
        &self,
        digest: TokenDigest,
        record: TokenRecord,
        user: Option<U>,
        read: &ReadStart,
    ) -> Result<Identity<U>, AuthError> {
        let inner = &*self.inner;
        let now = read.now;
        if record.info.is_expired_at(now) {
            return Err(AuthError::TokenExpired);
        }
        let user = match user {
            Some(user) if inner.loader.is_active(&user) => user,
            _ => return Err(AuthError::UserInactive),
        };
        let cacheable = record.digest == digest;
        let epoch = read.epoch;
        let now_ms = unix_millis(now);
        let identity = Identity::read_at(user, record.info, read.monotonic_millis, epoch);
        let state = identity.state();
        match &inner.use_marks {
            Some(marks) => {
                let last_used = state.last_touch.load(Ordering::Acquire);
                let mark = marks.get(&digest).unwrap_or_else(|| {
                    let mark = Arc::new(AtomicI64::new(last_used));
                    marks.insert(digest, Arc::clone(&mark));
                    mark
                });
                self.record_use(state, &mark, now_ms, Some(now));
            }
            None => self.record_use(state, &state.last_touch, now_ms, Some(now)),
        }

        if let Some(cache) = &inner.cache
            && cacheable
        {
            cache.insert(digest, Arc::clone(identity.shared()));
            // A revocation that ran while the store was read may have evicted before
            // this insert: then drop what was just cached (unconfirmed, no request
            // uses it meanwhile). Otherwise any later revocation evicts it.
            if inner.revocations.load(Ordering::Acquire) == epoch {
                state.epoch.store(CONFIRMED, Ordering::Release);
            } else {
                cache.remove(&digest);
            }
        }
        Ok(identity)
    }

    /// Looks a credential up under the current digest (unless `current` is false),
    /// then under older HMAC keys (re-keying what it finds there).
    async fn find(
        &self,
        credential: &[u8],
        digest: TokenDigest,
        current: bool,
    ) -> Result<Option<TokenRecord>, AuthError> {
        let inner = &*self.inner;
        let unavailable = |error| unavailable("token store", error);
        if current
            && let Some(record) = inner
                .store
                .find_by_digest(&digest)
                .await
                .map_err(unavailable)?
        {
            return Ok(Some(record));
        }
        for (version, old_digest) in inner.settings.hasher.previous_digests(credential) {
            if let Some(mut record) = inner
                .store
                .find_by_digest(&old_digest)
                .await
                .map_err(unavailable)?
            {
                let current = inner.settings.hasher.current_version();
                match inner
                    .store
                    .replace_digest(record.info.id, &digest, current)
                    .await
                {
                    Ok(()) => {
                        record.digest = digest;
                        record.key_version = current;
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, key_version = version, "could not re-key a token");
                    }
                }
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Writes the last use of `state`'s token (and, with sliding expiry, the new
    /// expiry) at most once per interval, off the request path. `last_touch` is the
    /// mark the interval is counted from: the state's own, or the token's use mark
    /// with the cache off. `now_ms` is the time of the use; `now` the same instant
    /// when the caller has it (else the clock is read once a write is due).
    fn record_use(
        &self,
        state: &TokenState,
        last_touch: &AtomicI64,
        now_ms: i64,
        now: Option<OffsetDateTime>,
    ) {
        let inner = &*self.inner;
        let settings = &inner.settings;
        let previous = last_touch.load(Ordering::Acquire);
        if now_ms.saturating_sub(previous) < millis(settings.last_used_interval) {
            return;
        }
        if last_touch
            .compare_exchange(previous, now_ms, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // another request is writing it
        }
        // The time written, read from the clock only now that a write is due.
        let now = now.unwrap_or_else(|| inner.clock.now());
        let slide = if settings.sliding_expiry {
            self.slide(state, now)
        } else {
            None
        };
        let id = state.info.id;
        let authenticator = self.clone();
        let pending = Arc::clone(&inner.pending_writes);
        pending.count.fetch_add(1, Ordering::AcqRel);
        // Counts the write down however it ends: done, or dropped unfinished because
        // its runtime shut down first (an actix-web worker's, say), so that `flush`
        // never waits for a write that will not happen.
        let pending = PendingWrite(pending);
        let write = async move {
            let _pending = pending;
            match authenticator.inner.store.touch(id, now, slide).await {
                Ok(true) => {}
                // The row's expiry changed since it was read (a rotation shortened it,
                // say): the shortening stands, and this node reads the token again.
                Ok(false) => authenticator
                    .invalidate(|cache| cache.retain(|shared| shared.token.info.id != id)),
                Err(error) => {
                    tracing::warn!(error = %error, token_id = %id, "could not record a token's last use");
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(write);
            }
            Err(_) => {
                tracing::debug!("no tokio runtime: last-use write skipped");
                drop(write);
            }
        }
    }

    /// The sliding-expiry move for a use of `state`'s token at `now`: its expiry to
    /// `now` plus the token ttl, never past its limit nor backwards; `None` when it
    /// does not move (a token that never expires, or one at its limit). Moves the
    /// state's own expiry at once; the store makes the same move only if the row
    /// still holds the expiry it moves from.
    fn slide(&self, state: &TokenState, now: OffsetDateTime) -> Option<Slide> {
        let ttl = self.inner.settings.token_ttl?;
        let from = state.expires.load(Ordering::Acquire);
        if from == NEVER {
            return None;
        }
        let wanted = time::Duration::try_from(ttl)
            .ok()
            .and_then(|ttl| now.checked_add(ttl))
            .map_or(NEVER, |at| unix_micros(to_store_precision(at)));
        let to = wanted.min(state.limit);
        if to <= from
            || state
                .expires
                .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        Some(Slide {
            from: from_unix_micros(from)?,
            to: from_unix_micros(to)?,
        })
    }

    /// Waits until every last-use write started so far has finished (for graceful
    /// shutdown, and for tests that count writes).
    pub async fn flush(&self) {
        let pending = &self.inner.pending_writes;
        loop {
            let idle = pending.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if pending.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Issues a token to `user_id`; the plaintext is in the result and nowhere else.
    ///
    /// # Errors
    ///
    /// [`IssueError`] for an invalid user id, name or scope, when the per-user limit is
    /// reached, or when the store fails.
    pub async fn issue(
        &self,
        user_id: &str,
        options: IssueOptions,
    ) -> Result<IssuedToken, IssueError> {
        self.issue_with_limit(user_id, options, self.inner.settings.max_tokens_per_user)
            .await
    }

    async fn issue_with_limit(
        &self,
        user_id: &str,
        options: IssueOptions,
        limit: Option<u32>,
    ) -> Result<IssuedToken, IssueError> {
        validate_issue(user_id, &options)?;
        let settings = &self.inner.settings;
        let created = to_store_precision(self.now());
        // How long until it expires, and until the limit past which it never slides.
        let (expires_in, limit_in) = match options.lifetime {
            Lifetime::Never => (None, None),
            Lifetime::Configured => match settings.token_ttl {
                None => (None, None),
                Some(ttl) if settings.sliding_expiry => {
                    (Some(ttl), Some(settings.max_sliding_lifetime.max(ttl)))
                }
                Some(ttl) => (Some(ttl), Some(ttl)),
            },
            Lifetime::For(ttl) => (Some(ttl), Some(ttl)),
            Lifetime::Span {
                expires_in,
                limit_in,
            } => (Some(expires_in), Some(limit_in.max(expires_in))),
        };
        let at = |lifetime: Option<Duration>| {
            lifetime
                .map(|lifetime| add_lifetime(created, lifetime).map(to_store_precision))
                .transpose()
        };
        let (expires, expiry_limit) = (at(expires_in)?, at(limit_in)?);
        // A digest collision between two fresh tokens is beyond unlikely; one retry
        // covers it without looping forever on a broken store.
        for _ in 0..2 {
            let token = settings.prefix.generate();
            let digest = settings.hasher.digest(token.expose_secret().as_bytes());
            let new = NewToken::new(
                digest,
                settings.hasher.current_version(),
                user_id.to_owned(),
                created,
            )
            .with_name(options.name.clone())
            .with_scopes(options.scopes.clone())
            .with_expires(expires)
            .with_expiry_limit(expiry_limit);
            match self.inner.store.insert(&new, limit).await? {
                InsertOutcome::Inserted(record) => {
                    return Ok(IssuedToken {
                        token,
                        info: record.info,
                    });
                }
                InsertOutcome::LimitReached => {
                    return Err(IssueError::LimitReached {
                        limit: limit.unwrap_or_default(),
                    });
                }
                InsertOutcome::DuplicateDigest => {}
            }
        }
        Err(IssueError::Store(StoreError::new(std::io::Error::other(
            "the store reported a duplicate digest twice",
        ))))
    }

    /// Replaces a token with a new one for the same user, name, scopes and lifetime.
    /// The old token keeps working for `grace` (or until its own expiry, if sooner),
    /// then stops; nothing, sliding expiry included, moves it past that.
    ///
    /// The new token expires as long after now as the old one was issued for (with
    /// sliding expiry, the token ttl) and keeps the old one's span to its expiry limit;
    /// a token without expiry rotates into one without.
    ///
    /// # Errors
    ///
    /// [`IssueError::NotFound`] when there is no token `id`;
    /// [`IssueError::InvalidLifetime`] when `grace` is over [`MAX_LIFETIME`]; store
    /// failures.
    pub async fn rotate(&self, id: TokenId, grace: Duration) -> Result<IssuedToken, IssueError> {
        let inner = &*self.inner;
        // Checked before anything is written.
        add_lifetime(self.now(), grace)?;
        let old = inner.store.get(id).await?.ok_or(IssueError::NotFound)?;
        let mut options = IssueOptions::new()
            .name(old.info.name.clone())
            .scopes(old.info.scopes.iter().cloned());
        let span = |until: OffsetDateTime| Duration::try_from(until - old.info.created).ok();
        options.lifetime = match (old.info.expires, old.info.expiry_limit) {
            (None, _) => Lifetime::Never,
            (Some(expires), limit) => {
                let limit_in = span(limit.unwrap_or(expires).max(expires)).unwrap_or_default();
                let expires_in = match inner.settings.token_ttl {
                    Some(ttl) if inner.settings.sliding_expiry && limit_in > ttl => ttl,
                    _ => limit_in,
                };
                Lifetime::Span {
                    expires_in,
                    limit_in,
                }
            }
        };
        // The new token replaces the old one, so it does not count against the limit.
        let issued = self
            .issue_with_limit(&old.info.user_id, options, None)
            .await?;
        let grace_end = add_lifetime(to_store_precision(self.now()), grace)?;
        inner.store.shorten_expiry(id, grace_end).await?;
        self.evict(&old.digest);
        Ok(issued)
    }

    /// Revokes one token; `false` when there was none with that id.
    ///
    /// # Errors
    ///
    /// The store's failure.
    pub async fn revoke(&self, id: TokenId) -> Result<bool, StoreError> {
        match self.inner.store.revoke(id).await? {
            Some(record) => {
                self.evict(&record.digest);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Revokes every token of a user; returns how many there were.
    ///
    /// # Errors
    ///
    /// The store's failure.
    pub async fn revoke_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let revoked = self.inner.store.revoke_user(user_id).await?;
        for record in &revoked {
            self.evict(&record.digest);
        }
        self.user_changed(user_id).await?;
        Ok(revoked.len() as u64)
    }

    /// Drops every cached token of a user on this node at once, and on every node
    /// that shares a store that broadcasts it (PostgreSQL with
    /// `SqlxStore::spawn_revocation_listener` running); elsewhere other nodes load
    /// the user again within their cache ttl. Call it after deactivating or deleting a
    /// user, or changing what the loader returns for them.
    ///
    /// # Errors
    ///
    /// The store's failure to broadcast (this node's cache is cleared all the same).
    pub async fn user_changed(&self, user_id: &str) -> Result<(), StoreError> {
        self.forget_user(user_id);
        self.inner.store.announce_user_change(user_id).await
    }

    /// The tokens of one user, or of everyone with `None`: metadata, never secrets.
    ///
    /// # Errors
    ///
    /// The store's failure.
    pub async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>, StoreError> {
        self.inner.store.list(user_id).await
    }

    /// Deletes every expired token; returns how many.
    ///
    /// # Errors
    ///
    /// The store's failure.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.inner.store.purge_expired(self.now()).await
    }

    /// Drops a token from this node's cache, so that the store is asked again. Called
    /// for every revocation made here; call it for revocations heard from elsewhere.
    pub fn evict(&self, digest: &TokenDigest) {
        self.invalidate(|cache| cache.remove(digest));
    }

    /// Bumps the revocation count, then runs `evict` on the cache: a store read that
    /// began before the bump and caches after `evict` ran sees the count moved, and
    /// drops what it cached (see [`TokenState::epoch`]).
    fn invalidate(&self, evict: impl FnOnce(&TokenCache<U>)) {
        let inner = &*self.inner;
        inner.revocations.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &inner.cache {
            evict(cache);
        }
    }

    /// Drops every cached token of a user from this node's cache, so that the user
    /// is loaded again on the next request. [`Self::user_changed`] does this and
    /// tells the other nodes too: call that after deactivating or deleting a user.
    pub fn forget_user(&self, user_id: &str) {
        self.invalidate(|cache| cache.retain(|shared| shared.token.info.user_id != user_id));
    }

    /// Drops every cached token, so that the store is asked again for each. For a
    /// revocation listener that lost its connection and may have missed revocations.
    pub fn clear_cache(&self) {
        self.invalidate(TokenCache::clear);
    }

    /// The invalid-token limiter and the current Unix time in milliseconds, when one
    /// is configured.
    pub(crate) fn limiter(&self) -> Option<(&Limiter, i64)> {
        let limiter = self.inner.limiter.as_ref()?;
        Some((limiter, self.inner.clock.now_unix_millis()))
    }

    /// How many tokens the cache holds now.
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, DigestCache::len)
    }
}

/// Logs a failed store, lookup or loader during authentication, which then fails
/// closed with 503.
fn unavailable(what: &'static str, error: StoreError) -> AuthError {
    tracing::warn!(error = %error, "{what} failed during authentication");
    AuthError::Unavailable(error)
}

impl PendingWrites {
    /// Counts one write down; true when none is left.
    fn count_down(&self) -> bool {
        self.count.fetch_sub(1, Ordering::AcqRel) == 1
    }
}
