//! The optional limiter of invalid tokens: a client that keeps sending bad
//! credentials is answered 429 with `Retry-After` for the rest of a window.
//!
//! Off by default; turned on with
//! [`AuthenticatorBuilder::invalid_token_limit`](crate::AuthenticatorBuilder::invalid_token_limit).
//! Only failures are counted and only failures are throttled: a valid token always
//! passes, even from a client over its limit. Every adapter names the client by the
//! peer address of the connection, or, only where the application says a reverse
//! proxy it trusts sets one, by a client-IP header
//! ([`InvalidTokenLimit::trusted_client_ip_header`],
//! [`Authenticator::client_address`](crate::Authenticator::client_address)); a
//! request without an address is never limited. Memory is bounded: at most
//! [`InvalidTokenLimit::DEFAULT_CLIENTS`] clients (or the number set with
//! [`InvalidTokenLimit::max_clients`]) are tracked, the least recently seen dropped
//! first.
//!
//! A well-formed token from a client over its limit is still looked up (it may be
//! valid), so the limiter tells clients to back off rather than sparing the store;
//! what fails the format or the checksum never reaches the store in any case.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::AuthError;

/// How many invalid credentials one client may send per window before it is
/// answered 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTokenLimit {
    max_failures: u32,
    window: Duration,
    max_clients: usize,
    client_ip_header: Option<&'static str>,
}

impl InvalidTokenLimit {
    /// The most clients tracked unless [`Self::max_clients`] says otherwise.
    pub const DEFAULT_CLIENTS: usize = 10_000;

    /// At most `max_failures` invalid credentials per `window` from one client; the
    /// next ones within the window are answered 429.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            max_clients: Self::DEFAULT_CLIENTS,
            client_ip_header: None,
        }
    }

    /// Counts each request under the address in `header` (`X-Real-IP`, or
    /// `X-Forwarded-For`, whose last address is taken: the one the nearest proxy
    /// appended) instead of the connection's peer address, which behind a reverse
    /// proxy is the proxy's. Only for a proxy that always sets or overwrites that
    /// header: otherwise a client sends it itself, escapes the limit by changing it,
    /// and can aim the limit at someone else's address. Off by default. A request
    /// without the header, or with an address that does not parse, is counted by
    /// its peer address.
    #[must_use]
    pub fn trusted_client_ip_header(mut self, header: &'static str) -> Self {
        self.client_ip_header = Some(header);
        self
    }

    /// The header set by [`Self::trusted_client_ip_header`], if any.
    pub fn client_ip_header(&self) -> Option<&'static str> {
        self.client_ip_header
    }

    /// The most clients tracked at once (at least 1); the least recently seen are
    /// dropped first.
    #[must_use]
    pub fn max_clients(mut self, max_clients: usize) -> Self {
        self.max_clients = max_clients.max(1);
        self
    }

    /// Failures allowed per window.
    pub fn max_failures(&self) -> u32 {
        self.max_failures
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }
}

/// The client address `header_values` name (their last value's last
/// comma-separated entry), if it parses.
pub(crate) fn address_in_header<'h>(
    header_values: impl IntoIterator<Item = &'h [u8]>,
) -> Option<IpAddr> {
    let last = header_values.into_iter().last()?;
    let entry = last.rsplit(|&byte| byte == b',').next()?;
    std::str::from_utf8(entry).ok()?.trim().parse().ok()
}

/// The key a client is counted under: its address, an IPv6 address by its /64 (one
/// host usually holds the whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey(IpAddr);

impl From<IpAddr> for ClientKey {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => Self(address),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(bits.into()))
                }
            },
        }
    }
}

/// One key's current window.
#[derive(Debug)]
struct Window {
    /// Unix milliseconds of the window's first failure.
    start: i64,
    failures: u32,
}

/// Failures counted per key in fixed windows: at most `max_failures` a window, then
/// refused until it ends. Memory is bounded by the cache's capacity, the least
/// recently seen key dropped first.
pub(crate) struct FailureWindows<K> {
    max_failures: u32,
    window_ms: i64,
    keys: quick_cache::sync::Cache<K, Arc<Mutex<Window>>>,
}

