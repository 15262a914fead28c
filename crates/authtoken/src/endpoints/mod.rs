//! The token endpoints every adapter mounts, written once: what Django REST
//! Framework's `obtain_auth_token` and django-rest-knox's Login, Logout and LogoutAll
//! views give a Python developer, plus GitHub-style personal tokens.
//!
//! | route (under the application's prefix; the paths are [`TokenPaths`]) | method |
//! | --- | --- |
//! | `POST token` JSON or form `{"username","password"}` | [`TokenEndpoints::login`] |
//! | `POST logout` | [`TokenEndpoints::logout`] |
//! | `POST logout-all` | [`TokenEndpoints::logout_all`] |
//! | `GET tokens` | [`TokenEndpoints::list`] |
//! | `POST tokens` `{"name","scopes"?,"expires_in"?}` | [`TokenEndpoints::create`] |
//! | `DELETE tokens/{id}` | [`TokenEndpoints::revoke`] |
//!
//! The application writes one thing: how a username and password are checked
//! ([`CheckCredentials`]). Policy (the scopes that exist, which a login carries,
//! which one manages tokens, lifetimes, the failed-login throttle, the paths) is a
//! [`TokenPolicy`]. An adapter reads each body with its framework's own extractor
//! into [`LoginForm`] or [`NewTokenForm`], calls the method, and answers the result
//! as JSON, or the [`EndpointError`] with [`TokenEndpoints::error_response`] (whose
//! body the application may reshape with [`TokenEndpoints::error_body`]).

mod error;
mod forms;
mod paths;
mod policy;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

pub use error::{BLANK, EndpointError, FieldErrors, REQUIRED};
pub use forms::{CreatedToken, LoginForm, NewTokenForm, TokenBody, TokenItem};
pub use paths::TokenPaths;
pub use policy::{PolicyError, TokenPolicy};

use crate::error::{ErrorResponse, IssueError, StoreError};
use crate::limiter::{ClientKey, FailureWindows};
use crate::{Authenticator, Identity, IssueOptions, TokenId, TokenInfo};

/// The longest username a login may name, in characters.
pub const MAX_USERNAME_CHARS: usize = 150;
/// The longest password a login may send, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest personal token name, in characters (after trimming).
pub const MAX_TOKEN_NAME_CHARS: usize = 100;
/// How many username and client pairs the failed-login throttle tracks at most.
const TRACKED_LOGINS: usize = 10_000;

/// How the application checks a username and password: the one piece of the token
/// endpoints it writes.
///
/// ```
/// use authtoken::endpoints::CheckCredentials;
///
/// /// One user, `alice`, with the password `wonderland`, user id 42.
/// struct OneUser;
///
/// impl CheckCredentials for OneUser {
///     type Error = std::convert::Infallible;
///
///     async fn check(&self, username: &str, password: &str) -> Result<Option<String>, Self::Error> {
///         Ok((username == "alice" && password == "wonderland").then(|| "42".to_owned()))
///     }
/// }
/// ```
pub trait CheckCredentials: Send + Sync + 'static {
    /// Why the check could not run (a database down, a full queue of password hashes):
    /// answered 503, never as wrong credentials.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The id of the user `username` names, when `password` is theirs and the user may
    /// log in; `None` otherwise (unknown user, wrong password, inactive user alike).
    fn check(
        &self,
        username: &str,
        password: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send;

    /// How many seconds a client should wait after `error`, sent as `Retry-After` with
    /// the 503; `None` (the default) sends none.
    fn retry_after(&self, error: &Self::Error) -> Option<u64> {
        let _ = error;
        None
    }
}

/// A [`CheckCredentials`] behind a pointer: the endpoints are generic over the user
/// type only.
trait ErasedCheck: Send + Sync {
    fn check<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, EndpointError>> + Send + 'a>>;
}

impl<C: CheckCredentials> ErasedCheck for C {
    fn check<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, EndpointError>> + Send + 'a>> {
        Box::pin(async move {
            CheckCredentials::check(self, username, password)
                .await
                .map_err(|error| {
                    tracing::warn!(error = %error, "the credentials check failed");
                    EndpointError::Unavailable {
                        retry_after: self.retry_after(&error),
                        source: StoreError::new(error),
                    }
                })
        })
    }
}

/// Writes an error's body in the application's own shape.
type ErrorBodyFn = dyn Fn(&EndpointError) -> Bytes + Send + Sync;

/// The token endpoints for user type `U`. Cheap to clone: one shared pointer.
pub struct TokenEndpoints<U> {
    inner: Arc<Inner<U>>,
}

struct Inner<U> {
    authenticator: Authenticator<U>,
    credentials: Box<dyn ErasedCheck>,
    policy: TokenPolicy,
    error_body: Option<Box<ErrorBodyFn>>,
    failed_logins: FailureWindows<(Box<str>, Option<ClientKey>)>,
}

