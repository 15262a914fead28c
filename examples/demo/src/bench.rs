//! Switches for the load benchmark (`scripts/load-bench`), read from the environment.
//! Both are off unless set, so that the demo API stays exactly the documented one.
//!
//! - `AUTHTOKEN_CACHE=off` turns the authenticator's token cache off, so that every
//!   authenticated request reaches the database.
//! - `AUTHTOKEN_BENCH_BASELINE=1` adds two routes:
//!   - [`BASELINE_PATH`], served behind the obvious hand-written check (read the
//!     header, one database query per request, on a pool of its own opened with
//!     sqlx's defaults) that the load benchmark compares the library with;
//!   - [`BENCH_ME_PATH`], for the instruction benchmark (`scripts/instr-bench`): what
//!     `GET /api/me` answers for a fixed user ([`Demo::bench_user`](crate::Demo::bench_user)),
//!     built by the same code in each example (status, body and headers), but without
//!     authentication: no header is read, no token checked, no database query made
//!     (after the first request, which fixes the user). The fixed user is the first
//!     registered one (the lowest id; the benchmarks register one user), read once
//!     and kept for the life of the process. Subtracting this route's cost from
//!     `/api/me`'s leaves the cost of authentication alone.

use authtoken::TokenHasher;
use sqlx::Row as _;

use crate::db::{DemoPool, on_pool};
use crate::{DemoError, SetupError};

/// The benchmark-only route, present only with `AUTHTOKEN_BENCH_BASELINE=1`:
/// `GET` answers 200 `{"username"}` for a valid token and 401 otherwise.
pub const BASELINE_PATH: &str = "/api/bench/baseline";

/// The benchmark-only route, present only with `AUTHTOKEN_BENCH_BASELINE=1`: `GET`
/// answers 200 `{"username"}`, exactly as `GET /api/me` answers for the first
/// registered user, whatever `Authorization` header is sent (none is read); 404
/// `{"detail": "Not found."}` while no user is registered.
pub const BENCH_ME_PATH: &str = "/api/bench/me";

/// The benchmark switches; [`BenchSwitches::default`] is the demo as documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchSwitches {
    /// The token cache is on (unless `AUTHTOKEN_CACHE` is `off`, `0` or `false`).
    pub cache: bool,
    /// [`BASELINE_PATH`] and [`BENCH_ME_PATH`] are served (`AUTHTOKEN_BENCH_BASELINE`
    /// is `1`, `on` or `true`).
    pub baseline: bool,
}

impl Default for BenchSwitches {
    fn default() -> Self {
        Self {
            cache: true,
            baseline: false,
        }
    }
}

impl BenchSwitches {
    /// Reads `AUTHTOKEN_CACHE` and `AUTHTOKEN_BENCH_BASELINE`.
    pub fn from_env() -> Self {
        let cache = std::env::var("AUTHTOKEN_CACHE").ok();
        let baseline = std::env::var("AUTHTOKEN_BENCH_BASELINE").ok();
        Self::from_vars(cache.as_deref(), baseline.as_deref())
    }

    /// As [`BenchSwitches::from_env`], from given values.
    pub fn from_vars(cache: Option<&str>, baseline: Option<&str>) -> Self {
        let is = |value: Option<&str>, words: &[&str]| {
            value.is_some_and(|value| {
                words
                    .iter()
                    .any(|word| value.trim().eq_ignore_ascii_case(word))
            })
        };
        Self {
            cache: !is(cache, &["off", "0", "false", "no"]),
            baseline: is(baseline, &["1", "on", "true", "yes"]),
        }
    }
}

/// The baseline's own pool, opened as the obvious hand-written middleware would open
/// it: `connect(url)` with sqlx's defaults (ten connections, a ping before each
/// acquire), on the demo's database. `None` for an in-memory SQLite database, which
/// another pool could not see: the baseline then shares the demo's pool.
pub(crate) async fn baseline_pool(database_url: &str) -> Result<Option<DemoPool>, SetupError> {
    if database_url.contains(":memory:") || database_url.contains("mode=memory") {
        return Ok(None);
    }
    let scheme = database_url
        .split_once(':')
        .map_or("", |(scheme, _)| scheme);
    Ok(Some(match scheme {
        "sqlite" => DemoPool::Sqlite(sqlx::SqlitePool::connect(database_url).await?),
        "postgres" | "postgresql" => DemoPool::Postgres(sqlx::PgPool::connect(database_url).await?),
        "mysql" | "mariadb" => DemoPool::Mysql(sqlx::MySqlPool::connect(database_url).await?),
        _ => return Err(SetupError::UnsupportedUrl(format!("{scheme}:"))),
    }))
}

/// The hand-written baseline: strip `Token ` or `Bearer `, digest the rest, and ask
/// the database for the token's user in one query. No format check, no cache. The
/// username of an active user, or `None` (401).
pub(crate) async fn baseline(
    pool: &DemoPool,
    authorization: Option<&[u8]>,
) -> Result<Option<String>, DemoError> {
    let token = authorization.and_then(|header| {
        header
            .strip_prefix(b"Token ")
            .or_else(|| header.strip_prefix(b"Bearer "))
    });
    let Some(token) = token else {
        return Ok(None);
    };
    let digest = TokenHasher::sha256().digest(token);
    // MySQL has other names for the casts, and `?` for the placeholder.
    let sql = match pool {
        DemoPool::Mysql(_) => {
            "SELECT u.username, u.is_active FROM authtoken_tokens t \
             JOIN users u ON u.id = CAST(t.user_id AS SIGNED) \
                 AND CAST(u.id AS BINARY) = t.user_id WHERE t.digest = ?"
        }
        _ => {
            "SELECT u.username, u.is_active FROM authtoken_tokens t \
             JOIN users u ON u.id = CAST(t.user_id AS BIGINT) \
                 AND CAST(u.id AS TEXT) = t.user_id WHERE t.digest = $1"
        }
    };
    let found: Result<Option<(String, bool)>, sqlx::Error> = on_pool!(pool, pool => {
        sqlx::query(sql)
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(pool)
        .await
        .and_then(|row| {
            row.map(|row| Ok((row.try_get("username")?, row.try_get("is_active")?)))
                .transpose()
        })
    });
    match found {
        Ok(Some((username, true))) => Ok(Some(username)),
        Ok(_) => Ok(None),
        Err(error) => Err(DemoError::unavailable(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default() {
        assert_eq!(
            BenchSwitches::from_vars(None, None),
            BenchSwitches::default()
        );
        assert!(BenchSwitches::default().cache);
        assert!(!BenchSwitches::default().baseline);
    }

    #[test]
    fn read_from_values() {
        let switches = BenchSwitches::from_vars(Some("OFF"), Some("1"));
        assert!(!switches.cache);
        assert!(switches.baseline);
        let switches = BenchSwitches::from_vars(Some("on"), Some("nope"));
        assert!(switches.cache);
        assert!(!switches.baseline);
    }
}
