//! The `users` table and the [`UserLoader`] that reads it.

use std::borrow::Cow;

use authtoken::{JoinedLookup, TokenDigest, TokenWithUser, UserLoader};
use authtoken_sqlx::{digests_json, read_token, token_columns};
use unicode_normalization::UnicodeNormalization;

use crate::db::{DemoPool, mysql, on_pool};

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

    /// The username, exactly as registered (in Unicode NFC).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Whether the user may log in and authenticate.
    pub fn is_active(&self) -> bool {
        self.active
    }
}

/// The row id a token's user id names, when it is written exactly as the demo writes
/// it (`i64::to_string` of a positive id): decimal digits, no sign, no leading zero,
/// no whitespace. Any other spelling (`"01"`, `"+1"`, `" 1"`, `"1abc"`, `"1.9"`) names
/// nobody, so that every token a user can use carries the one id that `logout-all`
/// and account deletion revoke.
///
/// ```
/// use authtoken_demo::parse_user_id;
///
/// assert_eq!(parse_user_id("42"), Some(42));
/// assert_eq!(parse_user_id("9223372036854775807"), Some(i64::MAX));
/// for other in ["042", "+42", " 42", "42 ", "42abc", "42.0", "0", "-42", "", "99999999999999999999"] {
///     assert_eq!(parse_user_id(other), None, "{other:?}");
/// }
/// ```
pub fn parse_user_id(user_id: &str) -> Option<i64> {
    let bytes = user_id.as_bytes();
    let canonical =
        matches!(bytes.first(), Some(b'1'..=b'9')) && bytes.iter().all(u8::is_ascii_digit);
    // Digits only, so `parse` fails only past `i64::MAX`.
    canonical.then(|| user_id.parse().ok()).flatten()
}

/// `username` in Unicode Normalization Form C, the form usernames are stored, compared
/// and sent back in: a composed `é` (U+00E9) and `e` followed by U+0301 are one name.
/// Borrowed when it already is (most names).
pub(crate) fn nfc(username: &str) -> Cow<'_, str> {
    if unicode_normalization::is_nfc(username) {
        Cow::Borrowed(username)
    } else {
        Cow::Owned(username.nfc().collect())
    }
}

/// Loads [`DemoUser`]s for the authenticator, from the pool the tokens share.
#[derive(Debug, Clone)]
pub struct DemoUsers {
    pool: DemoPool,
}

impl DemoUsers {
    /// Reads users from `pool` (the demo's migrations must have run).
    pub fn new(pool: DemoPool) -> Self {
        Self { pool }
    }
}

impl UserLoader for DemoUsers {
    type User = DemoUser;
    type Error = sqlx::Error;

    async fn load(&self, user_id: &str) -> Result<Option<DemoUser>, sqlx::Error> {
        let Some(id) = parse_user_id(user_id) else {
            return Ok(None);
        };
        let row: Option<(i64, String, bool)> = on_pool!(
            &self.pool, pool, sql = "SELECT id, username, is_active FROM users WHERE id = $1" => {
            sqlx::query_as(sql)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id, username, active)| DemoUser {
            id,
            username,
            active,
        }))
    }

    fn is_active(&self, user: &DemoUser) -> bool {
        user.active
    }

    /// The row id, written as every token of the user holds it.
    fn user_id(&self, user: &DemoUser) -> Option<String> {
        Some(user.id.to_string())
    }
}

/// Tokens and their users in one query (the authenticator's joined lookup), for any
/// number of digests, bound as a JSON array of hex strings. As in [`parse_user_id`],
/// only the canonical spelling of a positive row id names a user; any other names
/// nobody (the join finds no user). The cast finds the row by its primary key; the
/// text comparison is what refuses `01`, `+1`, ` 1`, `1abc` and `1.9`, which SQLite
/// casts to 1.
const FIND_WITH_USER_SQLITE: &str = concat!(
    "SELECT ",
    token_columns!(),
    ", users.id AS user_row_id, users.username, users.is_active FROM authtoken_tokens \
     LEFT JOIN users ON users.id = CAST(authtoken_tokens.user_id AS INTEGER) \
         AND CAST(users.id AS TEXT) = authtoken_tokens.user_id AND users.id > 0 \
     WHERE authtoken_tokens.digest IN (SELECT unhex(value) FROM json_each($1))"
);
/// As [`FIND_WITH_USER_SQLITE`], the digests bound as a `BYTEA[]`. PostgreSQL refuses
/// to cast text that is not a number, so the cast is guarded: only 1 to 19 digits
/// without a leading zero, at most `i64::MAX` (compared as text, which orders digit
/// strings of one length as numbers), reach it.
const FIND_WITH_USER_POSTGRES: &str = concat!(
    "SELECT ",
    token_columns!(),
    ", users.id AS user_row_id, users.username, users.is_active FROM authtoken_tokens \
     LEFT JOIN users ON users.id = CASE \
             WHEN authtoken_tokens.user_id ~ '^[1-9][0-9]{0,18}$' \
                 AND (length(authtoken_tokens.user_id) < 19 \
                     OR authtoken_tokens.user_id <= '9223372036854775807' COLLATE \"C\") \
             THEN CAST(authtoken_tokens.user_id AS BIGINT) END \
         AND CAST(users.id AS TEXT) = authtoken_tokens.user_id \
     WHERE authtoken_tokens.digest = ANY($1)"
);
/// As [`FIND_WITH_USER_SQLITE`], on MySQL and MariaDB, the digests bound as a JSON
/// array of hex strings. Text that is not a number casts to 0 or is cut short (with a
/// warning, not an error); the byte comparison with the id written back refuses it.
const FIND_WITH_USER_MYSQL: &str = concat!(
    "SELECT ",
    token_columns!(),
    ", users.id AS user_row_id, users.username, users.is_active FROM authtoken_tokens \
     LEFT JOIN users ON users.id = CAST(authtoken_tokens.user_id AS SIGNED) \
         AND CAST(users.id AS BINARY) = authtoken_tokens.user_id \
     WHERE authtoken_tokens.digest IN (SELECT UNHEX(d) FROM \
         JSON_TABLE(?, '$[*]' COLUMNS (d CHAR(64) PATH '$')) AS digests)"
);

