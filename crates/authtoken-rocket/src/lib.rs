#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod catcher;
mod endpoints;
mod fairing;
mod guard;
mod rejection;

pub use catcher::{STATUSES, catchers};
pub use endpoints::token_routes;
pub use fairing::AuthFairing;
pub use guard::{Authenticated, MaybeAuthenticated, RequireScope};
pub use rejection::AuthRejection;

/// Names a scope at the type level, for [`RequireScope`]; the core's, so one type
/// serves every adapter.
pub use authtoken::ScopeName;

/// The core, re-exported so that its version always matches this crate's.
pub use authtoken;
