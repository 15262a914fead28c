//! What the database holds: digests and metadata, never a token; and migrations that
//! live beside an application's own.

mod common;

use authtoken::{Authenticator, IssueOptions, UserIdLoader};
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

#[tokio::test]
async fn no_plaintext_token_is_stored_anywhere() {
    let db = common::sqlite_file().await;
    let pool = db.store.sqlite_pool().expect("sqlite").clone();
    let authenticator = Authenticator::builder(db.store.clone(), UserIdLoader)
        .build()
        .expect("config");
    let mut secrets = Vec::new();
    for user in 1..=20 {
        let issued = authenticator
            .issue(
                &user.to_string(),
                IssueOptions::new().name("device").scopes(["read"]),
            )
            .await
            .expect("issue");
        let header = format!("Token {}", issued.token().expose_secret());
        authenticator
            .authenticate(Some(header.as_bytes()))
            .await
            .expect("authenticates");
        secrets.push(issued.token().expose_secret().to_owned());
    }
    authenticator.flush().await;

    let values = every_value(&pool).await;
    assert!(
        values
            .iter()
            .any(|(table, _, _)| table == "authtoken_tokens"),
        "the scan reads the token table"
    );
    assert!(values.len() > 20 * 5, "the scan sees every column");
    for secret in &secrets {
        // The random part alone (without prefix and checksum) must not appear either.
        let random = &secret.as_bytes()[4..36];
        for (table, column, value) in &values {
            assert!(
                !contains(value, random),
                "{table}.{column} holds a token's secret"
            );
        }
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
