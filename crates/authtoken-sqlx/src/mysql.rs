//! The MySQL and MariaDB backend: BINARY(32) digests, DATETIME(6) times in UTC, user
//! ids as bytes, and per-user limits under a row lock in `authtoken_user_locks`.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use authtoken::{InsertOutcome, NewToken, Slide, TokenDigest, TokenId, TokenInfo, TokenRecord};
use sqlx::mysql::{MySqlConnectOptions, MySqlRow};
use sqlx::{MySqlConnection, MySqlPool, Row as _};
use time::OffsetDateTime;

use crate::{Columns, Error, PoolConfig, Row, is_unique_violation, join_scopes, sql};

/// The pool, and what was learnt about the server.
#[derive(Debug, Clone)]
pub(crate) struct MySqlDb {
    pub(crate) pool: MySqlPool,
    /// Whether the server runs `DELETE ... RETURNING` (MariaDB does; MySQL does not),
    /// asked once.
    delete_returning: Arc<OnceLock<bool>>,
}

impl MySqlDb {
    pub(crate) fn new(pool: MySqlPool) -> Self {
        Self {
            pool,
            delete_returning: Arc::new(OnceLock::new()),
        }
    }

    async fn delete_returning(&self) -> Result<bool, Error> {
        if let Some(&known) = self.delete_returning.get() {
            return Ok(known);
        }
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&self.pool)
            .await?;
        let supported = supports_delete_returning(&version);
        Ok(*self.delete_returning.get_or_init(|| supported))
    }
}

/// MariaDB has `DELETE ... RETURNING` since 10.0.5; MySQL has none.
fn supports_delete_returning(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    // Older MariaDB servers report themselves as "5.5.5-10.x.y-MariaDB".
    let version = version.strip_prefix("5.5.5-").unwrap_or(version);
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    (major, minor, patch) >= (10, 0, 5)
}

pub(crate) async fn connect(url: &str, config: PoolConfig) -> Result<MySqlPool, Error> {
    let options = MySqlConnectOptions::from_str(url)?;
    Ok(config.pool_options().connect_with(options).await?)
}

fn read_row(row: &MySqlRow) -> Result<TokenRecord, Error> {
    read_columns(row, &Columns::BARE)
}

/// Reads a token from `row`, its columns named by `names`.
pub(crate) fn read_columns(row: &MySqlRow, names: &Columns) -> Result<TokenRecord, Error> {
    let id: i64 = row.try_get(names.id)?;
    let user_id: Vec<u8> = row.try_get(names.user_id)?;
    let user_id = String::from_utf8(user_id).map_err(|_| Error::CorruptRow {
        id,
        reason: "user id is not UTF-8",
    })?;
    Row {
        id,
        digest: row.try_get(names.digest)?,
        key_version: row.try_get(names.key_version)?,
        user_id,
        name: row.try_get(names.name)?,
        hint: row.try_get(names.hint)?,
        scopes: row.try_get(names.scopes)?,
        created_at: row.try_get(names.created_at)?,
        expires_at: row.try_get(names.expires_at)?,
        expiry_limit: row.try_get(names.expiry_limit)?,
        last_used_at: row.try_get(names.last_used_at)?,
    }
    .into_record()
}

async fn get_on(conn: &mut MySqlConnection, id: i64) -> Result<Option<TokenRecord>, Error> {
    let sql = mysql!(sql::GET);
    sqlx::query(sql)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|row| read_row(&row))
        .transpose()
}

