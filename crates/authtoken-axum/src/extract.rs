//! The axum extractors: [`Authenticated`], [`MaybeAuthenticated`],
//! `Option<Authenticated<U>>` and [`RequireScope`].
//!
//! They never authenticate: they read the [`Authentication`] that [`AuthLayer`]
//! stored, so a request is authenticated once however many extractors ask. Without
//! the layer they answer 500 with the core's
//! [`Rejection::MissingAuthenticator`](authtoken::Rejection::MissingAuthenticator),
//! and log an error naming the layer. A handler that wants the raw outcome takes
//! `Extension<Authentication<U>>`.
//!
//! [`AuthLayer`]: crate::AuthLayer

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use authtoken::{Authentication, Identity, Rejection, ScopeName};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::AuthRejection;

/// What the layer stored for user type `U`, or the rejection of a route without it.
fn authentication<U: Send + Sync + 'static>(
    parts: &Parts,
) -> Result<&Authentication<U>, AuthRejection> {
    parts.extensions.get::<Authentication<U>>().ok_or_else(|| {
        Rejection::missing_authenticator::<U>("add authtoken_axum::AuthLayer to the router").into()
    })
}

/// A required user: the handler runs only for an authenticated request.
///
/// Rejects with [`AuthRejection`]: 401 "Authentication credentials were not
/// provided." for an anonymous request, the core's error for bad credentials (401),
/// conflicting headers (400) or an unavailable store (503).
///
/// As `Option<Authenticated<U>>` it behaves as [`MaybeAuthenticated<U>`].
pub struct Authenticated<U>(pub Identity<U>);

impl<U> Authenticated<U> {
    /// The identity.
    pub fn into_inner(self) -> Identity<U> {
        self.0
    }
}

impl<U> Deref for Authenticated<U> {
    type Target = Identity<U>;

    fn deref(&self) -> &Identity<U> {
        &self.0
    }
}

impl<U> Clone for Authenticated<U> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<U: fmt::Debug> fmt::Debug for Authenticated<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Authenticated").field(&self.0).finish()
    }
}

impl<U, S> FromRequestParts<S> for Authenticated<U>
where
    U: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        let authentication = authentication::<U>(parts)?;
        authentication
            .require()
            .map(|identity| Self(identity.clone()))
            .map_err(AuthRejection::from)
    }
}

impl<U, S> OptionalFromRequestParts<S> for Authenticated<U>
where
    U: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, AuthRejection> {
        let authentication = authentication::<U>(parts)?;
        authentication
            .optional()
            .map(|identity| identity.map(|identity| Self(identity.clone())))
            .map_err(AuthRejection::from)
    }
}

/// An optional user: `None` when no credentials were sent (no `Authorization`
/// header, or another scheme), the identity otherwise. Bad credentials are still
/// refused with 401, as in Django REST Framework; an unavailable store with 503.
pub struct MaybeAuthenticated<U>(pub Option<Identity<U>>);

impl<U> MaybeAuthenticated<U> {
    /// The identity, if any.
    pub fn into_inner(self) -> Option<Identity<U>> {
        self.0
    }
}

impl<U> Deref for MaybeAuthenticated<U> {
    type Target = Option<Identity<U>>;

    fn deref(&self) -> &Option<Identity<U>> {
        &self.0
    }
}

impl<U> Clone for MaybeAuthenticated<U> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<U: fmt::Debug> fmt::Debug for MaybeAuthenticated<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MaybeAuthenticated").field(&self.0).finish()
    }
}

impl<U, S> FromRequestParts<S> for MaybeAuthenticated<U>
where
    U: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        let authentication = authentication::<U>(parts)?;
        authentication
            .optional()
            .map(|identity| Self(identity.cloned()))
            .map_err(AuthRejection::from)
    }
}

/// A required user whose token carries the scope `S` names.
///
/// Rejects as [`Authenticated`] does, and with 403 (RFC 6750 `insufficient_scope`)
/// when the token lacks the scope.
///
/// ```
/// use authtoken_axum::{RequireScope, ScopeName};
///
/// struct Write;
/// impl ScopeName for Write {
///     const NAME: &'static str = "write";
/// }
///
/// async fn create(user: RequireScope<Write, String>) -> String {
///     format!("{} may write", user.user())
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::post(create);
/// ```
pub struct RequireScope<S, U> {
    identity: Identity<U>,
    scope: PhantomData<fn() -> S>,
}

impl<S, U> RequireScope<S, U> {
    /// The identity.
    pub fn into_inner(self) -> Identity<U> {
        self.identity
    }
}

impl<S, U> Deref for RequireScope<S, U> {
    type Target = Identity<U>;

    fn deref(&self) -> &Identity<U> {
        &self.identity
    }
}

impl<S, U> Clone for RequireScope<S, U> {
    fn clone(&self) -> Self {
        Self {
            identity: self.identity.clone(),
            scope: PhantomData,
        }
    }
}

impl<S: ScopeName, U: fmt::Debug> fmt::Debug for RequireScope<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScope")
            .field("scope", &S::NAME)
            .field("identity", &self.identity)
            .finish()
    }
}

impl<Sc, U, S> FromRequestParts<S> for RequireScope<Sc, U>
where
    Sc: ScopeName,
    U: Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        let authentication = authentication::<U>(parts)?;
        authentication
            .require_scope(Sc::NAME)
            .map(|identity| Self {
                identity: identity.clone(),
                scope: PhantomData,
            })
            .map_err(AuthRejection::from)
    }
}
