#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "authtoken-sqlx needs a database: enable at least one of the features `sqlite` (the \
     default), `postgres` or `mysql`"
);

use std::time::Duration;

use authtoken::{
    Authenticator, InsertOutcome, NewToken, Slide, TokenDigest, TokenId, TokenInfo, TokenRecord,
    TokenStore,
};
use time::OffsetDateTime;

/// The columns every query of the store returns, in [`Row`]'s order, as a literal so
/// that queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, digest, key_version, user_id, name, hint, scopes, created_at, expires_at, \
         expiry_limit, last_used_at"
    };
}

mod django;
mod joined;
mod listener;
#[macro_use]
mod sql;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use django::{
    DJANGO_USER_TABLE, DRF_TOKEN_TABLE, DjangoDatabase, DjangoUser, InvalidTableName,
};
pub use joined::{TOKEN_COLUMNS, TokenRow, digests_json, read_token};
pub use listener::RevocationListener;

/// The sqlx this crate is built on, for the application's own pools and queries:
/// `authtoken_sqlx::sqlx::SqlitePool` (or `PgPool`, `MySqlPool`) is the very type
/// that `SqlxStore::from_sqlite_pool` (or `from_pg_pool`, `from_mysql_pool`) takes,
/// so an application that uses it cannot end up with two `Pool` types from two sqlx
/// versions.
pub use sqlx;

/// The table that records this crate's migrations, apart from the application's own
/// `_sqlx_migrations`.
pub const MIGRATIONS_TABLE: &str = "_authtoken_migrations";

/// The table that holds the tokens.
pub const TOKENS_TABLE: &str = "authtoken_tokens";

/// The PostgreSQL channel on which removed, re-keyed or shortened tokens are announced
/// (payload: the token's digest in hex), and users whose cached tokens every node must
/// drop (payload: [`USER_CHANGE_PREFIX`] and the user id).
pub const REVOCATION_CHANNEL: &str = "authtoken_revoked";

/// What starts a [`REVOCATION_CHANNEL`] payload that names a user, not a token.
pub const USER_CHANGE_PREFIX: &str = "user:";

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
    /// The URL names a database this build does not support. Holds the URL's scheme
    /// only (a URL may carry a password).
    #[error(
        "unsupported database URL scheme {scheme:?}: this build supports {supported}",
        scheme = .0,
        supported = supported_schemes().join(", ")
    )]
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

/// The URL schemes this build connects to, as `scheme:`.
pub fn supported_schemes() -> Vec<&'static str> {
    let mut schemes = Vec::new();
    if cfg!(feature = "sqlite") {
        schemes.push("sqlite:");
    }
    if cfg!(feature = "postgres") {
        schemes.extend(["postgres:", "postgresql:"]);
    }
    if cfg!(feature = "mysql") {
        schemes.extend(["mysql:", "mariadb:"]);
    }
    schemes
}

/// The backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    #[cfg(feature = "sqlite")]
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "mysql")]
    MySql,
}

impl Scheme {
    /// The backend of `url`, by its scheme (any case).
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`] for a scheme this build does not support.
    fn of(url: &str) -> Result<Self, Error> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => Ok(Self::Sqlite),
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Ok(Self::Postgres),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => Ok(Self::MySql),
            _ => Err(Error::UnsupportedUrl(format!("{scheme}:"))),
        }
    }
}

/// The connection pool of one backend.
#[derive(Debug, Clone)]
enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(mysql::MySqlDb),
}

/// Runs one store operation on whichever backend the store is on.
macro_rules! dispatch {
    ($store:expr, $operation:ident($($arg:expr),* $(,)?)) => {
        match &$store.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlite::$operation(pool, $($arg),*).await,
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => postgres::$operation(pool, $($arg),*).await,
            #[cfg(feature = "mysql")]
            Backend::MySql(db) => mysql::$operation(db, $($arg),*).await,
        }
    };
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

/// How [`SqlxStore::connect_with`] sizes its pool and how long it waits for it.
///
/// ```
/// use std::time::Duration;
/// let config = authtoken_sqlx::PoolConfig::new()
///     .max_connections(20)
///     .acquire_timeout(Duration::from_millis(500));
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    max_connections: u32,
    acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

impl PoolConfig {
    /// Ten connections at most, and [`DEFAULT_ACQUIRE_TIMEOUT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The most connections the pool opens (at least 1). A revocation listener on
    /// PostgreSQL holds one of them.
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long an operation waits for a connection (including opening one) before
    /// the store answers with an error, which authentication reports as unavailable
    /// (503). This bounds how long a request can hang on an unreachable database.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    fn pool_options<DB: sqlx::Database>(self) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
    }
}

