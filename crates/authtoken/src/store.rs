//! Where token records live: the [`TokenStore`] trait and its record types.
//!
//! `authtoken-sqlx` implements the trait on SQLite, PostgreSQL and MySQL. A store
//! keeps digests only; it never sees a plaintext token.

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::digest::TokenDigest;
use crate::error::IssueError;
use crate::token::HINT_MAX_LEN;
#[cfg(doc)]
use crate::token::PlaintextToken;

/// The longest user id a token may carry, in bytes.
pub const MAX_USER_ID_LEN: usize = 255;

/// `Ok` when `user_id` can be stored with a token: 1 to [`MAX_USER_ID_LEN`] bytes, no
/// control characters. [`crate::Authenticator::issue`] checks it; so should anything
/// that writes token rows another way (an import, say).
///
/// ```
/// assert!(authtoken::store::check_user_id("42").is_ok());
/// assert!(authtoken::store::check_user_id("").is_err());
/// assert!(authtoken::store::check_user_id("4\u{1b}[2J").is_err());
/// ```
///
/// # Errors
///
/// [`IssueError::InvalidUserId`] otherwise.
pub fn check_user_id(user_id: &str) -> Result<(), IssueError> {
    if user_id.is_empty()
        || user_id.len() > MAX_USER_ID_LEN
        || user_id.chars().any(char::is_control)
    {
        return Err(IssueError::InvalidUserId);
    }
    Ok(())
}

/// The expiry limit of a token that expires at `expires`, asked to be `limit`: never
/// before the expiry, and the expiry itself when none was given; none for a token
/// that never expires.
fn limit_for(
    expires: Option<OffsetDateTime>,
    limit: Option<OffsetDateTime>,
) -> Option<OffsetDateTime> {
    match (expires, limit) {
        (Some(expires), Some(limit)) => Some(limit.max(expires)),
        (expires, _) => expires,
    }
}

/// `hint`'s last [`HINT_MAX_LEN`] characters.
fn clip_hint(mut hint: String) -> String {
    if let Some((start, _)) = hint.char_indices().rev().nth(HINT_MAX_LEN - 1) {
        hint.drain(..start);
    }
    hint
}

/// A token's id in its store: what an administrator names to revoke or rotate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(pub i64);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TokenId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(Self)
    }
}

/// What may be known about a token without its secret: the metadata that listings,
/// handlers and the command line show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The token's id.
    pub id: TokenId,
    /// Its user's id, as text (integer and UUID ids both fit).
    pub user_id: String,
    /// A label, such as a device name.
    pub name: String,
    /// A few characters that identify the token to a person without revealing it
    /// (see [`PlaintextToken::hint`]), such as `atk_3zQ9`; empty for a token stored
    /// without one (imported, or issued before hints were kept).
    #[serde(default)]
    pub hint: String,
    /// What the token may do.
    pub scopes: Vec<String>,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it stops working, if ever. Sliding expiry moves it, never past
    /// [`TokenInfo::expiry_limit`].
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// The latest `expires` can ever be: fixed at issue, lowered by a rotation's grace
    /// period, raised by nothing. `None` exactly when the token never expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiry_limit: Option<OffsetDateTime>,
    /// When it was last used, written at most once per configured interval.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
}

