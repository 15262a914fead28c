//! The in-process cache of verified tokens: a fixed-capacity map from digest to a
//! shared value, sharded so that requests on different cores rarely meet on a lock,
//! with CLOCK (second-chance) eviction.
//!
//! Its memory is taken once, when it is built: per token, one slot (the digest, the
//! value and a reference bit) and one index entry (a `u32` and a control byte in a
//! hash table sized for the shard). Nothing is allocated on a hit or an insert, and
//! it never holds more than its capacity.
//!
//! Digests are SHA-256 or HMAC outputs, uniformly distributed, so their bytes are
//! used as the hash directly. Only verified tokens are inserted, so a client cannot
//! fill a chain with colliding keys of its choosing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use hashbrown::HashTable;

use crate::digest::TokenDigest;

/// The fewest slots a shard is given, when the capacity allows: smaller shards would
/// evict by a hand that sees too few candidates.
const MIN_SHARD_SLOTS: usize = 64;

/// A bounded map from token digest to `V`.
pub(crate) struct DigestCache<V> {
    shards: Box<[RwLock<Shard<V>>]>,
    /// `shards.len() - 1`; the length is a power of two.
    shard_mask: usize,
}

struct Slot<V> {
    digest: TokenDigest,
    value: V,
    /// Set by a hit, cleared as the eviction hand passes: an entry used since the
    /// hand last passed is spared once.
    referenced: AtomicBool,
}

struct Shard<V> {
    /// Indexes into `slots`, hashed by the digest of the slot they point to.
    index: HashTable<u32>,
    slots: Vec<Slot<V>>,
    capacity: usize,
    /// Where the eviction hand stands in `slots`.
    hand: usize,
}

/// The hash a shard's index uses for `digest`.
fn index_hash(digest: &TokenDigest) -> u64 {
    let bytes = digest.as_bytes();
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

/// Which shard holds `digest` (from bytes the index hash does not use).
fn shard_hash(digest: &TokenDigest) -> usize {
    let bytes = digest.as_bytes();
    usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))
}

impl<V: Clone> DigestCache<V> {
    /// A cache of at most `capacity` entries (at least 1), its memory taken now.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let parallelism = std::thread::available_parallelism().map_or(4, |n| n.get());
        let mut shard_count = (parallelism * 4).next_power_of_two().min(1 << 16);
        while shard_count > 1 && capacity / shard_count < MIN_SHARD_SLOTS {
            shard_count /= 2;
        }
        let (base, extra) = (capacity / shard_count, capacity % shard_count);
        let shards = (0..shard_count)
            .map(|n| {
                let capacity = base + usize::from(n < extra);
                RwLock::new(Shard {
                    index: HashTable::with_capacity(capacity),
                    slots: Vec::with_capacity(capacity),
                    capacity,
                    hand: 0,
                })
            })
            .collect();
        Self {
            shards,
            shard_mask: shard_count - 1,
        }
    }

    fn shard(&self, digest: &TokenDigest) -> &RwLock<Shard<V>> {
        &self.shards[shard_hash(digest) & self.shard_mask]
    }

    /// The value cached for `digest`, marked as used.
    pub(crate) fn get(&self, digest: &TokenDigest) -> Option<V> {
        let shard = self
            .shard(digest)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = shard.find(digest).map(|at| &shard.slots[at])?;
        // Read before writing, so that hits on a hot entry do not bounce its cache line.
        if !slot.referenced.load(Ordering::Relaxed) {
            slot.referenced.store(true, Ordering::Relaxed);
        }
        Some(slot.value.clone())
    }

    /// Caches `value` for `digest`, replacing what was there; when the shard is full,
    /// evicts an entry not used since the hand last passed it.
    pub(crate) fn insert(&self, digest: TokenDigest, value: V) {
        let mut shard = self
            .shard(&digest)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let evicted = shard.insert(digest, value);
        drop(shard);
        // The evicted value (and the user it may own) is dropped outside the lock.
        drop(evicted);
    }

    /// Drops the entry for `digest`, if any.
    pub(crate) fn remove(&self, digest: &TokenDigest) {
        let mut shard = self
            .shard(digest)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let removed = shard.remove(digest);
        drop(shard);
        drop(removed);
    }

    /// Keeps only the entries for which `keep` is true.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&V) -> bool) {
        for shard in &*self.shards {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            let before = shard.slots.len();
            shard.slots.retain(|slot| keep(&slot.value));
            if shard.slots.len() != before {
                shard.reindex();
            }
        }
    }

    /// Drops every entry; the memory stays reserved.
    pub(crate) fn clear(&self) {
        for shard in &*self.shards {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            let slots = std::mem::take(&mut shard.slots);
            let capacity = shard.capacity;
            shard.slots = Vec::with_capacity(capacity);
            shard.index.clear();
            shard.hand = 0;
            drop(shard);
            drop(slots);
        }
    }

    /// How many entries it holds.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .slots
                    .len()
            })
            .sum()
    }
}

