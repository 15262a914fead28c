//! What an authenticator answered is counted ([`Authenticator::metrics`]) and traced
//! (a `TRACE` event per accepted request, a `DEBUG` event with the code per refusal),
//! and no event holds a token or its digest.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authtoken::{
    AuthError, Authenticator, IssueOptions, IssuedToken, ManualClock, MemoryStore, TokenHasher,
    UserLoader,
};
use tracing::field::Field;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

/// Every event, one line each: its level, then `name=value` for each field.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut line = format!("{}", event.metadata().level());
        event.record(&mut |field: &Field, value: &dyn std::fmt::Debug| {
            let _ = write!(line, " {}={value:?}", field.name());
        });
        self.0.lock().expect("events").push(line);
    }
}

impl Events {
    fn lines(&self) -> Vec<String> {
        self.0.lock().expect("events").clone()
    }

    /// The one line that holds every part of `parts`.
    fn find(&self, parts: &[&str]) -> String {
        let lines = self.lines();
        lines
            .iter()
            .find(|line| parts.iter().all(|part| line.contains(part)))
            .cloned()
            .unwrap_or_else(|| panic!("no event with {parts:?} among {lines:#?}"))
    }
}

/// Users whose id starts with `broken` cannot be loaded.
#[derive(Clone, Copy)]
struct Users;

impl UserLoader for Users {
    type User = String;
    type Error = std::io::Error;

    async fn load(&self, user_id: &str) -> Result<Option<String>, std::io::Error> {
        if user_id.starts_with("broken") {
            return Err(std::io::Error::other("the users table is down"));
        }
        Ok(Some(user_id.to_owned()))
    }

    fn is_active(&self, _: &String) -> bool {
        true
    }
}

fn header(issued: &IssuedToken) -> String {
    format!("Token {}", issued.token().expose_secret())
}

fn client(last: u8) -> Option<IpAddr> {
    Some(IpAddr::from([192, 0, 2, last]))
}

