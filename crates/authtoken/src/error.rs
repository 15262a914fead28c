//! Every way authentication can fail, with the HTTP status, the DRF-worded detail
//! and the `WWW-Authenticate` challenge each one answers with.
//!
//! Adapters only translate: [`AuthError::response`] gives them status, header and
//! body, ready to copy into their framework's response type.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

mod challenge;

pub use challenge::Challenge;
pub(crate) use challenge::ErrorBodyFn;

/// A failure of the token store or the user loader: infrastructure, not the client's
/// fault. Authentication answers it with 503 and never lets the request through.
///
/// Cheap to clone (the cause is shared) so that it can sit in request extensions.
#[derive(Clone)]
pub struct StoreError {
    source: Arc<dyn StdError + Send + Sync + 'static>,
}

impl StoreError {
    /// Wraps the store's or loader's own error, keeping it as [`StdError::source`].
    pub fn new(source: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            source: Arc::new(source),
        }
    }

    /// Wraps an already boxed error.
    pub fn from_boxed(source: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        Self {
            source: Arc::from(source),
        }
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreError").field(&self.source).finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the token store failed: {}", self.source)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

impl PartialEq for StoreError {
    /// Two store errors are equal only when they share one cause.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.source, &other.source)
    }
}

/// Defines each fixed detail twice, as the detail and as its JSON body, from one
/// literal (no detail needs JSON escaping; a test checks the bodies).
macro_rules! details {
    ($($name:ident = $text:literal;)*) => {
        mod detail {
            $(pub(super) const $name: &str = $text;)*
        }
        // The throttled body names the wait, so it is never the fixed one.
        #[allow(dead_code)]
        mod body {
            $(pub(super) const $name: &str = concat!("{\"detail\":\"", $text, "\"}");)*
        }
    };
}

details! {
    NOT_PROVIDED = "Authentication credentials were not provided.";
    NO_CREDENTIALS = "Invalid token header. No credentials provided.";
    CONTAINS_SPACES = "Invalid token header. Token string should not contain spaces.";
    INVALID_CHARACTERS = "Invalid token header. Token string should not contain invalid characters.";
    CONFLICTING_HEADERS = "Invalid token header. Multiple different Authorization headers were sent.";
    INVALID_TOKEN = "Invalid token.";
    TOKEN_EXPIRED = "Token has expired.";
    USER_INACTIVE = "User inactive or deleted.";
    INSUFFICIENT_SCOPE = "You do not have permission to perform this action.";
    UNAVAILABLE = "Authentication service unavailable.";
    THROTTLED = "Request was throttled.";
}

/// How many errors answer with a `WWW-Authenticate` value that depends on the
/// challenge alone (see [`AuthError::fixed_challenge_index`]).
const FIXED_CHALLENGES: usize = 8;

/// The errors whose `WWW-Authenticate` value is fixed for a challenge, in the order
/// of [`AuthError::fixed_challenge_index`].
const FIXED_CHALLENGE_ERRORS: [AuthError; FIXED_CHALLENGES] = [
    AuthError::NotProvided,
    AuthError::NoCredentials,
    AuthError::CredentialContainsSpaces,
    AuthError::CredentialInvalidCharacters,
    AuthError::ConflictingHeaders,
    AuthError::InvalidToken,
    AuthError::TokenExpired,
    AuthError::UserInactive,
];

