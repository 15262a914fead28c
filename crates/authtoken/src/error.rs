//! Every way authentication can fail, with the HTTP status, the DRF-worded detail
//! and the `WWW-Authenticate` challenge each one answers with.
//!
//! Adapters only translate: [`AuthError::response`] gives them status, header and
//! body, ready to copy into their framework's response type.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

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
            Self::NotProvided => "Authentication credentials were not provided.",
            Self::NoCredentials => "Invalid token header. No credentials provided.",
            Self::CredentialContainsSpaces => {
                "Invalid token header. Token string should not contain spaces."
            }
            Self::CredentialInvalidCharacters => {
                "Invalid token header. Token string should not contain invalid characters."
            }
            Self::ConflictingHeaders => {
                "Invalid token header. Multiple different Authorization headers were sent."
            }
            Self::InvalidToken => "Invalid token.",
            Self::TokenExpired => "Token has expired.",
            Self::UserInactive => "User inactive or deleted.",
            Self::InsufficientScope { .. } => "You do not have permission to perform this action.",
            Self::Unavailable(_) => "Authentication service unavailable.",
            Self::Throttled { .. } => "Request was throttled.",
        }
    }

    /// The JSON body: `{"detail":"..."}`. A throttled request's detail says when to
    /// come back, as DRF's does: `Request was throttled. Expected available in 5
    /// seconds.`
    pub fn json_body(&self) -> String {
        let mut body = String::with_capacity(self.detail().len() + 48);
        body.push_str("{\"detail\":");
        match self {
            Self::Throttled { retry_after } => {
                let unit = if *retry_after == 1 {
                    "second"
                } else {
                    "seconds"
                };
                let detail = format!(
                    "{} Expected available in {retry_after} {unit}.",
                    self.detail()
                );
                push_json_string(&mut body, &detail);
            }
            _ => push_json_string(&mut body, self.detail()),
        }
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
        match challenge.style {
            ChallengeStyle::Bearer => {
                let mut value = format!("Bearer realm=\"{}\"", challenge.realm);
                let code = match self {
                    Self::NotProvided => None,
                    Self::ConflictingHeaders => Some("invalid_request"),
                    Self::InsufficientScope { .. } => Some("insufficient_scope"),
                    Self::Unavailable(_) | Self::Throttled { .. } => return None,
                    _ => Some("invalid_token"),
                };
                if let Some(code) = code {
                    value.push_str(", error=\"");
                    value.push_str(code);
                    value.push_str("\", error_description=\"");
                    value.push_str(self.detail());
                    value.push('"');
                }
                if let Self::InsufficientScope { required } = self {
                    value.push_str(", scope=\"");
                    value.push_str(required);
                    value.push('"');
                }
                Some(value)
            }
            ChallengeStyle::Keyword => match self.status() {
                401 => Some(challenge.keyword.to_string()),
                _ => None,
            },
        }
    }

    /// Everything a response needs, for `challenge`.
    pub fn response(&self, challenge: &Challenge) -> ErrorResponse {
        ErrorResponse {
            status: self.status(),
            www_authenticate: self.www_authenticate(challenge),
            retry_after: self.retry_after(),
            body: self.json_body(),
        }
    }
}

/// The parts of an error response, ready for an adapter to copy into its framework's
/// response type: status, optional `WWW-Authenticate` value, and a JSON body (send it
/// with [`ErrorResponse::CONTENT_TYPE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `WWW-Authenticate` header value, if the response carries one.
    pub www_authenticate: Option<String>,
    /// The `Retry-After` header value in seconds, for a throttled request (429).
    pub retry_after: Option<u64>,
    /// The JSON body.
    pub body: String,
}

impl ErrorResponse {
    /// The content type of [`ErrorResponse::body`].
    pub const CONTENT_TYPE: &'static str = "application/json";
}

/// How the `WWW-Authenticate` challenge reads: RFC 6750 when `Bearer` is an accepted
/// keyword, DRF's bare keyword (`Token`) otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    style: ChallengeStyle,
    realm: Arc<str>,
    keyword: Arc<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChallengeStyle {
    Bearer,
    Keyword,
}

impl Challenge {
    /// RFC 6750 challenges in `realm`.
    pub fn bearer(realm: &str) -> Self {
        Self {
            style: ChallengeStyle::Bearer,
            realm: sanitize_quoted(realm).into(),
            keyword: "Bearer".into(),
        }
    }

    /// DRF's challenge: the bare keyword (`Token`).
    pub fn keyword(keyword: &str) -> Self {
        Self {
            style: ChallengeStyle::Keyword,
            realm: "".into(),
            keyword: keyword.into(),
        }
    }

    /// The realm of a Bearer challenge (empty for a keyword challenge).
    pub fn realm(&self) -> &str {
        &self.realm
    }
}

/// Drops the characters that cannot appear inside a quoted-string as written here.
fn sanitize_quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| (' '..='~').contains(c) && !matches!(c, '"' | '\\'))
        .collect()
}

