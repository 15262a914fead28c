//! [`TokenPaths`]: where, under the application's prefix, each token endpoint is.

/// The paths of the token endpoints, under the prefix the application mounts them at.
/// Set with [`TokenPolicy::paths`](crate::endpoints::TokenPolicy::paths); checked by
/// [`TokenPolicy::check`](crate::endpoints::TokenPolicy::check).
///
/// Each is `/` and 1 to 64 characters of `[A-Za-z0-9._~-]` in segments split by
/// single `/`s, with no `/` at the end; the four differ, and none lies under
/// `tokens` (where `{tokens}/{id}` revokes one token).
///
/// ```
/// use authtoken::endpoints::{TokenPaths, TokenPolicy};
///
/// let paths = TokenPaths {
///     login: "/auth/login".into(),
///     tokens: "/personal-tokens".into(),
///     ..TokenPaths::default()
/// };
/// let policy = TokenPolicy::new(["read", "tokens"]).paths(paths);
/// assert!(policy.check().is_ok());
///
/// let clash = TokenPaths { logout: "/tokens/all".into(), ..TokenPaths::default() };
/// assert!(TokenPolicy::new(["read"]).paths(clash).check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPaths {
    /// `POST`: log in. `/token` by default, as DRF's `obtain_auth_token` is usually
    /// routed.
    pub login: String,
    /// `POST`: revoke the token used. `/logout` by default.
    pub logout: String,
    /// `POST`: revoke every token of the user. `/logout-all` by default.
    pub logout_all: String,
    /// `GET` lists, `POST` creates personal tokens; `DELETE {tokens}/{id}` revokes
    /// one. `/tokens` by default.
    pub tokens: String,
}

impl Default for TokenPaths {
    fn default() -> Self {
        Self {
            login: "/token".into(),
            logout: "/logout".into(),
            logout_all: "/logout-all".into(),
            tokens: "/tokens".into(),
        }
    }
}

/// The longest path, in bytes.
const MAX_PATH: usize = 64;

impl TokenPaths {
    /// The four paths, login first.
    pub fn all(&self) -> [&str; 4] {
        [&self.login, &self.logout, &self.logout_all, &self.tokens]
    }

    /// The first path that breaks the rules of [`TokenPaths`], if any.
    pub(crate) fn first_invalid(&self) -> Option<&str> {
        let all = self.all();
        let well_formed = |path: &str| {
            path.len() <= MAX_PATH
                && path.strip_prefix('/').is_some_and(|rest| {
                    rest.split('/').all(|segment| {
                        !segment.is_empty()
                            && segment
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
                    })
                })
        };
        let under_tokens = |path: &str| {
            path.strip_prefix(self.tokens.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        };
        all.iter().enumerate().find_map(|(i, path)| {
            let repeated = all[..i].contains(path);
            (!well_formed(path) || repeated || under_tokens(path)).then_some(*path)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(TokenPaths::default().first_invalid(), None);
    }

    #[test]
    fn malformed_repeated_and_clashing_paths_are_refused() {
        let long = format!("/{}", "a".repeat(MAX_PATH));
        for bad in [
            "",
            "/",
            "token",
            "/token/",
            "//token",
            "/a//b",
            "/to ken",
            "/{id}",
            "/<id>",
            "/tok%20en",
            "/é",
            "/tokens/x",
            "/tokens",
            &long,
        ] {
            let paths = TokenPaths {
                login: bad.into(),
                ..TokenPaths::default()
            };
            assert_eq!(paths.first_invalid(), Some(bad), "{bad:?}");
        }
        for good in ["/auth/login", "/v1/token.json", "/a-b_c~d", "/tokens-old"] {
            let paths = TokenPaths {
                login: good.into(),
                ..TokenPaths::default()
            };
            assert_eq!(paths.first_invalid(), None, "{good:?}");
        }
    }
}
