//! Configuring an [`Authenticator`]: the builder, its settings and their checks.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::erased::{ErasedJoined, ErasedKeyStore, ErasedLoader, ErasedStore};
use super::lifecycle::{MAX_LIFETIME, check_scopes};
use super::request::Joined;
use super::{Authenticator, Inner, Settings, TokenCache, UseMarks};
use crate::batch::Batcher;
use crate::clock::{Clock, SystemClock};
use crate::digest::TokenHasher;
use bytes::Bytes;

use crate::error::{AuthError, Challenge, ErrorBodyFn, IssueError};
use crate::header::Keyword;
use crate::legacy::LegacyKeyStore;
use crate::limiter::{InvalidTokenLimit, Limiter};
use crate::metrics::Counters;
use crate::store::{JoinedLookup, TokenStore};
use crate::token::TokenPrefix;
use crate::user::UserLoader;

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
    /// A scope given to [`AuthenticatorBuilder::legacy_key_scopes`] is one a token
    /// could not be issued with.
    #[error("invalid legacy key scope: {0}")]
    InvalidLegacyKeyScope(String),
    /// A duration setting is longer than [`MAX_LIFETIME`].
    #[error("{setting} must be at most 100 years")]
    DurationTooLong {
        /// The builder method that was given it.
        setting: &'static str,
    },
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
    legacy_store: Option<Box<dyn ErasedKeyStore>>,
    legacy_key_scopes: Vec<String>,
    clock: Arc<dyn Clock>,
    invalid_token_limit: Option<InvalidTokenLimit>,
    error_body: Option<Arc<ErrorBodyFn>>,
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

    /// Writes the body of every authentication error in the application's own shape
    /// instead of DRF's `{"detail": "..."}`, in every adapter: the extractors' and
    /// middleware's rejections, [`Identity::require_scope`](crate::Identity::require_scope)
    /// and the token endpoints' 401s and 403s. Status, `WWW-Authenticate` and
    /// `Retry-After` stay as the error says, and the content type is
    /// `application/json`. [`AuthError::code`] is the stable code to put in it.
    ///
    /// ```
    /// use authtoken::{AuthError, Authenticator, MemoryStore, UserIdLoader};
    ///
    /// let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
    ///     .error_body(|error: &AuthError| {
    ///         format!(r#"{{"error":{{"code":"{}"}}}}"#, error.code()).into()
    ///     })
    ///     .build()
    ///     .expect("valid settings");
    /// let rejection = authtoken::Rejection::new(AuthError::TokenExpired, auth.challenge().clone());
    /// assert_eq!(rejection.body(), r#"{"error":{"code":"token_expired"}}"#);
    /// assert_eq!(rejection.status(), 401);
    /// ```
    #[must_use]
    pub fn error_body(
        mut self,
        body: impl Fn(&AuthError) -> Bytes + Send + Sync + 'static,
    ) -> Self {
        self.error_body = Some(Arc::new(body));
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

    /// How long new tokens live unless [`IssueOptions`](crate::IssueOptions) says
    /// otherwise (default: forever, as in DRF).
    #[must_use]
    pub fn token_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// With `true`, each use pushes the expiry of a token issued with the configured
    /// lifetime to now plus the token ttl (at most once per
    /// [`Self::last_used_interval`]), never past its issue plus
    /// [`Self::max_sliding_lifetime`]. Tokens issued with their own lifetime
    /// ([`IssueOptions::expires_in`](crate::IssueOptions::expires_in)) or none never
    /// slide, and a rotated token never slides past the end of its grace period. Off
    /// by default.
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

    /// How many verified tokens the in-process cache holds (default 10,000; a
    /// shard's rounding may keep a few more); 0 turns the cache off and sends every
    /// request to the store.
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

    /// Looks up Django REST Framework's 40-hex keys in `keys` (Django's own
    /// `authtoken_token`, say) instead of the token store, and accepts them: a
    /// service beside a Django site then accepts the tokens the site issues, with no
    /// import. Tokens of the authenticator's prefix still go to the token store; each
    /// request asks one of the two, chosen by the credential's shape (see
    /// [`crate::legacy`]).
    ///
    /// Such a token's [`TokenInfo`](crate::TokenInfo) has the id
    /// [`LEGACY_KEY_ID`](crate::LEGACY_KEY_ID), no name, no expiry and the scopes of
    /// [`Self::legacy_key_scopes`]. Its use is never recorded.
    #[must_use]
    pub fn legacy_key_store<K: LegacyKeyStore>(mut self, keys: K) -> Self {
        self.legacy_store = Some(Box::new(keys));
        self.legacy_keys = true;
        self
    }

    /// The scopes of every key found in the [`Self::legacy_key_store`] (default none).
    /// A DRF key can do all its user can; grant here the scopes the application's own
    /// tokens need for the same.
    #[must_use]
    pub fn legacy_key_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.legacy_key_scopes = scopes.into_iter().map(Into::into).collect();
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
    /// token ttl, a legacy key scope is invalid, or a duration is longer than
    /// [`MAX_LIFETIME`].
    pub fn build(self) -> Result<Authenticator<U>, ConfigError> {
        if self.keywords.is_empty() {
            return Err(ConfigError::NoKeywords);
        }
        crate::rejection::note_user_type::<U>();
        if self.sliding_expiry && self.token_ttl.is_none() {
            return Err(ConfigError::SlidingWithoutTtl);
        }
        if let Err(IssueError::InvalidScope(scope)) = check_scopes(&self.legacy_key_scopes) {
            return Err(ConfigError::InvalidLegacyKeyScope(scope));
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
        let mut challenge = if self.keywords.iter().any(|k| k.matches(b"Bearer")) {
            Challenge::bearer(&self.realm)
        } else {
            Challenge::keyword(self.keywords[0].as_str())
        };
        if let Some(error_body) = self.error_body {
            challenge = challenge.with_error_body(error_body);
        }
        let counters = Arc::new(Counters::default());
        let challenge = challenge.with_counters(Arc::clone(&counters));
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
                    legacy_key_scopes: self.legacy_key_scopes,
                },
                store: self.store,
                loader: self.loader,
                legacy_store: self.legacy_store,
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
                counters,
            }),
        })
    }
}

/// The fewest last-use marks kept with the token cache off.
pub(super) const USE_MARKS_MIN: usize = 4096;

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
            legacy_store: None,
            legacy_key_scopes: Vec::new(),
            clock: Arc::new(SystemClock),
            invalid_token_limit: None,
            error_body: None,
        }
    }
}
