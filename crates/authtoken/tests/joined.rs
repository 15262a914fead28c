//! A [`JoinedLookup`] replaces the store read and the user load of a cache miss with
//! one call, and every answer of the error table stays what it was.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authtoken::{
    AuthError, Authenticator, DigestKey, IssueOptions, IssuedToken, JoinedLookup, ManualClock,
    MemoryStore, TokenDigest, TokenHasher, TokenStore, TokenWithUser, UserLoader,
};

#[derive(Debug, Clone, PartialEq, Eq)]
struct User {
    name: String,
    active: bool,
}

/// Users by id, counting loads, shared by the loader and the joined lookup.
#[derive(Clone, Default)]
struct Users {
    users: Arc<Mutex<HashMap<String, User>>>,
    loads: Arc<AtomicUsize>,
}

impl Users {
    fn add(&self, id: &str, name: &str, active: bool) {
        let user = User {
            name: name.to_owned(),
            active,
        };
        self.users
            .lock()
            .expect("users")
            .insert(id.to_owned(), user);
    }

    fn get(&self, id: &str) -> Option<User> {
        self.users.lock().expect("users").get(id).cloned()
    }
}

impl UserLoader for Users {
    type User = User;
    type Error = std::convert::Infallible;

    async fn load(&self, user_id: &str) -> Result<Option<User>, Self::Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(self.get(user_id))
    }

    fn is_active(&self, user: &User) -> bool {
        user.active
    }
}

/// The store and the users read "in one query": one call, counted.
#[derive(Clone)]
struct Joined {
    store: Arc<MemoryStore>,
    users: Users,
    calls: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    /// How many digests each call asked for.
    sizes: Arc<Mutex<Vec<usize>>>,
    /// When set, the next call waits for this before it answers.
    hold: Arc<Mutex<Option<tokio::sync::oneshot::Receiver<()>>>>,
    /// Calls running now, and the most that ever ran at once.
    running: Arc<AtomicUsize>,
    most_running: Arc<AtomicUsize>,
}

/// Counts a call as running until it returns or is dropped unfinished.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl JoinedLookup for Joined {
    type User = User;
    type Error = std::io::Error;

    async fn find_with_users(
        &self,
        digests: &[TokenDigest],
    ) -> Result<Vec<TokenWithUser<User>>, Self::Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now_running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(Arc::clone(&self.running));
        self.most_running.fetch_max(now_running, Ordering::SeqCst);
        self.sizes.lock().expect("sizes").push(digests.len());
        let hold = self.hold.lock().expect("hold").take();
        if let Some(hold) = hold {
            let _ = hold.await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("database unreachable"));
        }
        // A round trip's worth of time, so that calls made together overlap.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut found = Vec::new();
        for digest in digests {
            let record = self
                .store
                .find_by_digest(digest)
                .await
                .unwrap_or_else(|never| match never {});
            if let Some(record) = record {
                let user = self.users.get(&record.info.user_id);
                found.push((record, user));
            }
        }
        Ok(found)
    }
}

struct Setup {
    store: Arc<MemoryStore>,
    users: Users,
    joined: Joined,
    clock: Arc<ManualClock>,
}

impl Setup {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let users = Users::default();
        users.add("1", "alice", true);
        users.add("2", "bob", false);
        let joined = Joined {
            store: Arc::clone(&store),
            users: users.clone(),
            calls: Arc::default(),
            failing: Arc::default(),
            sizes: Arc::default(),
            hold: Arc::default(),
            running: Arc::default(),
            most_running: Arc::default(),
        };
        Self {
            store,
            users,
            joined,
            clock: Arc::new(ManualClock::starting_now()),
        }
    }

    fn authenticator(&self, cache_capacity: usize, hasher: TokenHasher) -> Authenticator<User> {
        Authenticator::builder(Arc::clone(&self.store), self.users.clone())
            .joined_lookup(self.joined.clone())
            .max_concurrent_lookups(1)
            .cache_capacity(cache_capacity)
            .hasher(hasher)
            .clock(self.clock.clone())
            .build()
            .expect("settings")
    }

    fn calls(&self) -> usize {
        self.joined.calls.load(Ordering::SeqCst)
    }

    fn loads(&self) -> usize {
        self.users.loads.load(Ordering::SeqCst)
    }
}

async fn issue(auth: &Authenticator<User>, user: &str, options: IssueOptions) -> IssuedToken {
    auth.issue(user, options).await.expect("issue")
}

/// Authenticates `header` on another task.
fn spawn_auth(
    authenticator: &Authenticator<User>,
    header: String,
) -> tokio::task::JoinHandle<Result<String, AuthError>> {
    let authenticator = authenticator.clone();
    tokio::spawn(async move { auth(&authenticator, &header).await })
}

