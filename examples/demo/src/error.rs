//! What the demo answers: [`Reply`] on success, [`DemoError`] otherwise. Both carry a
//! status and a JSON body, so that every framework only copies them into its response.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::json;

/// The content type of every body the demo sends.
pub const CONTENT_TYPE: &str = "application/json";

/// The name of the header that tells a client of a 503 how many seconds to wait
/// before it tries again (lower case, as HTTP/2 writes header names).
pub const RETRY_AFTER: &str = "retry-after";

/// A successful answer: a status and, unless it is `204 No Content`, a JSON body.
/// Made from a [`DemoError`] it is the error's answer, with the headers that go with
/// it (`Retry-After` on a 503 of an overloaded demo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    status: u16,
    body: Option<String>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// `200 OK` with `body` as JSON.
    pub fn ok<T: Serialize + ?Sized>(body: &T) -> Self {
        Self::json(200, body)
    }

    /// `201 Created` with `body` as JSON.
    pub fn created<T: Serialize + ?Sized>(body: &T) -> Self {
        Self::json(201, body)
    }

    /// `status` with `body` written as JSON straight from its fields (no
    /// `serde_json::Value` in between), or a 500 if it cannot be.
    fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Self {
        match serde_json::to_string(body) {
            Ok(body) => Self {
                status,
                body: Some(body),
                headers: Vec::new(),
            },
            Err(error) => DemoError::Internal(Box::new(error)).into(),
        }
    }

    /// `204 No Content`.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    /// `401 Unauthorized` with `{"detail": "Invalid token."}` (the benchmark baseline's
    /// answer to a token it does not know).
    pub(crate) fn unauthorized() -> Self {
        Self {
            status: 401,
            body: Some(json!({ "detail": "Invalid token." }).to_string()),
            headers: Vec::new(),
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The JSON body (send it as [`CONTENT_TYPE`]), or `None` for `204`.
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// The headers to send besides `Content-Type`, as lower-case names and values:
    /// [`RETRY_AFTER`] when the demo is overloaded, none otherwise. Every example
    /// copies them into its response.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// Status and body, to move into a framework's response without a copy (take
    /// [`Reply::headers`] first).
    pub fn into_parts(self) -> (u16, Option<String>) {
        (self.status, self.body)
    }
}

impl From<DemoError> for Reply {
    fn from(error: DemoError) -> Self {
        let headers = error
            .retry_after()
            .map(|seconds| vec![(RETRY_AFTER, seconds.to_string())])
            .unwrap_or_default();
        Self {
            status: error.status(),
            body: Some(error.json_body()),
            headers,
        }
    }
}

/// Validation messages per field, as DRF words and shapes them:
/// `{"username": ["This field may not be blank."]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    errors: BTreeMap<&'static str, Vec<&'static str>>,
}

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `message` against `field` (`non_field_errors` for the whole body).
    pub fn add(&mut self, field: &'static str, message: &'static str) {
        self.errors.entry(field).or_default().push(message);
    }

    /// The messages recorded against `field`.
    pub fn get(&self, field: &str) -> &[&'static str] {
        self.errors.get(field).map_or(&[], Vec::as_slice)
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    fn to_json(&self) -> serde_json::Value {
        json!(self.errors)
    }
}

