//! What SECURITY.md promises about expiry, proven on every backend with a
//! `ManualClock`: a token's expiry never moves past its hard limit (its own lifetime
//! as issued, the end of a rotation's grace period, never for a token issued never to
//! expire); a failed re-key never leaves a revoked token cached; a wall clock stepped
//! back does not stretch the cache ttl; no duration panics.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use authtoken::{
    AuthError, Authenticator, AuthenticatorBuilder, ConfigError, DigestKey, InsertOutcome,
    IssueError, IssueOptions, IssuedToken, MAX_LIFETIME, ManualClock, NewToken, Slide, TokenDigest,
    TokenHasher, TokenId, TokenInfo, TokenRecord, TokenStore,
};
use authtoken_sqlx::SqlxStore;
use common::{TestDb, TestUser, TestUsers};
use time::OffsetDateTime;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Sliding expiry with `ttl`, every use written (no last-use throttling), on `clock`.
fn sliding<S: TokenStore>(
    store: S,
    users: &TestUsers,
    clock: &Arc<ManualClock>,
    ttl: Duration,
    cache: usize,
) -> AuthenticatorBuilder<TestUser> {
    Authenticator::builder(store, users.clone())
        .clock(clock.clone())
        .token_ttl(Some(ttl))
        .sliding_expiry(true)
        .last_used_interval(Duration::ZERO)
        .cache_capacity(cache)
}

fn header(issued: &IssuedToken) -> String {
    format!("Token {}", issued.token().expose_secret())
}

/// Authenticates once and waits for the last-use write (and slide) it started.
async fn use_once(auth: &Authenticator<TestUser>, issued: &IssuedToken) -> Result<(), AuthError> {
    let outcome = auth
        .authenticate(Some(header(issued).as_bytes()))
        .await
        .map(|identity| assert!(identity.is_some(), "a token is never anonymous"));
    auth.flush().await;
    outcome
}

async fn stored(auth: &Authenticator<TestUser>, id: TokenId) -> TokenInfo {
    auth.list(None)
        .await
        .expect("list")
        .into_iter()
        .find(|token| token.id == id)
        .expect("the token is stored")
}

fn now(clock: &ManualClock) -> OffsetDateTime {
    authtoken::Clock::now(clock)
}

/// Refused as expired or unknown: either way, not accepted.
fn refused(outcome: &Result<(), AuthError>) -> bool {
    matches!(
        outcome,
        Err(AuthError::TokenExpired | AuthError::InvalidToken)
    )
}

mod cases {
    use super::*;

    /// Rotate with a 5-minute grace, use the old token 2 minutes later: its expiry
    /// stays at the end of the grace period, and it is refused 21 hours later.
    pub async fn use_during_a_grace_period_does_not_extend_it(db: TestDb) {
        let users = TestUsers::new();
        for cache in [0, 100] {
            let clock = Arc::new(ManualClock::starting_now());
            let auth = sliding(db.store.clone(), &users, &clock, DAY, cache)
                .build()
                .expect("config");
            let old = auth.issue("1", IssueOptions::new()).await.expect("issue");
            use_once(&auth, &old).await.expect("works before rotation");
            let grace_end = now(&clock) + 5 * MINUTE;
            let new = auth
                .rotate(old.info().id, 5 * MINUTE)
                .await
                .expect("rotate");
            clock.advance(2 * MINUTE);
            use_once(&auth, &old).await.expect("works in its grace");
            use_once(&auth, &new).await.expect("the new token works");
            let after = stored(&auth, old.info().id).await;
            assert!(
                after.expires.is_some_and(|expires| expires <= grace_end),
                "cache {cache}: a use in the grace period moved the expiry to {:?}, past {grace_end}",
                after.expires
            );
            clock.advance(21 * HOUR);
            assert!(
                refused(&use_once(&auth, &old).await),
                "cache {cache}: the old token outlived its grace period"
            );
            use_once(&auth, &new)
                .await
                .expect("the new token slides on its own");
        }
    }

