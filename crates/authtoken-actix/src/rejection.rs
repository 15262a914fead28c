//! [`AuthRejection`]: why an extractor or the middleware refused a request.

use std::cell::RefCell;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};
use authtoken::{AuthError, Challenge, ErrorResponse};

/// The JSON body of [`AuthRejection::MissingMiddleware`].
const MISSING_MIDDLEWARE_BODY: &str =
    r#"{"detail":"Server misconfigured: AuthMiddleware is not installed on this route."}"#;

/// Why a request was refused by an extractor of this crate or by
/// [`AuthMiddleware`](crate::AuthMiddleware) in required mode.
///
/// It implements [`ResponseError`]: status, `WWW-Authenticate`, the
/// `application/json` content type and the `{"detail": "..."}` body are all the
/// core's ([`AuthError::response`]); this type only copies them.
///
/// ```
/// use actix_web::ResponseError;
/// use authtoken::{AuthError, Challenge};
/// use authtoken_actix::AuthRejection;
///
/// let rejection = AuthRejection::new(AuthError::InvalidToken, Challenge::bearer("api"));
/// assert_eq!(rejection.status_code(), 401);
/// assert_eq!(rejection.status(), 401);
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
    /// No [`AuthMiddleware`](crate::AuthMiddleware) for this user type ran before
    /// the extractor: a programming error, answered with 500.
    #[non_exhaustive]
    MissingMiddleware {
        /// The user type the extractor asked for.
        user_type: &'static str,
    },
}

impl AuthRejection {
    /// A rejection for `error`, challenged with `challenge`.
    pub fn new(error: AuthError, challenge: Challenge) -> Self {
        Self::Auth { error, challenge }
    }

    pub(crate) fn missing_middleware<U>() -> Self {
        let user_type = std::any::type_name::<U>();
        tracing::error!(
            user_type,
            "an authtoken extractor ran on a route without authtoken_actix::AuthMiddleware<{user_type}>: \
             register it with App::wrap or Scope::wrap"
        );
        Self::MissingMiddleware { user_type }
    }

    /// The core's error, unless the middleware was missing.
    pub fn error(&self) -> Option<&AuthError> {
        match self {
            Self::Auth { error, .. } => Some(error),
            Self::MissingMiddleware { .. } => None,
        }
    }

    /// The status the response carries: the core's ([`AuthError::status`]), or 500
    /// for a missing middleware.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Auth { error, .. } => {
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::MissingMiddleware { .. } => StatusCode::INTERNAL_SERVER_ERROR,
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
            Self::MissingMiddleware { .. } => None,
        }
    }

    /// The JSON body, `{"detail":"..."}`, sent as [`ErrorResponse::CONTENT_TYPE`].
    pub fn body(&self) -> String {
        match self {
            Self::Auth { error, .. } => error.json_body(),
            Self::MissingMiddleware { .. } => MISSING_MIDDLEWARE_BODY.to_owned(),
        }
    }
}

impl From<authtoken::Rejection> for AuthRejection {
    fn from(rejection: authtoken::Rejection) -> Self {
        match rejection {
            authtoken::Rejection::Auth {
                error, challenge, ..
            } => Self::new(error, challenge),
            authtoken::Rejection::MissingAuthenticator { user_type, .. } => {
                Self::MissingMiddleware { user_type }
            }
            _ => Self::MissingMiddleware { user_type: "" },
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auth { error, .. } => fmt::Display::fmt(error, f),
            Self::MissingMiddleware { user_type } => write!(
                f,
                "no AuthMiddleware<{user_type}> ran for this request: \
                 register authtoken_actix::AuthMiddleware with App::wrap or Scope::wrap"
            ),
        }
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Auth { error, .. } => Some(error),
            Self::MissingMiddleware { .. } => None,
        }
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let (status, www_authenticate, retry_after, body) = match self {
            Self::Auth { error, challenge } => {
                let ErrorResponse {
                    status,
                    www_authenticate,
                    retry_after,
                    body,
                    ..
                } = error.response(challenge);
                (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    www_authenticate,
                    retry_after,
                    body,
                )
            }
            Self::MissingMiddleware { .. } => (
                self.status(),
                None,
                None,
                Bytes::from_static(MISSING_MIDDLEWARE_BODY.as_bytes()),
            ),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((
            CONTENT_TYPE,
            const { HeaderValue::from_static(ErrorResponse::CONTENT_TYPE) },
        ));
        if let Some(seconds) = retry_after {
            response.insert_header((RETRY_AFTER, HeaderValue::from(seconds)));
        }
        if let Some(value) = www_authenticate {
            match challenge_header(value) {
                Some(value) => {
                    response.insert_header((WWW_AUTHENTICATE, value));
                }
                None => {
                    tracing::warn!("a WWW-Authenticate challenge was not a valid header value");
                }
            }
        }
        response.body(body)
    }
}

thread_local! {
    /// The last `WWW-Authenticate` value this thread sent, checked: refusals repeat
    /// the same few challenges, and checking a new `HeaderValue` reads it byte by byte.
    static LAST_CHALLENGE: RefCell<Option<(Bytes, HeaderValue)>> = const { RefCell::new(None) };
}

/// `value` as a header value (`None` if it is not one), checked once for as long as
/// this thread sends the same challenge.
fn challenge_header(value: Bytes) -> Option<HeaderValue> {
    LAST_CHALLENGE.with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return HeaderValue::from_maybe_shared(value).ok();
        };
        if let Some((bytes, header)) = last.as_ref()
            && *bytes == value
        {
            return Some(header.clone());
        }
        let header = HeaderValue::from_maybe_shared(value.clone()).ok()?;
        *last = Some((value, header.clone()));
        Some(header)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_header_is_always_the_value_given() {
        let challenges: [&'static [u8]; 3] = [
            br#"Token realm="api""#,
            br#"Bearer realm="api", error="invalid_token""#,
            br#"Bearer realm="api""#,
        ];
        for _ in 0..3 {
            for challenge in challenges {
                // Twice in a row (the remembered value), then the next one.
                for _ in 0..2 {
                    let header = challenge_header(Bytes::from_static(challenge));
                    assert_eq!(header.as_ref().map(HeaderValue::as_bytes), Some(challenge));
                }
            }
        }
        assert_eq!(challenge_header(Bytes::from_static(b"not\na header")), None);
        assert_eq!(
            challenge_header(Bytes::from_static(challenges[0]))
                .as_ref()
                .map(HeaderValue::as_bytes),
            Some(challenges[0])
        );
    }
}