impl TokenInfo {
    /// Builds the metadata of a record read from a store, with an empty hint.
    pub fn new(
        id: TokenId,
        user_id: String,
        name: String,
        scopes: Vec<String>,
        created: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            user_id,
            name,
            hint: String::new(),
            scopes,
            created,
            expires: None,
            expiry_limit: None,
            last_used: None,
        }
    }

    /// Sets the hint, keeping at most its last [`HINT_MAX_LEN`] characters (as
    /// [`PlaintextToken::hint`] makes them).
    #[must_use]
    pub fn with_hint(mut self, hint: String) -> Self {
        self.hint = clip_hint(hint);
        self
    }

    /// Sets the expiry, and the expiry limit to the same (see
    /// [`TokenInfo::with_expiry_limit`] for one beyond it).
    #[must_use]
    pub fn with_expires(mut self, expires: Option<OffsetDateTime>) -> Self {
        self.expires = expires;
        self.expiry_limit = expires;
        self
    }

    /// Sets the expiry limit. A limit before the expiry, or none for a token that
    /// expires, is taken as the expiry itself.
    #[must_use]
    pub fn with_expiry_limit(mut self, limit: Option<OffsetDateTime>) -> Self {
        self.expiry_limit = limit_for(self.expires, limit);
        self
    }

    /// Sets the last use.
    #[must_use]
    pub fn with_last_used(mut self, last_used: Option<OffsetDateTime>) -> Self {
        self.last_used = last_used;
        self
    }

    /// True when the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// True when the expiry has passed at `now`.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }
}

/// A stored token: its metadata, its digest, and the version of the key the digest
/// was made under (0 for plain SHA-256).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRecord {
    /// The metadata.
    pub info: TokenInfo,
    /// The digest the store looks the token up by.
    pub digest: TokenDigest,
    /// The digest key version.
    pub key_version: u32,
}

impl TokenRecord {
    /// Assembles a record read from a store.
    pub fn new(info: TokenInfo, digest: TokenDigest, key_version: u32) -> Self {
        Self {
            info,
            digest,
            key_version,
        }
    }
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("info", &self.info)
            .field("digest", &self.digest)
            .field("key_version", &self.key_version)
            .finish()
    }
}

/// A token to insert: everything but the id, which the store assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewToken {
    /// The digest to store under a unique index.
    pub digest: TokenDigest,
    /// The digest key version.
    pub key_version: u32,
    /// The user's id.
    pub user_id: String,
    /// A label.
    pub name: String,
    /// The hint shown in listings (see [`TokenInfo::hint`]); empty for none. Stores
    /// keep up to 16 characters; [`PlaintextToken::hint`] makes at most
    /// [`HINT_MAX_LEN`].
    pub hint: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Issue time.
    pub created: OffsetDateTime,
    /// Expiry, if any.
    pub expires: Option<OffsetDateTime>,
    /// The latest the expiry may ever slide to (see [`TokenInfo::expiry_limit`]).
    pub expiry_limit: Option<OffsetDateTime>,
}

impl NewToken {
    /// A token for `user_id` with no name, no hint, no scopes and no expiry.
    pub fn new(
        digest: TokenDigest,
        key_version: u32,
        user_id: String,
        created: OffsetDateTime,
    ) -> Self {
        Self {
            digest,
            key_version,
            user_id,
            name: String::new(),
            hint: String::new(),
            scopes: Vec::new(),
            created,
            expires: None,
            expiry_limit: None,
        }
    }

    /// Sets the name.
    #[must_use]
    pub fn with_name(mut self, name: String) -> Self {
        self.name = name;
        self
    }

    /// Sets the hint, keeping at most its last [`HINT_MAX_LEN`] characters (as
    /// [`PlaintextToken::hint`] makes them).
    #[must_use]
    pub fn with_hint(mut self, hint: String) -> Self {
        self.hint = clip_hint(hint);
        self
    }

    /// Sets the scopes.
    #[must_use]
    pub fn with_scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the expiry, and the expiry limit to the same.
    #[must_use]
    pub fn with_expires(mut self, expires: Option<OffsetDateTime>) -> Self {
        self.expires = expires;
        self.expiry_limit = expires;
        self
    }

    /// Sets the expiry limit; as [`TokenInfo::with_expiry_limit`], never before the
    /// expiry.
    #[must_use]
    pub fn with_expiry_limit(mut self, limit: Option<OffsetDateTime>) -> Self {
        self.expiry_limit = limit_for(self.expires, limit);
        self
    }
}

