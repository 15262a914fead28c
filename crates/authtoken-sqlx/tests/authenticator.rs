//! The store and the authenticator, end to end, written once and run on every
//! backend by `backend_tests!` (one named test per case per backend).

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use authtoken::{
    AuthError, Authenticator, AuthenticatorBuilder, DigestKey, IssueError, IssueOptions,
    ManualClock, NewToken, TokenHasher, TokenPrefix, TokenStore,
};
use authtoken_sqlx::SqlxStore;
use common::{CountingStore, TestDb, TestUser, TestUsers};

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

fn builder(store: SqlxStore, users: &TestUsers) -> AuthenticatorBuilder<TestUser> {
    Authenticator::builder(store, users.clone())
}

fn header(token: &str) -> String {
    format!("Token {token}")
}

async fn auth(
    authenticator: &Authenticator<TestUser>,
    header: &str,
) -> Result<Option<authtoken::Identity<TestUser>>, AuthError> {
    authenticator.authenticate(Some(header.as_bytes())).await
}

mod cases {
    use super::*;

    pub async fn issue_then_authenticate_with_both_keywords(db: TestDb) {
        let users = TestUsers::new();
        let authenticator = builder(db.store, &users).build().expect("config");
        let issued = authenticator
            .issue(
                "1",
                IssueOptions::new().name("laptop").scopes(["read", "write"]),
            )
            .await
            .expect("issue");
        let token = issued.token().expose_secret();
        for keyword in ["Token", "Bearer", "token", "BEARER"] {
            let identity = auth(&authenticator, &format!("{keyword} {token}"))
                .await
                .expect("authenticates")
                .expect("not anonymous");
            assert_eq!(identity.user().id, "1");
            assert_eq!(identity.token().name, "laptop");
            assert_eq!(identity.token().scopes, ["read", "write"]);
            assert_eq!(identity.token().id, issued.info().id);
        }
    }

    pub async fn every_row_of_the_error_table(db: TestDb) {
        let users = TestUsers::new();
        let authenticator = builder(db.store.clone(), &users).build().expect("config");
        let token = authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("issue");
        let token = token.token().expose_secret().to_owned();

        assert!(matches!(authenticator.authenticate(None).await, Ok(None)));
        assert!(matches!(
            auth(&authenticator, "Basic dXNlcjpwYXNz").await,
            Ok(None)
        ));
        assert_eq!(
            auth(&authenticator, "Token").await.err(),
            Some(AuthError::NoCredentials)
        );
        assert_eq!(
            auth(&authenticator, "Token a b").await.err(),
            Some(AuthError::CredentialContainsSpaces)
        );
        assert_eq!(
            authenticator
                .authenticate(Some(b"Token ab\xffc"))
                .await
                .err(),
            Some(AuthError::CredentialInvalidCharacters)
        );
        assert_eq!(
            auth(&authenticator, "Token nonsense").await.err(),
            Some(AuthError::InvalidToken)
        );

        let mut typo = token.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).expect("ascii");
        assert_eq!(
            auth(&authenticator, &header(&typo)).await.err(),
            Some(AuthError::InvalidToken)
        );

        let unknown = authenticator.prefix().generate();
        assert_eq!(
            auth(&authenticator, &header(unknown.expose_secret()))
                .await
                .err(),
            Some(AuthError::InvalidToken)
        );

        users.set("1", Some(false));
        assert_eq!(
            auth(&authenticator, &header(&token)).await.err(),
            Some(AuthError::UserInactive)
        );
        users.set("1", None);
        assert_eq!(
            auth(&authenticator, &header(&token)).await.err(),
            Some(AuthError::UserInactive)
        );

        let clock = Arc::new(ManualClock::starting_now());
        let expiring = builder(db.store.clone(), &users)
            .clock(clock.clone())
            .token_ttl(Some(HOUR))
            .build()
            .expect("config");
        let short = expiring
            .issue("2", IssueOptions::new())
            .await
            .expect("issue");
        clock.advance(2 * HOUR);
        assert_eq!(
            auth(&expiring, &header(short.token().expose_secret()))
                .await
                .err(),
            Some(AuthError::TokenExpired)
        );

        let scoped = authenticator
            .issue("3", IssueOptions::new().scopes(["read"]))
            .await
            .expect("issue");
        let identity = auth(&authenticator, &header(scoped.token().expose_secret()))
            .await
            .expect("ok")
            .expect("user");
        assert!(identity.require_scope("read").is_ok());
        assert_eq!(
            identity.require_scope("write").err().map(|e| e.status()),
            Some(403)
        );

