//! [`AuthLayer`] and [`AuthService`]: authenticate each request once, for any http
//! 1.x tower stack, and (as [`RequireAuthLayer`]) refuse a request without a user.

use std::future::{Future, Ready};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use authtoken::{Authentication, Authenticator, PendingAuthentication};
use bytes::Bytes;
use futures_util::future::Either;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::AuthRejection;

#[cfg(feature = "axum")]
use axum::extract::ConnectInfo;

/// Authenticates every request with an [`Authenticator`] and puts the outcome, an
/// [`Authentication<U>`], in the request extensions.
///
/// Every request goes on to the inner service, and the handlers decide: anonymous
/// requests pass as anonymous, and a bad token or an unavailable store passes as a
/// stored error, which every extractor answers (a bad token is refused even where a
/// user is optional). The layer never answers by itself, so its service's response
/// is the inner service's, body type included. [`AuthLayer::require_authentication`]
/// makes a layer that answers those requests itself (`REQUIRE = true`: see
/// [`RequireAuthLayer`]).
///
/// Reads every `Authorization` header of the request and authenticates it once: from
/// memory without a future of its own when it can
/// ([`Authenticator::authenticate_request_now`]: no credentials, a malformed or
/// cached token), else asking the store first. A request that already carries an
/// [`Authentication<U>`] (from an outer `AuthLayer<U>`) is not authenticated again.
///
/// With the invalid-token limiter on, a request is counted under its peer address
/// (axum's `ConnectInfo<SocketAddr>`, or a `SocketAddr` extension), read with the
/// trusted client-IP header when one is configured ([`Authenticator::client_address`]).
/// A request with neither is never limited (the core logs a warning, once).
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
#[derive(Debug)]
pub struct AuthLayer<U, const REQUIRE: bool = false> {
    authenticator: Authenticator<U>,
}

/// An [`AuthLayer`] that answers every request that is not authenticated itself: 401
/// when nothing or bad credentials were sent, 400 for conflicting headers, 503 when
/// the store is unavailable; status, challenge and body as the core decides. The
/// inner service's response body must be buildable from [`Bytes`] (axum's `Body`,
/// http-body-util's `Full<Bytes>`), and stays its type.
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
pub type RequireAuthLayer<U> = AuthLayer<U, true>;

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
        let Self { authenticator } = self;
        AuthLayer { authenticator }
    }
}

impl<U, const REQUIRE: bool> Clone for AuthLayer<U, REQUIRE> {
    fn clone(&self) -> Self {
        let authenticator = self.authenticator.clone();
        Self { authenticator }
    }
}

impl<S, U, const REQUIRE: bool> Layer<S> for AuthLayer<U, REQUIRE> {
    type Service = AuthService<S, U, REQUIRE>;

    fn layer(&self, inner: S) -> Self::Service {
        let authenticator = self.authenticator.clone();
        AuthService {
            inner,
            authenticator,
        }
    }
}

/// The service made by [`AuthLayer`]: see there. Its response is the inner service's.
#[derive(Debug)]
pub struct AuthService<S, U, const REQUIRE: bool = false> {
    inner: S,
    authenticator: Authenticator<U>,
}

/// The service made by [`RequireAuthLayer`]: see there.
pub type RequireAuthService<S, U> = AuthService<S, U, true>;

impl<S, U> AuthService<S, U> {
    /// Wraps `inner`, as [`AuthLayer::new`] would.
    pub fn new(inner: S, authenticator: Authenticator<U>) -> Self {
        AuthLayer::new(authenticator).layer(inner)
    }
}

impl<S: Clone, U, const REQUIRE: bool> Clone for AuthService<S, U, REQUIRE> {
    fn clone(&self) -> Self {
        let (inner, authenticator) = (self.inner.clone(), self.authenticator.clone());
        Self {
            inner,
            authenticator,
        }
    }
}

/// What a service answers itself for a request's [`Authentication`], before the
/// inner service: nothing when `REQUIRE` is false (so an [`AuthService`]'s response
/// may be anything), the core's rejection of a request without a user when it is true
/// (a [`RequireAuthService`]'s response is an `http::Response` whose body is made from
/// [`Bytes`]).
pub trait Refusal<const REQUIRE: bool>: Sized {
    /// The response refusing the request, if it is refused.
    fn refuse<U: Send + Sync + 'static>(authentication: &Authentication<U>) -> Option<Self>;
}

