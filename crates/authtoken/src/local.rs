//! [`LocalHits`]: each thread's memo of the tokens it last found in the shared cache.
//!
//! A hit in the shared cache takes its shard's read lock and clones the entry's shared
//! pointer: two counts that every thread serving the same token writes, so on a
//! multi-core server their cache lines move between cores on each request. A thread
//! that finds a token in its own memo writes nothing another thread reads: the memo
//! is the thread's, and so is the handle it clones.
//!
//! An entry is stamped with the authenticator's revocation count read before it was
//! taken from the shared cache, and serves only while the count is unchanged: any
//! revocation, eviction of a user or cache clear bumps the count before and after it
//! evicts, and so makes every thread's memo ask the shared cache again.

use std::cell::RefCell;

use thread_local::ThreadLocal;

use crate::digest::TokenDigest;

/// Entries in each thread's memo; a power of two. A memo is for the tokens a thread
/// sees most, not for all of them: the shared cache holds those.
const LOCAL_SLOTS: usize = 64;

/// Per-thread memos of recent cache hits, mapped directly by digest (one slot a
/// digest, the newest wins).
pub(crate) struct LocalHits<V: Send> {
    threads: ThreadLocal<RefCell<Memo<V>>>,
}

struct Memo<V> {
    slots: Box<[Option<Entry<V>>]>,
}

struct Entry<V> {
    digest: TokenDigest,
    /// The revocation count when the value was taken from the shared cache.
    stamp: u64,
    value: V,
}

/// The slot `digest` maps to (its bytes are uniformly random).
fn slot_of(digest: &TokenDigest) -> usize {
    usize::from(digest.as_bytes()[31]) % LOCAL_SLOTS
}

/// A thread's memo as its holder sees it: [`LocalHits`] needs `V: Send`, which a
/// holder generic over a user type without that bound cannot name.
pub(crate) trait LocalMemo<V>: Send + Sync {
    /// This thread's value for `digest`, if it took one while the revocation count
    /// was `stamp`. An entry from an older count is dropped.
    fn get(&self, digest: &TokenDigest, stamp: u64) -> Option<V>;

    /// Keeps `value` for `digest` in this thread's memo, stamped with the revocation
    /// count read before it was taken from the shared cache.
    fn put(&self, digest: TokenDigest, stamp: u64, value: V);

    /// Drops this thread's entry for `digest`, if any.
    fn remove(&self, digest: &TokenDigest);
}

impl<V: Clone + Send> LocalHits<V> {
    pub(crate) fn new() -> Self {
        Self {
            threads: ThreadLocal::new(),
        }
    }

    fn memo(&self) -> &RefCell<Memo<V>> {
        self.threads.get_or(|| {
            RefCell::new(Memo {
                slots: (0..LOCAL_SLOTS).map(|_| None).collect(),
            })
        })
    }
}

impl<V: Clone + Send> LocalMemo<V> for LocalHits<V> {
    fn get(&self, digest: &TokenDigest, stamp: u64) -> Option<V> {
        let mut memo = self.memo().borrow_mut();
        let slot = &mut memo.slots[slot_of(digest)];
        match slot {
            Some(entry) if entry.digest == *digest && entry.stamp == stamp => {
                Some(entry.value.clone())
            }
            Some(entry) if entry.stamp != stamp => {
                // Dropped outside the borrow: a value's drop may run arbitrary code.
                let stale = slot.take();
                drop(memo);
                drop(stale);
                None
            }
            _ => None,
        }
    }

    fn put(&self, digest: TokenDigest, stamp: u64, value: V) {
        let mut memo = self.memo().borrow_mut();
        let replaced = memo.slots[slot_of(&digest)].replace(Entry {
            digest,
            stamp,
            value,
        });
        drop(memo);
        drop(replaced);
    }

    fn remove(&self, digest: &TokenDigest) {
        let mut memo = self.memo().borrow_mut();
        let slot = &mut memo.slots[slot_of(digest)];
        let removed = match slot {
            Some(entry) if entry.digest == *digest => slot.take(),
            _ => None,
        };
        drop(memo);
        drop(removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8, slot: u8) -> TokenDigest {
        let mut bytes = [n; 32];
        bytes[31] = slot;
        TokenDigest::from_bytes(bytes)
    }

    #[test]
    fn a_value_serves_only_under_the_stamp_it_was_taken_with() {
        let hits = LocalHits::new();
        hits.put(digest(1, 5), 7, "one");
        assert_eq!(hits.get(&digest(1, 5), 7), Some("one"));
        assert_eq!(
            hits.get(&digest(2, 5), 7),
            None,
            "another digest, same slot"
        );
        assert_eq!(hits.get(&digest(1, 5), 8), None, "a revocation ran since");
        assert_eq!(
            hits.get(&digest(1, 5), 7),
            None,
            "the stale entry was dropped"
        );
    }

    #[test]
    fn the_newest_value_for_a_slot_wins_and_removal_takes_only_its_own_digest() {
        let hits = LocalHits::new();
        hits.put(digest(1, 9), 0, 1);
        hits.put(digest(2, 9), 0, 2);
        assert_eq!(hits.get(&digest(1, 9), 0), None);
        assert_eq!(hits.get(&digest(2, 9), 0), Some(2));
        hits.remove(&digest(1, 9));
        assert_eq!(hits.get(&digest(2, 9), 0), Some(2), "not its digest: kept");
        hits.remove(&digest(2, 9));
        assert_eq!(hits.get(&digest(2, 9), 0), None);
    }

    #[test]
    fn each_thread_sees_only_its_own_memo() {
        let hits = LocalHits::new();
        hits.put(digest(3, 1), 0, 3);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                assert_eq!(hits.get(&digest(3, 1), 0), None);
                hits.put(digest(3, 1), 0, 4);
                assert_eq!(hits.get(&digest(3, 1), 0), Some(4));
            });
        });
        assert_eq!(hits.get(&digest(3, 1), 0), Some(3));
    }
}
