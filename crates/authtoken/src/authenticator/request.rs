//! The request path: header -> format and checksum -> digest -> cache -> store ->
//! expiry -> user (the last-use writes it starts are in [`super::last_use`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::erased::{ErasedJoined, ErasedKeyStore};
use super::identity::{CONFIRMED, Identity};
use super::{Authenticator, Inner, millis};
use crate::batch::{Batcher, Turn};
use crate::clock::unix_millis;
use crate::digest::TokenDigest;
use crate::error::{AuthError, StoreError};
use crate::header::{parse_authorization, parse_authorization_headers};
use crate::legacy::LEGACY_KEY_ID;
use crate::metrics::Counted;
use crate::store::{TokenInfo, TokenRecord};
use crate::token::{classify, is_legacy_key};

/// What a joined lookup answers a request: its identity, a rejection, or `None`
/// when no token has the digest (under the current key).
pub(super) type JoinedAnswer<U> = Result<Option<Identity<U>>, AuthError>;

/// Where an answer came from, as the trace events say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The `Authorization` header alone: none, another scheme, or malformed.
    Header,
    /// The token's format or checksum: refused without a digest lookup.
    Format,
    /// The in-process cache.
    Cache,
    /// The store.
    Store,
}

impl Source {
    /// Where [`Authenticator::answer_from_memory`]'s `answer` came from: only a token
    /// of a bad format is refused as invalid there; anything else is the cache's.
    pub(crate) fn of_memory_answer<T>(answer: &Result<T, AuthError>) -> Self {
        match answer {
            Err(AuthError::InvalidToken) => Self::Format,
            _ => Self::Cache,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Format => "format",
            Self::Cache => "cache",
            Self::Store => "store",
        }
    }
}

/// The start of a store read, when trace events are on (their `duration_us`).
pub(crate) fn trace_started() -> Option<Instant> {
    tracing::enabled!(tracing::Level::TRACE).then(Instant::now)
}

/// A joined lookup, and the queue that batches its calls.
pub(super) struct Joined<U> {
    pub(super) lookup: Box<dyn ErasedJoined<U>>,
    pub(super) batcher: Arc<Batcher<JoinedAnswer<U>>>,
}

