//! The request guards: [`Authenticated`], [`MaybeAuthenticated`], [`RequireScope`].

use std::net::IpAddr;

use authtoken::{Authentication, Authenticator, Identity, Rejection, ScopeName};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::AuthRejection;

/// The outcome of authenticating one request for user type `U` (`None` when no
/// `Authenticator<U>` is managed), kept in the request-local cache so that however
/// many guards ask, the authenticator runs once.
struct Cached<U>(Option<Authentication<U>>);

/// The client's address, for the invalid-token limiter and the failed-login
/// throttle: the connection's peer address, or the header the core says a trusted
/// proxy sets; never `Request::client_ip`, which believes any client's `X-Real-IP`.
pub(crate) fn client_address<U: Send + Sync + 'static>(
    request: &Request<'_>,
    authenticator: &Authenticator<U>,
) -> Option<IpAddr> {
    let trusted = authenticator.trusted_client_ip_header().into_iter();
    authenticator.client_address(
        request.remote().map(|peer| peer.ip()),
        trusted
            .flat_map(|name| request.headers().get(name))
            .map(str::as_bytes),
    )
}

/// The request's [`Authentication`] for user type `U`, made on the first call.
///
/// # Errors
///
/// [`Rejection::MissingAuthenticator`] when no `Authenticator<U>` is managed.
async fn authentication<'r, U>(request: &'r Request<'_>) -> Result<&'r Authentication<U>, Rejection>
where
    U: Send + Sync + 'static,
{
    let cached = request
        .local_cache_async(async {
            let Some(authenticator) = request.rocket().state::<Authenticator<U>>() else {
                return Cached(None);
            };
            let client = client_address(request, authenticator);
            // Every `Authorization` value Rocket kept: the core refuses conflicting
            // ones. Rocket has dropped those that are not UTF-8 (README,
            // "Differences the framework forces").
            let values = request.headers().get("Authorization").map(str::as_bytes);
            Cached(Some(
                authenticator
                    .authenticate_request_from(client, values)
                    .await,
            ))
        })
        .await;
    cached.0.as_ref().ok_or_else(|| {
        Rejection::missing_authenticator::<U>(
            "manage an authtoken::Authenticator<U> with Rocket::manage",
        )
    })
}

/// A guard: the core's newtype over `$target` (with a scope marker when `$scope` is
/// given); `FromRequest`, answered by `$ask` from the request's cached
/// [`Authentication`]; and `Sentinel`, aborting the launch when no
/// `Authenticator<U>` is managed.
macro_rules! guard {
    (
        $(#[$doc:meta])*
        $guard:ident<$(scope $scope:ident,)? U>($target:ty), $ask:expr
    ) => {
        authtoken::extractor_newtype! {
            $(#[$doc])*
            pub struct $guard<$(scope $scope,)? U>($target);
        }

        #[rocket::async_trait]
        impl<'r, $($scope: ScopeName,)? U: Send + Sync + 'static> FromRequest<'r>
            for $guard<$($scope,)? U>
        {
            type Error = AuthRejection;

            async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthRejection> {
                match authentication::<U>(request).await.and_then($ask) {
                    Ok(inner) => Outcome::Success(Self::new(inner)),
                    Err(rejection) => AuthRejection::from(rejection).fail(request),
                }
            }
        }

        impl<$($scope,)? U: Send + Sync + 'static> Sentinel for $guard<$($scope,)? U> {
            fn abort(rocket: &Rocket<Ignite>) -> bool {
                rocket.state::<Authenticator<U>>().is_none()
            }
        }
    };
}

guard! {
    /// A required user: the route runs only for an authenticated request.
    ///
    /// Fails with [`AuthRejection`]: 401 "Authentication credentials were not
    /// provided." when the request was anonymous, the core's error otherwise (401 for a
    /// bad token, 400 for conflicting `Authorization` headers, 429 for a throttled
    /// client, 503 when the store failed). Register [`crate::catchers`] so that the
    /// response carries the core's JSON body and `WWW-Authenticate`.
    ///
    /// Do not take it as `Option<Authenticated<U>>` for an optional user: Rocket's own
    /// `FromRequest` impl for `Option<T>`, which this crate cannot override, turns
    /// *every* failed guard into `None`, so an invalid, expired or revoked token (and a
    /// failing store) would become an anonymous request. Take [`MaybeAuthenticated<U>`]
    /// instead; `Result<Authenticated<U>, AuthRejection>` keeps the rejection too.
    ///
    /// Dereferences to the [`Identity`]: `user.user()`, `user.token()`,
    /// `user.has_scope(..)`. A [`Sentinel`]: a rocket with a route that takes it and no
    /// managed `Authenticator<U>` does not launch.
    Authenticated<U>(Identity<U>),
    |authentication: &Authentication<U>| authentication.require().cloned()
}

guard! {
    /// An optional user: `None` when the request sent no credentials (no
    /// `Authorization` header, or another scheme), the identity when it authenticated.
    ///
    /// A bad token is still refused (401, as Django REST Framework does), and so is a
    /// failing store (503). That is why this type exists: Rocket's own `FromRequest`
    /// impl for `Option<T>`, which this crate cannot override, turns *every* failed
    /// guard into `None`, so with `Option<Authenticated<U>>` an invalid, expired or
    /// revoked token would silently become an anonymous request.
    ///
    /// Fails with [`AuthRejection`]; a [`Sentinel`] like [`Authenticated`].
    MaybeAuthenticated<U>(Option<Identity<U>>),
    |authentication: &Authentication<U>| authentication.optional().map(Option::<&_>::cloned)
}

guard! {
    /// A required user whose token carries the scope `S` names.
    ///
    /// Fails as [`Authenticated`] does, and with 403 (RFC 6750 `insufficient_scope`)
    /// when the token lacks the scope. Dereferences to the [`Identity`]; a [`Sentinel`]
    /// like the other guards. `Option<RequireScope<S, U>>` swallows every failure as
    /// `Option<Authenticated<U>>` does: take `MaybeAuthenticated<U>` and check
    /// `has_scope` for an optional user with an optional scope.
    ///
    /// ```
    /// use authtoken_rocket::{RequireScope, ScopeName};
    ///
    /// struct Write;
    /// impl ScopeName for Write {
    ///     const NAME: &'static str = "write";
    /// }
    ///
    /// #[rocket::post("/posts")]
    /// fn create(user: RequireScope<Write, String>) -> String {
    ///     format!("{} may write", user.user())
    /// }
    /// # let _ = rocket::routes![create];
    /// ```
    RequireScope<scope S, U>(Identity<U>),
    |authentication: &Authentication<U>| authentication.require_scope(S::NAME).cloned()
}
