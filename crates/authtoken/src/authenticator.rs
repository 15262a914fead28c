//! The [`Authenticator`]: header in, user out; and the token lifecycle.
//!
//! Split by role: [`builder`] (configuration and its checks), [`identity`] (what a
//! request authenticated as, and the cached state of a verified token), [`request`]
//! (the request path), [`last_use`] (the last-use writes it starts), [`lifecycle`]
//! (issue, rotate, revoke, list), and [`erased`] (the store, loader and legacy key
//! store made object-safe). This file holds what they share.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use crate::cache::DigestCache;
use crate::clock::Clock;
use crate::digest::TokenHasher;
use crate::error::{AuthError, Challenge, ErrorResponse};
use crate::header::Keyword;
use crate::limiter::{Limiter, address_in_header};
use crate::metrics::{AuthMetrics, Counters};
use crate::token::TokenPrefix;

mod builder;
mod erased;
mod identity;
mod last_use;
mod lifecycle;
mod request;

use erased::{ErasedKeyStore, ErasedLoader, ErasedStore};
use identity::Shared;
use last_use::PendingWrites;
pub(crate) use lifecycle::validate_issue;
use request::Joined;
pub(crate) use request::{Source, trace_started};

pub use builder::{AuthenticatorBuilder, ConfigError};
pub use identity::Identity;
pub use lifecycle::{IssueOptions, IssuedToken, MAX_LIFETIME};

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
    /// The scopes of a key found in the legacy key store.
    legacy_key_scopes: Vec<String>,
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
    /// Where legacy keys are looked up, when not in `store`.
    legacy_store: Option<Box<dyn ErasedKeyStore>>,
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
    /// What it answered, counted ([`Authenticator::metrics`]).
    counters: Arc<Counters>,
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
            .field("legacy_key_store", &self.inner.legacy_store.is_some())
            .field("joined_lookup", &self.inner.joined.is_some())
            .finish_non_exhaustive()
    }
}

impl<U: Send + Sync + 'static> Authenticator<U> {
    /// The challenge this authenticator answers with, for [`AuthError::www_authenticate`].
    pub fn challenge(&self) -> &Challenge {
        &self.inner.settings.challenge
    }

    /// Status, `WWW-Authenticate` and JSON body for `error`: all an adapter needs to
    /// answer it.
    pub fn error_response(&self, error: &AuthError) -> ErrorResponse {
        error.response(self.challenge())
    }

    /// What this authenticator has answered since it was built: accepted,
    /// anonymous, refused by code, cache hits, store reads. For an application's
    /// metrics exporter.
    pub fn metrics(&self) -> AuthMetrics {
        self.inner.counters.snapshot()
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

    /// The header a trusted reverse proxy names the client in, when the
    /// invalid-token limiter is on and configured with
    /// [`InvalidTokenLimit::trusted_client_ip_header`](crate::InvalidTokenLimit::trusted_client_ip_header):
    /// an adapter reads its values for [`Self::client_address`].
    pub fn trusted_client_ip_header(&self) -> Option<&'static str> {
        self.inner.limiter.as_ref()?.limit().client_ip_header()
    }

    /// The address the invalid-token limiter counts a request under: the
    /// connection's `peer` address, or, with a trusted client-IP header configured,
    /// the address its values name when they name one (`header_values` are that
    /// header's values, in order). Every adapter asks this, so that all three count
    /// clients alike.
    pub fn client_address<'h>(
        &self,
        peer: Option<IpAddr>,
        header_values: impl IntoIterator<Item = &'h [u8]>,
    ) -> Option<IpAddr> {
        match self.trusted_client_ip_header() {
            Some(_) => address_in_header(header_values).or(peer),
            None => peer,
        }
    }

    /// The token prefix.
    pub fn prefix(&self) -> &TokenPrefix {
        &self.inner.settings.prefix
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
