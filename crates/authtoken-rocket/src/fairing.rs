//! [`AuthFairing`]: manages the authenticator and checks the set-up at ignition.

use std::fmt;

use authtoken::Authenticator;
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};

/// Manages an [`Authenticator<U>`] for the guards of this crate and checks the
/// set-up when the rocket ignites.
///
/// Ignition fails, with a message saying why, when an `Authenticator<U>` is already
/// managed; it logs a warning when no catcher is registered at the root for 401
/// (neither [`crate::catchers`] nor one of the application's, for 401 or
/// `default`): failed guards would then get Rocket's default error page instead of
/// the JSON detail and `WWW-Authenticate`.
///
/// Attaching it is optional (`.manage(authenticator)` works too): either way, a
/// route with a guard for a user type whose authenticator is not managed stops the
/// launch, since the guards are [`Sentinel`](rocket::Sentinel)s.
pub struct AuthFairing<U> {
    authenticator: Authenticator<U>,
}

impl<U> AuthFairing<U> {
    /// A fairing that manages `authenticator`.
    pub fn new(authenticator: Authenticator<U>) -> Self {
        Self { authenticator }
    }
}

impl<U> fmt::Debug for AuthFairing<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFairing")
            .field("authenticator", &self.authenticator)
            .finish()
    }
}

#[rocket::async_trait]
impl<U: Send + Sync + 'static> Fairing for AuthFairing<U> {
    fn info(&self) -> Info {
        Info {
            name: "authtoken",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        if rocket.state::<Authenticator<U>>().is_some() {
            rocket::error!(
                "an `Authenticator<{}>` is managed twice: attach one `AuthFairing` per user \
                 type and do not also `.manage` it",
                std::any::type_name::<U>()
            );
            return Err(rocket);
        }
        let has_catcher = rocket
            .catchers()
            .any(|catcher| matches!(catcher.code, Some(401) | None) && catcher.base.path() == "/");
        if !has_catcher {
            rocket::warn!(
                "authtoken: no catcher for 401 is registered at \"/\": register \
                 `authtoken_rocket::catchers()`, or failed guards answer with Rocket's \
                 default error page instead of the JSON detail and `WWW-Authenticate`"
            );
        }
        Ok(rocket.manage(self.authenticator.clone()))
    }
}