/// Starts a request for `header` whose lookup waits until the sender is used.
async fn start_held_lookup(
    setup: &Setup,
    authenticator: &Authenticator<User>,
    header: String,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<String, AuthError>>,
) {
    let (release, hold) = tokio::sync::oneshot::channel();
    *setup.joined.hold.lock().expect("hold") = Some(hold);
    let first = spawn_auth(authenticator, header);
    while setup.calls() < 1 {
        tokio::task::yield_now().await;
    }
    (release, first)
}

fn header(issued: &IssuedToken) -> String {
    format!("Token {}", issued.token().expose_secret())
}

async fn auth(auth: &Authenticator<User>, header: &str) -> Result<String, AuthError> {
    auth.authenticate(Some(header.as_bytes()))
        .await
        .map(|identity| identity.expect("not anonymous").user().name.clone())
}

#[tokio::test]
async fn one_call_a_request_with_the_cache_off_and_no_user_load() {
    let setup = Setup::new();
    let auth_off = setup.authenticator(0, TokenHasher::sha256());
    let issued = issue(&auth_off, "1", IssueOptions::new()).await;
    for round in 1..=5 {
        assert_eq!(auth(&auth_off, &header(&issued)).await, Ok("alice".into()));
        assert_eq!(setup.calls(), round);
    }
    assert_eq!(setup.loads(), 0, "the user came with the token");
}

#[tokio::test]
async fn a_miss_then_the_cache_with_the_cache_on() {
    let setup = Setup::new();
    let auth_on = setup.authenticator(100, TokenHasher::sha256());
    let issued = issue(&auth_on, "1", IssueOptions::new()).await;
    for _ in 0..5 {
        assert_eq!(auth(&auth_on, &header(&issued)).await, Ok("alice".into()));
    }
    assert_eq!(setup.calls(), 1);
    assert_eq!(setup.loads(), 0);
}

#[tokio::test]
async fn the_error_table_is_unchanged() {
    let setup = Setup::new();
    let authenticator = setup.authenticator(0, TokenHasher::sha256());
    let inactive = issue(&authenticator, "2", IssueOptions::new()).await;
    let orphan = issue(&authenticator, "3", IssueOptions::new()).await;
    let short = issue(
        &authenticator,
        "1",
        IssueOptions::new().expires_in(Duration::from_secs(60)),
    )
    .await;
    let revoked = issue(&authenticator, "1", IssueOptions::new()).await;

    assert_eq!(
        auth(&authenticator, &header(&inactive)).await,
        Err(AuthError::UserInactive),
        "an inactive user"
    );
    assert_eq!(
        auth(&authenticator, &header(&orphan)).await,
        Err(AuthError::UserInactive),
        "a user that does not exist"
    );
    assert_eq!(
        auth(&authenticator, &header(&short)).await,
        Ok("alice".into())
    );
    setup.clock.advance(Duration::from_secs(61));
    assert_eq!(
        auth(&authenticator, &header(&short)).await,
        Err(AuthError::TokenExpired)
    );
    assert!(
        authenticator
            .revoke(revoked.info().id)
            .await
            .expect("revoke")
    );
    assert_eq!(
        auth(&authenticator, &header(&revoked)).await,
        Err(AuthError::InvalidToken)
    );
    let unknown = authtoken::TokenPrefix::default().generate();
    assert_eq!(
        auth(
            &authenticator,
            &format!("Token {}", unknown.expose_secret())
        )
        .await,
        Err(AuthError::InvalidToken)
    );
    assert_eq!(setup.loads(), 0);

    setup.joined.failing.store(true, Ordering::SeqCst);
    let error = auth(&authenticator, &header(&inactive))
        .await
        .expect_err("fails closed");
    assert!(matches!(error, AuthError::Unavailable(_)), "{error:?}");
    assert_eq!(error.status(), 503);
}

