//! A Rust service beside a Django site: DRF's keys read from Django's own
//! `authtoken_token`, its users from `auth_user`, on every backend.
//!
//! Django's tables are created by the DDL in `tests/django/`, which is what
//! `manage.py migrate` leaves in the database with Django 5.2.19 and Django REST
//! Framework 3.18.3 (`auth` 0001..0012, `authtoken` 0001..0004), dumped from each
//! server (`sqlite3 .schema`, `pg_dump -s`, `SHOW CREATE TABLE`). Rows are written as Django
//! writes them: a key of 40 lowercase hex characters, `created` in UTC.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authtoken::{AuthError, Authenticator, IssueOptions, LEGACY_KEY_ID, ManualClock};
use authtoken_sqlx::{DjangoDatabase, DjangoUser};
use common::TestDb;
use sqlx::Row as _;
use time::OffsetDateTime;

const SQLITE_DDL: &str = include_str!("django/sqlite.sql");

const POSTGRES_DDL: &str = include_str!("django/postgres.sql");

const MYSQL_DDL: &str = include_str!("django/mysql.sql");

/// A Django database for one test: Django's tables created in the test's database,
/// and the [`DjangoDatabase`] that reads them.
struct Django {
    db: TestDb,
    django: DjangoDatabase,
}

/// A datetime literal as Django writes it on this backend (in UTC).
fn at_literal(db: &TestDb, at: OffsetDateTime) -> String {
    let text = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    );
    if db.store.pg_pool().is_some() {
        format!("'{text}+00:00'")
    } else {
        format!("'{text}'")
    }
}

/// Runs `$body` with `$pool` bound to the test database's pool, whichever it is.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        if let Some($pool) = $db.store.sqlite_pool() {
            $body
        } else if let Some($pool) = $db.store.pg_pool() {
            $body
        } else {
            let $pool = $db.store.mysql_pool().expect("a MySQL pool");
            $body
        }
    };
}

impl Django {
    async fn new(db: TestDb) -> Self {
        let django = if let Some(pool) = db.store.sqlite_pool() {
            sqlx::raw_sql(SQLITE_DDL).execute(pool).await.expect("DDL");
            DjangoDatabase::from_sqlite_pool(pool.clone())
        } else if let Some(pool) = db.store.pg_pool() {
            sqlx::raw_sql(POSTGRES_DDL)
                .execute(pool)
                .await
                .expect("DDL");
            DjangoDatabase::from_pg_pool(pool.clone())
        } else {
            let pool = db.store.mysql_pool().expect("a MySQL pool");
            sqlx::raw_sql(MYSQL_DDL).execute(pool).await.expect("DDL");
            DjangoDatabase::from_mysql_pool(pool.clone())
        };
        Self { db, django }
    }

