//! The `authtoken` binary, run for real, against SQLite always and against PostgreSQL
//! and MySQL/MariaDB when `AUTHTOKEN_TEST_POSTGRES_URL` / `AUTHTOKEN_TEST_MYSQL_URL`
//! name a server (each test in a fresh schema or database of its own).

use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use authtoken::{AuthError, Authenticator, TokenStore as _, UserIdLoader};
use authtoken_sqlx::SqlxStore;
use sqlx::Connection as _;
use time::OffsetDateTime;
use time::macros::datetime;

const POSTGRES_URL: &str = "AUTHTOKEN_TEST_POSTGRES_URL";
const MYSQL_URL: &str = "AUTHTOKEN_TEST_MYSQL_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

/// What a test creates on a server, dropped when the test ends (even by a panic).
#[derive(Debug)]
enum Cleanup {
    PostgresSchema {
        server_url: String,
        schema: String,
    },
    MySqlDatabase {
        server_url: String,
        database: String,
    },
}

/// One test's token database.
struct Db {
    kind: Kind,
    url: String,
    dir: tempfile::TempDir,
    cleanup: Option<Cleanup>,
}

impl Drop for Db {
    fn drop(&mut self) {
        let Some(cleanup) = self.cleanup.take() else {
            return;
        };
        // Drop runs inside the test's runtime: clean up on a thread with its own.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let (server_url, sql) = match &cleanup {
                    Cleanup::PostgresSchema { server_url, schema } => (
                        server_url,
                        format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
                    ),
                    Cleanup::MySqlDatabase {
                        server_url,
                        database,
                    } => (server_url, format!("DROP DATABASE IF EXISTS `{database}`")),
                };
                if let Err(error) = execute(server_url, &sql).await {
                    eprintln!("could not clean up {cleanup:?}: {error}");
                }
            });
        });
        let _ = done.join();
    }
}

async fn execute(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut connection)
        .await?;
    connection.close().await
}

/// A name no other test, in this run or another, uses.
fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "authtoken_cli_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000_000
    )
}

fn server_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("SKIPPED: {variable} is not set, so this test did not run");
            None
        }
    }
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tokens.db").display()
    );
    Db {
        kind: Kind::Sqlite,
        url,
        dir,
        cleanup: None,
    }
}

async fn postgres() -> Option<Db> {
    let server_url = server_url(POSTGRES_URL)?;
    let schema = unique_name();
    execute(&server_url, &format!("CREATE SCHEMA \"{schema}\""))
        .await
        .unwrap_or_else(|error| panic!("{POSTGRES_URL}: {error}"));
    let separator = if server_url.contains('?') { '&' } else { '?' };
    let url = format!("{server_url}{separator}options=-c%20search_path%3D{schema}");
    Some(Db {
        kind: Kind::Postgres,
        url,
        dir: tempfile::tempdir().expect("temp dir"),
        cleanup: Some(Cleanup::PostgresSchema { server_url, schema }),
    })
}

async fn mysql() -> Option<Db> {
    let server_url = server_url(MYSQL_URL)?;
    let database = unique_name();
    execute(
        &server_url,
        &format!("CREATE DATABASE `{database}` CHARACTER SET utf8mb4"),
    )
    .await
    .unwrap_or_else(|error| panic!("{MYSQL_URL}: {error}"));
    Some(Db {
        kind: Kind::MySql,
        url: with_database(&server_url, &database),
        dir: tempfile::tempdir().expect("temp dir"),
        cleanup: Some(Cleanup::MySqlDatabase {
            server_url,
            database,
        }),
    })
}

/// Runs the binary with a clean environment: only what the test gives it.
fn run_with(url: Option<&str>, args: &[&str], stdin: &str) -> Output {
    run_with_env(url, args, stdin, &[])
}

/// [`run_with`], with these environment variables set as well.
fn run_with_env(url: Option<&str>, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut command = assert_cmd::cargo::cargo_bin_cmd!("authtoken");
    for variable in [
        "DATABASE_URL",
        "AUTHTOKEN_PREFIX",
        "AUTHTOKEN_HMAC_SECRET",
        "AUTHTOKEN_HMAC_KEY_VERSION",
    ] {
        command.env_remove(variable);
    }
    command.env("RUST_BACKTRACE", "1");
    if let Some(url) = url {
        command.env("DATABASE_URL", url);
    }
    command.envs(env.iter().copied());
    command
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("run authtoken")
}

fn run(db: &Db, args: &[&str]) -> Output {
    run_with(Some(&db.url), args, "")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

#[track_caller]
fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// One line of `error: ...` on stderr, nothing on stdout, exit status 2.
#[track_caller]
fn failed_with(output: &Output, expected: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(!text.contains("backtrace"), "{text}");
    assert_eq!(text.lines().count(), 1, "one line expected: {text}");
    assert!(text.starts_with("error: "), "{text}");
    assert!(text.contains(expected), "expected {expected:?} in {text}");
    assert!(output.stdout.is_empty(), "stdout: {}", stdout(output));
}

/// The one token `create` or `rotate` printed: stdout is the token and a newline.
#[track_caller]
fn printed_token(output: &Output) -> String {
    printed_token_of(output, "atk")
}

/// [`printed_token`], for a token of `prefix`.
#[track_caller]
fn printed_token_of(output: &Output, prefix: &str) -> String {
    let text = succeeded(output);
    let token = text.strip_suffix('\n').expect("a newline after the token");
    assert!(!token.contains(char::is_whitespace), "stdout: {text:?}");
    assert!(token.starts_with(&format!("{prefix}_")), "stdout: {text:?}");
    token.to_owned()
}

fn check(db: &Db, token: &str) -> Output {
    run_with(Some(&db.url), &["check"], &format!("{token}\n"))
}

#[track_caller]
fn refused(output: &Output, reason: &str) {
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(output));
    assert_eq!(stderr(output), format!("{reason}\n"));
    assert!(output.stdout.is_empty());
}

