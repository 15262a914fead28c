//! [`token_routes`]: the core's token endpoints as Rocket routes to mount.

use std::marker::PhantomData;

use authtoken::endpoints::{EndpointError, LoginForm, NewTokenForm, TokenEndpoints};
use authtoken::{Identity, Rejection};
use rocket::data::{Data, FromData};
use rocket::form::{Form, FromForm};
use rocket::http::{Method, Status};
use rocket::outcome::Outcome::{Error, Forward, Success};
use rocket::request::Request;
use rocket::route::{Handler, Outcome, Route};
use rocket::serde::json::Json;

use crate::guard::client_address;
use crate::rejection::http_response;
use crate::{AuthRejection, Authenticated};

/// The token endpoints of DESIGN.md as routes to mount under the application's
/// prefix: `POST /token` (JSON or form login), `POST /logout`, `POST /logout-all`,
/// `GET /tokens`, `POST /tokens`, `DELETE /tokens/<id>`, at the `endpoints`' policy's
/// [`TokenPaths`](authtoken::endpoints::TokenPaths).
///
/// The routes read the [`TokenEndpoints<U>`] from managed state, and their
/// [`Authenticated<U>`] guard reads the `Authenticator<U>`: manage both, the
/// endpoints' own authenticator (`.manage(endpoints.authenticator().clone())`, or
/// [`AuthFairing`](crate::AuthFairing)). A route whose endpoints are not managed
/// answers 500 and logs why. Every other error, a body Rocket could not read and a
/// failed guard included, is JSON in the endpoints' shape
/// ([`TokenEndpoints::error_response`]); no catcher is needed.
///
/// ```
/// use authtoken::endpoints::{CheckCredentials, TokenEndpoints, TokenPolicy};
/// use authtoken::{Authenticator, MemoryStore, UserIdLoader};
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
/// let endpoints = TokenEndpoints::new(auth.clone(), Users, policy)?;
/// let rocket = rocket::build()
///     .manage(auth)
///     .mount("/api", authtoken_rocket::token_routes(&endpoints))
///     .manage(endpoints);
/// # let _ = rocket; Ok(()) }
/// ```
pub fn token_routes<U: Send + Sync + 'static>(endpoints: &TokenEndpoints<U>) -> Vec<Route> {
    let paths = endpoints.paths();
    let one = format!("{}/<id>", paths.tokens);
    [
        (Method::Post, &paths.login, Endpoint::Login),
        (Method::Post, &paths.logout, Endpoint::Logout),
        (Method::Post, &paths.logout_all, Endpoint::LogoutAll),
        (Method::Get, &paths.tokens, Endpoint::List),
        (Method::Post, &paths.tokens, Endpoint::Create),
        (Method::Delete, &one, Endpoint::Revoke),
    ]
    .into_iter()
    .map(|(method, path, endpoint)| Route::new(method, path, Handle::<U>(endpoint, PhantomData)))
    .collect()
}

/// Which endpoint a route runs.
#[derive(Clone, Copy)]
enum Endpoint {
    Login,
    Logout,
    LogoutAll,
    List,
    Create,
    Revoke,
}

/// A route's handler: the endpoint, for user type `U`.
struct Handle<U>(Endpoint, PhantomData<fn() -> U>);

impl<U> Clone for Handle<U> {
    fn clone(&self) -> Self {
        Self(self.0, PhantomData)
    }
}

#[rocket::async_trait]
impl<U: Send + Sync + 'static> Handler for Handle<U> {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let Some(endpoints) = request.rocket().state::<TokenEndpoints<U>>() else {
            rocket::error!(
                "authtoken: manage a `TokenEndpoints<{}>` for `token_routes`",
                std::any::type_name::<U>()
            );
            return Outcome::Error(Status::InternalServerError);
        };
        match run(self.0, endpoints, request, data).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Success(http_response(endpoints.error_response(&error))),
        }
    }
}

