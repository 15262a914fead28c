//! The demo's one pool, on SQLite or PostgreSQL, chosen by the `DATABASE_URL` scheme.

use std::time::Duration;

use authtoken_sqlx::{PoolConfig, SqlxStore};
use sqlx::{PgPool, SqlitePool};

use crate::SetupError;

/// How long a request waits for a pooled connection before the demo answers 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The pool shared by the users table and the token store.
///
/// Each backend runs the demo's own migrations for the `users` table (recorded in the
/// application's usual `_sqlx_migrations` table) next to the token store's (in
/// `_authtoken_migrations`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DemoPool {
    /// SQLite: `sqlite://file.db?mode=rwc` or `sqlite::memory:`; one process.
    Sqlite(SqlitePool),
    /// PostgreSQL: `postgres://user@host/db`; any number of processes share it, and
    /// revocations reach every one of them at once (LISTEN/NOTIFY).
    Postgres(PgPool),
}

/// Runs `$body` once per backend, with `$pool` bound to that backend's pool, so that
/// one query text serves every backend while each is type-checked on its own.
/// Placeholders are written `$1`, `$2`: both SQLite and PostgreSQL read them.
macro_rules! on_pool {
    ($demo_pool:expr, $pool:ident => $body:expr) => {
        match $demo_pool {
            $crate::db::DemoPool::Sqlite($pool) => $body,
            $crate::db::DemoPool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl DemoPool {
    /// The URL schemes the demo opens.
    pub const SCHEMES: &'static [&'static str] = &["sqlite:", "postgres:", "postgresql:"];

    /// Opens the database at `url`: a pool, not yet migrated.
    ///
    /// # Errors
    ///
    /// [`SetupError::UnsupportedUrl`] for another scheme, [`SetupError::Database`]
    /// when the database cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, SetupError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
            return Err(SetupError::UnsupportedUrl(scheme.to_owned()));
        }
        // The token store's own pool settings (on SQLite: WAL, a busy timeout, an
        // in-memory database kept open), shared by the users table.
        let config = PoolConfig::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let store = SqlxStore::connect_with(url, config)
            .await
            .map_err(|error| match error {
                authtoken_sqlx::Error::Database(error) => SetupError::Database(error),
                other => SetupError::Store(other),
            })?;
        match (store.sqlite_pool(), store.pg_pool()) {
            (Some(pool), _) => Ok(Self::Sqlite(pool.clone())),
            (_, Some(pool)) => Ok(Self::Postgres(pool.clone())),
            _ => Err(SetupError::UnsupportedUrl(scheme.to_owned())),
        }
    }

    /// Runs the demo's migrations (the `users` table) for this backend.
    ///
    /// # Errors
    ///
    /// The migration's error.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        }
    }

    /// The token store on this same pool.
    pub fn token_store(&self) -> SqlxStore {
        match self {
            Self::Sqlite(pool) => SqlxStore::from_sqlite_pool(pool.clone()),
            Self::Postgres(pool) => SqlxStore::from_pg_pool(pool.clone()),
        }
    }

    /// The SQLite pool, when the demo runs on SQLite.
    pub fn sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Self::Sqlite(pool) => Some(pool),
            Self::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, when the demo runs on PostgreSQL.
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Self::Postgres(pool) => Some(pool),
            Self::Sqlite(_) => None,
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn other_schemes_are_refused_by_name() {
        for url in [
            "mysql://root@localhost/demo",
            "demo.db",
            "http://example.com",
        ] {
            let error = DemoPool::connect(url).await.expect_err(url);
            assert!(
                matches!(error, SetupError::UnsupportedUrl(_)),
                "{url}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("postgres:"), "{message}");
        }
    }

    #[tokio::test]
    async fn sqlite_urls_open_sqlite() {
        let pool = DemoPool::connect("sqlite::memory:").await.expect("SQLite");
        assert!(pool.sqlite().is_some() && pool.postgres().is_none());
        pool.close().await;
    }
}