/// Why a request was not authenticated, one variant a row of the error table.
///
/// The detail strings are Django REST Framework's, so clients written against DRF
/// keep working.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were sent, on a route that requires them.
    #[error("Authentication credentials were not provided.")]
    NotProvided,
    /// The keyword came with nothing after it.
    #[error("Invalid token header. No credentials provided.")]
    NoCredentials,
    /// Whitespace inside the credential.
    #[error("Invalid token header. Token string should not contain spaces.")]
    CredentialContainsSpaces,
    /// Bytes that are not visible ASCII in the credential.
    #[error("Invalid token header. Token string should not contain invalid characters.")]
    CredentialInvalidCharacters,
    /// Several `Authorization` headers with different values.
    #[error("Invalid token header. Multiple different Authorization headers were sent.")]
    ConflictingHeaders,
    /// Bad format, bad checksum, unknown or revoked.
    #[error("Invalid token.")]
    InvalidToken,
    /// The token's expiry has passed.
    #[error("Token has expired.")]
    TokenExpired,
    /// The user is missing or inactive.
    #[error("User inactive or deleted.")]
    UserInactive,
    /// The token lacks a scope the route requires.
    #[error("You do not have permission to perform this action.")]
    InsufficientScope {
        /// The scope that was required.
        required: Arc<str>,
    },
    /// The token store or the user loader could not answer (fail closed).
    #[error("Authentication service unavailable.")]
    Unavailable(#[source] StoreError),
    /// Too many invalid credentials from this client: answered 429 with
    /// `Retry-After` (see [`crate::limiter`]).
    #[error("Request was throttled. Expected available in {retry_after} seconds.")]
    Throttled {
        /// Whole seconds until the client may try again (at least 1).
        retry_after: u64,
    },
}

