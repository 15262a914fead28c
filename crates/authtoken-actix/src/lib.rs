#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod endpoints;
mod extract;
mod middleware;
mod rejection;

pub use endpoints::token_endpoints;
pub use extract::{Authenticated, MaybeAuthenticated, RequireScope};
pub use middleware::{AuthMiddleware, AuthMiddlewareService, ResponseFuture};
pub use rejection::AuthRejection;

/// The outcome the middleware stores in the request extensions; a handler that
/// decides for itself reads it with `web::ReqData<Authentication<U>>`.
pub use authtoken::Authentication;
/// Names a scope at the type level, for [`RequireScope`].
pub use authtoken::ScopeName;

/// The core, re-exported so that its version always matches this crate's.
pub use authtoken;
