//! The whole `Authenticator` on an in-memory SQLite database, fed arbitrary
//! `Authorization` header values.
//!
//! One real token, one revoked token and one expired token are issued at start. The
//! bytes `$T`, `$R` and `$E` in the input stand for them, so the fuzzer reaches the
//! store and the user loader as well as the parser. Invariants: no panic; a user only
//! for headers whose one credential is the real token (throttled clients included);
//! every error a row of the error table, with its challenge and a JSON body that
//! echoes nothing sent.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use authtoken::{AuthError, Authenticator, IssueOptions, UserIdLoader};
use authtoken_sqlx::SqlxStore;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

struct World {
    runtime: Runtime,
    /// Cache on (the default) and legacy keys off.
    cached: Authenticator<String>,
    /// Cache off, legacy keys on: every well-formed credential reaches the store.
    uncached: Authenticator<String>,
    /// The invalid-token limiter on: two failures per client per hour.
    limited: Authenticator<String>,
    real: String,
    revoked: String,
    expired: String,
}

const USER: &str = "fuzz-user";

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let world = runtime.block_on(async {
            let store = SqlxStore::connect("sqlite::memory:").await.expect("sqlite");
            store.migrate().await.expect("migrations");
            let cached = Authenticator::builder(store.clone(), UserIdLoader)
                .build()
                .expect("an authenticator");
            let limited = Authenticator::builder(store.clone(), UserIdLoader)
                .invalid_token_limit(2, Duration::from_secs(3600))
                .build()
                .expect("an authenticator");
            let uncached = Authenticator::builder(store, UserIdLoader)
                .cache_capacity(0)
                .legacy_keys(true)
                .build()
                .expect("an authenticator");
            let issue = |options| {
                let cached = cached.clone();
                async move { cached.issue(USER, options).await.expect("a token") }
            };
            let real = issue(IssueOptions::new().never_expires()).await;
            let revoked = issue(IssueOptions::new()).await;
            assert!(cached.revoke(revoked.info().id).await.expect("revoked"));
            let expired = issue(IssueOptions::new().expires_in(Duration::ZERO)).await;
            let text = |issued: &authtoken::IssuedToken| issued.token().expose_secret().to_owned();
            let tokens = (text(&real), text(&revoked), text(&expired));
            (cached, uncached, limited, tokens)
        });
        let (cached, uncached, limited, (real, revoked, expired)) = world;
        World {
            runtime,
            cached,
            uncached,
            limited,
            real,
            revoked,
            expired,
        }
    })
}

fn splice(value: &[u8], world: &World) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let token = match (value[i], value.get(i + 1)) {
            (b'$', Some(b'T')) => Some(&world.real),
            (b'$', Some(b'R')) => Some(&world.revoked),
            (b'$', Some(b'E')) => Some(&world.expired),
            _ => None,
        };
        match token {
            Some(token) => {
                out.extend_from_slice(token.as_bytes());
                i += 2;
            }
            None => {
                out.push(value[i]);
                i += 1;
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fuzz_target!(|input: (u8, u8, Vec<&[u8]>)| {
    let (mode, client, values) = input;
    let world = world();
    let values: Vec<Vec<u8>> = values.iter().map(|value| splice(value, world)).collect();
    let auth = match mode % 3 {
        0 => &world.cached,
        1 => &world.uncached,
        _ => &world.limited,
    };
    let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, client));

    let authentication = world
        .runtime
        .block_on(auth.authenticate_request_from(Some(client), values.iter().map(Vec::as_slice)));
    let result = authentication
        .result()
        .map(|identity| identity.cloned())
        .map_err(Clone::clone);
    match result {
        Ok(Some(identity)) => {
            assert_eq!(identity.user(), USER);
            let first = &values[0];
            assert!(values.iter().all(|value| value == first), "{values:?}");
            assert!(contains(first, world.real.as_bytes()), "{values:?}");
            assert!(!contains(first, world.revoked.as_bytes()));
            assert!(!contains(first, world.expired.as_bytes()));
        }
        Ok(None) => {}
        Err(error) => {
            assert!(
                matches!(
                    error,
                    AuthError::NoCredentials
                        | AuthError::CredentialContainsSpaces
                        | AuthError::CredentialInvalidCharacters
                        | AuthError::ConflictingHeaders
                        | AuthError::InvalidToken
                        | AuthError::TokenExpired
                ) || (matches!(error, AuthError::Throttled { .. }) && mode % 3 == 2),
                "unexpected {error:?} for {values:?}"
            );
            let response = error.response(auth.challenge());
            assert!(matches!(response.status, 400 | 401 | 429), "{response:?}");
            if response.status == 401 {
                assert!(response.www_authenticate.is_some());
            }
            if let AuthError::Throttled { retry_after } = error {
                assert!((1..=3600).contains(&retry_after), "{retry_after}");
                assert_eq!(response.retry_after, Some(retry_after));
            } else {
                // The body is the fixed detail alone: nothing sent is echoed.
                assert_eq!(
                    response.body,
                    format!("{{\"detail\":\"{}\"}}", error.detail())
                );
                assert_eq!(response.retry_after, None);
            }
        }
    }
});