/// Runs `endpoint`: the answer on success, the error to answer in the endpoints'
/// shape otherwise.
async fn run<'r, U: Send + Sync + 'static>(
    endpoint: Endpoint,
    endpoints: &TokenEndpoints<U>,
    request: &'r Request<'_>,
    data: Data<'r>,
) -> Result<Outcome<'r>, EndpointError> {
    Ok(match endpoint {
        Endpoint::Login => {
            let client = client_address(request, endpoints.authenticator());
            let form = read_login(request, data).await?;
            Outcome::from(request, Json(endpoints.login(client, form).await?))
        }
        Endpoint::Logout => {
            endpoints.logout(&caller(request).await?).await?;
            Outcome::from(request, Status::NoContent)
        }
        Endpoint::LogoutAll => {
            endpoints.logout_all(&caller(request).await?).await?;
            Outcome::from(request, Status::NoContent)
        }
        Endpoint::List => Outcome::from(
            request,
            Json(endpoints.list(&caller(request).await?).await?),
        ),
        Endpoint::Create => {
            let user = caller(request).await?;
            let form = read::<Json<NewTokenForm>>(request, data)
                .await?
                .into_inner();
            let created = endpoints.create(&user, form).await?;
            Outcome::from(request, (Status::Created, Json(created)))
        }
        Endpoint::Revoke => {
            let user = caller(request).await?;
            // The segment after the mount point's `tokens`: `<id>`.
            let id = request.param::<&str>(1).and_then(Result::ok);
            endpoints.revoke(&user, id.unwrap_or_default()).await?;
            Outcome::from(request, Status::NoContent)
        }
    })
}

/// The caller, by this crate's [`Authenticated`] guard, or its rejection as an
/// endpoint error, so that the application's error shape covers it too.
async fn caller<U: Send + Sync + 'static>(
    request: &Request<'_>,
) -> Result<Identity<U>, EndpointError> {
    let user = request
        .guard::<Result<Authenticated<U>, AuthRejection>>()
        .await;
    // The guard never forwards; were it to, the request could not be authenticated.
    let user = user.succeeded().unwrap_or_else(|| {
        Err(Rejection::missing_authenticator::<U>("manage an authtoken::Authenticator<U>").into())
    });
    user.map(Authenticated::into_inner)
        .map_err(|rejection| EndpointError::Auth(rejection.into_inner()))
}

/// The fields of a form login, read by Rocket's own form parser.
#[derive(FromForm)]
struct LoginFields {
    username: Option<String>,
    password: Option<String>,
}

/// `POST token`'s body: a form when it says `application/x-www-form-urlencoded`,
/// JSON when it says JSON, each read by Rocket's own data guard; 415 otherwise.
async fn read_login<'r>(
    request: &'r Request<'_>,
    data: Data<'r>,
) -> Result<LoginForm, EndpointError> {
    match request.content_type() {
        Some(kind) if kind.is_form() => {
            let fields = read::<Form<LoginFields>>(request, data).await?.into_inner();
            let password = fields.password.map(Into::into);
            Ok(LoginForm {
                username: fields.username,
                password,
            })
        }
        Some(kind) if kind.is_json() || kind.sub().as_str().ends_with("+json") => {
            Ok(read::<Json<LoginForm>>(request, data).await?.into_inner())
        }
        _ => Err(EndpointError::UnsupportedMediaType),
    }
}

/// A body read by Rocket's data guard `T`; what it could not read as the endpoints'
/// 400, 413 or 415.
async fn read<'r, T>(request: &'r Request<'_>, data: Data<'r>) -> Result<T, EndpointError>
where
    T: FromData<'r>,
    T::Error: std::fmt::Display,
{
    match T::from_data(request, data).await {
        Success(value) => Ok(value),
        Error((Status::PayloadTooLarge, _)) => Err(EndpointError::PayloadTooLarge),
        Error((_, error)) => Err(EndpointError::MalformedBody(error.to_string())),
        // Rocket's form guard forwards a body of another media type.
        Forward(_) => Err(EndpointError::UnsupportedMediaType),
    }
}
