//! The `WWW-Authenticate` challenge an authenticator answers with, the values it
//! writes out once, and the application's error body it carries.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::{AuthError, FIXED_CHALLENGE_ERRORS, FIXED_CHALLENGES};
use crate::metrics::Counters;

/// How the `WWW-Authenticate` challenge reads: RFC 6750 when `Bearer` is an accepted
/// keyword, DRF's bare keyword (`Token`) otherwise.
///
/// It writes out the `WWW-Authenticate` value of every error whose value depends on
/// the challenge alone once, when it is made, so that a rejected request costs no
/// formatting ([`AuthError::www_authenticate_bytes`]).
/// It also carries the application's error body, when it set one
/// ([`AuthenticatorBuilder::error_body`](crate::AuthenticatorBuilder::error_body)), so
/// that every rejection made with it answers in the application's shape.
///
/// Cheap to clone: one shared pointer.
#[derive(Clone)]
pub struct Challenge {
    inner: Arc<ChallengeInner>,
}

/// Writes an authentication error's body in the application's own shape.
pub(crate) type ErrorBodyFn = dyn Fn(&AuthError) -> Bytes + Send + Sync;

#[derive(Clone)]
struct ChallengeInner {
    style: ChallengeStyle,
    realm: Box<str>,
    keyword: Box<str>,
    /// The value of each error with a fixed value, by [`AuthError::fixed_challenge_index`].
    fixed: [Option<Bytes>; FIXED_CHALLENGES],
    /// The application's error body, if it set one.
    error_body: Option<Arc<ErrorBodyFn>>,
    /// The counts of the authenticator that answers with it: what a refusal made
    /// after authentication ([`Identity::require_scope`](crate::Identity::require_scope))
    /// is counted in.
    counters: Option<Arc<Counters>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChallengeStyle {
    Bearer,
    Keyword,
}

impl Challenge {
    /// RFC 6750 challenges in `realm`.
    pub fn bearer(realm: &str) -> Self {
        Self::new(ChallengeStyle::Bearer, &sanitize_quoted(realm), "Bearer")
    }

    /// DRF's challenge: the bare keyword (`Token`).
    pub fn keyword(keyword: &str) -> Self {
        Self::new(ChallengeStyle::Keyword, "", keyword)
    }

    /// The challenge of this style, realm and keyword, with the fixed values written
    /// out.
    fn new(style: ChallengeStyle, realm: &str, keyword: &str) -> Self {
        let mut challenge = ChallengeInner {
            style,
            realm: realm.into(),
            keyword: keyword.into(),
            fixed: Default::default(),
            error_body: None,
            counters: None,
        };
        challenge.fixed =
            FIXED_CHALLENGE_ERRORS.map(|error| challenge.build(&error).map(Bytes::from));
        Self {
            inner: Arc::new(challenge),
        }
    }

    /// The realm of a Bearer challenge (empty for a keyword challenge).
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// This challenge, answering every error with the body `error_body` writes.
    pub(crate) fn with_error_body(self, error_body: Arc<ErrorBodyFn>) -> Self {
        let mut inner = (*self.inner).clone();
        inner.error_body = Some(error_body);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// This challenge, counting the refusals made with it in `counters`.
    pub(crate) fn with_counters(self, counters: Arc<Counters>) -> Self {
        let mut inner = (*self.inner).clone();
        inner.counters = Some(counters);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The `WWW-Authenticate` value of `error`: written out when the challenge was
    /// made, or (for a value that names a scope) now; `None` when it carries none.
    pub(super) fn value_for(&self, error: &AuthError) -> Option<Bytes> {
        match error.fixed_challenge_index() {
            Some(index) => self.inner.fixed[index].clone(),
            None => self.build(error).map(Bytes::from),
        }
    }

    /// Counts a refusal made after authentication, in the counts of the
    /// authenticator this challenge is of.
    pub(crate) fn count_refusal(&self, error: &AuthError) {
        if let Some(counters) = &self.inner.counters {
            counters.refused(error);
        }
    }

    /// The body of `error`: the application's when it set one, DRF's
    /// `{"detail": "..."}` otherwise ([`AuthError::json_body_bytes`]).
    pub fn body(&self, error: &AuthError) -> Bytes {
        match &self.inner.error_body {
            Some(error_body) => error_body(error),
            None => error.json_body_bytes(),
        }
    }

    /// Writes out the `WWW-Authenticate` value of `error`.
    pub(super) fn build(&self, error: &AuthError) -> Option<String> {
        self.inner.build(error)
    }
}

impl ChallengeInner {
    fn build(&self, error: &AuthError) -> Option<String> {
        match self.style {
            ChallengeStyle::Bearer => {
                let mut value = format!("Bearer realm=\"{}\"", self.realm);
                let code = match error {
                    AuthError::NotProvided => None,
                    AuthError::ConflictingHeaders => Some("invalid_request"),
                    AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
                    AuthError::Unavailable(_) | AuthError::Throttled { .. } => return None,
                    _ => Some("invalid_token"),
                };
                if let Some(code) = code {
                    value.push_str(", error=\"");
                    value.push_str(code);
                    value.push_str("\", error_description=\"");
                    value.push_str(error.detail());
                    value.push('"');
                }
                if let AuthError::InsufficientScope { required } = error {
                    value.push_str(", scope=\"");
                    value.push_str(required);
                    value.push('"');
                }
                Some(value)
            }
            ChallengeStyle::Keyword => match error.status() {
                401 => Some(self.keyword.to_string()),
                _ => None,
            },
        }
    }
}

/// Equal when made with the same style, realm and keyword, and the same error body
/// (one hook, or none).
impl PartialEq for Challenge {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&*self.inner, &*other.inner);
        let same_body = match (&a.error_body, &b.error_body) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        a.style == b.style && a.realm == b.realm && a.keyword == b.keyword && same_body
    }
}

impl Eq for Challenge {}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Challenge")
            .field("style", &self.inner.style)
            .field("realm", &self.inner.realm)
            .field("keyword", &self.inner.keyword)
            .field("error_body", &self.inner.error_body.is_some())
            .finish()
    }
}

/// Drops the characters that cannot appear inside a quoted-string as written here.
fn sanitize_quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| (' '..='~').contains(c) && !matches!(c, '"' | '\\'))
        .collect()
}