impl JoinedLookup for DemoUsers {
    type User = DemoUser;
    type Error = authtoken_sqlx::Error;

    async fn find_with_users(
        &self,
        digests: &[TokenDigest],
    ) -> Result<Vec<TokenWithUser<DemoUser>>, Self::Error> {
        let rows = match &self.pool {
            DemoPool::Sqlite(pool) => {
                let rows = sqlx::query(FIND_WITH_USER_SQLITE)
                    .bind(digests_json(digests))
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(read_joined).collect::<Result<_, _>>()?
            }
            DemoPool::Postgres(pool) => {
                let digests: Vec<&[u8]> = digests.iter().map(|d| d.as_bytes().as_slice()).collect();
                let rows = sqlx::query(FIND_WITH_USER_POSTGRES)
                    .bind(digests)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(read_joined).collect::<Result<_, _>>()?
            }
            DemoPool::Mysql(pool) => {
                let rows = sqlx::query(FIND_WITH_USER_MYSQL)
                    .bind(digests_json(digests))
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(read_joined).collect::<Result<_, _>>()?
            }
        };
        Ok(rows)
    }
}

/// A token and its user (`None` where the join found none) from a joined row.
fn read_joined<R>(row: &R) -> Result<TokenWithUser<DemoUser>, authtoken_sqlx::Error>
where
    R: sqlx::Row + authtoken_sqlx::TokenRow,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    let token = read_token(row)?;
    let id: Option<i64> = row.try_get("user_row_id")?;
    let username: Option<String> = row.try_get("username")?;
    let active: Option<bool> = row.try_get("is_active")?;
    let user = match (id, username, active) {
        (Some(id), Some(username), Some(active)) => Some(DemoUser {
            id,
            username,
            active,
        }),
        _ => None,
    };
    Ok((token, user))
}

/// A user row with its password hash, for login.
pub(crate) struct StoredUser {
    pub(crate) user: DemoUser,
    pub(crate) password_hash: String,
}

/// The user named `username`, compared in NFC (as [`insert`] stores it) and
/// otherwise exactly: case, spaces and all.
pub(crate) async fn find_by_username(
    pool: &DemoPool,
    username: &str,
) -> Result<Option<StoredUser>, sqlx::Error> {
    let username = nfc(username);
    let row: Option<(i64, String, bool, String)> = on_pool!(
        pool, pool,
        sql = "SELECT id, username, is_active, password_hash FROM users WHERE username = $1" => {
        sqlx::query_as(sql)
        .bind(username.as_ref())
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(|(id, username, active, password_hash)| StoredUser {
        user: DemoUser {
            id,
            username,
            active,
        },
        password_hash,
    }))
}

/// The user with the lowest id, if any.
pub(crate) async fn first(pool: &DemoPool) -> Result<Option<DemoUser>, sqlx::Error> {
    let row: Option<(i64, String, bool)> = on_pool!(pool, pool => {
        sqlx::query_as("SELECT id, username, is_active FROM users ORDER BY id LIMIT 1")
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(id, username, active)| DemoUser {
        id,
        username,
        active,
    }))
}

/// The insert of a user, binding username and password hash.
macro_rules! insert_user {
    () => {
        "INSERT INTO users (username, password_hash) VALUES ($1, $2)"
    };
}

/// Inserts a user under the NFC of `username`; `Ok(None)` when the username is taken
/// (the unique index decides, on every backend, so two concurrent registrations of
/// one name cannot both win).
pub(crate) async fn insert(
    pool: &DemoPool,
    username: &str,
    password_hash: &str,
) -> Result<Option<DemoUser>, sqlx::Error> {
    let username = nfc(username);
    let inserted: Result<i64, sqlx::Error> = match pool {
        DemoPool::Sqlite(pool) => {
            sqlx::query_scalar(concat!(insert_user!(), " RETURNING id"))
                .bind(username.as_ref())
                .bind(password_hash)
                .fetch_one(pool)
                .await
        }
        DemoPool::Postgres(pool) => {
            sqlx::query_scalar(concat!(insert_user!(), " RETURNING id"))
                .bind(username.as_ref())
                .bind(password_hash)
                .fetch_one(pool)
                .await
        }
        // MySQL has no `RETURNING`: the id is the statement's last insert id.
        DemoPool::Mysql(pool) => sqlx::query(mysql!(insert_user!()))
            .bind(username.as_ref())
            .bind(password_hash)
            .execute(pool)
            .await
            .and_then(|done| {
                i64::try_from(done.last_insert_id())
                    .map_err(|error| sqlx::Error::Decode(Box::new(error)))
            }),
    };
    match inserted {
        Ok(id) => Ok(Some(DemoUser {
            id,
            username: username.into_owned(),
            active: true,
        })),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Deletes a user; `false` when there was none.
pub(crate) async fn delete(pool: &DemoPool, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = on_pool!(pool, pool, sql = "DELETE FROM users WHERE id = $1" => {
        sqlx::query(sql)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(deleted > 0)
}