impl<U> Clone for TokenEndpoints<U> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<U> std::fmt::Debug for TokenEndpoints<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoints")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl<U: Send + Sync + 'static> TokenEndpoints<U> {
    /// The endpoints of `authenticator`'s tokens, checking logins with `credentials`
    /// under `policy`.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] when the policy contradicts itself.
    pub fn new<C: CheckCredentials>(
        authenticator: Authenticator<U>,
        credentials: C,
        policy: TokenPolicy,
    ) -> Result<Self, PolicyError> {
        policy.check()?;
        let (failures, window) = policy.login_limit();
        let failed_logins = FailureWindows::new(failures, window, TRACKED_LOGINS);
        Ok(Self {
            inner: Arc::new(Inner {
                authenticator,
                credentials: Box::new(credentials),
                policy,
                error_body: None,
                failed_logins,
            }),
        })
    }

    /// Writes every error body with `body` instead of DRF's `{"detail": ...}`; status
    /// and headers stay as [`EndpointError`] says. Call before cloning.
    #[must_use]
    pub fn error_body(
        self,
        body: impl Fn(&EndpointError) -> Bytes + Send + Sync + 'static,
    ) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.error_body = Some(Box::new(body));
                inner
            }
            Err(shared) => {
                tracing::warn!("TokenEndpoints::error_body called on a shared value: ignored");
                return Self { inner: shared };
            }
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The authenticator the endpoints issue and revoke with.
    pub fn authenticator(&self) -> &Authenticator<U> {
        &self.inner.authenticator
    }

    /// Where each endpoint is under the application's prefix: what the adapters
    /// mount ([`TokenPolicy::paths`]).
    pub fn paths(&self) -> &TokenPaths {
        self.inner.policy.endpoint_paths()
    }

    /// The answer for `error`: status, `WWW-Authenticate`, `Retry-After`, and the body
    /// (the application's shape when it set one, DRF's otherwise).
    pub fn error_response(&self, error: &EndpointError) -> ErrorResponse {
        let body = match &self.inner.error_body {
            Some(body) => body(error),
            None => Bytes::from(error.body()),
        };
        error.response_with(body)
    }

    /// `POST token`: checks the username and password and issues a new login token
    /// (every login gets its own, as knox does), carrying the policy's login scopes.
    /// `client` is the caller's address, for the failed-login throttle (per username
    /// and client).
    ///
    /// # Errors
    ///
    /// 400 for missing, blank or too long fields and for wrong credentials, 429 past
    /// the failed-login throttle, 503 when the check or the store fails.
    pub async fn login(
        &self,
        client: Option<IpAddr>,
        form: LoginForm,
    ) -> Result<TokenBody, EndpointError> {
        let (username, password) = form.validate()?;
        let inner = &*self.inner;
        let key = (Box::from(username.as_str()), client.map(ClientKey::from));
        let now_ms = inner.authenticator.now_unix_millis();
        if let Some(retry_after) = inner.failed_logins.throttled(&key, now_ms) {
            return Err(EndpointError::Throttled { retry_after });
        }
        let Some(user_id) = inner.credentials.check(&username, &password).await? else {
            return match inner.failed_logins.record(&key, now_ms) {
                Ok(()) => Err(EndpointError::InvalidCredentials),
                Err(retry_after) => Err(EndpointError::Throttled { retry_after }),
            };
        };
        inner.failed_logins.forget(&key);
        self.issue_login_token(&user_id).await
    }

    /// A login token for `user_id`, as `POST token` issues after checking the
    /// password: for an application that signs a user in another way (at
    /// registration, say).
    ///
    /// # Errors
    ///
    /// 400 when the user holds as many tokens as the per-user limit allows, 503 when
    /// the store fails or the user id is not one the store takes.
    pub async fn issue_login_token(&self, user_id: &str) -> Result<TokenBody, EndpointError> {
        let policy = &self.inner.policy;
        let options = IssueOptions::new()
            .name(policy.name_of_a_login())
            .scopes(policy.scopes_of_a_login().iter().cloned());
        let issued = self
            .inner
            .authenticator
            .issue(user_id, options)
            .await
            .map_err(issue_error)?;
        Ok(TokenBody::new(issued.into_parts().0))
    }

    /// `POST logout`: revokes the token the request came with (through
    /// [`Authenticator::revoke_identity`], so a legacy key is deleted where it is kept).
    ///
    /// # Errors
    ///
    /// 503 when the store fails.
    pub async fn logout(&self, identity: &Identity<U>) -> Result<(), EndpointError> {
        self.inner
            .authenticator
            .revoke_identity(identity)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// `POST logout-all`: revokes every token of the caller's user, personal tokens
    /// included, through [`Authenticator::revoke_all_of`] (under the id the calling
    /// token's row holds and under the loader's id for the user).
    ///
    /// # Errors
    ///
    /// 503 when the store fails.
    pub async fn logout_all(&self, identity: &Identity<U>) -> Result<(), EndpointError> {
        self.inner
            .authenticator
            .revoke_all_of(identity)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// `GET tokens`: the caller's live tokens, newest first, the one making the
    /// request marked `current`. Needs the policy's management scope.
    ///
    /// # Errors
    ///
    /// 403 without the scope, 503 when the store fails.
    pub async fn list(&self, identity: &Identity<U>) -> Result<Vec<TokenItem>, EndpointError> {
        self.require_management_scope(identity)?;
        let mut tokens = self.live_tokens(identity).await?;
        tokens.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.0.cmp(&a.id.0)));
        let current = identity.token().id;
        Ok(tokens
            .into_iter()
            .map(|info| TokenItem::new(info, current))
            .collect())
    }

    /// `POST tokens`: a personal token for the caller's user, named, with scopes the
    /// calling token holds, expiring after `expires_in` seconds (the policy's default
    /// when left out); it never slides past that. The secret is in the answer and
    /// nowhere else.
    ///
    /// # Errors
    ///
    /// 400 for a bad name, an unknown scope or a lifetime out of bounds; 403 without
    /// the management scope or for a scope the calling token lacks; 503 when the store
    /// fails.
    pub async fn create(
        &self,
        identity: &Identity<U>,
        form: NewTokenForm,
    ) -> Result<CreatedToken, EndpointError> {
        self.require_management_scope(identity)?;
        let policy = &self.inner.policy;
        let (min, max) = policy.lifetime_range();
        let (name, scopes, lifetime) = form.validate(
            policy.known_scopes(),
            policy.default_lifetime_value(),
            (min, max),
        )?;
        if !scopes.iter().all(|scope| identity.has_scope(scope)) {
            return Err(EndpointError::PermissionDenied);
        }
        let options = IssueOptions::new()
            .name(name)
            .scopes(scopes)
            .expires_in(lifetime);
        let issued = self
            .inner
            .authenticator
            .issue(&identity.token().user_id, options)
            .await
            .map_err(issue_error)?;
        let (token, info) = issued.into_parts();
        Ok(CreatedToken::new(
            TokenItem::new(info, identity.token().id),
            token,
        ))
    }

    /// `DELETE tokens/{id}`: revokes one of the caller's tokens (the current one
    /// included: it stops working). `id` is the path segment as sent.
    ///
    /// # Errors
    ///
    /// 404 for another user's token, an unknown or a malformed id; 403 without the
    /// management scope; 503 when the store fails.
    pub async fn revoke(&self, identity: &Identity<U>, id: &str) -> Result<(), EndpointError> {
        self.require_management_scope(identity)?;
        let id = id.parse::<TokenId>().map_err(|_| EndpointError::NotFound)?;
        let mine = self
            .live_tokens(identity)
            .await?
            .iter()
            .any(|info| info.id == id);
        if !mine {
            return Err(EndpointError::NotFound);
        }
        let authenticator = &self.inner.authenticator;
        match authenticator.revoke(id).await.map_err(unavailable)? {
            true => Ok(()),
            // Revoked by another request meanwhile.
            false => Err(EndpointError::NotFound),
        }
    }

    fn require_management_scope(&self, identity: &Identity<U>) -> Result<(), EndpointError> {
        let scope = self.inner.policy.scope_managing_tokens();
        identity.require_scope(scope).map_err(EndpointError::Auth)
    }

    /// The caller's user's tokens that have not expired.
    async fn live_tokens(&self, identity: &Identity<U>) -> Result<Vec<TokenInfo>, EndpointError> {
        let authenticator = &self.inner.authenticator;
        let now = authenticator.now();
        let mut tokens = authenticator
            .list(Some(&identity.token().user_id))
            .await
            .map_err(unavailable)?;
        tokens.retain(|info| !info.is_expired_at(now));
        Ok(tokens)
    }
}

fn unavailable(error: StoreError) -> EndpointError {
    tracing::warn!(error = %error, "the token store failed in a token endpoint");
    EndpointError::Unavailable {
        retry_after: None,
        source: error,
    }
}

/// What a failed issue answers: the user's token limit is a field-free 400, every
/// other failure (the store's, or a user id the credentials check made up) a 503.
fn issue_error(error: IssueError) -> EndpointError {
    match error {
        IssueError::LimitReached { limit } => EndpointError::TooManyTokens { limit },
        IssueError::Store(error) => unavailable(error),
        other => unavailable(StoreError::new(other)),
    }
}
