//! A running Django site's own tables, read in place: Django REST Framework's
//! `authtoken_token` as a [`LegacyKeyStore`], and `auth_user` as a [`UserLoader`].
//!
//! A Rust service beside a Django site then accepts the tokens the site issues (DRF's
//! 40-hex keys), with no import and no table of ours in Django's database: no
//! migration runs there, and the only statements that write to it are the deletes
//! that revoke a key. The schema read is the one Django's migrations create
//! (checked against Django 5.2.19 and DRF 3.18.3 on all three databases).

use std::str::FromStr;
use std::sync::Arc;

use authtoken::{LegacyKey, LegacyKeyStore, UserLoader};
use time::OffsetDateTime;

use crate::{Error, PoolConfig, Scheme};

/// The table Django keeps its users in, with the default user model.
pub const DJANGO_USER_TABLE: &str = "auth_user";

/// The table Django REST Framework keeps its tokens in.
pub const DRF_TOKEN_TABLE: &str = "authtoken_token";

/// A Django user, as [`DjangoDatabase`] loads it from the user table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DjangoUser {
    /// `id`: the primary key, which DRF's token rows name.
    pub id: i64,
    /// `username`.
    pub username: String,
    /// `is_active`: an inactive user's tokens are refused, as DRF refuses them.
    pub is_active: bool,
}

/// The pool of the Django database.
#[derive(Debug, Clone)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

/// The statements, written once for the backend and the user table.
#[derive(Debug)]
struct Queries {
    find_key: Arc<str>,
    delete_key: Arc<str>,
    delete_user_keys: Arc<str>,
    load_user: Arc<str>,
}

impl Queries {
    fn new(pool: &Pool, user_table: &str) -> Self {
        // `?` placeholders on SQLite and MySQL, `$1` on PostgreSQL; the integer ids
        // are read as 64 bits whatever the column's width.
        let (param, key, bigint) = match pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => ("?", "\"key\"", "BIGINT"),
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => ("$1", "\"key\"", "BIGINT"),
            #[cfg(feature = "mysql")]
            Pool::MySql(_) => ("?", "`key`", "SIGNED"),
        };
        Self {
            find_key: format!(
                "SELECT CAST(user_id AS {bigint}) AS user_id, created \
                 FROM {DRF_TOKEN_TABLE} WHERE {key} = {param}"
            )
            .into(),
            delete_key: format!("DELETE FROM {DRF_TOKEN_TABLE} WHERE {key} = {param}").into(),
            delete_user_keys: format!("DELETE FROM {DRF_TOKEN_TABLE} WHERE user_id = {param}")
                .into(),
            load_user: format!(
                "SELECT CAST(id AS {bigint}) AS id, username, is_active \
                 FROM {user_table} WHERE id = {param}"
            )
            .into(),
        }
    }
}

/// A Django database: DRF's keys looked up where Django keeps them, and Django's
/// users loaded from its user table.
///
/// Give it to [`authtoken::AuthenticatorBuilder::legacy_key_store`] as the key store
/// and, for the users, to [`authtoken::Authenticator::builder`] as the loader; the
/// authenticator's own tokens go into an [`crate::SqlxStore`] on a database of the
/// service's own. Cheap to clone (the pool is shared).
///
/// ```no_run
/// use authtoken::Authenticator;
/// use authtoken_sqlx::{DjangoDatabase, DjangoUser, SqlxStore};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let django = DjangoDatabase::connect("postgres://app@db/django").await?;
/// let store = SqlxStore::connect("sqlite://tokens.db?mode=rwc").await?;
/// store.migrate().await?;
/// let auth: Authenticator<DjangoUser> = Authenticator::builder(store, django.clone())
///     .legacy_key_store(django)
///     .legacy_key_scopes(["read", "write"])
///     .build()?;
/// # let _ = auth; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DjangoDatabase {
    pool: Pool,
    queries: Arc<Queries>,
}

/// Why a user table name was refused by [`DjangoDatabase::with_user_table`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid user table name {0:?}: 1 to 63 ASCII letters, digits and underscores, not starting with a digit"
)]
pub struct InvalidTableName(pub String);

