//! [`AuthRejection`]: why a guard of this crate refused a request, and how it is
//! answered.

use std::any::type_name;
use std::fmt;
use std::io::Cursor;
use std::sync::{Mutex, PoisonError};

use authtoken::bytes::Bytes;
use authtoken::{AuthError, Challenge, ErrorResponse};
use rocket::http::{Header, Status};
use rocket::request::{self, Outcome, Request};
use rocket::response::{self, Responder, Response};

/// The JSON body of [`AuthRejection::MissingAuthenticator`].
const MISSING_AUTHENTICATOR_BODY: &str =
    r#"{"detail":"Server misconfigured: no Authenticator is managed for this user type."}"#;

/// Why a request was refused by a guard of this crate.
///
/// It is the guards' `FromRequest::Error`, so a route can take
/// `Result<Authenticated<U>, AuthRejection>` and decide for itself, and it
/// implements [`Responder`]: status, `WWW-Authenticate`, the `application/json`
/// content type and the `{"detail": "..."}` body are all the core's
/// ([`AuthError::response`]); this type only copies them.
///
/// When a guard fails, Rocket hands the request to the catcher for the status and
/// forgets the guard's error; the guards therefore also record their rejection in
/// the request-local cache, where [`crate::catchers`] (or a catcher of your own,
/// through [`AuthRejection::recorded`]) finds it.
///
/// ```
/// use authtoken::{AuthError, Challenge};
/// use authtoken_rocket::AuthRejection;
///
/// let rejection = AuthRejection::new(AuthError::InvalidToken, Challenge::bearer("api"));
/// assert_eq!(rejection.status().code, 401);
/// assert_eq!(rejection.body(), r#"{"detail":"Invalid token."}"#);
/// assert!(matches!(rejection, AuthRejection::Auth { error: AuthError::InvalidToken, .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AuthRejection {
    /// Authentication failed, or was required and no credentials were sent
    /// ([`AuthError::NotProvided`]), or the token lacks a required scope.
    #[non_exhaustive]
    Auth {
        /// The core's error: it decides status, detail and challenge.
        error: AuthError,
        /// The challenge of the authenticator that ran, for `WWW-Authenticate`.
        challenge: Challenge,
    },
    /// No `Authenticator<U>` is managed for the user type a guard asked for: a
    /// server misconfiguration, answered with 500. Routes never see it (their
    /// guards are sentinels and stop the launch instead); a guard invoked by hand
    /// with [`Request::guard`] can.
    #[non_exhaustive]
    MissingAuthenticator {
        /// The user type the guard asked for.
        user_type: &'static str,
    },
}

impl AuthRejection {
    /// A rejection for `error`, challenged with `challenge`.
    pub fn new(error: AuthError, challenge: Challenge) -> Self {
        Self::Auth { error, challenge }
    }

    pub(crate) fn missing<U>() -> Self {
        Self::MissingAuthenticator {
            user_type: type_name::<U>(),
        }
    }

    /// The core's error, unless the authenticator was missing.
    pub fn error(&self) -> Option<&AuthError> {
        match self {
            Self::Auth { error, .. } => Some(error),
            Self::MissingAuthenticator { .. } => None,
        }
    }

    /// The status the response carries: the core's ([`AuthError::status`]), or 500
    /// when the authenticator was missing.
    pub fn status(&self) -> Status {
        match self {
            Self::Auth { error, .. } => Status::new(error.status()),
            Self::MissingAuthenticator { .. } => Status::InternalServerError,
        }
    }

    /// The `Retry-After` seconds of a throttled request (429), if this is one.
    pub fn retry_after(&self) -> Option<u64> {
        self.error().and_then(AuthError::retry_after)
    }

    /// The `WWW-Authenticate` value, if the response carries one.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            Self::Auth { error, challenge } => error.www_authenticate(challenge),
            Self::MissingAuthenticator { .. } => None,
        }
    }

    /// The JSON body: `{"detail":"..."}`.
    pub fn body(&self) -> String {
        match self {
            Self::Auth { error, .. } => error.json_body(),
            Self::MissingAuthenticator { .. } => MISSING_AUTHENTICATOR_BODY.to_owned(),
        }
    }

    /// The rejection a guard of this crate recorded for `request`, if one failed.
    ///
    /// This is what [`crate::catchers`] answer with; a catcher of your own can do the
    /// same (compare [`AuthRejection::status`] with the status it catches: a guard
    /// whose failure the route absorbed, with `Option` or `Result`, leaves its
    /// rejection recorded too).
    pub fn recorded(request: &Request<'_>) -> Option<Self> {
        request
            .local_cache(Recorded::default)
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records `self` for the catchers and turns it into a failed guard outcome.
    pub(crate) fn fail<T>(self, request: &Request<'_>) -> request::Outcome<T, Self> {
        *request
            .local_cache(Recorded::default)
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(self.clone());
        Outcome::Error((self.status(), self))
    }
}

/// The last rejection of a guard of this crate, in the request-local cache.
#[derive(Default)]
struct Recorded(Mutex<Option<AuthRejection>>);

impl From<authtoken::Rejection> for AuthRejection {
    fn from(rejection: authtoken::Rejection) -> Self {
        match rejection {
            authtoken::Rejection::Auth {
                error, challenge, ..
            } => Self::new(error, challenge),
            authtoken::Rejection::MissingAuthenticator { user_type, .. } => {
                Self::MissingAuthenticator { user_type }
            }
            _ => Self::MissingAuthenticator { user_type: "" },
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auth { error, .. } => fmt::Display::fmt(error, f),
            Self::MissingAuthenticator { user_type } => write!(
                f,
                "no Authenticator<{user_type}> is managed: attach \
                 authtoken_rocket::AuthFairing::new(authenticator) to the rocket"
            ),
        }
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Auth { error, .. } => Some(error),
            Self::MissingAuthenticator { .. } => None,
        }
    }
}

impl<'r> Responder<'r, 'static> for AuthRejection {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let (status, www_authenticate, retry_after, body) = match self {
            Self::Auth { error, challenge } => {
                let parts = error.response(&challenge);
                (
                    parts.status,
                    parts.www_authenticate,
                    parts.retry_after,
                    parts.body,
                )
            }
            Self::MissingAuthenticator { .. } => (
                500,
                None,
                None,
                Bytes::from_static(MISSING_AUTHENTICATOR_BODY.as_bytes()),
            ),
        };
        let mut response = Response::build();
        response
            .status(Status::new(status))
            .header(Header::new("Content-Type", ErrorResponse::CONTENT_TYPE));
        if let Some(seconds) = retry_after {
            response.header(Header::new("Retry-After", seconds.to_string()));
        }
        // Rocket's header values are `str`s: the core's value is ASCII, so it is
        // taken as it is (the lossy branch is never reached).
        if let Some(challenge) = www_authenticate {
            let value = match String::from_utf8(challenge.to_vec()) {
                Ok(value) => value,
                Err(not_utf8) => String::from_utf8_lossy(not_utf8.as_bytes()).into_owned(),
            };
            response.header(Header::new("WWW-Authenticate", value));
        }
        response.sized_body(body.len(), Cursor::new(body));
        Ok(response.finalize())
    }
}
