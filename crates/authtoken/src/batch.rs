//! Lookups answered together: at most `max_in_flight` store queries run at once; a
//! request that misses the cache while they are all busy waits in a queue, and the
//! next query asks for every waiting digest at once ("group commit").
//!
//! Nothing waits when the store is idle: the first request runs its query at once, so
//! batching adds no latency at low load and saves round trips at high load.
//!
//! A request that leads a batch holds a [`Permit`]. When its query is done (or the
//! request is dropped mid-way) the permit passes to the oldest waiting request, with
//! the digests queued behind it, or is returned when nobody waits. Waiters of a batch
//! whose leader was dropped (its client hung up) go back to the front of the queue,
//! and the permit passes to them: no query ever runs without a permit, so at most
//! `max_in_flight` run at once whoever hangs up.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::digest::TokenDigest;

/// The most digests one query asks for.
pub(crate) const MAX_BATCH: usize = 128;

/// Queues lookups of answers of type `A` by digest.
pub(crate) struct Batcher<A> {
    queue: Mutex<Queue<A>>,
    max_in_flight: usize,
}

struct Queue<A> {
    in_flight: usize,
    waiting: VecDeque<Waiter<A>>,
}

struct Waiter<A> {
    digest: TokenDigest,
    reply: oneshot::Sender<Turn<A>>,
}

/// What a request that joined the queue is to do.
pub(crate) enum Turn<A> {
    /// Another request's query answered it.
    Answered(A),
    /// It runs the query for this batch, its own digest first.
    Lead(Batch<A>),
}

/// A query to run: the digests to ask for, and who waits for the answers.
pub(crate) struct Batch<A> {
    digests: Vec<TokenDigest>,
    waiters: Vec<Waiter<A>>,
    permit: Option<Permit<A>>,
    batcher: Arc<Batcher<A>>,
}

/// One of the `max_in_flight` queries that may run at once.
struct Permit<A> {
    batcher: Option<Arc<Batcher<A>>>,
}

