//! Keys that another system keeps in plaintext, looked up by the key itself: Django
//! REST Framework's `authtoken_token`, for a service that runs beside a Django site
//! and accepts the tokens it issues.
//!
//! [`AuthenticatorBuilder::legacy_key_store`](crate::AuthenticatorBuilder::legacy_key_store)
//! sends every credential of DRF's shape (40 lowercase hex characters) to a
//! [`LegacyKeyStore`], and every token of the authenticator's own prefix to its
//! [`TokenStore`](crate::TokenStore): one lookup per request, chosen by the
//! credential's shape before any database is asked. A credential of neither shape is
//! refused without a lookup.
//!
//! What the authenticator writes to the legacy store is the deletes that revoke a
//! key (logout, logging out everywhere, [`Authenticator::revoke_user`]); it never
//! inserts there and never records a key's use. A key deleted by the other system is
//! refused once this node's cache entry for it ages out (the cache ttl).
//!
//! `authtoken-sqlx` implements the trait over Django's own tables.
//!
//! [`Authenticator::revoke_user`]: crate::Authenticator::revoke_user

use std::future::Future;

use time::OffsetDateTime;

use crate::store::TokenId;

/// The [`TokenId`] of every token found in a [`LegacyKeyStore`]: such a key has no row
/// in the token store, and no id there (ids start at 1).
pub const LEGACY_KEY_ID: TokenId = TokenId(0);

/// A key's row in a [`LegacyKeyStore`]: whose it is and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LegacyKey {
    /// The user's id, as text.
    pub user_id: String,
    /// When the key was made.
    pub created: OffsetDateTime,
}

impl LegacyKey {
    /// The row of a key of `user_id` made at `created`.
    pub fn new(user_id: String, created: OffsetDateTime) -> Self {
        Self { user_id, created }
    }
}

/// Keys kept in plaintext by another system, such as DRF's `authtoken_token`.
///
/// Only keys of DRF's shape ever reach it: 40 lowercase hex characters, checked
/// before it is asked. `Ok(None)` means "no such key"; `Err` means the store failed,
/// which authentication turns into 503 and never into 401.
pub trait LegacyKeyStore: Send + Sync + 'static {
    /// The store's own error, kept as the source of [`crate::StoreError`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// The row of `key`, if there is one.
    fn find_key(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<LegacyKey>, Self::Error>> + Send;

    /// Deletes the row of `key`; `false` when there was none.
    fn delete_key(&self, key: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Deletes every key of a user; returns how many there were.
    fn delete_user_keys(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
}
