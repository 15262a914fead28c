//! Races on one node, with the cache on: revoke against authenticate, logout-all
//! against fresh logins, and the per-user limit against concurrent logins. Written
//! once and run on every backend by `race_tests!` (PostgreSQL and MySQL when their
//! URLs are set, loudly skipped otherwise).
//!
//! Each case repeats its race many times with concurrent tasks on a multi-threaded
//! runtime. What "before" and "after" mean is fixed by a flag set with `SeqCst`
//! ordering: a request reads the flag before it starts, so a request that saw the
//! flag set started after the operation it checks had returned.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use authtoken::{AuthError, Authenticator, IssueError, IssueOptions, IssuedToken, UserLoader};
use common::{TestDb, TestUser, TestUsers};

/// How many times the revoke race runs per backend.
const REVOKE_ROUNDS: usize = 60;
/// Concurrent requests per round.
const REQUESTERS: usize = 4;
/// How many requests each requester sends after it has seen the revocation.
const CHECKS_AFTER: usize = 3;
/// A bound on any one requester's loop, so that a broken case fails instead of
/// spinning. Cached answers take well under a microsecond each, so the bound must
/// outlast a revocation's write on a busy machine (an fsync on a SQLite file): a
/// million is a second or more of requests.
const MAX_REQUESTS: usize = 1_000_000;
/// How many times the logout-all race runs per backend.
const LOGOUT_ROUNDS: usize = 12;
/// Concurrent "login" tasks per logout-all round.
const LOGINS: usize = 3;

/// How many times the use-against-rotate race runs per backend.
const ROTATE_ROUNDS: usize = 500;

/// The store is cloned: `db` keeps a file database's folder alive.
fn authenticator(db: &TestDb, users: &TestUsers) -> Authenticator<TestUser> {
    Authenticator::builder(db.store.clone(), users.clone())
        .build()
        .expect("config")
}

fn header(issued: &IssuedToken) -> String {
    format!("Token {}", issued.token().expose_secret())
}

async fn check(auth: &Authenticator<TestUser>, header: &str) -> Result<(), AuthError> {
    auth.authenticate(Some(header.as_bytes()))
        .await
        .map(|identity| assert!(identity.is_some(), "a token is never anonymous"))
}

/// A loader that takes `"01"` for user `"1"` (leading zeros ignored, as a lenient
/// parse does), and names each user's canonical id.
#[derive(Clone)]
struct LenientUsers(TestUsers);

impl UserLoader for LenientUsers {
    type User = TestUser;
    type Error = std::convert::Infallible;

    async fn load(&self, user_id: &str) -> Result<Option<TestUser>, Self::Error> {
        self.0.load(user_id.trim_start_matches('0')).await
    }

    fn is_active(&self, user: &TestUser) -> bool {
        user.active
    }

    fn user_id(&self, user: &TestUser) -> Option<String> {
        Some(user.id.clone())
    }
}

mod cases {
    use super::*;

    /// Once `revoke` has returned, no request that starts afterwards is accepted:
    /// neither from the cache (the token was cached before the race, on even rounds)
    /// nor through a store read that was in flight while the revocation ran (odd
    /// rounds start uncached, so the first requests race their cache inserts
    /// against the eviction).
    pub async fn revoke_racing_authenticate(db: TestDb) {
        let users = TestUsers::new();
        let auth = authenticator(&db, &users);
        let mut accepted_before = 0;
        for round in 0..REVOKE_ROUNDS {
            let issued = auth.issue("1", IssueOptions::new()).await.expect("issue");
            let header = Arc::new(header(&issued));
            if round % 2 == 0 {
                check(&auth, &header).await.expect("cached before the race");
            }
            let revoked = Arc::new(AtomicBool::new(false));
            let mut requesters = Vec::new();
            for _ in 0..REQUESTERS {
                let (auth, header, revoked) =
                    (auth.clone(), Arc::clone(&header), Arc::clone(&revoked));
                requesters.push(tokio::spawn(async move {
                    let mut accepted = 0;
                    let mut checked_after = 0;
                    for _ in 0..MAX_REQUESTS {
                        let after = revoked.load(Ordering::SeqCst);
                        let outcome = check(&auth, &header).await;
                        if after {
                            assert_eq!(
                                outcome,
                                Err(AuthError::InvalidToken),
                                "round {round}: a request that started after revoke \
                                 returned was not refused"
                            );
                            checked_after += 1;
                            if checked_after == CHECKS_AFTER {
                                return accepted;
                            }
                        } else {
                            match outcome {
                                Ok(()) => accepted += 1,
                                Err(AuthError::InvalidToken) => {}
                                Err(other) => panic!("round {round}: unexpected {other:?}"),
                            }
                        }
                        tokio::task::yield_now().await;
                    }
                    panic!("round {round}: the revocation never became visible");
                }));
            }
            // Let the requesters get going, by a varying amount, before revoking.
            for _ in 0..(round % 7) {
                tokio::task::yield_now().await;
            }
            assert!(auth.revoke(issued.info().id).await.expect("revoke"));
            revoked.store(true, Ordering::SeqCst);
            for requester in requesters {
                accepted_before += requester.await.expect("a requester panicked");
            }
            assert_eq!(
                check(&auth, &header).await,
                Err(AuthError::InvalidToken),
                "round {round}: revoked for good"
            );
        }
        // The race was a race: requests before the revocation were served.
        assert!(accepted_before > 0, "no request ran before a revocation");
    }

