//! The request guards: [`Authenticated`], [`MaybeAuthenticated`].

use std::fmt;
use std::ops::Deref;

use authtoken::{Authentication, Authenticator, Identity};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::AuthRejection;

/// The outcome of authenticating one request for user type `U` (`None` when no
/// `Authenticator<U>` is managed), kept in the request-local cache so that however
/// many guards ask, the authenticator runs once.
struct Cached<U>(Option<Authentication<U>>);

/// Authenticates `request` once, with every `Authorization` header it carries, then
/// answers the guard with `ask` (the core decides what each guard means) and
/// records a rejection for the catchers.
pub(crate) async fn guard<'r, U, T>(
    request: &'r Request<'_>,
    ask: impl FnOnce(&'r Authentication<U>) -> Result<T, authtoken::Rejection>,
) -> Outcome<T, AuthRejection>
where
    U: Send + Sync + 'static,
{
    let cached = request
        .local_cache_async(async {
            let Some(authenticator) = request.rocket().state::<Authenticator<U>>() else {
                return Cached(None);
            };
            // Rocket drops header values that are not UTF-8 before any guard runs;
            // every value it kept goes to the core, which refuses conflicting ones.
            let headers = request.headers().get("Authorization").map(str::as_bytes);
            // The invalid-token limiter counts by Rocket's client address (the
            // `ip_header`, `X-Real-IP` by default, when set: configure it to match
            // the proxy in front, or turn it off without one). Finding it takes a
            // header lookup, skipped when the limiter is off.
            let client = if authenticator.limits_invalid_tokens() {
                request.client_ip()
            } else {
                None
            };
            Cached(Some(
                authenticator
                    .authenticate_request_from(client, headers)
                    .await,
            ))
        })
        .await;
    let result = match &cached.0 {
        Some(authentication) => ask(authentication),
        None => Err(authtoken::Rejection::missing_authenticator::<U>(
            "manage an authtoken::Authenticator<U> with Rocket::manage",
        )),
    };
    match result {
        Ok(value) => Outcome::Success(value),
        Err(rejection) => AuthRejection::from(rejection).fail(request),
    }
}

/// True (abort the launch) when no `Authenticator<U>` is managed; logs what to do.
pub(crate) fn missing_authenticator<U: Send + Sync + 'static>(rocket: &Rocket<Ignite>) -> bool {
    if rocket.state::<Authenticator<U>>().is_some() {
        return false;
    }
    rocket::error!(
        "a route authenticates users of type `{}` but no `Authenticator` for it is managed: \
         attach `authtoken_rocket::AuthFairing::new(authenticator)` (or `.manage(authenticator)`)",
        std::any::type_name::<U>()
    );
    true
}

/// A required user: the route runs only for an authenticated request.
///
/// Fails with [`AuthRejection`]: 401 "Authentication credentials were not
/// provided." when the request was anonymous, the core's error otherwise (401 for a
/// bad token, 400 for conflicting `Authorization` headers, 503 when the store
/// failed). Register [`crate::catchers`] so that the response carries the core's
/// JSON body and `WWW-Authenticate`.
///
/// Dereferences to the [`Identity`]: `user.user()`, `user.token()`,
/// `user.has_scope(..)`. A [`Sentinel`]: a rocket with a route that takes it and no
/// managed `Authenticator<U>` does not launch.
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

#[rocket::async_trait]
impl<'r, U: Send + Sync + 'static> FromRequest<'r> for Authenticated<U> {
    type Error = AuthRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthRejection> {
        guard(request, |authentication: &Authentication<U>| {
            authentication.require().cloned().map(Self)
        })
        .await
    }
}

impl<U: Send + Sync + 'static> Sentinel for Authenticated<U> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        missing_authenticator::<U>(rocket)
    }
}

/// An optional user: `None` when the request sent no credentials (no
/// `Authorization` header, or another scheme), the identity when it authenticated.
///
/// A bad token is still refused (401, as Django REST Framework does), and so is a
/// failing store (503). That is why this type exists: Rocket's own
/// `Option<Authenticated<U>>` turns *every* failed guard into `None`, so an
/// invalid, expired or revoked token would silently become an anonymous request.
///
/// Fails with [`AuthRejection`]; a [`Sentinel`] like [`Authenticated`].
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

#[rocket::async_trait]
impl<'r, U: Send + Sync + 'static> FromRequest<'r> for MaybeAuthenticated<U> {
    type Error = AuthRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthRejection> {
        guard(request, |authentication: &Authentication<U>| {
            authentication
                .optional()
                .map(|identity| Self(identity.cloned()))
        })
        .await
    }
}

impl<U: Send + Sync + 'static> Sentinel for MaybeAuthenticated<U> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        missing_authenticator::<U>(rocket)
    }
}
