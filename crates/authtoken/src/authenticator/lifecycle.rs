//! The token lifecycle: issue, rotate, revoke, list, purge, and evicting from the
//! cache what a revocation touched.

use std::sync::atomic::Ordering;
use std::time::Duration;

use time::OffsetDateTime;

use super::{Authenticator, Identity, TokenCache};
use crate::clock::to_store_precision;
use crate::digest::TokenDigest;
use crate::error::{IssueError, StoreError};
use crate::store::{InsertOutcome, NewToken, TokenId, TokenInfo, check_user_id};
use crate::token::PlaintextToken;

/// How long a token issued with [`IssueOptions`] lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Lifetime {
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
/// are refused where they enter ([`ConfigError`](crate::ConfigError),
/// [`IssueError::InvalidLifetime`]), so that no date arithmetic can overflow.
pub const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `at + by`, or [`IssueError::InvalidLifetime`] when `by` is over [`MAX_LIFETIME`]
/// or the sum leaves the calendar.
pub(super) fn add_lifetime(at: OffsetDateTime, by: Duration) -> Result<OffsetDateTime, IssueError> {
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

/// Name, scopes and user id checks shared by issue and rotate.
pub(crate) fn validate_issue(user_id: &str, options: &IssueOptions) -> Result<(), IssueError> {
    check_user_id(user_id)?;
    if options.name.chars().count() > 255 || options.name.chars().any(char::is_control) {
        return Err(IssueError::InvalidName);
    }
    check_scopes(&options.scopes)
}

/// At most 64 scopes, each 1 to 64 characters of `[A-Za-z0-9_.:/-]`.
pub(super) fn check_scopes(scopes: &[String]) -> Result<(), IssueError> {
    if scopes.len() > 64 {
        return Err(IssueError::InvalidScope(format!("{} scopes", scopes.len())));
    }
    for scope in scopes {
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
    /// Now, on the authenticator's clock.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Now in Unix milliseconds, on the authenticator's clock.
    pub(crate) fn now_unix_millis(&self) -> i64 {
        self.inner.clock.now_unix_millis()
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
            .with_hint(token.hint())
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

    /// Revokes the token a request authenticated with: its row in the token store
    /// or, for a key found in the
    /// [legacy key store](crate::AuthenticatorBuilder::legacy_key_store), the key's
    /// row there. `false` when it was gone already.
    ///
    /// # Errors
    ///
    /// The store's failure.
    pub async fn revoke_identity(&self, identity: &Identity<U>) -> Result<bool, StoreError> {
        match (&identity.state().legacy_key, &self.inner.legacy_store) {
            (Some(key), Some(keys)) => {
                let deleted = keys.delete_key(key).await?;
                self.evict(&self.inner.settings.hasher.digest(key.as_bytes()));
                Ok(deleted)
            }
            _ => self.revoke(identity.token().id).await,
        }
    }

    /// Revokes every token of a user, and the user's keys in the
    /// [legacy key store](crate::AuthenticatorBuilder::legacy_key_store) when there
    /// is one; returns how many there were.
    ///
    /// # Errors
    ///
    /// The store's failure.
    pub async fn revoke_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let revoked = self.inner.store.revoke_user(user_id).await?;
        for record in &revoked {
            self.evict(&record.digest);
        }
        let mut count = revoked.len() as u64;
        if let Some(keys) = &self.inner.legacy_store {
            count = count.saturating_add(keys.delete_user_keys(user_id).await?);
        }
        // Drops the user's cached legacy keys too.
        self.user_changed(user_id).await?;
        Ok(count)
    }

    /// Logs the identity's user out everywhere: revokes every token held under the id
    /// the identity's token row holds and, when the loader names the user's id
    /// ([`UserLoader::user_id`](crate::UserLoader::user_id)) and it differs, every
    /// token held under that id too. Returns how many tokens there were.
    ///
    /// # Errors
    ///
    /// The store's failure.
    pub async fn revoke_all_of(&self, identity: &Identity<U>) -> Result<u64, StoreError> {
        let held = identity.token().user_id.as_str();
        let mut revoked = self.revoke_user(held).await?;
        if let Some(canonical) = self.inner.loader.user_id(identity.user())
            && canonical != held
        {
            revoked += self.revoke_user(&canonical).await?;
        }
        Ok(revoked)
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
    pub(super) fn invalidate(&self, evict: impl FnOnce(&TokenCache<U>)) {
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
}
