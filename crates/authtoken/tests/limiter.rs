//! The invalid-token limiter through the public API: off by default, 429 with
//! `Retry-After` past the limit, valid tokens never limited.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use authtoken::{
    AuthError, Authenticator, Clock, InvalidTokenLimit, IssueOptions, ManualClock, MemoryStore,
    UserIdLoader,
};

const CLIENT: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
const OTHER: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 8)));
const BAD: &[u8] = b"Token atk_not-a-real-token";

fn limited(clock: &Arc<ManualClock>) -> Authenticator<String> {
    Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .invalid_token_limit(3, Duration::from_secs(60))
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
        .build()
        .expect("valid settings")
}

async fn error(auth: &Authenticator<String>, client: Option<IpAddr>, header: &[u8]) -> AuthError {
    auth.authenticate_request_from(client, [header])
        .await
        .error()
        .cloned()
        .expect("a failure")
}

#[tokio::test(flavor = "current_thread")]
async fn off_by_default() {
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .build()
        .expect("valid settings");
    assert!(!auth.limits_invalid_tokens());
    assert!(limited(&Arc::new(ManualClock::starting_now())).limits_invalid_tokens());
    for _ in 0..100 {
        assert_eq!(error(&auth, CLIENT, BAD).await, AuthError::InvalidToken);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn past_the_limit_a_client_is_throttled_until_its_window_ends() {
    let clock = Arc::new(ManualClock::starting_now());
    let auth = limited(&clock);
    for _ in 0..3 {
        assert_eq!(error(&auth, CLIENT, BAD).await, AuthError::InvalidToken);
    }
    let throttled = error(&auth, CLIENT, BAD).await;
    assert_eq!(throttled, AuthError::Throttled { retry_after: 60 });
    let response = auth.error_response(&throttled);
    assert_eq!(response.status, 429);
    assert_eq!(response.retry_after, Some(60));
    assert_eq!(response.www_authenticate, None);
    assert_eq!(
        response.body,
        r#"{"detail":"Request was throttled. Expected available in 60 seconds."}"#
    );

    // Header errors count too, and are throttled alike.
    clock.advance(Duration::from_secs(45));
    assert_eq!(
        error(&auth, CLIENT, b"Token a b").await,
        AuthError::Throttled { retry_after: 15 }
    );

    // Another client, and a request without an address, are not affected.
    assert_eq!(error(&auth, OTHER, BAD).await, AuthError::InvalidToken);
    for _ in 0..10 {
        assert_eq!(error(&auth, None, BAD).await, AuthError::InvalidToken);
    }

    // A new window starts afresh.
    clock.advance(Duration::from_secs(15));
    assert_eq!(error(&auth, CLIENT, BAD).await, AuthError::InvalidToken);
}

#[tokio::test(flavor = "current_thread")]
async fn a_valid_token_passes_even_from_a_throttled_client() {
    let clock = Arc::new(ManualClock::starting_now());
    let auth = limited(&clock);
    let issued = auth
        .issue("ada", IssueOptions::new())
        .await
        .expect("issued");
    let good = format!("Bearer {}", issued.token().expose_secret());
    for _ in 0..10 {
        let _ = error(&auth, CLIENT, BAD).await;
    }
    assert!(matches!(
        error(&auth, CLIENT, BAD).await,
        AuthError::Throttled { .. }
    ));
    for _ in 0..5 {
        let authentication = auth
            .authenticate_request_from(CLIENT, [good.as_bytes()])
            .await;
        assert_eq!(authentication.require().expect("a user").user(), "ada");
    }
    // Anonymous requests are neither counted nor throttled.
    let anonymous = auth.authenticate_request_from(CLIENT, None::<&[u8]>).await;
    assert!(anonymous.optional().expect("anonymous").is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_scope_is_not_a_failure() {
    let clock = Arc::new(ManualClock::starting_now());
    let auth = limited(&clock);
    let issued = auth
        .issue("ada", IssueOptions::new())
        .await
        .expect("issued");
    let good = format!("Token {}", issued.token().expose_secret());
    for _ in 0..10 {
        let authentication = auth
            .authenticate_request_from(CLIENT, [good.as_bytes()])
            .await;
        assert_eq!(
            authentication.require_scope("write").unwrap_err().status(),
            403
        );
    }
    assert_eq!(error(&auth, CLIENT, BAD).await, AuthError::InvalidToken);
}

#[tokio::test(flavor = "current_thread")]
async fn settings_and_debug() {
    let limit = InvalidTokenLimit::new(5, Duration::from_secs(10)).max_clients(0);
    assert_eq!(limit.max_failures(), 5);
    assert_eq!(limit.window(), Duration::from_secs(10));
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .invalid_token_limiter(Some(limit))
        .build()
        .expect("valid settings");
    assert!(format!("{auth:?}").contains("max_failures: 5"));
    for _ in 0..5 {
        assert_eq!(error(&auth, CLIENT, BAD).await, AuthError::InvalidToken);
    }
    assert_eq!(
        error(&auth, CLIENT, BAD).await,
        AuthError::Throttled { retry_after: 10 }
    );
}

/// Clients are their peer address unless the application names a header its proxy
/// sets; a client's own copy of such a header counts for nothing otherwise.
#[test]
fn the_client_is_the_peer_unless_a_trusted_header_is_named() {
    let forged: &[u8] = b"203.0.113.66";
    let peer_only = limited(&Arc::new(ManualClock::starting_now()));
    assert_eq!(peer_only.trusted_client_ip_header(), None);
    assert_eq!(peer_only.client_address(CLIENT, [forged]), CLIENT);

    let behind_proxy = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .invalid_token_limiter(Some(
            InvalidTokenLimit::new(3, Duration::from_secs(60))
                .trusted_client_ip_header("X-Real-IP"),
        ))
        .build()
        .expect("valid settings");
    assert_eq!(behind_proxy.trusted_client_ip_header(), Some("X-Real-IP"));
    assert_eq!(
        behind_proxy.client_address(CLIENT, [forged]),
        forged_address(),
        "the proxy's header names the client"
    );
    assert_eq!(
        behind_proxy.client_address(CLIENT, None::<&[u8]>),
        CLIENT,
        "no header: the peer"
    );
    assert_eq!(
        behind_proxy.client_address(CLIENT, [b"garbage".as_slice()]),
        CLIENT
    );

    let off = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .build()
        .expect("valid settings");
    assert_eq!(
        off.trusted_client_ip_header(),
        None,
        "no limiter, no header"
    );
}

fn forged_address() -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66)))
}
