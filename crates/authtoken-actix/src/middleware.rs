//! [`AuthMiddleware`]: authenticates each request once and leaves the outcome in
//! the request extensions for the extractors.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::{Error, HttpMessage, HttpRequest};
use authtoken::{Authentication, Authenticator, PendingAuthentication};
use pin_project_lite::pin_project;

use crate::AuthRejection;

/// What the middleware answers: the service's response, or a refusal.
type Response<B> = ServiceResponse<EitherBody<B>>;

/// actix-web middleware that authenticates every request it wraps, once.
///
/// Register it with [`App::wrap`](actix_web::App::wrap) or
/// [`Scope::wrap`](actix_web::Scope::wrap). For each request it reads every
/// `Authorization` header value, authenticates once (from memory, without a boxed
/// future, when it can: [`Authenticator::authenticate_request_now`]; else asking the
/// store first), and stores the outcome, an [`Authentication<U>`], in the request extensions, where
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
///
/// With the invalid-token limiter on, a client is named by
/// [`Authenticator::client_address`]: the connection's peer address
/// ([`ServiceRequest::peer_addr`]), or the address in the header configured with
/// [`InvalidTokenLimit::trusted_client_ip_header`](authtoken::InvalidTokenLimit::trusted_client_ip_header),
/// and no forwarded header otherwise.
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

    /// Leaves the request's [`Authentication`] in its extensions, unless an outer
    /// middleware did; `Err` when the store must be asked first.
    fn authenticate_now(&self, req: &ServiceRequest) -> Result<(), PendingAuthentication<U>> {
        if req.extensions().contains::<Authentication<U>>() {
            return Ok(());
        }
        let auth = &self.authenticator;
        let client = client_address(auth, req.request());
        let values = req.headers().get_all(AUTHORIZATION);
        let outcome = auth.authenticate_request_now(client, values.map(HeaderValue::as_bytes))?;
        req.extensions_mut().insert(outcome);
        Ok(())
    }

    /// The service's future for `req`, or, when this middleware requires a user and
    /// the request has none, the refusal.
    fn admit<S, B>(&self, service: &S, req: ServiceRequest) -> ResponseFuture<S::Future, B>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    {
        let refused = self.required.then(|| {
            let extensions = req.extensions();
            extensions.get::<Authentication<U>>()?.require().err()
        });
        let Some(rejection) = refused.flatten() else {
            return ResponseFuture::Inner {
                future: service.call(req),
            };
        };
        let refusal = req.error_response(AuthRejection::from(rejection));
        let future = ready(Ok(refusal.map_into_right_body()));
        ResponseFuture::Refused { future }
    }
}

/// The address the invalid-token limiter and the login throttle count `req` under:
/// [`Authenticator::client_address`] of the peer address and the trusted client-IP
/// header's values.
pub(crate) fn client_address<U: Send + Sync + 'static>(
    auth: &Authenticator<U>,
    req: &HttpRequest,
) -> Option<IpAddr> {
    let trusted = auth.trusted_client_ip_header().into_iter();
    let forwarded = trusted.flat_map(|name| req.headers().get_all(name));
    let peer = req.peer_addr().map(|address| address.ip());
    auth.client_address(peer, forwarded.map(HeaderValue::as_bytes))
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

// Whatever services the middleware's own service wraps (its bounds, below).
impl<S, B, U> Transform<S, ServiceRequest> for AuthMiddleware<U>
where
    AuthMiddlewareService<S, U>: Service<ServiceRequest, Response = Response<B>, Error = Error>,
{
    type Response = Response<B>;
    type Error = Error;
    type Transform = AuthMiddlewareService<S, U>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthMiddlewareService {
            service: Rc::new(service),
            middleware: self.clone(),
        }))
    }
}

/// The service [`AuthMiddleware`] wraps around the routes; built by actix-web.
pub struct AuthMiddlewareService<S, U> {
    service: Rc<S>,
    middleware: AuthMiddleware<U>,
}

impl<S, U> fmt::Debug for AuthMiddlewareService<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddlewareService")
            .field("middleware", &self.middleware)
            .finish_non_exhaustive()
    }
}

impl<S, B, U> Service<ServiceRequest> for AuthMiddlewareService<S, U>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    U: Send + Sync + 'static,
{
    type Response = Response<B>;
    type Error = Error;
    type Future = ResponseFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        match self.middleware.authenticate_now(&req) {
            // Memory answered: no boxed future, the service is called as it is.
            Ok(()) => self.middleware.admit(&*self.service, req),
            // A token the cache does not hold: the store is asked first.
            Err(pending) => {
                let (service, middleware) = (Rc::clone(&self.service), self.middleware.clone());
                ResponseFuture::Store {
                    future: Box::pin(async move {
                        let authentication = pending.finish().await;
                        req.extensions_mut().insert(authentication);
                        middleware.admit(&*service, req).await
                    }),
                }
            }
        }
    }
}

type BoxedResponse<B> = Pin<Box<dyn Future<Output = Result<Response<B>, Error>>>>;

pin_project! {
    /// The future of [`AuthMiddlewareService`], an enum of what can happen to a
    /// request, as actix-web's own middleware futures are.
    // Each variant's one field is its future (pin-project-lite takes no doc comments
    // on fields).
    #[allow(missing_docs)]
    #[project = ResponseFutureProj]
    pub enum ResponseFuture<F, B> {
        /// Memory answered (no credentials, a rejected or cached token): the
        /// service's own future.
        Inner { #[pin] future: F },
        /// A middleware that requires a user refused the request.
        Refused { #[pin] future: Ready<Result<Response<B>, Error>> },
        /// The store is asked first, then the service is called.
        Store { future: BoxedResponse<B> },
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<Response<B>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(ServiceResponse::map_into_left_body)),
            ResponseFutureProj::Refused { future } => future.poll(cx),
            ResponseFutureProj::Store { future } => future.as_mut().poll(cx),
        }
    }
}
