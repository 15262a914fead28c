//! The extractors: [`Authenticated`], [`MaybeAuthenticated`], [`RequireScope`].

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use authtoken::{Authentication, Identity, Rejection, ScopeName};

use crate::AuthRejection;

/// How to fix a missing middleware, for the error the core logs.
const INSTALL: &str = "register authtoken_actix::AuthMiddleware with App::wrap or Scope::wrap";

/// Answers `question` from the [`Authentication`] that
/// [`AuthMiddleware`](crate::AuthMiddleware) stored for `U`; without one, the core's
/// [`Rejection::MissingAuthenticator`] (500, logged with the way to fix it).
fn ask<U: Send + Sync + 'static, T>(
    req: &HttpRequest,
    question: impl FnOnce(&Authentication<U>) -> Result<T, Rejection>,
) -> Ready<Result<T, AuthRejection>> {
    let extensions = req.extensions();
    let missing = || Err(Rejection::missing_authenticator::<U>(INSTALL));
    let answer = extensions.get().map_or_else(missing, question);
    ready(answer.map_err(AuthRejection::from))
}

/// An extractor: the core's newtype over `$target` (with a scope marker when `$scope`
/// is given), and `FromRequest`, answered by `|auth| answer` from the request's
/// [`Authentication`] (through [`ask`]).
macro_rules! extractor {
    (
        $(#[$doc:meta])*
        $name:ident<$(scope $scope:ident,)? U>($target:ty), |$auth:ident| $answer:expr
    ) => {
        authtoken::extractor_newtype! {
            $(#[$doc])*
            pub struct $name<$(scope $scope,)? U>($target);
        }

        impl<$($scope: ScopeName,)? U: Send + Sync + 'static> FromRequest for $name<$($scope,)? U> {
            type Error = AuthRejection;
            type Future = Ready<Result<Self, AuthRejection>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ask(req, |$auth: &Authentication<U>| $answer.map(Self::new))
            }
        }
    };
}

extractor! {
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
    Authenticated<U>(Identity<U>),
    |auth| auth.require().cloned()
}

extractor! {
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
    MaybeAuthenticated<U>(Option<Identity<U>>),
    |auth| auth.optional().map(Option::<&_>::cloned)
}

extractor! {
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
    RequireScope<scope S, U>(Identity<U>),
    |auth| auth.require_scope(S::NAME).cloned()
}