impl SqlxStore {
    /// Connects to the database a URL names, with the default [`PoolConfig`]:
    ///
    /// - `sqlite://path?mode=rwc` (a file, created when missing) or `sqlite::memory:`
    ///   (feature `sqlite`, the default);
    /// - `postgres://user:password@host:5432/db` or `postgresql://...` (feature
    ///   `postgres`);
    /// - `mysql://user:password@host:3306/db` or `mariadb://...` (feature `mysql`).
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`] for another scheme, or one whose feature is off;
    /// [`Error::Database`] when the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, PoolConfig::default()).await
    }

    /// [`SqlxStore::connect`] with a pool sized and timed by `config`.
    ///
    /// # Errors
    ///
    /// As [`SqlxStore::connect`].
    pub async fn connect_with(url: &str, config: PoolConfig) -> Result<Self, Error> {
        let backend = match Scheme::of(url)? {
            #[cfg(feature = "sqlite")]
            Scheme::Sqlite => Backend::Sqlite(sqlite::connect(url, config).await?),
            #[cfg(feature = "postgres")]
            Scheme::Postgres => Backend::Postgres(postgres::connect(url, config).await?),
            #[cfg(feature = "mysql")]
            Scheme::MySql => {
                Backend::MySql(mysql::MySqlDb::new(mysql::connect(url, config).await?))
            }
        };
        Ok(Self { backend })
    }

    /// Uses an application's SQLite pool (so tokens and users can share one database).
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn from_sqlite_pool(pool: sqlx::SqlitePool) -> Self {
        Self {
            backend: Backend::Sqlite(pool),
        }
    }

    /// Uses an application's PostgreSQL pool. The tables go into the first schema of
    /// the connections' `search_path`.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn from_pg_pool(pool: sqlx::PgPool) -> Self {
        Self {
            backend: Backend::Postgres(pool),
        }
    }

    /// Uses an application's MySQL or MariaDB pool.
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    pub fn from_mysql_pool(pool: sqlx::MySqlPool) -> Self {
        Self {
            backend: Backend::MySql(mysql::MySqlDb::new(pool)),
        }
    }

    /// The SQLite pool, when this store is on SQLite.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    #[allow(unreachable_patterns)]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.backend {
            Backend::Sqlite(pool) => Some(pool),
            _ => None,
        }
    }

    /// The PostgreSQL pool, when this store is on PostgreSQL.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    #[allow(unreachable_patterns)]
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.backend {
            Backend::Postgres(pool) => Some(pool),
            _ => None,
        }
    }

    /// The MySQL or MariaDB pool, when this store is on one.
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    #[allow(unreachable_patterns)]
    pub fn mysql_pool(&self) -> Option<&sqlx::MySqlPool> {
        match &self.backend {
            Backend::MySql(db) => Some(&db.pool),
            _ => None,
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
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => {
                let mut migrator = sqlx::migrate!("./migrations/postgres");
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run(pool).await?;
            }
            #[cfg(feature = "mysql")]
            Backend::MySql(db) => {
                let mut migrator = sqlx::migrate!("./migrations/mysql");
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run(&db.pool).await?;
            }
        }
        Ok(())
    }

    /// Keeps `authenticator`'s cache in step with revocations made anywhere.
    ///
    /// On PostgreSQL: listens on [`REVOCATION_CHANNEL`] (on one connection of this
    /// store's pool) and evicts each announced token from `authenticator`'s cache, so
    /// that a token revoked on one node stops working on every node at once. The
    /// subscription is made before this returns. After a lost connection the
    /// listener reconnects by itself and clears the cache (it may have missed
    /// revocations meanwhile); it stops when the returned handle is dropped or the
    /// pool is closed.
    ///
    /// On SQLite and MySQL there is nothing to listen to: this returns `Ok(None)`, and
    /// another node's revocation reaches this node's cache when the cached entry's ttl
    /// ([`authtoken::AuthenticatorBuilder::cache_ttl`]) runs out.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when PostgreSQL cannot be reached for the subscription.
    pub async fn spawn_revocation_listener<U: Send + Sync + 'static>(
        &self,
        authenticator: Authenticator<U>,
    ) -> Result<Option<RevocationListener>, Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => Ok(Some(
                postgres::spawn_listener(pool.clone(), authenticator).await?,
            )),
            #[allow(unreachable_patterns)]
            _ => {
                let _ = authenticator;
                Ok(None)
            }
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => pool.close().await,
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => pool.close().await,
            #[cfg(feature = "mysql")]
            Backend::MySql(db) => db.pool.close().await,
        }
    }
}

/// Unix microseconds, the unit the SQLite schema keeps times in.
#[cfg(feature = "sqlite")]
fn to_micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

#[cfg(feature = "sqlite")]
fn from_micros(id: i64, micros: i64) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).map_err(|_| {
        Error::CorruptRow {
            id,
            reason: "time out of range",
        }
    })
}

/// True when `error` is the database refusing a duplicate in a unique index.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Scopes are stored space-separated (the core refuses spaces inside a scope).
fn join_scopes(scopes: &[String]) -> String {
    scopes.join(" ")
}

fn split_scopes(scopes: &str) -> Vec<String> {
    scopes.split_ascii_whitespace().map(str::to_owned).collect()
}

/// The names a row's token columns go by.
pub(crate) struct Columns {
    id: &'static str,
    digest: &'static str,
    key_version: &'static str,
    user_id: &'static str,
    name: &'static str,
    hint: &'static str,
    scopes: &'static str,
    created_at: &'static str,
    expires_at: &'static str,
    expiry_limit: &'static str,
    last_used_at: &'static str,
}

impl Columns {
    /// As the store's own queries select them.
    const BARE: Self = Self {
        id: "id",
        digest: "digest",
        key_version: "key_version",
        user_id: "user_id",
        name: "name",
        hint: "hint",
        scopes: "scopes",
        created_at: "created_at",
        expires_at: "expires_at",
        expiry_limit: "expiry_limit",
        last_used_at: "last_used_at",
    };

    /// As [`TOKEN_COLUMNS`] names them.
    const JOINED: Self = Self {
        id: "authtoken_id",
        digest: "authtoken_digest",
        key_version: "authtoken_key_version",
        user_id: "authtoken_user_id",
        name: "authtoken_name",
        hint: "authtoken_hint",
        scopes: "authtoken_scopes",
        created_at: "authtoken_created_at",
        expires_at: "authtoken_expires_at",
        expiry_limit: "authtoken_expiry_limit",
        last_used_at: "authtoken_last_used_at",
    };
}

/// A row as every backend reads it, before conversion.
struct Row {
    id: i64,
    digest: Vec<u8>,
    key_version: i64,
    user_id: String,
    name: String,
    hint: String,
    scopes: String,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    expiry_limit: Option<OffsetDateTime>,
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
        .with_hint(self.hint)
        .with_expires(self.expires_at)
        .with_expiry_limit(self.expiry_limit)
        .with_last_used(self.last_used_at);
        Ok(TokenRecord::new(info, digest, key_version))
    }
}

impl TokenStore for SqlxStore {
    type Error = Error;

    async fn insert(&self, token: &NewToken, limit: Option<u32>) -> Result<InsertOutcome, Error> {
        dispatch!(self, insert(token, limit))
    }

    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        dispatch!(self, find_by_digest(digest))
    }

    async fn get(&self, id: TokenId) -> Result<Option<TokenRecord>, Error> {
        dispatch!(self, get(id))
    }

    async fn revoke(&self, id: TokenId) -> Result<Option<TokenRecord>, Error> {
        dispatch!(self, revoke(id))
    }

    async fn revoke_user(&self, user_id: &str) -> Result<Vec<TokenRecord>, Error> {
        dispatch!(self, revoke_user(user_id))
    }

    async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>, Error> {
        dispatch!(self, list(user_id))
    }

    async fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> Result<bool, Error> {
        dispatch!(self, touch(id, used_at, slide))
    }

    async fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> Result<bool, Error> {
        dispatch!(self, shorten_expiry(id, at))
    }

    async fn announce_user_change(&self, user_id: &str) -> Result<(), Error> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => postgres::announce_user_change(pool, user_id).await,
            #[allow(unreachable_patterns)]
            _ => {
                let _ = user_id;
                Ok(())
            }
        }
    }

    async fn replace_digest(
        &self,
        id: TokenId,
        digest: &TokenDigest,
        key_version: u32,
    ) -> Result<(), Error> {
        dispatch!(self, replace_digest(id, digest, key_version))
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, Error> {
        dispatch!(self, purge_expired(now))
    }
}
