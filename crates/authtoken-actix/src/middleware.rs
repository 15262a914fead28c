//! [`AuthMiddleware`]: authenticates each request once and leaves the outcome in
//! the request extensions for the extractors.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::AUTHORIZATION;
use actix_web::{Error, HttpMessage, HttpRequest, ResponseError};
use authtoken::{AuthError, Authentication, Authenticator};

use crate::AuthRejection;

/// Answers `question` from the [`Authentication`] that [`AuthMiddleware`] stored
/// for `U`: a core error becomes a rejection with the deciding authenticator's
/// challenge, and a missing middleware the 500 rejection naming it.
pub(crate) fn ask<U, T>(
    req: &HttpRequest,
    question: impl FnOnce(&Authentication<U>) -> Result<T, AuthError>,
) -> Result<T, AuthRejection>
where
    U: Send + Sync + 'static,
{
    let extensions = req.extensions();
    let authentication = extensions
        .get::<Authentication<U>>()
        .ok_or_else(AuthRejection::missing_middleware::<U>)?;
    question(authentication)
        .map_err(|error| AuthRejection::new(error, authentication.challenge().clone()))
}

/// actix-web middleware that authenticates every request it wraps, once.
///
/// Register it with [`App::wrap`](actix_web::App::wrap) or
/// [`Scope::wrap`](actix_web::Scope::wrap). For each request it reads every
/// `Authorization` header value, calls [`Authenticator::authenticate_headers`] once,
/// and stores the outcome, an [`Authentication<U>`], in the request extensions, where
/// [`Authenticated`](crate::Authenticated),
/// [`MaybeAuthenticated`](crate::MaybeAuthenticated) and
/// [`RequireScope`](crate::RequireScope) find it (and a handler that decides for
/// itself, through `web::ReqData<Authentication<U>>`). However many extractors a
/// handler takes, and however many `AuthMiddleware`s for the same user type are
/// nested, the request is authenticated at most once: the first one to run decides.
///
/// By default every request passes through, anonymous or not: the extractors
/// decide. [`AuthMiddleware::require_authentication`] makes the middleware itself
/// answer a request that did not authenticate (anonymous: 401 "Authentication
/// credentials were not provided."; a bad token: its own error), for a whole scope,
/// before any handler runs.
///
/// A failure of the token store is stored like any other error (503 from the
/// extractors), never turned into anonymous.
pub struct AuthMiddleware<U> {
    authenticator: Authenticator<U>,
    required: bool,
}

impl<U: Send + Sync + 'static> AuthMiddleware<U> {
    /// Authenticates with `authenticator`; anonymous requests pass through.
    pub fn new(authenticator: Authenticator<U>) -> Self {
        Self {
            authenticator,
            required: false,
        }
    }

    /// Answers every request that does not authenticate with the core's error
    /// response (401 when anonymous) before it reaches a handler.
    #[must_use]
    pub fn require_authentication(mut self) -> Self {
        self.required = true;
        self
    }
}

impl<U> Clone for AuthMiddleware<U> {
    fn clone(&self) -> Self {
        Self {
            authenticator: self.authenticator.clone(),
            required: self.required,
        }
    }
}

impl<U> fmt::Debug for AuthMiddleware<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddleware")
            .field("authenticator", &self.authenticator)
            .field("required", &self.required)
            .finish()
    }
}

impl<S, B, U> Transform<S, ServiceRequest> for AuthMiddleware<U>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    U: Send + Sync + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = AuthMiddlewareService<S, U>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthMiddlewareService {
            service: Rc::new(service),
            authenticator: self.authenticator.clone(),
            required: self.required,
        }))
    }
}

/// The service [`AuthMiddleware`] wraps around the routes; built by actix-web.
pub struct AuthMiddlewareService<S, U> {
    service: Rc<S>,
    authenticator: Authenticator<U>,
    required: bool,
}

impl<S, U> fmt::Debug for AuthMiddlewareService<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddlewareService")
            .field("authenticator", &self.authenticator)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl<S, B, U> Service<ServiceRequest> for AuthMiddlewareService<S, U>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    U: Send + Sync + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let authenticator = self.authenticator.clone();
        let required = self.required;
        Box::pin(async move {
            let existing = req.extensions().get::<Authentication<U>>().cloned();
            let authentication = match existing {
                Some(authentication) => authentication,
                None => {
                    let values = req.headers().get_all(AUTHORIZATION);
                    // The invalid-token limiter counts by the connection's peer
                    // address (not a forwarded header a client could forge).
                    let client = req.peer_addr().map(|address| address.ip());
                    let authentication = authenticator
                        .authenticate_request_from(client, values.map(|value| value.as_bytes()))
                        .await;
                    req.extensions_mut().insert(authentication.clone());
                    authentication
                }
            };
            if required && let Err(error) = authentication.require() {
                let rejection = AuthRejection::new(error, authentication.challenge().clone());
                let response = req.into_response(rejection.error_response());
                return Ok(response.map_into_right_body());
            }
            service
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}