impl<K: Eq + std::hash::Hash + Clone> FailureWindows<K> {
    /// Counts at most `max_failures` per `window` for each of at most `capacity` keys.
    pub(crate) fn new(max_failures: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max_failures,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            keys: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// The seconds until `key`'s window ends (at least 1) when it is over the limit
    /// at `now_ms`, else `None`. Counts nothing.
    pub(crate) fn throttled(&self, key: &K, now_ms: i64) -> Option<u64> {
        let entry = self.keys.get(key)?;
        let window = entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.over_limit(&window, now_ms)
    }

    /// Counts one failure of `key` at `now_ms`; `Err(seconds)` when it is over the
    /// limit, with the whole seconds until its window ends (at least 1).
    pub(crate) fn record(&self, key: &K, now_ms: i64) -> Result<(), u64> {
        let entry = self
            .keys
            .get_or_insert_with(key, || {
                Ok::<_, std::convert::Infallible>(Arc::new(Mutex::new(Window {
                    start: now_ms,
                    failures: 0,
                })))
            })
            .unwrap_or_else(|never| match never {});
        let mut window = entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.window_ended(&window, now_ms) {
            window.start = now_ms;
            window.failures = 0;
        }
        window.failures = window.failures.saturating_add(1);
        self.over_limit(&window, now_ms).map_or(Ok(()), Err)
    }

    /// Forgets `key`'s failures.
    pub(crate) fn forget(&self, key: &K) {
        self.keys.remove(key);
    }

    fn window_ended(&self, window: &Window, now_ms: i64) -> bool {
        now_ms.saturating_sub(window.start) >= self.window_ms || now_ms < window.start
    }

    fn over_limit(&self, window: &Window, now_ms: i64) -> Option<u64> {
        if self.window_ended(window, now_ms) || window.failures <= self.max_failures {
            return None;
        }
        let left_ms = window
            .start
            .saturating_add(self.window_ms)
            .saturating_sub(now_ms);
        Some(u64::try_from(left_ms).unwrap_or(0).div_ceil(1000).max(1))
    }

    /// How many keys are tracked now.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Counts failures per client; shared by every clone of an authenticator.
pub(crate) struct Limiter {
    limit: InvalidTokenLimit,
    clients: FailureWindows<ClientKey>,
    /// Set once a failure without a client address was reported.
    warned_no_client: AtomicBool,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limit", &self.limit)
            .field("clients", &self.clients.len())
            .finish()
    }
}

/// True for the errors a client's credentials caused (not a missing scope, not an
/// unavailable store).
pub(crate) fn counts_as_failure(error: &AuthError) -> bool {
    matches!(
        error,
        AuthError::NoCredentials
            | AuthError::CredentialContainsSpaces
            | AuthError::CredentialInvalidCharacters
            | AuthError::ConflictingHeaders
            | AuthError::InvalidToken
            | AuthError::TokenExpired
            | AuthError::UserInactive
    )
}

impl Limiter {
    pub(crate) fn new(limit: InvalidTokenLimit) -> Self {
        Self {
            limit,
            clients: FailureWindows::new(limit.max_failures, limit.window, limit.max_clients),
            warned_no_client: AtomicBool::new(false),
        }
    }