        let revoked = authenticator
            .issue("3", IssueOptions::new())
            .await
            .expect("issue");
        assert!(
            authenticator
                .revoke(revoked.info().id)
                .await
                .expect("revoke")
        );
        assert_eq!(
            auth(&authenticator, &header(revoked.token().expose_secret()))
                .await
                .err(),
            Some(AuthError::InvalidToken)
        );

        // The store goes away: 503, never 401 and never a user.
        let cold = builder(db.store.clone(), &users)
            .cache_capacity(0)
            .build()
            .expect("config");
        let live = cold.issue("4", IssueOptions::new()).await.expect("issue");
        db.store.close().await;
        match auth(&cold, &header(live.token().expose_secret())).await {
            Err(error @ AuthError::Unavailable(_)) => assert_eq!(error.status(), 503),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    pub async fn malformed_tokens_never_reach_the_store(db: TestDb) {
        let users = TestUsers::new();
        let (store, counts) = CountingStore::new(db.store);
        let authenticator = Authenticator::builder(store, users)
            .build()
            .expect("config");
        let issued = authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("issue");
        let mut typo = issued.token().expose_secret().to_owned();
        typo.pop();
        typo.push('!');
        for bad in [
            "Token x",
            "Token atk_short",
            &header(&typo),
            "Bearer 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
        ] {
            assert_eq!(
                auth(&authenticator, bad).await.err(),
                Some(AuthError::InvalidToken),
                "{bad}"
            );
        }
        assert_eq!(counts.finds(), 0);
    }

    pub async fn the_cache_serves_repeat_requests_and_revocation_evicts_it(db: TestDb) {
        let users = TestUsers::new();
        let (store, counts) = CountingStore::new(db.store);
        let authenticator = Authenticator::builder(store, users)
            .build()
            .expect("config");
        let issued = authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("issue");
        let header = header(issued.token().expose_secret());
        for _ in 0..50 {
            auth(&authenticator, &header)
                .await
                .expect("ok")
                .expect("user");
        }
        assert_eq!(counts.finds(), 1, "one store lookup, then the cache");
        assert_eq!(authenticator.cached_tokens(), 1);

        assert!(
            authenticator
                .revoke(issued.info().id)
                .await
                .expect("revoke")
        );
        assert_eq!(
            auth(&authenticator, &header).await.err(),
            Some(AuthError::InvalidToken)
        );
        assert_eq!(counts.finds(), 2);
        assert!(
            !authenticator
                .revoke(issued.info().id)
                .await
                .expect("revoke again")
        );
    }

    pub async fn without_cache_every_request_reads_the_store(db: TestDb) {
        let users = TestUsers::new();
        let (store, counts) = CountingStore::new(db.store);
        let authenticator = Authenticator::builder(store, users)
            .cache_capacity(0)
            .build()
            .expect("config");
        let issued = authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("issue");
        for _ in 0..5 {
            auth(&authenticator, &header(issued.token().expose_secret()))
                .await
                .expect("ok")
                .expect("user");
        }
        assert_eq!(counts.finds(), 5);
        assert_eq!(authenticator.cached_tokens(), 0);
    }

    pub async fn a_cached_token_is_checked_again_after_the_cache_ttl(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        let (store, counts) = CountingStore::new(db.store.clone());
        let authenticator = Authenticator::builder(store, users.clone())
            .clock(clock.clone())
            .cache_ttl(Duration::from_secs(10))
            .build()
            .expect("config");
        // Another node: revokes through its own authenticator, which this one's cache
        // does not hear of.
        let other_node = builder(db.store, &users).build().expect("config");
        let issued = authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("issue");
        let header = header(issued.token().expose_secret());
        auth(&authenticator, &header)
            .await
            .expect("ok")
            .expect("user");
        // The first use's last-use write lands first: one that found the row gone
        // would tell this node of the revocation early.
        authenticator.flush().await;
        assert!(other_node.revoke(issued.info().id).await.expect("revoke"));
        clock.advance(Duration::from_secs(9));
        assert!(
            auth(&authenticator, &header).await.is_ok(),
            "still cached within the ttl"
        );
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            auth(&authenticator, &header).await.err(),
            Some(AuthError::InvalidToken)
        );
        assert_eq!(counts.finds(), 2);
    }

