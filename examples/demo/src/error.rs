//! Why a demo operation failed, with the status and the JSON body each framework's
//! example answers it with.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::json;

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
}

/// Why a demo operation failed. [`DemoError::status`], [`DemoError::body`] and
/// [`DemoError::retry_after`] are the whole response; no internal error text ever
/// reaches the body (the cause of a 500 or 503 is logged, and kept as
/// [`std::error::Error::source`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// 400: fields blank, too long or holding control characters.
    #[error("invalid fields: {0:?}")]
    Validation(FieldErrors),
    /// 409: the username belongs to someone else.
    #[error("the username is taken")]
    UsernameTaken,
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
    /// How long hashing may be refused: about the time the threads take to work
    /// through a full queue.
    pub const OVERLOADED_RETRY_AFTER_SECONDS: u64 = 1;

    /// A database failure, logged with its causes.
    pub(crate) fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        let error = Self::Unavailable(Box::new(source));
        tracing::error!(error = %error_chain(&error), "database failure");
        error
    }

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
            Self::Validation(_) => 400,
            Self::UsernameTaken => 409,
            Self::Internal(_) => 500,
            Self::Overloaded | Self::Unavailable(_) => 503,
        }
    }

    /// The JSON body, worded as DRF words it.
    pub fn body(&self) -> serde_json::Value {
        match self {
            Self::Validation(errors) => json!(errors.errors),
            Self::UsernameTaken => {
                json!({ "username": ["A user with that username already exists."] })
            }
            Self::Overloaded | Self::Unavailable(_) => {
                json!({ "detail": "Service temporarily unavailable." })
            }
            Self::Internal(_) => json!({ "detail": "Internal server error." }),
        }
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
        errors.add("password", "This field may not be blank.");
        let error = DemoError::Validation(errors);
        assert_eq!(error.status(), 400);
        assert_eq!(
            error.body().to_string(),
            r#"{"password":["This field may not be blank."],"username":["This field may not be blank."]}"#
        );
    }

    #[test]
    fn internal_text_never_reaches_the_body() {
        let error = DemoError::Unavailable(Box::new(std::io::Error::other("disk /secret full")));
        assert_eq!(error.status(), 503);
        assert!(!error.body().to_string().contains("secret"));
        let error = DemoError::Internal(Box::new(std::io::Error::other("/secret")));
        assert_eq!(error.status(), 500);
        assert!(!error.body().to_string().contains("secret"));
    }

    #[test]
    fn only_an_overloaded_demo_asks_to_retry() {
        let overloaded = DemoError::Overloaded;
        assert_eq!(
            (overloaded.status(), overloaded.retry_after()),
            (503, Some(1))
        );
        assert!(overloaded.body()["detail"].is_string());
        let unavailable = DemoError::Unavailable(Box::new(std::io::Error::other("down")));
        assert_eq!(unavailable.retry_after(), None);
        assert_eq!(DemoError::UsernameTaken.retry_after(), None);
    }
}
