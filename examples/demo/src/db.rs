//! The demo's one pool, on SQLite, PostgreSQL or MySQL/MariaDB, chosen by the
//! `DATABASE_URL` scheme.

use std::time::Duration;

use authtoken_sqlx::{PoolConfig, SqlxStore};
use sqlx::{MySqlPool, PgPool, SqlitePool};

use crate::SetupError;

// The MySQL `users.username` column holds 150 characters (migrations/mysql).
const _: () = assert!(crate::MAX_USERNAME_CHARS <= 150);

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
    /// MySQL 8 or MariaDB 10.6 and later: `mysql://user@host/db` or
    /// `mariadb://user@host/db`; any number of processes share it (a revocation
    /// reaches another process's cache within the authenticator's cache ttl).
    Mysql(MySqlPool),
}

/// Runs `$body` once per backend, with `$pool` bound to that backend's pool, so that
/// one query text serves every backend while each is type-checked on its own.
///
/// With `$sql = $query`, `$sql` is bound to the query as the backend reads it: the
/// query is written once with `$1`, `$2` placeholders (SQLite and PostgreSQL read
/// them), and MySQL gets it with each written `?` ([`mysql!`], at compile time).
macro_rules! on_pool {
    ($demo_pool:expr, $pool:ident => $body:expr) => {
        match $demo_pool {
            $crate::db::DemoPool::Sqlite($pool) => $body,
            $crate::db::DemoPool::Postgres($pool) => $body,
            $crate::db::DemoPool::Mysql($pool) => $body,
        }
    };
    ($demo_pool:expr, $pool:ident, $sql:ident = $query:expr => $body:expr) => {
        match $demo_pool {
            $crate::db::DemoPool::Sqlite($pool) => {
                let $sql: &'static str = $query;
                $body
            }
            $crate::db::DemoPool::Postgres($pool) => {
                let $sql: &'static str = $query;
                $body
            }
            $crate::db::DemoPool::Mysql($pool) => {
                let $sql: &'static str = $crate::db::mysql!($query);
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// A query written with `$1`, `$2` placeholders as MySQL reads it, each written `?`,
/// made at compile time. MySQL binds by position, so the placeholders must appear in
/// order, each once (`$1`, then `$2`, ...): anything else does not compile.
macro_rules! mysql {
    ($sql:expr) => {{
        const SQL: &str = $sql;
        const LEN: usize = $crate::db::question_marks_len(SQL);
        const BYTES: [u8; LEN] = $crate::db::question_marks::<LEN>(SQL);
        const MYSQL: &str = match ::core::str::from_utf8(&BYTES) {
            Ok(sql) => sql,
            Err(_) => panic!("a query is not UTF-8"),
        };
        MYSQL
    }};
}
pub(crate) use mysql;

/// The length of `sql` with each `$n` written as `?`.
pub(crate) const fn question_marks_len(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let (mut at, mut len) = (0, 0);
    while at < bytes.len() {
        let (placeholder, _) = placeholder_at(bytes, at);
        at += if placeholder == 0 { 1 } else { placeholder };
        len += 1;
    }
    len
}

/// `sql` with each `$n` written as `?`, in `N` bytes ([`question_marks_len`]).
///
/// # Panics
///
/// When the placeholders are not `$1`, `$2`, ... in order, each once (at compile
/// time, through [`mysql!`]).
pub(crate) const fn question_marks<const N: usize>(sql: &str) -> [u8; N] {
    let bytes = sql.as_bytes();
    let mut out = [0u8; N];
    let (mut at, mut len, mut next) = (0, 0, 1);
    while at < bytes.len() {
        let (placeholder, number) = placeholder_at(bytes, at);
        if placeholder == 0 {
            out[len] = bytes[at];
            at += 1;
        } else {
            assert!(
                number == next,
                "MySQL binds by position: write the placeholders $1, $2, ... in order, each once"
            );
            next += 1;
            out[len] = b'?';
            at += placeholder;
        }
        len += 1;
    }
    out
}

/// The length and number of the `$n` placeholder starting at `at`; length 0 when none
/// starts there (`$` before anything but a digit, as in a JSON path `'$[*]'`).
const fn placeholder_at(bytes: &[u8], at: usize) -> (usize, usize) {
    if bytes[at] != b'$' {
        return (0, 0);
    }
    let (mut end, mut number) = (at + 1, 0);
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        number = number * 10 + (bytes[end] - b'0') as usize;
        end += 1;
    }
    if end == at + 1 {
        (0, 0)
    } else {
        (end - at, number)
    }
}

impl DemoPool {
    /// The URL schemes the demo opens.
    pub const SCHEMES: &'static [&'static str] =
        &["sqlite:", "postgres:", "postgresql:", "mysql:", "mariadb:"];

    /// Opens the database at `url`: a pool, not yet migrated.
    ///
    /// # Errors
    ///
    /// [`SetupError::UnsupportedUrl`] for another scheme, [`SetupError::Database`]
    /// when the database cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, SetupError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        if !matches!(
            scheme,
            "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb"
        ) {
            return Err(SetupError::UnsupportedUrl(scheme.to_owned()));
        }
        if scheme == "sqlite" {
            create_private_sqlite_file(url)?;
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
        match (store.sqlite_pool(), store.pg_pool(), store.mysql_pool()) {
            (Some(pool), _, _) => Ok(Self::Sqlite(pool.clone())),
            (_, Some(pool), _) => Ok(Self::Postgres(pool.clone())),
            (_, _, Some(pool)) => Ok(Self::Mysql(pool.clone())),
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
            Self::Mysql(pool) => sqlx::migrate!("./migrations/mysql").run(pool).await,
        }
    }

    /// The token store on this same pool.
    pub fn token_store(&self) -> SqlxStore {
        match self {
            Self::Sqlite(pool) => SqlxStore::from_sqlite_pool(pool.clone()),
            Self::Postgres(pool) => SqlxStore::from_pg_pool(pool.clone()),
            Self::Mysql(pool) => SqlxStore::from_mysql_pool(pool.clone()),
        }
    }

    /// The SQLite pool, when the demo runs on SQLite.
    pub fn sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Self::Sqlite(pool) => Some(pool),
            Self::Postgres(_) | Self::Mysql(_) => None,
        }
    }

    /// The PostgreSQL pool, when the demo runs on PostgreSQL.
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Self::Postgres(pool) => Some(pool),
            Self::Sqlite(_) | Self::Mysql(_) => None,
        }
    }

    /// The MySQL or MariaDB pool, when the demo runs on one.
    pub fn mysql(&self) -> Option<&MySqlPool> {
        match self {
            Self::Mysql(pool) => Some(pool),
            Self::Sqlite(_) | Self::Postgres(_) => None,
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// Creates the SQLite database file that `url` asks to be created (`mode=rwc`) when it
/// does not exist yet, empty and readable and writable by its owner only (0600 on
/// Unix), so that nobody else on the machine reads the password hashes and token
/// digests in it. SQLite then gives its `-wal` and `-shm` files the same mode. An
/// existing file, and its mode, are left alone; an in-memory database has no file.
/// A URL that SQLite cannot read is left for the connection to refuse.
#[cfg(unix)]
fn create_private_sqlite_file(url: &str) -> Result<(), SetupError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::str::FromStr;

    let Ok(options) = sqlx::sqlite::SqliteConnectOptions::from_str(url) else {
        return Ok(());
    };
    let modes: Vec<_> = url
        .split_once('?')
        .map(|(_, query)| {
            form_urlencoded::parse(query.as_bytes())
                .filter(|(key, _)| key == "mode")
                .map(|(_, value)| value.into_owned())
                .collect()
        })
        .unwrap_or_default();
    let creates =
        modes.iter().any(|mode| mode == "rwc") && !modes.iter().any(|mode| mode == "memory");
    let path = options.get_filename();
    if !creates || url.contains(":memory:") || path.as_os_str().is_empty() {
        return Ok(());
    }
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(SetupError::CreateFile {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Elsewhere SQLite creates the file with the platform's default permissions.
#[cfg(not(unix))]
fn create_private_sqlite_file(_url: &str) -> Result<(), SetupError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_mysql_queries() {
        assert_eq!(
            mysql!("SELECT a FROM t WHERE b = $1 AND c = '$' AND d = $2"),
            "SELECT a FROM t WHERE b = ? AND c = '$' AND d = ?"
        );
        assert_eq!(
            mysql!("SELECT d FROM JSON_TABLE($1, '$[*]' COLUMNS (d CHAR(64) PATH '$')) AS j"),
            "SELECT d FROM JSON_TABLE(?, '$[*]' COLUMNS (d CHAR(64) PATH '$')) AS j"
        );
        assert_eq!(mysql!("SELECT 1"), "SELECT 1");
    }

    #[test]
    #[should_panic(expected = "in order")]
    fn placeholders_out_of_order_are_refused() {
        const SQL: &str = "UPDATE t SET a = $2 WHERE b = $1";
        let _ = question_marks::<{ question_marks_len(SQL) }>(SQL);
    }

    #[tokio::test]
    async fn other_schemes_are_refused_by_name() {
        for url in ["demo.db", "http://example.com", "mssql://sa@localhost/demo"] {
            let error = DemoPool::connect(url).await.expect_err(url);
            assert!(
                matches!(error, SetupError::UnsupportedUrl(_)),
                "{url}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("postgres:"), "{message}");
            assert!(message.contains("mysql:"), "{message}");
        }
    }

    /// The mode bits of `path`, or `None` when there is no such file.
    #[cfg(unix)]
    fn mode(path: &std::path::Path) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|metadata| metadata.permissions().mode() & 0o777)
    }

    /// A database file the demo creates is its owner's only, and so are SQLite's
    /// `-wal` and `-shm` files next to it.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_sqlite_file_is_private() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("demo.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = DemoPool::connect(&url).await.expect("SQLite");
        pool.migrate().await.expect("migrations");
        pool.token_store()
            .migrate()
            .await
            .expect("store migrations");
        assert_eq!(mode(&path), Some(0o600), "{}", path.display());
        for suffix in ["-wal", "-shm"] {
            let side = dir.path().join(format!("demo.db{suffix}"));
            assert_eq!(mode(&side), Some(0o600), "{}", side.display());
        }
        pool.close().await;
    }

    /// An existing database file keeps the mode its owner gave it.
    #[cfg(unix)]
    #[tokio::test]
    async fn an_existing_sqlite_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("demo.db");
        std::fs::write(&path, b"").expect("an empty database");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = DemoPool::connect(&url).await.expect("SQLite");
        pool.migrate().await.expect("migrations");
        assert_eq!(mode(&path), Some(0o640));
        pool.close().await;
    }

    /// Without `mode=rwc` nothing is created, and a missing file is an error.
    #[tokio::test]
    async fn a_missing_file_is_created_only_when_asked() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("demo.db");
        let error = DemoPool::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect_err("no such file");
        assert!(matches!(error, SetupError::Database(_)), "{error:?}");
        assert!(!path.exists());
        let missing_dir = dir.path().join("nowhere").join("demo.db");
        let error = DemoPool::connect(&format!("sqlite://{}?mode=rwc", missing_dir.display()))
            .await
            .expect_err("no such directory");
        assert!(error.to_string().contains("nowhere"), "{error}");
    }

    #[tokio::test]
    async fn sqlite_urls_open_sqlite() {
        let pool = DemoPool::connect("sqlite::memory:").await.expect("SQLite");
        assert!(pool.sqlite().is_some() && pool.postgres().is_none());
        pool.close().await;
    }
}