    pub async fn revoke_user_revokes_every_token_of_that_user_only(db: TestDb) {
        let users = TestUsers::new();
        let authenticator = builder(db.store, &users).build().expect("config");
        let mut mine = Vec::new();
        for device in ["phone", "laptop", "tablet"] {
            let issued = authenticator
                .issue("1", IssueOptions::new().name(device))
                .await
                .expect("issue");
            auth(&authenticator, &header(issued.token().expose_secret()))
                .await
                .expect("ok")
                .expect("user");
            mine.push(issued);
        }
        let theirs = authenticator
            .issue("2", IssueOptions::new())
            .await
            .expect("issue");
        assert_eq!(authenticator.revoke_user("1").await.expect("revoke all"), 3);
        for issued in &mine {
            assert_eq!(
                auth(&authenticator, &header(issued.token().expose_secret()))
                    .await
                    .err(),
                Some(AuthError::InvalidToken)
            );
        }
        let identity = auth(&authenticator, &header(theirs.token().expose_secret()))
            .await
            .expect("ok")
            .expect("user");
        assert_eq!(identity.user().id, "2");
        assert_eq!(authenticator.list(Some("1")).await.expect("list").len(), 0);
        assert_eq!(authenticator.revoke_user("1").await.expect("again"), 0);
    }

    pub async fn expiry_applies_to_cached_and_uncached_tokens(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        for cache in [0, 100] {
            let authenticator = builder(db.store.clone(), &users)
                .clock(clock.clone())
                .token_ttl(Some(HOUR))
                .cache_capacity(cache)
                .cache_ttl(10 * HOUR)
                .build()
                .expect("config");
            let issued = authenticator
                .issue("1", IssueOptions::new())
                .await
                .expect("issue");
            let header = header(issued.token().expose_secret());
            assert!(auth(&authenticator, &header).await.is_ok());
            clock.advance(59 * MINUTE);
            assert!(auth(&authenticator, &header).await.is_ok());
            clock.advance(2 * MINUTE);
            assert_eq!(
                auth(&authenticator, &header).await.err(),
                Some(AuthError::TokenExpired)
            );

            let forever = authenticator
                .issue("1", IssueOptions::new().never_expires())
                .await
                .expect("issue");
            let custom = authenticator
                .issue("1", IssueOptions::new().expires_in(10 * HOUR))
                .await
                .expect("issue");
            clock.advance(5 * HOUR);
            assert!(auth(&authenticator, &header_of(&forever)).await.is_ok());
            assert!(auth(&authenticator, &header_of(&custom)).await.is_ok());
            assert_eq!(forever.info().expires, None);
        }
    }

    fn header_of(issued: &authtoken::IssuedToken) -> String {
        header(issued.token().expose_secret())
    }

    pub async fn sliding_expiry_moves_forward_with_use(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        for cache in [0, 100] {
            let authenticator = builder(db.store.clone(), &users)
                .clock(clock.clone())
                .token_ttl(Some(HOUR))
                .sliding_expiry(true)
                .cache_capacity(cache)
                .cache_ttl(10 * HOUR)
                .build()
                .expect("config");
            let issued = authenticator
                .issue("1", IssueOptions::new())
                .await
                .expect("issue");
            let header = header_of(&issued);
            for _ in 0..4 {
                clock.advance(50 * MINUTE);
                assert!(auth(&authenticator, &header).await.is_ok(), "cache {cache}");
                authenticator.flush().await;
            }
            let stored = authenticator.list(Some("1")).await.expect("list");
            let stored = stored
                .iter()
                .find(|t| t.id == issued.info().id)
                .expect("stored");
            assert_eq!(stored.expires, Some(clock.now_for_test() + HOUR));
            clock.advance(61 * MINUTE);
            assert_eq!(
                auth(&authenticator, &header).await.err(),
                Some(AuthError::TokenExpired)
            );
        }
        assert!(
            builder(db.store, &users)
                .sliding_expiry(true)
                .build()
                .is_err(),
            "sliding expiry without a ttl is refused"
        );
    }

