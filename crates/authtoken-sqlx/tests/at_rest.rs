//! What the database holds: digests and metadata, never a token nor an HMAC secret,
//! on every backend (every column of every table is scanned); and migrations that
//! live beside an application's own.

mod common;

use authtoken::{Authenticator, DigestKey, IssueOptions, TokenHasher, UserIdLoader};
use authtoken_sqlx::{MIGRATIONS_TABLE, SqlxStore};
use sqlx::{Column, Row, SqlitePool, TypeInfo, ValueRef};

/// Every value of every column of every table, as bytes (text, blobs and numbers).
async fn every_value(pool: &SqlitePool) -> Vec<(String, String, Vec<u8>)> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(pool)
            .await
            .expect("list tables");
    let mut values = Vec::new();
    for table in tables {
        let sql = format!("SELECT * FROM \"{table}\"");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .expect("read table");
        for row in rows {
            for (index, column) in row.columns().iter().enumerate() {
                let raw = row.try_get_raw(index).expect("raw value");
                if raw.is_null() {
                    continue;
                }
                let bytes = match raw.type_info().name() {
                    "TEXT" => row.get::<String, _>(index).into_bytes(),
                    "BLOB" => row.get::<Vec<u8>, _>(index),
                    _ => row.get::<i64, _>(index).to_string().into_bytes(),
                };
                values.push((table.clone(), column.name().to_owned(), bytes));
            }
        }
    }
    values
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

const OLD_KEY: &[u8] = b"an-old-hmac-secret-of-32-bytes-or-more";
const NEW_KEY: &[u8] = b"the-new-hmac-secret-of-32-bytes-or-more";

fn hasher(current: (u32, &[u8]), previous: Option<(u32, &[u8])>) -> TokenHasher {
    let key = |(version, secret): (u32, &[u8])| DigestKey::new(version, secret).expect("a key");
    TokenHasher::hmac(key(current), previous.map(key)).expect("a hasher")
}

/// Issues and uses tokens under one HMAC key, uses them again after a key rotation
/// (re-keying them), then rotates and revokes some, all through `store`; returns every
/// token issued.
async fn a_run_of_tokens(store: SqlxStore) -> Vec<String> {
    let before = Authenticator::builder(store.clone(), UserIdLoader)
        .hasher(hasher((1, OLD_KEY), None))
        .last_used_interval(std::time::Duration::ZERO)
        .build()
        .expect("config");
    let after = Authenticator::builder(store, UserIdLoader)
        .hasher(hasher((2, NEW_KEY), Some((1, OLD_KEY))))
        .last_used_interval(std::time::Duration::ZERO)
        .build()
        .expect("config");
    let mut secrets = Vec::new();
    for user in 1..=20 {
        let issued = before
            .issue(
                &user.to_string(),
                IssueOptions::new().name("device").scopes(["read"]),
            )
            .await
            .expect("issue");
        let header = format!("Token {}", issued.token().expose_secret());
        for authenticator in [&before, &after] {
            authenticator
                .authenticate(Some(header.as_bytes()))
                .await
                .expect("authenticates");
        }
        secrets.push(issued.token().expose_secret().to_owned());
    }
    let tokens = after.list(None).await.expect("list");
    let rotated = after
        .rotate(tokens[0].id, std::time::Duration::from_secs(60))
        .await
        .expect("rotate");
    secrets.push(rotated.token().expose_secret().to_owned());
    after.revoke(tokens[1].id).await.expect("revoke");
    after.revoke_user("3").await.expect("revoke user");
    before.flush().await;
    after.flush().await;
    secrets
}

/// The random part of a token (no prefix, no checksum), and its hex forms.
fn needles(secret: &str) -> [Vec<u8>; 3] {
    let random = &secret.as_bytes()[4..36];
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    [
        random.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
    ]
}