/// What is known when a store read begins: the revocation count, the wall time, and
/// the monotonic clock's reading (what a cache entry's age is counted from).
pub(super) struct ReadStart {
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

/// Logs a failed store, lookup or loader during authentication, which then fails
/// closed with 503.
pub(super) fn unavailable(what: &'static str, error: StoreError) -> AuthError {
    tracing::warn!(error = %error, "{what} failed during authentication");
    AuthError::Unavailable(error)
}

impl<U: Send + Sync + 'static> Authenticator<U> {
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
        let (result, source, started) =
            match header.map(|header| parse_authorization(header, &self.inner.settings.keywords)) {
                None | Some(Ok(None)) => (Ok(None), Source::Header, None),
                Some(Err(error)) => (Err(error), Source::Header, None),
                Some(Ok(Some(credential))) => {
                    let (result, source, started) = self.verify(credential).await;
                    (result.map(Some), source, started)
                }
            };
        self.observe(result.as_ref().map(Option::as_ref), source, started);
        result
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
        let (result, source, started) =
            match parse_authorization_headers(headers, &self.inner.settings.keywords) {
                Ok(None) => (Ok(None), Source::Header, None),
                Err(error) => (Err(error), Source::Header, None),
                Ok(Some(credential)) => {
                    let (result, source, started) = self.verify(credential).await;
                    (result.map(Some), source, started)
                }
            };
        self.observe(result.as_ref().map(Option::as_ref), source, started);
        result
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
        let (result, source, started) = self.verify(credential).await;
        self.observe(result.as_ref().map(Some), source, started);
        result
    }

    /// Verifies a credential from memory or the store; where the answer came from,
    /// and when the store read began (with trace events on).
    async fn verify(
        &self,
        credential: &[u8],
    ) -> (Result<Identity<U>, AuthError>, Source, Option<Instant>) {
        match self.answer_from_memory(credential) {
            Ok(answer) => {
                let source = Source::of_memory_answer(&answer);
                (answer, source, None)
            }
            Err(digest) => {
                let started = trace_started();
                let answer = self.answer_from_store(credential, digest).await;
                (answer, Source::Store, started)
            }
        }
    }

    /// Counts a request's outcome ([`Self::metrics`]) and traces it: a `TRACE` event
    /// for an accepted or anonymous request (token id, user id), a `DEBUG` event with
    /// the code for a refusal; where the answer came from, and for a store read how
    /// long it took. Never the token nor its digest.
    pub(crate) fn observe(
        &self,
        result: Result<Option<&Identity<U>>, &AuthError>,
        source: Source,
        started: Option<Instant>,
    ) {
        let counters = &self.inner.counters;
        let duration_us =
            started.map(|started| u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        match result {
            Ok(Some(identity)) => {
                counters.count(Counted::Accepted);
                tracing::trace!(
                    outcome = "accepted",
                    token_id = identity.token().id.0,
                    user_id = %identity.token().user_id,
                    source = source.as_str(),
                    duration_us,
                    "authenticated"
                );
            }
            Ok(None) => {
                counters.count(Counted::Anonymous);
                tracing::trace!(
                    outcome = "anonymous",
                    source = source.as_str(),
                    "no credentials"
                );
            }
            Err(error) => {
                counters.refused(error);
                tracing::debug!(
                    outcome = "refused",
                    code = error.code(),
                    source = source.as_str(),
                    duration_us,
                    "authentication refused"
                );
            }
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
                inner.counters.count(Counted::CacheHit);
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
        inner.counters.count(Counted::StoreRead);
        if let Some(keys) = &inner.legacy_store
            && is_legacy_key(credential)
        {
            return self
                .answer_from_legacy_store(&**keys, credential, digest)
                .await;
        }
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
        self.admit(digest, record, user, &read, None)
    }

    /// Asks the legacy key store about a key of DRF's shape.
    async fn answer_from_legacy_store(
        &self,
        keys: &dyn ErasedKeyStore,
        credential: &[u8],
        digest: TokenDigest,
    ) -> Result<Identity<U>, AuthError> {
        let inner = &*self.inner;
        let settings = &inner.settings;
        let key = std::str::from_utf8(credential).map_err(|_| AuthError::InvalidToken)?;
        let key = Box::new(Zeroizing::new(key.to_owned()));
        let read = ReadStart::now(inner);
        let Some(row) = keys
            .find_key(&key)
            .await
            .map_err(|error| unavailable("legacy key store", error))?
        else {
            return Err(AuthError::InvalidToken);
        };
        let user = inner
            .loader
            .load(&row.user_id)
            .await
            .map_err(|error| unavailable("user loader", error))?;
        let info = TokenInfo::new(
            LEGACY_KEY_ID,
            row.user_id,
            String::new(),
            settings.legacy_key_scopes.clone(),
            row.created,
        );
        let record = TokenRecord::new(info, digest, settings.hasher.current_version());
        self.admit(digest, record, user, &read, Some(key))
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
                answers.push((found, self.admit(found, record, user, &read, None)));
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
    /// `legacy_key` is the key of a token found in the legacy key store, whose use is
    /// never written.
    fn admit(
        &self,
        digest: TokenDigest,
        record: TokenRecord,
        user: Option<U>,
        read: &ReadStart,
        legacy_key: Option<Box<Zeroizing<String>>>,
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
        let identity = Identity::read_at(
            user,
            record.info,
            read.monotonic_millis,
            epoch,
            inner.settings.challenge.clone(),
            legacy_key,
        );
        let state = identity.state();
        match &inner.use_marks {
            _ if state.legacy_key.is_some() => {}
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
}
