//! [`ApiError`]: every error the example answers, each a JSON response.

use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use authtoken_demo::DemoError;
use serde_json::json;

/// Why a request failed; handlers return `Result<_, ApiError>` and use `?`. Apart from
/// the demo's own errors, the body is `{"detail": "<the Display text>"}`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The demo's status, JSON body and `Retry-After`.
    #[error(transparent)]
    Demo(#[from] DemoError),
    /// A body `web::Json` could not read: 400, or 413 when too large.
    #[error(transparent)]
    Body(JsonPayloadError),
    #[error("Unsupported media type: the body must be JSON.")]
    UnsupportedMediaType,
    #[error("Not found.")]
    NotFound,
    #[error("Method not allowed.")]
    MethodNotAllowed,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Demo(error) => {
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Body(error) => error.status_code(),
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let Self::Demo(error) = self else {
            return response.json(json!({ "detail": self.to_string() }));
        };
        if let Some(seconds) = error.retry_after() {
            response.insert_header((RETRY_AFTER, seconds));
        }
        response.json(error.body())
    }
}

/// The [`web::JsonConfig`](actix_web::web::JsonConfig) error handler: a body that
/// could not be read is answered as an [`ApiError`], in JSON, never in actix-web's
/// plain text (which also answers another media type with 400).
pub(crate) fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    match error {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        error => ApiError::Body(error),
    }
    .into()
}
