//! [`Rejection`]: why a request was refused, with everything an adapter needs to
//! answer it. Each adapter's `AuthRejection` is a newtype over it that adds the one
//! trait its framework asks for.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::error::{AuthError, Challenge, ErrorResponse};

/// The body of [`Rejection::MissingAuthenticator`]: Django REST Framework's words for
/// a server error, naming nothing internal.
const SERVER_ERROR_BODY: &str = r#"{"detail":"A server error occurred."}"#;

/// The user types of the authenticators built in this process, each once.
static USER_TYPES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn user_types() -> std::sync::MutexGuard<'static, Vec<&'static str>> {
    USER_TYPES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Notes that an authenticator for user type `U` was built (what
/// [`Rejection::missing_authenticator`] names when an extractor asks for another).
pub(crate) fn note_user_type<U>() {
    let name = std::any::type_name::<U>();
    let mut types = user_types();
    if !types.contains(&name) {
        types.push(name);
    }
}

/// Why a request was refused: the core's [`AuthError`] with the challenge to answer
/// it with, or an extractor that found no authenticator for its user type on the
/// request (the adapter's layer, middleware or managed state is missing).
///
/// Status, `WWW-Authenticate`, `Retry-After` and the JSON body all come from here
/// ([`Rejection::response`]); an adapter copies them into its framework's response.
///
/// ```
/// use authtoken::{AuthError, Challenge, Rejection};
///
/// let rejection = Rejection::new(AuthError::InvalidToken, Challenge::bearer("api"));
/// assert_eq!(rejection.status(), 401);
/// assert_eq!(rejection.error(), Some(&AuthError::InvalidToken));
/// assert_eq!(rejection.body(), r#"{"detail":"Invalid token."}"#);
/// assert_eq!(
///     rejection.www_authenticate().as_deref(),
///     Some(r#"Bearer realm="api", error="invalid_token", error_description="Invalid token.""#)
/// );
/// match rejection {
///     Rejection::Auth { error: AuthError::TokenExpired, .. } => println!("log in again"),
///     Rejection::Auth { .. } => println!("not authenticated"),
///     Rejection::MissingAuthenticator { .. } => println!("the app is miswired"),
///     _ => println!("refused"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Rejection {
    /// Authentication failed, was required and nothing was sent
    /// ([`AuthError::NotProvided`]), or the token lacks a required scope.
    #[non_exhaustive]
    Auth {
        /// What went wrong, as the core tells it.
        error: AuthError,
        /// The challenge of the authenticator that decided.
        challenge: Challenge,
    },
    /// An extractor ran on a request that no authenticator for this user type had
    /// seen: a programming error, answered with 500 and a generic body (the user
    /// type is logged, never sent).
    #[non_exhaustive]
    MissingAuthenticator {
        /// The user type the extractor asked for.
        user_type: &'static str,
    },
}

impl Rejection {
    /// A rejection for `error`, answered with `challenge`.
    pub fn new(error: AuthError, challenge: Challenge) -> Self {
        Self::Auth { error, challenge }
    }

    /// The rejection of an extractor for user type `U` that found no authentication
    /// for `U` on the request; logs it as an error: with the user types the process's
    /// authenticators were built for, when there are others (the extractor and its
    /// layer disagree), else with `installing` saying how to fix it in the adapter's
    /// framework. Clients get a generic 500 body naming nothing.
    pub fn missing_authenticator<U>(installing: &str) -> Self {
        let user_type = std::any::type_name::<U>();
        let others: Vec<&'static str> = user_types()
            .iter()
            .copied()
            .filter(|other| *other != user_type)
            .collect();
        if others.is_empty() {
            tracing::error!(
                user_type,
                "an authtoken extractor for {user_type} found no authentication on the request: {installing}"
            );
        } else {
            let built_for = others.join(", ");
            tracing::error!(
                user_type,
                built_for,
                "an authtoken extractor for {user_type} found no authentication for it on the \
                 request, and this process's authenticators are for {built_for}: an extractor's \
                 user type must be the one its layer, middleware or managed state was built with"
            );
        }
        Self::MissingAuthenticator { user_type }
    }

    /// The core's error, unless the authenticator was missing.
    pub fn error(&self) -> Option<&AuthError> {
        match self {
            Self::Auth { error, .. } => Some(error),
            Self::MissingAuthenticator { .. } => None,
        }
    }

    /// The HTTP status: the core's ([`AuthError::status`]), or 500.
    pub fn status(&self) -> u16 {
        self.error().map_or(500, AuthError::status)
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

    /// A stable, machine-readable code: the core's ([`AuthError::code`]), or
    /// `server_error` for [`Rejection::MissingAuthenticator`].
    pub fn code(&self) -> &'static str {
        self.error().map_or("server_error", AuthError::code)
    }

    /// The body, sent as [`ErrorResponse::CONTENT_TYPE`]: DRF's `{"detail":"..."}`,
    /// or the application's own shape when its authenticator has an error body
    /// ([`AuthenticatorBuilder::error_body`](crate::AuthenticatorBuilder::error_body)).
    /// [`Rejection::MissingAuthenticator`] has no authenticator, so always DRF's
    /// generic server error.
    pub fn body(&self) -> String {
        match self {
            Self::Auth { error, challenge } => {
                String::from_utf8_lossy(&challenge.body(error)).into_owned()
            }
            Self::MissingAuthenticator { .. } => SERVER_ERROR_BODY.to_owned(),
        }
    }

    /// Status, `WWW-Authenticate`, `Retry-After` and body, as shared bytes ready to
    /// copy into a framework's response.
    pub fn response(&self) -> ErrorResponse {
        match self {
            Self::Auth { error, challenge } => error.response(challenge),
            Self::MissingAuthenticator { .. } => ErrorResponse {
                status: 500,
                www_authenticate: None,
                retry_after: None,
                body: Bytes::from_static(SERVER_ERROR_BODY.as_bytes()),
            },
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auth { error, .. } => fmt::Display::fmt(error, f),
            Self::MissingAuthenticator { user_type } => write!(
                f,
                "no authentication for {user_type} on this request: the adapter's layer, \
                 middleware or managed state is missing, or was built for another user type"
            ),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error().map(|error| error as _)
    }
}

/// Declares an adapter's rejection: a newtype over [`Rejection`] with `From`,
/// `Deref`, `into_inner`, `Display` and `Error` (its source kept), so that each
/// adapter writes only the one framework trait its framework needs
/// (`IntoResponse`, `ResponseError`, `Responder`) and callers match on the core's
/// enum through `*rejection`.
///
/// ```
/// authtoken::rejection_newtype! {
///     /// Why a request was refused.
///     pub struct AuthRejection;
/// }
///
/// let rejection = AuthRejection::from(authtoken::Rejection::new(
///     authtoken::AuthError::InvalidToken,
///     authtoken::Challenge::keyword("Token"),
/// ));
/// assert_eq!(rejection.status(), 401);
/// assert!(matches!(*rejection, authtoken::Rejection::Auth { .. }));
/// assert!(std::error::Error::source(&rejection).is_some());
/// ```
#[macro_export]
macro_rules! rejection_newtype {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        $vis struct $name($crate::Rejection);

        impl $name {
            /// The core's rejection.
            pub fn into_inner(self) -> $crate::Rejection {
                self.0
            }
        }

        impl ::core::convert::From<$crate::Rejection> for $name {
            fn from(rejection: $crate::Rejection) -> Self {
                Self(rejection)
            }
        }

        impl ::core::ops::Deref for $name {
            type Target = $crate::Rejection;

            fn deref(&self) -> &$crate::Rejection {
                &self.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::error::Error for $name {
            fn source(&self) -> ::core::option::Option<&(dyn ::std::error::Error + 'static)> {
                ::std::error::Error::source(&self.0)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_authenticator_is_a_generic_500() {
        let rejection = Rejection::missing_authenticator::<u64>("add the layer");
        assert_eq!(rejection.status(), 500);
        assert!(rejection.www_authenticate().is_none());
        let response = rejection.response();
        assert_eq!(response.status, 500);
        assert_eq!(&response.body[..], rejection.body().as_bytes());
        assert!(!rejection.body().contains("u64"), "no type name to clients");
        assert!(rejection.to_string().contains("u64"), "but in the log line");
        assert!(std::error::Error::source(&rejection).is_none());
    }

    #[test]
    fn an_auth_rejection_is_the_cores_answer() {
        let challenge = Challenge::keyword("Token");
        let throttled = Rejection::new(AuthError::Throttled { retry_after: 7 }, challenge);
        let response = throttled.response();
        assert_eq!(
            (response.status, response.retry_after),
            (429, Some(7)),
            "{response:?}"
        );
        assert_eq!(throttled.retry_after(), Some(7));
        assert!(std::error::Error::source(&throttled).is_some());
    }
}
