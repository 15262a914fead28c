//! [`AuthRejection`]: why a request was refused, as the core decided it.

use std::fmt;

use authtoken::{AuthError, Challenge, ErrorResponse};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

/// The detail sent when an extractor runs on a route without [`AuthLayer`](crate::AuthLayer).
const MISSING_LAYER_DETAIL: &str =
    "Server misconfigured: authtoken_axum::AuthLayer is missing on this route.";

/// Why a request was refused: the core's [`AuthError`] with the challenge to answer it
/// with, or a route that was never given an [`AuthLayer`](crate::AuthLayer).
///
/// Status, `WWW-Authenticate` and body all come from the core
/// ([`AuthError::response`]); this type only carries them to the framework.
///
/// ```
/// use authtoken::AuthError;
/// use authtoken_axum::AuthRejection;
///
/// fn describe(rejection: &AuthRejection) -> &'static str {
///     match rejection {
///         AuthRejection::Auth { error: AuthError::TokenExpired, .. } => "log in again",
///         AuthRejection::Auth { .. } => "not authenticated",
///         AuthRejection::MissingLayer { .. } => "the router lacks an AuthLayer",
///         _ => "refused",
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AuthRejection {
    /// Authentication failed, or was required and nothing was sent
    /// ([`AuthError::NotProvided`]).
    #[non_exhaustive]
    Auth {
        /// What went wrong, as the core tells it.
        error: AuthError,
        /// The challenge of the authenticator that decided.
        challenge: Challenge,
    },
    /// An extractor ran on a request that no [`AuthLayer`](crate::AuthLayer) for this
    /// user type had seen: a programming error, answered with 500.
    #[non_exhaustive]
    MissingLayer {
        /// The user type the extractor asked for.
        user_type: &'static str,
    },
}

impl AuthRejection {
    /// A rejection for `error`, answered with `challenge`.
    pub fn new(error: AuthError, challenge: Challenge) -> Self {
        Self::Auth { error, challenge }
    }

    #[cfg(feature = "axum")]
    pub(crate) fn missing_layer<U>() -> Self {
        let user_type = std::any::type_name::<U>();
        tracing::error!(
            user_type,
            "an authtoken extractor ran on a route without authtoken_axum::AuthLayer<{user_type}>: \
             add the layer to the router (Router::layer or route_layer)"
        );
        Self::MissingLayer { user_type }
    }

    /// The core's error, unless the layer was missing.
    pub fn error(&self) -> Option<&AuthError> {
        match self {
            Self::Auth { error, .. } => Some(error),
            Self::MissingLayer { .. } => None,
        }
    }

    /// The status the response carries: the core's ([`AuthError::status`]), or 500
    /// for a missing layer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Auth { error, .. } => {
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::MissingLayer { .. } => StatusCode::INTERNAL_SERVER_ERROR,
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
            Self::MissingLayer { .. } => None,
        }
    }

    /// The JSON body, `{"detail":"..."}`, sent as [`ErrorResponse::CONTENT_TYPE`].
    pub fn body(&self) -> String {
        match self {
            Self::Auth { error, .. } => error.json_body(),
            Self::MissingLayer { .. } => format!("{{\"detail\":\"{MISSING_LAYER_DETAIL}\"}}"),
        }
    }

    /// The whole response, for any http 1.x stack: status, `WWW-Authenticate`,
    /// `content-type: application/json` and the body.
    pub fn to_http_response(&self) -> Response<String> {
        self.to_shared_response()
            .map(|body| String::from_utf8_lossy(&body).into_owned())
    }

    /// [`Self::to_http_response`] with the body as shared bytes: the core's static
    /// body and precomputed challenge, copied nowhere.
    pub(crate) fn to_shared_response(&self) -> Response<Bytes> {
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
            Self::MissingLayer { .. } => (self.status(), None, None, Bytes::from(self.body())),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            const { HeaderValue::from_static(ErrorResponse::CONTENT_TYPE) },
        );
        if let Some(seconds) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(value) = www_authenticate {
            match HeaderValue::from_maybe_shared(value) {
                Ok(value) => {
                    headers.insert(WWW_AUTHENTICATE, value);
                }
                Err(_) => {
                    tracing::warn!("a WWW-Authenticate challenge was not a valid header value");
                }
            }
        }
        response
    }
}

impl From<authtoken::Rejection> for AuthRejection {
    fn from(rejection: authtoken::Rejection) -> Self {
        match rejection {
            authtoken::Rejection::Auth {
                error, challenge, ..
            } => Self::new(error, challenge),
            authtoken::Rejection::MissingAuthenticator { user_type, .. } => {
                Self::MissingLayer { user_type }
            }
            _ => Self::MissingLayer { user_type: "" },
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auth { error, .. } => fmt::Display::fmt(error, f),
            Self::MissingLayer { user_type } => write!(
                f,
                "no authtoken_axum::AuthLayer<{user_type}> ran before this extractor: \
                 add the layer to the router"
            ),
        }
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Auth { error, .. } => Some(error),
            Self::MissingLayer { .. } => None,
        }
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for AuthRejection {
    fn into_response(self) -> axum::response::Response {
        self.to_shared_response().map(axum::body::Body::from)
    }
}
