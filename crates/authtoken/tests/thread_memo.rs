//! Each thread's memo of cache hits answers only what the shared cache would: a
//! revocation, an evicted user, a cleared cache, the cache ttl and the token's expiry
//! reach a token that threads have been serving from their memos.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use authtoken::{
    AuthError, Authentication, Authenticator, IssueOptions, ManualClock, MemoryStore,
    PendingAuthentication, UserIdLoader,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

struct Setup {
    rt: tokio::runtime::Runtime,
    auth: Authenticator<String>,
    clock: Arc<ManualClock>,
    header: String,
    id: authtoken::TokenId,
}

fn setup(options: IssueOptions) -> Setup {
    let rt = runtime();
    let clock = Arc::new(ManualClock::starting_now());
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .clock(clock.clone())
        .cache_ttl(Duration::from_secs(30))
        .build()
        .expect("settings");
    let issued = rt.block_on(auth.issue("ada", options)).expect("issued");
    let header = format!("Token {}", issued.token().expose_secret());
    let id = issued.info().id;
    // The store read that caches the token.
    let first = rt.block_on(auth.authenticate_request(Some(header.as_bytes())));
    assert_eq!(first.require().expect("valid").user(), "ada");
    Setup {
        rt,
        auth,
        clock,
        header,
        id,
    }
}

/// What memory alone answers for `header` on this thread.
fn from_memory(
    auth: &Authenticator<String>,
    header: &str,
) -> Result<Authentication<String>, PendingAuthentication<String>> {
    auth.authenticate_request_now(None, [header.as_bytes()])
}

fn served_from_memory(auth: &Authenticator<String>, header: &str) -> bool {
    match from_memory(auth, header) {
        Ok(authentication) => authentication.require().is_ok(),
        Err(_) => false,
    }
}

/// Asks the store again (the cache dropped the token), then serves the token from
/// this thread's memo.
fn read_again_and_serve_from_memory(
    rt: &tokio::runtime::Runtime,
    auth: &Authenticator<String>,
    header: &str,
) {
    let again = rt.block_on(auth.authenticate_request(Some(header.as_bytes())));
    assert!(again.require().is_ok(), "the store read");
    for _ in 0..3 {
        assert!(served_from_memory(auth, header));
    }
}

#[test]
fn a_revocation_reaches_every_thread_that_served_the_token_from_its_memo() {
    let Setup {
        rt,
        auth,
        header,
        id,
        ..
    } = setup(IssueOptions::new());
    let filled = Barrier::new(3);
    let revoked = Barrier::new(3);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let thread_rt = runtime();
                let _entered = thread_rt.enter();
                // The first hit takes this thread's handle, the next ones use it.
                for _ in 0..3 {
                    assert!(served_from_memory(&auth, &header), "before the revocation");
                }
                filled.wait();
                revoked.wait();
                let pending = from_memory(&auth, &header)
                    .expect_err("after the revocation memory does not answer");
                let answer = thread_rt.block_on(pending.finish());
                assert_eq!(answer.error(), Some(&AuthError::InvalidToken));
            });
        }
        filled.wait();
        assert!(rt.block_on(auth.revoke(id)).expect("revoked"));
        revoked.wait();
    });
}

#[test]
fn forgetting_the_user_or_clearing_the_cache_reaches_this_threads_memo() {
    let Setup {
        rt, auth, header, ..
    } = setup(IssueOptions::new());
    let _entered = rt.enter();
    for _ in 0..3 {
        assert!(served_from_memory(&auth, &header));
    }
    auth.forget_user("ada");
    assert!(
        from_memory(&auth, &header).is_err(),
        "the user was forgotten"
    );

    read_again_and_serve_from_memory(&rt, &auth, &header);
    auth.clear_cache();
    assert!(
        from_memory(&auth, &header).is_err(),
        "the cache was cleared"
    );
}

#[test]
fn the_cache_ttl_and_the_tokens_expiry_reach_this_threads_memo() {
    let Setup {
        rt,
        auth,
        clock,
        header,
        ..
    } = setup(IssueOptions::new().expires_in(Duration::from_secs(40)));
    let _entered = rt.enter();
    for _ in 0..3 {
        assert!(served_from_memory(&auth, &header));
    }
    clock.advance(Duration::from_secs(31));
    assert!(
        from_memory(&auth, &header).is_err(),
        "past the cache ttl the store is asked"
    );

    read_again_and_serve_from_memory(&rt, &auth, &header);
    clock.advance(Duration::from_secs(10));
    // Expired within the cache ttl of its last store read: refused from memory.
    let answer = from_memory(&auth, &header).expect("answered from memory");
    assert_eq!(answer.error(), Some(&AuthError::TokenExpired));
}
