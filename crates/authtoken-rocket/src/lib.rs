#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod catcher;
mod fairing;
mod guard;
mod rejection;
mod scope;

pub use catcher::{STATUSES, catchers};
pub use fairing::AuthFairing;
pub use guard::{Authenticated, MaybeAuthenticated};
pub use rejection::AuthRejection;
pub use scope::RequireScope;

/// Names a scope at the type level, for [`RequireScope`]; the core's, so one type
/// serves every adapter.
pub use authtoken::ScopeName;

/// The core, re-exported so that its version always matches this crate's.
pub use authtoken;
