//! The benchmarks' routes, served only with `AUTHTOKEN_BENCH_BASELINE=1`
//! ([`Demo::serves_baseline`]): the hand-written one-query check that the load
//! benchmark compares the library with, and `GET /api/me`'s answer for a fixed user
//! without authentication, which the instruction benchmark subtracts.

use authtoken_demo::{BASELINE_PATH, BENCH_ME_PATH, Demo};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::{ApiError, AppState, Me, me_response};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(BASELINE_PATH, get(baseline))
        .route(BENCH_ME_PATH, get(bench_me))
}

async fn baseline(State(demo): State<Demo>, headers: HeaderMap) -> Result<Response, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    match demo.baseline(authorization).await? {
        Some(username) => Ok(axum::Json(Me {
            username: &username,
        })
        .into_response()),
        None => Err(ApiError::Unauthorized),
    }
}

async fn bench_me(State(demo): State<Demo>) -> Result<Response, ApiError> {
    match demo.bench_user().await? {
        Some(user) => Ok(me_response(&user)),
        None => Err(ApiError::NotFound),
    }
}
