//! The demo's logic on a real SQLite file, without any web framework.

mod common;

use common::{identity, login, register};

use authtoken::AuthError;
use authtoken::endpoints::EndpointError;
use authtoken_demo::{BenchSwitches, Demo, DemoError};

fn sqlite(demo: &Demo) -> &sqlx::SqlitePool {
    demo.pool().sqlite().expect("the demo runs on SQLite")
}

async fn file_demo(dir: &tempfile::TempDir) -> Demo {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    Demo::connect(&url).await.expect("the demo starts")
}

#[tokio::test]
async fn both_migration_tables_coexist_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let demo = file_demo(&dir).await;
    let registered = register(&demo, "ada", "pw").await.expect("201");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(sqlite(&demo))
            .await
            .expect("tables");
    for table in [
        "_authtoken_migrations",
        "_sqlx_migrations",
        "authtoken_tokens",
        "users",
    ] {
        assert!(
            tables.iter().any(|name| name == table),
            "{table} in {tables:?}"
        );
    }
    let own: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(sqlite(&demo))
        .await
        .expect("count");
    assert_eq!(own, 1, "only the demo's migration is in _sqlx_migrations");
    assert!(
        !demo.listens_for_revocations(),
        "SQLite has no revocations to listen to"
    );
    demo.close().await;

    // Again on the same file: migrations are idempotent, users and tokens are kept.
    let demo = file_demo(&dir).await;
    let identity = identity(&demo, &registered)
        .await
        .expect("the token survives");
    assert_eq!(identity.user().username(), "ada");
    login(&demo, "ada", "pw").await.expect("login");
    demo.close().await;
}

#[tokio::test]
async fn logout_logout_all_and_delete_revoke() {
    let demo = Demo::connect("sqlite::memory:")
        .await
        .expect("the demo starts");
    let first = register(&demo, "Zoë 🦀", "pw").await.expect("201");
    let second = login(&demo, "Zoë 🦀", "pw").await.expect("200");
    let third = login(&demo, "Zoë 🦀", "pw").await.expect("200");
    assert_ne!(second, third, "every login issues a new token");

    let me = identity(&demo, &first).await.expect("valid");
    assert_eq!(me.user().username(), "Zoë 🦀");
    demo.endpoints().logout(&me).await.expect("204");
    assert_eq!(
        identity(&demo, &first).await.err(),
        Some(AuthError::InvalidToken)
    );
    identity(&demo, &second)
        .await
        .expect("other tokens keep working");

    let me = identity(&demo, &second).await.expect("valid");
    demo.endpoints().logout_all(&me).await.expect("204");
    assert_eq!(
        identity(&demo, &third).await.err(),
        Some(AuthError::InvalidToken)
    );

    let fourth = login(&demo, "Zoë 🦀", "pw").await.expect("200");
    let me = identity(&demo, &fourth).await.expect("valid");
    let old_id = me.user().id();
    demo.delete_account(&me).await.expect("204");
    assert_eq!(
        identity(&demo, &fourth).await.err(),
        Some(AuthError::InvalidToken)
    );
    assert!(matches!(
        login(&demo, "Zoë 🦀", "pw").await,
        Err(EndpointError::InvalidCredentials)
    ));

    let again = register(&demo, "Zoë 🦀", "new").await.expect("201");
    let me = identity(&demo, &again).await.expect("valid");
    assert_ne!(
        me.user().id(),
        old_id,
        "a deleted user's id is never reused"
    );
    demo.close().await;
}