pub(crate) async fn insert(
    db: &MySqlDb,
    token: &NewToken,
    limit: Option<u32>,
) -> Result<InsertOutcome, Error> {
    let user_id = token.user_id.as_bytes();
    if limit.is_some() {
        // The user's lock row, made outside the transaction below so that two first
        // issues do not both wait on each other's new row.
        sqlx::query("INSERT IGNORE INTO authtoken_user_locks (user_id) VALUES (?)")
            .bind(user_id)
            .execute(&db.pool)
            .await?;
    }
    let mut tx = db.pool.begin().await?;
    if let Some(limit) = limit {
        // Issues for one user take turns on this row lock until commit. The count
        // below is the transaction's first plain read, so its snapshot is taken after
        // the lock and sees every token the previous holder committed.
        sqlx::query("SELECT user_id FROM authtoken_user_locks WHERE user_id = ? FOR UPDATE")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM authtoken_tokens \
             WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(user_id)
        .bind(token.created)
        .fetch_one(&mut *tx)
        .await?;
        if live >= i64::from(limit) {
            return Ok(InsertOutcome::LimitReached);
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO authtoken_tokens \
             (digest, key_version, user_id, name, scopes, created_at, expires_at, \
              expiry_limit, hint) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(token.digest.as_bytes().as_slice())
    .bind(i64::from(token.key_version))
    .bind(user_id)
    .bind(&token.name)
    .bind(join_scopes(&token.scopes))
    .bind(token.created)
    .bind(token.expires)
    .bind(token.expiry_limit)
    .bind(&token.hint)
    .execute(&mut *tx)
    .await;
    let id = match inserted {
        Ok(result) => i64::try_from(result.last_insert_id()).map_err(|_| Error::CorruptRow {
            id: i64::MAX,
            reason: "id out of range",
        })?,
        Err(error) if is_unique_violation(&error) => return Ok(InsertOutcome::DuplicateDigest),
        Err(error) => return Err(error.into()),
    };
    let record = get_on(&mut tx, id).await?.ok_or(Error::CorruptRow {
        id,
        reason: "inserted row not found",
    })?;
    tx.commit().await?;
    Ok(InsertOutcome::Inserted(record))
}

pub(crate) async fn find_by_digest(
    db: &MySqlDb,
    digest: &TokenDigest,
) -> Result<Option<TokenRecord>, Error> {
    sqlx::query(mysql!(sql::FIND_BY_DIGEST))
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(&db.pool)
        .await?
        .map(|row| read_row(&row))
        .transpose()
}

pub(crate) async fn get(db: &MySqlDb, id: TokenId) -> Result<Option<TokenRecord>, Error> {
    let mut conn = db.pool.acquire().await?;
    get_on(&mut conn, id.0).await
}

/// Which rows a deletion takes, with its bound value.
enum Target<'a> {
    Id(i64),
    User(&'a str),
}

/// Deletes and returns the rows: in one statement where the server has `DELETE ...
/// RETURNING`, else read under a lock and deleted in one transaction.
async fn delete_returning(
    db: &MySqlDb,
    target: &Target<'_>,
    returning: bool,
) -> Result<Vec<TokenRecord>, Error> {
    let (delete, select) = match target {
        Target::Id(_) => (
            mysql!(sql::DELETE_ONE_RETURNING),
            concat!(
                "SELECT ",
                columns!(),
                " FROM authtoken_tokens WHERE id = ? FOR UPDATE"
            ),
        ),
        Target::User(_) => (
            mysql!(sql::DELETE_USER_RETURNING),
            concat!(
                "SELECT ",
                columns!(),
                " FROM authtoken_tokens WHERE user_id = ? FOR UPDATE"
            ),
        ),
    };
    let bind = |query: sqlx::query::Query<'static, sqlx::MySql, _>| match *target {
        Target::Id(id) => query.bind(id),
        Target::User(user_id) => query.bind(user_id.as_bytes().to_vec()),
    };
    if returning {
        return bind(sqlx::query(delete))
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(read_row)
            .collect();
    }
    let mut tx = db.pool.begin().await?;
    let rows = bind(sqlx::query(select)).fetch_all(&mut *tx).await?;
    let records = rows.iter().map(read_row).collect::<Result<Vec<_>, _>>()?;
    if !records.is_empty() {
        let delete = match target {
            Target::Id(_) => "DELETE FROM authtoken_tokens WHERE id = ?",
            Target::User(_) => "DELETE FROM authtoken_tokens WHERE user_id = ?",
        };
        bind(sqlx::query(delete)).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(records)
}

pub(crate) async fn revoke(db: &MySqlDb, id: TokenId) -> Result<Option<TokenRecord>, Error> {
    let returning = db.delete_returning().await?;
    Ok(delete_returning(db, &Target::Id(id.0), returning)
        .await?
        .pop())
}

pub(crate) async fn revoke_user(db: &MySqlDb, user_id: &str) -> Result<Vec<TokenRecord>, Error> {
    let returning = db.delete_returning().await?;
    delete_returning(db, &Target::User(user_id), returning).await
}

pub(crate) async fn list(db: &MySqlDb, user_id: Option<&str>) -> Result<Vec<TokenInfo>, Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM authtoken_tokens WHERE ? IS NULL OR user_id = ? ORDER BY id"
    );
    let user_id = user_id.map(str::as_bytes);
    sqlx::query(sql)
        .bind(user_id)
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|row| read_row(row).map(|record| record.info))
        .collect()
}

