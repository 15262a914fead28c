//! [`AuthLayer`] and [`AuthService`]: authenticate each request once, for any http
//! 1.x tower stack; [`RequireAuthLayer`] and [`RequireAuthService`]: the same, and
//! refuse a request that is not authenticated.

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
/// Every request goes on to the inner service, and the handlers decide: anonymous
/// requests pass as anonymous, and a bad token or an unavailable store passes as a
/// stored error, which every extractor answers (a bad token is refused even where a
/// user is optional). The layer never answers by itself, so its service's response
/// is the inner service's, body type included. [`AuthLayer::require_authentication`]
/// makes a layer that answers those requests itself.
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
}

impl<U> AuthLayer<U> {
    /// A layer authenticating with `authenticator`, letting anonymous requests and
    /// failures through to the handlers.
    pub fn new(authenticator: Authenticator<U>) -> Self {
        Self { authenticator }
    }

    /// A layer that answers every request that is not authenticated itself: see
    /// [`RequireAuthLayer`].
    #[must_use]
    pub fn require_authentication(self) -> RequireAuthLayer<U> {
        RequireAuthLayer::new(self.authenticator)
    }
}

/// `Clone`, `Debug` and `Layer` for a layer holding an authenticator, making `$service`.
macro_rules! layer_impls {
    ($layer:ident, $service:ident) => {
        impl<U> Clone for $layer<U> {
            fn clone(&self) -> Self {
                Self {
                    authenticator: self.authenticator.clone(),
                }
            }
        }

        impl<U> fmt::Debug for $layer<U> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($layer))
                    .field("authenticator", &self.authenticator)
                    .finish()
            }
        }

        impl<S, U> Layer<S> for $layer<U> {
            type Service = $service<S, U>;

            fn layer(&self, inner: S) -> Self::Service {
                $service {
                    inner,
                    authenticator: self.authenticator.clone(),
                }
            }
        }
    };
}

layer_impls!(AuthLayer, AuthService);

/// Authenticates every request as [`AuthLayer`] does, and answers every request that
/// is not authenticated itself: 401 when nothing or bad credentials were sent, 400
/// for conflicting headers, 503 when the store is unavailable; status, challenge and
/// body as the core decides. Its service's response body is a [`ResponseBody`]: the
/// inner service's body, or the rejection's.
///
/// Every request it wraps needs credentials, CORS preflights included: put a CORS
/// layer outside it, and routes that stay public (health checks) outside its router.
///
/// ```
/// use authtoken::{Authenticator, MemoryStore, UserIdLoader};
/// use authtoken_axum::AuthLayer;
/// use axum::{Router, routing::get};
///
/// # fn main() -> Result<(), authtoken::ConfigError> {
/// let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader).build()?;
/// let admin: Router = Router::new()
///     .route("/stats", get(|| async { "42 users" }))
///     .layer(AuthLayer::new(auth).require_authentication());
/// # let _ = admin; Ok(()) }
/// ```
pub struct RequireAuthLayer<U> {
    authenticator: Authenticator<U>,
}

impl<U> RequireAuthLayer<U> {
    /// A layer authenticating with `authenticator` and refusing every request that
    /// is not authenticated; the same as `AuthLayer::new(authenticator)
    /// .require_authentication()`.
    pub fn new(authenticator: Authenticator<U>) -> Self {
        Self { authenticator }
    }
}

layer_impls!(RequireAuthLayer, RequireAuthService);

/// A service that wraps an inner service and an authenticator, with the accessors
/// tower's own middleware has.
macro_rules! auth_service {
    ($(#[$doc:meta])* $name:ident, $layer:ident) => {
        $(#[$doc])*
        pub struct $name<S, U> {
            inner: S,
            authenticator: Authenticator<U>,
        }

        impl<S, U> $name<S, U> {
            #[doc = concat!("Wraps `inner`, as [`", stringify!($layer), "::new`] would.")]
            pub fn new(inner: S, authenticator: Authenticator<U>) -> Self {
                $layer::new(authenticator).layer(inner)
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

        impl<S: Clone, U> Clone for $name<S, U> {
            fn clone(&self) -> Self {
                Self {
                    inner: self.inner.clone(),
                    authenticator: self.authenticator.clone(),
                }
            }
        }

        impl<S: fmt::Debug, U> fmt::Debug for $name<S, U> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("inner", &self.inner)
                    .field("authenticator", &self.authenticator)
                    .finish()
            }
        }
    };
}

auth_service!(
    /// The service made by [`AuthLayer`]: see there. Its response is the inner
    /// service's.
    AuthService,
    AuthLayer
);

auth_service!(
    /// The service made by [`RequireAuthLayer`]: see there.
    RequireAuthService,
    RequireAuthLayer
);

/// The future of the slow path: the store is asked, then the inner service called.
type StoreFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

pin_project! {
    /// The future of [`AuthService`]: the inner service's own future when memory
    /// answered (no credentials, a rejected or cached token), or a boxed future that
    /// asks the store first.
    pub struct ResponseFuture<F, R, E> {
        #[pin]
        kind: PassKind<F, R, E>,
    }
}

pin_project! {
    #[project = PassKindProj]
    enum PassKind<F, R, E> {
        Inner { #[pin] future: F },
        Store { future: StoreFuture<R, E> },
    }
}

impl<F, R, E> fmt::Debug for ResponseFuture<F, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            PassKind::Inner { .. } => "inner",
            PassKind::Store { .. } => "store",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F, R, E> Future for ResponseFuture<F, R, E>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            PassKindProj::Inner { future } => future.poll(cx),
            PassKindProj::Store { future } => future.as_mut().poll(cx),
        }
    }
}