impl AuthError {
    /// A stable, machine-readable code for this error, part of the API (it never
    /// changes for an error, whatever the wording of its detail):
    ///
    /// | code | error | status |
    /// | --- | --- | --- |
    /// | `not_authenticated` | [`AuthError::NotProvided`] | 401 |
    /// | `no_credentials` | [`AuthError::NoCredentials`] | 401 |
    /// | `credential_contains_spaces` | [`AuthError::CredentialContainsSpaces`] | 401 |
    /// | `credential_invalid_characters` | [`AuthError::CredentialInvalidCharacters`] | 401 |
    /// | `conflicting_headers` | [`AuthError::ConflictingHeaders`] | 400 |
    /// | `invalid_token` | [`AuthError::InvalidToken`] | 401 |
    /// | `token_expired` | [`AuthError::TokenExpired`] | 401 |
    /// | `user_inactive` | [`AuthError::UserInactive`] | 401 |
    /// | `insufficient_scope` | [`AuthError::InsufficientScope`] | 403 |
    /// | `throttled` | [`AuthError::Throttled`] | 429 |
    /// | `unavailable` | [`AuthError::Unavailable`] | 503 |
    ///
    /// ```
    /// use authtoken::AuthError;
    ///
    /// assert_eq!(AuthError::TokenExpired.code(), "token_expired");
    /// ```
    pub fn code(&self) -> &'static str {
        Self::CODES[self.code_index()]
    }

    /// Every code of [`Self::code`], in the table's order.
    pub(crate) const CODES: [&'static str; 11] = [
        "not_authenticated",
        "no_credentials",
        "credential_contains_spaces",
        "credential_invalid_characters",
        "conflicting_headers",
        "invalid_token",
        "token_expired",
        "user_inactive",
        "insufficient_scope",
        "throttled",
        "unavailable",
    ];

    /// Where this error's code is in [`Self::CODES`].
    pub(crate) fn code_index(&self) -> usize {
        match self {
            Self::NotProvided => 0,
            Self::NoCredentials => 1,
            Self::CredentialContainsSpaces => 2,
            Self::CredentialInvalidCharacters => 3,
            Self::ConflictingHeaders => 4,
            Self::InvalidToken => 5,
            Self::TokenExpired => 6,
            Self::UserInactive => 7,
            Self::InsufficientScope { .. } => 8,
            Self::Throttled { .. } => 9,
            Self::Unavailable(_) => 10,
        }
    }

    /// The scope a route required, for [`AuthError::InsufficientScope`] (what an
    /// application's own 403 body may name).
    pub fn required_scope(&self) -> Option<&str> {
        match self {
            Self::InsufficientScope { required } => Some(required),
            _ => None,
        }
    }

    /// The detail as a client reads it: [`Self::detail`], with the wait added for
    /// [`AuthError::Throttled`] (`Request was throttled. Expected available in 5
    /// seconds.`), as in the default body.
    pub fn message(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Throttled { retry_after } => {
                let unit = if *retry_after == 1 {
                    "second"
                } else {
                    "seconds"
                };
                std::borrow::Cow::Owned(format!(
                    "{} Expected available in {retry_after} {unit}.",
                    self.detail()
                ))
            }
            _ => std::borrow::Cow::Borrowed(self.detail()),
        }
    }

    /// The HTTP status code: 401, 403, 400 for conflicting headers, 429 when
    /// throttled, 503 when unavailable.
    pub fn status(&self) -> u16 {
        match self {
            Self::ConflictingHeaders => 400,
            Self::InsufficientScope { .. } => 403,
            Self::Throttled { .. } => 429,
            Self::Unavailable(_) => 503,
            _ => 401,
        }
    }

    /// The DRF-worded message, as sent in the JSON body's `detail` (where
    /// [`AuthError::Throttled`] adds the wait: see [`Self::json_body`]).
    pub fn detail(&self) -> &'static str {
        match self {
            Self::NotProvided => detail::NOT_PROVIDED,
            Self::NoCredentials => detail::NO_CREDENTIALS,
            Self::CredentialContainsSpaces => detail::CONTAINS_SPACES,
            Self::CredentialInvalidCharacters => detail::INVALID_CHARACTERS,
            Self::ConflictingHeaders => detail::CONFLICTING_HEADERS,
            Self::InvalidToken => detail::INVALID_TOKEN,
            Self::TokenExpired => detail::TOKEN_EXPIRED,
            Self::UserInactive => detail::USER_INACTIVE,
            Self::InsufficientScope { .. } => detail::INSUFFICIENT_SCOPE,
            Self::Unavailable(_) => detail::UNAVAILABLE,
            Self::Throttled { .. } => detail::THROTTLED,
        }
    }

    /// The JSON body as a `&'static str`, for every error whose body is fixed: all
    /// but [`AuthError::Throttled`], whose detail names the wait.
    pub fn static_json_body(&self) -> Option<&'static str> {
        Some(match self {
            Self::NotProvided => body::NOT_PROVIDED,
            Self::NoCredentials => body::NO_CREDENTIALS,
            Self::CredentialContainsSpaces => body::CONTAINS_SPACES,
            Self::CredentialInvalidCharacters => body::INVALID_CHARACTERS,
            Self::ConflictingHeaders => body::CONFLICTING_HEADERS,
            Self::InvalidToken => body::INVALID_TOKEN,
            Self::TokenExpired => body::TOKEN_EXPIRED,
            Self::UserInactive => body::USER_INACTIVE,
            Self::InsufficientScope { .. } => body::INSUFFICIENT_SCOPE,
            Self::Unavailable(_) => body::UNAVAILABLE,
            Self::Throttled { .. } => return None,
        })
    }

    /// The JSON body: `{"detail":"..."}`. A throttled request's detail says when to
    /// come back, as DRF's does: `Request was throttled. Expected available in 5
    /// seconds.`
    pub fn json_body(&self) -> String {
        if let Some(body) = self.static_json_body() {
            return body.to_owned();
        }
        self.build_json_body()
    }

    /// [`Self::json_body`] as shared bytes: a static body for every error but
    /// [`AuthError::Throttled`], so that answering costs no allocation.
    pub fn json_body_bytes(&self) -> Bytes {
        match self.static_json_body() {
            Some(body) => Bytes::from_static(body.as_bytes()),
            None => Bytes::from(self.build_json_body()),
        }
    }

    /// Writes the JSON body out, escaping the detail.
    fn build_json_body(&self) -> String {
        let message = self.message();
        let mut body = String::with_capacity(message.len() + 16);
        body.push_str("{\"detail\":");
        push_json_string(&mut body, &message);
        body.push('}');
        body
    }

    /// Seconds for the `Retry-After` header, for a throttled request.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` value for this error under `challenge`, or `None` when
    /// the response carries none (every 401 carries one).
    pub fn www_authenticate(&self, challenge: &Challenge) -> Option<String> {
        self.www_authenticate_bytes(challenge)
            .map(|value| String::from_utf8_lossy(&value).into_owned())
    }

    /// [`Self::www_authenticate`] as bytes (visible ASCII and spaces, a valid header
    /// value): the challenge wrote it out once when it was made, so this copies a
    /// pointer for every error but [`AuthError::InsufficientScope`], whose value
    /// names the scope.
    pub fn www_authenticate_bytes(&self, challenge: &Challenge) -> Option<Bytes> {
        challenge.value_for(self)
    }

    /// Where the `WWW-Authenticate` value of this error sits among a challenge's
    /// precomputed ones, for an error whose value depends on the challenge alone.
    pub(super) fn fixed_challenge_index(&self) -> Option<usize> {
        Some(match self {
            Self::NotProvided => 0,
            Self::NoCredentials => 1,
            Self::CredentialContainsSpaces => 2,
            Self::CredentialInvalidCharacters => 3,
            Self::ConflictingHeaders => 4,
            Self::InvalidToken => 5,
            Self::TokenExpired => 6,
            Self::UserInactive => 7,
            Self::InsufficientScope { .. } | Self::Unavailable(_) | Self::Throttled { .. } => {
                return None;
            }
        })
    }

    /// Everything a response needs, for `challenge`: the body is the application's
    /// when the challenge carries an error body
    /// ([`AuthenticatorBuilder::error_body`](crate::AuthenticatorBuilder::error_body)),
    /// DRF's otherwise. With DRF's, for every error but
    /// [`AuthError::InsufficientScope`] and [`AuthError::Throttled`] it allocates
    /// nothing: the body is static and the challenge's value written out already.
    pub fn response(&self, challenge: &Challenge) -> ErrorResponse {
        ErrorResponse {
            status: self.status(),
            www_authenticate: self.www_authenticate_bytes(challenge),
            retry_after: self.retry_after(),
            body: challenge.body(self),
        }
    }
}

