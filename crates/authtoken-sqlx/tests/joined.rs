//! A joined lookup on every backend: the application's own query selects
//! `token_columns!()` beside its user columns, `read_token` reads back exactly what
//! the store reads, and authentication then costs one query (no store read, no user
//! load) with every answer of the error table unchanged.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authtoken::{
    AuthError, Authenticator, IssueOptions, IssuedToken, JoinedLookup, TokenDigest, TokenStore,
    TokenWithUser, UserLoader,
};
use authtoken_sqlx::{SqlxStore, digests_json, read_token, token_columns};
use common::{CountingStore, TestDb};

#[derive(Debug, Clone, PartialEq, Eq)]
struct AppUser {
    name: String,
    active: bool,
}

/// The application's users, in its own table beside the tokens.
#[derive(Clone)]
struct AppUsers {
    store: SqlxStore,
    loads: Arc<AtomicUsize>,
    joined: Arc<AtomicUsize>,
}

const CREATE_USERS: &str = "CREATE TABLE app_users \
    (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, active BOOLEAN NOT NULL)";

const SQLITE_FIND: &str = concat!(
    "SELECT ",
    token_columns!(),
    ", app_users.id AS id, app_users.name, app_users.active FROM authtoken_tokens \
     LEFT JOIN app_users ON app_users.id = CAST(authtoken_tokens.user_id AS INTEGER) \
     WHERE authtoken_tokens.digest IN (SELECT unhex(value) FROM json_each(?1))"
);
const POSTGRES_FIND: &str = concat!(
    "SELECT ",
    token_columns!(),
    ", app_users.id AS id, app_users.name, app_users.active FROM authtoken_tokens \
     LEFT JOIN app_users ON app_users.id = CASE WHEN authtoken_tokens.user_id ~ '^[0-9]{1,18}$' \
         THEN CAST(authtoken_tokens.user_id AS BIGINT) END \
     WHERE authtoken_tokens.digest = ANY($1)"
);
const MYSQL_FIND: &str = concat!(
    "SELECT ",
    token_columns!(),
    ", app_users.id AS id, app_users.name, app_users.active FROM authtoken_tokens \
     LEFT JOIN app_users ON app_users.id = CAST(authtoken_tokens.user_id AS SIGNED) \
     WHERE authtoken_tokens.digest IN (SELECT UNHEX(d) FROM \
         JSON_TABLE(?, '$[*]' COLUMNS (d CHAR(64) PATH '$')) AS digests)"
);

/// The user half of a joined row (`None` when the join found no user).
fn read_user<R>(row: &R) -> Result<Option<AppUser>, sqlx::Error>
where
    R: sqlx::Row,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    let id: Option<i64> = row.try_get("id")?;
    let name: Option<String> = row.try_get("name")?;
    let active: Option<bool> = row.try_get("active")?;
    Ok(id
        .zip(name)
        .zip(active)
        .map(|((_, name), active)| AppUser { name, active }))
}

impl AppUsers {
    async fn create(store: SqlxStore) -> Self {
        let users = Self {
            store,
            loads: Arc::default(),
            joined: Arc::default(),
        };
        users.execute(CREATE_USERS).await;
        for (id, name, active) in [(1, "alice", true), (2, "bob", false)] {
            users.add(id, name, active).await;
        }
        users
    }

    async fn execute(&self, sql: &'static str) {
        if let Some(pool) = self.store.sqlite_pool() {
            sqlx::query(sql).execute(pool).await.expect("sqlite");
        } else if let Some(pool) = self.store.pg_pool() {
            sqlx::query(sql).execute(pool).await.expect("postgres");
        } else if let Some(pool) = self.store.mysql_pool() {
            sqlx::query(sql).execute(pool).await.expect("mysql");
        }
    }