pin_project! {
    /// The future of [`RequireAuthService`]: the inner service's own future when
    /// memory answered (no credentials, a rejected or cached token), a ready
    /// rejection, or a boxed future that asks the store first.
    pub struct RequireAuthFuture<F, B, E> {
        #[pin]
        kind: RequireKind<F, B, E>,
    }
}

pin_project! {
    #[project = RequireKindProj]
    enum RequireKind<F, B, E> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<ResponseBody<B>>> },
        Store { future: StoreFuture<Response<ResponseBody<B>>, E> },
    }
}

impl<F, B, E> fmt::Debug for RequireAuthFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            RequireKind::Inner { .. } => "inner",
            RequireKind::Rejected { .. } => "rejected",
            RequireKind::Store { .. } => "store",
        };
        f.debug_struct("RequireAuthFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F, B, E> Future for RequireAuthFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            RequireKindProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(ResponseBody::inner))),
            RequireKindProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("RequireAuthFuture polled after it completed"),
            },
            RequireKindProj::Store { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, U, ReqBody> Service<Request<ReqBody>> for AuthService<S, U>
where
    S: Service<Request<ReqBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    U: Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if let Err(pending) = authenticate_now(&self.authenticator, &mut request) {
            let mut inner = take_ready(&mut self.inner);
            let future = Box::pin(async move {
                request.extensions_mut().insert(pending.finish().await);
                inner.call(request).await
            });
            return ResponseFuture {
                kind: PassKind::Store { future },
            };
        }
        // Memory answered: no future of this layer's own, and the ready inner service
        // is called as it is.
        ResponseFuture {
            kind: PassKind::Inner {
                future: self.inner.call(request),
            },
        }
    }
}

impl<S, U, ReqBody, ResBody> Service<Request<ReqBody>> for RequireAuthService<S, U>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    U: Send + Sync + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = RequireAuthFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match authenticate_now(&self.authenticator, &mut request) {
            Ok(authentication) => {
                if let Some(authentication) = authentication
                    && let Err(error) = authentication.require()
                {
                    return RequireAuthFuture {
                        kind: RequireKind::Rejected {
                            response: Some(rejection_response(error)),
                        },
                    };
                }
            }
            Err(pending) => {
                let mut inner = take_ready(&mut self.inner);
                let future = Box::pin(async move {
                    let authentication = pending.finish().await;
                    if let Err(error) = authentication.require() {
                        return Ok(rejection_response(error));
                    }
                    request.extensions_mut().insert(authentication);
                    let response = inner.call(request).await?;
                    Ok(response.map(ResponseBody::inner))
                });
                return RequireAuthFuture {
                    kind: RequireKind::Store { future },
                };
            }
        }
        RequireAuthFuture {
            kind: RequireKind::Inner {
                future: self.inner.call(request),
            },
        }
    }
}

/// Authenticates `request` from memory when it can, stores the outcome in its
/// extensions and returns it; the pending authentication when the store must be
/// asked first. A request an outer layer already authenticated is left as it is.
fn authenticate_now<'r, U, B>(
    authenticator: &Authenticator<U>,
    request: &'r mut Request<B>,
) -> Result<Option<&'r Authentication<U>>, PendingAuthentication<U>>
where
    U: Send + Sync + 'static,
{
    if request.extensions().get::<Authentication<U>>().is_some() {
        // An outer layer authenticated the request: its outcome stands. Looked up a
        // second time because returning the first lookup's borrow would keep
        // `request` borrowed for the rest of this function (the borrow checker's
        // conditional-return limit); it is `Some`, as is every `Ok` returned here.
        return Ok(request.extensions().get());
    }
    let values = request
        .headers()
        .get_all(AUTHORIZATION)
        .iter()
        .map(HeaderValue::as_bytes);
    // The peer address matters only to the invalid-token limiter: finding it takes
    // two extension lookups, skipped when the limiter is off.
    let client = if authenticator.limits_invalid_tokens() {
        client_address(request)
    } else {
        None
    };
    let authentication = authenticator.authenticate_request_now(client, values)?;
    Ok(Some(request.extensions_mut().get_or_insert(authentication)))
}

/// The ready service, for a future that calls it later: it moves out, and a clone
/// (not yet ready) stays in its place, as tower's docs advise.
fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}

/// The response of a [`RequireAuthService`] to a request without a user.
fn rejection_response<B>(rejection: authtoken::Rejection) -> Response<ResponseBody<B>> {
    AuthRejection::from(rejection).to_http_response()
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
