//! What the request path answered from memory allocates, counted by an instrumented
//! allocator: nothing at all for an anonymous request, a malformed or bad-checksum
//! token, or a token the cache holds. Only a token the cache does not hold (the store
//! is asked) may allocate. One test per binary: the
//! allocator counts every thread.

use std::alloc::System;
use std::net::IpAddr;

use authtoken::{Authenticator, IssueOptions, MemoryStore, UserIdLoader};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations made while `run` ran, and what it returned.
fn allocations<T>(run: impl FnOnce() -> T) -> (usize, T) {
    let region = Region::new(GLOBAL);
    let value = run();
    let change = region.change();
    (change.allocations + change.reallocations, value)
}

#[test]
fn answering_from_memory_allocates_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _entered = rt.enter();
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .invalid_token_limit(1_000_000, std::time::Duration::from_secs(60))
        .build()
        .expect("settings");
    let issued = rt
        .block_on(auth.issue("ada", IssueOptions::new()))
        .expect("issued");
    let header = format!("Token {}", issued.token().expose_secret());
    let mut bad_checksum = header.clone().into_bytes();
    let last = bad_checksum.last_mut().expect("a token");
    *last = if *last == b'0' { b'1' } else { b'0' };
    let client = Some(IpAddr::from([192, 0, 2, 7]));

    // The first use reads the store and fills the cache; warm every path once (the
    // limiter's entry for the client, the last-use write) before counting.
    let first = rt.block_on(auth.authenticate_request_from(client, [header.as_bytes()]));
    assert_eq!(first.require().expect("valid").user(), "ada");
    let _ = auth.authenticate_request_now(client, [b"Token not-a-token".as_slice()]);
    rt.block_on(auth.flush());

    let cases: [(&str, &[u8], Option<u16>); 4] = [
        ("a cached token", header.as_bytes(), None),
        ("a malformed token", b"Token not-a-token", Some(401)),
        ("a bad-checksum token", &bad_checksum, Some(401)),
        ("another scheme", b"Basic YWRhOmFkYQ==", None),
    ];
    for (name, value, status) in cases {
        for _ in 0..3 {
            let (count, answer) =
                allocations(|| auth.authenticate_request_now(client, [value]).map(drop));
            assert!(answer.is_ok(), "{name}: answered from memory");
            assert_eq!(count, 0, "{name}: allocations on the request path");
        }
        let authentication = auth
            .authenticate_request_now(client, [value])
            .expect("answered from memory");
        assert_eq!(
            authentication.error().map(authtoken::AuthError::status),
            status,
            "{name}"
        );
    }
    let (count, anonymous) = allocations(|| {
        auth.authenticate_request_now(client, None::<&[u8]>)
            .map(|authentication| authentication.identity().is_none())
    });
    assert_eq!(anonymous.ok(), Some(true));
    assert_eq!(count, 0, "no credentials: allocations on the request path");

    // The counter sees allocations: the store path makes some.
    let other = rt
        .block_on(auth.issue("bob", IssueOptions::new()))
        .expect("issued");
    let other = format!("Token {}", other.token().expose_secret());
    let (count, _) =
        allocations(|| rt.block_on(auth.authenticate_request_from(client, [other.as_bytes()])));
    assert!(
        count > 0,
        "a store lookup allocates, and the counter sees it"
    );
}
