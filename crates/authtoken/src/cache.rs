//! The in-process cache of verified tokens (and, with it off, of last-use marks): a
//! bounded map from token digest to a shared value, on `quick_cache` (sharded, so
//! that requests on different cores rarely meet on a lock; it holds at most about its
//! capacity, a shard's rounding over, and a hit allocates nothing).
//!
//! Only verified tokens are inserted, so a client cannot fill it with keys of its
//! choosing.

use crate::digest::TokenDigest;

/// A bounded map from token digest to `V`.
pub(crate) struct DigestCache<V> {
    entries: quick_cache::sync::Cache<TokenDigest, V>,
}

impl<V: Clone> DigestCache<V> {
    /// A cache of about `capacity` entries at most (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// The value cached for `digest`, marked as used.
    pub(crate) fn get(&self, digest: &TokenDigest) -> Option<V> {
        self.entries.get(digest)
    }

    /// Caches `value` for `digest`, replacing what was there; when full, evicts an
    /// entry used less.
    pub(crate) fn insert(&self, digest: TokenDigest, value: V) {
        self.entries.insert(digest, value);
    }

    /// Drops the entry for `digest`, if any.
    pub(crate) fn remove(&self, digest: &TokenDigest) {
        self.entries.remove(digest);
    }

    /// Keeps only the entries for which `keep` is true.
    pub(crate) fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.entries.retain(|_, value| keep(value));
    }

    /// Drops every entry.
    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::TokenHasher;

    fn digest(n: u32) -> TokenDigest {
        TokenHasher::sha256().digest(&n.to_be_bytes())
    }

    #[test]
    fn it_keeps_what_it_is_given_until_removed() {
        let cache = DigestCache::new(100);
        cache.insert(digest(1), 10);
        cache.insert(digest(2), 20);
        assert_eq!(cache.get(&digest(1)), Some(10));
        cache.insert(digest(1), 11);
        assert_eq!(cache.get(&digest(1)), Some(11), "replaced");
        cache.remove(&digest(1));
        assert_eq!(cache.get(&digest(1)), None);
        cache.retain(|&value| value != 20);
        assert_eq!(cache.get(&digest(2)), None);
        cache.insert(digest(3), 30);
        cache.clear();
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn it_never_holds_much_more_than_its_capacity() {
        for capacity in [1, 10, 500, 10_000] {
            let cache = DigestCache::new(capacity);
            let mut most = 0;
            for n in 0..(capacity as u32 * 10).max(1_000) {
                cache.insert(digest(n), n);
                most = most.max(cache.len());
            }
            eprintln!("capacity {capacity}: at most {most}");
            assert!(
                most <= capacity + capacity / 20 + 4,
                "capacity {capacity}: {most}"
            );
            assert!(
                cache.len() >= capacity / 2,
                "most of its capacity stays in use"
            );
        }
    }
}