    /// `expires_in(10 minutes)` under a 30-day sliding ttl: used at once, refused
    /// 7 days later; its stored expiry never moves.
    pub async fn a_token_with_its_own_lifetime_never_slides(db: TestDb) {
        let users = TestUsers::new();
        for cache in [0, 100] {
            let clock = Arc::new(ManualClock::starting_now());
            let auth = sliding(db.store.clone(), &users, &clock, 30 * DAY, cache)
                .build()
                .expect("config");
            let issued = auth
                .issue("1", IssueOptions::new().expires_in(10 * MINUTE))
                .await
                .expect("issue");
            let expires = issued.info().expires;
            clock.advance(2 * MINUTE);
            use_once(&auth, &issued).await.expect("works at first");
            assert_eq!(stored(&auth, issued.info().id).await.expires, expires);
            clock.advance(7 * DAY);
            assert_eq!(
                use_once(&auth, &issued).await,
                Err(AuthError::TokenExpired),
                "cache {cache}"
            );
        }
    }

    /// A token issued never to expire gains no expiry by being used.
    pub async fn a_token_that_never_expires_gains_no_expiry(db: TestDb) {
        let users = TestUsers::new();
        for cache in [0, 100] {
            let clock = Arc::new(ManualClock::starting_now());
            let auth = sliding(db.store.clone(), &users, &clock, HOUR, cache)
                .build()
                .expect("config");
            let issued = auth
                .issue("1", IssueOptions::new().never_expires())
                .await
                .expect("issue");
            for _ in 0..3 {
                clock.advance(2 * MINUTE);
                use_once(&auth, &issued).await.expect("works");
            }
            let after = stored(&auth, issued.info().id).await;
            assert_eq!(after.expires, None, "cache {cache}");
            assert_eq!(after.expiry_limit, None, "cache {cache}");
            clock.advance(400 * DAY);
            use_once(&auth, &issued).await.expect("still works");
        }
    }

    /// A token used often slides, but never past its issue plus
    /// `max_sliding_lifetime`.
    pub async fn sliding_stops_at_the_hard_limit(db: TestDb) {
        let users = TestUsers::new();
        for cache in [0, 100] {
            let clock = Arc::new(ManualClock::starting_now());
            let auth = sliding(db.store.clone(), &users, &clock, HOUR, cache)
                .max_sliding_lifetime(3 * HOUR)
                .build()
                .expect("config");
            let issued = auth.issue("1", IssueOptions::new()).await.expect("issue");
            let limit = now(&clock) + 3 * HOUR;
            assert_eq!(issued.info().expiry_limit, Some(limit));
            let mut accepted = 0;
            for _ in 0..8 {
                clock.advance(30 * MINUTE);
                if use_once(&auth, &issued).await.is_ok() {
                    accepted += 1;
                }
                let expires = stored(&auth, issued.info().id).await.expires;
                assert!(
                    expires.is_some_and(|expires| expires <= limit),
                    "cache {cache}: expiry {expires:?} past the limit {limit}"
                );
            }
            assert_eq!(
                accepted, 5,
                "cache {cache}: used up to 2.5 h, refused from 3 h"
            );
        }
    }

    /// With sliding expiry on two nodes, a node whose cached copy says expired asks
    /// the store, where the other node's use moved the expiry; past the hard limit it
    /// refuses without asking.
    pub async fn a_slide_made_on_another_node_is_honoured(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        let node = |max_lifetime| {
            sliding(db.store.clone(), &users, &clock, HOUR, 100)
                .cache_ttl(10 * HOUR)
                .max_sliding_lifetime(max_lifetime)
                .build()
                .expect("config")
        };
        let (a, b) = (node(2 * HOUR), node(2 * HOUR));
        let issued = a.issue("1", IssueOptions::new()).await.expect("issue");
        use_once(&b, &issued).await.expect("cached on B");
        clock.advance(50 * MINUTE);
        use_once(&a, &issued)
            .await
            .expect("used on A, which slides it");
        clock.advance(20 * MINUTE);
        use_once(&b, &issued)
            .await
            .expect("B's cached expiry passed, the store's did not");
        clock.advance(HOUR);
        assert_eq!(
            use_once(&b, &issued).await,
            Err(AuthError::TokenExpired),
            "past the hard limit"
        );
    }

    /// A last-use write that read the expiry before a rotation and lands after it does
    /// not undo the rotation's shortening: the store's slide is a compare-and-set.
    pub async fn a_stale_slide_never_undoes_a_shortening(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        let auth = sliding(db.store.clone(), &users, &clock, HOUR, 0)
            .build()
            .expect("config");
        let issued = auth.issue("1", IssueOptions::new()).await.expect("issue");
        let read = issued.info().expires.expect("an expiry");
        auth.rotate(issued.info().id, Duration::ZERO)
            .await
            .expect("rotate");
        let slide = Slide {
            from: read,
            to: read + 30 * MINUTE,
        };
        let moved = db
            .store
            .touch(issued.info().id, now(&clock), Some(slide))
            .await
            .expect("touch");
        assert!(!moved, "the slide was refused");
        let after = stored(&auth, issued.info().id).await;
        assert!(after.expires.is_some_and(|expires| expires <= now(&clock)));
        assert!(refused(&use_once(&auth, &issued).await));
    }