impl<A> Batcher<A> {
    /// At most `max_in_flight` (at least 1) queries at once.
    pub(crate) fn new(max_in_flight: usize) -> Self {
        Self {
            queue: Mutex::new(Queue {
                in_flight: 0,
                waiting: VecDeque::new(),
            }),
            max_in_flight: max_in_flight.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<A>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the queue for `digest`. `None` only if the queue itself went away.
    pub(crate) async fn join(self: &Arc<Self>, digest: TokenDigest) -> Option<Turn<A>> {
        let reply = {
            let mut queue = self.lock();
            if queue.in_flight < self.max_in_flight {
                queue.in_flight += 1;
                drop(queue);
                return Some(Turn::Lead(Batch {
                    digests: vec![digest],
                    waiters: Vec::new(),
                    permit: Some(Permit {
                        batcher: Some(Arc::clone(self)),
                    }),
                    batcher: Arc::clone(self),
                }));
            }
            let (reply, answer) = oneshot::channel();
            queue.waiting.push_back(Waiter { digest, reply });
            answer
        };
        reply.await.ok()
    }

    /// A permit was released: it leads the next batch, or is returned.
    fn pass_on(self: Arc<Self>) {
        let mut carried: Vec<Waiter<A>> = Vec::new();
        loop {
            let mut queue = self.lock();
            // Waiters handed back by a leader that had gone go first again.
            for waiter in carried.drain(..).rev() {
                queue.waiting.push_front(waiter);
            }
            let Some(leader) = queue.waiting.pop_front() else {
                queue.in_flight -= 1;
                return;
            };
            let take = queue.waiting.len().min(MAX_BATCH - 1);
            let waiters: Vec<Waiter<A>> = queue.waiting.drain(..take).collect();
            drop(queue);
            let mut digests = Vec::with_capacity(1 + waiters.len());
            digests.push(leader.digest);
            digests.extend(waiters.iter().map(|waiter| waiter.digest));
            let batch = Batch {
                digests,
                waiters,
                permit: Some(Permit {
                    batcher: Some(Arc::clone(&self)),
                }),
                batcher: Arc::clone(&self),
            };
            match leader.reply.send(Turn::Lead(batch)) {
                Ok(()) => return,
                Err(Turn::Lead(mut batch)) => {
                    // That request is gone: the permit stays here, for the next one.
                    if let Some(mut permit) = batch.permit.take() {
                        permit.batcher = None;
                    }
                    carried = std::mem::take(&mut batch.waiters);
                }
                Err(Turn::Answered(_)) => unreachable!("a lead was sent"),
            }
        }
    }
}

impl<A: Clone> Batch<A> {
    /// The digests to ask for: the leader's own first, then the waiters'.
    pub(crate) fn digests(&self) -> &[TokenDigest] {
        &self.digests
    }

    /// The query is done: the next batch may start.
    pub(crate) fn release(&mut self) {
        self.permit = None;
    }

    /// Sends each waiter its answer.
    pub(crate) fn answer(mut self, answer_for: impl Fn(&TokenDigest) -> A) {
        self.release();
        for waiter in self.waiters.drain(..) {
            let answer = answer_for(&waiter.digest);
            // A waiter that is gone needs no answer.
            let _ = waiter.reply.send(Turn::Answered(answer));
        }
    }
}

/// A batch dropped before it answered (its leader's client hung up): its waiters go
/// back to the front of the queue, where the batch's permit, passed on as it drops,
/// leads them. If the permit was already released, they take a free one if there is
/// one, or wait for a permit in use to pass on.
impl<A> Drop for Batch<A> {
    fn drop(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let batcher = Arc::clone(&self.batcher);
        let free_permit = {
            let mut queue = batcher.lock();
            for waiter in self.waiters.drain(..).rev() {
                queue.waiting.push_front(waiter);
            }
            let free = self.permit.is_none() && queue.in_flight < batcher.max_in_flight;
            if free {
                queue.in_flight += 1;
            }
            free
        };
        if free_permit {
            batcher.pass_on();
        }
        // Otherwise the batch's own permit passes on as it drops, right after this.
    }
}

impl<A> Drop for Permit<A> {
    fn drop(&mut self) {
        if let Some(batcher) = self.batcher.take() {
            batcher.pass_on();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::TokenHasher;

    fn digest(n: u32) -> TokenDigest {
        TokenHasher::sha256().digest(&n.to_be_bytes())
    }

    fn lead(turn: Option<Turn<u32>>) -> Batch<u32> {
        match turn {
            Some(Turn::Lead(batch)) => batch,
            Some(Turn::Answered(answer)) => panic!("answered {answer}, expected to lead"),
            None => panic!("dropped, expected to lead"),
        }
    }

    fn in_flight(batcher: &Batcher<u32>) -> usize {
        batcher.lock().in_flight
    }

    #[tokio::test]
    async fn the_first_requests_lead_at_once() {
        let batcher = Arc::new(Batcher::new(2));
        let first = lead(batcher.join(digest(1)).await);
        let second = lead(batcher.join(digest(2)).await);
        assert_eq!(first.digests(), [digest(1)]);
        assert_eq!(second.digests(), [digest(2)]);
        assert_eq!(in_flight(&batcher), 2);
        first.answer(|_| 0);
        second.answer(|_| 0);
        assert_eq!(in_flight(&batcher), 0, "the permits came back");
    }

    #[tokio::test]
    async fn waiters_form_the_next_batch_and_get_its_answers() {
        let batcher = Arc::new(Batcher::new(1));
        let mut first = lead(batcher.join(digest(1)).await);
        let waiters: Vec<_> = (2..=5)
            .map(|n| {
                let batcher = Arc::clone(&batcher);
                tokio::spawn(async move {
                    match batcher.join(digest(n)).await {
                        Some(Turn::Answered(answer)) => (n, Some(answer)),
                        Some(Turn::Lead(batch)) => {
                            assert_eq!(
                                batch.digests(),
                                [digest(2), digest(3), digest(4), digest(5)],
                                "the oldest waiter leads, the others ride along"
                            );
                            batch.answer(|d| (2..=5).find(|&n| digest(n) == *d).unwrap() * 10);
                            (n, None)
                        }
                        None => panic!("nobody was dropped"),
                    }
                })
            })
            .collect();
        // Let every waiter queue behind the running query.
        while batcher.lock().waiting.len() < 4 {
            tokio::task::yield_now().await;
        }
        first.release();
        first.answer(|_| 0);
        let mut answered = Vec::new();
        for waiter in waiters {
            answered.push(waiter.await.expect("no panic"));
        }
        answered.sort_unstable();
        assert_eq!(
            answered,
            [(2, None), (3, Some(30)), (4, Some(40)), (5, Some(50))]
        );
        assert_eq!(in_flight(&batcher), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_hands_its_permit_and_its_waiters_on() {
        let batcher = Arc::new(Batcher::new(1));
        let first = lead(batcher.join(digest(1)).await);
        let second = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { lead(batcher.join(digest(2)).await) }
        });
        let third = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { lead(batcher.join(digest(3)).await) }
        });
        while batcher.lock().waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        drop(first);
        let second = second.await.expect("second leads next");
        assert_eq!(second.digests(), [digest(2), digest(3)]);
        // The second leader is dropped before answering: the third leads next, under
        // the permit the second held, never beside it.
        drop(second);
        let third = third.await.expect("the third leads");
        assert_eq!(third.digests(), [digest(3)]);
        assert_eq!(in_flight(&batcher), 1, "one permit, handed on");
        third.answer(|_| 0);
        assert_eq!(in_flight(&batcher), 0);
    }

    #[tokio::test]
    async fn waiters_of_a_released_batch_dropped_unanswered_take_a_free_permit() {
        let batcher = Arc::new(Batcher::new(1));
        let first = lead(batcher.join(digest(1)).await);
        let second = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { lead(batcher.join(digest(2)).await) }
        });
        let third = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { lead(batcher.join(digest(3)).await) }
        });
        while batcher.lock().waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        first.answer(|_| 0);
        let mut second = second.await.expect("second leads next");
        second.release();
        assert_eq!(in_flight(&batcher), 0, "released");
        drop(second);
        let third = third.await.expect("the third leads");
        assert_eq!(in_flight(&batcher), 1);
        third.answer(|_| 0);
        assert_eq!(in_flight(&batcher), 0);
    }

    #[tokio::test]
    async fn a_waiter_that_left_is_skipped_when_the_permit_passes() {
        let batcher = Arc::new(Batcher::new(1));
        let first = lead(batcher.join(digest(1)).await);
        let gone = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.join(digest(2)).await.is_some() }
        });
        while batcher.lock().waiting.is_empty() {
            tokio::task::yield_now().await;
        }
        gone.abort();
        let _ = gone.await;
        let next = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { lead(batcher.join(digest(3)).await) }
        });
        while batcher.lock().waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        first.answer(|_| 0);
        let next = next.await.expect("the live waiter leads");
        assert_eq!(next.digests(), [digest(3)]);
        next.answer(|_| 0);
        assert_eq!(in_flight(&batcher), 0);
        assert!(batcher.lock().waiting.is_empty());
    }

    #[test]
    fn a_batch_asks_for_at_most_max_batch_digests() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let batcher = Arc::new(Batcher::new(1));
            let first = lead(batcher.join(digest(0)).await);
            let count = MAX_BATCH as u32 + 10;
            let mut waiters = Vec::new();
            for n in 1..=count {
                let batcher = Arc::clone(&batcher);
                waiters.push(tokio::spawn(async move {
                    match batcher.join(digest(n)).await {
                        Some(Turn::Lead(batch)) => {
                            let size = batch.digests().len();
                            batch.answer(|_| 0);
                            size
                        }
                        _ => 0,
                    }
                }));
            }
            while batcher.lock().waiting.len() < count as usize {
                tokio::task::yield_now().await;
            }
            first.answer(|_| 0);
            let mut sizes: Vec<usize> = Vec::new();
            for waiter in waiters {
                let size = waiter.await.expect("no panic");
                if size > 0 {
                    sizes.push(size);
                }
            }
            assert_eq!(sizes, [MAX_BATCH, 10]);
        });
    }
}