async fn authenticator(db: &Db, legacy_keys: bool) -> Authenticator<String> {
    let store = SqlxStore::connect(&db.url).await.expect("connect");
    Authenticator::builder(store, UserIdLoader)
        .legacy_keys(legacy_keys)
        .cache_capacity(0)
        .build()
        .expect("authenticator")
}

fn json_list(db: &Db, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["list", "--json"];
    all.extend_from_slice(args);
    let text = succeeded(&run(db, &all));
    serde_json::from_str::<Vec<serde_json::Value>>(&text).expect("JSON array")
}

/// How soon running applications stop accepting a token the command revoked, as it
/// says it: their cache ttl, and on PostgreSQL the revocation listener.
fn cache_bound(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => {
            "within their cache ttl (30 s by default), or at once with the revocation listener"
        }
        Kind::Sqlite | Kind::MySql => "within their cache ttl (30 s by default)",
    }
}

async fn lifecycle(db: Db) {
    succeeded(&run(&db, &["migrate"]));
    // Twice is fine.
    succeeded(&run(&db, &["migrate"]));

    let created = run(
        &db,
        &[
            "create",
            "42",
            "--name",
            "laptop",
            "--scope",
            "read",
            "--scope",
            "write",
            "--expires-in",
            "30d",
        ],
    );
    let first = printed_token(&created);
    assert!(
        stderr(&created).contains("Created token"),
        "{}",
        stderr(&created)
    );
    assert!(
        !stderr(&created).contains(&first),
        "the token went to stderr"
    );

    // The application's authenticator accepts it.
    let auth = authenticator(&db, false).await;
    let identity = auth
        .authenticate_credential(first.as_bytes())
        .await
        .expect("the created token authenticates");
    assert_eq!(identity.user(), "42");
    assert_eq!(identity.token().name, "laptop");
    assert_eq!(identity.token().scopes, ["read", "write"]);
    let expires = identity.token().expires.expect("an expiry");
    let days = (expires - identity.token().created).whole_days();
    assert_eq!(days, 30);

    // Listings: metadata, never the secret.
    let listed = json_list(&db, &[]);
    assert_eq!(listed.len(), 1);
    let first_id = listed[0]["id"].as_i64().expect("id");
    assert_eq!(listed[0]["user_id"], "42");
    assert_eq!(listed[0]["name"], "laptop");
    assert_eq!(listed[0]["state"], "active");
    // The hint: the prefix, `_` and the token's last four (checksum) characters.
    let hint = format!("atk_{}", &first[first.len() - 4..]);
    assert_eq!(listed[0]["hint"], hint.as_str());
    let table = succeeded(&run(&db, &["list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("laptop") && table.contains("active") && table.contains(&hint),
        "{table}"
    );
    assert!(!table.contains(&first) && !table.contains(&first[4..]));
    let raw_json = succeeded(&run(&db, &["list", "--json"]));
    assert!(!raw_json.contains(&first[4..]));

    // check: stdin only; exit 0 and whose it is, or 1 and the adapters' reason.
    let checked = check(&db, &first);
    let text = succeeded(&checked);
    assert!(text.contains("user: 42"), "{text}");
    assert!(text.contains("name: laptop"), "{text}");
    assert!(text.contains("scopes: read write"), "{text}");
    assert!(text.contains("state: active"), "{text}");
    refused(&check(&db, "atk_nonsense"), "Invalid token.");
    refused(&check(&db, "not a token"), "Invalid token.");
    // No token at all is not a refusal but a mistake: an error.
    for nothing in ["", " \n"] {
        failed_with(
            &run_with(Some(&db.url), &["check"], nothing),
            "no token on standard input",
        );
    }
    // A well-formed token that was never issued.
    let stranger = authtoken::TokenPrefix::default().generate();
    refused(&check(&db, stranger.expose_secret()), "Invalid token.");

    // rotate: a new token for the same user, name and scopes; no grace here.
    let rotated = run(&db, &["rotate", &first_id.to_string(), "--grace", "0s"]);
    let second = printed_token(&rotated);
    // The old token's end reaches running applications within their cache ttl.
    let notes = stderr(&rotated);
    assert!(notes.contains(", which keeps working until "), "{notes}");
    assert!(
        notes.ends_with(&format!(
            "\nAfter that, running applications that cached the old token stop accepting it {}.\n",
            cache_bound(db.kind)
        )),
        "{notes}"
    );
    assert_ne!(second, first);
    refused(&check(&db, &first), "Token has expired.");
    let text = succeeded(&check(&db, &second));
    assert!(
        text.contains("user: 42") && text.contains("scopes: read write"),
        "{text}"
    );
    let states: Vec<_> = json_list(&db, &["--user", "42"])
        .iter()
        .map(|token| token["state"].as_str().expect("state").to_owned())
        .collect();
    assert_eq!(states, ["expired", "active"]);

    // A rotation with a grace period leaves the old token working.
    let second_id = json_list(&db, &[])[1]["id"].as_i64().expect("id");
    let third = printed_token(&run(
        &db,
        &["rotate", &second_id.to_string(), "--grace", "1h"],
    ));
    succeeded(&check(&db, &second));
    succeeded(&check(&db, &third));

    let purged = succeeded(&run(&db, &["purge-expired"]));
    assert_eq!(purged, "Purged 1 expired token.\n");
    assert_eq!(json_list(&db, &[]).len(), 2);

    // --reset: the new token stays, the user's others go.
    let reset = run(&db, &["create", "42", "--reset"]);
    let fourth = printed_token(&reset);
    assert!(
        stderr(&reset).ends_with(&format!(
            "Revoked 2 other tokens of user 42.\nRunning applications stop accepting them {}.\n",
            cache_bound(db.kind)
        )),
        "{}",
        stderr(&reset)
    );
    let mine = json_list(&db, &["--user", "42"]);
    assert_eq!(mine.len(), 1);
    refused(&check(&db, &third), "Invalid token.");
    succeeded(&check(&db, &fourth));

    // revoke one, and every token of a user.
    printed_token(&run(&db, &["create", "7"]));
    printed_token(&run(&db, &["create", "7", "--name", "phone"]));
    assert_eq!(json_list(&db, &["--user", "7"]).len(), 2);
    let revoked = run(&db, &["revoke", "--user", "7"]);
    assert_eq!(succeeded(&revoked), "Revoked 2 tokens of user 7.\n");
    // Running applications may still hold them in their caches: the bound is said.
    assert_eq!(
        stderr(&revoked),
        format!(
            "Running applications stop accepting them {}.\n",
            cache_bound(db.kind)
        )
    );
    let fourth_id = mine[0]["id"].as_i64().expect("id").to_string();
    let revoked = run(&db, &["revoke", &fourth_id]);
    assert!(succeeded(&revoked).starts_with("Revoked 1 token"));
    assert_eq!(
        stderr(&revoked),
        format!(
            "Running applications stop accepting it {}.\n",
            cache_bound(db.kind)
        )
    );
    // Nothing revoked, nothing to say about caches.
    let none = run(&db, &["revoke", "--user", "7"]);
    assert_eq!(succeeded(&none), "Revoked 0 tokens of user 7.\n");
    assert_eq!(stderr(&none), "");
    refused(&check(&db, &fourth), "Invalid token.");
    assert_eq!(succeeded(&run(&db, &["list"])), "No tokens.\n");

    failed_with(&run(&db, &["revoke", &fourth_id]), "no token with id");
    failed_with(&run(&db, &["rotate", "999999"]), "no token with id 999999");
    failed_with(
        &run(&db, &["create", "42", "--expires-in", "a month"]),
        "invalid duration",
    );
    failed_with(&run(&db, &["create", ""]), "user id");
}

/// Rows in the Django fixture, of which [`BAD_KEYS`] are not valid keys.
const DRF_ROWS: usize = 10_000;

/// Keys DRF would never have made, each in its own row.
const BAD_KEYS: [&str; 3] = [
    "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
    "abcdef0123456789abcdef0123456789abcdef0",
    "zzzzzz0123456789abcdef0123456789abcdef01",
];

/// The key of good row `i`: 40 lowercase hex characters, distinct for every `i`.
fn drf_key(i: usize) -> String {
    let mixed = (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    format!("{i:08x}{mixed:032x}")
}

/// The creation time of row `i`, with microseconds, as Django stores them.
fn drf_created(i: usize) -> OffsetDateTime {
    datetime!(2020-01-02 03:04:05 UTC)
        + time::Duration::seconds(i as i64 * 37)
        + time::Duration::microseconds((i % 1_000_000) as i64)
}

/// Builds Django's own `authtoken_token` table with [`DRF_ROWS`] rows.
async fn build_drf_table(kind: Kind, url: &str) {
    let create = match kind {
        Kind::Sqlite => {
            r#"CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE)"#
        }
        Kind::Postgres => {
            r#"CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "user_id" integer NOT NULL UNIQUE)"#
        }
        Kind::MySql => {
            "CREATE TABLE `authtoken_token` (`key` varchar(40) NOT NULL PRIMARY KEY, `created` datetime(6) NOT NULL, `user_id` integer NOT NULL UNIQUE)"
        }
    };
    let mut sql = vec![create.to_owned()];
    let key_column = if kind == Kind::MySql {
        "`key`"
    } else {
        "\"key\""
    };
    let zone = if kind == Kind::Postgres { "+00" } else { "" };
    let good = DRF_ROWS - BAD_KEYS.len();
    let mut values: Vec<String> = (0..good)
        .map(|i| {
            let created = drf_created(i);
            format!(
                "('{}', '{} {}{zone}', {})",
                drf_key(i),
                created.date(),
                created
                    .time()
                    .format(time::macros::format_description!(
                        "[hour]:[minute]:[second].[subsecond digits:6]"
                    ))
                    .expect("format"),
                i + 1
            )
        })
        .collect();
    for (n, key) in BAD_KEYS.iter().enumerate() {
        values.push(format!(
            "('{key}', '2020-01-01 00:00:00{zone}', {})",
            good + n + 1
        ));
    }
    for batch in values.chunks(500) {
        sql.push(format!(
            "INSERT INTO authtoken_token ({key_column}, created, user_id) VALUES {}",
            batch.join(", ")
        ));
    }
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await.expect("connect");
    let mut transaction = connection.begin().await.expect("begin");
    for statement in sql {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *transaction)
            .await
            .expect("build the DRF table");
    }
    transaction.commit().await.expect("commit");
    connection.close().await.expect("close");
}

async fn import_drf(db: Db) {
    // On SQLite, Django's database is a file of its own; on a server, the test's
    // database holds both (as one Django database would).
    let django_url = match db.kind {
        Kind::Sqlite => {
            let path = db.dir.path().join("django.sqlite3");
            build_drf_table(db.kind, &format!("sqlite://{}?mode=rwc", path.display())).await;
            format!("sqlite://{}", path.display())
        }
        _ => {
            build_drf_table(db.kind, &db.url).await;
            db.url.clone()
        }
    };
    succeeded(&run(&db, &["migrate"]));
    let good = DRF_ROWS - BAD_KEYS.len();

    let first = run(&db, &["import-drf", "--from", &django_url]);
    let summary = succeeded(&first);
    assert!(
        summary.starts_with(&format!(
            "Imported {good} tokens; 0 already present; 3 skipped"
        )),
        "{summary}"
    );
    assert!(
        summary.contains("3: the key is not 40 lowercase hex characters"),
        "{summary}"
    );
    let notes = stderr(&first);
    assert_eq!(
        notes.matches("skipped the token of user").count(),
        3,
        "{notes}"
    );
    for key in BAD_KEYS {
        assert!(
            !notes.contains(key) && !summary.contains(key),
            "a key was printed"
        );
    }

    let store = SqlxStore::connect(&db.url).await.expect("connect");
    let stored = store.list(None).await.expect("list");
    assert_eq!(stored.len(), good);

    // Again: nothing changes.
    let second = succeeded(&run(
        &db,
        &[
            "import-drf",
            "--from",
            &django_url,
            "--table",
            "authtoken_token",
        ],
    ));
    assert!(
        second.starts_with(&format!(
            "Imported 0 tokens; {good} already present; 3 skipped"
        )),
        "{second}"
    );
    let again = store.list(None).await.expect("list");
    assert_eq!(again, stored);

    // An old key authenticates through the authenticator, with legacy keys on only.
    let row = 4_321;
    let key = drf_key(row);
    let auth = authenticator(&db, true).await;
    let identity = auth
        .authenticate_credential(key.as_bytes())
        .await
        .expect("the imported key authenticates");
    assert_eq!(identity.user(), &(row + 1).to_string());
    assert_eq!(identity.token().created, drf_created(row));
    assert_eq!(identity.token().expires, None);
    let strict = authenticator(&db, false).await;
    assert_eq!(
        strict.authenticate_credential(key.as_bytes()).await.err(),
        Some(AuthError::InvalidToken)
    );
    // No plaintext key at rest: the digest is stored, not the key; and no hint, which
    // would show a legacy key's own last characters.
    assert!(stored.iter().all(|info| !info.name.contains(&key)));
    assert!(stored.iter().all(|info| info.hint.is_empty()));

    // The command's own check accepts it too.
    let text = succeeded(&check(&db, &key));
    assert!(text.contains(&format!("user: {}", row + 1)), "{text}");
    assert!(text.contains("hint: -\n"), "{text}");
    refused(&check(&db, BAD_KEYS[0]), "Invalid token.");
    store.close().await;
}

/// Hostile user ids: one that clears the screen, and one of 5,000 characters ending in
/// a colour change.
fn hostile_ids() -> [String; 2] {
    [
        "1\u{1b}[2J".to_owned(),
        format!("{}\u{1b}[31m", "7".repeat(4995)),
    ]
}

/// What [`hostile_ids`] look like escaped (`\u{1b}` for ESC).
fn escaped(text: &str) -> String {
    text.replace('\u{1b}', "\\u{1b}")
}

/// No ESC byte (nor any other C0 but the newline, DEL or C1 control) in `text`.
#[track_caller]
fn no_raw_controls(text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(raw.is_empty(), "raw controls {raw:?} in {text:?}");
}

/// Writes a token row by hand, as an administrator with SQL (or an old import)
/// might: nothing checks its user id, name or scopes. The row stores the digest of
/// `key`, a legacy 40-hex key, so that `check` finds it. SQLite only.
async fn insert_by_hand(db: &Db, key: &str, user_id: &str, name: &str, scopes: &str) {
    assert_eq!(db.kind, Kind::Sqlite);
    let digest = authtoken::TokenHasher::sha256().digest(key.as_bytes());
    let sql = format!(
        "INSERT INTO authtoken_tokens (digest, user_id, name, scopes, created_at) \
         VALUES (X'{}', ?, ?, ?, 1767225600000000)",
        digest.to_hex()
    );
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(name)
        .bind(scopes)
        .execute(&mut connection)
        .await
        .expect("insert a row by hand");
    connection.close().await.expect("close");
}

#[tokio::test]
async fn hostile_ids_and_names_in_the_database_are_printed_escaped() {
    let db = sqlite().await;
    succeeded(&run(&db, &["migrate"]));
    let [clear, long] = hostile_ids();
    let keys = [drf_key(1), drf_key(2), drf_key(3), drf_key(4)];
    insert_by_hand(&db, &keys[0], &clear, "\u{1b}]0;owned\u{7}", "read").await;
    insert_by_hand(&db, &keys[1], &long, "laptop", "read\u{1b}[8m").await;
    // C1 CSI, DEL and a right-to-left override: escaped too, in the table and JSON.
    let c1 = "2\u{9b}2J\u{7f}\u{202e}";
    insert_by_hand(&db, &keys[2], c1, "", "").await;
    // A plain Unicode id prints as it is.
    insert_by_hand(&db, &keys[3], "ユーザー", "Zoë's phone", "").await;

    let table = succeeded(&run(&db, &["list"]));
    no_raw_controls(&table);
    assert!(!table.contains('\u{202e}'), "{table}");
    assert!(table.contains("1\\u{1b}[2J"), "{table}");
    assert!(table.contains(&escaped(&long)), "the long id, escaped");
    assert!(table.contains("\\u{1b}]0;owned\\u{7}"), "{table}");
    assert!(table.contains("read\\u{1b}[8m"), "{table}");
    assert!(table.contains("2\\u{9b}2J\\u{7f}\\u{202e}"), "{table}");
    assert!(
        table.contains("ユーザー") && table.contains("Zoë's phone"),
        "{table}"
    );

    // JSON escapes them the JSON way, and scripts read the exact values back.
    let raw_json = succeeded(&run(&db, &["list", "--json"]));
    no_raw_controls(&raw_json);
    assert!(!raw_json.contains('\u{202e}'), "{raw_json}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&raw_json).expect("JSON");
    let ids: Vec<&str> = listed
        .iter()
        .map(|token| token["user_id"].as_str().expect("user_id"))
        .collect();
    assert_eq!(ids, [clear.as_str(), long.as_str(), c1, "ユーザー"]);
    assert_eq!(listed[0]["name"], "\u{1b}]0;owned\u{7}");

    // check names the user of the row it found, escaped.
    let checked = succeeded(&check(&db, &keys[0]));
    no_raw_controls(&checked);
    assert!(checked.contains("user: 1\\u{1b}[2J\n"), "{checked}");
    assert!(
        checked.contains("name: \\u{1b}]0;owned\\u{7}\n"),
        "{checked}"
    );
    let checked = succeeded(&check(&db, &keys[1]));
    no_raw_controls(&checked);
    assert!(checked.contains("scopes: read\\u{1b}[8m\n"), "{checked}");

    // Such a row is still removed by its token id.
    let id = listed[0]["id"].as_i64().expect("id").to_string();
    let revoked = succeeded(&run(&db, &["revoke", &id]));
    assert!(revoked.starts_with("Revoked 1 token"), "{revoked}");
    refused(&check(&db, &keys[0]), "Invalid token.");
}

#[tokio::test]
async fn a_bad_user_id_on_the_command_line_is_refused_by_name() {
    let db = sqlite().await;
    succeeded(&run(&db, &["migrate"]));
    let [clear, long] = hostile_ids();
    let refused_id = |output: &Output, shown: &str| {
        failed_with(output, &format!("invalid user id \"{shown}\""));
        let text = stderr(output);
        no_raw_controls(&text);
        assert!(text.contains("without control characters"), "{text}");
        assert!(text.len() < 300, "a short line: {text}");
    };
    refused_id(&run(&db, &["create", &clear]), "1\\u{1b}[2J");
    // Named by its first characters and its length, not all 5,000 of them.
    refused_id(
        &run(&db, &["create", &long]),
        &format!("{}… (5000 bytes)", "7".repeat(40)),
    );
    let too_long = "9".repeat(256);
    refused_id(
        &run(&db, &["create", &too_long]),
        &format!("{}… (256 bytes)", "9".repeat(40)),
    );
    refused_id(&run(&db, &["create", "42\t"]), "42\\t");
    refused_id(&run(&db, &["list", "--user", &clear]), "1\\u{1b}[2J");
    refused_id(&run(&db, &["revoke", "--user", &clear]), "1\\u{1b}[2J");
    assert_eq!(succeeded(&run(&db, &["list"])), "No tokens.\n");

    // The longest id the authenticator takes, and a Unicode one, are fine.
    let longest = "9".repeat(255);
    printed_token(&run(&db, &["create", &longest]));
    let created = run(&db, &["create", "ユーザー", "--name", "Zoë"]);
    printed_token(&created);
    assert!(
        stderr(&created).contains("for user ユーザー (name \"Zoë\""),
        "{}",
        stderr(&created)
    );
    assert_eq!(json_list(&db, &["--user", "ユーザー"]).len(), 1);
}

/// Why `import-drf` skips a row whose user id the authenticator would refuse.
const BAD_USER_ID: &str = "the user id is longer than 255 bytes or holds control characters";

/// Imports a DRF table whose `user_id` is text (a user model with a `CharField`
/// primary key), holding good ids, hostile ones and none at all.
async fn import_drf_skips_bad_user_ids(db: Db) {
    let (django_url, build_url) = match db.kind {
        Kind::Sqlite => {
            let path = db.dir.path().join("django.sqlite3");
            (
                format!("sqlite://{}", path.display()),
                format!("sqlite://{}?mode=rwc", path.display()),
            )
        }
        _ => (db.url.clone(), db.url.clone()),
    };
    let (create, key_column, zone) = match db.kind {
        Kind::Sqlite => (
            r#"CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" varchar(6000) NOT NULL)"#,
            "\"key\"",
            "",
        ),
        Kind::Postgres => (
            r#"CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "user_id" text NOT NULL)"#,
            "\"key\"",
            "+00",
        ),
        Kind::MySql => (
            "CREATE TABLE `authtoken_token` (`key` varchar(40) NOT NULL PRIMARY KEY, `created` datetime(6) NOT NULL, `user_id` text NOT NULL)",
            "`key`",
            "",
        ),
    };
    let [clear, long] = hostile_ids();
    let good = [
        "7".to_owned(),
        "ユーザー".to_owned(),
        "550e8400-e29b-41d4-a716-446655440000".to_owned(),
        "9".repeat(255),
    ];
    let bad_ids = [
        clear.clone(),
        long.clone(),
        "\u{7}".to_owned(),
        "42\n".to_owned(),
    ];
    let mut rows: Vec<(String, String)> = Vec::new();
    for (i, user) in good.iter().chain(&bad_ids).enumerate() {
        rows.push((drf_key(i), user.clone()));
    }
    rows.push((drf_key(100), String::new()));
    rows.push((drf_key(101), "   ".to_owned()));
    rows.push((BAD_KEYS[0].to_owned(), clear.clone()));
    let placeholders = if db.kind == Kind::Postgres {
        "$1, $2"
    } else {
        "?, ?"
    };
    let insert = format!(
        "INSERT INTO authtoken_token ({key_column}, user_id, created) \
         VALUES ({placeholders}, '2020-01-01 00:00:00{zone}')"
    );
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(&build_url)
        .await
        .expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut connection)
        .await
        .expect("build the DRF table");
    for (key, user) in &rows {
        sqlx::query(sqlx::AssertSqlSafe(insert.clone()))
            .bind(key)
            .bind(user)
            .execute(&mut connection)
            .await
            .expect("insert a DRF row");
    }
    connection.close().await.expect("close");
    succeeded(&run(&db, &["migrate"]));

    let imported = run(&db, &["import-drf", "--from", &django_url]);
    let summary = succeeded(&imported);
    assert_eq!(
        summary,
        format!(
            "Imported 4 tokens; 0 already present; 7 skipped (2: no user id; \
             1: the key is not 40 lowercase hex characters; 4: {BAD_USER_ID}).\n"
        )
    );
    let notes = stderr(&imported);
    no_raw_controls(&notes);
    assert!(
        notes.contains(&format!(
            "skipped the token of user 1\\u{{1b}}[2J: {BAD_USER_ID}\n"
        )),
        "{notes}"
    );
    assert!(
        notes.contains(&format!(
            "skipped the token of user {}… (5000 bytes): {BAD_USER_ID}\n",
            "7".repeat(40)
        )),
        "{notes}"
    );
    assert!(
        notes.contains(&format!("skipped the token of user 42\\n: {BAD_USER_ID}\n")),
        "{notes}"
    );
    assert!(notes.lines().all(|line| line.len() < 200), "{notes}");

    let store = SqlxStore::connect(&db.url).await.expect("connect");
    let mut stored: Vec<String> = store
        .list(None)
        .await
        .expect("list")
        .into_iter()
        .map(|info| info.user_id)
        .collect();
    stored.sort();
    let mut expected = good.to_vec();
    expected.sort();
    assert_eq!(stored, expected);
    store.close().await;

    // Again: the good rows are present, the bad ones skipped again.
    let again = succeeded(&run(&db, &["import-drf", "--from", &django_url]));
    assert!(
        again.starts_with("Imported 0 tokens; 4 already present; 7 skipped"),
        "{again}"
    );
    let text = succeeded(&check(&db, &drf_key(1)));
    assert!(text.contains("user: ユーザー\n"), "{text}");
    refused(&check(&db, &drf_key(good.len())), "Invalid token.");
}

/// The token store's migrations for `kind`: how many there are, and the version of
/// the one that adds the hint column.
fn store_migrations(kind: Kind) -> (usize, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../authtoken-sqlx/migrations")
        .join(match kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::MySql => "mysql",
        });
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .filter(|name| name.ends_with(".sql"))
        .collect();
    let hint = names
        .iter()
        .find_map(|name| name.strip_suffix("_token_hint.sql"))
        .expect("the hint migration")
        .to_owned();
    (names.len(), hint)
}

/// `migrate` says what it did: created the tables, applied what was pending, or
/// nothing.
async fn migrate_says_what_it_did(db: Db) {
    let (count, hint_version) = store_migrations(db.kind);
    let first = run(&db, &["migrate"]);
    succeeded(&first);
    assert_eq!(
        stderr(&first),
        format!("Created the token tables ({count} migrations applied).\n")
    );
    let again = run(&db, &["migrate"]);
    succeeded(&again);
    assert_eq!(stderr(&again), "The token tables are up to date.\n");

    // A database one migration behind: as it was before the hint column.
    execute(
        &db.url,
        &format!("DELETE FROM _authtoken_migrations WHERE version = {hint_version}"),
    )
    .await
    .expect("forget the hint migration");
    execute(&db.url, "ALTER TABLE authtoken_tokens DROP COLUMN hint")
        .await
        .expect("drop the hint column");
    let pending = run(&db, &["migrate"]);
    succeeded(&pending);
    assert_eq!(stderr(&pending), "Applied 1 migration.\n");
    printed_token(&run(&db, &["create", "42"]));
    assert_eq!(
        json_list(&db, &[])[0]["hint"].as_str().map(str::len),
        Some(8)
    );
    let last = run(&db, &["migrate"]);
    succeeded(&last);
    assert_eq!(stderr(&last), "The token tables are up to date.\n");
}

macro_rules! backend_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(db) = super::postgres().await {
                        super::$case(db).await;
                    }
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(db) = super::mysql().await {
                        super::$case(db).await;
                    }
                }
            )*
        }
    };
}

