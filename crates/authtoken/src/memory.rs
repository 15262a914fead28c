//! An in-process [`TokenStore`], for prototypes, tests and single-process tools.
//!
//! Everything is lost when the process ends; use `authtoken-sqlx` for anything that
//! must last.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Mutex, MutexGuard, PoisonError};

use time::OffsetDateTime;

use crate::digest::TokenDigest;
use crate::store::{InsertOutcome, NewToken, Slide, TokenId, TokenInfo, TokenRecord, TokenStore};

/// A [`TokenStore`] in a mutex-guarded map.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: i64,
    records: BTreeMap<TokenId, TokenRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many tokens are stored.
    pub fn len(&self) -> usize {
        self.state().records.len()
    }

    /// True when no token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TokenStore for MemoryStore {
    type Error = Infallible;

    async fn insert(
        &self,
        token: &NewToken,
        limit: Option<u32>,
    ) -> Result<InsertOutcome, Infallible> {
        let mut state = self.state();
        if state.records.values().any(|r| r.digest == token.digest) {
            return Ok(InsertOutcome::DuplicateDigest);
        }
        if let Some(limit) = limit {
            let live = state
                .records
                .values()
                .filter(|r| r.info.user_id == token.user_id && !r.info.is_expired_at(token.created))
                .count();
            if live >= limit as usize {
                return Ok(InsertOutcome::LimitReached);
            }
        }
        state.next_id += 1;
        let id = TokenId(state.next_id);
        let info = TokenInfo::new(
            id,
            token.user_id.clone(),
            token.name.clone(),
            token.scopes.clone(),
            token.created,
        )
        .with_hint(token.hint.clone())
        .with_expires(token.expires)
        .with_expiry_limit(token.expiry_limit);
        let record = TokenRecord::new(info, token.digest, token.key_version);
        state.records.insert(id, record.clone());
        Ok(InsertOutcome::Inserted(record))
    }

    async fn find_by_digest(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<TokenRecord>, Infallible> {
        Ok(self
            .state()
            .records
            .values()
            .find(|r| r.digest == *digest)
            .cloned())
    }

    async fn get(&self, id: TokenId) -> Result<Option<TokenRecord>, Infallible> {
        Ok(self.state().records.get(&id).cloned())
    }

    async fn revoke(&self, id: TokenId) -> Result<Option<TokenRecord>, Infallible> {
        Ok(self.state().records.remove(&id))
    }

    async fn revoke_user(&self, user_id: &str) -> Result<Vec<TokenRecord>, Infallible> {
        let mut state = self.state();
        let ids: Vec<TokenId> = state
            .records
            .values()
            .filter(|r| r.info.user_id == user_id)
            .map(|r| r.info.id)
            .collect();
        Ok(ids
            .iter()
            .filter_map(|id| state.records.remove(id))
            .collect())
    }

    async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>, Infallible> {
        Ok(self
            .state()
            .records
            .values()
            .filter(|r| user_id.is_none_or(|u| r.info.user_id == u))
            .map(|r| r.info.clone())
            .collect())
    }

    async fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> Result<bool, Infallible> {
        let mut state = self.state();
        let Some(record) = state.records.get_mut(&id) else {
            return Ok(false);
        };
        record.info.last_used = Some(used_at);
        let Some(slide) = slide else {
            return Ok(true);
        };
        match (record.info.expires, record.info.expiry_limit) {
            (Some(expires), Some(limit)) if expires == slide.from => {
                record.info.expires = Some(slide.to.min(limit));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> Result<bool, Infallible> {
        Ok(match self.state().records.get_mut(&id) {
            Some(record) => {
                let info = &mut record.info;
                info.expires = Some(info.expires.map_or(at, |expires| expires.min(at)));
                info.expiry_limit = Some(info.expiry_limit.map_or(at, |limit| limit.min(at)));
                true
            }
            None => false,
        })
    }

    async fn replace_digest(
        &self,
        id: TokenId,
        digest: &TokenDigest,
        key_version: u32,
    ) -> Result<(), Infallible> {
        if let Some(record) = self.state().records.get_mut(&id) {
            record.digest = *digest;
            record.key_version = key_version;
        }
        Ok(())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, Infallible> {
        let mut state = self.state();
        let before = state.records.len();
        state.records.retain(|_, r| !r.info.is_expired_at(now));
        Ok((before - state.records.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Authenticator, IssueOptions, UserIdLoader};

    #[tokio::test]
    async fn issued_and_rotated_tokens_keep_their_hint() {
        let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
            .build()
            .expect("settings");
        let issued = auth
            .issue("42", IssueOptions::new().name("laptop"))
            .await
            .expect("issue");
        let hint = issued.token().hint();
        assert_eq!(hint.len(), 8);
        assert_eq!(issued.info().hint, hint);
        let rotated = auth
            .rotate(issued.info().id, Duration::ZERO)
            .await
            .expect("rotate");
        assert_eq!(rotated.info().hint, rotated.token().hint());
        let listed = auth.list(Some("42")).await.expect("list");
        let hints: Vec<&str> = listed.iter().map(|info| info.hint.as_str()).collect();
        assert_eq!(hints, [hint.as_str(), rotated.info().hint.as_str()]);
    }

    #[tokio::test]
    async fn a_token_stored_without_a_hint_lists_an_empty_one() {
        let store = MemoryStore::new();
        let new = NewToken::new(
            TokenDigest::from_bytes([7; 32]),
            0,
            "42".to_owned(),
            OffsetDateTime::UNIX_EPOCH,
        );
        store.insert(&new, None).await.expect("insert");
        let listed = store.list(None).await.expect("list");
        assert_eq!(listed[0].hint, "");
    }
}
