//! [`RequireScope`]: a required user whose token carries a scope.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use authtoken::{Authentication, Identity, ScopeName};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::AuthRejection;
use crate::guard::{guard, missing_authenticator};

/// A required user whose token carries the scope `S` names.
///
/// Fails as [`Authenticated`](crate::Authenticated) does, and with 403 (RFC 6750
/// `insufficient_scope`) when the token lacks the scope. Authenticates once per
/// request however many guards ask; a [`Sentinel`] like the other guards.
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

#[rocket::async_trait]
impl<'r, S, U> FromRequest<'r> for RequireScope<S, U>
where
    S: ScopeName,
    U: Send + Sync + 'static,
{
    type Error = AuthRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthRejection> {
        guard(request, |authentication: &Authentication<U>| {
            authentication.require_scope(S::NAME).map(|identity| Self {
                identity: identity.clone(),
                scope: PhantomData,
            })
        })
        .await
    }
}

impl<S, U: Send + Sync + 'static> Sentinel for RequireScope<S, U> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        missing_authenticator::<U>(rocket)
    }
}
