//! The PostgreSQL backend: BYTEA digests, TIMESTAMPTZ times, per-user limits under a
//! transaction-scoped advisory lock, and revocations announced by a trigger (see the
//! migration) and heard by [`spawn_listener`].

use std::str::FromStr;
use std::time::Duration;

use authtoken::{
    Authenticator, InsertOutcome, NewToken, Slide, TokenDigest, TokenId, TokenInfo, TokenRecord,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgRow};
use sqlx::{PgPool, Row as _};
use time::OffsetDateTime;

use crate::{
    Columns, Error, PoolConfig, REVOCATION_CHANNEL, RevocationListener, Row, USER_CHANGE_PREFIX,
    is_unique_violation, join_scopes, sql,
};

/// The first key of the advisory locks taken on users while issuing ("atkn"), so that
/// they do not meet the application's own advisory locks by chance.
const LOCK_NAMESPACE: i32 = 0x6174_6b6e;

pub(crate) async fn connect(url: &str, config: PoolConfig) -> Result<PgPool, Error> {
    let options = PgConnectOptions::from_str(url)?;
    Ok(config.pool_options().connect_with(options).await?)
}

fn read_row(row: &PgRow) -> Result<TokenRecord, Error> {
    read_columns(row, &Columns::BARE)
}

/// Reads a token from `row`, its columns named by `names`.
pub(crate) fn read_columns(row: &PgRow, names: &Columns) -> Result<TokenRecord, Error> {
    Row {
        id: row.try_get(names.id)?,
        digest: row.try_get(names.digest)?,
        key_version: row.try_get(names.key_version)?,
        user_id: row.try_get(names.user_id)?,
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

pub(crate) async fn insert(
    pool: &PgPool,
    token: &NewToken,
    limit: Option<u32>,
) -> Result<InsertOutcome, Error> {
    let sql = sql::INSERT_RETURNING;
    let query = sqlx::query(sql)
        .bind(token.digest.as_bytes().as_slice())
        .bind(i64::from(token.key_version))
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(join_scopes(&token.scopes))
        .bind(token.created)
        .bind(token.expires)
        .bind(limit.map(i64::from))
        .bind(token.expiry_limit)
        .bind(&token.hint);
    let result = if limit.is_some() {
        // Issues for one user take turns: the lock is held until the transaction ends,
        // and the count runs after it is taken, so it sees every committed token.
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_NAMESPACE)
            .bind(&token.user_id)
            .execute(&mut *tx)
            .await?;
        match query.fetch_optional(&mut *tx).await {
            Ok(row) => {
                tx.commit().await?;
                Ok(row)
            }
            Err(error) => Err(error),
        }
    } else {
        query.fetch_optional(pool).await
    };
    match result {
        Ok(Some(row)) => Ok(InsertOutcome::Inserted(read_row(&row)?)),
        Ok(None) => Ok(InsertOutcome::LimitReached),
        Err(error) if is_unique_violation(&error) => Ok(InsertOutcome::DuplicateDigest),
        Err(error) => Err(error.into()),
    }
}

pub(crate) async fn find_by_digest(
    pool: &PgPool,
    digest: &TokenDigest,
) -> Result<Option<TokenRecord>, Error> {
    sqlx::query(sql::FIND_BY_DIGEST)
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(pool)
        .await?
        .map(|row| read_row(&row))
        .transpose()
}

pub(crate) async fn get(pool: &PgPool, id: TokenId) -> Result<Option<TokenRecord>, Error> {
    sqlx::query(sql::GET)
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .map(|row| read_row(&row))
        .transpose()
}

// Deletions and shortened expiries are announced to every node by the trigger
// `authtoken_tokens_revoked`, in the deleting transaction.

pub(crate) async fn revoke(pool: &PgPool, id: TokenId) -> Result<Option<TokenRecord>, Error> {
    sqlx::query(sql::DELETE_ONE_RETURNING)
        .bind(id.0)
        .fetch_optional(pool)
        .await?
        .map(|row| read_row(&row))
        .transpose()
}

pub(crate) async fn revoke_user(pool: &PgPool, user_id: &str) -> Result<Vec<TokenRecord>, Error> {
    sqlx::query(sql::DELETE_USER_RETURNING)
        .bind(user_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(read_row)
        .collect()
}

pub(crate) async fn list(pool: &PgPool, user_id: Option<&str>) -> Result<Vec<TokenInfo>, Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM authtoken_tokens WHERE $1::TEXT IS NULL OR user_id = $1 ORDER BY id"
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
    pool: &PgPool,
    id: TokenId,
    used_at: OffsetDateTime,
    slide: Option<Slide>,
) -> Result<bool, Error> {
    if let Some(slide) = slide {
        // Compare and set: a row whose expiry moved since it was read (a rotation
        // shortened it) keeps it, and nothing moves past the limit.
        let slid = sqlx::query(sql::TOUCH_SLIDING)
            .bind(id.0)
            .bind(used_at)
            .bind(slide.from)
            .bind(slide.to)
            .execute(pool)
            .await?;
        if slid.rows_affected() > 0 {
            return Ok(true);
        }
    }
    let touched = sqlx::query(sql::TOUCH)
        .bind(id.0)
        .bind(used_at)
        .execute(pool)
        .await?;
    Ok(slide.is_none() && touched.rows_affected() > 0)
}

pub(crate) async fn shorten_expiry(
    pool: &PgPool,
    id: TokenId,
    at: OffsetDateTime,
) -> Result<bool, Error> {
    let result = sqlx::query(sql::SHORTEN_EXPIRY)
        .bind(id.0)
        .bind(at)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Tells every listening node to drop the user's cached tokens.
pub(crate) async fn announce_user_change(pool: &PgPool, user_id: &str) -> Result<(), Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(REVOCATION_CHANNEL)
        .bind(format!("{USER_CHANGE_PREFIX}{user_id}"))
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn replace_digest(
    pool: &PgPool,
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

pub(crate) async fn purge_expired(pool: &PgPool, now: OffsetDateTime) -> Result<u64, Error> {
    let result = sqlx::query(sql::PURGE_EXPIRED)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(result.rows_affected())
}

/// The first wait before subscribing again after a failure; doubled up to the most.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MOST: Duration = Duration::from_secs(5);

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(REVOCATION_CHANNEL).await?;
    Ok(listener)
}

/// Subscribes, then hands the subscription to a task that evicts what it hears.
pub(crate) async fn spawn_listener<U: Send + Sync + 'static>(
    pool: PgPool,
    authenticator: Authenticator<U>,
) -> Result<RevocationListener, Error> {
    let listener = subscribe(&pool).await?;
    Ok(RevocationListener::new(tokio::spawn(listen(
        pool,
        listener,
        authenticator,
    ))))
}

async fn listen<U: Send + Sync + 'static>(
    pool: PgPool,
    mut listener: PgListener,
    authenticator: Authenticator<U>,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let payload = notification.payload();
                if let Some(user_id) = payload.strip_prefix(USER_CHANGE_PREFIX) {
                    authenticator.forget_user(user_id);
                } else if let Some(digest) = TokenDigest::from_hex(payload) {
                    authenticator.evict(&digest);
                } else {
                    tracing::warn!(
                        channel = REVOCATION_CHANNEL,
                        "ignoring a revocation notice that names neither a token nor a user"
                    );
                }
            }
            // The connection was lost and made again: whatever was revoked in between
            // went unheard, so nothing cached before now can be trusted.
            Ok(None) => {
                tracing::warn!("revocation listener reconnected; clearing the token cache");
                authenticator.clear_cache();
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "revocation listener lost its connection; reconnecting");
                drop(listener);
                authenticator.clear_cache();
                let Some(again) = resubscribe(&pool).await else {
                    return;
                };
                listener = again;
                authenticator.clear_cache();
            }
        }
    }
}

/// Subscribes again, waiting longer after each failure; `None` once the pool is closed.
async fn resubscribe(pool: &PgPool) -> Option<PgListener> {
    let mut wait = RETRY_FIRST;
    loop {
        tokio::time::sleep(wait).await;
        if pool.is_closed() {
            return None;
        }
        match subscribe(pool).await {
            Ok(listener) => {
                tracing::info!("revocation listener subscribed again");
                return Some(listener);
            }
            Err(sqlx::Error::PoolClosed) => return None,
            Err(error) => {
                tracing::warn!(%error, "revocation listener cannot subscribe yet");
                wait = (wait * 2).min(RETRY_MOST);
            }
        }
    }
}
