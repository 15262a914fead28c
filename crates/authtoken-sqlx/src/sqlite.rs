//! The SQLite backend. Times are unix microseconds in INTEGER columns, so that every
//! comparison is numeric.

use std::str::FromStr;

use authtoken::{InsertOutcome, NewToken, Slide, TokenDigest, TokenId, TokenInfo, TokenRecord};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row as _, SqlitePool};
use time::OffsetDateTime;

use crate::{
    Columns, Error, PoolConfig, Row, from_micros, is_unique_violation, join_scopes, sql, to_micros,
};

/// Opens a pool for `url`: WAL for files, one shared database for `sqlite::memory:`.
pub(crate) async fn connect(url: &str, config: PoolConfig) -> Result<SqlitePool, Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .busy_timeout(std::time::Duration::from_secs(5))
        .foreign_keys(true);
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    // No ping before each acquire: a SQLite connection is a file handle in this
    // process and cannot go stale, and the ping is a round trip to the connection's
    // worker thread, as costly as the lookup it would precede.
    let pool_options: SqlitePoolOptions = config.pool_options().test_before_acquire(false);
    let pool = if in_memory {
        // An in-memory database lives as long as one connection to it: keep one open.
        pool_options
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?
    } else {
        pool_options
            .connect_with(options.journal_mode(SqliteJournalMode::Wal))
            .await?
    };
    Ok(pool)
}

fn read_row(row: &SqliteRow) -> Result<TokenRecord, Error> {
    read_columns(row, &Columns::BARE)
}

/// Reads a token from `row`, its columns named by `names`.
pub(crate) fn read_columns(row: &SqliteRow, names: &Columns) -> Result<TokenRecord, Error> {
    let id: i64 = row.try_get(names.id)?;
    let micros = |column: &str| -> Result<Option<OffsetDateTime>, Error> {
        row.try_get::<Option<i64>, _>(column)?
            .map(|value| from_micros(id, value))
            .transpose()
    };
    Row {
        id,
        digest: row.try_get(names.digest)?,
        key_version: row.try_get(names.key_version)?,
        user_id: row.try_get(names.user_id)?,
        name: row.try_get(names.name)?,
        hint: row.try_get(names.hint)?,
        scopes: row.try_get(names.scopes)?,
        created_at: from_micros(id, row.try_get(names.created_at)?)?,
        expires_at: micros(names.expires_at)?,
        expiry_limit: micros(names.expiry_limit)?,
        last_used_at: micros(names.last_used_at)?,
    }
    .into_record()
}

pub(crate) async fn insert(
    pool: &SqlitePool,
    token: &NewToken,
    limit: Option<u32>,
) -> Result<InsertOutcome, Error> {
    // One statement: SQLite runs it under its write lock, so the count and the insert
    // cannot interleave with another issue.
    let sql = sql::INSERT_RETURNING;
    let result = sqlx::query(sql)
        .bind(token.digest.as_bytes().as_slice())
        .bind(i64::from(token.key_version))
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(join_scopes(&token.scopes))
        .bind(to_micros(token.created))
        .bind(token.expires.map(to_micros))
        .bind(limit.map(i64::from))
        .bind(token.expiry_limit.map(to_micros))
        .bind(&token.hint)
        .fetch_optional(pool)
        .await;
    match result {
        Ok(Some(row)) => Ok(InsertOutcome::Inserted(read_row(&row)?)),
        Ok(None) => Ok(InsertOutcome::LimitReached),
        Err(error) if is_unique_violation(&error) => Ok(InsertOutcome::DuplicateDigest),
        Err(error) => Err(error.into()),
    }
}

pub(crate) async fn find_by_digest(
    pool: &SqlitePool,
    digest: &TokenDigest,
) -> Result<Option<TokenRecord>, Error> {
    sqlx::query(sql::FIND_BY_DIGEST)
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(pool)
        .await?
        .map(|row| read_row(&row))
        .transpose()
}

pub(crate) async fn get(pool: &SqlitePool, id: TokenId) -> Result<Option<TokenRecord>, Error> {
    sqlx::query(sql::GET)
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .map(|row| read_row(&row))
        .transpose()
}

pub(crate) async fn revoke(pool: &SqlitePool, id: TokenId) -> Result<Option<TokenRecord>, Error> {
    sqlx::query(sql::DELETE_ONE_RETURNING)
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .map(|row| read_row(&row))
        .transpose()
}

pub(crate) async fn revoke_user(
    pool: &SqlitePool,
    user_id: &str,
) -> Result<Vec<TokenRecord>, Error> {
    sqlx::query(sql::DELETE_USER_RETURNING)
        .bind(user_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(read_row)
        .collect()
}

pub(crate) async fn list(
    pool: &SqlitePool,
    user_id: Option<&str>,
) -> Result<Vec<TokenInfo>, Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM authtoken_tokens WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id"
    );
    sqlx::query(sql)
        .bind(user_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| read_row(row).map(|record| record.info))
        .collect()
}

pub(crate) async fn touch(
    pool: &SqlitePool,
    id: TokenId,
    used_at: OffsetDateTime,
    slide: Option<Slide>,
) -> Result<bool, Error> {
    if let Some(slide) = slide {
        // Compare and set: a row whose expiry moved since it was read (a rotation
        // shortened it) keeps it, and nothing moves past the limit.
        let slid = sqlx::query(sql::TOUCH_SLIDING)
            .bind(id.0)
            .bind(to_micros(used_at))
            .bind(to_micros(slide.from))
            .bind(to_micros(slide.to))
            .execute(pool)
            .await?;
        if slid.rows_affected() > 0 {
            return Ok(true);
        }
    }
    let touched = sqlx::query(sql::TOUCH)
        .bind(id.0)
        .bind(to_micros(used_at))
        .execute(pool)
        .await?;
    Ok(slide.is_none() && touched.rows_affected() > 0)
}

pub(crate) async fn shorten_expiry(
    pool: &SqlitePool,
    id: TokenId,
    at: OffsetDateTime,
) -> Result<bool, Error> {
    let result = sqlx::query(sql::SHORTEN_EXPIRY)
        .bind(id.0)
        .bind(to_micros(at))
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

pub(crate) async fn replace_digest(
    pool: &SqlitePool,
    id: TokenId,
    digest: &TokenDigest,
    key_version: u32,
) -> Result<(), Error> {
    sqlx::query(sql::REPLACE_DIGEST)
        .bind(id.0)
        .bind(digest.as_bytes().as_slice())
        .bind(i64::from(key_version))
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn purge_expired(pool: &SqlitePool, now: OffsetDateTime) -> Result<u64, Error> {
    let result = sqlx::query(sql::PURGE_EXPIRED)
        .bind(to_micros(now))
        .execute(pool)
        .await?;
    Ok(result.rows_affected())
}