    /// `key`, quoted for this backend (a reserved word on MySQL).
    fn key_column(&self) -> &'static str {
        if self.db.store.mysql_pool().is_some() {
            "`key`"
        } else {
            "\"key\""
        }
    }

    /// Runs one statement on the Django database; how many rows it touched.
    async fn execute(&self, sql: String) -> u64 {
        on_pool!(self.db, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .expect("statement")
    }

    /// The first column of every row `sql` returns, as text.
    async fn texts(&self, sql: String) -> Vec<String> {
        let text = |row: &dyn Fn(usize) -> Result<String, sqlx::Error>| row(0).expect("text");
        on_pool!(self.db, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .expect("query")
            .iter()
            .map(|row| text(&|i| row.try_get::<String, _>(i).or_else(|_| row
                .try_get::<Vec<u8>, _>(i)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))))
            .collect())
    }

    /// Every row of Django's two tables, as text, in a fixed order: what the tests
    /// compare to prove nothing else was written.
    async fn snapshot(&self) -> Vec<String> {
        let mut rows = self
            .texts(
                "SELECT CONCAT_WS('|', id, password, last_login, is_superuser, username, \
                 first_name, last_name, email, is_staff, is_active, date_joined) \
                 FROM auth_user ORDER BY id"
                    .to_owned(),
            )
            .await;
        let key = self.key_column();
        rows.extend(
            self.texts(format!(
                "SELECT CONCAT_WS('|', {key}, created, user_id) FROM authtoken_token \
                 ORDER BY user_id"
            ))
            .await,
        );
        rows
    }

    /// Adds a user as `createuser` would; returns its id.
    async fn add_user(&self, username: &str, active: bool) -> i64 {
        let joined = at_literal(&self.db, OffsetDateTime::now_utc());
        self.execute(format!(
            "INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, \
             last_name, email, is_staff, is_active, date_joined) VALUES \
             ('pbkdf2_sha256$870000$salt$hash', NULL, FALSE, '{username}', '', '', \
             '{username}@example.com', FALSE, {active}, {joined})",
            active = if active { "TRUE" } else { "FALSE" },
        ))
        .await;
        let id = self
            .texts(format!(
                "SELECT CONCAT_WS('', id) FROM auth_user WHERE username = '{username}'"
            ))
            .await;
        id[0].parse().expect("an integer id")
    }

    /// Logs `user_id` in as DRF's `obtain_auth_token` does: a fresh key, created at
    /// `created`.
    async fn add_key(&self, user_id: i64, created: OffsetDateTime) -> String {
        let key = drf_key();
        let created = at_literal(&self.db, created);
        let key_column = self.key_column();
        self.execute(format!(
            "INSERT INTO authtoken_token ({key_column}, created, user_id) \
             VALUES ('{key}', {created}, {user_id})"
        ))
        .await;
        key
    }

    /// A user (active or not) who has just logged in through DRF: its id and key.
    async fn logged_in(&self, username: &str, active: bool) -> (i64, String) {
        let id = self.add_user(username, active).await;
        (id, self.add_key(id, OffsetDateTime::now_utc()).await)
    }

    async fn key_count(&self) -> usize {
        self.texts("SELECT CONCAT_WS('', user_id) FROM authtoken_token".to_owned())
            .await
            .len()
    }

    /// An authenticator as the bridge example builds it: its own tokens in the test's
    /// store, DRF's keys and the users in Django's tables.
    fn authenticator(&self, clock: Option<Arc<ManualClock>>) -> Authenticator<DjangoUser> {
        let mut builder = Authenticator::builder(self.db.store.clone(), self.django.clone())
            .legacy_key_store(self.django.clone())
            .legacy_key_scopes(["read", "write"])
            .last_used_interval(Duration::ZERO);
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        builder.build().expect("config")
    }
}

/// A key as DRF makes one (`os.urandom(20)` in hex): here the hex of a fresh token's
/// digest, which is as random.
fn drf_key() -> String {
    let token = authtoken::TokenPrefix::default().generate();
    let digest = authtoken::TokenHasher::sha256().digest(token.expose_secret().as_bytes());
    digest.to_hex()[..40].to_owned()
}

async fn check(
    auth: &Authenticator<DjangoUser>,
    key: &str,
) -> Result<authtoken::Identity<DjangoUser>, AuthError> {
    let header = format!("Token {key}");
    auth.authenticate(Some(header.as_bytes()))
        .await
        .map(|identity| identity.expect("a Token header is never anonymous"))
}

mod cases {
    use super::*;