#[test]
fn every_outcome_is_counted_and_traced_without_the_token() {
    let events = Events::default();
    let subscriber = tracing_subscriber::registry()
        .with(events.clone())
        .with(tracing_subscriber::filter::LevelFilter::TRACE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let secrets = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let clock = Arc::new(ManualClock::starting_now());
            let auth = Authenticator::builder(MemoryStore::new(), Users)
                .clock(clock.clone())
                .invalid_token_limit(2, Duration::from_secs(60))
                .build()
                .expect("valid settings");
            let alice = auth
                .issue("alice", IssueOptions::new().scopes(["read"]))
                .await
                .expect("issue");
            let short = auth
                .issue(
                    "alice",
                    IssueOptions::new().expires_in(Duration::from_secs(60)),
                )
                .await
                .expect("issue");
            let broken = auth
                .issue("broken-bob", IssueOptions::new())
                .await
                .expect("issue");
            let ask = |from: Option<IpAddr>, value: &str| {
                let value = value.to_owned();
                let auth = auth.clone();
                async move {
                    auth.authenticate_request_from(from, [value.as_bytes()])
                        .await
                        .result()
                        .map(|identity| identity.cloned())
                        .map_err(Clone::clone)
                }
            };

            // From the store, then from the cache.
            let identity = ask(client(1), &header(&alice)).await.expect("valid");
            assert!(identity.is_some());
            assert!(
                ask(client(1), &header(&alice))
                    .await
                    .expect("valid")
                    .is_some()
            );
            // A scope the handler requires at run time, refused.
            let refused = identity.expect("alice").require_scope("write");
            assert_eq!(refused.map_err(|r| r.code()), Err("insufficient_scope"));
            // No credentials, and the keyword alone.
            assert!(matches!(ask(client(1), "Basic abc").await, Ok(None)));
            assert_eq!(
                ask(client(2), "Token").await.err(),
                Some(AuthError::NoCredentials)
            );
            // Two bad tokens from one client, then it is throttled.
            for _ in 0..2 {
                assert_eq!(
                    ask(client(3), "Token atk_bad").await.err(),
                    Some(AuthError::InvalidToken)
                );
            }
            assert!(matches!(
                ask(client(3), "Token atk_bad").await,
                Err(AuthError::Throttled { .. })
            ));
            // Expired, read from the store; a user the loader cannot load.
            clock.advance(Duration::from_secs(61));
            assert_eq!(
                ask(client(4), &header(&short)).await.err(),
                Some(AuthError::TokenExpired)
            );
            assert!(matches!(
                ask(client(5), &header(&broken)).await,
                Err(AuthError::Unavailable(_))
            ));
            // The authenticator's own API counts too.
            assert_eq!(
                auth.authenticate(Some(b"Token atk_other")).await.err(),
                Some(AuthError::InvalidToken)
            );
            auth.flush().await;

            let metrics = auth.metrics();
            assert_eq!(metrics.accepted, 2, "{metrics:?}");
            assert_eq!(metrics.anonymous, 1, "{metrics:?}");
            assert_eq!(metrics.cache_hits, 1, "{metrics:?}");
            assert_eq!(metrics.store_reads, 3, "{metrics:?}");
            let refused: Vec<(&str, u64)> = metrics
                .refused_by_code()
                .filter(|(_, count)| *count > 0)
                .collect();
            assert_eq!(
                refused,
                [
                    ("no_credentials", 1),
                    ("invalid_token", 3),
                    ("token_expired", 1),
                    ("insufficient_scope", 1),
                    ("throttled", 1),
                    ("unavailable", 1),
                ]
            );
            assert_eq!(metrics.throttled(), 1);
            assert_eq!(metrics.store_errors(), 1);
            assert_eq!(metrics.refused_total(), 8);
            [alice, short, broken]
        })
    });

    let id = secrets[0].info().id.0;
    let accepted = [
        "outcome=\"accepted\"",
        &format!("token_id={id} "),
        "user_id=alice",
    ];
    events.find(&[&accepted[..], &["source=\"store\"", "duration_us="]].concat());
    events.find(&[&accepted[..], &["source=\"cache\""]].concat());
    events.find(&["DEBUG", "code=\"throttled\""]);
    events.find(&["DEBUG", "code=\"insufficient_scope\"", "scope=\"write\""]);
    events.find(&["DEBUG", "code=\"token_expired\"", "source=\"store\""]);
    events.find(&["DEBUG", "code=\"invalid_token\"", "source=\"format\""]);
    events.find(&["TRACE", "outcome=\"anonymous\""]);
    for issued in &secrets {
        let secret = issued.token().expose_secret();
        let digest = TokenHasher::sha256().digest(secret.as_bytes()).to_hex();
        let random = &secret[secret.len() - 20..];
        for line in events.lines() {
            assert!(
                !line.contains(random) && !line.contains(&digest[..16]),
                "a token or its digest in {line}"
            );
        }
    }
}

/// An extractor for a user type no authenticator was built for logs both type names
/// and answers clients a generic 500 that names nothing internal.
#[test]
fn an_extractor_for_another_user_type_names_both_in_the_log_only() {
    #[derive(Debug)]
    struct Admin;
    let events = Events::default();
    let subscriber = tracing_subscriber::registry()
        .with(events.clone())
        .with(tracing_subscriber::filter::LevelFilter::TRACE);
    let rejection = tracing::subscriber::with_default(subscriber, || {
        Authenticator::builder(MemoryStore::new(), Users)
            .build()
            .expect("valid settings");
        authtoken::Rejection::missing_authenticator::<Admin>("install the layer")
    });
    assert_eq!(rejection.status(), 500);
    assert_eq!(rejection.body(), r#"{"detail":"A server error occurred."}"#);
    assert_eq!(rejection.code(), "server_error");
    let line = events.find(&["ERROR", "observability::", "Admin"]);
    assert!(line.contains("alloc::string::String"), "{line}");
    assert!(!line.contains("install the layer"), "{line}");
}
