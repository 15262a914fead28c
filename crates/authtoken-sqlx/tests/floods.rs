//! Floods of bad tokens against a real database, with the invalid-token limiter on:
//! what fails the format or the checksum never reaches the database, a throttled
//! client is answered 429, and its valid token still passes.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use authtoken::{AuthError, Authenticator, IssueOptions};
use common::{CountingStore, TestDb, TestUsers};

const FLOOD: usize = 1_000;
const CLIENT: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)));

async fn a_flood(db: TestDb) {
    let (store, counts) = CountingStore::new(db.store);
    let auth = Authenticator::builder(store, TestUsers::new())
        .invalid_token_limit(10, Duration::from_secs(60))
        .build()
        .expect("valid settings");
    let issued = auth.issue("1", IssueOptions::new()).await.expect("issued");
    let token = issued.token().expose_secret().to_owned();
    let good = format!("Token {token}");
    let finds_before = counts.finds();

    let mut throttled = 0;
    for i in 0..FLOOD {
        let header = match i % 3 {
            0 => {
                // A one-character typo: the checksum fails.
                let mut typo = token.clone().into_bytes();
                let at = 4 + i % 32;
                typo[at] = if typo[at] == b'Q' { b'R' } else { b'Q' };
                format!("Bearer {}", String::from_utf8(typo).expect("ASCII"))
            }
            1 => format!("Token atk_{i}"),
            _ => format!("Token {}", "9".repeat(40)),
        };
        let outcome = auth
            .authenticate_request_from(CLIENT, [header.as_bytes()])
            .await;
        match outcome.error() {
            Some(AuthError::InvalidToken) => {}
            Some(AuthError::Throttled { retry_after }) => {
                assert!((1..=60).contains(retry_after));
                throttled += 1;
            }
            other => panic!("bad token {i}: {other:?}"),
        }
    }
    assert_eq!(throttled, FLOOD - 10, "all but the first 10 are throttled");
    assert_eq!(
        counts.finds(),
        finds_before,
        "a malformed token reached the database"
    );

    // The throttled client's valid token passes, and is the only lookup.
    let outcome = auth
        .authenticate_request_from(CLIENT, [good.as_bytes()])
        .await;
    assert_eq!(outcome.require().expect("a user").user().id, "1");
    assert_eq!(counts.finds(), finds_before + 1);
    auth.flush().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    a_flood(common::sqlite_memory().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let cleanup = db.cleanup();
    a_flood(db).await;
    if let Some(cleanup) = cleanup {
        cleanup.run().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql() {
    let Some(db) = common::mysql().await else {
        return;
    };
    let cleanup = db.cleanup();
    a_flood(db).await;
    if let Some(cleanup) = cleanup {
        cleanup.run().await;
    }
}