    async fn add(&self, id: i64, name: &str, active: bool) {
        if let Some(pool) = self.store.sqlite_pool() {
            sqlx::query("INSERT INTO app_users (id, name, active) VALUES (?1, ?2, ?3)")
                .bind(id)
                .bind(name)
                .bind(active)
                .execute(pool)
                .await
                .expect("sqlite");
        } else if let Some(pool) = self.store.pg_pool() {
            sqlx::query("INSERT INTO app_users (id, name, active) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(name)
                .bind(active)
                .execute(pool)
                .await
                .expect("postgres");
        } else if let Some(pool) = self.store.mysql_pool() {
            sqlx::query("INSERT INTO app_users (id, name, active) VALUES (?, ?, ?)")
                .bind(id)
                .bind(name)
                .bind(active)
                .execute(pool)
                .await
                .expect("mysql");
        }
    }

    /// The token and user columns of the joined rows for `digests`.
    async fn find(
        &self,
        digests: &[TokenDigest],
    ) -> Result<Vec<TokenWithUser<AppUser>>, authtoken_sqlx::Error> {
        macro_rules! run {
            ($pool:expr, $sql:expr, $bound:expr) => {
                sqlx::query($sql)
                    .bind($bound)
                    .fetch_all($pool)
                    .await?
                    .iter()
                    .map(|row| Ok((read_token(row)?, read_user(row)?)))
                    .collect::<Result<Vec<_>, authtoken_sqlx::Error>>()?
            };
        }
        Ok(if let Some(pool) = self.store.sqlite_pool() {
            run!(pool, SQLITE_FIND, digests_json(digests))
        } else if let Some(pool) = self.store.pg_pool() {
            let bytes: Vec<Vec<u8>> = digests.iter().map(|d| d.as_bytes().to_vec()).collect();
            run!(pool, POSTGRES_FIND, bytes)
        } else if let Some(pool) = self.store.mysql_pool() {
            run!(pool, MYSQL_FIND, digests_json(digests))
        } else {
            Vec::new()
        })
    }
}

impl UserLoader for AppUsers {
    type User = AppUser;
    type Error = authtoken_sqlx::Error;

    async fn load(&self, user_id: &str) -> Result<Option<AppUser>, Self::Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        panic!("the user of {user_id} came with the token: no load expected");
    }

    fn is_active(&self, user: &AppUser) -> bool {
        user.active
    }
}

impl JoinedLookup for AppUsers {
    type User = AppUser;
    type Error = authtoken_sqlx::Error;

    async fn find_with_users(
        &self,
        digests: &[TokenDigest],
    ) -> Result<Vec<TokenWithUser<AppUser>>, Self::Error> {
        self.joined.fetch_add(1, Ordering::SeqCst);
        self.find(digests).await
    }
}

fn header(issued: &IssuedToken) -> String {
    format!("Token {}", issued.token().expose_secret())
}

mod cases {
    use super::*;

    pub async fn read_token_reads_what_the_store_reads(db: TestDb) {
        let users = AppUsers::create(db.store.clone()).await;
        let auth = Authenticator::builder(db.store.clone(), users.clone())
            .build()
            .expect("settings");
        let issued = auth
            .issue(
                "1",
                IssueOptions::new()
                    .name("laptop")
                    .scopes(["read", "write"])
                    .expires_in(std::time::Duration::from_secs(3600)),
            )
            .await
            .expect("issue");
        let digest =
            authtoken::TokenHasher::sha256().digest(issued.token().expose_secret().as_bytes());
        let stored = db
            .store
            .find_by_digest(&digest)
            .await
            .expect("find")
            .expect("stored");
        let other = authtoken::TokenHasher::sha256().digest(b"no such token");
        let mut found = users.find(&[other, digest, digest]).await.expect("query");
        assert_eq!(found.len(), 1, "one row for the one stored token");
        let (joined, user) = found.pop().expect("found");
        assert_eq!(joined, stored);
        assert_eq!(
            user,
            Some(AppUser {
                name: "alice".into(),
                active: true
            })
        );
        assert_eq!(joined.info.name, "laptop");
        assert_eq!(joined.info.scopes, ["read", "write"]);
        assert_eq!(joined.info.hint, issued.token().hint());
        assert!(joined.info.expires.is_some());
    }

