//! What the token endpoints answer when they refuse: [`EndpointError`], its status,
//! headers and DRF-worded JSON body, which the application may replace.

use std::fmt;

use bytes::Bytes;

use crate::error::{ErrorResponse, StoreError, push_json_string};
use crate::rejection::Rejection;

/// DRF's words for a field left out.
pub const REQUIRED: &str = "This field is required.";
/// DRF's words for a blank field.
pub const BLANK: &str = "This field may not be blank.";

/// Field errors, DRF style: each field with its messages, in the order they were
/// found; answered as `{"field": ["message", ...], ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `message` to `field`.
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    /// The messages of `field`, in order.
    pub fn get(&self, field: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }

    /// True when no field has an error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Err(self)` when a field has an error.
    pub(crate) fn into_result(self) -> Result<(), EndpointError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(EndpointError::Fields(self))
        }
    }

    /// `{"field": ["message", ...], ...}`, fields in the order first seen.
    fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut fields: Vec<&'static str> = Vec::new();
        for (field, _) in &self.0 {
            if !fields.contains(field) {
                fields.push(field);
            }
        }
        for (n, field) in fields.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            push_json_string(&mut out, field);
            out.push_str(":[");
            for (m, message) in self.get(field).enumerate() {
                if m > 0 {
                    out.push(',');
                }
                push_json_string(&mut out, message);
            }
            out.push(']');
        }
        out.push('}');
        out
    }
}

/// Why a token endpoint refused a request. Each variant has its status
/// ([`Self::status`]) and DRF-worded JSON body ([`Self::body`]);
/// [`TokenEndpoints::error_body`](crate::endpoints::TokenEndpoints::error_body) lets the
/// application write the body in its own shape.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EndpointError {
    /// 400: fields missing, blank, too long or invalid.
    Fields(FieldErrors),
    /// 400 `{"non_field_errors": ["Unable to log in with provided credentials."]}`:
    /// a wrong username or password.
    InvalidCredentials,
    /// 400 `{"detail": "..."}`: a body the framework could not read (malformed JSON
    /// or form, a field of the wrong type), worded by the adapter.
    MalformedBody(String),
    /// 415 `{"detail": "Unsupported media type ..."}`.
    UnsupportedMediaType,
    /// 413 `{"detail": "Request body too large."}`.
    PayloadTooLarge,
    /// The request's token was refused (401), lacks the scope the endpoint needs
    /// (403 `insufficient_scope`), or was throttled (429): the core's rejection, with
    /// its challenge.
    Auth(Rejection),
    /// 403 `{"detail": "You do not have permission to perform this action."}`: a new
    /// token would hold a scope the calling token does not.
    PermissionDenied,
    /// 404 `{"detail": "Not found."}`: no token of the caller's with that id.
    NotFound,
    /// 405 `{"detail": "Method not allowed."}`: an endpoint's path with another
    /// method, for an adapter whose framework would answer it without a JSON body.
    MethodNotAllowed,
    /// 400 `{"detail": "..."}`: the user already holds as many tokens as the
    /// authenticator's per-user limit allows.
    TooManyTokens {
        /// The limit.
        limit: u32,
    },
    /// 429 with `Retry-After`: too many failed logins for this username from this
    /// client.
    Throttled {
        /// Seconds until the next attempt is let through.
        retry_after: u64,
    },
    /// 503: the store or the credentials check failed; `Retry-After` when the check
    /// said when to come back (a full queue of password hashes, say).
    Unavailable {
        /// Seconds to wait, when known.
        retry_after: Option<u64>,
        /// What failed (logged, never sent).
        source: StoreError,
    },
}

impl EndpointError {
    /// A stable, machine-readable code, part of the API: `invalid` (field errors),
    /// `invalid_credentials`, `malformed_body`, `unsupported_media_type`,
    /// `payload_too_large`, `permission_denied`, `not_found`, `method_not_allowed`,
    /// `too_many_tokens`, `throttled`, `unavailable`, and for [`Self::Auth`] the
    /// rejection's ([`Rejection::code`]: `invalid_token`, `insufficient_scope`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Fields(_) => "invalid",
            Self::InvalidCredentials => "invalid_credentials",
            Self::MalformedBody(_) => "malformed_body",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Auth(rejection) => rejection.code(),
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooManyTokens { .. } => "too_many_tokens",
            Self::Throttled { .. } => "throttled",
            Self::Unavailable { .. } => "unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Fields(_)
            | Self::InvalidCredentials
            | Self::MalformedBody(_)
            | Self::TooManyTokens { .. } => 400,
            Self::Auth(rejection) => rejection.status(),
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Throttled { .. } => 429,
            Self::Unavailable { .. } => 503,
        }
    }

    /// The `Retry-After` seconds, for a 429 or a 503 that knows them.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after } => Some(*retry_after),
            Self::Unavailable { retry_after, .. } => *retry_after,
            Self::Auth(rejection) => rejection.retry_after(),
            _ => None,
        }
    }

    /// The DRF-worded JSON body; for [`Self::Auth`], the rejection's (the
    /// authenticator's error body when it has one, [`Rejection::body`]).
    pub fn body(&self) -> String {
        let detail = |text: &str| {
            let mut out = String::from("{\"detail\":");
            push_json_string(&mut out, text);
            out.push('}');
            out
        };
        match self {
            Self::Fields(errors) => errors.to_json(),
            Self::InvalidCredentials => {
                r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#.into()
            }
            Self::MalformedBody(reason) => detail(reason),
            Self::UnsupportedMediaType => detail(
                "Unsupported media type in request: send application/json or \
                 application/x-www-form-urlencoded.",
            ),
            Self::PayloadTooLarge => detail("Request body too large."),
            Self::Auth(rejection) => rejection.body(),
            Self::PermissionDenied => detail("You do not have permission to perform this action."),
            Self::NotFound => detail("Not found."),
            Self::MethodNotAllowed => detail("Method not allowed."),
            Self::TooManyTokens { limit } => detail(&format!(
                "You already have {limit} active tokens, the most allowed: revoke one first."
            )),
            Self::Throttled { retry_after } => detail(&format!(
                "Request was throttled. Expected available in {retry_after} second{}.",
                if *retry_after == 1 { "" } else { "s" }
            )),
            Self::Unavailable { .. } => detail("Service temporarily unavailable."),
        }
    }

    /// The whole answer: status, `WWW-Authenticate` (for [`Self::Auth`]),
    /// `Retry-After`, and `body` (JSON).
    pub(crate) fn response_with(&self, body: Bytes) -> ErrorResponse {
        ErrorResponse {
            status: self.status(),
            www_authenticate: match self {
                Self::Auth(rejection) => rejection.response().www_authenticate,
                _ => None,
            },
            retry_after: self.retry_after(),
            body,
        }
    }
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { source, .. } => write!(f, "service unavailable: {source}"),
            Self::Auth(rejection) => fmt::Display::fmt(rejection, f),
            other => f.write_str(&other.body()),
        }
    }
}

impl std::error::Error for EndpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable { source, .. } => Some(source),
            Self::Auth(rejection) => std::error::Error::source(rejection),
            _ => None,
        }
    }
}

impl From<Rejection> for EndpointError {
    fn from(rejection: Rejection) -> Self {
        Self::Auth(rejection)
    }
}
