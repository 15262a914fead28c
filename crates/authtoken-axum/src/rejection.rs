//! [`AuthRejection`]: the core's [`Rejection`](authtoken::Rejection), answered as an http response.

use authtoken::ErrorResponse;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

authtoken::rejection_newtype! {
    /// Why a request was refused: the core's [`Rejection`](authtoken::Rejection), with what tower and axum
    /// need to answer it ([`Self::to_http_response`], and `IntoResponse` with the `axum`
    /// feature).
    ///
    /// Status, `WWW-Authenticate`, `Retry-After` and the JSON body all come from the
    /// core ([`Rejection::response`](authtoken::Rejection::response)); the core's accessors (`status`, `error`,
    /// `retry_after`, `www_authenticate`, `body`) are reached through `Deref`. Match on
    /// the cause through the core's enum:
    ///
    /// ```
    /// use authtoken::{AuthError, Challenge, Rejection};
    /// use authtoken_axum::AuthRejection;
    ///
    /// fn describe(rejection: &AuthRejection) -> &'static str {
    ///     match &**rejection {
    ///         Rejection::Auth { error: AuthError::TokenExpired, .. } => "log in again",
    ///         Rejection::Auth { .. } => "not authenticated",
    ///         Rejection::MissingAuthenticator { .. } => "a server bug",
    ///         _ => "refused",
    ///     }
    /// }
    ///
    /// let rejection = AuthRejection::from(Rejection::new(AuthError::TokenExpired, Challenge::bearer("api")));
    /// assert_eq!(describe(&rejection), "log in again");
    /// assert_eq!(rejection.status(), 401);
    /// ```
    pub struct AuthRejection;
}

impl AuthRejection {
    /// The whole response, for any http 1.x stack: status, `WWW-Authenticate`,
    /// `Retry-After`, `content-type: application/json` and the body, shared with the
    /// core (copied nowhere). `B` is any body made from [`Bytes`]: axum's `Body`,
    /// http-body-util's `Full<Bytes>`, `Bytes` itself.
    pub fn to_http_response<B: From<Bytes>>(&self) -> Response<B> {
        http_response(self.0.response())
    }
}

/// The core's answer as an http response: status, `WWW-Authenticate`, `Retry-After`,
/// `content-type: application/json` and the body.
pub(crate) fn http_response<B: From<Bytes>>(answer: ErrorResponse) -> Response<B> {
    let mut response = Response::new(B::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        const { HeaderValue::from_static(ErrorResponse::CONTENT_TYPE) },
    );
    if let Some(seconds) = answer.retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    // The core writes challenges of visible ASCII and spaces only: always valid.
    let challenge = answer.www_authenticate.map(HeaderValue::from_maybe_shared);
    if let Some(Ok(value)) = challenge {
        headers.insert(WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for AuthRejection {
    fn into_response(self) -> axum::response::Response {
        self.to_http_response()
    }
}
