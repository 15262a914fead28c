//! User ids in token rows: only the canonical spelling of a user's row id names the
//! user, and logging out everywhere or deleting the account leaves no token that is
//! accepted. On SQLite always, and on PostgreSQL when `AUTHTOKEN_TEST_POSTGRES_URL`
//! names a server (in a schema of its own).

mod common;

use common::{identity, login, register};

use authtoken::{AuthError, Authenticator, IssueOptions, UserLoader};
use authtoken_demo::{Demo, DemoUser, DemoUsers};
use sqlx::Connection as _;

const POSTGRES_URL: &str = "AUTHTOKEN_TEST_POSTGRES_URL";

/// Spellings of user id 1 that `i64` parsing or an SQL cast would take for 1, and that
/// the core accepts as user ids.
const NOT_CANONICAL: [&str; 5] = ["01", "+1", " 1", "1abc", "1.9"];

/// More ids that name nobody: other spellings, ids no row can have, and the largest
/// id (which no row has here).
const NOBODY: [&str; 11] = [
    "1 ",
    "001",
    "1e0",
    "0x1",
    "１",
    "0",
    "-1",
    "00",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999",
];

/// A token for `user_id`, issued directly through the demo's authenticator.
async fn issue(demo: &Demo, user_id: &str) -> String {
    demo.authenticator()
        .issue(user_id, IssueOptions::new().name("by hand"))
        .await
        .unwrap_or_else(|error| panic!("the core takes {user_id:?}: {error}"))
        .token()
        .expose_secret()
        .to_owned()
}

/// How many token rows hold exactly `user_id`.
async fn rows_of(demo: &Demo, user_id: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM authtoken_tokens WHERE user_id = $1";
    if let Some(pool) = demo.pool().sqlite() {
        sqlx::query_scalar(sql).bind(user_id).fetch_one(pool).await
    } else {
        let pool = demo.pool().postgres().expect("SQLite or PostgreSQL");
        sqlx::query_scalar(sql).bind(user_id).fetch_one(pool).await
    }
    .expect("count")
}

/// Registers `ada`, the first user of a fresh database: row id 1.
async fn register_ada(demo: &Demo) -> String {
    let registered = register(demo, "ada", "pw").await.expect("201");
    let me = identity(demo, &registered).await.expect("valid");
    assert_eq!(me.user().id(), 1, "the first user of a fresh database");
    assert_eq!(me.token().user_id, "1");
    registered
}

async fn only_the_canonical_user_id_names_a_user(demo: Demo) {
    register_ada(&demo).await;
    let users = DemoUsers::new(demo.pool().clone());
    for user_id in NOT_CANONICAL.iter().chain(&NOBODY) {
        let issued = issue(&demo, user_id).await;
        // Through the joined lookup, as every request that misses the cache...
        let refused = identity(&demo, &issued).await.err();
        assert_eq!(refused, Some(AuthError::UserInactive), "{user_id:?}");
        let refused = refused.expect("refused");
        assert_eq!(
            (refused.status(), refused.detail()),
            (401, "User inactive or deleted.")
        );
        // ...and through the loader, which the authenticator asks when the joined
        // lookup does not find the token.
        let loaded = users.load(user_id).await.expect("the database answers");
        assert_eq!(loaded, None, "{user_id:?}");
    }
    let issued = issue(&demo, "1").await;
    let me = identity(&demo, &issued)
        .await
        .expect("the canonical id works");
    assert_eq!(me.user().username(), "ada");
    let loaded = users.load("1").await.expect("the database answers");
    assert_eq!(loaded.map(|user| user.id()), Some(1));
    demo.close().await;
}

/// No token of `tokens` is accepted, and no row of user 1 or of a spelling of it is
/// left.
async fn none_accepted(demo: &Demo, tokens: &[String]) {
    for (i, token) in tokens.iter().enumerate() {
        let refused = identity(demo, token).await.err();
        assert!(
            matches!(
                refused,
                Some(AuthError::InvalidToken | AuthError::UserInactive)
            ),
            "token {i}: {refused:?}"
        );
    }
    assert_eq!(rows_of(demo, "1").await, 0);
}