    /// The store's slide is a compare-and-set on the expiry read: one computed from
    /// an expiry the row no longer holds (another node slid it meanwhile) is refused
    /// and reported, so a stale reading never moves the expiry, even within the limit.
    pub async fn a_slide_from_an_expiry_the_row_no_longer_holds_is_refused(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        let auth = sliding(db.store.clone(), &users, &clock, HOUR, 0)
            .build()
            .expect("config");
        let issued = auth.issue("1", IssueOptions::new()).await.expect("issue");
        let (id, read) = (issued.info().id, issued.info().expires.expect("an expiry"));
        let elsewhere = Slide {
            from: read,
            to: read + 20 * MINUTE,
        };
        assert!(
            db.store
                .touch(id, now(&clock), Some(elsewhere))
                .await
                .expect("touch"),
            "a slide from the expiry the row holds is made"
        );
        let stale = Slide {
            from: read,
            to: read + 10 * MINUTE,
        };
        assert!(
            !db.store
                .touch(id, now(&clock), Some(stale))
                .await
                .expect("touch"),
            "a slide from an expiry the row no longer holds is refused"
        );
        assert_eq!(stored(&auth, id).await.expires, Some(read + 20 * MINUTE));
    }

    /// A re-key that fails leaves the row under the old key's digest: the token is
    /// served, but not cached under the new digest, so `revoke` (which evicts the
    /// row's digest) stops it at once.
    pub async fn a_failed_rekey_never_outlives_a_revocation(db: TestDb) {
        let users = TestUsers::new();
        let key = |version, byte| DigestKey::new(version, vec![byte; 32]).expect("key");
        let old = Authenticator::builder(db.store.clone(), users.clone())
            .hasher(TokenHasher::hmac(key(1, 1), []).expect("hasher"))
            .build()
            .expect("config");
        let issued = old.issue("1", IssueOptions::new()).await.expect("issue");
        let auth = Authenticator::builder(RekeyFails(db.store.clone()), users.clone())
            .hasher(TokenHasher::hmac(key(2, 2), [key(1, 1)]).expect("hasher"))
            .build()
            .expect("config");
        use_once(&auth, &issued)
            .await
            .expect("served under the old key");
        use_once(&auth, &issued).await.expect("and again");
        assert!(auth.revoke(issued.info().id).await.expect("revoke"));
        assert_eq!(
            use_once(&auth, &issued).await,
            Err(AuthError::InvalidToken),
            "a revoked token was still served from the cache"
        );
    }

    /// A node whose wall clock steps back an hour still asks the store again once
    /// the cache ttl has passed, so a revocation made elsewhere reaches it.
    pub async fn a_wall_clock_stepped_back_does_not_stretch_the_cache_ttl(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        let node = Authenticator::builder(db.store.clone(), users.clone())
            .clock(clock.clone())
            .cache_ttl(Duration::from_secs(30))
            .build()
            .expect("config");
        let elsewhere = Authenticator::builder(db.store.clone(), users.clone())
            .build()
            .expect("config");
        let issued = elsewhere
            .issue("1", IssueOptions::new())
            .await
            .expect("issue");
        use_once(&node, &issued).await.expect("cached");
        clock.set(now(&clock) - HOUR);
        assert!(elsewhere.revoke(issued.info().id).await.expect("revoke"));
        clock.advance(Duration::from_secs(31));
        assert_eq!(
            use_once(&node, &issued).await,
            Err(AuthError::InvalidToken),
            "served from a cache entry older than the cache ttl"
        );
    }

