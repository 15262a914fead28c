//! [`token_routes`]: the core's token endpoints as an axum `Router` to nest.

use std::net::IpAddr;

use authtoken::endpoints::{EndpointError, LoginForm, NewTokenForm, TokenEndpoints};
use authtoken::{Authenticator, ErrorResponse};
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRef, FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};

use crate::layer::client_address;
use crate::{AuthRejection, Authenticated};

/// The routes' state: the endpoints, whose authenticator the extractors use.
struct Endpoints<U>(TokenEndpoints<U>);

impl<U> Clone for Endpoints<U> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<U: Send + Sync + 'static> FromRef<Endpoints<U>> for Authenticator<U> {
    fn from_ref(endpoints: &Endpoints<U>) -> Self {
        endpoints.0.authenticator().clone()
    }
}

/// The token endpoints of DESIGN.md as a `Router` to nest under the application's
/// prefix: `POST token` (JSON or form login), `POST logout`, `POST logout-all`,
/// `GET tokens`, `POST tokens`, `DELETE tokens/{id}`, at the policy's
/// [`TokenPaths`](authtoken::endpoints::TokenPaths). Every error, a body the
/// framework could not read included, is JSON in the endpoints' shape
/// ([`TokenEndpoints::error_body`]).
///
/// ```
/// use authtoken::endpoints::{CheckCredentials, TokenEndpoints, TokenPolicy};
/// use authtoken::{Authenticator, MemoryStore, UserIdLoader};
/// use axum::Router;
///
/// struct Users;
/// impl CheckCredentials for Users {
///     type Error = std::convert::Infallible;
///     async fn check(&self, name: &str, password: &str) -> Result<Option<String>, Self::Error> {
///         Ok((name == "alice" && password == "wonderland").then(|| "1".to_owned()))
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader).build()?;
/// let policy = TokenPolicy::new(["read", "write", "tokens"]);
/// let endpoints = TokenEndpoints::new(auth, Users, policy)?;
/// let app: Router = Router::new().nest("/api", authtoken_axum::token_routes(endpoints));
/// # let _ = app; Ok(()) }
/// ```
pub fn token_routes<U, S>(endpoints: TokenEndpoints<U>) -> Router<S>
where
    U: Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    let paths = endpoints.paths();
    Router::new()
        .route(&paths.login, post(login::<U>))
        .route(&paths.logout, post(logout::<U>))
        .route(&paths.logout_all, post(logout_all::<U>))
        .route(&paths.tokens, get(list::<U>).post(create::<U>))
        .route(&format!("{}/{{id}}", paths.tokens), delete(revoke::<U>))
        .method_not_allowed_fallback(method_not_allowed::<U>)
        .with_state(Endpoints(endpoints))
}

/// An endpoint's answer: `ok` with its status, or the error in the endpoints' shape.
fn answer<U, T: IntoResponse>(
    endpoints: &Endpoints<U>,
    result: Result<T, EndpointError>,
) -> Response
where
    U: Send + Sync + 'static,
{
    match result {
        Ok(ok) => ok.into_response(),
        Err(error) => error_response(endpoints.0.error_response(&error)),
    }
}

/// The core's error answer as an axum response.
fn error_response(answer: ErrorResponse) -> Response {
    crate::rejection::http_response(answer)
}

/// A body axum could not read, as the endpoints' 400, 413 or 415.
fn unreadable(status: StatusCode, text: String) -> EndpointError {
    match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => EndpointError::UnsupportedMediaType,
        StatusCode::PAYLOAD_TOO_LARGE => EndpointError::PayloadTooLarge,
        _ => EndpointError::MalformedBody(text),
    }
}

/// `POST token`'s body: a form when it says `application/x-www-form-urlencoded`,
/// JSON otherwise, each read by axum's own extractor.
async fn read_login(request: Request) -> Result<LoginForm, EndpointError> {
    let form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if form {
        let read = Form::<LoginForm>::from_request(request, &()).await;
        read.map(|Form(form)| form)
            .map_err(|rejection: FormRejection| {
                unreadable(rejection.status(), rejection.body_text())
            })
    } else {
        let read = Json::<LoginForm>::from_request(request, &()).await;
        read.map(|Json(form)| form)
            .map_err(|rejection: JsonRejection| {
                unreadable(rejection.status(), rejection.body_text())
            })
    }
}

async fn login<U: Send + Sync + 'static>(
    State(endpoints): State<Endpoints<U>>,
    request: Request,
) -> Response {
    let client: Option<IpAddr> = client_address(
        endpoints.0.authenticator(),
        request.headers(),
        request.extensions(),
    );
    let result = match read_login(request).await {
        Ok(form) => endpoints.0.login(client, form).await.map(Json),
        Err(error) => Err(error),
    };
    answer(&endpoints, result)
}

async fn method_not_allowed<U: Send + Sync + 'static>(
    State(endpoints): State<Endpoints<U>>,
) -> Response {
    answer::<U, ()>(&endpoints, Err(EndpointError::MethodNotAllowed))
}

/// A handler for an authenticated caller: `$answer`, an expression using the
/// endpoints `$endpoints`, the caller `$user` and the handler's other arguments, is
/// awaited and answered; a refused caller gets the rejection in the endpoints' shape
/// (so that the application's error shape covers it too).
macro_rules! for_caller {
    ($name:ident($($arg:ident: $type:ty),*), |$endpoints:ident, $user:ident| $answer:expr) => {
        async fn $name<U: Send + Sync + 'static>(
            State(endpoints): State<Endpoints<U>>,
            user: Result<Authenticated<U>, AuthRejection>,
            $($arg: $type),*
        ) -> Response {
            let result = match user {
                Ok($user) => {
                    let $endpoints = &endpoints.0;
                    $answer.await
                }
                Err(rejection) => Err(EndpointError::Auth(rejection.into_inner())),
            };
            answer(&endpoints, result)
        }
    };
}

for_caller!(logout(), |endpoints, user| async {
    endpoints
        .logout(&user)
        .await
        .map(|()| StatusCode::NO_CONTENT)
});

for_caller!(logout_all(), |endpoints, user| async {
    endpoints
        .logout_all(&user)
        .await
        .map(|()| StatusCode::NO_CONTENT)
});

for_caller!(list(), |endpoints, user| async {
    endpoints.list(&user).await.map(Json)
});

for_caller!(
    create(form: Result<Json<NewTokenForm>, JsonRejection>),
    |endpoints, user| async {
        let Json(form) = form.map_err(|rejection| unreadable(rejection.status(), rejection.body_text()))?;
        let created = endpoints.create(&user, form).await?;
        Ok((StatusCode::CREATED, Json(created)))
    }
);

for_caller!(revoke(id: Path<String>), |endpoints, user| async {
    endpoints.revoke(&user, &id.0).await.map(|()| StatusCode::NO_CONTENT)
});