/// A sliding-expiry move asked of [`TokenStore::touch`]: the expiry goes from `from`
/// to `to` only if the row still holds `from`, so that a shortening (a rotation, say)
/// that landed in between always wins; and never past the row's expiry limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slide {
    /// The expiry the token had when the move was decided.
    pub from: OffsetDateTime,
    /// The new expiry.
    pub to: OffsetDateTime,
}

/// The result of [`TokenStore::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per issue, moved out at once: boxing the record would only add an allocation"
)]
pub enum InsertOutcome {
    /// The token was stored.
    Inserted(TokenRecord),
    /// The user already holds `limit` live tokens; nothing was stored.
    LimitReached,
    /// A token with the same digest exists already; nothing was stored.
    DuplicateDigest,
}

/// Reads tokens and their users in one query (a join, as Django's
/// `select_related("user")` does), for [`crate::AuthenticatorBuilder::joined_lookup`].
///
/// Without it, a token the cache does not hold costs two round trips to the
/// database: [`TokenStore::find_by_digest`], then [`crate::UserLoader::load`]. With
/// it, one; and requests that miss the cache while lookups are already running are
/// answered together, by one query for all their digests (see
/// [`crate::AuthenticatorBuilder::max_concurrent_lookups`]). The authenticator still
/// asks the [`crate::UserLoader`] whether a user is active, and still uses the store
/// and the loader for a token stored under an older HMAC key (found only after this
/// lookup missed it).
///
/// `authtoken-sqlx` lists the token columns to select and reads them back from a
/// row; the application writes the join with its own user table.
pub trait JoinedLookup: Send + Sync + 'static {
    /// The application's user, as the [`crate::UserLoader`] loads it.
    type User: Send + Sync + 'static;
    /// The lookup's own error, kept as the source of [`crate::StoreError`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// The tokens stored under any of `digests` (one to a few hundred, possibly
    /// repeated), each with its user (`None` when the user does not exist), in any
    /// order; a digest no token has is left out.
    fn find_with_users(
        &self,
        digests: &[TokenDigest],
    ) -> impl Future<Output = Result<Vec<TokenWithUser<Self::User>>, Self::Error>> + Send;
}

/// What a [`JoinedLookup`] finds: the token, and its user (`None` when the user does
/// not exist).
pub type TokenWithUser<U> = (TokenRecord, Option<U>);

