//! The benchmark-only routes, served only with [`Demo::serves_baseline`]
//! (`AUTHTOKEN_BENCH_BASELINE=1`): `scripts/load-bench` and `scripts/instr-bench`
//! compare `GET /api/me` with them.

use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use authtoken_demo::{BASELINE_PATH, BENCH_ME_PATH, Demo};
use serde_json::json;

use crate::{ApiError, profile, resource};

/// Registers [`BENCH_ME_PATH`] and [`BASELINE_PATH`].
pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource(BENCH_ME_PATH).route(web::get().to(bench_me)))
        .service(resource(BASELINE_PATH).route(web::get().to(baseline)));
}

/// `GET /api/me` for a fixed user, answered by the same [`profile`], without
/// authentication: what is left of `/api/me`'s cost once this one's is subtracted is
/// authentication's.
async fn bench_me(demo: web::Data<Demo>) -> Result<impl Responder, ApiError> {
    let user = demo.bench_user().await?.ok_or(ApiError::NotFound)?;
    Ok(profile(&user))
}

/// The hand-written one-query token check the load benchmark compares the library with.
async fn baseline(demo: web::Data<Demo>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let response = match demo.baseline(authorization).await? {
        Some(username) => HttpResponse::Ok().json(json!({ "username": username })),
        None => HttpResponse::Unauthorized().json(json!({ "detail": "Invalid token." })),
    };
    Ok(response)
}
