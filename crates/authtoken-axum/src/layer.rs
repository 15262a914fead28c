//! [`AuthLayer`] and [`AuthService`]: authenticate each request once, for any http
//! 1.x tower stack.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use authtoken::{Authentication, Authenticator, PendingAuthentication};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::{AuthRejection, ResponseBody};

/// Authenticates every request with an [`Authenticator`] and puts the outcome, an
/// [`Authentication<U>`], in the request extensions.
///
/// By default every request goes on to the inner service, and the handlers decide:
/// anonymous requests pass as anonymous, and a bad token or an unavailable store
/// passes as a stored error, which every extractor answers (a bad token is refused
/// even where a user is optional). With [`AuthLayer::require_authentication`] the
/// layer answers those requests itself, for everything it wraps.
///
/// Reads every `Authorization` header of the request and authenticates it once: from
/// memory without a future of its own when it can
/// ([`Authenticator::authenticate_request_now`]: no credentials, a malformed or
/// cached token), else asking the store first. A request that already carries an
/// [`Authentication<U>`] (from an outer `AuthLayer<U>`) is not authenticated again.
///
/// ```
/// use authtoken::{Authenticator, MemoryStore, UserIdLoader};
/// use authtoken_axum::AuthLayer;
/// use axum::{Router, routing::get};
///
/// # fn main() -> Result<(), authtoken::ConfigError> {
/// let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader).build()?;
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(AuthLayer::new(auth));
/// # let _ = app; Ok(()) }
/// ```
pub struct AuthLayer<U> {
    authenticator: Authenticator<U>,
    required: bool,
}

impl<U> AuthLayer<U> {
    /// A layer authenticating with `authenticator`, letting anonymous requests and
    /// failures through to the handlers.
    pub fn new(authenticator: Authenticator<U>) -> Self {
        Self {
            authenticator,
            required: false,
        }
    }

    /// Makes the layer itself answer every request that is not authenticated: 401
    /// when nothing or bad credentials were sent, 400 for conflicting headers, 503
    /// when the store is unavailable; status, challenge and body as the core decides.
    ///
    /// Every request it wraps needs credentials, CORS preflights included: put a CORS
    /// layer outside it, and routes that stay public (health checks) outside its
    /// router.
    #[must_use]
    pub fn require_authentication(mut self) -> Self {
        self.required = true;
        self
    }
}

impl<U> Clone for AuthLayer<U> {
    fn clone(&self) -> Self {
        Self {
            authenticator: self.authenticator.clone(),
            required: self.required,
        }
    }
}

impl<U> fmt::Debug for AuthLayer<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authenticator", &self.authenticator)
            .field("required", &self.required)
            .finish()
    }
}

impl<S, U> Layer<S> for AuthLayer<U> {
    type Service = AuthService<S, U>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authenticator: self.authenticator.clone(),
            required: self.required,
        }
    }
}

/// The service made by [`AuthLayer`]: see there.
pub struct AuthService<S, U> {
    inner: S,
    authenticator: Authenticator<U>,
    required: bool,
}

impl<S, U> AuthService<S, U> {
    /// Wraps `inner`, as [`AuthLayer::new`] would.
    pub fn new(inner: S, authenticator: Authenticator<U>) -> Self {
        AuthLayer::new(authenticator).layer(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, U> Clone for AuthService<S, U> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            authenticator: self.authenticator.clone(),
            required: self.required,
        }
    }
}

impl<S: fmt::Debug, U> fmt::Debug for AuthService<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("authenticator", &self.authenticator)
            .field("required", &self.required)
            .finish()
    }
}

pin_project! {
    /// The future of [`AuthService`]: the inner service's own future when memory
    /// answered (no credentials, a rejected or cached token), a ready rejection, or a
    /// boxed future that asks the store first.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: FutureKind<F, B, E>,
    }
}

pin_project! {
    #[project = FutureKindProj]
    enum FutureKind<F, B, E> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<ResponseBody<B>>> },
        Store { future: Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + Send + 'static>> },
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
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

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            FutureKindProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(ResponseBody::inner))),
            FutureKindProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after it completed"),
            },
            FutureKindProj::Store { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, U, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S, U>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    U: Send + Sync + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // An outer layer may have authenticated this request already.
        if request.extensions().get::<Authentication<U>>().is_none() {
            let values = request
                .headers()
                .get_all(AUTHORIZATION)
                .iter()
                .map(HeaderValue::as_bytes);
            let client = client_address(&request);
            match self.authenticator.authenticate_request_now(client, values) {
                Ok(authentication) => {
                    request.extensions_mut().insert(authentication);
                }
                Err(pending) => return self.call_after_store(request, pending),
            }
        }
        // Memory answered: no future of this layer's own, and the ready inner service
        // is called as it is.
        if self.required
            && let Some(authentication) = request.extensions().get::<Authentication<U>>()
            && let Err(error) = authentication.require()
        {
            return ResponseFuture {
                kind: FutureKind::Rejected {
                    response: Some(rejection_response(error, authentication)),
                },
            };
        }
        ResponseFuture {
            kind: FutureKind::Inner {
                future: self.inner.call(request),
            },
        }
    }
}

impl<S, U> AuthService<S, U> {
    /// The slow path: a token the cache does not hold. The store is asked before the
    /// inner service is called, so the ready service moves into the future and a
    /// clone stays here.
    fn call_after_store<ReqBody, ResBody>(
        &mut self,
        mut request: Request<ReqBody>,
        pending: PendingAuthentication<U>,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        ReqBody: Send + 'static,
        U: Send + Sync + 'static,
    {
        let mut inner = self.inner.clone();
        std::mem::swap(&mut self.inner, &mut inner);
        let required = self.required;
        let future = Box::pin(async move {
            let authentication = pending.finish().await;
            if required && let Err(error) = authentication.require() {
                return Ok(rejection_response(error, &authentication));
            }
            request.extensions_mut().insert(authentication);
            let response = inner.call(request).await?;
            Ok(response.map(ResponseBody::inner))
        });
        ResponseFuture {
            kind: FutureKind::Store { future },
        }
    }
}

/// The response of a layer made with [`AuthLayer::require_authentication`] to a
/// request without a user.
fn rejection_response<U: Send + Sync + 'static, B>(
    error: authtoken::AuthError,
    authentication: &Authentication<U>,
) -> Response<ResponseBody<B>> {
    AuthRejection::new(error, authentication.challenge().clone())
        .to_shared_response()
        .map(ResponseBody::rejection)
}

/// The peer address the invalid-token limiter counts a request under: axum's
/// `ConnectInfo<SocketAddr>` when the server was started with
/// `into_make_service_with_connect_info`, else a `SocketAddr` extension set by any
/// other stack; none means the request is never limited.
fn client_address<B>(request: &Request<B>) -> Option<std::net::IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(address)) =
        request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(address.ip());
    }
    request
        .extensions()
        .get::<std::net::SocketAddr>()
        .map(std::net::SocketAddr::ip)
}