#[tokio::test]
async fn wrong_credentials_and_inactive_users_cannot_log_in() {
    let demo = Demo::connect("sqlite::memory:")
        .await
        .expect("the demo starts");
    let issued = register(&demo, "bob", "pw").await.expect("201");
    for (username, password) in [("bob", "wrong"), ("nobody", "pw"), ("BOB", "pw")] {
        let error = login(&demo, username, password).await.expect_err("refused");
        assert!(
            matches!(error, EndpointError::InvalidCredentials),
            "{error:?}"
        );
    }
    let bob = identity(&demo, &issued).await.expect("valid").user().id();
    sqlx::query("UPDATE users SET is_active = FALSE WHERE id = $1")
        .bind(bob)
        .execute(sqlite(&demo))
        .await
        .expect("deactivate");
    // The cache keeps a verified user for a while; an application that deactivates a
    // user tells the authenticator.
    demo.authenticator().forget_user(&bob.to_string());
    assert!(matches!(
        login(&demo, "bob", "pw").await,
        Err(EndpointError::InvalidCredentials)
    ));
    assert_eq!(
        identity(&demo, &issued).await.err(),
        Some(AuthError::UserInactive)
    );
    demo.close().await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_give_one_winner() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let demo = file_demo(&dir).await;
    let attempts = (0..4).map(|_| {
        let demo = demo.clone();
        tokio::spawn(async move { register(&demo, "race", "pw").await })
    });
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.expect("no panic") {
            Ok(token) => {
                assert!(token.starts_with("atk_"), "{token}");
                created += 1;
            }
            Err(error) => assert_eq!(error.status(), 409, "{error:?}"),
        }
    }
    assert_eq!(created, 1);
    demo.close().await;
}

/// A composed `é` and `e` with a combining accent are one username: the second
/// registration is refused as taken, either spelling logs in, and the name comes
/// back in NFC.
#[tokio::test]
async fn composed_and_decomposed_spellings_are_one_account() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let demo = file_demo(&dir).await;
    let registered = register(&demo, "e\u{301}mile", "pw").await.expect("201");
    let user = identity(&demo, &registered).await.expect("a valid token");
    assert_eq!(user.user().username(), "\u{e9}mile");
    let error = register(&demo, "\u{e9}mile", "another password")
        .await
        .expect_err("the name is taken");
    assert!(matches!(error, DemoError::UsernameTaken), "{error:?}");
    for spelling in ["\u{e9}mile", "e\u{301}mile"] {
        let token = login(&demo, spelling, "pw")
            .await
            .unwrap_or_else(|error| panic!("{spelling:?}: {error:?}"));
        let user = identity(&demo, &token).await.expect("a valid token");
        assert_eq!(user.user().id(), registered_id(&demo, &registered).await);
        assert_eq!(user.user().username(), "\u{e9}mile");
    }
    demo.close().await;
}

async fn registered_id(demo: &Demo, token: &str) -> i64 {
    identity(demo, token)
        .await
        .expect("a valid token")
        .user()
        .id()
}

#[tokio::test]
async fn the_bench_user_is_the_first_user_and_needs_the_switch() {
    let demo = Demo::connect("sqlite::memory:")
        .await
        .expect("the demo starts");
    register(&demo, "ada", "pw").await.expect("201");
    assert_eq!(
        demo.bench_user().await.expect("no failure"),
        None,
        "off unless switched on"
    );
    demo.close().await;

    let switches = BenchSwitches::from_vars(None, Some("1"));
    let demo = Demo::connect_with("sqlite::memory:", switches)
        .await
        .expect("the demo starts");
    assert_eq!(
        demo.bench_user().await.expect("no failure"),
        None,
        "no user yet"
    );
    let first = register(&demo, "ada", "pw").await.expect("201");
    register(&demo, "bob", "pw").await.expect("201");
    let me = identity(&demo, &first).await.expect("valid");
    let bench = demo.bench_user().await.expect("no failure");
    assert_eq!(bench.as_ref(), Some(me.user()));
    // Fixed by its first answer.
    sqlx::query("DELETE FROM users WHERE username = 'ada'")
        .execute(sqlite(&demo))
        .await
        .expect("delete");
    assert_eq!(demo.bench_user().await.expect("kept"), bench);
    demo.close().await;
}

#[tokio::test]
async fn the_baseline_answers_the_username_of_an_active_token_only() {
    let switches = BenchSwitches::from_vars(None, Some("1"));
    let demo = Demo::connect_with("sqlite::memory:", switches)
        .await
        .expect("the demo starts");
    let token = register(&demo, "ada", "pw").await.expect("201");
    for (header, expected) in [
        (format!("Token {token}"), Some("ada")),
        (format!("Bearer {token}"), Some("ada")),
        (format!("Token {token}x"), None),
        (token.clone(), None),
    ] {
        let found = demo
            .baseline(Some(header.as_bytes()))
            .await
            .expect("no failure");
        assert_eq!(found.as_deref(), expected, "{header}");
    }
    assert_eq!(demo.baseline(None).await.expect("no failure"), None);
    demo.close().await;
}