fn assert_no_secret(values: &[(String, String, Vec<u8>)], secrets: &[String]) {
    assert!(
        values
            .iter()
            .any(|(table, _, _)| table.eq_ignore_ascii_case("authtoken_tokens")),
        "the scan reads the token table"
    );
    assert!(values.len() > 20 * 5, "the scan sees every column");
    for key in [OLD_KEY, NEW_KEY] {
        for (table, column, value) in values {
            assert!(
                !contains(value, key),
                "{table}.{column} holds an HMAC secret"
            );
        }
    }
    for secret in secrets {
        for needle in needles(secret) {
            for (table, column, value) in values {
                assert!(
                    !contains(value, &needle),
                    "{table}.{column} holds a token's secret"
                );
            }
        }
    }
}

#[tokio::test]
async fn no_plaintext_token_is_stored_anywhere() {
    let db = common::sqlite_file().await;
    let pool = db.store.sqlite_pool().expect("sqlite").clone();
    let secrets = a_run_of_tokens(db.store.clone()).await;
    assert_no_secret(&every_value(&pool).await, &secrets);
}

/// Every value of every column of every table of the test's schema, as text
/// (`bytea` as PostgreSQL prints it: hex).
async fn every_postgres_value(pool: &sqlx::PgPool) -> Vec<(String, String, Vec<u8>)> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("list columns");
    let mut values = Vec::new();
    for (table, column) in columns {
        let sql = format!("SELECT \"{column}\"::text FROM \"{table}\"");
        let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .expect("read column");
        for value in rows.into_iter().flatten() {
            values.push((table.clone(), column.clone(), value.into_bytes()));
        }
    }
    values
}

/// Every value of every column of every table of the test's database, in hex and as
/// raw bytes (text columns included, so a plaintext token would show in either).
async fn every_mysql_value(pool: &sqlx::MySqlPool) -> Vec<(String, String, Vec<u8>)> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE() \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("list columns");
    let mut values = Vec::new();
    for (table, column) in columns {
        let sql = format!("SELECT HEX(`{column}`), CAST(`{column}` AS BINARY) FROM `{table}`");
        // The raw bytes, not text: a binary digest is rarely valid UTF-8.
        let rows: Vec<(Option<String>, Option<Vec<u8>>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .expect("read column");
        for (hex, raw) in rows {
            let hex = hex.map(String::into_bytes);
            for value in [hex, raw].into_iter().flatten() {
                values.push((table.clone(), column.clone(), value));
            }
        }
    }
    values
}

#[tokio::test]
async fn no_plaintext_token_is_stored_anywhere_on_postgres() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let pool = db.store.pg_pool().expect("postgres").clone();
    let secrets = a_run_of_tokens(db.store.clone()).await;
    assert_no_secret(&every_postgres_value(&pool).await, &secrets);
    if let Some(cleanup) = db.cleanup() {
        cleanup.run().await;
    }
}

#[tokio::test]
async fn no_plaintext_token_is_stored_anywhere_on_mysql() {
    let Some(db) = common::mysql().await else {
        return;
    };
    let pool = db.store.mysql_pool().expect("mysql").clone();
    let secrets = a_run_of_tokens(db.store.clone()).await;
    assert_no_secret(&every_mysql_value(&pool).await, &secrets);
    if let Some(cleanup) = db.cleanup() {
        cleanup.run().await;
    }
}

#[tokio::test]
async fn migrations_coexist_with_the_applications_own() {
    let db = common::sqlite_file().await;
    let pool = db.store.sqlite_pool().expect("sqlite").clone();

    let app_migrations = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        app_migrations
            .path()
            .join("20260101000000_create_users.sql"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE);",
    )
    .expect("write migration");
    let app = sqlx::migrate::Migrator::new(app_migrations.path())
        .await
        .expect("load the application's migrations");

    for _ in 0..2 {
        app.run(&pool).await.expect("application migrations");
        db.store.migrate().await.expect("authtoken migrations");
        // A second store on the same database applies nothing twice.
        SqlxStore::from_sqlite_pool(pool.clone())
            .migrate()
            .await
            .expect("authtoken migrations again");
    }

    let app_versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&pool)
        .await
        .expect("the application's table");
    assert_eq!(app_versions, [20260101000000]);
    let sql = format!("SELECT COUNT(*) FROM {MIGRATIONS_TABLE}");
    let ours: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&pool)
        .await
        .expect("our table");
    assert!(ours >= 1);
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'authtoken_tokens')",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    assert_eq!(tables.len(), 2);
}
