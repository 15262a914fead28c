//! [`AuthMiddleware`]: authenticates each request once and leaves the outcome in
//! the request extensions for the extractors.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::{Error, HttpMessage, HttpRequest, ResponseError};
use authtoken::{Authentication, Authenticator, PendingAuthentication, Rejection};
use pin_project_lite::pin_project;

use crate::AuthRejection;

/// Answers `question` from the [`Authentication`] that [`AuthMiddleware`] stored
/// for `U`; without one, the core's [`Rejection::MissingAuthenticator`] (500, logged
/// with the way to fix it).
pub(crate) fn ask<U, T>(
    req: &HttpRequest,
    question: impl FnOnce(&Authentication<U>) -> Result<T, Rejection>,
) -> Result<T, AuthRejection>
where
    U: Send + Sync + 'static,
{
    let extensions = req.extensions();
    let Some(authentication) = extensions.get::<Authentication<U>>() else {
        return Err(Rejection::missing_authenticator::<U>(
            "register authtoken_actix::AuthMiddleware with App::wrap or Scope::wrap",
        )
        .into());
    };
    question(authentication).map_err(AuthRejection::from)
}

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
    type Future = ResponseFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let existing = req.extensions().get::<Authentication<U>>().cloned();
        let authentication = match existing {
            Some(authentication) => authentication,
            None => {
                let values = req.headers().get_all(AUTHORIZATION);
                // The invalid-token limiter's client: the peer address, or the trusted
                // proxy's header when the application names one (never a forwarded
                // header a client could forge).
                let auth = &self.authenticator;
                let trusted = auth.trusted_client_ip_header().into_iter();
                let forwarded = trusted.flat_map(|name| req.headers().get_all(name));
                let peer = req.peer_addr().map(|address| address.ip());
                let client = auth.client_address(peer, forwarded.map(HeaderValue::as_bytes));
                let now = self
                    .authenticator
                    .authenticate_request_now(client, values.map(HeaderValue::as_bytes));
                match now {
                    Ok(authentication) => authentication,
                    Err(pending) => return self.call_after_store(req, pending),
                }
            }
        };
        // Memory answered: no boxed future, the service is called as it is.
        if self.required
            && let Err(error) = authentication.require()
        {
            return ResponseFuture {
                kind: FutureKind::Rejected {
                    response: Some(reject(req, error, authentication)),
                },
            };
        }
        req.extensions_mut().insert(authentication);
        ResponseFuture {
            kind: FutureKind::Inner {
                future: self.service.call(req),
            },
        }
    }
}

impl<S, U> AuthMiddlewareService<S, U> {
    /// A token the cache does not hold: the store is asked before the service is
    /// called.
    fn call_after_store<B>(
        &self,
        req: ServiceRequest,
        pending: PendingAuthentication<U>,
    ) -> ResponseFuture<S::Future, B>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
        B: MessageBody + 'static,
        U: Send + Sync + 'static,
    {
        let service = Rc::clone(&self.service);
        let required = self.required;
        let future = Box::pin(async move {
            let authentication = pending.finish().await;
            if required && let Err(error) = authentication.require() {
                return Ok(reject(req, error, authentication));
            }
            req.extensions_mut().insert(authentication);
            service
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        });
        ResponseFuture {
            kind: FutureKind::Store { future },
        }
    }
}

/// The answer of a middleware made with [`AuthMiddleware::require_authentication`]
/// to a request without a user.
fn reject<U: Send + Sync + 'static, B>(
    req: ServiceRequest,
    rejection: Rejection,
    authentication: Authentication<U>,
) -> ServiceResponse<EitherBody<B>> {
    let rejection = AuthRejection::from(rejection);
    // Kept on the request for the middleware outside (a request log, say).
    req.extensions_mut().insert(authentication);
    req.into_response(rejection.error_response())
        .map_into_right_body()
}

type BoxedResponse<B> =
    Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, Error>>>>;

pin_project! {
    /// The future of [`AuthMiddlewareService`]: the service's own future when memory
    /// answered (no credentials, a rejected or cached token), a ready rejection, or a
    /// boxed future that asks the store first.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: FutureKind<F, B>,
    }
}

pin_project! {
    #[project = FutureKindProj]
    enum FutureKind<F, B> {
        Inner { #[pin] future: F },
        Rejected { response: Option<ServiceResponse<EitherBody<B>>> },
        Store { future: BoxedResponse<B> },
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            FutureKind::Inner { .. } => "inner",
            FutureKind::Rejected { .. } => "rejected",
            FutureKind::Store { .. } => "store",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F, B> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            FutureKindProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(ServiceResponse::map_into_left_body)),
            FutureKindProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after it completed"),
            },
            FutureKindProj::Store { future } => future.as_mut().poll(cx),
        }
    }
}