impl<R> Refusal<false> for R {
    fn refuse<U: Send + Sync + 'static>(_: &Authentication<U>) -> Option<R> {
        None
    }
}

impl<B: From<Bytes>> Refusal<true> for Response<B> {
    fn refuse<U: Send + Sync + 'static>(authentication: &Authentication<U>) -> Option<Self> {
        let rejection = authentication.require().err()?;
        Some(AuthRejection::from(rejection).to_http_response())
    }
}

/// The future of the slow path: the store is asked, then the inner service called.
type StoreFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

/// The future of [`AuthService`]: the inner service's own future when memory
/// answered (no credentials, a rejected or cached token), a ready refusal (from a
/// [`RequireAuthService`]), or a boxed future that asks the store first.
pub type ResponseFuture<F, R, E> = Either<Either<F, Ready<Result<R, E>>>, StoreFuture<R, E>>;

impl<S, U, ReqBody, const REQUIRE: bool> Service<Request<ReqBody>> for AuthService<S, U, REQUIRE>
where
    S: Service<Request<ReqBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Refusal<REQUIRE>,
    ReqBody: Send + 'static,
    U: Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let refuse = <S::Response as Refusal<REQUIRE>>::refuse::<U>;
        let (mut parts, body) = request.into_parts();
        let now = authenticate_now(&self.authenticator, &mut parts).map(refuse);
        let mut request = Request::from_parts(parts, body);
        match now {
            Ok(Some(response)) => Either::Left(Either::Right(std::future::ready(Ok(response)))),
            // Memory answered: no future of this layer's own, and the ready inner
            // service is called as it is.
            Ok(None) => Either::Left(Either::Left(self.inner.call(request))),
            Err(pending) => {
                // The ready service moves into the future, and a clone (not yet ready)
                // stays in its place, as tower's docs advise.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Either::Right(Box::pin(async move {
                    let authentication = pending.finish().await;
                    if let Some(response) = refuse(&authentication) {
                        return Ok(response);
                    }
                    request.extensions_mut().insert(authentication);
                    inner.call(request).await
                }))
            }
        }
    }
}

/// The request's [`Authentication`]: the one an outer layer (or an earlier
/// extractor) stored in its extensions, else authenticated now from memory and
/// stored; the pending authentication when the store must be asked first (the
/// caller stores its outcome).
pub(crate) fn authenticate_now<'p, U: Send + Sync + 'static>(
    auth: &Authenticator<U>,
    parts: &'p mut Parts,
) -> Result<&'p Authentication<U>, PendingAuthentication<U>> {
    if parts.extensions.get::<Authentication<U>>().is_none() {
        let limits = auth.limits_invalid_tokens();
        let client = limits
            .then(|| client_address(auth, &parts.headers, &parts.extensions))
            .flatten();
        let values = parts.headers.get_all(AUTHORIZATION).iter();
        let authentication =
            auth.authenticate_request_now(client, values.map(HeaderValue::as_bytes))?;
        return Ok(parts.extensions.get_or_insert(authentication));
    }
    // Looked up again: returning the first lookup's borrow would keep `parts`
    // borrowed for the rest of this function (the borrow checker's
    // conditional-return limit).
    let stored = parts.extensions.get();
    Ok(stored.expect("checked above"))
}

/// The address a request comes from, as the invalid-token limiter and the
/// failed-login throttle count it: the peer address (axum's `ConnectInfo<SocketAddr>`, set by
/// `into_make_service_with_connect_info`, else a `SocketAddr` extension set by any
/// other stack), as the core reads it with the trusted client-IP header. Without
/// either the core warns, once, that the limiter cannot tell clients apart.
pub(crate) fn client_address<U: Send + Sync + 'static>(
    auth: &Authenticator<U>,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    let peer = extensions.get().map(|ConnectInfo(peer)| *peer);
    #[cfg(not(feature = "axum"))]
    let peer = None;
    let peer = peer.or_else(|| extensions.get::<SocketAddr>().copied());
    let header = auth.trusted_client_ip_header();
    let values = header.into_iter().flat_map(|name| headers.get_all(name));
    auth.client_address(
        peer.map(|peer| peer.ip()),
        values.map(HeaderValue::as_bytes),
    )
}
