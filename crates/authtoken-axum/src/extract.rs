//! The axum extractors: [`Authenticated`], [`MaybeAuthenticated`],
//! `Option<Authenticated<U>>` and [`RequireScope`].
//!
//! Each finds the authenticator in the router's state (`Authenticator<U>:
//! FromRef<S>`, as axum's `State` finds state), so that a router without one does not
//! compile. The first extractor of a request authenticates it and stores the
//! [`Authentication`] in the request extensions; the others, and any extractor behind
//! an [`AuthLayer`], read what is stored, so a request is authenticated once however
//! many ask. A handler that wants the raw outcome takes `Extension<Authentication<U>>`
//! after an extractor or the layer.
//!
//! [`AuthLayer`]: crate::AuthLayer

use authtoken::{Authentication, Authenticator, Identity, ScopeName};
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::AuthRejection;
use crate::layer::authenticate_now;

/// `extract` applied to the request's [`Authentication<U>`]: the one an [`AuthLayer`]
/// or an earlier extractor stored, else authenticated now with the state's
/// authenticator (and stored, so that the request is authenticated once).
async fn with_authentication<U, S, T>(
    parts: &mut Parts,
    state: &S,
    extract: impl FnOnce(&Authentication<U>) -> T,
) -> T
where
    U: Send + Sync + 'static,
    Authenticator<U>: FromRef<S>,
{
    let authenticator = Authenticator::<U>::from_ref(state);
    match authenticate_now(&authenticator, parts) {
        Ok(authentication) => extract(authentication),
        Err(pending) => {
            // Boxed, so that the handler's future stays small (and cheap to allocate)
            // when memory answers, as it nearly always does.
            let authentication = Box::pin(pending.finish()).await;
            let answer = extract(&authentication);
            parts.extensions.insert(authentication);
            answer
        }
    }
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
            Authenticator<U>: FromRef<State>,
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

/// An extractor: the core's newtype over `$target` (with a scope marker when `$scope`
/// is given), and `FromRequestParts` answering with `$extract` applied to the
/// request's [`Authentication`].
macro_rules! extractor {
    (
        $(#[$doc:meta])*
        $name:ident<$(scope $scope:ident,)? U>($target:ty),
        |$authentication:ident| $extract:expr
    ) => {
        authtoken::extractor_newtype! {
            $(#[$doc])*
            pub struct $name<$(scope $scope,)? U>($target);
        }

        from_request_parts!(
            [$($scope: ScopeName,)?] FromRequestParts for $name<$($scope,)? U> => Self,
            |parts, state| {
                let extracted = with_authentication(parts, state, |$authentication| $extract).await;
                Ok(Self::new(extracted?))
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
    /// # let _: axum::routing::MethodRouter<authtoken::Authenticator<String>> =
    /// #     axum::routing::post(create);
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
        Ok(maybe.0.map(Self::new))
    }
);
