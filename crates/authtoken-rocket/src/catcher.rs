//! [`catchers`]: the responses of failed guards, with the core's body and challenge.

use rocket::Catcher;
use rocket::catcher::BoxFuture;
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::Responder;

use crate::AuthRejection;

/// The name the catchers of this crate carry (shown in Rocket's launch log).
const CATCHER_NAME: &str = "authtoken_rocket::catchers";

/// The status codes a guard of this crate can fail with, and that
/// [`catchers`] answer: 400 (conflicting `Authorization` headers), 401, 403 (missing
/// scope), 429 (invalid tokens throttled), 500 (no authenticator managed) and 503
/// (store unavailable).
pub const STATUSES: [u16; 6] = [400, 401, 403, 429, 500, 503];

/// Catchers for every status in [`STATUSES`], to register at the root:
/// `rocket.register("/", authtoken_rocket::catchers())`.
///
/// Rocket sends a request whose guard failed to the catcher for the status and
/// drops the guard's error; these catchers find the [`AuthRejection`] the guard
/// recorded and answer with the core's status, JSON body
/// (`content-type: application/json`), `WWW-Authenticate` and `Retry-After`
/// ([`authtoken::Rejection::response`]). A 400, 401, 403, 429, 500 or 503 that no
/// guard of this crate caused gets Rocket's default error page, as it would without
/// them.
///
/// If the application has catchers of its own for these statuses, it registers
/// those instead and answers with [`AuthRejection::recorded`] first.
pub fn catchers() -> Vec<Catcher> {
    STATUSES
        .iter()
        .map(|&code| {
            let mut catcher = Catcher::new(code, handle);
            catcher.name = Some(CATCHER_NAME.into());
            catcher
        })
        .collect()
}

fn handle<'r>(status: Status, request: &'r Request<'_>) -> BoxFuture<'r> {
    Box::pin(async move {
        match AuthRejection::recorded(request) {
            Some(rejection) if rejection.status() == status.code => rejection.respond_to(request),
            _ => Catcher::default().handler.handle(status, request).await,
        }
    })
}
