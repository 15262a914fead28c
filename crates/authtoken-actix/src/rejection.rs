//! [`AuthRejection`]: the core's [`Rejection`](authtoken::Rejection) as an actix-web [`ResponseError`].

use std::cell::RefCell;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, ResponseError};
use authtoken::ErrorResponse;

authtoken::rejection_newtype! {
    /// Why a request was refused by an extractor of this crate or by
    /// [`AuthMiddleware`](crate::AuthMiddleware) in required mode: the core's
    /// [`Rejection`](authtoken::Rejection), with the one trait actix-web needs, [`ResponseError`].
    ///
    /// Everything else is the core's, through [`Deref`](std::ops::Deref): [`Rejection::status`](authtoken::Rejection::status),
    /// [`Rejection::error`](authtoken::Rejection::error), [`Rejection::www_authenticate`](authtoken::Rejection::www_authenticate), [`Rejection::body`](authtoken::Rejection::body). Status,
    /// `WWW-Authenticate`, `Retry-After`, the `application/json` content type and the
    /// `{"detail": "..."}` body of the response are those of [`Rejection::response`](authtoken::Rejection::response),
    /// copied. Match on the cause through the core's enum:
    ///
    /// ```
    /// use actix_web::ResponseError;
    /// use authtoken::{AuthError, Challenge, Rejection};
    /// use authtoken_actix::AuthRejection;
    ///
    /// let rejection = AuthRejection::from(Rejection::new(AuthError::TokenExpired, Challenge::bearer("api")));
    /// assert_eq!(rejection.status_code(), 401);
    /// assert_eq!(rejection.body(), r#"{"detail":"Token has expired."}"#);
    /// let advice = match &*rejection {
    ///     Rejection::Auth { error: AuthError::TokenExpired, .. } => "log in again",
    ///     Rejection::Auth { .. } => "not authenticated",
    ///     Rejection::MissingAuthenticator { .. } => "the app lacks an AuthMiddleware",
    ///     _ => "refused",
    /// };
    /// assert_eq!(advice, "log in again");
    /// ```
    pub struct AuthRejection;
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        http_response(self.0.response())
    }
}

/// The core's answer as an actix-web response: status, `WWW-Authenticate`,
/// `Retry-After`, `content-type: application/json` and the body.
pub(crate) fn http_response(answer: ErrorResponse) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.content_type(const { HeaderValue::from_static(ErrorResponse::CONTENT_TYPE) });
    if let Some(seconds) = answer.retry_after {
        response.insert_header((RETRY_AFTER, seconds));
    }
    if let Some(value) = answer.www_authenticate.and_then(challenge_header) {
        response.insert_header((WWW_AUTHENTICATE, value));
    }
    response.body(answer.body)
}

thread_local! {
    /// The last challenge this thread answered with, as a header value: checking a
    /// challenge's bytes (about 100) costs more than comparing them, and a server
    /// answers with very few distinct challenges (callgrind: about 600 instructions,
    /// 2.7% of a refused request, saved).
    static LAST_CHALLENGE: RefCell<Option<(Bytes, HeaderValue)>> = const { RefCell::new(None) };
}

/// `value` as a header value, from this thread's last one when it is the same.
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
