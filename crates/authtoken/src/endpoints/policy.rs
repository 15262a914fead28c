//! [`TokenPolicy`]: which scopes exist, which a login carries, which one manages
//! tokens, and how long personal tokens live.

use std::time::Duration;

use super::TokenPaths;
use crate::authenticator::validate_issue;
use crate::error::IssueError;
use crate::{IssueOptions, MAX_LIFETIME};

/// What the token endpoints allow. Checked once, by [`TokenPolicy::check`] (which
/// [`TokenEndpoints::new`](crate::endpoints::TokenEndpoints::new) calls).
///
/// ```
/// use std::time::Duration;
/// use authtoken::endpoints::TokenPolicy;
///
/// let policy = TokenPolicy::new(["read", "write", "tokens"])
///     .login_scopes(["read", "write", "tokens"])
///     .default_lifetime(Duration::from_secs(7 * 24 * 3600));
/// assert!(policy.check().is_ok());
/// assert!(policy.clone().management_scope("admin").check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    known_scopes: Vec<String>,
    login_scopes: Vec<String>,
    management_scope: String,
    login_name: String,
    default_lifetime: Duration,
    max_lifetime: Duration,
    min_lifetime: Duration,
    login_failures: u32,
    login_window: Duration,
    paths: TokenPaths,
}

/// A [`TokenPolicy`] that contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A login or management scope is not among the known scopes.
    #[error("the scope {0:?} is not among the policy's known scopes")]
    UnknownScope(String),
    /// A scope is not 1 to 64 characters of `[A-Za-z0-9_.:/-]`, or there are more
    /// than 64.
    #[error("invalid scope {0:?}: scopes are 1 to 64 characters of [A-Za-z0-9_.:/-]")]
    InvalidScope(String),
    /// The lifetimes are not `min <= default <= max <= MAX_LIFETIME`, or `min` is 0.
    #[error("personal token lifetimes must satisfy 0 < minimum <= default <= maximum <= 100 years")]
    Lifetimes,
    /// The failed-login window is 0 or longer than a day.
    #[error("the failed-login window must be between 1 second and 1 day")]
    LoginWindow,
    /// An endpoint's path breaks the rules of [`TokenPaths`].
    #[error(
        "invalid endpoint path {0:?}: paths are `/` and segments of [A-Za-z0-9._~-], \
         at most 64 bytes, all different, none under the tokens path"
    )]
    InvalidPath(String),
}

impl TokenPolicy {
    /// The scopes a personal token may be created with: `known_scopes`. A login
    /// carries all of them; `tokens` manages tokens; personal tokens live 30 days by
    /// default, 60 seconds to 365 days; from the 6th failed login within a minute for
    /// one username from one client, logins are answered 429.
    pub fn new<I, S>(known_scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let known_scopes: Vec<String> = known_scopes.into_iter().map(Into::into).collect();
        Self {
            login_scopes: known_scopes.clone(),
            known_scopes,
            management_scope: "tokens".into(),
            login_name: "login".into(),
            default_lifetime: Duration::from_secs(30 * 24 * 3600),
            max_lifetime: Duration::from_secs(365 * 24 * 3600),
            min_lifetime: Duration::from_secs(60),
            login_failures: 5,
            login_window: Duration::from_secs(60),
            paths: TokenPaths::default(),
        }
    }

    /// The scopes a login token carries (all known scopes unless set).
    #[must_use]
    pub fn login_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.login_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The scope a token needs to list, create and revoke tokens (`tokens` unless set).
    #[must_use]
    pub fn management_scope(mut self, scope: impl Into<String>) -> Self {
        self.management_scope = scope.into();
        self
    }

    /// The name a login token gets (`login` unless set).
    #[must_use]
    pub fn login_name(mut self, name: impl Into<String>) -> Self {
        self.login_name = name.into();
        self
    }

    /// How long a personal token lives when the request names no `expires_in`.
    #[must_use]
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// The shortest and longest `expires_in` a request may name.
    #[must_use]
    pub fn lifetime_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_lifetime = min;
        self.max_lifetime = max;
        self
    }

    /// Failed logins allowed per username and client within `window`; the next ones
    /// in the window are answered 429 with `Retry-After`.
    #[must_use]
    pub fn login_throttle(mut self, max_failures: u32, window: Duration) -> Self {
        self.login_failures = max_failures;
        self.login_window = window;
        self
    }

    /// Checks that the policy holds together.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] naming what does not.
    pub fn check(&self) -> Result<(), PolicyError> {
        let known = |scope: &String| self.known_scopes.contains(scope);
        if let Some(scope) = self
            .login_scopes
            .iter()
            .chain(std::iter::once(&self.management_scope))
            .find(|scope| !known(scope))
        {
            return Err(PolicyError::UnknownScope(scope.clone()));
        }
        let lifetimes = Duration::ZERO < self.min_lifetime
            && self.min_lifetime <= self.default_lifetime
            && self.default_lifetime <= self.max_lifetime
            && self.max_lifetime <= MAX_LIFETIME;
        if !lifetimes {
            return Err(PolicyError::Lifetimes);
        }
        let login = IssueOptions::new()
            .name(self.login_name.clone())
            .scopes(self.known_scopes.iter().cloned());
        if let Err(IssueError::InvalidScope(scope)) = validate_issue("policy", &login) {
            return Err(PolicyError::InvalidScope(scope));
        }
        if self.login_window.is_zero() || self.login_window > Duration::from_secs(24 * 3600) {
            return Err(PolicyError::LoginWindow);
        }
        if let Some(path) = self.paths.first_invalid() {
            return Err(PolicyError::InvalidPath(path.to_owned()));
        }
        Ok(())
    }

    /// Where each endpoint is under the application's prefix ([`TokenPaths::default`]
    /// unless set).
    #[must_use]
    pub fn paths(mut self, paths: TokenPaths) -> Self {
        self.paths = paths;
        self
    }

    pub(crate) fn endpoint_paths(&self) -> &TokenPaths {
        &self.paths
    }

    pub(crate) fn scope_managing_tokens(&self) -> &str {
        &self.management_scope
    }

    pub(crate) fn known_scopes(&self) -> &[String] {
        &self.known_scopes
    }

    pub(crate) fn scopes_of_a_login(&self) -> &[String] {
        &self.login_scopes
    }

    pub(crate) fn name_of_a_login(&self) -> &str {
        &self.login_name
    }

    pub(crate) fn default_lifetime_value(&self) -> Duration {
        self.default_lifetime
    }

    pub(crate) fn lifetime_range(&self) -> (Duration, Duration) {
        (self.min_lifetime, self.max_lifetime)
    }

    pub(crate) fn login_limit(&self) -> (u32, Duration) {
        (self.login_failures, self.login_window)
    }
}
