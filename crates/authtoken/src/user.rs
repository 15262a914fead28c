//! The application's users, loaded by the id a token names.

use std::convert::Infallible;
use std::future::Future;

/// Loads the application's own user type by the id stored with a token.
///
/// A user that is not found (`Ok(None)`) or not active ([`UserLoader::is_active`])
/// makes authentication fail with "User inactive or deleted."; an `Err` is an
/// infrastructure failure and fails closed with 503.
///
/// ```
/// use authtoken::UserLoader;
///
/// #[derive(Debug, Clone)]
/// struct User { id: i64, name: String, active: bool }
///
/// struct Users;
///
/// impl UserLoader for Users {
///     type User = User;
///     type Error = std::io::Error;
///
///     async fn load(&self, user_id: &str) -> Result<Option<User>, Self::Error> {
///         let Ok(id) = user_id.parse::<i64>() else { return Ok(None) };
///         Ok(Some(User { id, name: format!("user {id}"), active: true }))
///     }
///
///     fn is_active(&self, user: &User) -> bool {
///         user.active
///     }
///
///     fn user_id(&self, user: &User) -> Option<String> {
///         Some(user.id.to_string())
///     }
/// }
/// ```
pub trait UserLoader: Send + Sync + 'static {
    /// The application's user.
    type User: Send + Sync + 'static;
    /// The loader's own error, kept as the source of [`crate::StoreError`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// The user with this id, or `None` when there is none.
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Self::User>, Self::Error>> + Send;

    /// Whether the user may authenticate. Every user is active unless overridden.
    fn is_active(&self, user: &Self::User) -> bool {
        let _ = user;
        true
    }

    /// The id this user's tokens are issued under (its canonical spelling), when the
    /// loader can tell; `None` (the default) when it cannot.
    ///
    /// Logging out everywhere ([`crate::Authenticator::revoke_all_of`]) revokes the
    /// tokens held under this id as well as those under the id the calling token's
    /// row holds. A loader that takes several spellings of one id (`"01"` for `"1"`,
    /// as a lenient parse does) should return it, so that no spelling keeps a token
    /// alive.
    fn user_id(&self, user: &Self::User) -> Option<String> {
        let _ = user;
        None
    }
}

/// A loader for applications (and tools such as the `authtoken` command) that need
/// only the user id: every id is a user, and the user is the id itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserIdLoader;

impl UserLoader for UserIdLoader {
    type User = String;
    type Error = Infallible;

    async fn load(&self, user_id: &str) -> Result<Option<String>, Infallible> {
        Ok(Some(user_id.to_owned()))
    }

    fn user_id(&self, user: &String) -> Option<String> {
        Some(user.clone())
    }
}