impl DjangoDatabase {
    /// Connects to a Django database (the URL's scheme chooses the backend, as for
    /// [`crate::SqlxStore::connect`]). On SQLite the file must exist: it is Django's,
    /// and its journal mode is left as Django set it.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`] for a scheme this build does not support;
    /// [`Error::Database`] when the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, PoolConfig::default()).await
    }

    /// [`Self::connect`] with a pool sized and timed by `config`.
    ///
    /// # Errors
    ///
    /// As [`Self::connect`].
    pub async fn connect_with(url: &str, config: PoolConfig) -> Result<Self, Error> {
        let pool = match Scheme::of(url)? {
            #[cfg(feature = "sqlite")]
            Scheme::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .busy_timeout(std::time::Duration::from_secs(5));
                Pool::Sqlite(config.pool_options().connect_with(options).await?)
            }
            #[cfg(feature = "postgres")]
            Scheme::Postgres => {
                let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
                Pool::Postgres(config.pool_options().connect_with(options).await?)
            }
            #[cfg(feature = "mysql")]
            Scheme::MySql => {
                let options = sqlx::mysql::MySqlConnectOptions::from_str(url)?;
                Pool::MySql(config.pool_options().connect_with(options).await?)
            }
        };
        Ok(Self::from_pool(pool))
    }

    fn from_pool(pool: Pool) -> Self {
        let queries = Arc::new(Queries::new(&pool, DJANGO_USER_TABLE));
        Self { pool, queries }
    }

    /// Uses a pool on Django's SQLite database.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn from_sqlite_pool(pool: sqlx::SqlitePool) -> Self {
        Self::from_pool(Pool::Sqlite(pool))
    }

    /// Uses a pool on Django's PostgreSQL database.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn from_pg_pool(pool: sqlx::PgPool) -> Self {
        Self::from_pool(Pool::Postgres(pool))
    }

    /// Uses a pool on Django's MySQL or MariaDB database.
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    pub fn from_mysql_pool(pool: sqlx::MySqlPool) -> Self {
        Self::from_pool(Pool::MySql(pool))
    }

    /// Loads users from `table` instead of [`DJANGO_USER_TABLE`], for a site with its
    /// own user model (`AUTH_USER_MODEL`); the table needs Django's `id`, `username`
    /// and `is_active` columns.
    ///
    /// # Errors
    ///
    /// [`InvalidTableName`] unless `table` is 1 to 63 ASCII letters, digits and
    /// underscores, not starting with a digit.
    pub fn with_user_table(mut self, table: &str) -> Result<Self, InvalidTableName> {
        if !is_table_name(table) {
            return Err(InvalidTableName(table.to_owned()));
        }
        self.queries = Arc::new(Queries::new(&self.pool, table));
        Ok(self)
    }
}

/// 1 to 63 ASCII letters, digits and underscores, not starting with a digit: a name
/// that needs no quoting on any of the three databases.
fn is_table_name(table: &str) -> bool {
    (1..=63).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !table.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// A Django user id as the database holds it: the canonical decimal spelling of an
/// integer, or nothing (no row can have another).
fn django_id(user_id: &str) -> Option<i64> {
    let id = user_id.parse::<i64>().ok()?;
    (id.to_string() == user_id).then_some(id)
}

/// Binds `$value` to `$query` and runs `$run` on the backend's pool.
macro_rules! on_pool {
    ($db:expr, $query:expr, $value:expr, |$q:ident, $pool:ident| $run:expr) => {
        match &$db.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($pool) => {
                let $q = sqlx::query(sqlx::AssertSqlSafe(Arc::clone($query))).bind($value);
                $run
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres($pool) => {
                let $q = sqlx::query(sqlx::AssertSqlSafe(Arc::clone($query))).bind($value);
                $run
            }
            #[cfg(feature = "mysql")]
            Pool::MySql($pool) => {
                let $q = sqlx::query(sqlx::AssertSqlSafe(Arc::clone($query))).bind($value);
                $run
            }
        }
    };
}

impl LegacyKeyStore for DjangoDatabase {
    type Error = Error;

    async fn find_key(&self, key: &str) -> Result<Option<LegacyKey>, Error> {
        use sqlx::Row as _;
        let query = &self.queries.find_key;
        // Django writes `created` as UTC: a TIMESTAMPTZ on PostgreSQL, a naive
        // DATETIME(6) on MySQL and text on SQLite, both in UTC (`USE_TZ = True`).
        let row: Option<(i64, OffsetDateTime)> = on_pool!(self, query, key, |q, pool| {
            match q.fetch_optional(pool).await? {
                Some(row) => Some((row.try_get("user_id")?, row.created()?)),
                None => None,
            }
        });
        Ok(row.map(|(user_id, created)| LegacyKey::new(user_id.to_string(), created)))
    }

    async fn delete_key(&self, key: &str) -> Result<bool, Error> {
        let query = &self.queries.delete_key;
        let deleted = on_pool!(self, query, key, |q, pool| q
            .execute(pool)
            .await?
            .rows_affected());
        Ok(deleted > 0)
    }

    async fn delete_user_keys(&self, user_id: &str) -> Result<u64, Error> {
        let Some(id) = django_id(user_id) else {
            return Ok(0);
        };
        let query = &self.queries.delete_user_keys;
        Ok(on_pool!(self, query, id, |q, pool| q
            .execute(pool)
            .await?
            .rows_affected()))
    }
}

impl UserLoader for DjangoDatabase {
    type User = DjangoUser;
    type Error = Error;

    async fn load(&self, user_id: &str) -> Result<Option<DjangoUser>, Error> {
        use sqlx::Row as _;
        let Some(id) = django_id(user_id) else {
            return Ok(None);
        };
        let query = &self.queries.load_user;
        on_pool!(self, query, id, |q, pool| {
            match q.fetch_optional(pool).await? {
                Some(row) => Ok(Some(DjangoUser {
                    id: row.try_get("id")?,
                    username: row.try_get("username")?,
                    is_active: row.try_get("is_active")?,
                })),
                None => Ok(None),
            }
        })
    }

    fn is_active(&self, user: &DjangoUser) -> bool {
        user.is_active
    }

    fn user_id(&self, user: &DjangoUser) -> Option<String> {
        Some(user.id.to_string())
    }
}

/// A row's `created`, whichever backend it came from.
trait ReadCreated {
    fn created(&self) -> Result<OffsetDateTime, sqlx::Error>;
}

#[cfg(feature = "sqlite")]
impl ReadCreated for sqlx::sqlite::SqliteRow {
    fn created(&self) -> Result<OffsetDateTime, sqlx::Error> {
        use sqlx::Row as _;
        let text: String = self.try_get("created")?;
        parse_sqlite_datetime(&text).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "created".to_owned(),
            source: format!("not a Django SQLite datetime: {text:?}").into(),
        })
    }
}