    /// Use racing a rotation with no grace, under sliding expiry with last-use
    /// writes as often as every 10 ms: no request that starts after `rotate`
    /// returned is accepted with the old token, and no last-use write already on its
    /// way when the rotation ran revives it (the store's slide is a compare-and-set).
    pub async fn use_racing_rotate_with_no_grace(db: TestDb) {
        let users = TestUsers::new();
        let auth = Authenticator::builder(db.store.clone(), users.clone())
            .token_ttl(Some(std::time::Duration::from_secs(3600)))
            .sliding_expiry(true)
            // A write about every 10 ms a token is used: enough that one is often in
            // flight when the rotation runs, few enough for a pool of five on a busy
            // machine.
            .last_used_interval(std::time::Duration::from_millis(10))
            .build()
            .expect("config");
        let mut accepted_before = 0;
        for round in 0..ROTATE_ROUNDS {
            let issued = auth.issue("1", IssueOptions::new()).await.expect("issue");
            let header = Arc::new(header(&issued));
            let rotated = Arc::new(AtomicBool::new(false));
            let mut requesters = Vec::new();
            for _ in 0..2 {
                let (auth, header, rotated) =
                    (auth.clone(), Arc::clone(&header), Arc::clone(&rotated));
                requesters.push(tokio::spawn(async move {
                    let mut accepted = 0;
                    let mut checked_after = 0;
                    for _ in 0..MAX_REQUESTS {
                        let after = rotated.load(Ordering::SeqCst);
                        let outcome = check(&auth, &header).await;
                        if after {
                            assert!(
                                matches!(
                                    outcome,
                                    Err(AuthError::TokenExpired | AuthError::InvalidToken)
                                ),
                                "round {round}: a request that started after rotate \
                                 returned was answered {outcome:?}"
                            );
                            checked_after += 1;
                            if checked_after == CHECKS_AFTER {
                                return accepted;
                            }
                        } else if outcome.is_ok() {
                            accepted += 1;
                        }
                        tokio::task::yield_now().await;
                    }
                    panic!("round {round}: the rotation never became visible");
                }));
            }
            for _ in 0..(round % 5) {
                tokio::task::yield_now().await;
            }
            auth.rotate(issued.info().id, std::time::Duration::ZERO)
                .await
                .expect("rotate");
            rotated.store(true, Ordering::SeqCst);
            for requester in requesters {
                accepted_before += requester.await.expect("a requester panicked");
            }
            // Every last-use write started before the rotation has landed by now.
            auth.flush().await;
            let outcome = check(&auth, &header).await;
            assert!(
                matches!(
                    outcome,
                    Err(AuthError::TokenExpired | AuthError::InvalidToken)
                ),
                "round {round}: a last-use write revived the rotated token: {outcome:?}"
            );
            auth.revoke_user("1").await.expect("clean up");
        }
        assert!(accepted_before > 0, "no request ran before a rotation");
    }