impl<V> Shard<V> {
    fn find(&self, digest: &TokenDigest) -> Option<usize> {
        self.index
            .find(index_hash(digest), |&at| {
                self.slots[at as usize].digest == *digest
            })
            .map(|&at| at as usize)
    }

    /// Points the index entry of the slot now at `from` to `to`.
    fn repoint(&mut self, digest: &TokenDigest, from: usize, to: usize) {
        if let Some(at) = self
            .index
            .find_mut(index_hash(digest), |&at| at as usize == from)
        {
            *at = to as u32;
        }
    }

    fn insert(&mut self, digest: TokenDigest, value: V) -> Option<V> {
        if let Some(at) = self.find(&digest) {
            let slot = &mut self.slots[at];
            slot.referenced.store(true, Ordering::Relaxed);
            return Some(std::mem::replace(&mut slot.value, value));
        }
        let slot = Slot {
            digest,
            value,
            referenced: AtomicBool::new(false),
        };
        if self.slots.len() < self.capacity {
            let at = self.slots.len();
            self.slots.push(slot);
            self.add_to_index(&digest, at);
            return None;
        }
        let victim = self.pick_victim();
        let old = std::mem::replace(&mut self.slots[victim], slot);
        if let Ok(entry) = self
            .index
            .find_entry(index_hash(&old.digest), |&at| at as usize == victim)
        {
            entry.remove();
        }
        self.add_to_index(&digest, victim);
        Some(old.value)
    }