    /// A key Django issued is accepted as its user, beside the service's own tokens.
    pub async fn a_key_django_issued_is_accepted(db: TestDb) {
        let django = Django::new(db).await;
        let alice = django.add_user("alice", true).await;
        let created = OffsetDateTime::now_utc()
            .replace_nanosecond(123_456_000)
            .expect("ns");
        let key = django.add_key(alice, created).await;
        let auth = django.authenticator(None);

        let identity = check(&auth, &key).await.expect("Django's key is accepted");
        assert_eq!(identity.user().username, "alice");
        assert_eq!(identity.user().id, alice);
        assert!(identity.is_legacy_key());
        let token = identity.token();
        assert_eq!(token.id, LEGACY_KEY_ID);
        assert_eq!(token.user_id, alice.to_string());
        assert_eq!(token.scopes, ["read", "write"]);
        assert_eq!(
            token.created, created,
            "created, to the microsecond, in UTC"
        );
        assert_eq!(token.expires, None);
        // From the cache, the same.
        let again = check(&auth, &key).await.expect("cached");
        assert_eq!(again.user().username, "alice");

        // The service's own token for the same user lives beside it.
        let issued = auth
            .issue(&alice.to_string(), IssueOptions::new().name("rust"))
            .await
            .expect("issue");
        let ours = check(&auth, issued.token().expose_secret())
            .await
            .expect("our own token");
        assert_eq!(ours.user().username, "alice");
        assert!(!ours.is_legacy_key());
        assert_eq!(
            django.key_count().await,
            1,
            "our token is not in Django's table"
        );

        // A key of the right shape that Django never issued is refused.
        let unknown = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            check(&auth, unknown).await.err(),
            Some(AuthError::InvalidToken)
        );
    }

    /// An inactive Django user's key is refused, as DRF refuses it.
    pub async fn an_inactive_user_is_refused(db: TestDb) {
        let django = Django::new(db).await;
        let (_, key) = django.logged_in("bob", false).await;
        let auth = django.authenticator(None);
        assert_eq!(
            check(&auth, &key).await.err(),
            Some(AuthError::UserInactive)
        );

        // Deactivated after a request was served: refused once the user is reloaded.
        let (carol, key) = django.logged_in("carol", true).await;
        check(&auth, &key).await.expect("active");
        django
            .execute(format!(
                "UPDATE auth_user SET is_active = FALSE WHERE id = {carol}"
            ))
            .await;
        auth.user_changed(&carol.to_string())
            .await
            .expect("user changed");
        assert_eq!(
            check(&auth, &key).await.err(),
            Some(AuthError::UserInactive)
        );
    }

    /// A logout on the Django side (its row deleted) stops the key here within the
    /// cache ttl, and not before: there is no trigger in Django's database.
    pub async fn a_key_deleted_in_django_is_refused_after_the_cache_ttl(db: TestDb) {
        let django = Django::new(db).await;
        let (_, key) = django.logged_in("alice", true).await;
        let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
        let auth = django.authenticator(Some(Arc::clone(&clock)));
        check(&auth, &key).await.expect("accepted, and cached");

        // Django's logout view: `request.user.auth_token.delete()`.
        let key_column = django.key_column();
        let deleted = django
            .execute(format!(
                "DELETE FROM authtoken_token WHERE {key_column} = '{key}'"
            ))
            .await;
        assert_eq!(deleted, 1);
        clock.advance(Duration::from_secs(29));
        check(&auth, &key)
            .await
            .expect("within the 30 s cache ttl, this node still serves its cached answer");
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            check(&auth, &key).await.err(),
            Some(AuthError::InvalidToken),
            "refused once the cache ttl has run out"
        );
    }

    /// A logout on this side deletes Django's row: the key then fails in Django too.
    /// Logging out everywhere deletes it with the user's own tokens.
    pub async fn a_logout_here_deletes_the_django_row(db: TestDb) {
        let django = Django::new(db).await;
        let (_, key) = django.logged_in("alice", true).await;
        let (bob, bobs_key) = django.logged_in("bob", true).await;
        let auth = django.authenticator(None);

        let identity = check(&auth, &key).await.expect("accepted");
        assert!(auth.revoke_identity(&identity).await.expect("logout"));
        assert_eq!(
            django.key_count().await,
            1,
            "alice's row is gone, bob's stays"
        );
        assert_eq!(
            check(&auth, &key).await.err(),
            Some(AuthError::InvalidToken),
            "refused at once on this node"
        );
        assert!(
            !auth.revoke_identity(&identity).await.expect("again"),
            "already gone"
        );
        check(&auth, &bobs_key)
            .await
            .expect("bob is still logged in");

        // Logout-all: bob's Django key and his own tokens, in one call.
        let issued = auth
            .issue(&bob.to_string(), IssueOptions::new())
            .await
            .expect("issue");
        let identity = check(&auth, &bobs_key).await.expect("accepted");
        assert_eq!(auth.revoke_all_of(&identity).await.expect("logout-all"), 2);
        assert_eq!(django.key_count().await, 0);
        assert_eq!(
            check(&auth, &bobs_key).await.err(),
            Some(AuthError::InvalidToken)
        );
        assert_eq!(
            check(&auth, issued.token().expose_secret()).await.err(),
            Some(AuthError::InvalidToken)
        );
    }

    /// Only DRF's shape reaches Django's table: with the table gone, a well-formed
    /// key fails as the database fails (503), every other one as invalid (401)
    /// without a query.
    pub async fn malformed_keys_never_reach_the_database(db: TestDb) {
        let django = Django::new(db).await;
        let auth = django.authenticator(None);
        django
            .execute("DROP TABLE authtoken_token".to_owned())
            .await;
        let well_formed = "0123456789abcdef0123456789abcdef01234567";
        assert!(matches!(
            check(&auth, well_formed).await,
            Err(AuthError::Unavailable(_))
        ));
        for key in [
            &well_formed[..39],
            &format!("{well_formed}8"),
            "0123456789ABCDEF0123456789ABCDEF01234567",
            "0123456789abcdef0123456789abcdef0123456g",
            "0123456789abcdef0123456789abcdef0123456'",
            "0123456789abcdef0123456789abcdef012345é",
        ] {
            // Invalid, or (the last one) refused by the header parser already.
            let refused = check(&auth, key).await.err();
            assert!(
                matches!(
                    refused,
                    Some(AuthError::InvalidToken | AuthError::CredentialInvalidCharacters)
                ),
                "{key:?} is refused before the database, not with {refused:?}"
            );
        }
    }

    /// Authentication writes nothing to Django's database: no last-use, no row of
    /// ours; a logout deletes exactly its key.
    pub async fn nothing_but_a_logout_writes_to_django(db: TestDb) {
        let django = Django::new(db).await;
        let (alice, key) = django.logged_in("alice", true).await;
        let (_, bobs_key) = django.logged_in("bob", false).await;
        let before = django.snapshot().await;
        assert_eq!(before.len(), 4, "{before:?}");

        let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
        let auth = django.authenticator(Some(Arc::clone(&clock)));
        let issued = auth
            .issue(&alice.to_string(), IssueOptions::new())
            .await
            .expect("issue");
        for _ in 0..3 {
            check(&auth, &key).await.expect("accepted");
            check(&auth, issued.token().expose_secret())
                .await
                .expect("ours");
            assert_eq!(
                check(&auth, &bobs_key).await.err(),
                Some(AuthError::UserInactive)
            );
            let _ = check(&auth, "ffffffffffffffffffffffffffffffffffffffff").await;
            clock.advance(Duration::from_secs(31));
        }
        auth.flush().await;
        assert_eq!(
            django.snapshot().await,
            before,
            "Django's tables are as they were"
        );
        let ours = auth.list(Some(&alice.to_string())).await.expect("list");
        assert!(
            ours[0].last_used.is_some(),
            "our own token's use was recorded"
        );

        let identity = check(&auth, &key).await.expect("accepted");
        auth.revoke_identity(&identity).await.expect("logout");
        let after = django.snapshot().await;
        let expected: Vec<String> = before
            .iter()
            .filter(|row| !row.starts_with(&key))
            .cloned()
            .collect();
        assert_eq!(after, expected, "only alice's key is gone");
    }

    /// The invariant in SECURITY.md: a key revoked through the authenticator is
    /// refused by every request that starts after the revocation returned, however
    /// the revocation raced requests that read and cached it.
    pub async fn a_logout_racing_requests_is_final(db: TestDb) {
        const ROUNDS: usize = 20;
        const REQUESTERS: usize = 3;
        let django = Django::new(db).await;
        let auth = django.authenticator(None);
        let mut accepted_before = 0;
        for round in 0..ROUNDS {
            let (_, key) = django.logged_in(&format!("user{round}"), true).await;
            let key = Arc::new(key);
            let identity = check(&auth, &key).await.expect("accepted");
            if round % 2 == 1 {
                auth.clear_cache();
            }
            let revoked = Arc::new(AtomicBool::new(false));
            let mut requesters = Vec::new();
            for _ in 0..REQUESTERS {
                let (auth, key, revoked) = (auth.clone(), Arc::clone(&key), Arc::clone(&revoked));
                requesters.push(tokio::spawn(async move {
                    let mut accepted = 0;
                    let mut checked_after = 0;
                    for _ in 0..10_000 {
                        let after = revoked.load(Ordering::SeqCst);
                        let outcome = check(&auth, &key).await.map(|_| ());
                        if after {
                            assert_eq!(
                                outcome,
                                Err(AuthError::InvalidToken),
                                "round {round}: a request that started after the logout \
                                 returned was not refused"
                            );
                            checked_after += 1;
                            if checked_after == 20 {
                                return accepted;
                            }
                        } else if outcome.is_ok() {
                            accepted += 1;
                        }
                        tokio::task::yield_now().await;
                    }
                    panic!("round {round}: the logout never became visible");
                }));
            }
            for _ in 0..(round % 5) {
                tokio::task::yield_now().await;
            }
            assert!(auth.revoke_identity(&identity).await.expect("logout"));
            revoked.store(true, Ordering::SeqCst);
            for requester in requesters {
                accepted_before += requester.await.expect("a requester panicked");
            }
        }
        assert!(accepted_before > 0, "no request ran before a logout");
    }
}

backend_tests!(
    a_key_django_issued_is_accepted,
    an_inactive_user_is_refused,
    a_key_deleted_in_django_is_refused_after_the_cache_ttl,
    a_logout_here_deletes_the_django_row,
    malformed_keys_never_reach_the_database,
    nothing_but_a_logout_writes_to_django,
    a_logout_racing_requests_is_final,
);
