//! `import-drf`: Django REST Framework's tokens, stored as legacy keys.
//!
//! DRF keeps one row per user in `authtoken_token` (`key` varchar(40) primary key,
//! `created` datetime, `user_id` integer unique). Each key is stored here by its
//! digest only, with DRF's creation time, so clients holding a key keep working once
//! the application accepts legacy keys. A key already present is counted and left
//! alone, so running the import again changes nothing.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::Duration;

use authtoken::{InsertOutcome, NewToken, TokenHasher, TokenStore as _};
use authtoken_sqlx::SqlxStore;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::{AnyConnection, Connection as _, Row as _};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::{Failure, Outcome, describe, redact, report};

/// The name imported tokens carry, so that a listing tells them apart.
pub const IMPORTED_NAME: &str = "imported from Django";

/// How long connecting to the Django database may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many inserts are in flight at once on a database server.
const SERVER_CONCURRENCY: usize = 16;

/// How many skipped rows are named one by one before the rest are only counted.
const SKIPS_SHOWN: usize = 20;

/// Why a row whose user id `authtoken::check_user_id` refuses is skipped.
const BAD_USER_ID: &str = "the user id is longer than 255 bytes or holds control characters";

/// The SQL dialects a Django database may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

/// Refuses a table name that is not a plain (optionally schema-qualified) SQL
/// identifier: it goes into the query text.
pub fn validate_table(table: &str) -> Outcome<()> {
    let part_ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 64
            && !part.starts_with(|c: char| c.is_ascii_digit())
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|part| part_ok(part)) {
        return Err(Failure::new(format!(
            "invalid table name {table:?}: expected letters, digits and underscores, e.g. authtoken_token"
        )));
    }
    Ok(())
}

fn dialect(url: &str) -> Outcome<Dialect> {
    let scheme = url.split(':').next().unwrap_or_default();
    let dialect = match scheme {
        "sqlite" => Some(Dialect::Sqlite),
        "postgres" | "postgresql" if cfg!(feature = "postgres") => Some(Dialect::Postgres),
        "mysql" | "mariadb" if cfg!(feature = "mysql") => Some(Dialect::MySql),
        _ => None,
    };
    dialect.ok_or_else(|| {
        Failure::new(format!(
            "unsupported Django database URL {:?}: expected {}",
            redact(url),
            crate::supported_schemes()
        ))
    })
}

/// One row of DRF's table, as text.
struct DrfRow {
    key: Option<String>,
    user_id: Option<String>,
    created: Option<String>,
}

