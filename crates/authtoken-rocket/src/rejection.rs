//! [`AuthRejection`]: the core's [`Rejection`](authtoken::Rejection), answered by Rocket.

use std::io::Cursor;
use std::sync::{Mutex, PoisonError};

use authtoken::ErrorResponse;
use rocket::http::Status;
use rocket::request::{Outcome, Request};
use rocket::response::{self, Responder, Response};

authtoken::rejection_newtype! {
    /// Why a guard of this crate refused a request: the core's [`Rejection`](authtoken::Rejection), with the
    /// one Rocket trait it needs, [`Responder`].
    ///
    /// It dereferences to the [`Rejection`](authtoken::Rejection), which has every accessor (`status()`,
    /// `error()`, `retry_after()`, `www_authenticate()`, `body()`) and can be matched
    /// on. It is the guards' `FromRequest::Error`, so a route can take
    /// `Result<Authenticated<U>, AuthRejection>` and decide for itself. As a
    /// [`Responder`] it sends what [`Rejection::response`](authtoken::Rejection::response) says: the status,
    /// `WWW-Authenticate`, `Retry-After`, the `application/json` content type and the
    /// `{"detail": "..."}` body.
    ///
    /// When a guard fails, Rocket hands the request to the catcher for the status and
    /// forgets the guard's error; the guards therefore also record their rejection in
    /// the request-local cache, where [`crate::catchers`] (or a catcher of your own,
    /// through [`AuthRejection::recorded`]) finds it.
    ///
    /// A guard that finds no `Authenticator<U>` managed (possible only when it is run by
    /// hand with [`Request::guard`]: routes' guards are sentinels and stop the launch)
    /// fails with the core's [`Rejection::MissingAuthenticator`](authtoken::Rejection::MissingAuthenticator), a 500.
    ///
    /// ```
    /// use authtoken::{AuthError, Challenge, Rejection};
    /// use authtoken_rocket::AuthRejection;
    ///
    /// let rejection = AuthRejection::from(Rejection::new(AuthError::InvalidToken, Challenge::bearer("api")));
    /// assert_eq!(rejection.status(), 401);
    /// assert_eq!(rejection.body(), r#"{"detail":"Invalid token."}"#);
    /// assert!(matches!(*rejection, Rejection::Auth { error: AuthError::InvalidToken, .. }));
    /// ```
    pub struct AuthRejection;
}

impl AuthRejection {
    /// The rejection a guard of this crate recorded for `request`, if one failed.
    ///
    /// This is what [`crate::catchers`] answer with; a catcher of your own can do the
    /// same (compare its `status()` with the status it catches: a guard whose
    /// failure the route absorbed, with `Option` or `Result`, leaves its rejection
    /// recorded too).
    pub fn recorded(request: &Request<'_>) -> Option<Self> {
        recorded(request).clone()
    }

    /// Records `self` for the catchers and turns it into a failed guard outcome.
    pub(crate) fn fail<T>(self, request: &Request<'_>) -> Outcome<T, Self> {
        *recorded(request) = Some(self.clone());
        Outcome::Error((Status::new(self.status()), self))
    }
}

/// The last rejection of a guard of this crate, in the request-local cache.
#[derive(Default)]
struct Recorded(Mutex<Option<AuthRejection>>);

fn recorded<'r>(request: &'r Request<'_>) -> std::sync::MutexGuard<'r, Option<AuthRejection>> {
    let recorded = request.local_cache(Recorded::default);
    recorded.0.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<'r> Responder<'r, 'static> for AuthRejection {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Ok(http_response(self.0.response()))
    }
}

/// The core's error answer as a Rocket response: the status, `WWW-Authenticate`,
/// `Retry-After`, the `application/json` content type and the body.
pub(crate) fn http_response(answer: ErrorResponse) -> Response<'static> {
    let mut response = Response::build();
    response
        .status(Status::new(answer.status))
        .raw_header("Content-Type", ErrorResponse::CONTENT_TYPE);
    if let Some(seconds) = answer.retry_after {
        response.raw_header("Retry-After", seconds.to_string());
    }
    // Rocket's header values are `str`s; the core's challenge is ASCII.
    if let Some(challenge) = answer.www_authenticate {
        response.raw_header(
            "WWW-Authenticate",
            String::from_utf8_lossy(&challenge).into_owned(),
        );
    }
    let body = answer.body;
    response
        .sized_body(body.len(), Cursor::new(body))
        .finalize()
}