#[cfg(feature = "postgres")]
impl ReadCreated for sqlx::postgres::PgRow {
    fn created(&self) -> Result<OffsetDateTime, sqlx::Error> {
        use sqlx::Row as _;
        self.try_get("created")
    }
}

#[cfg(feature = "mysql")]
impl ReadCreated for sqlx::mysql::MySqlRow {
    fn created(&self) -> Result<OffsetDateTime, sqlx::Error> {
        use sqlx::Row as _;
        self.try_get::<time::PrimitiveDateTime, _>("created")
            .map(time::PrimitiveDateTime::assume_utc)
    }
}

/// Django's SQLite datetime text, `2026-12-03 11:47:36.123456` (microseconds left
/// out when zero, an offset such as `+00:00` when the site ran without `USE_TZ`
/// conversion), as UTC.
#[cfg(feature = "sqlite")]
fn parse_sqlite_datetime(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Iso8601;
    let text = text.trim();
    let (naive, offset) = match text.get(19..) {
        Some(rest) => match rest.find(['+', '-']) {
            Some(at) => text.split_at(19 + at),
            None => (text, ""),
        },
        None => (text, ""),
    };
    let iso = naive.replacen(' ', "T", 1);
    let at = time::PrimitiveDateTime::parse(&iso, &Iso8601::DEFAULT).ok()?;
    if offset.is_empty() {
        return Some(at.assume_utc());
    }
    let offset = time::UtcOffset::parse(
        offset,
        time::macros::format_description!("[offset_hour]:[offset_minute]"),
    )
    .ok()?;
    Some(at.assume_offset(offset).to_offset(time::UtcOffset::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "sqlite")]
    #[test]
    fn django_sqlite_datetimes_are_read_as_utc() {
        let at = |text| parse_sqlite_datetime(text).map(|at| at.unix_timestamp_nanos() / 1_000);
        assert_eq!(
            at("2026-12-03 11:47:36.123456"),
            Some(1_796_298_456_123_456)
        );
        assert_eq!(at("2026-12-03 11:47:36"), Some(1_796_298_456_000_000));
        assert_eq!(
            at("2026-12-03 13:47:36.5+02:00"),
            Some(1_796_298_456_500_000)
        );
        assert_eq!(at("2026-12-03"), None);
        assert_eq!(at("yesterday"), None);
        assert_eq!(at(""), None);
    }

    #[test]
    fn only_canonical_integers_are_django_ids() {
        assert_eq!(django_id("42"), Some(42));
        assert_eq!(django_id("042"), None);
        assert_eq!(django_id("+42"), None);
        assert_eq!(django_id("4 2"), None);
        assert_eq!(django_id("alice"), None);
        assert_eq!(django_id("99999999999999999999"), None);
    }

    #[test]
    fn user_table_names_are_identifiers() {
        let name = is_table_name;
        assert!(name("accounts_user"));
        assert!(!name(""));
        assert!(!name("1users"));
        assert!(!name("auth_user; DROP TABLE x"));
        assert!(!name(&"a".repeat(64)));
    }
}
