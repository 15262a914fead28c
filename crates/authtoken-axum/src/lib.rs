// The README's examples use the extractors.
#![cfg_attr(feature = "axum", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "axum"),
    doc = "A tower layer authenticating requests with authtoken; enable the `axum` feature for the extractors."
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
mod endpoints;
#[cfg(feature = "axum")]
mod extract;
mod layer;
mod rejection;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use endpoints::token_routes;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::{Authenticated, MaybeAuthenticated, RequireScope};
pub use layer::{AuthLayer, AuthService, RequireAuthLayer, RequireAuthService, ResponseFuture};
pub use rejection::AuthRejection;

/// The outcome the layer stores in the request extensions (the core's type).
pub use authtoken::Authentication;
/// Names a scope for [`RequireScope`] (the core's trait: one type serves every adapter).
pub use authtoken::ScopeName;

/// The core, re-exported so that its version always matches this crate's.
pub use authtoken;