pub(crate) async fn touch(
    db: &MySqlDb,
    id: TokenId,
    used_at: OffsetDateTime,
    slide: Option<Slide>,
) -> Result<bool, Error> {
    if let Some(slide) = slide {
        // Compare and set: a row whose expiry moved since it was read (a rotation
        // shortened it) keeps it, and nothing moves past the limit. The connection
        // reports matched rows (CLIENT_FOUND_ROWS), so a match is a slide made.
        let slid = sqlx::query(mysql!(sql::TOUCH_SLIDING))
            .bind(used_at)
            .bind(slide.to)
            .bind(id.0)
            .bind(slide.from)
            .bind(slide.to)
            .execute(&db.pool)
            .await?;
        if slid.rows_affected() > 0 {
            return Ok(true);
        }
    }
    let touched = sqlx::query(mysql!(sql::TOUCH))
        .bind(used_at)
        .bind(id.0)
        .execute(&db.pool)
        .await?;
    Ok(slide.is_none() && touched.rows_affected() > 0)
}

pub(crate) async fn shorten_expiry(
    db: &MySqlDb,
    id: TokenId,
    at: OffsetDateTime,
) -> Result<bool, Error> {
    // The connection reports matched rows (CLIENT_FOUND_ROWS), not changed ones.
    let result = sqlx::query(mysql!(sql::SHORTEN_EXPIRY))
        .bind(at)
        .bind(at)
        .bind(at)
        .bind(at)
        .bind(id.0)
        .execute(&db.pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

pub(crate) async fn replace_digest(
    db: &MySqlDb,
    id: TokenId,
    digest: &TokenDigest,
    key_version: u32,
) -> Result<(), Error> {
    sqlx::query(mysql!(sql::REPLACE_DIGEST))
        .bind(digest.as_bytes().as_slice())
        .bind(i64::from(key_version))
        .bind(id.0)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) async fn purge_expired(db: &MySqlDb, now: OffsetDateTime) -> Result<u64, Error> {
    let result = sqlx::query(mysql!(sql::PURGE_EXPIRED))
        .bind(now)
        .execute(&db.pool)
        .await?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_returning_is_known_by_version() {
        assert!(supports_delete_returning("10.11.19-MariaDB-0+deb12u1"));
        assert!(supports_delete_returning("5.5.5-10.6.12-MariaDB"));
        assert!(!supports_delete_returning("8.0.36"));
        assert!(!supports_delete_returning("10.0.4-MariaDB"));
    }

    /// Both ways of deleting (one statement, or read then delete) return the rows.
    #[tokio::test]
    async fn both_deletions_return_what_they_delete() {
        let Ok(url) = std::env::var("AUTHTOKEN_TEST_MYSQL_URL") else {
            eprintln!("skipping: AUTHTOKEN_TEST_MYSQL_URL is not set");
            return;
        };
        // Temporary tables stay on one connection.
        let pool = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("connect");
        let db = MySqlDb::new(pool);
        let supported = db.delete_returning().await.expect("version");
        sqlx::raw_sql(
            "CREATE TEMPORARY TABLE authtoken_tokens (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                digest BINARY(32) NOT NULL, key_version BIGINT NOT NULL DEFAULT 0,
                user_id VARBINARY(255) NOT NULL,
                name VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
                hint VARCHAR(16) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
                scopes TEXT CHARACTER SET utf8mb4 NOT NULL,
                created_at DATETIME(6) NOT NULL, expires_at DATETIME(6) NULL,
                expiry_limit DATETIME(6) NULL, last_used_at DATETIME(6) NULL)",
        )
        .execute(&db.pool)
        .await
        .expect("create");
        let now = OffsetDateTime::now_utc();
        for (byte, user) in [(1u8, "a"), (2, "a"), (3, "b"), (4, "b")] {
            let token = NewToken::new(
                TokenDigest::from_slice(&[byte; 32]).expect("digest"),
                0,
                user.to_owned(),
                now,
            )
            .with_hint(format!("atk_000{byte}"));
            insert(&db, &token, None).await.expect("insert");
        }
        for returning in [false, supported] {
            let user = if returning { "b" } else { "a" };
            let first = list(&db, Some(user)).await.expect("list")[0].id;
            let one = delete_returning(&db, &Target::Id(first.0), returning)
                .await
                .expect("delete one");
            assert_eq!(one.len(), 1);
            assert_eq!(one[0].info.id, first);
            assert_eq!(
                one[0].info.hint,
                if returning { "atk_0003" } else { "atk_0001" }
            );
            let rest = delete_returning(&db, &Target::User(user), returning)
                .await
                .expect("delete the rest");
            assert_eq!(rest.len(), 1);
            assert_eq!(rest[0].info.user_id, user);
            assert_eq!(
                rest[0].info.hint,
                if returning { "atk_0004" } else { "atk_0002" }
            );
            assert!(list(&db, Some(user)).await.expect("list").is_empty());
        }
    }
}