    /// The slot the hand evicts: the first not referenced since the hand last passed
    /// it, clearing reference bits on the way (after one full turn every bit is clear).
    fn pick_victim(&mut self) -> usize {
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let at = self.hand;
            self.hand += 1;
            if !self.slots[at].referenced.swap(false, Ordering::Relaxed) {
                return at;
            }
        }
    }

    fn add_to_index(&mut self, digest: &TokenDigest, at: usize) {
        let slots = &self.slots;
        // Capacity is reserved up front, so this never grows the table; the hasher is
        // only called if it had to.
        self.index
            .insert_unique(index_hash(digest), at as u32, |&at| {
                index_hash(&slots[at as usize].digest)
            });
    }

    fn remove(&mut self, digest: &TokenDigest) -> Option<V> {
        let at = self.find(digest)?;
        if let Ok(entry) = self
            .index
            .find_entry(index_hash(digest), |&found| found as usize == at)
        {
            entry.remove();
        }
        let last = self.slots.len() - 1;
        let removed = self.slots.swap_remove(at);
        if at != last {
            let moved = self.slots[at].digest;
            self.repoint(&moved, last, at);
        }
        if self.hand > self.slots.len() {
            self.hand = 0;
        }
        Some(removed.value)
    }

    fn reindex(&mut self) {
        self.index.clear();
        for at in 0..self.slots.len() {
            let digest = self.slots[at].digest;
            self.add_to_index(&digest, at);
        }
        self.hand = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::TokenHasher;

    fn digest(n: usize) -> TokenDigest {
        TokenHasher::sha256().digest(n.to_string().as_bytes())
    }

    #[test]
    fn finds_what_it_holds_and_not_what_it_does_not() {
        let cache = DigestCache::new(100);
        for n in 0..50 {
            cache.insert(digest(n), n);
        }
        for n in 0..50 {
            assert_eq!(cache.get(&digest(n)), Some(n));
        }
        assert_eq!(cache.get(&digest(50)), None);
        assert_eq!(cache.len(), 50);
        cache.insert(digest(7), 700);
        assert_eq!(cache.get(&digest(7)), Some(700));
        assert_eq!(cache.len(), 50);
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        for capacity in [1, 3, 64, 1000, 4099] {
            let cache = DigestCache::new(capacity);
            for n in 0..3 * capacity + 10 {
                cache.insert(digest(n), n);
                assert!(cache.len() <= capacity);
            }
            assert_eq!(cache.len(), capacity, "a full cache stays full");
            // What it holds is still found, each under its own digest.
            let mut found = 0;
            for n in 0..3 * capacity + 10 {
                if let Some(value) = cache.get(&digest(n)) {
                    assert_eq!(value, n);
                    found += 1;
                }
            }
            assert_eq!(found, capacity);
        }
    }

    #[test]
    fn an_entry_in_use_outlives_one_that_is_not() {
        // One shard (capacity below the shard minimum), so the hand sees every entry.
        let cache = DigestCache::new(8);
        for n in 0..8 {
            cache.insert(digest(n), n);
        }
        for _ in 0..20 {
            for n in 8..100 {
                assert_eq!(cache.get(&digest(0)), Some(0));
                cache.insert(digest(n), n);
            }
        }
        assert_eq!(cache.get(&digest(0)), Some(0), "the hot entry was spared");
    }

    #[test]
    fn removal_keeps_every_other_entry_reachable() {
        // Below twice the shard minimum: one shard, so freed room is all in one place.
        let cache = DigestCache::new(120);
        for n in 0..120 {
            cache.insert(digest(n), n);
        }
        for n in (0..120).step_by(3) {
            cache.remove(&digest(n));
            cache.remove(&digest(n)); // twice is harmless
        }
        assert_eq!(cache.len(), 80);
        for n in 0..120 {
            let expected = (n % 3 != 0).then_some(n);
            assert_eq!(cache.get(&digest(n)), expected, "entry {n}");
        }
        // Freed room is used again before anything is evicted.
        for n in 120..160 {
            cache.insert(digest(n), n);
        }
        for n in (0..160).filter(|n| n % 3 != 0 || *n >= 120) {
            assert_eq!(cache.get(&digest(n)), Some(n), "entry {n}");
        }
    }

    #[test]
    fn retain_and_clear() {
        let cache = DigestCache::new(500);
        for n in 0..400 {
            cache.insert(digest(n), n);
        }
        cache.retain(|&n| n % 2 == 0);
        assert_eq!(cache.len(), 200);
        for n in 0..400 {
            assert_eq!(cache.get(&digest(n)).is_some(), n % 2 == 0, "entry {n}");
        }
        cache.clear();
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.get(&digest(2)), None);
        cache.insert(digest(2), 2);
        assert_eq!(cache.get(&digest(2)), Some(2));
    }

    #[test]
    fn many_threads_at_once() {
        let cache = std::sync::Arc::new(DigestCache::new(256));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = std::sync::Arc::clone(&cache);
                std::thread::spawn(move || {
                    for round in 0..2_000 {
                        let n = (t * 7_919 + round * 31) % 1_000;
                        cache.insert(digest(n), n);
                        if let Some(value) = cache.get(&digest(n)) {
                            assert_eq!(value, n);
                        }
                        if round % 5 == 0 {
                            cache.remove(&digest((n + 1) % 1_000));
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no panic");
        }
        assert!(cache.len() <= 256);
        for n in 0..1_000 {
            if let Some(value) = cache.get(&digest(n)) {
                assert_eq!(value, n);
            }
        }
    }
}
