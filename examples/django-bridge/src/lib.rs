#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

use authtoken_axum::Authenticated;
use authtoken_axum::authtoken::{Authenticator, ConfigError, IssueError, IssueOptions};
use authtoken_sqlx::{DjangoDatabase, DjangoUser, SqlxStore};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

/// The scopes of Django's keys and of the tokens this service issues: a DRF key
/// can do all its user can.
pub const SCOPES: [&str; 2] = ["read", "write"];

/// Why the service could not start.
#[derive(Debug)]
pub enum StartError {
    /// Django's database could not be reached.
    Django(authtoken_sqlx::Error),
    /// The service's own token database could not be opened or migrated.
    Tokens(authtoken_sqlx::Error),
    /// The authenticator's settings.
    Config(ConfigError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Django(error) => write!(f, "cannot read the Django database: {error}"),
            Self::Tokens(error) => write!(f, "cannot open the token database: {error}"),
            Self::Config(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

/// The authenticator of the bridge: Django's keys looked up in Django's
/// `authtoken_token` at `django_url`, users loaded from its `auth_user`, and the
/// service's own tokens (`atk_...`) kept in the database at `tokens_url`, never in
/// Django's.
///
/// # Errors
///
/// [`StartError`] when a database cannot be reached or migrated.
pub async fn authenticator(
    django_url: &str,
    tokens_url: &str,
) -> Result<Authenticator<DjangoUser>, StartError> {
    let django = DjangoDatabase::connect(django_url)
        .await
        .map_err(StartError::Django)?;
    let store = SqlxStore::connect(tokens_url)
        .await
        .map_err(StartError::Tokens)?;
    store.migrate().await.map_err(StartError::Tokens)?;
    Authenticator::builder(store, django.clone())
        .legacy_key_store(django)
        .legacy_key_scopes(SCOPES)
        .build()
        .map_err(StartError::Config)
}

/// The bridge's API:
///
/// | route | answers |
/// | --- | --- |
/// | `GET /api/health` | 200 `{"status":"ok"}` |
/// | `GET /api/me` | 200 `{"username"}`, for a token Django issued or one of ours |
/// | `POST /api/logout` | 204; a Django key's row is deleted, so Django refuses it too |
/// | `POST /api/tokens` | 201 `{"token"}`: a token of this service for the caller |
///
/// Every error has a JSON `{"detail"}` body.
pub fn app(auth: Authenticator<DjangoUser>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/me", get(me))
        .route("/api/logout", post(logout))
        .route("/api/tokens", post(new_token))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound })
        .with_state(auth)
}

/// `GET /api/me`'s body.
#[derive(Serialize)]
struct Me<'a> {
    username: &'a str,
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn me(user: Authenticated<DjangoUser>) -> Response {
    Json(Me {
        username: &user.user().username,
    })
    .into_response()
}

async fn logout(
    State(auth): State<Authenticator<DjangoUser>>,
    user: Authenticated<DjangoUser>,
) -> Result<StatusCode, ApiError> {
    auth.revoke_identity(&user)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn new_token(
    State(auth): State<Authenticator<DjangoUser>>,
    user: Authenticated<DjangoUser>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let options = IssueOptions::new().name("django-bridge").scopes(SCOPES);
    let issued = auth
        .issue(&user.user().id.to_string(), options)
        .await
        .map_err(|error| match error {
            IssueError::LimitReached { .. } => ApiError::TooManyTokens,
            _ => ApiError::Unavailable,
        })?;
    let token = issued.token().expose_secret();
    Ok((StatusCode::CREATED, Json(json!({ "token": token }))))
}

/// The errors the handlers answer, each a JSON `{"detail"}`.
enum ApiError {
    NotFound,
    MethodNotAllowed,
    TooManyTokens,
    Unavailable,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            Self::NotFound => (StatusCode::NOT_FOUND, "Not found."),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
            Self::TooManyTokens => (StatusCode::CONFLICT, "Too many tokens."),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is unavailable, try again later.",
            ),
        };
        (status, Json(json!({ "detail": detail }))).into_response()
    }
}
