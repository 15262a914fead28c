//! The extractors: [`Authenticated`], [`MaybeAuthenticated`], [`RequireScope`].

use std::fmt;
use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use authtoken::{Authentication, Identity, ScopeName};
use std::marker::PhantomData;

use crate::AuthRejection;
use crate::middleware::ask;

/// A required user: the handler runs only for an authenticated request.
///
/// Rejects with [`AuthRejection`]: 401 "Authentication credentials were not
/// provided." when the request was anonymous, the stored error otherwise (401 for a
/// bad token, 503 when the store failed), and 500 when no
/// [`AuthMiddleware`](crate::AuthMiddleware) for `U` ran.
///
/// Dereferences to the [`Identity`]: `user.user()`, `user.token()`,
/// `user.has_scope(..)`.
///
/// # Do not wrap it in `Option`
///
/// `Option<Authenticated<U>>` compiles, but it is actix-web's own
/// `impl FromRequest for Option<T>`, which turns *every* extractor error into `None`:
/// an invalid, expired or revoked token, and even a failing store, silently become an
/// anonymous request (a test of this crate pins that behaviour). This crate cannot
/// override that impl; use [`MaybeAuthenticated<U>`] for an optional user.
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

impl<U: Send + Sync + 'static> FromRequest for Authenticated<U> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(ask(req, |auth: &Authentication<U>| auth.require().cloned()).map(Self))
    }
}

/// An optional user: `None` when the request sent no credentials (no
/// `Authorization` header, or another scheme), the identity when it authenticated.
///
/// A bad token is still refused (401, as Django REST Framework does), and so is a
/// failing store (503). That is why this type exists: actix-web's own
/// `Option<Authenticated<U>>` (its blanket `impl FromRequest for Option<T>`, which
/// this crate cannot override) turns *every* extractor error into `None`, so an
/// invalid, expired or revoked token would silently become an anonymous request.
///
/// Rejects with [`AuthRejection`], and with 500 when no
/// [`AuthMiddleware`](crate::AuthMiddleware) for `U` ran.
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

impl<U: Send + Sync + 'static> FromRequest for MaybeAuthenticated<U> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            ask(req, |auth: &Authentication<U>| {
                auth.optional().map(Option::<&_>::cloned)
            })
            .map(Self),
        )
    }
}

/// A required user whose token carries the scope `S` names (a [`ScopeName`]).
///
/// Rejects as [`Authenticated`] does, and with 403 (RFC 6750 `insufficient_scope`)
/// when the token lacks the scope. Dereferences to the [`Identity`].
///
/// ```
/// use authtoken_actix::{RequireScope, ScopeName};
///
/// struct Write;
/// impl ScopeName for Write {
///     const NAME: &'static str = "write";
/// }
///
/// async fn create(user: RequireScope<Write, String>) -> String {
///     format!("{} may write", user.user())
/// }
/// # let _ = actix_web::web::post().to(create);
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

impl<S: ScopeName, U: Send + Sync + 'static> FromRequest for RequireScope<S, U> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            ask(req, |auth: &Authentication<U>| {
                auth.require_scope(S::NAME).cloned()
            })
            .map(|identity| Self {
                identity,
                scope: PhantomData,
            }),
        )
    }
}