    /// Logout-all racing fresh logins of the same user: every token whose issue
    /// returned before `revoke_user` was called is refused afterwards, cached or not;
    /// tokens issued after `revoke_user` returned work.
    pub async fn logout_all_racing_fresh_logins(db: TestDb) {
        let users = TestUsers::new();
        let auth = authenticator(&db, &users);
        let mut concurrent_total = 0;
        for round in 0..LOGOUT_ROUNDS {
            // Tokens in use before the race: in the cache.
            let mut before = Vec::new();
            for _ in 0..3 {
                let issued = auth.issue("1", IssueOptions::new()).await.expect("issue");
                let header = header(&issued);
                check(&auth, &header).await.expect("works before");
                before.push(header);
            }
            let started = Arc::new(AtomicBool::new(false));
            let finished = Arc::new(AtomicBool::new(false));
            let mut logins = Vec::new();
            for _ in 0..LOGINS {
                let (auth, started, finished) =
                    (auth.clone(), Arc::clone(&started), Arc::clone(&finished));
                logins.push(tokio::spawn(async move {
                    // (header, issued before logout-all started, issue started after
                    // logout-all returned)
                    let mut tokens = Vec::new();
                    let mut after_finished = 0;
                    for _ in 0..MAX_REQUESTS {
                        let began_after = finished.load(Ordering::SeqCst);
                        let issued = auth.issue("1", IssueOptions::new()).await.expect("issue");
                        let issued_before = !started.load(Ordering::SeqCst);
                        let header = header(&issued);
                        // A login is followed by a request, which caches the token.
                        match check(&auth, &header).await {
                            Ok(()) | Err(AuthError::InvalidToken) => {}
                            Err(other) => panic!("round {round}: unexpected {other:?}"),
                        }
                        tokens.push((header, issued_before, began_after));
                        if began_after {
                            after_finished += 1;
                            if after_finished == 2 {
                                return tokens;
                            }
                        }
                        tokio::task::yield_now().await;
                    }
                    panic!("round {round}: the logout-all never finished");
                }));
            }
            for _ in 0..(round % 5) {
                tokio::task::yield_now().await;
            }
            started.store(true, Ordering::SeqCst);
            auth.revoke_user("1").await.expect("logout-all");
            finished.store(true, Ordering::SeqCst);

            for header in &before {
                assert_eq!(
                    check(&auth, header).await,
                    Err(AuthError::InvalidToken),
                    "round {round}: a token in use before logout-all survived it"
                );
            }
            for login in logins {
                for (header, issued_before, began_after) in login.await.expect("a login panicked") {
                    let outcome = check(&auth, &header).await;
                    if issued_before {
                        assert_eq!(
                            outcome,
                            Err(AuthError::InvalidToken),
                            "round {round}: a token issued before logout-all survived it"
                        );
                    } else if began_after {
                        assert_eq!(outcome, Ok(()), "round {round}: a later login works");
                    } else {
                        // Issued while logout-all ran: either outcome is correct.
                        concurrent_total += 1;
                        assert!(
                            matches!(outcome, Ok(()) | Err(AuthError::InvalidToken)),
                            "round {round}: unexpected {outcome:?}"
                        );
                    }
                }
            }
            // The next round starts clean.
            auth.revoke_user("1").await.expect("clean up");
        }
        eprintln!("logins that overlapped a logout-all: {concurrent_total}");
    }