    /// Every duration that enters is bounded: none panics, each gets an error.
    pub async fn huge_durations_are_refused_not_panicking(db: TestDb) {
        let users = TestUsers::new();
        let auth = Authenticator::builder(db.store.clone(), users.clone())
            .build()
            .expect("config");
        let forty_thousand_years = Duration::from_secs(40_000 * 365 * 24 * 3600);
        for lifetime in [forty_thousand_years, Duration::MAX, MAX_LIFETIME + MINUTE] {
            assert_eq!(
                auth.issue("1", IssueOptions::new().expires_in(lifetime))
                    .await
                    .err(),
                Some(IssueError::InvalidLifetime)
            );
        }
        let issued = auth.issue("1", IssueOptions::new()).await.expect("issue");
        assert_eq!(
            auth.rotate(issued.info().id, Duration::MAX).await.err(),
            Some(IssueError::InvalidLifetime)
        );
        assert_eq!(
            auth.list(None).await.expect("list").len(),
            1,
            "nothing issued"
        );

        for ttl in [Duration::MAX, forty_thousand_years] {
            let built = Authenticator::builder(db.store.clone(), users.clone())
                .token_ttl(Some(ttl))
                .sliding_expiry(true)
                .build();
            assert!(
                matches!(built, Err(ConfigError::DurationTooLong { .. })),
                "token_ttl {ttl:?}"
            );
            let built = Authenticator::builder(db.store.clone(), users.clone())
                .cache_ttl(ttl)
                .build();
            assert!(matches!(built, Err(ConfigError::DurationTooLong { .. })));
        }

        // The longest lifetime allowed, near the end of the calendar: an error at
        // issue, and a request path that cannot overflow.
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(9900-06-01 0:00 UTC),
        ));
        let late = sliding(db.store.clone(), &users, &clock, MAX_LIFETIME, 100)
            .build()
            .expect("the longest ttl is allowed");
        assert_eq!(
            late.issue("1", IssueOptions::new()).await.err(),
            Some(IssueError::InvalidLifetime)
        );
        match late.issue("1", IssueOptions::new().expires_in(DAY)).await {
            Ok(short) => {
                use_once(&late, &short).await.expect("a short token works");
                clock.advance(HOUR);
                use_once(&late, &short).await.expect("and slides nowhere");
            }
            // MariaDB's binary protocol does not take a date this late: an error
            // from the store, not a panic.
            Err(IssueError::Store(_)) if db.url.starts_with("mysql") => {}
            Err(other) => panic!("a short token near the calendar's end: {other:?}"),
        }
    }
}

backend_tests!(
    use_during_a_grace_period_does_not_extend_it,
    a_token_with_its_own_lifetime_never_slides,
    a_token_that_never_expires_gains_no_expiry,
    sliding_stops_at_the_hard_limit,
    a_stale_slide_never_undoes_a_shortening,
    a_slide_from_an_expiry_the_row_no_longer_holds_is_refused,
    a_slide_made_on_another_node_is_honoured,
    a_failed_rekey_never_outlives_a_revocation,
    a_wall_clock_stepped_back_does_not_stretch_the_cache_ttl,
    huge_durations_are_refused_not_panicking,
);

/// A store whose re-keying always fails, as on "database is locked".
#[derive(Clone)]
struct RekeyFails(SqlxStore);

impl TokenStore for RekeyFails {
    type Error = authtoken_sqlx::Error;

    async fn insert(
        &self,
        token: &NewToken,
        limit: Option<u32>,
    ) -> Result<InsertOutcome, Self::Error> {
        self.0.insert(token, limit).await
    }
    async fn find_by_digest(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<TokenRecord>, Self::Error> {
        self.0.find_by_digest(digest).await
    }
    async fn get(&self, id: TokenId) -> Result<Option<TokenRecord>, Self::Error> {
        self.0.get(id).await
    }
    async fn revoke(&self, id: TokenId) -> Result<Option<TokenRecord>, Self::Error> {
        self.0.revoke(id).await
    }
    async fn revoke_user(&self, user_id: &str) -> Result<Vec<TokenRecord>, Self::Error> {
        self.0.revoke_user(user_id).await
    }
    async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>, Self::Error> {
        self.0.list(user_id).await
    }
    async fn touch(
        &self,
        id: TokenId,
        used_at: OffsetDateTime,
        slide: Option<Slide>,
    ) -> Result<bool, Self::Error> {
        self.0.touch(id, used_at, slide).await
    }
    async fn shorten_expiry(&self, id: TokenId, at: OffsetDateTime) -> Result<bool, Self::Error> {
        self.0.shorten_expiry(id, at).await
    }
    async fn replace_digest(&self, _: TokenId, _: &TokenDigest, _: u32) -> Result<(), Self::Error> {
        Err(authtoken_sqlx::Error::Database(sqlx::Error::PoolTimedOut))
    }
    async fn purge_expired(&self, at: OffsetDateTime) -> Result<u64, Self::Error> {
        self.0.purge_expired(at).await
    }
}