    pub async fn last_used_writes_are_throttled(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        for cache in [0, 100] {
            let (store, counts) = CountingStore::new(db.store.clone());
            let authenticator = Authenticator::builder(store, users.clone())
                .clock(clock.clone())
                .cache_capacity(cache)
                .build()
                .expect("config");
            let issued = authenticator
                .issue("1", IssueOptions::new())
                .await
                .expect("issue");
            for _ in 0..100 {
                assert!(auth(&authenticator, &header_of(&issued)).await.is_ok());
                authenticator.flush().await;
            }
            assert_eq!(
                counts.touches(),
                1,
                "one write for 100 uses (cache {cache})"
            );
            clock.advance(61 * 1000 * Duration::from_millis(1));
            for _ in 0..100 {
                assert!(auth(&authenticator, &header_of(&issued)).await.is_ok());
            }
            authenticator.flush().await;
            assert_eq!(
                counts.touches(),
                2,
                "a second write after the interval (cache {cache})"
            );
            let listed = authenticator.list(Some("1")).await.expect("list");
            let listed = listed
                .iter()
                .find(|t| t.id == issued.info().id)
                .expect("listed");
            assert_eq!(listed.last_used, Some(clock.now_for_test()));
        }
    }

    pub async fn the_per_user_limit_holds(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        let authenticator = builder(db.store, &users)
            .clock(clock.clone())
            .max_tokens_per_user(Some(2))
            .build()
            .expect("config");
        let first = authenticator
            .issue("1", IssueOptions::new().expires_in(MINUTE))
            .await
            .expect("first");
        authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("second");
        assert_eq!(
            authenticator.issue("1", IssueOptions::new()).await.err(),
            Some(IssueError::LimitReached { limit: 2 })
        );
        authenticator
            .issue("2", IssueOptions::new())
            .await
            .expect("other users are apart");
        clock.advance(2 * MINUTE);
        let third = authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("an expired token does not count");
        assert!(authenticator.revoke(third.info().id).await.expect("revoke"));
        authenticator
            .issue("1", IssueOptions::new())
            .await
            .expect("a revoked token does not count");
        assert_eq!(
            auth(&authenticator, &header_of(&first)).await.err(),
            Some(AuthError::TokenExpired)
        );
    }

