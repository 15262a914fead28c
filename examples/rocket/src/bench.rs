//! The benchmark-only routes, mounted with [`Demo::serves_baseline`]: the load
//! benchmark's hand-written baseline ([`authtoken_demo::BASELINE_PATH`]) and the
//! instruction benchmark's `GET /api/me` without authentication
//! ([`authtoken_demo::BENCH_ME_PATH`]). Route attributes take literal paths only: a
//! test checks that they are the demo's.

use authtoken_demo::Demo;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{State, get};

use crate::{ApiError, Username, me_body};

/// The raw `Authorization` header, for the hand-written baseline to read itself.
pub(crate) struct RawAuthorization<'r>(Option<&'r str>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RawAuthorization<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(Self(request.headers().get_one("Authorization")))
    }
}

/// `GET BASELINE_PATH`: 200 `{"username"}` for a token of an active user, 401
/// otherwise, checked by the demo's one-query baseline.
#[get("/api/bench/baseline")]
pub(crate) async fn baseline(
    demo: &State<Demo>,
    authorization: RawAuthorization<'_>,
) -> Result<Json<Username>, ApiError> {
    match demo.baseline(authorization.0.map(str::as_bytes)).await? {
        Some(username) => Ok(Json(Username { username })),
        None => Err(ApiError::detail(Status::Unauthorized, "Invalid token.")),
    }
}

/// `GET BENCH_ME_PATH`: what `GET /api/me` answers for the demo's benchmark user,
/// built by the same function, with no header read; 404 while there is no user.
#[get("/api/bench/me")]
pub(crate) async fn me(demo: &State<Demo>) -> Result<Json<Username>, ApiError> {
    match demo.bench_user().await? {
        Some(user) => Ok(me_body(&user)),
        None => Err(ApiError::detail(Status::NotFound, "Not found.")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_the_demos() {
        let routes = rocket::routes![super::baseline, super::me];
        let paths: Vec<&str> = routes.iter().map(|route| route.uri.path()).collect();
        assert_eq!(
            paths,
            [authtoken_demo::BASELINE_PATH, authtoken_demo::BENCH_ME_PATH]
        );
    }
}
