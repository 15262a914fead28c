//! The legacy key store through the authenticator, on an in-memory store: which
//! credentials reach it, what its failures become, and the settings it is given.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use authtoken::{
    AuthError, Authenticator, ConfigError, LEGACY_KEY_ID, LegacyKey, LegacyKeyStore, MemoryStore,
    UserIdLoader,
};
use time::OffsetDateTime;

const KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";

/// Keys by plaintext, counting lookups; failing every call once broken.
#[derive(Clone, Default)]
struct Keys {
    rows: Arc<Mutex<HashMap<String, String>>>,
    finds: Arc<AtomicUsize>,
    broken: Arc<std::sync::atomic::AtomicBool>,
}

impl Keys {
    fn with(key: &str, user_id: &str) -> Self {
        let keys = Self::default();
        keys.rows
            .lock()
            .expect("lock")
            .insert(key.to_owned(), user_id.to_owned());
        keys
    }

    fn check(&self) -> Result<(), std::io::Error> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the Django database is down"));
        }
        Ok(())
    }
}

impl LegacyKeyStore for Keys {
    type Error = std::io::Error;

    async fn find_key(&self, key: &str) -> Result<Option<LegacyKey>, Self::Error> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        let rows = self.rows.lock().expect("lock");
        Ok(rows
            .get(key)
            .map(|user| LegacyKey::new(user.clone(), OffsetDateTime::UNIX_EPOCH)))
    }

    async fn delete_key(&self, key: &str) -> Result<bool, Self::Error> {
        self.check()?;
        Ok(self.rows.lock().expect("lock").remove(key).is_some())
    }

    async fn delete_user_keys(&self, user_id: &str) -> Result<u64, Self::Error> {
        self.check()?;
        let mut rows = self.rows.lock().expect("lock");
        let before = rows.len();
        rows.retain(|_, user| user != user_id);
        Ok((before - rows.len()) as u64)
    }
}

fn authenticator(keys: Keys) -> Authenticator<String> {
    Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .legacy_key_store(keys)
        .legacy_key_scopes(["read"])
        .build()
        .expect("config")
}

async fn check(auth: &Authenticator<String>, credential: &str) -> Result<String, AuthError> {
    auth.authenticate_credential(credential.as_bytes())
        .await
        .map(|identity| identity.user().clone())
}

#[tokio::test]
async fn only_keys_of_drfs_shape_reach_the_legacy_store() {
    let keys = Keys::with(KEY, "7");
    let auth = authenticator(keys.clone());
    let identity = auth
        .authenticate_credential(KEY.as_bytes())
        .await
        .expect("accepted");
    assert_eq!(identity.user(), "7");
    assert_eq!(identity.token().id, LEGACY_KEY_ID);
    assert_eq!(identity.token().scopes, ["read"]);
    assert!(identity.is_legacy_key());
    assert_eq!(keys.finds.load(Ordering::SeqCst), 1);

    // Our own tokens go to the token store, never to the legacy store.
    let issued = auth
        .issue("7", authtoken::IssueOptions::new())
        .await
        .expect("issue");
    let ours = auth
        .authenticate_credential(issued.token().expose_secret().as_bytes())
        .await
        .expect("ours");
    assert!(!ours.is_legacy_key());
    for bad in [&KEY[..39], &format!("{KEY}0"), &KEY.to_uppercase(), "atk_x"] {
        assert_eq!(
            check(&auth, bad).await,
            Err(AuthError::InvalidToken),
            "{bad}"
        );
    }
    assert_eq!(keys.finds.load(Ordering::SeqCst), 1, "one lookup in all");
}

#[tokio::test]
async fn a_failing_legacy_store_is_unavailable_not_invalid() {
    let keys = Keys::with(KEY, "7");
    let auth = authenticator(keys.clone());
    keys.broken.store(true, Ordering::SeqCst);
    let refused = check(&auth, KEY).await.expect_err("the store is down");
    assert!(matches!(refused, AuthError::Unavailable(_)), "{refused:?}");
    assert_eq!(refused.status(), 503);
}

#[tokio::test]
async fn without_a_legacy_store_drf_keys_are_refused_unless_turned_on() {
    let auth: Authenticator<String> = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .build()
        .expect("config");
    assert_eq!(check(&auth, KEY).await, Err(AuthError::InvalidToken));
}

#[test]
fn legacy_key_scopes_are_checked_at_build() {
    let build = |scopes: Vec<String>| {
        Authenticator::<String>::builder(MemoryStore::new(), UserIdLoader)
            .legacy_key_store(Keys::default())
            .legacy_key_scopes(scopes)
            .build()
            .map(|_| ())
    };
    assert_eq!(build(vec!["read".into(), "admin:write".into()]), Ok(()));
    assert_eq!(
        build(vec!["has space".into()]),
        Err(ConfigError::InvalidLegacyKeyScope("has space".into()))
    );
    assert_eq!(
        build(vec![String::new()]),
        Err(ConfigError::InvalidLegacyKeyScope(String::new()))
    );
    assert_eq!(
        build((0..65).map(|i| format!("s{i}")).collect()),
        Err(ConfigError::InvalidLegacyKeyScope("65 scopes".into()))
    );
    let refused = build(vec!["a\u{1b}b".into()]).expect_err("a control character");
    assert!(
        refused.to_string().contains("invalid legacy key scope"),
        "{refused}"
    );
}

/// A login check that knows no one: the bridge's users log in on Django.
struct NoLogins;

impl authtoken::endpoints::CheckCredentials for NoLogins {
    type Error = std::io::Error;

    async fn check(&self, _: &str, _: &str) -> Result<Option<String>, Self::Error> {
        Ok(None)
    }
}

#[tokio::test]
async fn the_token_endpoints_log_a_drf_key_out_where_it_is_kept() {
    use authtoken::endpoints::{TokenEndpoints, TokenPolicy};

    let keys = Keys::with(KEY, "7");
    let auth = authenticator(keys.clone());
    let endpoints =
        TokenEndpoints::new(auth.clone(), NoLogins, TokenPolicy::new(["read", "tokens"]))
            .expect("policy");

    // `POST logout`, as every adapter mounts it.
    let identity = auth
        .authenticate_credential(KEY.as_bytes())
        .await
        .expect("accepted");
    endpoints.logout(&identity).await.expect("logout");
    assert!(
        keys.rows.lock().expect("lock").is_empty(),
        "the key's row is deleted"
    );
    assert_eq!(check(&auth, KEY).await, Err(AuthError::InvalidToken));

    // `POST logout-all`: the user's DRF key and their own tokens.
    keys.rows
        .lock()
        .expect("lock")
        .insert(KEY.to_owned(), "7".to_owned());
    let issued = auth
        .issue("7", authtoken::IssueOptions::new())
        .await
        .expect("issue");
    let identity = auth
        .authenticate_credential(KEY.as_bytes())
        .await
        .expect("accepted again");
    endpoints.logout_all(&identity).await.expect("logout-all");
    assert!(keys.rows.lock().expect("lock").is_empty());
    assert_eq!(check(&auth, KEY).await, Err(AuthError::InvalidToken));
    assert_eq!(
        check(&auth, issued.token().expose_secret()).await,
        Err(AuthError::InvalidToken)
    );
}
