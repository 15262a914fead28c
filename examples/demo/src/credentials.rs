//! The demo's side of the token endpoints: how a username and password are checked
//! ([`DemoCredentials`]), and the policy ([`policy`]).

use authtoken::endpoints::{CheckCredentials, TokenPolicy};

use crate::error::DemoError;
use crate::{DemoPool, password, users};

/// The demo's scopes: a login or registration token carries all three.
pub const SCOPES: [&str; 3] = ["read", "write", "tokens"];

/// The token endpoints' policy: [`SCOPES`], `tokens` managing tokens, personal tokens
/// of 60 seconds to 365 days (30 by default).
pub fn policy() -> TokenPolicy {
    TokenPolicy::new(SCOPES)
}

/// Checks a username and password against the `users` table: the user's Argon2id
/// hash on the bounded hashing threads, a dummy hash for an unknown username (so
/// that it costs as much time as a wrong password), and only active users.
#[derive(Debug, Clone)]
pub struct DemoCredentials {
    pool: DemoPool,
}

impl DemoCredentials {
    /// Checks against the users in `pool`.
    pub fn new(pool: DemoPool) -> Self {
        Self { pool }
    }
}

impl CheckCredentials for DemoCredentials {
    type Error = DemoError;

    async fn check(&self, username: &str, password: &str) -> Result<Option<String>, DemoError> {
        let stored = users::find_by_username(&self.pool, username)
            .await
            .map_err(DemoError::unavailable)?;
        let (user, hash) = match stored {
            Some(stored) => (Some(stored.user), Some(stored.password_hash)),
            None => (None, None),
        };
        let verified = password::verify(password.to_owned(), hash).await?;
        Ok(match user {
            Some(user) if verified && user.is_active() => Some(user.id().to_string()),
            _ => None,
        })
    }

    fn retry_after(&self, error: &DemoError) -> Option<u64> {
        error.retry_after()
    }
}
