//! The bridge end to end, in process, on a Django SQLite database made by the DDL of
//! Django 5.2.19 / DRF 3.18.3 (the store's tests run the same on PostgreSQL and
//! MariaDB): a key Django issued is accepted, a logout here deletes Django's row, and
//! the service's own tokens live beside Django's.

use authtoken_example_django_bridge::{app, authenticator};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use sqlx::SqlitePool;
use tower::ServiceExt as _;

use authtoken_sqlx::sqlx;

const DJANGO_SQLITE: &str = include_str!("../../../crates/authtoken-sqlx/tests/django/sqlite.sql");

/// A Django site's SQLite file with users alice (active) and bob (inactive), each
/// logged in once through DRF (`obtain_auth_token`).
struct Site {
    _dir: tempfile::TempDir,
    url: String,
    pool: SqlitePool,
}

const ALICE_KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
const BOB_KEY: &str = "0f4bbce30f5ac1d3d1e0a6b9f8e7d6c5b4a39281";

impl Site {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("db.sqlite3").display());
        let pool = SqlitePool::connect(&format!("{url}?mode=rwc"))
            .await
            .expect("create the site's database");
        sqlx::raw_sql(DJANGO_SQLITE)
            .execute(&pool)
            .await
            .expect("Django's tables");
        sqlx::raw_sql(
            "INSERT INTO auth_user (id, password, last_login, is_superuser, username, \
             first_name, last_name, email, is_staff, is_active, date_joined) VALUES \
             (1, 'pbkdf2_sha256$870000$s$h', NULL, 0, 'alice', '', '', '', 0, 1, \
              '2026-12-01 09:00:00.000000'), \
             (2, 'pbkdf2_sha256$870000$s$h', NULL, 0, 'bob', '', '', '', 0, 0, \
              '2026-12-01 09:00:00.000000'); \
             INSERT INTO authtoken_token (key, created, user_id) VALUES \
             ('9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', '2026-12-02 10:11:12.131415', 1), \
             ('0f4bbce30f5ac1d3d1e0a6b9f8e7d6c5b4a39281', '2026-12-02 10:11:12.131415', 2);",
        )
        .execute(&pool)
        .await
        .expect("a user and a key");
        Self {
            _dir: dir,
            url,
            pool,
        }
    }

    async fn keys(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT key FROM authtoken_token ORDER BY user_id")
            .fetch_all(&self.pool)
            .await
            .expect("keys")
    }

    async fn app(&self) -> Router {
        let auth = authenticator(&self.url, "sqlite::memory:")
            .await
            .expect("the bridge starts");
        app(auth)
    }
}

async fn call(app: &Router, method: &str, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Token {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("a response");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .expect("body");
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).expect("a JSON body")
    };
    (status, json)
}

#[tokio::test]
async fn a_key_django_issued_answers_me_and_logs_out_on_both_sides() {
    let site = Site::new().await;
    let app = site.app().await;

    let (status, body) = call(&app, "GET", "/api/me", Some(ALICE_KEY)).await;
    assert_eq!(
        (status, &body["username"]),
        (StatusCode::OK, &"alice".into())
    );

    let (status, body) = call(&app, "POST", "/api/logout", Some(ALICE_KEY)).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(
        site.keys().await,
        [BOB_KEY],
        "alice's row is deleted in Django's table"
    );

    let (status, body) = call(&app, "GET", "/api/me", Some(ALICE_KEY)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "Invalid token.");
}

#[tokio::test]
async fn the_services_own_tokens_live_beside_djangos() {
    let site = Site::new().await;
    let app = site.app().await;

    let (status, body) = call(&app, "POST", "/api/tokens", Some(ALICE_KEY)).await;
    assert_eq!(status, StatusCode::CREATED);
    let ours = body["token"].as_str().expect("a token").to_owned();
    assert!(ours.starts_with("atk_"), "{ours}");
    assert_eq!(
        site.keys().await.len(),
        2,
        "nothing was added to Django's table"
    );

    let (status, body) = call(&app, "GET", "/api/me", Some(&ours)).await;
    assert_eq!(
        (status, &body["username"]),
        (StatusCode::OK, &"alice".into())
    );

    // Logging out with our token leaves Django's key alone, and the reverse.
    let (status, _) = call(&app, "POST", "/api/logout", Some(&ours)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(site.keys().await.len(), 2);
    assert_eq!(
        call(&app, "GET", "/api/me", Some(&ours)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/api/me", Some(ALICE_KEY)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refusals_are_drfs() {
    let site = Site::new().await;
    let app = site.app().await;

    let (status, body) = call(&app, "GET", "/api/me", Some(BOB_KEY)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "User inactive or deleted.");

    let (status, body) = call(&app, "GET", "/api/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["detail"],
        "Authentication credentials were not provided."
    );

    // Upper-case hex is not a key Django makes.
    let (status, body) = call(&app, "GET", "/api/me", Some(&ALICE_KEY.to_uppercase())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "Invalid token.");

    let (status, body) = call(&app, "GET", "/api/nowhere", None).await;
    assert_eq!(
        (status, &body["detail"]),
        (StatusCode::NOT_FOUND, &"Not found.".into())
    );
    let (status, _) = call(&app, "GET", "/api/logout", Some(ALICE_KEY)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        call(&app, "GET", "/api/health", None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_missing_django_database_is_named_at_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("absent.sqlite3").display());
    let error = authenticator(&url, "sqlite::memory:")
        .await
        .expect_err("no such database");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot read the Django database"),
        "{message}"
    );
    assert!(
        !dir.path().join("absent.sqlite3").exists(),
        "Django's file is never created"
    );
}
