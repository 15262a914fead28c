//! [`Authentication`]: the outcome of authenticating one request, as adapters keep
//! it for the rest of the request.

use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use zeroize::Zeroizing;

use crate::authenticator::{Authenticator, Identity, Source, trace_started};
use crate::digest::TokenDigest;
use crate::error::{AuthError, Challenge};
use crate::header::parse_authorization_headers;
use crate::limiter::counts_as_failure;
use crate::rejection::Rejection;

/// The outcome of authenticating one request, with the challenge to answer a failure
/// with.
///
/// An adapter makes one per request ([`Authenticator::authenticate_request`]), keeps
/// it where handlers find it (request extensions, a request-local cache) and answers
/// each extractor from it, so a request is authenticated at most once. The three
/// ways a route can ask are here, so that every adapter means the same by them:
/// [`Authentication::require`] (a user is required), [`Authentication::optional`]
/// (anonymous is fine, bad credentials are not) and
/// [`Authentication::require_scope`].
///
/// Cheap to clone: the identity and the challenge are shared. It keeps no
/// authenticator (every request makes one, and a reference count shared by the
/// server's threads would move between their cores on each request): a handler that
/// manages tokens takes the authenticator from its application state.
///
/// ```
/// use authtoken::{AuthError, Authenticator, IssueOptions, MemoryStore, UserIdLoader};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader).build()?;
/// let issued = auth.issue("7", IssueOptions::new().scopes(["read"])).await?;
/// let header = format!("Bearer {}", issued.token().expose_secret());
///
/// let signed_in = auth.authenticate_request([header.as_bytes()]).await;
/// assert_eq!(signed_in.require()?.user(), "7");
/// let forbidden = signed_in.require_scope("write").unwrap_err();
/// assert_eq!(forbidden.status(), 403);
/// assert_eq!(
///     forbidden.error(),
///     Some(&AuthError::InsufficientScope { required: "write".into() })
/// );
///
/// let anonymous = auth.authenticate_request(None::<&[u8]>).await;
/// assert!(anonymous.optional()?.is_none());
/// assert_eq!(anonymous.require().unwrap_err().error(), Some(&AuthError::NotProvided));
///
/// let bad = auth.authenticate_request([b"Token atk_typo".as_slice()]).await;
/// assert_eq!(bad.optional().unwrap_err().error(), Some(&AuthError::InvalidToken));
/// # Ok(()) }
/// ```
pub struct Authentication<U> {
    result: Result<Option<Identity<U>>, AuthError>,
    challenge: Challenge,
}

impl<U> Clone for Authentication<U> {
    fn clone(&self) -> Self {
        Self {
            result: self.result.clone(),
            challenge: self.challenge.clone(),
        }
    }
}

impl<U: fmt::Debug> fmt::Debug for Authentication<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authentication")
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

impl<U: Send + Sync + 'static> Authentication<U> {
    /// Pairs what [`Authenticator::authenticate_headers`] answered with the
    /// challenge of the authenticator that answered it
    /// ([`Authenticator::challenge`]).
    pub fn new(result: Result<Option<Identity<U>>, AuthError>, challenge: Challenge) -> Self {
        Self { result, challenge }
    }

    /// What the core answered: `Ok(None)` for an anonymous request (no
    /// `Authorization` header, or another scheme), `Ok(Some(_))` for a user, `Err` for
    /// bad credentials or an unavailable store.
    pub fn result(&self) -> Result<Option<&Identity<U>>, &AuthError> {
        self.result.as_ref().map(Option::as_ref)
    }

    /// The authenticated user and token, if any.
    pub fn identity(&self) -> Option<&Identity<U>> {
        self.result.as_ref().ok().and_then(Option::as_ref)
    }

    /// The error, if authentication failed.
    pub fn error(&self) -> Option<&AuthError> {
        self.result.as_ref().err()
    }

    /// The challenge to answer a failure with.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The identity, where a user is required.
    ///
    /// # Errors
    ///
    /// The stored error, or [`AuthError::NotProvided`] for an anonymous request, as a
    /// [`Rejection`] with this request's challenge.
    pub fn require(&self) -> Result<&Identity<U>, Rejection> {
        match &self.result {
            Ok(Some(identity)) => Ok(identity),
            Ok(None) => Err(self.reject(AuthError::NotProvided)),
            Err(error) => Err(self.reject(error.clone())),
        }
    }

    /// The identity if credentials were sent, `None` for an anonymous request.
    ///
    /// # Errors
    ///
    /// The stored error, as a [`Rejection`]: bad credentials are refused even where a
    /// user is optional, as Django REST Framework does.
    pub fn optional(&self) -> Result<Option<&Identity<U>>, Rejection> {
        match &self.result {
            Ok(identity) => Ok(identity.as_ref()),
            Err(error) => Err(self.reject(error.clone())),
        }
    }

    /// The identity, where a user holding `scope` is required.
    ///
    /// # Errors
    ///
    /// As [`Self::require`], then [`AuthError::InsufficientScope`] (403) when the
    /// token lacks `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<&Identity<U>, Rejection> {
        let identity = self.require()?;
        identity.require_scope(scope)?;
        Ok(identity)
    }

    /// `error` as a rejection, with this request's challenge.
    pub fn reject(&self, error: AuthError) -> Rejection {
        Rejection::new(error, self.challenge.clone())
    }
}