/// Storage for token records, looked up by digest.
///
/// `Ok(None)` means "not found"; `Err` means the store failed, which authentication
/// turns into 503 and never into 401. Revocation deletes the record.
pub trait TokenStore: Send + Sync + 'static {
    /// The store's own error, kept as the source of [`crate::StoreError`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stores a token. With `limit`, the insert happens only while the user holds
    /// fewer than `limit` unexpired tokens at `token.created`, checked atomically with
    /// the insert so that concurrent issues never exceed it.
    fn insert(
        &self,
        token: &NewToken,
        limit: Option<u32>,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send;

    /// The record with this digest.
    fn find_by_digest(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send;

    /// The record with this id.
    fn get(
        &self,
        id: TokenId,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send;

    /// Deletes one token, returning what was deleted.
    fn revoke(
        &self,
        id: TokenId,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send;

    /// Deletes every token of a user, returning what was deleted.
    fn revoke_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<TokenRecord>, Self::Error>> + Send;

    /// The tokens of one user, or of every user with `None`, oldest first.
    fn list(
        &self,
        user_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<TokenInfo>, Self::Error>> + Send;

    /// Records a use at `used_at`. With `slide`, also moves the expiry from
    /// `slide.from` to `slide.to` (sliding expiry) in the same statement, as a
    /// compare-and-set: only while the row's expiry is still exactly `slide.from`,
    /// and never past the row's expiry limit. Returns `false` when a slide was asked
    /// and not made (or there is no such token).
    fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Brings a token's expiry and its expiry limit forward to `at`; an expiry
    /// already earlier stays. `false` when there is no such token.
    fn shorten_expiry(
        &self,
        id: TokenId,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Tells every node that shares this store that a user changed (deactivated,
    /// deleted, logged out everywhere), so that each drops the user's cached tokens
    /// (see [`crate::Authenticator::user_changed`]). A store that cannot broadcast
    /// does nothing: other nodes then notice within their cache ttl.
    fn announce_user_change(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = user_id;
        async { Ok(()) }
    }

    /// Replaces a token's digest (re-keying it under a newer HMAC secret).
    fn replace_digest(
        &self,
        id: TokenId,
        digest: &TokenDigest,
        key_version: u32,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Deletes every token whose expiry is at or before `now`; returns how many.
    fn purge_expired(
        &self,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
}

/// A shared store is a store, so that an authenticator and the application (a
/// [`JoinedLookup`], say) can hold the same one.
impl<S: TokenStore> TokenStore for std::sync::Arc<S> {
    type Error = S::Error;

    fn insert(
        &self,
        token: &NewToken,
        limit: Option<u32>,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send {
        S::insert(self, token, limit)
    }

    fn find_by_digest(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send {
        S::find_by_digest(self, digest)
    }

    fn get(
        &self,
        id: TokenId,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send {
        S::get(self, id)
    }

    fn revoke(
        &self,
        id: TokenId,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send {
        S::revoke(self, id)
    }

    fn revoke_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<TokenRecord>, Self::Error>> + Send {
        S::revoke_user(self, user_id)
    }

    fn list(
        &self,
        user_id: Option<&str>,
    ) -> impl Future<Output = Result<Vec<TokenInfo>, Self::Error>> + Send {
        S::list(self, user_id)
    }

    fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        S::touch(self, id, used_at, slide)
    }

    fn shorten_expiry(
        &self,
        id: TokenId,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        S::shorten_expiry(self, id, at)
    }

    fn announce_user_change(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        S::announce_user_change(self, user_id)
    }

    fn replace_digest(
        &self,
        id: TokenId,
        digest: &TokenDigest,
        key_version: u32,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        S::replace_digest(self, id, digest, key_version)
    }

    fn purge_expired(
        &self,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send {
        S::purge_expired(self, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_clipped_to_their_last_eight_characters() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let info = |hint: &str| {
            TokenInfo::new(TokenId(1), "1".into(), String::new(), Vec::new(), at)
                .with_hint(hint.to_owned())
                .hint
        };
        assert_eq!(info(""), "");
        assert_eq!(info("atk_3zQ9"), "atk_3zQ9");
        assert_eq!(info("myapp_3zQ9"), "app_3zQ9");
        assert_eq!(info("ééééé_ßßßß"), "ééé_ßßßß", "characters, not bytes");
        let new = NewToken::new(TokenDigest::from_bytes([1; 32]), 0, "1".into(), at)
            .with_hint("abcdefghijklmnop_3zQ9".to_owned());
        assert_eq!(new.hint, "nop_3zQ9");
    }

    #[test]
    fn metadata_serialised_before_hints_reads_with_an_empty_one() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let info = TokenInfo::new(TokenId(3), "1".into(), "laptop".into(), Vec::new(), at)
            .with_hint("atk_3zQ9".to_owned());
        let json = serde_json::to_value(&info).expect("serialise");
        assert_eq!(json["hint"], "atk_3zQ9");
        assert_eq!(
            serde_json::from_value::<TokenInfo>(json.clone()).ok(),
            Some(info.clone())
        );
        let mut old = json;
        old.as_object_mut().expect("an object").remove("hint");
        let read: TokenInfo = serde_json::from_value(old).expect("deserialise");
        assert_eq!(read.hint, "");
        assert_eq!(
            read,
            TokenInfo {
                hint: String::new(),
                ..info
            }
        );
    }
}
