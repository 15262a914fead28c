//! Last-use writes: at most one per token per interval, started off the request
//! path, with sliding expiry moved in the same write; and waiting for them to finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use time::OffsetDateTime;
use tokio::sync::Notify;

use super::identity::{NEVER, TokenState};
use super::{Authenticator, millis};
use crate::clock::{from_unix_micros, to_store_precision, unix_micros};
use crate::store::Slide;

#[derive(Default)]
pub(super) struct PendingWrites {
    count: AtomicUsize,
    idle: Notify,
}

/// One last-use write in flight: counted down when dropped.
pub(super) struct PendingWrite(Arc<PendingWrites>);

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if self.0.count_down() {
            self.0.idle.notify_waiters();
        }
    }
}

impl PendingWrites {
    /// Counts one write down; true when none is left.
    fn count_down(&self) -> bool {
        self.count.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

impl<U: Send + Sync + 'static> Authenticator<U> {
    /// Writes the last use of `state`'s token (and, with sliding expiry, the new
    /// expiry) at most once per interval, off the request path. `last_touch` is the
    /// mark the interval is counted from: the state's own, or the token's use mark
    /// with the cache off. `now_ms` is the time of the use; `now` the same instant
    /// when the caller has it (else the clock is read once a write is due).
    pub(super) fn record_use(
        &self,
        state: &TokenState,
        last_touch: &AtomicI64,
        now_ms: i64,
        now: Option<OffsetDateTime>,
    ) {
        let inner = &*self.inner;
        let settings = &inner.settings;
        if state.legacy_key.is_some() {
            return;
        }
        let previous = last_touch.load(Ordering::Acquire);
        if now_ms.saturating_sub(previous) < millis(settings.last_used_interval) {
            return;
        }
        if last_touch
            .compare_exchange(previous, now_ms, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // another request is writing it
        }
        // The time written, read from the clock only now that a write is due.
        let now = now.unwrap_or_else(|| inner.clock.now());
        let slide = if settings.sliding_expiry {
            self.slide(state, now)
        } else {
            None
        };
        let id = state.info.id;
        let authenticator = self.clone();
        let pending = Arc::clone(&inner.pending_writes);
        pending.count.fetch_add(1, Ordering::AcqRel);
        // Counts the write down however it ends: done, or dropped unfinished because
        // its runtime shut down first (an actix-web worker's, say), so that `flush`
        // never waits for a write that will not happen.
        let pending = PendingWrite(pending);
        let write = async move {
            let _pending = pending;
            match authenticator.inner.store.touch(id, now, slide).await {
                Ok(true) => {}
                // The row's expiry changed since it was read (a rotation shortened it,
                // say): the shortening stands, and this node reads the token again.
                Ok(false) => authenticator
                    .invalidate(|cache| cache.retain(|shared| shared.token.info.id != id)),
                Err(error) => {
                    tracing::warn!(error = %error, token_id = %id, "could not record a token's last use");
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(write);
            }
            Err(_) => {
                tracing::debug!("no tokio runtime: last-use write skipped");
                drop(write);
            }
        }
    }

    /// The sliding-expiry move for a use of `state`'s token at `now`: its expiry to
    /// `now` plus the token ttl, never past its limit nor backwards; `None` when it
    /// does not move (a token that never expires, or one at its limit). Moves the
    /// state's own expiry at once; the store makes the same move only if the row
    /// still holds the expiry it moves from.
    fn slide(&self, state: &TokenState, now: OffsetDateTime) -> Option<Slide> {
        let ttl = self.inner.settings.token_ttl?;
        let from = state.expires.load(Ordering::Acquire);
        if from == NEVER {
            return None;
        }
        let wanted = time::Duration::try_from(ttl)
            .ok()
            .and_then(|ttl| now.checked_add(ttl))
            .map_or(NEVER, |at| unix_micros(to_store_precision(at)));
        let to = wanted.min(state.limit);
        if to <= from
            || state
                .expires
                .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        Some(Slide {
            from: from_unix_micros(from)?,
            to: from_unix_micros(to)?,
        })
    }

    /// Waits until every last-use write started so far has finished (for graceful
    /// shutdown, and for tests that count writes).
    pub async fn flush(&self) {
        let pending = &self.inner.pending_writes;
        loop {
            let idle = pending.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if pending.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}
