#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod authentication;
mod authenticator;
mod batch;
mod cache;
pub mod clock;
pub mod digest;
pub mod endpoints;
mod error;
mod extractor;
pub mod header;
pub mod legacy;
pub mod limiter;
pub mod memory;
pub mod metrics;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
mod rejection;
pub mod store;
pub mod token;
mod user;

pub use authentication::{Authentication, PendingAuthentication, ScopeName};
pub use authenticator::{
    Authenticator, AuthenticatorBuilder, ConfigError, Identity, IssueOptions, IssuedToken,
    MAX_LIFETIME,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use digest::{DigestKey, TokenDigest, TokenHasher};
pub use error::{AuthError, Challenge, ErrorResponse, IssueError, StoreError};
pub use header::Keyword;
pub use legacy::{LEGACY_KEY_ID, LegacyKey, LegacyKeyStore};
pub use limiter::InvalidTokenLimit;
pub use memory::MemoryStore;
pub use metrics::AuthMetrics;
pub use rejection::Rejection;
pub use store::{
    InsertOutcome, JoinedLookup, NewToken, Slide, TokenId, TokenInfo, TokenRecord, TokenStore,
    TokenWithUser, check_user_id,
};
pub use token::{PlaintextToken, TokenPrefix};
pub use user::{UserIdLoader, UserLoader};

/// The `bytes` crate, re-exported: [`ErrorResponse`] carries its [`bytes::Bytes`].
pub use bytes;
