//! [`token_endpoints`]: the core's token endpoints as a `web::ServiceConfig` to
//! configure a scope with.

use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::web::{self, Data, Form, Json, ServiceConfig};
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use authtoken::Identity;
use authtoken::endpoints::{EndpointError, LoginForm, NewTokenForm, TokenEndpoints};

use crate::middleware::client_address;
use crate::rejection::http_response;
use crate::{AuthMiddleware, AuthRejection, Authenticated};

/// What the protected endpoints take: the caller, or why there is none.
type Caller<U> = Result<Authenticated<U>, AuthRejection>;
/// The media type of a form body.
const FORM: &str = "application/x-www-form-urlencoded";
/// The endpoints, as the routes' data.
type Endpoints<U> = Data<TokenEndpoints<U>>;

/// The token endpoints of DESIGN.md, for
/// [`Scope::configure`](actix_web::Scope::configure) (or `App::configure`) under the
/// application's prefix: `POST token` (JSON or form login), `POST logout`,
/// `POST logout-all`, `GET tokens`, `POST tokens`, `DELETE tokens/{id}`, at the
/// policy's [`TokenPaths`](authtoken::endpoints::TokenPaths). Every error,
/// a body actix-web could not read and another method on one of these paths (405,
/// [`EndpointError::MethodNotAllowed`]) included, is JSON in the endpoints' shape
/// ([`TokenEndpoints::error_body`]).
///
/// The protected routes are wrapped in an [`AuthMiddleware`] of the endpoints'
/// authenticator, so they need none from the application; when the application
/// wraps them in one too, its outcome is read, not authenticated twice. The login
/// route stays open: do not put it behind
/// [`AuthMiddleware::require_authentication`].
///
/// ```
/// use actix_web::{App, web};
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
/// let endpoints = TokenEndpoints::new(auth, Users, policy)?;
/// let app = App::new()
///     .service(web::scope("/api").configure(authtoken_actix::token_endpoints(endpoints)));
/// # let _ = app; Ok(()) }
/// ```
pub fn token_endpoints<U: Send + Sync + 'static>(
    endpoints: TokenEndpoints<U>,
) -> impl FnOnce(&mut ServiceConfig) {
    move |config| {
        let auth = AuthMiddleware::new(endpoints.authenticator().clone());
        let data = Data::new(endpoints);
        let open = |path| {
            let resource = web::resource(path).app_data(Data::clone(&data));
            resource.default_service(web::to(method_not_allowed::<U>))
        };
        let protected = |path| open(path).wrap(auth.clone());
        let paths = data.paths().clone();
        config.service(open(&paths.login).post(login::<U>));
        config.service(protected(&paths.logout).post(logout::<U>));
        config.service(protected(&paths.logout_all).post(logout_all::<U>));
        config.service(protected(&paths.tokens).get(list::<U>).post(create::<U>));
        let one = format!("{}/{{id}}", paths.tokens);
        config.service(protected(&one).delete(revoke::<U>));
    }
}

/// An endpoint `async fn $name(endpoints, $arg..)`: what `$body` returns, or the
/// error in the endpoints' shape ([`TokenEndpoints::error_response`]).
macro_rules! endpoint {
    ($name:ident($e:ident $(, $arg:ident: $ty:ty)*) $body:expr) => {
        async fn $name<U: Send + Sync + 'static>($e: Endpoints<U>, $($arg: $ty),*) -> HttpResponse {
            let result: Result<HttpResponse, EndpointError> = async { $body }.await;
            result.unwrap_or_else(|error| http_response($e.error_response(&error)))
        }
    };
}

/// The caller, or the rejection as an endpoint error (so that the application's error
/// shape covers it too).
fn caller<U>(user: Caller<U>) -> Result<Identity<U>, EndpointError> {
    Ok(user
        .map_err(|rejection| EndpointError::Auth(rejection.into_inner()))?
        .0)
}

/// A body actix-web could not read, as the endpoints' 400, 413 or 415 (actix-web
/// answers a JSON body of another media type with 400).
fn unreadable(error: &Error) -> EndpointError {
    let media = matches!(error.as_error(), Some(JsonPayloadError::ContentType));
    match error.as_response_error().status_code() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => EndpointError::UnsupportedMediaType,
        _ if media => EndpointError::UnsupportedMediaType,
        StatusCode::PAYLOAD_TOO_LARGE => EndpointError::PayloadTooLarge,
        _ => EndpointError::MalformedBody(error.to_string()),
    }
}

/// The answer of logout, logout-all and revoke.
fn no_content((): ()) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

// `POST token`: a form body when it says `application/x-www-form-urlencoded`, JSON
// otherwise, each read by actix-web's own extractor.
endpoint!(login(e, req: HttpRequest, body: web::Payload) {
    let client = client_address(e.authenticator(), &req);
    let body = &mut body.into_inner();
    let read: Result<LoginForm, _> = match req.content_type().eq_ignore_ascii_case(FORM) {
        true => Form::from_request(&req, body).await.map(Form::into_inner),
        false => Json::from_request(&req, body).await.map(Json::into_inner),
    };
    let form = read.map_err(|error| unreadable(&error))?;
    Ok(HttpResponse::Ok().json(e.login(client, form).await?))
});
endpoint!(method_not_allowed(e) Err(EndpointError::MethodNotAllowed));
endpoint!(logout(e, user: Caller<U>) e.logout(&caller(user)?).await.map(no_content));
endpoint!(logout_all(e, user: Caller<U>) e.logout_all(&caller(user)?).await.map(no_content));
endpoint!(list(e, user: Caller<U>) Ok(HttpResponse::Ok().json(e.list(&caller(user)?).await?)));
endpoint!(create(e, user: Caller<U>, form: Result<Json<NewTokenForm>, Error>) {
    let user = caller(user)?;
    let created = e.create(&user, form.map_err(|error| unreadable(&error))?.0).await?;
    Ok(HttpResponse::Created().json(created))
});
endpoint!(revoke(e, user: Caller<U>, id: web::Path<String>) {
    e.revoke(&caller(user)?, &id).await.map(no_content)
});