impl<U: Send + Sync + 'static> Authenticator<U> {
    /// Authenticates a request from all its `Authorization` header values (as
    /// [`Self::authenticate_headers`]) and keeps the outcome with this authenticator:
    /// what an adapter stores for the rest of the request.
    pub async fn authenticate_request<'h, I>(&self, headers: I) -> Authentication<U>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        self.authenticate_request_from(None, headers).await
    }

    /// As [`Self::authenticate_request`], for a request from `client` (the peer
    /// address, as the adapter knows it): with
    /// [`AuthenticatorBuilder::invalid_token_limit`](crate::AuthenticatorBuilder::invalid_token_limit)
    /// on, a client that keeps sending invalid credentials is answered
    /// [`AuthError::Throttled`] (429, `Retry-After`) instead. A valid token always
    /// passes, and a request without a client address is never limited.
    pub async fn authenticate_request_from<'h, I>(
        &self,
        client: Option<IpAddr>,
        headers: I,
    ) -> Authentication<U>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        match self.authenticate_request_now(client, headers) {
            Ok(authentication) => authentication,
            Err(pending) => pending.finish().await,
        }
    }

    /// As [`Self::authenticate_request_from`], without waiting when memory is enough:
    /// no credentials, a malformed or bad-checksum token, a cached token, a throttled
    /// client. `Err` when the store must be asked: then
    /// [`PendingAuthentication::finish`] does it. An adapter answers the common cases
    /// without a future of its own this way.
    ///
    /// # Errors
    ///
    /// The [`PendingAuthentication`] of a token the cache does not hold.
    pub fn authenticate_request_now<'h, I>(
        &self,
        client: Option<IpAddr>,
        headers: I,
    ) -> Result<Authentication<U>, PendingAuthentication<U>>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let (result, source) = match parse_authorization_headers(headers, self.keywords()) {
            Err(error) => (Err(error), Source::Header),
            Ok(None) => (Ok(None), Source::Header),
            Ok(Some(credential)) => match self.answer_from_memory(credential) {
                Ok(answer) => {
                    let source = Source::of_memory_answer(&answer);
                    (answer.map(Some), source)
                }
                Err(digest) => {
                    return Err(PendingAuthentication {
                        authenticator: self.clone(),
                        client,
                        credential: Zeroizing::new(credential.to_vec()),
                        digest,
                    });
                }
            },
        };
        Ok(self.settle(client, result, source, None))
    }

    /// The request's [`Authentication`] for `result`, throttled when the client keeps
    /// sending invalid credentials.
    fn settle(
        &self,
        client: Option<IpAddr>,
        mut result: Result<Option<Identity<U>>, AuthError>,
        source: Source,
        started: Option<Instant>,
    ) -> Authentication<U> {
        if let (Err(error), Some((limiter, now_ms))) = (&result, self.limiter())
            && counts_as_failure(error)
        {
            match client {
                None => limiter.warn_no_client_once(),
                Some(client) => {
                    if let Err(throttled) = limiter.record_failure(client, now_ms) {
                        tracing::debug!(client = %client, "invalid credentials throttled");
                        result = Err(throttled);
                    }
                }
            }
        }
        self.observe(result.as_ref().map(Option::as_ref), source, started);
        Authentication::new(result, self.challenge().clone())
    }
}

/// A request whose token the cache does not hold, from
/// [`Authenticator::authenticate_request_now`]: [`Self::finish`] asks the store. It
/// keeps a copy of the credential, wiped when dropped.
pub struct PendingAuthentication<U> {
    authenticator: Authenticator<U>,
    client: Option<IpAddr>,
    credential: Zeroizing<Vec<u8>>,
    digest: TokenDigest,
}

impl<U: Send + Sync + 'static> PendingAuthentication<U> {
    /// Asks the store, and settles the request as
    /// [`Authenticator::authenticate_request_from`] would.
    pub async fn finish(self) -> Authentication<U> {
        let started = trace_started();
        let result = self
            .authenticator
            .answer_from_store(&self.credential, self.digest)
            .await
            .map(Some);
        self.authenticator
            .settle(self.client, result, Source::Store, started)
    }
}

