//! [`extractor_newtype!`](crate::extractor_newtype): what every adapter's extractor
//! types share, written once.

/// Declares an adapter's extractor type: a tuple struct whose public field `0` holds
/// what it extracts (an [`Identity`](crate::Identity), or an `Option` of one), with a
/// scope marker when declared `<scope S, U>`; and `new`, `into_inner`, `Deref` to
/// field `0`, `Clone` (never asking `U: Clone`: the identity is shared) and `Debug`
/// (naming the scope). Each adapter then writes only its framework's extractor trait.
///
/// ```
/// use authtoken::{Identity, ScopeName, TokenId, TokenInfo};
///
/// authtoken::extractor_newtype! {
///     /// A required user.
///     pub struct Authenticated<U>(Identity<U>);
/// }
/// authtoken::extractor_newtype! {
///     /// A required user whose token carries the scope `S` names.
///     pub struct RequireScope<scope S, U>(Identity<U>);
/// }
///
/// struct Write;
/// impl ScopeName for Write {
///     const NAME: &'static str = "write";
/// }
///
/// let now = time::OffsetDateTime::now_utc();
/// let token = TokenInfo::new(TokenId(1), "alice".into(), "laptop".into(), vec![], now);
/// let identity = Identity::new("alice".to_owned(), token);
/// let user = Authenticated::new(identity.clone());
/// assert_eq!(user.user(), "alice");
/// let writer = RequireScope::<Write, String>::new(identity);
/// assert!(format!("{writer:?}").starts_with(r#"RequireScope("write", "#));
/// assert_eq!(writer.clone().into_inner().user(), "alice");
/// ```
#[macro_export]
macro_rules! extractor_newtype {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident<$(scope $scope:ident,)? U>($target:ty);
    ) => {
        $(#[$meta])*
        $vis struct $name<$($scope,)? U>(
            pub $target,
            $(::core::marker::PhantomData<fn() -> $scope>,)?
        );

        impl<$($scope,)? U> $name<$($scope,)? U> {
            /// Wraps what was extracted.
            pub fn new(inner: $target) -> Self {
                Self(inner $(, ::core::marker::PhantomData::<fn() -> $scope>)?)
            }

            /// What was extracted, as the core made it.
            pub fn into_inner(self) -> $target {
                self.0
            }
        }

        impl<$($scope,)? U> ::core::ops::Deref for $name<$($scope,)? U> {
            type Target = $target;

            fn deref(&self) -> &$target {
                &self.0
            }
        }

        impl<$($scope,)? U> ::core::clone::Clone for $name<$($scope,)? U> {
            fn clone(&self) -> Self {
                Self::new(self.0.clone())
            }
        }

        impl<$($scope: $crate::ScopeName,)? U> ::core::fmt::Debug for $name<$($scope,)? U>
        where
            $target: ::core::fmt::Debug,
        {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_tuple(::core::stringify!($name))
                    $(.field(&<$scope as $crate::ScopeName>::NAME))?
                    .field(&self.0)
                    .finish()
            }
        }
    };
}