fn push_json_string(out: &mut String, value: &str) {
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
    /// The user id is empty or longer than 255 bytes.
    #[error("the user id must be 1 to 255 bytes long")]
    InvalidUserId,
    /// The name is longer than 255 characters or holds control characters.
    #[error("the token name must be at most 255 characters, without control characters")]
    InvalidName,
    /// A scope is not 1 to 64 characters of `[A-Za-z0-9_.:/-]`, or there are more than 64.
    #[error(
        "invalid scope {0:?}: scopes are 1 to 64 characters of [A-Za-z0-9_.:/-], at most 64 of them"
    )]
    InvalidScope(String),
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
mod tests {
    use super::*;

    fn all_errors() -> Vec<AuthError> {
        vec![
            AuthError::NotProvided,
            AuthError::NoCredentials,
            AuthError::CredentialContainsSpaces,
            AuthError::CredentialInvalidCharacters,
            AuthError::ConflictingHeaders,
            AuthError::InvalidToken,
            AuthError::TokenExpired,
            AuthError::UserInactive,
            AuthError::InsufficientScope {
                required: "write".into(),
            },
            AuthError::Unavailable(StoreError::new(std::io::Error::other("down"))),
        ]
    }

    #[test]
    fn the_error_table() {
        let table = [
            (401, "Authentication credentials were not provided."),
            (401, "Invalid token header. No credentials provided."),
            (
                401,
                "Invalid token header. Token string should not contain spaces.",
            ),
            (
                401,
                "Invalid token header. Token string should not contain invalid characters.",
            ),
            (
                400,
                "Invalid token header. Multiple different Authorization headers were sent.",
            ),
            (401, "Invalid token."),
            (401, "Token has expired."),
            (401, "User inactive or deleted."),
            (403, "You do not have permission to perform this action."),
            (503, "Authentication service unavailable."),
        ];
        for (error, (status, detail)) in all_errors().iter().zip(table) {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.detail(), detail);
            assert_eq!(error.to_string(), detail);
            assert_eq!(error.json_body(), format!("{{\"detail\":\"{detail}\"}}"));
        }
    }

    #[test]
    fn throttled_is_429_with_retry_after_and_no_challenge() {
        let error = AuthError::Throttled { retry_after: 7 };
        for challenge in [Challenge::bearer("api"), Challenge::keyword("Token")] {
            let response = error.response(&challenge);
            assert_eq!(response.status, 429);
            assert_eq!(response.retry_after, Some(7));
            assert_eq!(response.www_authenticate, None);
            assert_eq!(
                response.body,
                "{\"detail\":\"Request was throttled. Expected available in 7 seconds.\"}"
            );
        }
        assert_eq!(
            AuthError::Throttled { retry_after: 1 }.json_body(),
            "{\"detail\":\"Request was throttled. Expected available in 1 second.\"}"
        );
        for other in all_errors() {
            assert_eq!(other.retry_after(), None);
            assert_eq!(other.response(&Challenge::bearer("api")).retry_after, None);
        }
    }

    #[test]
    fn bearer_challenges_follow_rfc_6750() {
        let challenge = Challenge::bearer("api");
        assert_eq!(
            AuthError::NotProvided
                .www_authenticate(&challenge)
                .as_deref(),
            Some("Bearer realm=\"api\"")
        );
        assert_eq!(
            AuthError::InvalidToken
                .www_authenticate(&challenge)
                .as_deref(),
            Some(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Invalid token.\""
            )
        );
        assert_eq!(
            AuthError::InsufficientScope {
                required: "write".into()
            }
            .www_authenticate(&challenge)
            .as_deref(),
            Some(
                "Bearer realm=\"api\", error=\"insufficient_scope\", \
                 error_description=\"You do not have permission to perform this action.\", scope=\"write\""
            )
        );
        let unavailable = AuthError::Unavailable(StoreError::new(std::io::Error::other("x")));
        assert_eq!(unavailable.www_authenticate(&challenge), None);
    }

    #[test]
    fn every_401_carries_a_challenge_in_both_styles() {
        for challenge in [Challenge::bearer("api"), Challenge::keyword("Token")] {
            for error in all_errors() {
                if error.status() == 401 {
                    assert!(error.www_authenticate(&challenge).is_some(), "{error:?}");
                }
            }
        }
    }

    #[test]
    fn keyword_challenges_are_bare() {
        let challenge = Challenge::keyword("Token");
        assert_eq!(
            AuthError::InvalidToken
                .www_authenticate(&challenge)
                .as_deref(),
            Some("Token")
        );
        let scope = AuthError::InsufficientScope {
            required: "x".into(),
        };
        assert_eq!(scope.www_authenticate(&challenge), None);
    }

    #[test]
    fn realms_cannot_break_the_quoting() {
        let challenge = Challenge::bearer("a\"b\\c\nd");
        assert_eq!(challenge.realm(), "abcd");
    }

    #[test]
    fn store_errors_keep_their_source_and_hide_it_from_the_body() {
        let error = AuthError::Unavailable(StoreError::new(std::io::Error::other("secret dsn")));
        assert!(!error.json_body().contains("secret dsn"));
        let store = StdError::source(&error).expect("a source");
        assert!(
            store
                .source()
                .expect("the cause")
                .to_string()
                .contains("secret dsn")
        );
    }
}