    /// Logout-all of an identity (`revoke_all_of`, what the logout-all endpoint calls)
    /// racing fresh logins, with a loader that takes two spellings of one user id and
    /// a calling token issued under the other one (`"01"`): every token of the user
    /// issued before the call, under its canonical id or the caller's spelling, is
    /// refused once it returns, cached or not.
    pub async fn logout_all_of_an_identity_covers_its_canonical_id(db: TestDb) {
        let auth = Authenticator::builder(db.store.clone(), LenientUsers(TestUsers::new()))
            .build()
            .expect("config");
        const SPELLINGS: [&str; 2] = ["1", "01"];
        for round in 0..LOGOUT_ROUNDS {
            let mut before = Vec::new();
            for spelling in SPELLINGS {
                for _ in 0..2 {
                    let issued = auth
                        .issue(spelling, IssueOptions::new())
                        .await
                        .expect("issue");
                    let header = header(&issued);
                    check(&auth, &header).await.expect("works before");
                    before.push(header);
                }
            }
            // A token issued under "01".
            let caller = &before[2];
            let identity = auth
                .authenticate(Some(caller.as_bytes()))
                .await
                .expect("valid")
                .expect("a token was sent");
            assert_eq!(identity.user().id, "1");
            let started = Arc::new(AtomicBool::new(false));
            let finished = Arc::new(AtomicBool::new(false));
            let mut logins = Vec::new();
            for login in 0..LOGINS {
                let (auth, started, finished) =
                    (auth.clone(), Arc::clone(&started), Arc::clone(&finished));
                logins.push(tokio::spawn(async move {
                    let mut issued_before = Vec::new();
                    for attempt in 0..MAX_REQUESTS {
                        if finished.load(Ordering::SeqCst) {
                            return issued_before;
                        }
                        let spelling = SPELLINGS[(login + attempt) % 2];
                        let issued = auth
                            .issue(spelling, IssueOptions::new())
                            .await
                            .expect("issue");
                        let header = header(&issued);
                        match check(&auth, &header).await {
                            Ok(()) | Err(AuthError::InvalidToken) => {}
                            Err(other) => panic!("round {round}: unexpected {other:?}"),
                        }
                        if !started.load(Ordering::SeqCst) {
                            issued_before.push(header);
                        }
                        tokio::task::yield_now().await;
                    }
                    panic!("round {round}: the logout-all never finished");
                }));
            }
            for _ in 0..(round % 5) {
                tokio::task::yield_now().await;
            }
            started.store(true, Ordering::SeqCst);
            auth.revoke_all_of(&identity).await.expect("logout-all");
            finished.store(true, Ordering::SeqCst);
            let mut checked = before.len();
            for header in &before {
                assert_eq!(
                    check(&auth, header).await,
                    Err(AuthError::InvalidToken),
                    "round {round}: a token in use before logout-all survived it"
                );
            }
            for login in logins {
                for header in login.await.expect("a login panicked") {
                    checked += 1;
                    assert_eq!(
                        check(&auth, &header).await,
                        Err(AuthError::InvalidToken),
                        "round {round}: a token issued before logout-all survived it"
                    );
                }
            }
            assert!(checked >= before.len());
            for spelling in SPELLINGS {
                auth.revoke_user(spelling).await.expect("clean up");
            }
        }
    }

    /// Logins racing each other and logouts: the per-user limit is never exceeded,
    /// at any moment a request can observe (the store's list after each wave), and
    /// every refusal is the limit's.
    pub async fn the_per_user_limit_holds_under_logins_and_logouts(db: TestDb) {
        const LIMIT: u32 = 3;
        let users = TestUsers::new();
        let auth = Authenticator::builder(db.store.clone(), users.clone())
            .max_tokens_per_user(Some(LIMIT))
            .build()
            .expect("config");
        let refused = Arc::new(AtomicUsize::new(0));
        for wave in 0..15 {
            let mut tasks = Vec::new();
            for task in 0..8 {
                let (auth, refused) = (auth.clone(), Arc::clone(&refused));
                tasks.push(tokio::spawn(async move {
                    match auth.issue("1", IssueOptions::new()).await {
                        Ok(issued) => {
                            // Some logins log out again at once, freeing a slot.
                            if task % 3 == 0 {
                                auth.revoke(issued.info().id).await.expect("logout");
                            }
                        }
                        Err(IssueError::LimitReached { limit: LIMIT }) => {
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(other) => panic!("wave {wave}: unexpected {other:?}"),
                    }
                }));
            }
            for task in tasks {
                task.await.expect("a login panicked");
            }
            let live = auth.list(Some("1")).await.expect("list").len();
            assert!(
                live <= LIMIT as usize,
                "wave {wave}: {live} live tokens, limit {LIMIT}"
            );
            // Free every slot every few waves, so that waves race for free slots.
            if wave % 3 == 2 {
                auth.revoke_user("1").await.expect("logout-all");
            }
        }
        assert!(
            refused.load(Ordering::SeqCst) > 0,
            "the limit never refused"
        );
    }
}

backend_tests!(
    revoke_racing_authenticate,
    use_racing_rotate_with_no_grace,
    logout_all_racing_fresh_logins,
    logout_all_of_an_identity_covers_its_canonical_id,
    the_per_user_limit_holds_under_logins_and_logouts,
);