    /// Says once, as a warning, that invalid credentials came without a client
    /// address, so that the limiter cannot tell clients apart and limits none: the
    /// app is served in a way that hides the peer address from the adapter.
    pub(crate) fn warn_no_client_once(&self) {
        if !self.warned_no_client.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the invalid-token limiter is on, but invalid credentials arrived without a \
                 client address, so it cannot tell clients apart and limits none: serve the app \
                 so that the adapter learns each connection's peer address (see the adapter's \
                 docs on the limiter), or name a trusted proxy's header with \
                 InvalidTokenLimit::trusted_client_ip_header (said once)"
            );
        }
    }

    /// Its settings.
    pub(crate) fn limit(&self) -> &InvalidTokenLimit {
        &self.limit
    }

    /// Counts one failure of `client` at `now_ms`; `Err(Throttled)` when it is over
    /// the limit, with the whole seconds until its window ends (at least 1).
    pub(crate) fn record_failure(&self, client: IpAddr, now_ms: i64) -> Result<(), AuthError> {
        self.clients
            .record(&ClientKey::from(client), now_ms)
            .map_err(|retry_after| AuthError::Throttled { retry_after })
    }

    /// How many clients are tracked now.
    #[cfg(test)]
    pub(crate) fn tracked_clients(&self) -> usize {
        self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn failures_past_the_limit_are_throttled_until_the_window_ends() {
        let limiter = Limiter::new(InvalidTokenLimit::new(3, Duration::from_secs(60)));
        for _ in 0..3 {
            assert_eq!(limiter.record_failure(A, 1_000), Ok(()));
        }
        assert_eq!(
            limiter.record_failure(A, 1_000),
            Err(AuthError::Throttled { retry_after: 60 })
        );
        assert_eq!(
            limiter.record_failure(A, 30_500),
            Err(AuthError::Throttled { retry_after: 31 })
        );
        assert_eq!(
            limiter.record_failure(A, 60_999),
            Err(AuthError::Throttled { retry_after: 1 })
        );
        // Another client has its own count.
        assert_eq!(limiter.record_failure(B, 1_000), Ok(()));
        // A new window starts afresh.
        assert_eq!(limiter.record_failure(A, 61_000), Ok(()));
    }

    #[test]
    fn a_zero_limit_throttles_the_first_failure() {
        let limiter = Limiter::new(InvalidTokenLimit::new(0, Duration::from_millis(1)));
        assert_eq!(
            limiter.record_failure(A, 0),
            Err(AuthError::Throttled { retry_after: 1 })
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_slash_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse::<Ipv6Addr>().unwrap().into();
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse::<Ipv6Addr>().unwrap().into();
        let other_net: IpAddr = "2001:db8:1:3::1".parse::<Ipv6Addr>().unwrap().into();
        assert_eq!(ClientKey::from(one), ClientKey::from(same_net));
        assert_ne!(ClientKey::from(one), ClientKey::from(other_net));
        let mapped: IpAddr = Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().into();
        assert_eq!(ClientKey::from(mapped), ClientKey::from(A));
    }

    #[test]
    fn memory_stays_within_the_client_bound() {
        let limiter =
            Limiter::new(InvalidTokenLimit::new(1, Duration::from_secs(60)).max_clients(64));
        for i in 0..10_000u32 {
            let _ = limiter.record_failure(IpAddr::V4(Ipv4Addr::from(i)), 0);
        }
        assert!(
            limiter.tracked_clients() <= 64,
            "{}",
            limiter.tracked_clients()
        );
    }

    #[test]
    fn only_credential_failures_count() {
        assert!(counts_as_failure(&AuthError::InvalidToken));
        assert!(counts_as_failure(&AuthError::CredentialInvalidCharacters));
        assert!(!counts_as_failure(&AuthError::NotProvided));
        assert!(!counts_as_failure(&AuthError::InsufficientScope {
            required: "x".into()
        }));
        assert!(!counts_as_failure(&AuthError::Throttled { retry_after: 1 }));
    }
}

#[cfg(test)]
mod client_address_tests {
    use super::*;

    #[test]
    fn the_last_address_a_header_names_is_taken() {
        let parse = |values: &[&str]| address_in_header(values.iter().map(|v| v.as_bytes()));
        assert_eq!(
            parse(&["203.0.113.9"]),
            Some(IpAddr::from([203, 0, 113, 9]))
        );
        assert_eq!(
            parse(&["198.51.100.1, 203.0.113.9"]),
            Some(IpAddr::from([203, 0, 113, 9])),
            "X-Forwarded-For: the entry the nearest proxy appended"
        );
        assert_eq!(
            parse(&["1.1.1.1", " 2001:db8::1 "]),
            "2001:db8::1".parse().ok()
        );
        for bad in [
            &[][..],
            &["not an address"],
            &["1.2.3.4:80"],
            &[""],
            &["1.2.3.4,"],
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