/// Reads every row of `table`, with times rendered as UTC text by the database.
async fn read_rows(url: &str, dialect: Dialect, table: &str) -> Outcome<Vec<DrfRow>> {
    sqlx::any::install_default_drivers();
    let cannot_connect = |reason: String| {
        Failure::new(format!(
            "cannot connect to the Django database {}: {reason}",
            redact(url)
        ))
    };
    let mut connection = tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect(url))
        .await
        .map_err(|_| cannot_connect(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|error| cannot_connect(describe(&error)))?;
    // Naive datetimes (Django's USE_TZ on MySQL and SQLite) are UTC already; aware
    // ones are rendered in UTC by setting the session's zone.
    let (setup, select) = match dialect {
        Dialect::Sqlite => (
            None,
            format!(r#"SELECT "key", CAST(user_id AS TEXT), CAST(created AS TEXT) FROM {table}"#),
        ),
        Dialect::Postgres => (
            Some("SET TIME ZONE 'UTC'"),
            format!(
                r#"SELECT "key"::text, user_id::text, to_char(created, 'YYYY-MM-DD HH24:MI:SS.US') FROM {table}"#
            ),
        ),
        Dialect::MySql => (
            Some("SET time_zone = '+00:00'"),
            format!(
                "SELECT CAST(`key` AS CHAR), CAST(user_id AS CHAR), \
                 DATE_FORMAT(created, '%Y-%m-%d %H:%i:%s.%f') FROM {table}"
            ),
        ),
    };
    if let Some(setup) = setup {
        sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
            .execute(&mut connection)
            .await
            .map_err(|error| cannot_connect(describe(&error)))?;
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(select))
        .fetch_all(&mut connection)
        .await
        .map_err(|error| {
            Failure::new(format!(
                "cannot read the table {table:?} of the Django database: {}",
                describe(&error)
            ))
        })?;
    let _ = connection.close().await;
    rows.iter()
        .map(|row| {
            Ok(DrfRow {
                key: row.try_get(0)?,
                user_id: row.try_get(1)?,
                created: row.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(|error| {
            Failure::new(format!(
                "unexpected columns in {table:?} (expected key, user_id, created): {}",
                describe(&error)
            ))
        })
}

/// Reads `2024-01-02 03:04:05`, with an optional fraction (`.123456`), `T` for the
/// space, and an optional offset (`Z`, `+00`, `+05:30`, `-0800`); no offset means UTC.
pub fn parse_django_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 19 || !text.is_char_boundary(19) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b' ' | b'T')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = i32::try_from(number(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(number(5..7)?).ok()?).ok()?;
    let day = u8::try_from(number(8..10)?).ok()?;
    let hour = u8::try_from(number(11..13)?).ok()?;
    let minute = u8::try_from(number(14..16)?).ok()?;
    let second = u8::try_from(number(17..19)?).ok()?;
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, b) in fraction.bytes().take(9).take(digits).enumerate() {
            nanos += u32::from(b - b'0') * 10u32.pow(8 - u32::try_from(i).ok()?);
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => UtcOffset::UTC,
        _ => {
            let sign: i8 = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
                return None;
            }
            let hours: i8 = digits[..2].parse().ok()?;
            let minutes: i8 = digits
                .get(2..)
                .filter(|m| !m.is_empty())
                .map_or(Some(0), |m| m.parse().ok())?;
            UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?
        }
    };
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

/// A row ready to insert, or why it is skipped.
fn prepare(row: DrfRow, hasher: &TokenHasher) -> Result<NewToken, (Option<String>, &'static str)> {
    let user_id = row.user_id.filter(|id| !id.trim().is_empty());
    let Some(key) = row
        .key
        .filter(|key| authtoken::token::is_legacy_key(key.as_bytes()))
    else {
        return Err((user_id, "the key is not 40 lowercase hex characters"));
    };
    let Some(user) = user_id else {
        return Err((None, "no user id"));
    };
    // A token the authenticator would not issue for this id is not imported either.
    if authtoken::check_user_id(&user).is_err() {
        return Err((Some(user), BAD_USER_ID));
    }
    let Some(created) = row.created.as_deref().and_then(parse_django_time) else {
        return Err((Some(user), "unreadable creation time"));
    };
    Ok(NewToken::new(
        hasher.digest(key.as_bytes()),
        hasher.current_version(),
        user,
        created,
    )
    .with_name(IMPORTED_NAME.to_owned()))
}

fn progress_bar(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({eta} left)") {
        bar.set_style(style);
    }
    bar.set_message("importing");
    bar
}

#[derive(Debug, Default)]
struct Summary {
    imported: u64,
    present: u64,
    skipped: BTreeMap<&'static str, u64>,
}

impl Summary {
    fn record(&mut self, outcome: &InsertOutcome) {
        match outcome {
            InsertOutcome::Inserted(_) => self.imported += 1,
            // No limit is passed, so nothing else can come back.
            InsertOutcome::DuplicateDigest | InsertOutcome::LimitReached => self.present += 1,
        }
    }
}

/// Imports DRF's tokens from the database at `url` into `store`.
pub async fn run(
    store: &SqlxStore,
    store_url: &str,
    hasher: &TokenHasher,
    url: &str,
    table: &str,
) -> Outcome<()> {
    validate_table(table)?;
    let dialect = dialect(url)?;
    let rows = read_rows(url, dialect, table).await?;
    let bar = progress_bar(rows.len());
    let mut summary = Summary::default();
    let mut shown = 0;
    let mut tokens = Vec::with_capacity(rows.len());
    for row in rows {
        match prepare(row, hasher) {
            Ok(token) => tokens.push(token),
            Err((user, reason)) => {
                *summary.skipped.entry(reason).or_default() += 1;
                bar.inc(1);
                if shown < SKIPS_SHOWN {
                    let whose = user.map_or_else(
                        || "a token".to_owned(),
                        |u| format!("the token of user {}", report::excerpt(&u)),
                    );
                    bar.suspend(|| eprintln!("skipped {whose}: {reason}"));
                }
                shown += 1;
            }
        }
    }
    if shown > SKIPS_SHOWN {
        bar.suspend(|| {
            eprintln!(
                "skipped {} more",
                report::count((shown - SKIPS_SHOWN) as u64, "token")
            );
        });
    }
    let result = match sqlite_import_store(store, store_url).await? {
        // SQLite writes one row at a time anyway.
        Some(sqlite) => {
            let result = insert_all(&sqlite, tokens, 1, &bar, &mut summary).await;
            sqlite.close().await;
            result
        }
        // A server takes several at once.
        None => insert_all(store, tokens, SERVER_CONCURRENCY, &bar, &mut summary).await,
    };
    bar.finish_and_clear();
    let skipped: u64 = summary.skipped.values().sum();
    let mut line = format!(
        "Imported {}; {} already present; {} skipped",
        report::count(summary.imported, "token"),
        summary.present,
        skipped
    );
    if skipped > 0 {
        let reasons: Vec<String> = summary
            .skipped
            .iter()
            .map(|(reason, n)| format!("{n}: {reason}"))
            .collect();
        line.push_str(&format!(" ({})", reasons.join("; ")));
    }
    line.push('.');
    match result {
        Ok(()) => {
            println!("{line}");
            Ok(())
        }
        Err(error) => Err(Failure::new(format!(
            "the import stopped ({line} so far; run it again to finish): {}",
            describe(&error)
        ))),
    }
}

/// On an SQLite file, a store of one connection that does not wait for the disk after
/// every row: WAL with `synchronous=NORMAL` stays consistent through a crash and may
/// lose only the last rows on a power failure, which running the import again
/// restores. `None` on other databases.
async fn sqlite_import_store(store: &SqlxStore, store_url: &str) -> Outcome<Option<SqlxStore>> {
    #[cfg(feature = "sqlite")]
    if store.sqlite_pool().is_some()
        && !store_url.contains(":memory:")
        && !store_url.contains("mode=memory")
    {
        use std::str::FromStr as _;

        use sqlx::sqlite::{
            SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
        };
        let failed = |error: sqlx::Error| {
            Failure::new(format!(
                "cannot open the token database {}: {}",
                redact(store_url),
                describe(&error)
            ))
        };
        let options = SqliteConnectOptions::from_str(store_url)
            .map_err(failed)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(failed)?;
        return Ok(Some(SqlxStore::from_sqlite_pool(pool)));
    }
    let _ = (store, store_url);
    Ok(None)
}

async fn insert_all(
    store: &SqlxStore,
    tokens: Vec<NewToken>,
    concurrency: usize,
    bar: &ProgressBar,
    summary: &mut Summary,
) -> Result<(), authtoken_sqlx::Error> {
    let mut running = tokio::task::JoinSet::new();
    for token in tokens {
        while running.len() >= concurrency {
            if let Some(done) = running.join_next().await {
                summary.record(&joined(done)?);
                bar.inc(1);
            }
        }
        let store = store.clone();
        running.spawn(async move { store.insert(&token, None).await });
    }
    while let Some(done) = running.join_next().await {
        summary.record(&joined(done)?);
        bar.inc(1);
    }
    Ok(())
}

fn joined(
    done: Result<Result<InsertOutcome, authtoken_sqlx::Error>, tokio::task::JoinError>,
) -> Result<InsertOutcome, authtoken_sqlx::Error> {
    match done {
        Ok(result) => result,
        // An insert task cannot panic short of a bug in the driver; report it as one.
        Err(error) => Err(authtoken_sqlx::Error::Database(sqlx::Error::Protocol(
            format!("an insert did not finish: {error}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn reads_the_times_each_database_writes() {
        assert_eq!(
            parse_django_time("2024-01-02 03:04:05.123456"),
            Some(datetime!(2024-01-02 03:04:05.123456 UTC))
        );
        assert_eq!(
            parse_django_time("2024-01-02 03:04:05"),
            Some(datetime!(2024-01-02 03:04:05 UTC))
        );
        assert_eq!(
            parse_django_time("2024-01-02T03:04:05.5+00:00"),
            Some(datetime!(2024-01-02 03:04:05.5 UTC))
        );
        assert_eq!(
            parse_django_time("2024-01-02 05:34:05+05:30"),
            Some(datetime!(2024-01-02 00:04:05 UTC))
        );
        assert_eq!(
            parse_django_time("2024-01-02 03:04:05-08"),
            Some(datetime!(2024-01-02 11:04:05 UTC))
        );
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "2024-13-02 03:04:05",
            "2024-01-02 25:04:05",
            "2024-01-02 03:04:05.",
            "2024-01-02 03:04:05 UTC",
            "2024/01/02 03:04:05",
            "2024-01-02 03:04:05+5",
        ] {
            assert_eq!(parse_django_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn table_names_are_plain_identifiers() {
        assert!(validate_table("authtoken_token").is_ok());
        assert!(validate_table("public.authtoken_token").is_ok());
        for bad in ["", "a b", "t; DROP TABLE x", "a.b.c", "1table", "\"t\""] {
            assert!(validate_table(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rows_are_checked_before_import() {
        let hasher = TokenHasher::sha256();
        let row = |key: &str, user: Option<&str>, created: &str| DrfRow {
            key: Some(key.to_owned()),
            user_id: user.map(str::to_owned),
            created: Some(created.to_owned()),
        };
        let key = "0123456789abcdef0123456789abcdef01234567";
        let token = prepare(row(key, Some("9"), "2024-01-02 03:04:05"), &hasher).expect("valid");
        assert_eq!(token.digest, hasher.digest(key.as_bytes()));
        assert_eq!(token.user_id, "9");
        assert_eq!(token.created, datetime!(2024-01-02 03:04:05 UTC));
        let upper = key.to_uppercase();
        assert_eq!(
            prepare(row(&upper, Some("9"), "2024-01-02 03:04:05"), &hasher).err(),
            Some((
                Some("9".to_owned()),
                "the key is not 40 lowercase hex characters"
            ))
        );
        assert_eq!(
            prepare(row(key, None, "2024-01-02 03:04:05"), &hasher).err(),
            Some((None, "no user id"))
        );
        assert!(prepare(row(key, Some("9"), "soon"), &hasher).is_err());
        for bad in ["1\u{1b}[2J", "\u{7}", &"9".repeat(256)] {
            assert_eq!(
                prepare(row(key, Some(bad), "2024-01-02 03:04:05"), &hasher).err(),
                Some((Some(bad.to_owned()), BAD_USER_ID))
            );
        }
        let longest = "9".repeat(255);
        let token = prepare(row(key, Some(&longest), "2024-01-02 03:04:05"), &hasher);
        assert_eq!(token.expect("valid").user_id, longest);
    }
}
