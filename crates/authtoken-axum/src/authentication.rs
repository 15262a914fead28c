//! [`Authentication`]: what the layer found, stored in the request extensions.

use std::fmt;

use authtoken::{AuthError, Authenticator, Identity};

use crate::AuthRejection;

/// The outcome of authenticating one request, put in its extensions by
/// [`AuthService`](crate::AuthService) and read by the extractors (or, without
/// axum, by any service: `request.extensions().get::<Authentication<User>>()`).
///
/// Cheap to clone: the identity and the authenticator are shared.
pub struct Authentication<U> {
    result: Result<Option<Identity<U>>, AuthError>,
    authenticator: Authenticator<U>,
}

impl<U> Clone for Authentication<U> {
    fn clone(&self) -> Self {
        Self {
            result: self.result.clone(),
            authenticator: self.authenticator.clone(),
        }
    }
}

impl<U: fmt::Debug> fmt::Debug for Authentication<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authentication")
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

impl<U: Send + Sync + 'static> Authentication<U> {
    pub(crate) fn new(
        result: Result<Option<Identity<U>>, AuthError>,
        authenticator: Authenticator<U>,
    ) -> Self {
        Self {
            result,
            authenticator,
        }
    }

    /// What the core answered: `Ok(None)` for an anonymous request (no
    /// `Authorization` header, or another scheme), `Ok(Some(_))` for a user, `Err` for
    /// bad credentials or an unavailable store.
    pub fn result(&self) -> Result<Option<&Identity<U>>, &AuthError> {
        self.result.as_ref().map(Option::as_ref)
    }

    /// The authenticated user and token, if any.
    pub fn identity(&self) -> Option<&Identity<U>> {
        self.result.as_ref().ok().and_then(Option::as_ref)
    }

    /// The error, if authentication failed.
    pub fn error(&self) -> Option<&AuthError> {
        self.result.as_ref().err()
    }

    /// The authenticator that decided (for its challenge, or to revoke the token).
    pub fn authenticator(&self) -> &Authenticator<U> {
        &self.authenticator
    }

    /// A rejection for `error`, answered with this authenticator's challenge.
    pub fn reject(&self, error: AuthError) -> AuthRejection {
        AuthRejection::new(error, self.authenticator.challenge().clone())
    }

    /// The identity, where a user is required.
    ///
    /// # Errors
    ///
    /// The stored error, or [`AuthError::NotProvided`] for an anonymous request.
    pub fn require(&self) -> Result<&Identity<U>, AuthRejection> {
        match &self.result {
            Ok(Some(identity)) => Ok(identity),
            Ok(None) => Err(self.reject(AuthError::NotProvided)),
            Err(error) => Err(self.reject(error.clone())),
        }
    }

    /// The identity if one was sent, `None` for an anonymous request.
    ///
    /// # Errors
    ///
    /// The stored error: bad credentials are refused even where a user is optional.
    pub fn optional(&self) -> Result<Option<&Identity<U>>, AuthRejection> {
        self.result
            .as_ref()
            .map(Option::as_ref)
            .map_err(|error| self.reject(error.clone()))
    }

    /// The identity, where a user holding `scope` is required.
    ///
    /// # Errors
    ///
    /// As [`Self::require`], then [`AuthError::InsufficientScope`] (403) when the
    /// token lacks `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<&Identity<U>, AuthRejection> {
        let identity = self.require()?;
        identity
            .require_scope(scope)
            .map_err(|error| self.reject(error))?;
        Ok(identity)
    }
}
