//! What a cached token costs in memory, counted by an instrumented allocator, and that
//! the cache never holds more tokens than its capacity.
//!
//! The goal is 256 bytes a token beyond the user value; the test prints the figure and
//! fails above `CEILING`, the cost measured today with some slack (token metadata,
//! the cache's entry, the last-use mark and the cache's own bookkeeping), so that the
//! cost can only go down. One test per binary: the allocator counts every thread.

use std::alloc::System;

use authtoken::{Authenticator, IssueOptions, MemoryStore, UserLoader};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A user that owns no heap memory, so that every byte counted is the cache's.
#[derive(Debug)]
struct Unit;

impl UserLoader for Unit {
    type User = u64;
    type Error = std::convert::Infallible;

    async fn load(&self, user_id: &str) -> Result<Option<u64>, Self::Error> {
        Ok(user_id.parse().ok())
    }

    fn is_active(&self, _: &u64) -> bool {
        true
    }
}

/// Bytes a cached token may cost beyond its user value before this test fails.
const CEILING: usize = 768;

fn net_bytes(region: &Region<'_, System>) -> isize {
    let change = region.change();
    change.bytes_allocated as isize - change.bytes_deallocated as isize + change.bytes_reallocated
}

#[test]
fn a_cached_token_costs_a_bounded_few_hundred_bytes_and_the_cache_stays_within_capacity() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        const CAPACITY: usize = 2_000;
        let auth = Authenticator::builder(MemoryStore::new(), Unit)
            .cache_capacity(CAPACITY)
            .build()
            .expect("settings");
        let mut headers = Vec::with_capacity(2 * CAPACITY);
        for user in 0..2 * CAPACITY {
            let issued = auth
                .issue(&user.to_string(), IssueOptions::new().name("laptop"))
                .await
                .expect("issued");
            headers.push(format!("Token {}", issued.token().expose_secret()));
        }
        // The first authentication sets up what is allocated once (the runtime's
        // task machinery, say): leave it out of the count.
        auth.authenticate(Some(headers[0].as_bytes()))
            .await
            .expect("valid")
            .expect("not anonymous");
        auth.flush().await;

        let tokens = CAPACITY / 2;
        let region = Region::new(GLOBAL);
        for header in &headers[1..=tokens] {
            let identity = auth
                .authenticate(Some(header.as_bytes()))
                .await
                .expect("valid")
                .expect("not anonymous");
            drop(identity);
        }
        auth.flush().await;
        let per_token = net_bytes(&region) / tokens as isize;
        let beyond_user = per_token - std::mem::size_of::<u64>() as isize;
        println!("{per_token} bytes a cached token ({beyond_user} beyond the user value)");
        assert_eq!(auth.cached_tokens(), tokens + 1);
        assert!(
            beyond_user <= CEILING as isize,
            "a cached token costs {beyond_user} bytes beyond its user, more than {CEILING}"
        );

        // Twice the capacity in distinct tokens: the cache keeps at most its capacity.
        for header in &headers {
            auth.authenticate(Some(header.as_bytes()))
                .await
                .expect("valid")
                .expect("not anonymous");
        }
        auth.flush().await;
        assert!(
            auth.cached_tokens() <= CAPACITY,
            "{} cached tokens, capacity {CAPACITY}",
            auth.cached_tokens()
        );
    });
}