async fn logout_all_and_account_deletion_leave_no_token_accepted(demo: Demo) {
    let mut tokens = vec![register_ada(&demo).await];
    tokens.push(login(&demo, "ada", "pw").await.expect("200"));
    tokens.push(issue(&demo, "1").await);
    for user_id in NOT_CANONICAL {
        tokens.push(issue(&demo, user_id).await);
    }
    let me = identity(&demo, &tokens[1]).await.expect("valid");
    demo.endpoints().logout_all(&me).await.expect("204");
    none_accepted(&demo, &tokens).await;

    let mut tokens = vec![login(&demo, "ada", "pw").await.expect("200")];
    tokens.push(issue(&demo, "1").await);
    for user_id in NOT_CANONICAL {
        tokens.push(issue(&demo, user_id).await);
    }
    let me = identity(&demo, &tokens[0]).await.expect("valid");
    demo.delete_account(&me).await.expect("204");
    none_accepted(&demo, &tokens).await;
    demo.close().await;
}

/// A loader that takes any spelling `i64` parsing takes, as the demo's once did.
struct Lenient(DemoUsers);

impl UserLoader for Lenient {
    type User = DemoUser;
    type Error = sqlx::Error;

    async fn load(&self, user_id: &str) -> Result<Option<DemoUser>, sqlx::Error> {
        match user_id.trim().parse::<i64>() {
            Ok(id) => self.0.load(&id.to_string()).await,
            Err(_) => Ok(None),
        }
    }
}

/// An identity whose token row holds another spelling of its user's id (made here by a
/// lenient loader on the same database): logging out everywhere with it revokes the
/// rows of both spellings.
async fn logout_all_revokes_by_the_id_the_token_row_holds(demo: Demo) {
    let canonical = register_ada(&demo).await;
    let lenient = Authenticator::builder(
        demo.pool().token_store(),
        Lenient(DemoUsers::new(demo.pool().clone())),
    )
    .cache_capacity(0)
    .build()
    .expect("an authenticator");
    let padded = issue(&demo, "01").await;
    let header = format!("Token {padded}");
    let me = lenient
        .authenticate(Some(header.as_bytes()))
        .await
        .expect("the lenient loader takes 01")
        .expect("a token was sent");
    assert_eq!((me.user().id(), me.token().user_id.as_str()), (1, "01"));
    demo.endpoints().logout_all(&me).await.expect("204");
    assert_eq!(rows_of(&demo, "01").await, 0, "the row the token came from");
    assert_eq!(rows_of(&demo, "1").await, 0, "the user's canonical rows");
    none_accepted(&demo, &[canonical, padded]).await;
    demo.close().await;
}

/// A schema of its own on the PostgreSQL server, dropped at the end of the test.
struct Schema {
    server_url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: drop the schema from a thread with one of
        // its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&server_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
                )))
                .execute(&mut connection)
                .await?;
                connection.close().await
            })
        });
        if let Ok(Err(error)) = dropped.join() {
            eprintln!("could not drop schema {}: {error}", self.name);
        }
    }
}

/// The demo on PostgreSQL, in a fresh schema, or `None` (with a line on stderr) when
/// no server is named.
async fn postgres_demo() -> Option<(Demo, Schema)> {
    let server_url = match std::env::var(POSTGRES_URL) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => {
            eprintln!("SKIPPED: {POSTGRES_URL} is not set, so this test did not run");
            return None;
        }
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    // Tests of one process run at once and may read the same clock tick: a counter
    // keeps their schemas apart.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("demo_user_ids_{}_{n}_{nanos}", std::process::id());
    let mut connection = sqlx::PgConnection::connect(&server_url)
        .await
        .unwrap_or_else(|error| panic!("{POSTGRES_URL}: {error}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
        .execute(&mut connection)
        .await
        .expect("create the schema");
    connection.close().await.expect("close");
    let schema = Schema {
        server_url: server_url.clone(),
        name,
    };
    let separator = if server_url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{server_url}{separator}options=-c%20search_path%3D{}",
        schema.name
    );
    let demo = Demo::connect(&url).await.expect("the demo starts");
    Some((demo, schema))
}

macro_rules! backend_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let demo = authtoken_demo::Demo::connect("sqlite::memory:")
                        .await
                        .expect("the demo starts");
                    super::$case(demo).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some((demo, _schema)) = super::postgres_demo().await {
                        super::$case(demo).await;
                    }
                }
            )*
        }
    };
}

backend_tests!(
    only_the_canonical_user_id_names_a_user,
    logout_all_and_account_deletion_leave_no_token_accepted,
    logout_all_revokes_by_the_id_the_token_row_holds,
);
