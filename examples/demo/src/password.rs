//! Argon2id password hashes, computed off the async runtime on a few threads of
//! their own: at most one hash per core runs at once, and at most [`QUEUE`] wait.
//! Each hash takes about 19 MiB; a fixed set of threads keeps that memory bounded
//! (and reused), where a thread per request would leave each its own heap.

use std::sync::OnceLock;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::DemoError;

/// Hashes `password` (Argon2id, default parameters, random salt) into a PHC string.
pub(crate) async fn hash(password: String) -> Result<String, DemoError> {
    run_blocking(move || hash_now(&password)).await?
}

/// Checks `password` against a stored PHC string. With `None` (no such user) a dummy
/// hash is checked instead, so that an unknown username costs as much time as a wrong
/// password and does not reveal itself.
pub(crate) async fn verify(password: String, stored: Option<String>) -> Result<bool, DemoError> {
    run_blocking(move || {
        let (phc, known) = match &stored {
            Some(phc) => (phc.as_str(), true),
            None => (dummy_hash()?, false),
        };
        let parsed = PasswordHash::new(phc).map_err(|error| {
            DemoError::Internal(format!("stored password hash is unreadable: {error}").into())
        })?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

fn hash_now(password: &str) -> Result<String, DemoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| DemoError::Internal(format!("password hashing failed: {error}").into()))
}

fn dummy_hash() -> Result<&'static str, DemoError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_now("a password nobody has")?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// How many hashes may wait for a free thread; beyond that a request is answered
/// 503 at once, with `Retry-After`.
const QUEUE: usize = 64;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads fed by a bounded queue.
struct HashingThreads {
    queue: SyncSender<Job>,
}

impl HashingThreads {
    /// Starts `threads` threads that take jobs from a queue of at most `waiting`.
    fn start(threads: usize, waiting: usize) -> Self {
        let (queue, receiver) = sync_channel::<Job>(waiting);
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for n in 0..threads {
            let receiver = std::sync::Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password hashing thread");
            }
        }
        Self { queue }
    }

    /// Runs `work` on one of the threads, or refuses at once (503 with
    /// `Retry-After`, [`DemoError::Overloaded`]) when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, DemoError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(DemoError::overloaded()),
            Err(TrySendError::Disconnected(_)) => {
                return Err(DemoError::Internal("no password hashing thread".into()));
            }
        }
        answer
            .await
            .map_err(|error| DemoError::Internal(Box::new(error)))
    }
}

/// Runs `work` on the process's hashing threads (one per core), started on first
/// use.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DemoError> {
    static HASHERS: OnceLock<HashingThreads> = OnceLock::new();
    HASHERS
        .get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            HashingThreads::start(threads, QUEUE)
        })
        .run(work)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let phc = hash("correct horse".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(phc.clone()))
                .await
                .expect("verify")
        );
        assert!(!verify("wrong".into(), Some(phc)).await.expect("verify"));
        assert!(!verify("correct horse".into(), None).await.expect("verify"));
    }

    /// Many logins at once run on the hashing threads only, at most one per core at
    /// a time; what does not fit in the queue is refused with 503, not queued for
    /// ever.
    #[tokio::test]
    async fn hashes_run_on_a_bounded_set_of_threads() {
        // Threads of the test's own, so that the other tests' hashes neither fill
        // this queue nor find it full.
        const THREADS: usize = 2;
        let hashers = std::sync::Arc::new(HashingThreads::start(THREADS, QUEUE));
        let phc = hash("pw".into()).await.expect("hash");
        let names = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (phc, names) = (phc.clone(), std::sync::Arc::clone(&names));
            let hashers = std::sync::Arc::clone(&hashers);
            tasks.push(tokio::spawn(async move {
                hashers
                    .run(move || {
                        let name = std::thread::current().name().map(str::to_owned);
                        names.lock().expect("names").insert(name);
                        let parsed = PasswordHash::new(&phc).expect("phc");
                        Argon2::default().verify_password(b"pw", &parsed).is_ok()
                    })
                    .await
            }));
        }
        let (mut verified, mut refused) = (0, 0);
        for task in tasks {
            match task.await.expect("no panic") {
                Ok(true) => verified += 1,
                Err(error) => {
                    assert_eq!(error.status(), 503, "{error:?}");
                    assert_eq!(error.retry_after(), Some(1), "{error:?}");
                    refused += 1;
                }
                Ok(false) => panic!("the password was right"),
            }
        }
        let names = names.lock().expect("names").clone();
        assert!(names.len() <= THREADS, "{names:?}");
        assert!(
            names.iter().all(|name| name
                .as_deref()
                .is_some_and(|n| n.starts_with("password-hash-"))),
            "{names:?}"
        );
        assert!(verified >= QUEUE, "{verified} verified, {refused} refused");
        assert_eq!(verified + refused, 200);
    }

    #[tokio::test]
    async fn an_unreadable_hash_is_an_internal_error() {
        let error = verify("pw".into(), Some("not a hash".into()))
            .await
            .expect_err("unreadable");
        assert_eq!(error.status(), 500);
    }
}