/// Why a demo request failed. [`DemoError::status`] and [`DemoError::json_body`] are
/// the whole response; no internal error text ever reaches the body (the cause of a
/// 500 or 503 is logged, and kept as [`std::error::Error::source`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// 400: fields missing, blank, too long or of the wrong type.
    #[error("invalid fields: {0:?}")]
    Validation(FieldErrors),
    /// 400: the body is not JSON (or not valid UTF-8 form data).
    #[error("malformed request body: {0}")]
    MalformedBody(String),
    /// 400: wrong username or password, or an inactive user.
    #[error("unable to log in with the provided credentials")]
    InvalidCredentials,
    /// 409: the username belongs to someone else.
    #[error("the username is taken")]
    UsernameTaken,
    /// 413: the body is larger than [`crate::MAX_BODY_BYTES`].
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 415: a content type the route does not read.
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// 404: no such route.
    #[error("not found")]
    NotFound,
    /// 405: the route exists, not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 503 with `Retry-After`: too many passwords wait to be hashed; the client may
    /// try again after [`DemoError::retry_after`] seconds.
    #[error("too many passwords are waiting to be hashed")]
    Overloaded,
    /// 503: the database failed.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// 500: a bug (a password hashing task panicked).
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl DemoError {
    /// The content type of [`DemoError::json_body`].
    pub const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    /// A database failure.
    pub(crate) fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        let error = Self::Unavailable(Box::new(source));
        tracing::error!(error = %error_chain(&error), "database failure");
        error
    }

    /// How long hashing may be refused: about the time the threads take to work
    /// through a full queue.
    pub const OVERLOADED_RETRY_AFTER_SECONDS: u64 = 1;

    /// Too many passwords wait to be hashed.
    pub(crate) fn overloaded() -> Self {
        tracing::warn!("password hashing queue full: answering 503");
        Self::Overloaded
    }

    /// The seconds a client should wait before it tries again, sent as
    /// `Retry-After`: for [`DemoError::Overloaded`] only.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Overloaded => Some(Self::OVERLOADED_RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation(_) | Self::MalformedBody(_) | Self::InvalidCredentials => 400,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::UsernameTaken => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::Internal(_) => 500,
            Self::Overloaded | Self::Unavailable(_) => 503,
        }
    }

    /// The JSON body, worded as DRF words it.
    pub fn json_body(&self) -> String {
        let detail = |text: &str| json!({ "detail": text });
        let body = match self {
            Self::Validation(errors) => errors.to_json(),
            Self::MalformedBody(reason) => detail(&format!("JSON parse error - {reason}")),
            Self::InvalidCredentials => {
                json!({ "non_field_errors": ["Unable to log in with provided credentials."] })
            }
            Self::UsernameTaken => {
                json!({ "username": ["A user with that username already exists."] })
            }
            Self::PayloadTooLarge => detail("Request body too large."),
            Self::UnsupportedMediaType(media_type) => detail(&format!(
                "Unsupported media type \"{media_type}\" in request."
            )),
            Self::NotFound => detail("Not found."),
            Self::MethodNotAllowed => detail("Method not allowed."),
            Self::Overloaded | Self::Unavailable(_) => detail("Service temporarily unavailable."),
            Self::Internal(_) => detail("Internal server error."),
        };
        body.to_string()
    }
}

/// An error and its sources, for a log line.
fn error_chain(error: &dyn std::error::Error) -> impl fmt::Display + '_ {
    struct Chain<'a>(&'a dyn std::error::Error);
    impl fmt::Display for Chain<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.0)?;
            let mut source = self.0.source();
            while let Some(error) = source {
                write!(f, ": {error}")?;
                source = error.source();
            }
            Ok(())
        }
    }
    Chain(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_read_as_drf() {
        let mut errors = FieldErrors::new();
        errors.add("username", "This field may not be blank.");
        errors.add("password", "This field is required.");
        let error = DemoError::Validation(errors);
        assert_eq!(error.status(), 400);
        assert_eq!(
            error.json_body(),
            r#"{"password":["This field is required."],"username":["This field may not be blank."]}"#
        );
    }

    #[test]
    fn credentials_error_is_drfs() {
        assert_eq!(
            DemoError::InvalidCredentials.json_body(),
            r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#
        );
    }

    #[test]
    fn internal_text_never_reaches_the_body() {
        let error = DemoError::Unavailable(Box::new(std::io::Error::other("disk /secret full")));
        assert_eq!(error.status(), 503);
        assert!(!error.json_body().contains("secret"));
        let reply = Reply::from(error);
        assert_eq!(reply.status(), 503);
    }

    #[test]
    fn an_overloaded_demo_answers_503_with_retry_after() {
        let reply = Reply::from(DemoError::Overloaded);
        assert_eq!(reply.status(), 503);
        assert_eq!(
            reply.headers(),
            [(RETRY_AFTER, "1".to_owned())],
            "{reply:?}"
        );
        let body: serde_json::Value =
            serde_json::from_str(reply.body().expect("a body")).expect("JSON");
        assert!(body["detail"].is_string(), "{body}");
    }

    #[test]
    fn other_answers_carry_no_retry_after() {
        let unavailable = DemoError::Unavailable(Box::new(std::io::Error::other("down")));
        for reply in [
            Reply::from(unavailable),
            Reply::from(DemoError::InvalidCredentials),
            Reply::ok(&json!({ "status": "ok" })),
            Reply::no_content(),
        ] {
            assert!(reply.headers().is_empty(), "{reply:?}");
        }
    }

    #[test]
    fn media_type_is_escaped() {
        let body = DemoError::UnsupportedMediaType("text/\"x\"".into()).json_body();
        let value: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            value["detail"],
            "Unsupported media type \"text/\"x\"\" in request."
        );
    }
}
