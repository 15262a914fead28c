#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[cfg(not(feature = "sqlite"))]
compile_error!("authtoken-sqlx needs a database: enable the `sqlite` feature (the default)");

use std::time::Duration;

use authtoken::{
    InsertOutcome, NewToken, TokenDigest, TokenId, TokenInfo, TokenRecord, TokenStore,
};
use time::OffsetDateTime;

#[cfg(feature = "sqlite")]
mod sqlite;

/// The table that records this crate's migrations, apart from the application's own
/// `_sqlx_migrations`.
pub const MIGRATIONS_TABLE: &str = "_authtoken_migrations";

/// The table that holds the tokens.
pub const TOKENS_TABLE: &str = "authtoken_tokens";

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed or could not be reached.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names a database this build does not support.
    #[error("unsupported database URL {0:?}: expected sqlite:")]
    UnsupportedUrl(String),
    /// A row could not be read back (a digest of the wrong length, a time out of range).
    #[error("corrupt token row {id}: {reason}")]
    CorruptRow {
        /// The row's id.
        id: i64,
        /// What was wrong.
        reason: &'static str,
    },
}

/// The connection pool of one backend.
#[derive(Debug, Clone)]
enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// A [`TokenStore`] on sqlx.
///
/// Cheap to clone (the pool is shared). Build it from a URL with
/// [`SqlxStore::connect`], or from the application's own pool, then apply the
/// migrations once with [`SqlxStore::migrate`].
#[derive(Debug, Clone)]
pub struct SqlxStore {
    backend: Backend,
}

/// How long a request waits for a pooled connection before the store reports itself
/// unavailable.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl SqlxStore {
    /// Connects to the database a URL names: `sqlite://path?mode=rwc` (a file, created
    /// when missing) or `sqlite::memory:`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`] for another scheme; [`Error::Database`] when the
    /// database cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            #[cfg(feature = "sqlite")]
            "sqlite" => Ok(Self::from_sqlite_pool(sqlite::connect(url).await?)),
            _ => Err(Error::UnsupportedUrl(url.to_owned())),
        }
    }

    /// Uses an application's SQLite pool (so tokens and users can share one database).
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn from_sqlite_pool(pool: sqlx::SqlitePool) -> Self {
        Self {
            backend: Backend::Sqlite(pool),
        }
    }

    /// The SQLite pool, when this store is on SQLite.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.backend {
            Backend::Sqlite(pool) => Some(pool),
        }
    }

    /// Creates or updates the token tables. Safe to call at every start-up and from
    /// several processes; recorded in [`MIGRATIONS_TABLE`], never in the
    /// application's own migrations table.
    ///
    /// # Errors
    ///
    /// [`Error::Migrate`] when a migration fails or the recorded ones differ from
    /// this crate's.
    pub async fn migrate(&self) -> Result<(), Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => {
                let mut migrator = sqlx::migrate!("./migrations/sqlite");
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run(pool).await?;
            }
        }
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => pool.close().await,
        }
    }
}

/// Unix microseconds, the unit the SQLite schema keeps times in.
fn to_micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

fn from_micros(id: i64, micros: i64) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).map_err(|_| {
        Error::CorruptRow {
            id,
            reason: "time out of range",
        }
    })
}

/// Scopes are stored space-separated (the core refuses spaces inside a scope).
fn join_scopes(scopes: &[String]) -> String {
    scopes.join(" ")
}

fn split_scopes(scopes: &str) -> Vec<String> {
    scopes.split_ascii_whitespace().map(str::to_owned).collect()
}

/// A row as every backend reads it, before conversion.
struct Row {
    id: i64,
    digest: Vec<u8>,
    key_version: i64,
    user_id: String,
    name: String,
    scopes: String,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
}

impl Row {
    fn into_record(self) -> Result<TokenRecord, Error> {
        let corrupt = |reason| Error::CorruptRow {
            id: self.id,
            reason,
        };
        let digest = TokenDigest::from_slice(&self.digest)
            .ok_or_else(|| corrupt("digest is not 32 bytes"))?;
        let key_version =
            u32::try_from(self.key_version).map_err(|_| corrupt("negative key version"))?;
        let info = TokenInfo::new(
            TokenId(self.id),
            self.user_id,
            self.name,
            split_scopes(&self.scopes),
            self.created_at,
        )
        .with_expires(self.expires_at)
        .with_last_used(self.last_used_at);
        Ok(TokenRecord::new(info, digest, key_version))
    }
}

impl TokenStore for SqlxStore {
    type Error = Error;

    async fn insert(&self, token: &NewToken, limit: Option<u32>) -> Result<InsertOutcome, Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::insert(pool, token, limit).await,
        }
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::find_by_digest(pool, digest).await,
        }
    }

    async fn get(&self, id: TokenId) -> Result<Option<TokenRecord>, Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::get(pool, id).await,
        }
    }

    async fn revoke(&self, id: TokenId) -> Result<Option<TokenRecord>, Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::revoke(pool, id).await,
        }
    }

    async fn revoke_user(&self, user_id: &str) -> Result<Vec<TokenRecord>, Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::revoke_user(pool, user_id).await,
        }
    }

    async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>, Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::list(pool, user_id).await,
        }
    }

    async fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        expires: Option<OffsetDateTime>,
    ) -> Result<(), Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::touch(pool, id, used_at, expires).await,
        }
    }

    async fn set_expiry(
        &self,
        id: TokenId,
        expires: Option<OffsetDateTime>,
    ) -> Result<bool, Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::set_expiry(pool, id, expires).await,
        }
    }

    async fn replace_digest(
        &self,
        id: TokenId,
        digest: &TokenDigest,
        key_version: u32,
    ) -> Result<(), Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::replace_digest(pool, id, digest, key_version).await,
        }
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, Error> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::purge_expired(pool, now).await,
        }
    }
}
