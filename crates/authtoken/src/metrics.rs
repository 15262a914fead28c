//! What an authenticator answered, counted: accepted, anonymous, refused by code,
//! served from the cache, read from the store. [`Authenticator::metrics`] reads the
//! counts for any exporter (Prometheus, OpenTelemetry, a log line).
//!
//! Counting costs one uncontended atomic add per answer (and one per cache hit or
//! store read): every thread adds to a stripe of its own, on a cache line of its own,
//! and a read sums the stripes.
//!
//! [`Authenticator::metrics`]: crate::Authenticator::metrics

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::error::AuthError;

/// Every refusal code, in the order [`AuthMetrics`] keeps them.
const CODES: [&str; 11] = AuthError::CODES;

/// The counter of each answer, within a stripe.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counted {
    /// A request authenticated.
    Accepted,
    /// A request without credentials for these keywords.
    Anonymous,
    /// A token answered from the cache.
    CacheHit,
    /// A token the store was asked about.
    StoreRead,
}

const ACCEPTED: usize = 0;
const ANONYMOUS: usize = 1;
const CACHE_HITS: usize = 2;
const STORE_READS: usize = 3;
const REFUSED: usize = 4;
const SLOTS: usize = REFUSED + CODES.len();

/// How many stripes the counts are spread over.
const STRIPES: usize = 16;

/// One thread's counts (shared with the threads that drew the same stripe), on a
/// cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Stripe([AtomicU64; SLOTS]);

/// The counts of one authenticator.
pub(crate) struct Counters {
    stripes: Box<[Stripe; STRIPES]>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            stripes: Box::new(std::array::from_fn(|_| Stripe::default())),
        }
    }
}

/// The stripe of the calling thread: drawn in turn the first time it counts.
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| {
        let mut index = stripe.get();
        if index == usize::MAX {
            index = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            stripe.set(index);
        }
        index
    })
}

/// Where `error` is counted among the refusals.
fn refused_slot(error: &AuthError) -> usize {
    REFUSED + error.code_index()
}

impl Counters {
    fn add(&self, slot: usize) {
        self.stripes[stripe_index()].0[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one answer of the kind `counted`.
    pub(crate) fn count(&self, counted: Counted) {
        self.add(match counted {
            Counted::Accepted => ACCEPTED,
            Counted::Anonymous => ANONYMOUS,
            Counted::CacheHit => CACHE_HITS,
            Counted::StoreRead => STORE_READS,
        });
    }

    /// Counts one refusal.
    pub(crate) fn refused(&self, error: &AuthError) {
        self.add(refused_slot(error));
    }

    /// The counts so far, summed over the stripes.
    pub(crate) fn snapshot(&self) -> AuthMetrics {
        let mut sums = [0_u64; SLOTS];
        for stripe in self.stripes.iter() {
            for (sum, count) in sums.iter_mut().zip(&stripe.0) {
                *sum = sum.wrapping_add(count.load(Ordering::Relaxed));
            }
        }
        let mut refused = [0; CODES.len()];
        refused.copy_from_slice(&sums[REFUSED..]);
        AuthMetrics {
            accepted: sums[ACCEPTED],
            anonymous: sums[ANONYMOUS],
            cache_hits: sums[CACHE_HITS],
            store_reads: sums[STORE_READS],
            refused,
        }
    }
}

/// What an authenticator has answered since it was built
/// ([`Authenticator::metrics`](crate::Authenticator::metrics)). Counts only grow;
/// an exporter publishes them as counters.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use authtoken::{Authenticator, MemoryStore, UserIdLoader};
///
/// let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader).build().unwrap();
/// let _ = auth.authenticate(Some(b"Token atk_nonsense")).await;
/// let metrics = auth.metrics();
/// assert_eq!(metrics.refused("invalid_token"), 1);
/// for (code, count) in metrics.refused_by_code() {
///     println!("authtoken_refused_total{{code=\"{code}\"}} {count}");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthMetrics {
    /// Requests authenticated.
    pub accepted: u64,
    /// Requests without credentials for the accepted keywords (left to the route).
    pub anonymous: u64,
    /// Tokens answered from the in-process cache.
    pub cache_hits: u64,
    /// Tokens the store was asked about (several may share one query).
    pub store_reads: u64,
    refused: [u64; CODES.len()],
}

impl AuthMetrics {
    /// Requests refused with `code` ([`AuthError::code`]); 0 for a code that is not
    /// one.
    pub fn refused(&self, code: &str) -> u64 {
        CODES
            .iter()
            .position(|known| *known == code)
            .map_or(0, |index| self.refused[index])
    }

    /// Every refusal code with its count, in the order of [`AuthError::code`]'s
    /// table (zeros included, so that an exporter's series are all there).
    pub fn refused_by_code(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CODES.iter().copied().zip(self.refused.iter().copied())
    }

    /// Requests refused, whatever the code.
    pub fn refused_total(&self) -> u64 {
        self.refused
            .iter()
            .fold(0, |sum, count| sum.wrapping_add(*count))
    }

    /// Requests answered 429 by the invalid-token limiter (`throttled`).
    pub fn throttled(&self) -> u64 {
        self.refused("throttled")
    }

    /// Requests answered 503 because the store or the user loader failed
    /// (`unavailable`).
    pub fn store_errors(&self) -> u64 {
        self.refused("unavailable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    #[test]
    fn every_code_has_its_counter() {
        let counters = Counters::default();
        let errors = [
            AuthError::NotProvided,
            AuthError::NoCredentials,
            AuthError::CredentialContainsSpaces,
            AuthError::CredentialInvalidCharacters,
            AuthError::ConflictingHeaders,
            AuthError::InvalidToken,
            AuthError::TokenExpired,
            AuthError::UserInactive,
            AuthError::InsufficientScope {
                required: "x".into(),
            },
            AuthError::Throttled { retry_after: 1 },
            AuthError::Unavailable(StoreError::new(std::io::Error::other("down"))),
        ];
        for (times, error) in errors.iter().enumerate() {
            for _ in 0..=times {
                counters.refused(error);
            }
        }
        let metrics = counters.snapshot();
        for (times, error) in errors.iter().enumerate() {
            assert_eq!(metrics.refused(error.code()), times as u64 + 1, "{error:?}");
        }
        assert_eq!(metrics.refused("no_such_code"), 0);
        assert_eq!(metrics.refused_total(), (1..=11).sum::<u64>());
        assert_eq!(metrics.throttled(), 10);
        assert_eq!(metrics.store_errors(), 11);
        assert_eq!(metrics.refused_by_code().count(), CODES.len());
        assert_eq!(metrics.accepted + metrics.anonymous, 0);
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let counters = Counters::default();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counters.count(Counted::Accepted);
                        counters.count(Counted::CacheHit);
                    }
                });
            }
        });
        let metrics = counters.snapshot();
        assert_eq!((metrics.accepted, metrics.cache_hits), (8000, 8000));
    }
}