/// The parts of an error response, ready for an adapter to copy into its framework's
/// response type: status, optional `WWW-Authenticate` value, and a JSON body (send it
/// with [`ErrorResponse::CONTENT_TYPE`]).
///
/// The header value and the body are shared [`Bytes`], so that an adapter builds its
/// response without copying them (`HeaderValue::from_maybe_shared`, a `Bytes` body).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `WWW-Authenticate` header value, if the response carries one: visible
    /// ASCII and spaces, always a valid header value.
    pub www_authenticate: Option<Bytes>,
    /// The `Retry-After` header value in seconds, for a throttled request (429).
    pub retry_after: Option<u64>,
    /// The JSON body (UTF-8).
    pub body: Bytes,
}

impl ErrorResponse {
    /// The content type of [`ErrorResponse::body`].
    pub const CONTENT_TYPE: &'static str = "application/json";
}

pub(crate) fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Why a token could not be issued or rotated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The user id is empty, longer than 255 bytes, or holds control characters.
    #[error("the user id must be 1 to 255 bytes long, without control characters")]
    InvalidUserId,
    /// The name is longer than 255 characters or holds control characters.
    #[error("the token name must be at most 255 characters, without control characters")]
    InvalidName,
    /// A scope is not 1 to 64 characters of `[A-Za-z0-9_.:/-]`, or there are more than 64.
    #[error(
        "invalid scope {0:?}: scopes are 1 to 64 characters of [A-Za-z0-9_.:/-], at most 64 of them"
    )]
    InvalidScope(String),
    /// A lifetime or grace period is longer than [`crate::MAX_LIFETIME`] (100 years),
    /// or would end past the calendar's end.
    #[error("a token lifetime or grace period must be at most 100 years")]
    InvalidLifetime,
    /// The user already holds as many live tokens as the configured limit allows.
    #[error("the user already has {limit} active tokens, the most allowed")]
    LimitReached {
        /// The configured per-user limit.
        limit: u32,
    },
    /// The token to rotate does not exist.
    #[error("no token with that id")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests;