    pub async fn the_per_user_limit_holds_under_concurrent_issues(db: TestDb) {
        let users = TestUsers::new();
        let authenticator = builder(db.store, &users)
            .max_tokens_per_user(Some(5))
            .build()
            .expect("config");
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let authenticator = authenticator.clone();
            tasks.push(tokio::spawn(async move {
                authenticator.issue("1", IssueOptions::new()).await
            }));
        }
        let mut issued = 0;
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => issued += 1,
                Err(IssueError::LimitReached { limit: 5 }) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(issued, 5);
        assert_eq!(authenticator.list(Some("1")).await.expect("list").len(), 5);
    }

    pub async fn purge_deletes_only_expired_tokens(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        let authenticator = builder(db.store, &users)
            .clock(clock.clone())
            .build()
            .expect("config");
        for _ in 0..2 {
            authenticator
                .issue("1", IssueOptions::new().expires_in(MINUTE))
                .await
                .expect("issue");
        }
        let kept = authenticator
            .issue("1", IssueOptions::new().expires_in(HOUR))
            .await
            .expect("issue");
        authenticator
            .issue("2", IssueOptions::new())
            .await
            .expect("issue");
        assert_eq!(authenticator.purge_expired().await.expect("purge"), 0);
        clock.advance(2 * MINUTE);
        assert_eq!(authenticator.purge_expired().await.expect("purge"), 2);
        let left: Vec<_> = authenticator
            .list(None)
            .await
            .expect("list")
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&kept.info().id));
    }

    pub async fn rotation_keeps_the_old_token_for_the_grace_period(db: TestDb) {
        let users = TestUsers::new();
        let clock = Arc::new(ManualClock::starting_now());
        let authenticator = builder(db.store, &users)
            .clock(clock.clone())
            .build()
            .expect("config");
        let old = authenticator
            .issue("1", IssueOptions::new().name("ci").scopes(["deploy"]))
            .await
            .expect("issue");
        assert!(auth(&authenticator, &header_of(&old)).await.is_ok());
        let new = authenticator
            .rotate(old.info().id, 10 * MINUTE)
            .await
            .expect("rotate");
        assert_eq!(new.info().name, "ci");
        assert_eq!(new.info().scopes, ["deploy"]);
        assert_eq!(new.info().user_id, "1");
        assert_ne!(new.info().id, old.info().id);
        assert_eq!(
            new.info().expires,
            None,
            "a token without expiry rotates into one"
        );
        let monthly = authenticator
            .issue("1", IssueOptions::new().expires_in(30 * 24 * HOUR))
            .await
            .expect("issue");
        let rotated = authenticator
            .rotate(monthly.info().id, MINUTE)
            .await
            .expect("rotate");
        assert_eq!(
            rotated.info().expires,
            Some(rotated.info().created + 30 * 24 * HOUR),
            "a 30-day token rotates into a 30-day token"
        );
        clock.advance(9 * MINUTE);
        assert!(auth(&authenticator, &header_of(&old)).await.is_ok());
        assert!(auth(&authenticator, &header_of(&new)).await.is_ok());
        clock.advance(2 * MINUTE);
        assert_eq!(
            auth(&authenticator, &header_of(&old)).await.err(),
            Some(AuthError::TokenExpired)
        );
        assert!(auth(&authenticator, &header_of(&new)).await.is_ok());
        assert_eq!(
            authenticator
                .rotate(authtoken::TokenId(i64::MAX), MINUTE)
                .await
                .err(),
            Some(IssueError::NotFound)
        );
    }

    pub async fn hmac_secrets_rotate_and_rekey_on_use(db: TestDb) {
        let users = TestUsers::new();
        let key = |version, fill| DigestKey::new(version, vec![fill; 32]).expect("key");
        let v1 = builder(db.store.clone(), &users)
            .hasher(TokenHasher::hmac(key(1, 1), []).expect("hasher"))
            .build()
            .expect("config");
        let issued = v1.issue("1", IssueOptions::new()).await.expect("issue");
        let stored = db
            .store
            .get(issued.info().id)
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(stored.key_version, 1);

        // Plain SHA-256 does not verify an HMAC digest: the secret matters.
        let plain = builder(db.store.clone(), &users).build().expect("config");
        assert_eq!(
            auth(&plain, &header_of(&issued)).await.err(),
            Some(AuthError::InvalidToken)
        );

        let v2 = builder(db.store.clone(), &users)
            .hasher(TokenHasher::hmac(key(2, 2), [key(1, 1)]).expect("hasher"))
            .build()
            .expect("config");
        assert!(
            auth(&v2, &header_of(&issued)).await.is_ok(),
            "old key still verifies"
        );
        let stored = db
            .store
            .get(issued.info().id)
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(stored.key_version, 2, "re-keyed on use");

        let only_v2 = builder(db.store.clone(), &users)
            .hasher(TokenHasher::hmac(key(2, 2), []).expect("hasher"))
            .build()
            .expect("config");
        assert!(auth(&only_v2, &header_of(&issued)).await.is_ok());
        assert_eq!(
            auth(&v1, &header_of(&issued)).await.err(),
            Some(AuthError::InvalidToken)
        );
    }

    pub async fn legacy_keys_work_only_when_turned_on(db: TestDb) {
        let users = TestUsers::new();
        let key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
        let hasher = TokenHasher::sha256();
        let new = NewToken::new(
            hasher.digest(key.as_bytes()),
            0,
            "1".to_owned(),
            time::OffsetDateTime::now_utc(),
        );
        db.store.insert(&new, None).await.expect("insert");
        let off = builder(db.store.clone(), &users).build().expect("config");
        assert_eq!(
            auth(&off, &header(key)).await.err(),
            Some(AuthError::InvalidToken)
        );
        let on = builder(db.store, &users)
            .legacy_keys(true)
            .build()
            .expect("config");
        let identity = auth(&on, &header(key)).await.expect("ok").expect("user");
        assert_eq!(identity.user().id, "1");
        assert_eq!(
            auth(&on, &header(&key.to_uppercase())).await.err(),
            Some(AuthError::InvalidToken)
        );
    }

    pub async fn bad_issue_input_is_refused(db: TestDb) {
        let users = TestUsers::new();
        let authenticator = builder(db.store, &users).build().expect("config");
        assert_eq!(
            authenticator.issue("", IssueOptions::new()).await.err(),
            Some(IssueError::InvalidUserId)
        );
        assert_eq!(
            authenticator
                .issue(&"x".repeat(256), IssueOptions::new())
                .await
                .err(),
            Some(IssueError::InvalidUserId)
        );
        for hostile in ["1\n", "\u{1b}[2J1", "1\u{7f}", "\u{9b}1"] {
            assert_eq!(
                authenticator
                    .issue(hostile, IssueOptions::new())
                    .await
                    .err(),
                Some(IssueError::InvalidUserId),
                "{hostile:?}"
            );
        }
        assert_eq!(
            authenticator
                .issue("1", IssueOptions::new().name("a\nb"))
                .await
                .err(),
            Some(IssueError::InvalidName)
        );
        for scope in ["", "has space", "ünï", &"s".repeat(65)] {
            assert!(matches!(
                authenticator
                    .issue("1", IssueOptions::new().scopes([scope]))
                    .await,
                Err(IssueError::InvalidScope(_))
            ));
        }
        assert!(authenticator.list(None).await.expect("list").is_empty());
        let unicode = authenticator
            .issue("ユーザー", IssueOptions::new().name("Zoë's phone 📱"))
            .await
            .expect("unicode ids and names are fine");
        assert_eq!(unicode.info().name, "Zoë's phone 📱");
    }

    pub async fn the_hint_is_stored_and_read_back(db: TestDb) {
        let users = TestUsers::new();
        let authenticator = builder(db.store.clone(), &users).build().expect("config");
        let issued = authenticator
            .issue("1", IssueOptions::new().name("laptop"))
            .await
            .expect("issue");
        let hint = issued.token().hint();
        assert_eq!(hint.len(), 8, "{hint:?}");
        assert!(hint.starts_with("atk_"), "{hint:?}");
        assert_eq!(issued.info().hint, hint, "as the insert returned it");

        let listed = authenticator.list(Some("1")).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].hint, hint, "listed");
        assert_eq!(&listed[0], issued.info(), "the whole record survives");
        let digest = TokenHasher::sha256().digest(issued.token().expose_secret().as_bytes());
        let found = db
            .store
            .find_by_digest(&digest)
            .await
            .expect("find")
            .expect("stored");
        assert_eq!(found.info.hint, hint, "found by digest");
        let got = db
            .store
            .get(issued.info().id)
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(got.info.hint, hint, "found by id");
        let identity = auth(&authenticator, &header(issued.token().expose_secret()))
            .await
            .expect("authenticates")
            .expect("not anonymous");
        assert_eq!(identity.token().hint, hint, "authenticated");

        // A long prefix: its last three characters, `_` and four checksum characters.
        let long = builder(db.store.clone(), &users)
            .prefix(TokenPrefix::new("abcdefghijklmnop").expect("prefix"))
            .build()
            .expect("config");
        let rotated = long
            .rotate(issued.info().id, Duration::ZERO)
            .await
            .expect("rotate");
        let new_hint = rotated.token().hint();
        let secret = rotated.token().expose_secret();
        assert_eq!(new_hint, format!("nop_{}", &secret[secret.len() - 4..]));
        assert_eq!(rotated.info().hint, new_hint);

        // A token stored without a hint (an import) reads back with an empty one.
        let legacy = NewToken::new(
            TokenHasher::sha256().digest(b"9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"),
            0,
            "1".to_owned(),
            time::OffsetDateTime::now_utc(),
        );
        db.store.insert(&legacy, None).await.expect("insert");

        let hints: Vec<String> = authenticator
            .list(None)
            .await
            .expect("list")
            .into_iter()
            .map(|info| info.hint)
            .collect();
        assert_eq!(hints, [hint.clone(), new_hint.clone(), String::new()]);
        let revoked = db
            .store
            .revoke_user("1")
            .await
            .expect("revoke")
            .into_iter()
            .map(|record| record.info.hint)
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(revoked, [hint, new_hint, String::new()].into());
    }
}

backend_tests!(
    issue_then_authenticate_with_both_keywords,
    every_row_of_the_error_table,
    malformed_tokens_never_reach_the_store,
    the_cache_serves_repeat_requests_and_revocation_evicts_it,
    without_cache_every_request_reads_the_store,
    a_cached_token_is_checked_again_after_the_cache_ttl,
    revoke_user_revokes_every_token_of_that_user_only,
    expiry_applies_to_cached_and_uncached_tokens,
    sliding_expiry_moves_forward_with_use,
    last_used_writes_are_throttled,
    the_per_user_limit_holds,
    the_per_user_limit_holds_under_concurrent_issues,
    purge_deletes_only_expired_tokens,
    rotation_keeps_the_old_token_for_the_grace_period,
    hmac_secrets_rotate_and_rekey_on_use,
    legacy_keys_work_only_when_turned_on,
    bad_issue_input_is_refused,
    the_hint_is_stored_and_read_back,
);

/// `ManualClock::now` through the `Clock` trait, named for readability.
trait NowForTest {
    fn now_for_test(&self) -> time::OffsetDateTime;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> time::OffsetDateTime {
        authtoken::Clock::now(self)
    }
}
