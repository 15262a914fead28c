//! Argon2id password hashes, computed off the async runtime.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::DemoError;

/// Hashes `password` (Argon2id, default parameters, random salt) into a PHC string.
pub(crate) async fn hash(password: String) -> Result<String, DemoError> {
    run_blocking(move || hash_now(&password)).await?
}

/// Checks `password` against a stored PHC string. With `None` (no such user) a dummy
/// hash is checked instead, so that an unknown username costs as much time as a wrong
/// password and does not reveal itself.
pub(crate) async fn verify(password: String, stored: Option<String>) -> Result<bool, DemoError> {
    run_blocking(move || {
        let (phc, known) = match &stored {
            Some(phc) => (phc.as_str(), true),
            None => (dummy_hash()?, false),
        };
        let parsed = PasswordHash::new(phc).map_err(|error| {
            DemoError::Internal(format!("stored password hash is unreadable: {error}").into())
        })?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

fn hash_now(password: &str) -> Result<String, DemoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| DemoError::Internal(format!("password hashing failed: {error}").into()))
}

fn dummy_hash() -> Result<&'static str, DemoError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_now("a password nobody has")?;
    Ok(DUMMY.get_or_init(|| hash))
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DemoError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| DemoError::Internal(Box::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let phc = hash("correct horse".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(phc.clone()))
                .await
                .expect("verify")
        );
        assert!(!verify("wrong".into(), Some(phc)).await.expect("verify"));
        assert!(!verify("correct horse".into(), None).await.expect("verify"));
    }

    #[tokio::test]
    async fn an_unreadable_hash_is_an_internal_error() {
        let error = verify("pw".into(), Some("not a hash".into()))
            .await
            .expect_err("unreadable");
        assert_eq!(error.status(), 500);
    }
}
