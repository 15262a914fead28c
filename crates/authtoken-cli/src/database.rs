//! Opening the token database, and what `migrate` did to it.
//!
//! The store's pool retries a refused connection until its acquire timeout (it takes
//! it for a server starting up) and then says only that it timed out; a SQLite file
//! that does not exist fails with SQLite's "unable to open database file". Both get a
//! message that says what is wrong and what to do.

use std::path::PathBuf;
use std::time::Duration;

use authtoken_sqlx::{MIGRATIONS_TABLE, PoolConfig, SqlxStore};

use crate::{Failure, Outcome, describe, redact, supported_schemes};

/// How long the command waits for a database server to answer, and for a connection
/// from its pool: longer than a request would (the library's default is 3 s), as a
/// command runs once and may share the server with busy applications. A server that
/// refuses the connection fails the command at once.
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
    probe_server(url).await.map_err(cannot_open)?;
    let pool = PoolConfig::new().acquire_timeout(CONNECT_TIMEOUT);
    SqlxStore::connect_with(url, pool)
        .await
        .map_err(|error| match error {
            authtoken_sqlx::Error::UnsupportedUrl(_) => Failure::new(format!(
                "unsupported database URL {:?}: expected {}",
                redact(url),
                supported_schemes()
            )),
            other => cannot_open(missing_sqlite_file(url).unwrap_or_else(|| describe(&other))),
        })
}

/// Opens and closes one connection to a database server, to fail at once, with the
/// reason, when the server refuses it or does not answer within [`CONNECT_TIMEOUT`].
/// An error from the server itself (a busy server's "too many connections", a wrong
/// password) is left to the pool, which waits out the first and reports the second.
/// Nothing to do for SQLite.
async fn probe_server(url: &str) -> Result<(), String> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let attempt = async {
        match scheme.as_str() {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => connect_once::<sqlx::PgConnection>(url).await,
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => connect_once::<sqlx::MySqlConnection>(url).await,
            _ => Ok(()),
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        Ok(Err(sqlx::Error::Io(error)))
            if error.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            Err(
                "connection refused (is the server running, and listening at that host and port?)"
                    .to_owned(),
            )
        }
        Ok(Ok(()) | Err(sqlx::Error::Database(_))) => Ok(()),
        Ok(Err(other)) => Err(describe(&other)),
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn connect_once<C: sqlx::Connection>(url: &str) -> Result<(), sqlx::Error> {
    C::connect(url).await?.close().await
}

/// What is missing when a SQLite URL names a file that does not exist, or one in a
/// directory that does not exist, with what to do; `None` when both exist (SQLite's
/// own error says what is wrong) or the URL names no file.
pub fn missing_sqlite_file(url: &str) -> Option<String> {
    // As sqlx reads it: the path up to `?`, percent-decoded, then the parameters.
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mode = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("mode="))
        .next_back();
    if database.is_empty() || database == ":memory:" || mode == Some("memory") {
        return None;
    }
    let path = PathBuf::from(percent_decode(database)?);
    if path.exists() {
        return None;
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        return Some(format!("the directory {} does not exist", dir.display()));
    }
    if mode == Some("rwc") {
        return None;
    }
    let create = if mode.is_some() {
        let pairs: Vec<&str> = query
            .split('&')
            .map(|pair| {
                if pair.starts_with("mode=") {
                    "mode=rwc"
                } else {
                    pair
                }
            })
            .collect();
        let base = &url[..url.len() - query.len()];
        format!("{base}{}", pairs.join("&"))
    } else if query.is_empty() {
        format!("{}?mode=rwc", url.trim_end_matches('?'))
    } else {
        format!("{url}&mode=rwc")
    };
    Some(format!(
        "the file {} does not exist (to create it, add mode=rwc: {create})",
        path.display()
    ))
}

/// `text` with its `%XX` escapes decoded; `None` when that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// How many migrations the token database records as applied: 0 before the first
/// `migrate`, when their table does not exist yet.
pub async fn applied_migrations(store: &SqlxStore) -> Outcome<u64> {
    let sql = format!("SELECT COUNT(*) FROM {MIGRATIONS_TABLE}");
    let count = async {
        #[cfg(feature = "sqlite")]
        if let Some(pool) = store.sqlite_pool() {
            return sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await;
        }
        #[cfg(feature = "postgres")]
        if let Some(pool) = store.pg_pool() {
            return sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await;
        }
        #[cfg(feature = "mysql")]
        if let Some(pool) = store.mysql_pool() {
            return sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await;
        }
        Ok(0)
    };
    match count.await {
        Ok(count) => Ok(u64::try_from(count).unwrap_or_default()),
        // The database answered, and the table is not there yet.
        Err(sqlx::Error::Database(_)) => Ok(0),
        Err(error) => Err(Failure::new(describe(&error))),
    }
}

/// What `migrate` says it did, from the migrations recorded before and after it.
pub fn migrated(before: u64, after: u64) -> String {
    let applied = after.saturating_sub(before);
    if applied == 0 {
        "The token tables are up to date.".to_owned()
    } else if before == 0 {
        format!(
            "Created the token tables ({} applied).",
            crate::report::count(applied, "migration")
        )
    } else {
        format!("Applied {}.", crate::report::count(applied, "migration"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_sqlite_file_is_named_with_the_fix() {
        let dir = std::env::temp_dir().join("authtoken-cli-no-such-dir-7f3a");
        let file = dir.join("tokens.db");
        let missing = format!("sqlite://{}", file.display());
        assert_eq!(
            missing_sqlite_file(&missing),
            Some(format!("the directory {} does not exist", dir.display()))
        );
        assert_eq!(
            missing_sqlite_file("sqlite://no-such-file-7f3a.db").as_deref(),
            Some(
                "the file no-such-file-7f3a.db does not exist (to create it, add mode=rwc: \
                 sqlite://no-such-file-7f3a.db?mode=rwc)"
            )
        );
        assert_eq!(
            missing_sqlite_file("sqlite:no-such-file-7f3a.db?cache=shared&mode=rw").as_deref(),
            Some(
                "the file no-such-file-7f3a.db does not exist (to create it, add mode=rwc: \
                 sqlite:no-such-file-7f3a.db?cache=shared&mode=rwc)"
            )
        );
        assert!(
            missing_sqlite_file("sqlite://no%20such-7f3a.db")
                .is_some_and(|text| text.starts_with("the file no such-7f3a.db does not exist"))
        );
        assert_eq!(
            missing_sqlite_file("sqlite://no-such-7f3a.db?mode=rwc"),
            None
        );
        assert_eq!(missing_sqlite_file("sqlite::memory:"), None);
        assert_eq!(missing_sqlite_file("sqlite://?mode=memory"), None);
        assert_eq!(missing_sqlite_file("postgres://db/x"), None);
    }

    #[test]
    fn migrate_says_what_it_did() {
        assert_eq!(
            migrated(0, 3),
            "Created the token tables (3 migrations applied)."
        );
        assert_eq!(migrated(2, 3), "Applied 1 migration.");
        assert_eq!(migrated(3, 3), "The token tables are up to date.");
    }
}