impl<U> fmt::Debug for PendingAuthentication<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthentication")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// Names a scope at the type level, so that an adapter's scope extractor
/// (`RequireScope<S, U>`) can require it; one type serves every adapter.
///
/// ```
/// use authtoken::ScopeName;
///
/// /// Tokens that may write.
/// pub struct Write;
///
/// impl ScopeName for Write {
///     const NAME: &'static str = "write";
/// }
/// ```
pub trait ScopeName {
    /// The scope, as issued with the token.
    const NAME: &'static str;
}

#[cfg(test)]
mod tests {
    use crate::{AuthError, Authenticator, IssueOptions, MemoryStore, Rejection, UserIdLoader};

    #[tokio::test(flavor = "current_thread")]
    async fn the_three_ways_to_ask() {
        let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
            .build()
            .unwrap();
        let issued = auth
            .issue("ada", IssueOptions::new().scopes(["read"]))
            .await
            .unwrap();
        let header = format!("Token {}", issued.token().expose_secret());

        let user = auth.authenticate_request([header.as_bytes()]).await;
        assert_eq!(user.require().unwrap().user(), "ada");
        assert_eq!(user.optional().unwrap().unwrap().user(), "ada");
        assert_eq!(user.require_scope("read").unwrap().user(), "ada");
        assert_eq!(
            user.require_scope("write").unwrap_err().status(),
            403,
            "a missing scope is forbidden"
        );
        assert!(user.error().is_none());

        let anonymous = auth.authenticate_request(None::<&[u8]>).await;
        assert!(anonymous.identity().is_none());
        assert!(anonymous.optional().unwrap().is_none());
        assert_eq!(
            anonymous.require().unwrap_err().error(),
            Some(&AuthError::NotProvided)
        );
        assert_eq!(
            anonymous.require_scope("read").unwrap_err().error(),
            Some(&AuthError::NotProvided)
        );

        let bad = auth
            .authenticate_request([b"Bearer atk_nope".as_slice()])
            .await;
        assert_eq!(bad.error(), Some(&AuthError::InvalidToken));
        assert_eq!(
            bad.optional().unwrap_err(),
            Rejection::new(AuthError::InvalidToken, auth.challenge().clone())
        );
        assert_eq!(
            bad.require().unwrap_err().error(),
            Some(&AuthError::InvalidToken)
        );
        assert_eq!(bad.challenge(), auth.challenge());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn memory_answers_without_waiting_and_the_store_only_when_needed() {
        let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
            .invalid_token_limit(1, std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        let issued = auth.issue("ada", IssueOptions::new()).await.unwrap();
        let header = format!("Token {}", issued.token().expose_secret());
        let client = Some(std::net::IpAddr::from([192, 0, 2, 1]));

        // Not cached yet: the store must be asked, then the answer is the usual one.
        let pending = auth
            .authenticate_request_now(client, [header.as_bytes()])
            .expect_err("not cached yet");
        assert!(!format!("{pending:?}").contains(issued.token().expose_secret()));
        assert_eq!(pending.finish().await.require().unwrap().user(), "ada");
        // Cached now: answered from memory.
        let cached = auth
            .authenticate_request_now(client, [header.as_bytes()])
            .expect("cached");
        assert_eq!(cached.require().unwrap().user(), "ada");
        // No credentials, and a malformed token: answered from memory too, and the
        // limiter counts the failure (the second is throttled).
        let anonymous = auth
            .authenticate_request_now(client, None::<&[u8]>)
            .expect("anonymous");
        assert!(anonymous.identity().is_none());
        for expected in [401, 429] {
            let bad = auth
                .authenticate_request_now(client, [b"Token atk_nope".as_slice()])
                .expect("malformed");
            assert_eq!(bad.error().map(AuthError::status), Some(expected));
        }
    }

    /// A last-use write whose runtime shut down before it ran (an actix-web worker
    /// stopping) must not leave `flush` waiting for ever.
    #[test]
    fn a_write_dropped_with_its_runtime_does_not_block_flush() {
        let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
            .build()
            .unwrap();
        let worker = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let header = worker.block_on(async {
            let issued = auth.issue("ada", IssueOptions::new()).await.unwrap();
            let header = format!("Token {}", issued.token().expose_secret());
            // The first use spawns a last-use write on this runtime; block_on returns
            // as soon as this future is done, before the write was polled.
            auth.authenticate(Some(header.as_bytes())).await.unwrap();
            header
        });
        drop(worker);
        assert!(!header.is_empty());

        let flush = std::pin::pin!(auth.flush());
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            std::future::Future::poll(flush, &mut context).is_ready(),
            "flush waits for a write that was dropped"
        );
    }
}