backend_tests!(
    lifecycle,
    migrate_says_what_it_did,
    import_drf,
    import_drf_skips_bad_user_ids
);

#[tokio::test]
async fn bad_input_gets_one_line_and_a_failing_status() {
    let db = sqlite().await;
    let dir = db.dir.path();

    // No database, a malformed one, an unreachable one.
    failed_with(
        &run_with(None, &["list"], ""),
        "no token database: set DATABASE_URL or pass --database-url",
    );
    failed_with(
        &run_with(Some("not a url"), &["list"], ""),
        "unsupported database URL",
    );
    let missing = format!("sqlite://{}/no/such/dir/tokens.db", dir.display());
    failed_with(
        &run_with(Some(&missing), &["list"], ""),
        &format!(
            "cannot open the token database {missing}: the directory {}/no/such/dir does not exist",
            dir.display()
        ),
    );
    // A SQLite file that does not exist is not created unless the URL says so.
    let absent = format!("sqlite://{}/absent.db", dir.display());
    failed_with(
        &run_with(Some(&absent), &["list"], ""),
        &format!(
            "cannot open the token database {absent}: the file {}/absent.db does not exist \
             (to create it, add mode=rwc: {absent}?mode=rwc)",
            dir.display()
        ),
    );
    assert!(!dir.join("absent.db").exists());
    // Not migrated yet: the message says what to do.
    failed_with(&run(&db, &["list"]), "authtoken migrate");
    succeeded(&run(&db, &["migrate"]));

    // Unknown ids, bad ids, bad durations, empty user ids.
    failed_with(&run(&db, &["revoke", "12345"]), "no token with id 12345");
    failed_with(&run(&db, &["rotate", "12345"]), "no token with id 12345");
    failed_with(
        &run(&db, &["revoke", "twelve"]),
        "invalid token id \"twelve\"",
    );
    failed_with(
        &run(&db, &["create", "42", "--expires-in", "30x"]),
        "invalid duration \"30x\"",
    );
    failed_with(
        &run(&db, &["create", "42", "--expires-in", "0s"]),
        "--expires-in",
    );
    failed_with(
        &run(&db, &["rotate", "1", "--grace", "soon"]),
        "invalid duration",
    );
    failed_with(&run(&db, &["create", ""]), "the user id must not be empty");
    failed_with(
        &run(&db, &["create", "  "]),
        "the user id must not be empty",
    );
    failed_with(
        &run(&db, &["revoke", "--user", ""]),
        "the user id must not be empty",
    );
    failed_with(
        &run(&db, &["list", "--user", ""]),
        "the user id must not be empty",
    );
    failed_with(
        &run(&db, &["create", "42", "--scope", "has space"]),
        "invalid scope",
    );

    // The Django side: unreachable, malformed, a missing table, a bad table name.
    failed_with(
        &run(
            &db,
            &["import-drf", "--from", "mysql://root@127.0.0.1:1/django"],
        ),
        "cannot connect to the Django database",
    );
    failed_with(
        &run(&db, &["import-drf", "--from", "ftp://example/django"]),
        "unsupported Django database URL",
    );
    let empty = dir.join("empty.sqlite3");
    std::fs::File::create(&empty).expect("empty file");
    let empty_url = format!("sqlite://{}", empty.display());
    failed_with(
        &run(&db, &["import-drf", "--from", &empty_url]),
        "cannot read the table \"authtoken_token\"",
    );
    failed_with(
        &run(
            &db,
            &[
                "import-drf",
                "--from",
                &empty_url,
                "--table",
                "tokens; drop",
            ],
        ),
        "invalid table name",
    );
    failed_with(
        &run(
            &db,
            &[
                "import-drf",
                "--from",
                &format!("sqlite://{}/nothing.sqlite3", dir.display()),
            ],
        ),
        "cannot connect to the Django database",
    );
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

/// A server that refuses connections fails the command at once, saying so, instead of
/// after the pool's acquire timeout with "pool timed out".
#[test]
fn a_server_that_refuses_connections_is_named() {
    for scheme in ["postgres", "mysql"] {
        let port = closed_port();
        let started = std::time::Instant::now();
        let output = run_with(
            Some(&format!("{scheme}://someone:hunter2@127.0.0.1:{port}/none")),
            &["list"],
            "",
        );
        eprintln!("{scheme}: failed after {:?}", started.elapsed());
        failed_with(
            &output,
            &format!(
                "cannot open the token database {scheme}://someone:***@127.0.0.1:{port}/none: \
                 connection refused"
            ),
        );
    }
}

/// `--prefix` belongs to the subcommands that issue a token (create, rotate) and to
/// check, which accepts only the application's; the others refuse it.
#[test]
fn prefix_is_an_option_of_create_rotate_and_check_only() {
    for sub in ["create", "rotate", "check"] {
        let text = succeeded(&run_with(None, &[sub, "--help"], ""));
        assert!(
            text.contains("--prefix <PREFIX>")
                && text.contains("[env: AUTHTOKEN_PREFIX] [default: atk]"),
            "{sub}: {text}"
        );
        assert!(!text.contains("AUTHTOKEN_PREFIX="), "{sub}: {text}");
    }
    for args in [
        &["list"][..],
        &["revoke", "1"],
        &["migrate"],
        &["purge-expired"],
        &["import-drf", "--from", "sqlite://django.sqlite3"],
    ] {
        let help = succeeded(&run_with(None, &[args[0], "--help"], ""));
        assert!(!help.contains("--prefix"), "{}: {help}", args[0]);
        let mut with_prefix = args.to_vec();
        with_prefix.extend(["--prefix", "abc"]);
        let output = run_with(None, &with_prefix, "");
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(
            text.starts_with("error: unexpected argument '--prefix' found"),
            "{}: {text}",
            args[0]
        );
    }
    let help = succeeded(&run_with(None, &["--help"], ""));
    assert!(!help.contains("--prefix <PREFIX>"), "{help}");
}

/// A token issued with the application's own prefix, from `--prefix` or
/// `AUTHTOKEN_PREFIX`, checks with the same; without it, check refuses it as the
/// application would, and says which prefix the token has.
#[tokio::test]
async fn a_custom_prefix_is_used_by_create_rotate_and_check() {
    let db = sqlite().await;
    succeeded(&run(&db, &["migrate"]));
    let env = [("AUTHTOKEN_PREFIX", "abc")];
    let by_env = printed_token_of(
        &run_with_env(Some(&db.url), &["create", "42"], "", &env),
        "abc",
    );
    let by_option = printed_token_of(&run(&db, &["create", "7", "--prefix", "abc"]), "abc");
    for token in [&by_env, &by_option] {
        succeeded(&run_with_env(Some(&db.url), &["check"], token, &env));
        succeeded(&run_with(
            Some(&db.url),
            &["check", "--prefix", "abc"],
            token,
        ));
        refused(
            &check(&db, token),
            "Invalid token. (its prefix is abc, not atk: pass --prefix abc, or set \
             AUTHTOKEN_PREFIX, if the application uses that one)",
        );
    }
    let id = json_list(&db, &["--user", "42"])[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    let rotated = printed_token_of(
        &run_with_env(Some(&db.url), &["rotate", &id], "", &env),
        "abc",
    );
    succeeded(&run_with_env(Some(&db.url), &["check"], &rotated, &env));
    // A token of the default prefix is refused where the application uses another.
    let plain = printed_token(&run(&db, &["create", "5"]));
    refused(
        &run_with_env(Some(&db.url), &["check"], &plain, &env),
        "Invalid token. (its prefix is atk, not abc: pass --prefix atk, or set \
         AUTHTOKEN_PREFIX, if the application uses that one)",
    );
    failed_with(
        &run(&db, &["create", "1", "--prefix", "Not-Valid"]),
        "prefix",
    );
}

/// A token given to `check` as an argument is refused before anything else, with
/// why and what to do instead.
#[test]
fn check_refuses_a_token_on_the_command_line() {
    let token = authtoken::TokenPrefix::default().generate();
    for url in [None, Some("sqlite://nowhere.db")] {
        let output = run_with(url, &["check", token.expose_secret()], "");
        failed_with(
            &output,
            "error: the token is read from standard input, not from the command line (it \
             would end up in shell history): `echo \"$TOKEN\" | authtoken check` or type it \
             at the prompt",
        );
    }
    failed_with(
        &run_with(None, &["check", "one", "two"], ""),
        "the token is read from standard input",
    );
}

/// The token database from `DATABASE_URL` is not reported missing, nor required, in
/// help or errors; with neither it nor `--database-url`, the error says to set one.
#[test]
fn database_url_is_required_only_when_missing() {
    let url = "sqlite://nowhere.db";
    for args in [
        &["--help"][..],
        &["list", "--help"],
        &["revoke"],
        &["create"],
    ] {
        let output = run_with(Some(url), args, "");
        let text = format!("{}{}", stdout(&output), stderr(&output));
        let usage = text
            .lines()
            .find(|line| line.starts_with("Usage:"))
            .unwrap_or_else(|| panic!("{args:?}: no usage in {text}"));
        assert!(!usage.contains("database-url"), "{args:?}: {usage}");
        assert!(!text.contains("no token database"), "{args:?}: {text}");
    }
    for url in [None, Some(""), Some("  ")] {
        failed_with(
            &run_with(url, &["list"], ""),
            "no token database: set DATABASE_URL or pass --database-url",
        );
    }
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "migrate",
        "create",
        "list",
        "revoke",
        "rotate",
        "check",
        "purge-expired",
        "import-drf",
    ] {
        let output = run_with(None, &[sub, "--help"], "");
        let text = succeeded(&output);
        assert!(
            text.contains(&format!("Usage: authtoken {sub}")),
            "{sub}: {text}"
        );
    }
    let text = succeeded(&run_with(None, &["--help"], ""));
    assert!(
        text.contains("import-drf") && text.contains("DATABASE_URL"),
        "{text}"
    );
}

/// What a run of `check` at a terminal left behind.
#[cfg(unix)]
struct AtTerminal {
    output: Output,
    /// Everything the terminal showed.
    shown: String,
    /// Whether the terminal echoes again afterwards.
    echoes_after: bool,
}

/// Runs `check` with a pseudo-terminal as its stdin and stderr and, once the prompt
/// is up, types `typed` at it, as a person would; then, with `interrupt`, sends it
/// the SIGINT that Ctrl-C sends (the test's terminal controls no process group).
#[cfg(unix)]
fn check_at_a_terminal(db: &Db, typed: &str, interrupt: bool) -> AtTerminal {
    use std::io::{Read as _, Write as _};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use rustix::termios::{LocalModes, tcgetattr};

    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pseudo-terminal");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let terminal = || -> std::fs::File {
        rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY,
            Mode::empty(),
        )
        .expect("the terminal side")
        .into()
    };
    let mut master = std::fs::File::from(master);
    let echoes = |master: &std::fs::File| {
        tcgetattr(master)
            .expect("terminal settings")
            .local_modes
            .contains(LocalModes::ECHO)
    };
    assert!(echoes(&master), "a new terminal echoes");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_authtoken"))
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .arg("check")
        .stdin(terminal())
        .stderr(terminal())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run authtoken");
    let shown = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let mut master = master.try_clone().expect("clone");
        let shown = Arc::clone(&shown);
        // Until the child, the last holder of the terminal side, exits (EIO).
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(n @ 1..) = master.read(&mut buffer) {
                shown.lock().expect("lock").extend_from_slice(&buffer[..n]);
            }
        })
    };
    let shown_text = || String::from_utf8_lossy(&shown.lock().expect("lock")).into_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !shown_text().contains("Token: ") {
        if Instant::now() > deadline || child.try_wait().expect("wait").is_some() {
            let _ = child.kill();
            panic!("no prompt; the terminal showed {:?}", shown_text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    master.write_all(typed.as_bytes()).expect("type");
    if interrupt {
        // Let the typing reach the terminal's line first.
        std::thread::sleep(Duration::from_millis(100));
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    }
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "check did not finish; the terminal showed {:?}",
                shown_text()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    reader.join().expect("reader");
    AtTerminal {
        output,
        shown: shown_text(),
        echoes_after: echoes(&master),
    }
}

/// `check` reading from a terminal: the token typed is not echoed, and the terminal
/// echoes again afterwards, also after Ctrl-C at the prompt.
#[cfg(unix)]
#[test]
fn check_does_not_echo_a_token_typed_at_a_terminal() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = runtime.block_on(sqlite());
    succeeded(&run(&db, &["migrate"]));
    let token = printed_token(&run(&db, &["create", "42"]));

    let typed = check_at_a_terminal(&db, &format!("{token}\r"), false);
    let shown = &typed.shown;
    assert!(
        typed.output.status.success(),
        "{:?}: {shown:?}",
        typed.output.status
    );
    assert!(stdout(&typed.output).contains("user: 42\n"));
    assert!(shown.starts_with("Token: "), "{shown:?}");
    assert!(
        !shown.contains(&token[4..12]),
        "the token was echoed: {shown:?}"
    );
    assert!(typed.echoes_after, "echo is back on after check");

    // Ctrl-C halfway through: interrupted, nothing shown, echo back on.
    let interrupted = check_at_a_terminal(&db, &token[..12], true);
    let shown = &interrupted.shown;
    assert_eq!(interrupted.output.status.code(), Some(130), "{shown:?}");
    assert!(interrupted.output.stdout.is_empty());
    assert!(
        !shown.contains(&token[4..12]),
        "the token was echoed: {shown:?}"
    );
    assert!(interrupted.echoes_after, "echo is back on after Ctrl-C");
}

#[test]
fn an_hmac_secret_changes_the_digest_and_is_checked() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = runtime.block_on(sqlite());
    succeeded(&run(&db, &["migrate"]));
    let secret = "s".repeat(32);
    let with_secret = |args: &[&str], stdin: &str| {
        let mut command = assert_cmd::cargo::cargo_bin_cmd!("authtoken");
        command
            .env("DATABASE_URL", &db.url)
            .env("AUTHTOKEN_HMAC_SECRET", &secret)
            .env_remove("AUTHTOKEN_HMAC_KEY_VERSION")
            .env_remove("AUTHTOKEN_PREFIX")
            .args(args)
            .write_stdin(stdin)
            .output()
            .expect("run")
    };
    let token = printed_token(&with_secret(&["create", "5"], ""));
    succeeded(&with_secret(&["check"], &token));
    // Without the secret the digest differs, so the token is unknown.
    refused(&check(&db, &token), "Invalid token.");
    let mut command = assert_cmd::cargo::cargo_bin_cmd!("authtoken");
    let short = command
        .env("DATABASE_URL", &db.url)
        .env("AUTHTOKEN_HMAC_SECRET", "short")
        .args(["create", "5"])
        .output()
        .expect("run");
    failed_with(&short, "AUTHTOKEN_HMAC_SECRET");
}