#[tokio::test]
async fn a_token_under_an_older_key_is_found_through_the_store_and_rekeyed() {
    let setup = Setup::new();
    let key = |version, fill| DigestKey::new(version, vec![fill; 32]).expect("key");
    let before = setup.authenticator(0, TokenHasher::hmac(key(1, 1), []).expect("hasher"));
    let issued = issue(&before, "1", IssueOptions::new()).await;

    let after = setup.authenticator(
        0,
        TokenHasher::hmac(key(2, 2), [key(1, 1)]).expect("hasher"),
    );
    assert_eq!(auth(&after, &header(&issued)).await, Ok("alice".into()));
    assert_eq!(
        setup.calls(),
        1,
        "the joined lookup missed under the new key"
    );
    assert_eq!(setup.loads(), 1, "then the store and the loader found it");

    // Re-keyed: the joined lookup finds it from now on.
    assert_eq!(auth(&after, &header(&issued)).await, Ok("alice".into()));
    assert_eq!(setup.calls(), 2);
    assert_eq!(setup.loads(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_arrive_during_a_lookup_share_the_next_one() {
    let setup = Setup::new();
    let authenticator = setup.authenticator(0, TokenHasher::sha256());
    let alice = issue(&authenticator, "1", IssueOptions::new()).await;
    let bob = issue(&authenticator, "2", IssueOptions::new()).await;
    let unknown = format!(
        "Token {}",
        authtoken::TokenPrefix::default().generate().expose_secret()
    );
    // The first lookup is held until every other request has queued behind it.
    let (release, first) = start_held_lookup(&setup, &authenticator, header(&alice)).await;
    // 30 requests: alice (10, one token asked for by many), bob (inactive, 10) and an
    // unknown token (10).
    let mut queued = Vec::new();
    for n in 0..30 {
        let header = match n % 3 {
            0 => header(&alice),
            1 => header(&bob),
            _ => unknown.clone(),
        };
        queued.push((n % 3, spawn_auth(&authenticator, header)));
    }
    // Give them time to queue (they cannot pass the held lookup).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(setup.calls(), 1, "nobody passed the running lookup");
    release.send(()).expect("the first lookup waits");
    assert_eq!(first.await.expect("no panic"), Ok("alice".into()));
    for (kind, request) in queued {
        let answer = request.await.expect("no panic");
        let expected = match kind {
            0 => Ok("alice".into()),
            1 => Err(AuthError::UserInactive),
            _ => Err(AuthError::InvalidToken),
        };
        assert_eq!(answer, expected, "request of kind {kind}");
    }
    // One lookup for the 30 that waited (two, should a request have been slow to
    // queue on a busy machine): never one each.
    let sizes = setup.joined.sizes.lock().expect("sizes").clone();
    assert_eq!(sizes[0], 1, "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 31, "{sizes:?}");
    assert!(sizes.len() <= 3, "{sizes:?}");
    assert_eq!(setup.loads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_fails_every_request_in_it_closed() {
    let setup = Setup::new();
    let authenticator = setup.authenticator(0, TokenHasher::sha256());
    let alice = issue(&authenticator, "1", IssueOptions::new()).await;
    let (release, first) = start_held_lookup(&setup, &authenticator, header(&alice)).await;
    let queued: Vec<_> = (0..10)
        .map(|_| spawn_auth(&authenticator, header(&alice)))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    setup.joined.failing.store(true, Ordering::SeqCst);
    release.send(()).expect("the first lookup waits");
    for request in std::iter::once(first).chain(queued) {
        let error = request
            .await
            .expect("no panic")
            .expect_err("the store failed");
        assert_eq!(error.status(), 503, "{error:?}");
    }
}

/// Clients that hang up while their request leads a batch do not let the requests
/// queued behind it run their lookups beside the next one: the permit is handed on,
/// and `max_concurrent_lookups` holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_hangs_up_hands_its_permit_to_its_followers() {
    let setup = Setup::new();
    let authenticator = setup.authenticator(0, TokenHasher::sha256());
    let alice = issue(&authenticator, "1", IssueOptions::new()).await;
    let (_release_first, first) = start_held_lookup(&setup, &authenticator, header(&alice)).await;
    // The oldest waiter leads the next batch; the others ride in it.
    let next_leader = spawn_auth(&authenticator, header(&alice));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let followers: Vec<_> = (0..20)
        .map(|_| spawn_auth(&authenticator, header(&alice)))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(setup.calls(), 1, "everyone waits behind the first lookup");

    // The first client hangs up: the next leader's lookup starts, and is held too.
    let (_release_second, hold) = tokio::sync::oneshot::channel();
    *setup.joined.hold.lock().expect("hold") = Some(hold);
    first.abort();
    while setup.joined.sizes.lock().expect("sizes").len() < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        setup.joined.sizes.lock().expect("sizes")[1],
        21,
        "the next leader asks for everyone"
    );
    // Its client hangs up as well, mid-lookup.
    next_leader.abort();
    for follower in followers {
        assert_eq!(follower.await.expect("no panic"), Ok("alice".into()));
    }
    assert_eq!(
        setup.joined.most_running.load(Ordering::SeqCst),
        1,
        "more lookups ran at once than max_concurrent_lookups"
    );
}
