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

/// `$extractor<State>` (`FromRequestParts` or `OptionalFromRequestParts`) for `$type`,
/// with `$generics` besides `U` and `State`: answers `$output` with `$body`.
macro_rules! from_request_parts {
    (
        [$($generics:tt)*] $extractor:ident for $type:ty => $output:ty,
        |$parts:ident, $state:ident| $body:expr
    ) => {
        impl<$($generics)* U, State> $extractor<State> for $type
        where
            U: Send + Sync + 'static,
            State: Send + Sync,
        {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                $parts: &mut Parts,
                $state: &State,
            ) -> Result<$output, AuthRejection> {
                $body
            }
        }
    };
}

/// An extractor: a public newtype over `$target` (with a scope marker when `$scope`
/// is given), `Deref` to it, `into_inner`, `Clone`, `Debug`, and `FromRequestParts`
/// answering with `$extract` applied to the request's [`Authentication`].
macro_rules! extractor {
    (
        $(#[$doc:meta])*
        $name:ident<$(scope $scope:ident,)? U>($target:ty),
        |$authentication:ident| $extract:expr
    ) => {
        $(#[$doc])*
        pub struct $name<$($scope,)? U>(pub $target $(, PhantomData<fn() -> $scope>)?);

        newtype!($name<$($scope,)? U>($target));

        impl<$($scope,)? U> Clone for $name<$($scope,)? U> {
            fn clone(&self) -> Self {
                Self(self.0.clone() $(, PhantomData::<fn() -> $scope>)?)
            }
        }

        impl<$($scope,)? U: fmt::Debug> fmt::Debug for $name<$($scope,)? U> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }

        from_request_parts!(
            [$($scope: ScopeName,)?] FromRequestParts for $name<$($scope,)? U> => Self,
            |parts, _state| {
                let $authentication = authentication::<U>(parts)?;
                Ok(Self($extract? $(, PhantomData::<fn() -> $scope>)?))
            }
        );
    };
}

extractor!(
    /// A required user: the handler runs only for an authenticated request.
    ///
    /// Rejects with [`AuthRejection`]: 401 "Authentication credentials were not
    /// provided." for an anonymous request, the core's error for bad credentials
    /// (401), conflicting headers (400) or an unavailable store (503).
    ///
    /// As `Option<Authenticated<U>>` it behaves as [`MaybeAuthenticated<U>`].
    Authenticated<U>(Identity<U>),
    |authentication| authentication.require().cloned()
);

extractor!(
    /// An optional user: `None` when no credentials were sent (no `Authorization`
    /// header, or another scheme), the identity otherwise. Bad credentials are still
    /// refused with 401, as in Django REST Framework; an unavailable store with 503.
    MaybeAuthenticated<U>(Option<Identity<U>>),
    |authentication| authentication.optional().map(Option::<&_>::cloned)
);

extractor!(
    /// A required user whose token carries the scope `S` names.
    ///
    /// Rejects as [`Authenticated`] does, and with 403 (RFC 6750
    /// `insufficient_scope`) when the token lacks the scope.
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
    RequireScope<scope S, U>(Identity<U>),
    |authentication| authentication.require_scope(S::NAME).cloned()
);

// `Option<Authenticated<U>>`: [`MaybeAuthenticated`]'s answer, so that a bad token
// is refused with 401 here too rather than read as anonymous.
from_request_parts!(
    [] OptionalFromRequestParts for Authenticated<U> => Option<Self>,
    |parts, state| {
        let maybe = MaybeAuthenticated::<U>::from_request_parts(parts, state).await?;
        Ok(maybe.0.map(Self))
    }
);