    pub async fn authentication_takes_one_query(db: TestDb) {
        let users = AppUsers::create(db.store.clone()).await;
        let (store, counts) = CountingStore::new(db.store.clone());
        let auth = Authenticator::builder(store, users.clone())
            .joined_lookup(users.clone())
            .cache_capacity(0)
            .build()
            .expect("settings");
        let alice = auth.issue("1", IssueOptions::new()).await.expect("issue");
        for round in 1..=3 {
            let identity = auth
                .authenticate(Some(header(&alice).as_bytes()))
                .await
                .expect("valid")
                .expect("not anonymous");
            assert_eq!(identity.user().name, "alice");
            assert_eq!(identity.token().id, alice.info().id);
            assert_eq!(users.joined.load(Ordering::SeqCst), round);
        }
        assert_eq!(counts.finds(), 0, "no store read beside the joined query");
        assert_eq!(users.loads.load(Ordering::SeqCst), 0, "no user load");

        let bob = auth.issue("2", IssueOptions::new()).await.expect("issue");
        let nobody = auth.issue("3", IssueOptions::new()).await.expect("issue");
        let named = auth
            .issue("not-a-number", IssueOptions::new())
            .await
            .expect("issue");
        for (issued, what) in [
            (&bob, "inactive"),
            (&nobody, "missing"),
            (&named, "text id"),
        ] {
            assert_eq!(
                auth.authenticate(Some(header(issued).as_bytes()))
                    .await
                    .err(),
                Some(AuthError::UserInactive),
                "{what} user"
            );
        }
        assert!(auth.revoke(alice.info().id).await.expect("revoke"));
        assert_eq!(
            auth.authenticate(Some(header(&alice).as_bytes()))
                .await
                .err(),
            Some(AuthError::InvalidToken)
        );
        auth.flush().await;
        assert_eq!(counts.finds(), 0);
        assert_eq!(users.loads.load(Ordering::SeqCst), 0);
    }

    pub async fn concurrent_requests_get_their_own_answers(db: TestDb) {
        let users = AppUsers::create(db.store.clone()).await;
        let auth = Authenticator::builder(db.store.clone(), users.clone())
            .joined_lookup(users.clone())
            .max_concurrent_lookups(1)
            .cache_capacity(0)
            .build()
            .expect("settings");
        let mut headers = Vec::new();
        for n in 0..30 {
            let user = if n % 3 == 0 { "2" } else { "1" };
            let issued = auth.issue(user, IssueOptions::new()).await.expect("issue");
            headers.push((user, header(&issued)));
        }
        headers.push(("none", "Token at_unknown_token".to_owned()));
        let requests: Vec<_> = (0..120)
            .map(|n| {
                let (user, header) = headers[n % headers.len()].clone();
                let auth = auth.clone();
                tokio::spawn(async move {
                    let answer = auth
                        .authenticate(Some(header.as_bytes()))
                        .await
                        .map(|identity| identity.expect("not anonymous").user().name.clone());
                    (user, answer)
                })
            })
            .collect();
        for request in requests {
            let (user, answer) = request.await.expect("no panic");
            let expected = match user {
                "1" => Ok("alice".to_owned()),
                "2" => Err(AuthError::UserInactive),
                _ => Err(AuthError::InvalidToken),
            };
            assert_eq!(answer, expected, "a token of user {user}");
        }
        println!(
            "120 requests, {} joined queries",
            users.joined.load(Ordering::SeqCst)
        );
        auth.flush().await;
    }
}

backend_tests!(
    read_token_reads_what_the_store_reads,
    authentication_takes_one_query,
    concurrent_requests_get_their_own_answers,
);
