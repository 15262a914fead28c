// The README's examples use the extractors.
#![cfg_attr(feature = "axum", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "axum"),
    doc = "A tower layer authenticating requests with authtoken; enable the `axum` feature for the extractors."
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod authentication;
mod body;
#[cfg(feature = "axum")]
mod extract;
mod layer;
mod rejection;

pub use authentication::Authentication;
pub use body::ResponseBody;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::{Authenticated, MaybeAuthenticated, RequireScope, ScopeName};
pub use layer::{AuthLayer, AuthService, ResponseFuture};
pub use rejection::AuthRejection;

/// The core, re-exported so that its version always matches this crate's.
pub use authtoken;
