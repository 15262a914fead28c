//! Opening the token database.

use std::time::Duration;

use authtoken_sqlx::{PoolConfig, SqlxStore};

use crate::{Failure, Outcome, describe, redact, supported_schemes};

/// How long the command waits for a connection from its pool: longer than a request
/// would (the library's default is 3 s), as a command runs once and may share the
/// server with busy applications.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The message when neither `--database-url` nor `DATABASE_URL` names the database.
pub const NO_DATABASE: &str = "no token database: set DATABASE_URL or pass --database-url";

/// Connects to the token database `url` names.
pub async fn open_store(url: Option<&str>) -> Outcome<SqlxStore> {
    let url = url
        .filter(|url| !url.trim().is_empty())
        .ok_or_else(|| Failure::new(NO_DATABASE))?;
    let cannot_open = |reason: String| {
        Failure::new(format!(
            "cannot open the token database {}: {reason}",
            redact(url)
        ))
    };
    let pool = PoolConfig::new().acquire_timeout(CONNECT_TIMEOUT);
    SqlxStore::connect_with(url, pool)
        .await
        .map_err(|error| match error {
            authtoken_sqlx::Error::UnsupportedUrl(_) => Failure::new(format!(
                "unsupported database URL {:?}: expected {}",
                redact(url),
                supported_schemes()
            )),
            other => cannot_open(describe(&other)),
        })
}
