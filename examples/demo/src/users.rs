//! The `users` table and the [`UserLoader`] that reads it.

use authtoken::UserLoader;
use sqlx::{Row as _, SqlitePool};

/// A user of the demo application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    id: i64,
    username: String,
    active: bool,
}

impl DemoUser {
    /// The row id; tokens name the user by it, as text.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The username, exactly as registered.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Whether the user may log in and authenticate.
    pub fn is_active(&self) -> bool {
        self.active
    }
}

/// Loads [`DemoUser`]s for the authenticator, from the pool the tokens share.
#[derive(Debug, Clone)]
pub struct DemoUsers {
    pool: SqlitePool,
}

impl DemoUsers {
    /// Reads users from `pool` (the demo's migrations must have run).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

impl UserLoader for DemoUsers {
    type User = DemoUser;
    type Error = sqlx::Error;

    async fn load(&self, user_id: &str) -> Result<Option<DemoUser>, sqlx::Error> {
        // Ids are written by `Demo` as plain decimal; anything else names nobody.
        let Ok(id) = user_id.parse::<i64>() else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT id, username, is_active FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| read_user(&row)).transpose()
    }

    fn is_active(&self, user: &DemoUser) -> bool {
        user.active
    }
}

fn read_user(row: &sqlx::sqlite::SqliteRow) -> Result<DemoUser, sqlx::Error> {
    Ok(DemoUser {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        active: row.try_get("is_active")?,
    })
}

/// A user row with its password hash, for login.
pub(crate) struct StoredUser {
    pub(crate) user: DemoUser,
    pub(crate) password_hash: String,
}

pub(crate) async fn find_by_username(
    pool: &SqlitePool,
    username: &str,
) -> Result<Option<StoredUser>, sqlx::Error> {
    let row =
        sqlx::query("SELECT id, username, is_active, password_hash FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    row.map(|row| {
        Ok(StoredUser {
            user: read_user(&row)?,
            password_hash: row.try_get("password_hash")?,
        })
    })
    .transpose()
}

/// Inserts a user; `Ok(None)` when the username is taken (the unique index decides,
/// so two concurrent registrations of one name cannot both win).
pub(crate) async fn insert(
    pool: &SqlitePool,
    username: &str,
    password_hash: &str,
) -> Result<Option<DemoUser>, sqlx::Error> {
    let result = sqlx::query("INSERT INTO users (username, password_hash) VALUES (?, ?)")
        .bind(username)
        .bind(password_hash)
        .execute(pool)
        .await;
    match result {
        Ok(done) => Ok(Some(DemoUser {
            id: done.last_insert_rowid(),
            username: username.to_owned(),
            active: true,
        })),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Deletes a user; `false` when there was none.
pub(crate) async fn delete(pool: &SqlitePool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
