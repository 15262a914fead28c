//! The store, loader and joined lookup made object-safe, so that an
//! [`Authenticator`] is generic over the user type alone (a rocket guard or an
//! actix-web extractor can name it).

use std::future::Future;
use std::pin::Pin;

use time::OffsetDateTime;

use crate::digest::TokenDigest;
use crate::error::StoreError;
use crate::legacy::{LegacyKey, LegacyKeyStore};
use crate::store::{
    InsertOutcome, JoinedLookup, NewToken, Slide, TokenId, TokenInfo, TokenRecord, TokenStore,
    TokenWithUser,
};
use crate::user::UserLoader;

pub(super) type StoreFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// [`TokenStore`] made object-safe, so that an [`Authenticator`] is generic over the
/// user type alone (a rocket guard or an actix extractor can name it).
pub(super) trait ErasedStore: Send + Sync + 'static {
    fn insert<'a>(
        &'a self,
        token: &'a NewToken,
        limit: Option<u32>,
    ) -> StoreFuture<'a, InsertOutcome>;
    fn find_by_digest<'a>(
        &'a self,
        digest: &'a TokenDigest,
    ) -> StoreFuture<'a, Option<TokenRecord>>;
    fn get(&self, id: TokenId) -> StoreFuture<'_, Option<TokenRecord>>;
    fn revoke(&self, id: TokenId) -> StoreFuture<'_, Option<TokenRecord>>;
    fn revoke_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<TokenRecord>>;
    fn list<'a>(&'a self, user_id: Option<&'a str>) -> StoreFuture<'a, Vec<TokenInfo>>;
    fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> StoreFuture<'_, bool>;
    fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> StoreFuture<'_, bool>;
    fn announce_user_change<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()>;
    fn replace_digest<'a>(
        &'a self,
        id: TokenId,
        digest: &'a TokenDigest,
        key_version: u32,
    ) -> StoreFuture<'a, ()>;
    fn purge_expired(&self, now: OffsetDateTime) -> StoreFuture<'_, u64>;
}

impl<S: TokenStore> ErasedStore for S {
    fn insert<'a>(
        &'a self,
        token: &'a NewToken,
        limit: Option<u32>,
    ) -> StoreFuture<'a, InsertOutcome> {
        Box::pin(async move {
            TokenStore::insert(self, token, limit)
                .await
                .map_err(StoreError::new)
        })
    }
    fn find_by_digest<'a>(
        &'a self,
        digest: &'a TokenDigest,
    ) -> StoreFuture<'a, Option<TokenRecord>> {
        Box::pin(async move {
            TokenStore::find_by_digest(self, digest)
                .await
                .map_err(StoreError::new)
        })
    }
    fn get(&self, id: TokenId) -> StoreFuture<'_, Option<TokenRecord>> {
        Box::pin(async move { TokenStore::get(self, id).await.map_err(StoreError::new) })
    }
    fn revoke(&self, id: TokenId) -> StoreFuture<'_, Option<TokenRecord>> {
        Box::pin(async move { TokenStore::revoke(self, id).await.map_err(StoreError::new) })
    }
    fn revoke_user<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<TokenRecord>> {
        Box::pin(async move {
            TokenStore::revoke_user(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
    fn list<'a>(&'a self, user_id: Option<&'a str>) -> StoreFuture<'a, Vec<TokenInfo>> {
        Box::pin(async move {
            TokenStore::list(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
    fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            TokenStore::touch(self, id, used_at, slide)
                .await
                .map_err(StoreError::new)
        })
    }
    fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            TokenStore::shorten_expiry(self, id, at)
                .await
                .map_err(StoreError::new)
        })
    }
    fn announce_user_change<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            TokenStore::announce_user_change(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
    fn replace_digest<'a>(
        &'a self,
        id: TokenId,
        digest: &'a TokenDigest,
        key_version: u32,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            TokenStore::replace_digest(self, id, digest, key_version)
                .await
                .map_err(StoreError::new)
        })
    }
    fn purge_expired(&self, now: OffsetDateTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            TokenStore::purge_expired(self, now)
                .await
                .map_err(StoreError::new)
        })
    }
}

/// [`UserLoader`] made object-safe.
pub(super) trait ErasedLoader<U>: Send + Sync + 'static {
    fn load<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Option<U>>;
    fn is_active(&self, user: &U) -> bool;
    fn user_id(&self, user: &U) -> Option<String>;
}

impl<L: UserLoader> ErasedLoader<L::User> for L {
    fn load<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Option<L::User>> {
        Box::pin(async move {
            UserLoader::load(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
    fn is_active(&self, user: &L::User) -> bool {
        UserLoader::is_active(self, user)
    }
    fn user_id(&self, user: &L::User) -> Option<String> {
        UserLoader::user_id(self, user)
    }
}

/// [`JoinedLookup`] made object-safe.
pub(super) trait ErasedJoined<U>: Send + Sync + 'static {
    fn find_with_users<'a>(
        &'a self,
        digests: &'a [TokenDigest],
    ) -> StoreFuture<'a, Vec<TokenWithUser<U>>>;
}

impl<J: JoinedLookup> ErasedJoined<J::User> for J {
    fn find_with_users<'a>(
        &'a self,
        digests: &'a [TokenDigest],
    ) -> StoreFuture<'a, Vec<TokenWithUser<J::User>>> {
        Box::pin(async move {
            JoinedLookup::find_with_users(self, digests)
                .await
                .map_err(StoreError::new)
        })
    }
}

/// [`LegacyKeyStore`] made object-safe.
pub(super) trait ErasedKeyStore: Send + Sync + 'static {
    fn find_key<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<LegacyKey>>;
    fn delete_key<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;
    fn delete_user_keys<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, u64>;
}

impl<K: LegacyKeyStore> ErasedKeyStore for K {
    fn find_key<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<LegacyKey>> {
        Box::pin(async move {
            LegacyKeyStore::find_key(self, key)
                .await
                .map_err(StoreError::new)
        })
    }
    fn delete_key<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            LegacyKeyStore::delete_key(self, key)
                .await
                .map_err(StoreError::new)
        })
    }
    fn delete_user_keys<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            LegacyKeyStore::delete_user_keys(self, user_id)
                .await
                .map_err(StoreError::new)
        })
    }
}
