//! What a request authenticated as: the user and its token, and the state this node
//! keeps about a verified token (the cached value).

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, OnceLock};

use zeroize::Zeroizing;

use crate::clock::{unix_micros, unix_millis};
use crate::error::{AuthError, Challenge};
use crate::rejection::Rejection;
use crate::store::TokenInfo;

/// A request's authenticated user and the token it came with. Cheap to clone: one
/// shared pointer, to the value the cache holds.
pub struct Identity<U> {
    shared: Arc<Shared<U>>,
}

/// What an [`Identity`] points to: the user and the token's state, in one allocation.
pub(super) struct Shared<U> {
    pub(super) token: TokenState,
    pub(super) user: U,
    /// The challenge of the authenticator that verified the token: what
    /// [`Identity::require_scope`] answers with.
    pub(super) challenge: Challenge,
}

/// The challenge of an identity made by hand: the default authenticator's
/// (keywords `Token` and `Bearer`, realm `api`).
fn default_challenge() -> Challenge {
    static DEFAULT: OnceLock<Challenge> = OnceLock::new();
    DEFAULT.get_or_init(|| Challenge::bearer("api")).clone()
}

impl<U> Identity<U> {
    /// Pairs a user with a token's metadata. Its refusals ([`Self::require_scope`])
    /// answer as a default authenticator does (RFC 6750, realm `api`, DRF's bodies).
    pub fn new(user: U, token: TokenInfo) -> Self {
        Self::read_at(user, token, 0, 0, default_challenge(), None)
    }

    /// An identity built from a store read that began at revocation count `epoch`
    /// and millisecond `read_at` of the monotonic clock, by an authenticator that
    /// answers with `challenge`; `legacy_key` is the key when it was found in the
    /// legacy key store.
    pub(super) fn read_at(
        user: U,
        token: TokenInfo,
        read_at: i64,
        epoch: u64,
        challenge: Challenge,
        legacy_key: Option<Box<Zeroizing<String>>>,
    ) -> Self {
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
                legacy_key,
            },
            user,
            challenge,
        }))
    }

    /// The identity of a cached value.
    pub(super) fn from_shared(shared: Arc<Shared<U>>) -> Self {
        Self { shared }
    }

    /// The value, as the cache keeps it.
    pub(super) fn shared(&self) -> &Arc<Shared<U>> {
        &self.shared
    }

    pub(super) fn state(&self) -> &TokenState {
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

    /// True when the token is a key found in the
    /// [legacy key store](crate::AuthenticatorBuilder::legacy_key_store), such as a
    /// key Django issued; false for the authenticator's own tokens.
    pub fn is_legacy_key(&self) -> bool {
        self.shared.token.legacy_key.is_some()
    }

    /// True when the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.token().has_scope(scope)
    }

    /// `Ok` when the token carries `scope`: a scope checked at run time, inside a
    /// handler. The rejection answers as the extractors' do (403, the
    /// authenticator's challenge naming the scope, its error body), and converts into
    /// each adapter's `AuthRejection`, so `?` returns it:
    ///
    /// ```
    /// use authtoken::{Identity, TokenId, TokenInfo};
    ///
    /// let token = TokenInfo::new(
    ///     TokenId(1),
    ///     "alice".into(),
    ///     "laptop".into(),
    ///     vec!["read".into()],
    ///     time::OffsetDateTime::UNIX_EPOCH,
    /// );
    /// let identity = Identity::new("alice".to_owned(), token);
    /// assert!(identity.require_scope("read").is_ok());
    /// let refused = identity.require_scope("write").unwrap_err();
    /// assert_eq!(refused.status(), 403);
    /// assert_eq!(refused.code(), "insufficient_scope");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of [`AuthError::InsufficientScope`] (403) otherwise.
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        if self.has_scope(scope) {
            return Ok(());
        }
        let error = AuthError::InsufficientScope {
            required: scope.into(),
        };
        let challenge = &self.shared.challenge;
        challenge.count_refusal(&error);
        tracing::debug!(
            outcome = "refused",
            code = error.code(),
            token_id = self.token().id.0,
            scope,
            "authentication refused"
        );
        Err(Rejection::new(error, challenge.clone()))
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

/// A verified token's metadata and what this node tracks about it; the metadata
/// first, read on a cache hit only for a last-use write (see [`Shared`]).
pub(super) struct TokenState {
    pub(super) info: TokenInfo,
    /// Unix microseconds, [`NEVER`] for never; moves with sliding expiry, up to
    /// `limit`.
    pub(super) expires: AtomicI64,
    /// Unix microseconds of the token's expiry limit, [`NEVER`] for none.
    pub(super) limit: i64,
    /// Unix milliseconds of the last last-use write this node made or saw (with the
    /// token cache off, [`Inner::use_marks`] keeps it instead).
    pub(super) last_touch: AtomicI64,
    /// The monotonic clock's millisecond of the store read behind this state.
    pub(super) read_at: i64,
    /// The revocation count when that store read began, or [`CONFIRMED`] once no
    /// revocation is known to have run during that read. Until then a cached entry
    /// serves only while the revocation count is still this, so that a request
    /// starting after a revocation returned never sees an entry the revocation raced
    /// (between its insert and its removal).
    pub(super) epoch: AtomicU64,
    /// The key, for a token found in the legacy key store: what revoking it deletes
    /// there (that store keeps keys in plaintext, and knows them by nothing else).
    /// Such a token's use is never written.
    pub(super) legacy_key: Option<Box<Zeroizing<String>>>,
}

/// [`TokenState::epoch`] of a cached entry no revocation raced.
pub(super) const CONFIRMED: u64 = u64::MAX;

/// [`TokenState::expires`] and [`TokenState::limit`] of a token that never expires.
pub(super) const NEVER: i64 = i64::MAX;
