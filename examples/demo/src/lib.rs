#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod bench;
mod config;
mod credentials;
mod db;
mod error;
pub mod page;
mod password;
mod quickstart;
mod registration;
mod shutdown;
mod users;

use std::sync::{Arc, OnceLock};

use authtoken::endpoints::{TokenBody, TokenEndpoints};
use authtoken::{Authenticator, Identity};
use authtoken_sqlx::RevocationListener;

pub use bench::{BASELINE_PATH, BENCH_ME_PATH, BenchSwitches};
pub use config::{Config, ConfigError};
pub use credentials::{DemoCredentials, SCOPES, policy};
pub use db::DemoPool;
pub use error::{DemoError, FieldErrors};
pub use quickstart::quickstart;
pub use registration::{MAX_PASSWORD_BYTES, MAX_USERNAME_CHARS};
pub use shutdown::shutdown_signal;
pub use users::{DemoUser, DemoUsers, parse_user_id};

/// The demo application's state: one pool (SQLite, PostgreSQL or MySQL) shared by the users
/// table and the token store, and the authenticator over both. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Demo {
    pool: DemoPool,
    auth: Authenticator<DemoUser>,
    endpoints: TokenEndpoints<DemoUser>,
    switches: BenchSwitches,
    /// The benchmark baseline's own pool, with [`BenchSwitches::baseline`].
    baseline_pool: Option<DemoPool>,
    /// The user [`BENCH_ME_PATH`] answers for, fixed by its first request, with
    /// [`BenchSwitches::baseline`].
    bench_user: Option<Arc<OnceLock<DemoUser>>>,
    /// On PostgreSQL: evicts tokens revoked by other processes from this one's cache.
    /// Stops when the last clone of the demo is dropped or the pool is closed.
    listener: Option<Arc<RevocationListener>>,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// `DATABASE_URL` names a database the demo does not open. Holds the URL's
    /// scheme only (a URL may carry a password).
    #[error(
        "unsupported database URL scheme {0:?}: the demo opens {supported}",
        supported = DemoPool::SCHEMES.join(", ")
    )]
    UnsupportedUrl(String),
    /// The SQLite database file could not be created.
    #[error("cannot create the database file {}: {source}", .path.display())]
    CreateFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Database(#[from] sqlx::Error),
    /// The demo's own migrations failed.
    #[error("the users migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The token store's migrations failed.
    #[error("the token store failed: {0}")]
    Store(#[from] authtoken_sqlx::Error),
    /// The authenticator's settings were refused.
    #[error("the authenticator settings were refused: {0}")]
    Auth(#[from] authtoken::ConfigError),
    /// The token endpoints' policy was refused.
    #[error("the token policy was refused: {0}")]
    Policy(#[from] authtoken::endpoints::PolicyError),
}

impl Demo {
    /// Opens the database at `database_url` (SQLite: `sqlite://file.db?mode=rwc` or
    /// `sqlite::memory:`; PostgreSQL: `postgres://user:password@host/db`; MySQL or
    /// MariaDB: `mysql://user:password@host/db` or `mariadb://...`), runs the
    /// demo's migrations (in `_sqlx_migrations`) and the token store's (in
    /// `_authtoken_migrations`), and builds the authenticator. On PostgreSQL it also
    /// listens for revocations made by other processes on the same database, so that a
    /// token revoked on one node stops working on every node at once; on SQLite the
    /// authenticator's cache ttl bounds how long another process may still accept it
    /// (as on MySQL). A SQLite file that does not exist yet is created readable and
    /// writable by its owner only.
    ///
    /// # Errors
    ///
    /// [`SetupError`] when the database cannot be opened or migrated.
    pub async fn connect(database_url: &str) -> Result<Self, SetupError> {
        Self::connect_with(database_url, BenchSwitches::default()).await
    }

    /// As [`Demo::connect`], with the load benchmark's switches (the examples' binaries
    /// pass [`BenchSwitches::from_env`]; the defaults are the demo as documented).
    ///
    /// # Errors
    ///
    /// As [`Demo::connect`].
    pub async fn connect_with(
        database_url: &str,
        switches: BenchSwitches,
    ) -> Result<Self, SetupError> {
        Self::open(database_url, switches, None).await
    }

    /// As [`Demo::connect_with`], for the database of `config` and with its
    /// invalid-token limit (what the examples' binaries run with: a client that keeps
    /// sending invalid tokens is answered 429 with `Retry-After`).
    ///
    /// # Errors
    ///
    /// As [`Demo::connect`].
    pub async fn from_config(config: &Config, switches: BenchSwitches) -> Result<Self, SetupError> {
        Self::open(&config.database_url, switches, config.invalid_token_limit).await
    }

    async fn open(
        database_url: &str,
        switches: BenchSwitches,
        invalid_token_limit: Option<authtoken::InvalidTokenLimit>,
    ) -> Result<Self, SetupError> {
        let pool = DemoPool::connect(database_url).await?;
        pool.migrate().await?;
        let store = pool.token_store();
        store.migrate().await?;
        let users = DemoUsers::new(pool.clone());
        let mut builder = Authenticator::builder(store.clone(), users.clone())
            .joined_lookup(users)
            .realm("authtoken-demo");
        if let DemoPool::Sqlite(_) = pool {
            // SQLite runs in this process and its queries compete for the same cores:
            // one lookup at a time, with every request that misses the cache meanwhile
            // in the next one, beats queries side by side.
            builder = builder.max_concurrent_lookups(1);
        }
        if !switches.cache {
            builder = builder.cache_capacity(0);
        }
        let auth = builder.invalid_token_limiter(invalid_token_limit).build()?;
        let listener = store
            .spawn_revocation_listener(auth.clone())
            .await?
            .map(Arc::new);
        let baseline_pool = if switches.baseline {
            bench::baseline_pool(database_url).await?
        } else {
            None
        };
        let bench_user = switches.baseline.then(Arc::default);
        let credentials = DemoCredentials::new(pool.clone());
        let endpoints = TokenEndpoints::new(auth.clone(), credentials, policy())?;
        Ok(Self {
            pool,
            auth,
            endpoints,
            switches,
            baseline_pool,
            bench_user,
            listener,
        })
    }

    /// The authenticator, for the framework's auth layer or middleware.
    pub fn authenticator(&self) -> &Authenticator<DemoUser> {
        &self.auth
    }

    /// The token endpoints (`POST /api/token`, logout, logout-all, `/api/tokens`),
    /// checking passwords against the `users` table.
    pub fn endpoints(&self) -> &TokenEndpoints<DemoUser> {
        &self.endpoints
    }

    /// The pool shared by users and tokens.
    pub fn pool(&self) -> &DemoPool {
        &self.pool
    }

    /// Whether revocations made by other processes reach this one's cache at once: on
    /// PostgreSQL, while the listener runs.
    pub fn listens_for_revocations(&self) -> bool {
        self.listener
            .as_ref()
            .is_some_and(|listener| listener.is_running())
    }

    /// True when the benchmark-only [`BASELINE_PATH`] and [`BENCH_ME_PATH`] are to be
    /// served.
    pub fn serves_baseline(&self) -> bool {
        self.switches.baseline
    }

    /// `GET` [`BASELINE_PATH`] (benchmark only): the hand-written one-query check of
    /// the `Authorization` header: the username of the token's active user (200
    /// `{"username"}`), or `None` (401).
    ///
    /// # Errors
    ///
    /// 503 when the database fails.
    pub async fn baseline(
        &self,
        authorization: Option<&[u8]>,
    ) -> Result<Option<String>, DemoError> {
        bench::baseline(
            self.baseline_pool.as_ref().unwrap_or(&self.pool),
            authorization,
        )
        .await
    }

    /// The user [`BENCH_ME_PATH`] (benchmark only) answers for, as `GET /api/me`
    /// answers for the user of a token: the first registered user, read once and kept.
    /// `None` while there is no user, or without [`BenchSwitches::baseline`].
    ///
    /// # Errors
    ///
    /// 503 when the database fails.
    pub async fn bench_user(&self) -> Result<Option<DemoUser>, DemoError> {
        let Some(fixed) = &self.bench_user else {
            return Ok(None);
        };
        if let Some(user) = fixed.get() {
            return Ok(Some(user.clone()));
        }
        match users::first(&self.pool).await {
            Ok(Some(user)) => Ok(Some(fixed.get_or_init(|| user).clone())),
            Ok(None) => Ok(None),
            Err(error) => Err(DemoError::unavailable(error)),
        }
    }

    /// `POST /api/register`: creates a user and returns a login token for it (as
    /// `POST /api/token` would), for a 201 `{"token"}`. The username is kept in
    /// Unicode NFC.
    ///
    /// # Errors
    ///
    /// 400 for blank or too long fields, 409 when the username is taken (also when
    /// another registration of it wins a race), 503 when the database fails, or with
    /// `Retry-After` when too many passwords wait to be hashed.
    pub async fn register(&self, username: &str, password: &str) -> Result<TokenBody, DemoError> {
        let username = registration::check(username, password)?;
        let hash = password::hash(password.to_owned()).await?;
        let user = users::insert(&self.pool, &username, &hash)
            .await
            .map_err(DemoError::unavailable)?
            .ok_or(DemoError::UsernameTaken)?;
        match self
            .endpoints
            .issue_login_token(&user.id().to_string())
            .await
        {
            Ok(token) => Ok(token),
            Err(error) => {
                // No half-registered user: without a token the name is free again.
                if let Err(cleanup) = users::delete(&self.pool, user.id()).await {
                    tracing::error!(error = %cleanup, "could not remove a user after a failed registration");
                }
                Err(DemoError::unavailable(error))
            }
        }
    }

    /// `DELETE /api/me`: deletes the user and revokes its tokens (everywhere, as
    /// logout-all does). The username can be registered again, by a new user with a
    /// new id.
    ///
    /// # Errors
    ///
    /// 503 when the database fails.
    pub async fn delete_account(&self, identity: &Identity<DemoUser>) -> Result<(), DemoError> {
        users::delete(&self.pool, identity.user().id())
            .await
            .map_err(DemoError::unavailable)?;
        // Without the user its tokens already fail ("User inactive or deleted."); revoke
        // them too, so that nothing of the account is left behind.
        self.auth
            .revoke_all_of(identity)
            .await
            .map_err(DemoError::unavailable)?;
        Ok(())
    }

    /// Waits for pending last-used writes, then closes the pool.
    pub async fn close(&self) {
        self.auth.flush().await;
        self.pool.close().await;
        if let Some(pool) = &self.baseline_pool {
            pool.close().await;
        }
    }
}
