#![doc = include_str!("../README.md")]

mod database;
mod duration;
mod import;
mod report;
mod terminal;

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::process::ExitCode;

use authtoken::{
    AuthError, Authenticator, DigestKey, IssueError, IssueOptions, TokenHasher, TokenId,
    TokenPrefix, UserIdLoader,
};
use authtoken_sqlx::SqlxStore;
use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::database::open_store;
use crate::duration::parse_duration;

const ENVIRONMENT_HELP: &str = "\
Environment:
  DATABASE_URL                 the token database, when --database-url is not given
  AUTHTOKEN_PREFIX             the application's token prefix, for create, rotate and
                               check, when --prefix is not given (default atk)
  AUTHTOKEN_HMAC_SECRET        the application's HMAC secret (32 bytes or more), when
                               tokens are digested with HMAC-SHA-256 instead of SHA-256
  AUTHTOKEN_HMAC_KEY_VERSION   that secret's version number (default 1)

Exit status: 0 on success; 1 when `check` refuses the token; 2 on any error; 130
when Ctrl-C interrupts `check` at its prompt.";

/// Manage the API tokens of an authtoken application: issue, list, check, rotate and
/// revoke them, and import Django REST Framework's.
#[derive(Debug, Parser)]
#[command(name = "authtoken", version, after_help = ENVIRONMENT_HELP)]
struct Cli {
    // `DATABASE_URL` is read by `database_url()`, not by clap: clap would list the
    // option in its usage lines, as if it were required, whenever the variable is set.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help = "The token database: sqlite://tokens.db?mode=rwc, postgres://user@host/db \
                or mysql://user@host/db [env: DATABASE_URL]"
    )]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or update the token tables.
    Migrate,
    /// Issue a token and print it, once, to standard output (details go to standard
    /// error, so `TOKEN=$(authtoken create 42)` works).
    Create(CreateArgs),
    /// List tokens: id, user, name, hint, scopes, times and state; never a secret.
    List(ListArgs),
    /// Revoke one token, or every token of a user.
    Revoke(RevokeArgs),
    /// Replace a token with a new one for the same user, name and scopes, printed to
    /// standard output; the old one keeps working for the grace period.
    Rotate(RotateArgs),
    /// Read a token from standard input and say whose it is; exit 0 when it
    /// authenticates, 1 (with the reason) when not.
    Check(CheckArgs),
    /// Delete expired tokens.
    PurgeExpired,
    /// Import Django REST Framework's tokens, so that existing clients keep working
    /// (safe to run again).
    ImportDrf(ImportArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The user the token is for.
    user_id: String,
    /// A label, such as a device name.
    #[arg(long)]
    name: Option<String>,
    /// A scope the token carries; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// How long the token lives (30d, 12h, 10m, 45s); by default it never expires.
    #[arg(long, value_name = "DURATION")]
    expires_in: Option<String>,
    /// Revoke the user's other tokens once the new one is stored.
    #[arg(long)]
    reset: bool,
    #[command(flatten)]
    prefix: PrefixArg,
}

/// `--prefix`, of the subcommands that issue or check tokens.
#[derive(Debug, Args)]
struct PrefixArg {
    /// The application's token prefix: new tokens carry it, and a token of another
    /// one is refused, as the application refuses it.
    #[arg(
        long,
        env = "AUTHTOKEN_PREFIX",
        hide_env_values = true,
        default_value = TokenPrefix::DEFAULT
    )]
    prefix: String,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only this user's tokens.
    #[arg(long, value_name = "USER_ID")]
    user: Option<String>,
    /// JSON for scripts instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["token_id", "user"])))]
struct RevokeArgs {
    /// The token to revoke.
    token_id: Option<String>,
    /// Revoke every token of this user instead.
    #[arg(long, value_name = "USER_ID", conflicts_with = "token_id")]
    user: Option<String>,
}

#[derive(Debug, Args)]
struct RotateArgs {
    /// The token to replace.
    token_id: String,
    /// How long the old token keeps working (30d, 12h, 10m, 45s, 0s).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    grace: String,
    #[command(flatten)]
    prefix: PrefixArg,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    prefix: PrefixArg,
    /// A token given on the command line, refused with a word on why: it is read from
    /// standard input only.
    #[arg(hide = true, value_name = "TOKEN")]
    misplaced: Vec<String>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The Django database: sqlite://db.sqlite3, postgres://user@host/db or
    /// mysql://user@host/db.
    #[arg(long = "from", value_name = "URL")]
    from: String,
    /// DRF's token table.
    #[arg(long, default_value = "authtoken_token")]
    table: String,
}

/// A failure to report on one line, with exit status 2.
#[derive(Debug)]
struct Failure(String);

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

type Outcome<T> = Result<T, Failure>;

/// An error and its causes on one line, each cause once.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    if text.contains("authtoken_tokens")
        && ["no such table", "does not exist", "doesn't exist"]
            .iter()
            .any(|missing| text.contains(missing))
    {
        text.push_str(" (run `authtoken migrate` first)");
    }
    one_line(&text)
}

/// `text` on one line, without the server source line numbers PostgreSQL errors carry
/// (`... at line 1392`), which mean nothing to the reader.
fn one_line(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut kept = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let source_line = words[i] == "at"
            && words.get(i + 1) == Some(&"line")
            && words.get(i + 2).is_some_and(|n| {
                let n = n.trim_end_matches([':', ',', ')', '.']);
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            });
        if source_line {
            i += 3;
        } else {
            kept.push(words[i]);
            i += 1;
        }
    }
    kept.join(" ")
}

/// A database URL with its password hidden, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// The schemes this build reads.
fn supported_schemes() -> &'static str {
    if cfg!(all(feature = "postgres", feature = "mysql")) {
        "sqlite:, postgres: or mysql:"
    } else if cfg!(feature = "postgres") {
        "sqlite: or postgres:"
    } else if cfg!(feature = "mysql") {
        "sqlite: or mysql:"
    } else {
        "sqlite:"
    }
}

/// `user_id` when a token may carry it, as the authenticator decides at issue.
fn require_user_id(user_id: &str) -> Outcome<&str> {
    if user_id.trim().is_empty() {
        return Err(Failure::new("the user id must not be empty"));
    }
    authtoken::check_user_id(user_id).map_err(|error| {
        Failure::new(format!(
            "invalid user id \"{}\": {error}",
            report::excerpt(user_id)
        ))
    })?;
    Ok(user_id)
}

fn require_token_id(text: &str) -> Outcome<TokenId> {
    text.parse()
        .map_err(|_| Failure::new(format!("invalid token id {text:?}: expected a number")))
}

fn require_duration(text: &str, option: &str) -> Outcome<std::time::Duration> {
    parse_duration(text).map_err(|error| Failure::new(format!("{option}: {error}")))
}

/// The digests the application uses: SHA-256, or HMAC-SHA-256 when a secret is set.
fn hasher() -> Outcome<TokenHasher> {
    let Some(secret) = std::env::var_os("AUTHTOKEN_HMAC_SECRET") else {
        return Ok(TokenHasher::sha256());
    };
    let version = match std::env::var("AUTHTOKEN_HMAC_KEY_VERSION") {
        Ok(text) => text.trim().parse::<u32>().map_err(|_| {
            Failure::new(format!(
                "AUTHTOKEN_HMAC_KEY_VERSION {text:?} is not a number"
            ))
        })?,
        Err(_) => 1,
    };
    let key = DigestKey::new(version, secret.into_encoded_bytes())
        .map_err(|error| Failure::new(format!("AUTHTOKEN_HMAC_SECRET: {error}")))?;
    TokenHasher::hmac(key, []).map_err(|error| Failure::new(error.to_string()))
}

/// The application's authenticator, as the web adapters build it, with DRF's legacy
/// keys accepted (imported tokens must check) and no cache (one command, one look).
fn authenticator(store: SqlxStore, prefix: &str) -> Outcome<Authenticator<String>> {
    let prefix = TokenPrefix::new(prefix).map_err(|error| Failure::new(error.to_string()))?;
    Authenticator::builder(store, UserIdLoader)
        .prefix(prefix)
        .hasher(hasher()?)
        .legacy_keys(true)
        .cache_capacity(0)
        .build()
        .map_err(|error| Failure::new(error.to_string()))
}

fn store_failure(error: &authtoken::StoreError) -> Failure {
    Failure::new(describe(error))
}

fn issue_failure(error: &IssueError, token_id: Option<TokenId>) -> Failure {
    match (error, token_id) {
        (IssueError::NotFound, Some(id)) => Failure::new(format!("no token with id {id}")),
        (error, _) => Failure::new(describe(error)),
    }
}

/// How soon running applications stop accepting a token this command revoked or cut
/// short: their authenticators serve a verified token from memory for their cache ttl,
/// and on PostgreSQL a revocation listener evicts it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RevocationBound {
    /// SQLite, MySQL/MariaDB: nothing is pushed; the cache ttl is the bound.
    CacheTtl,
    /// PostgreSQL: the cache ttl, or at once for an application that runs the
    /// revocation listener (`SqlxStore::spawn_revocation_listener`).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    CacheTtlOrListener,
}

impl RevocationBound {
    /// The authenticator's default `cache_ttl`
    /// (`authtoken::AuthenticatorBuilder::cache_ttl`), as the bound is stated.
    const DEFAULT_CACHE_TTL: &str = "30 s";

    fn of(store: &SqlxStore) -> Self {
        #[cfg(feature = "postgres")]
        if store.pg_pool().is_some() {
            return Self::CacheTtlOrListener;
        }
        let _ = store;
        Self::CacheTtl
    }

    fn bound(self) -> String {
        let ttl = format!(
            "within their cache ttl ({} by default)",
            Self::DEFAULT_CACHE_TTL
        );
        match self {
            Self::CacheTtl => ttl,
            Self::CacheTtlOrListener => format!("{ttl}, or at once with the revocation listener"),
        }
    }

    /// The line after revoking `count` tokens.
    fn after_revoking(self, count: u64) -> String {
        let them = if count == 1 { "it" } else { "them" };
        format!(
            "Running applications stop accepting {them} {}.",
            self.bound()
        )
    }

    /// The line after rotating: the old token's new end reaches a running
    /// application's cache no sooner than a revocation would.
    fn after_rotating(self) -> String {
        format!(
            "After that, running applications that cached the old token stop accepting it {}.",
            self.bound()
        )
    }
}

/// Why a token given as an argument to `check` is refused.
const TOKEN_AS_ARGUMENT: &str = "the token is read from standard input, not from the \
     command line (it would end up in shell history): `echo \"$TOKEN\" | authtoken check` \
     or type it at the prompt";

/// A note for a refused credential that is a well-formed token of another prefix than
/// the application's: most likely `--prefix` (or `AUTHTOKEN_PREFIX`) is missing.
fn other_prefix(credential: &[u8], prefix: &TokenPrefix) -> Option<String> {
    let end = credential.iter().position(|&b| b == b'_')?;
    let theirs = std::str::from_utf8(&credential[..end]).ok()?;
    if theirs == prefix.as_str() || !TokenPrefix::new(theirs).ok()?.matches(credential) {
        return None;
    }
    Some(format!(
        " (its prefix is {theirs}, not {prefix}: pass --prefix {theirs}, or set \
         AUTHTOKEN_PREFIX, if the application uses that one)"
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {}", describe(&error));
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(Failure(message)) => {
            // A database's error may quote what it was given: escape the whole line.
            eprintln!("error: {}", report::escape(&message));
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Outcome<ExitCode> {
    // Check what can be checked before connecting anywhere.
    match &cli.command {
        Command::ImportDrf(args) => import::validate_table(&args.table)?,
        Command::Check(args) if !args.misplaced.is_empty() => {
            return Err(Failure::new(TOKEN_AS_ARGUMENT));
        }
        _ => {}
    }
    let url = database_url(&cli)?;
    let store = open_store(url.as_deref()).await?;
    let result = dispatch(&cli, url.as_deref().unwrap_or_default(), store.clone()).await;
    store.close().await;
    result
}

/// The token database's URL: `--database-url`, or else `DATABASE_URL`.
fn database_url(cli: &Cli) -> Outcome<Option<String>> {
    if let Some(url) = &cli.database_url {
        return Ok(Some(url.clone()));
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) => Ok(Some(url)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure::new("DATABASE_URL is not valid UTF-8"))
        }
    }
}

async fn dispatch(cli: &Cli, url: &str, store: SqlxStore) -> Outcome<ExitCode> {
    // Where running applications can learn of a revocation at once.
    let bound = RevocationBound::of(&store);
    match &cli.command {
        Command::Migrate => {
            let before = database::applied_migrations(&store).await?;
            store
                .migrate()
                .await
                .map_err(|error| Failure::new(describe(&error)))?;
            let after = database::applied_migrations(&store).await?;
            eprintln!("{}", database::migrated(before, after));
        }
        Command::Create(args) => {
            create(&authenticator(store, &args.prefix.prefix)?, args, bound).await?;
        }
        Command::List(args) => list(&authenticator(store, TokenPrefix::DEFAULT)?, args).await?,
        Command::Revoke(args) => {
            revoke(&authenticator(store, TokenPrefix::DEFAULT)?, args, bound).await?;
        }
        Command::Rotate(args) => {
            rotate(&authenticator(store, &args.prefix.prefix)?, args, bound).await?;
        }
        Command::Check(args) => return check(&authenticator(store, &args.prefix.prefix)?).await,
        Command::PurgeExpired => {
            let auth = authenticator(store, TokenPrefix::DEFAULT)?;
            let purged = auth.purge_expired().await.map_err(|e| store_failure(&e))?;
            println!("Purged {}.", report::count(purged, "expired token"));
        }
        Command::ImportDrf(args) => {
            import::run(&store, url, &hasher()?, &args.from, &args.table).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(
    auth: &Authenticator<String>,
    args: &CreateArgs,
    bound: RevocationBound,
) -> Outcome<()> {
    let user_id = require_user_id(&args.user_id)?;
    let mut options = IssueOptions::new()
        .name(args.name.clone().unwrap_or_default())
        .scopes(args.scopes.iter().cloned());
    options = match &args.expires_in {
        Some(text) => {
            let ttl = require_duration(text, "--expires-in")?;
            if ttl.is_zero() {
                return Err(Failure::new("--expires-in must be longer than 0s"));
            }
            options.expires_in(ttl)
        }
        None => options.never_expires(),
    };
    let issued = auth
        .issue(user_id, options)
        .await
        .map_err(|e| issue_failure(&e, None))?;
    let info = issued.info();
    // The token first: it exists now, whatever happens next.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", issued.token().expose_secret())
        .and_then(|()| stdout.flush())
        .map_err(|error| Failure::new(format!("cannot write the token: {error}")))?;
    eprintln!("Created {}.", report::describe_token(info));
    if args.reset {
        let mut revoked = 0;
        for other in auth
            .list(Some(user_id))
            .await
            .map_err(|e| store_failure(&e))?
        {
            if other.id != info.id && auth.revoke(other.id).await.map_err(|e| store_failure(&e))? {
                revoked += 1;
            }
        }
        eprintln!(
            "Revoked {} of user {}.",
            report::count(revoked, "other token"),
            report::escape(user_id)
        );
        if revoked > 0 {
            eprintln!("{}", bound.after_revoking(revoked));
        }
    }
    Ok(())
}

async fn list(auth: &Authenticator<String>, args: &ListArgs) -> Outcome<()> {
    let user = args.user.as_deref().map(require_user_id).transpose()?;
    let tokens = auth.list(user).await.map_err(|e| store_failure(&e))?;
    let now = time::OffsetDateTime::now_utc();
    let text = if args.json {
        report::json(&tokens, now)
    } else {
        report::table(&tokens, now)
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| Failure::new(format!("cannot write the list: {error}")))
}

async fn revoke(
    auth: &Authenticator<String>,
    args: &RevokeArgs,
    bound: RevocationBound,
) -> Outcome<()> {
    if let Some(user) = &args.user {
        let user_id = require_user_id(user)?;
        let revoked = auth
            .revoke_user(user_id)
            .await
            .map_err(|e| store_failure(&e))?;
        println!(
            "Revoked {} of user {}.",
            report::count(revoked, "token"),
            report::escape(user_id)
        );
        if revoked > 0 {
            eprintln!("{}", bound.after_revoking(revoked));
        }
        return Ok(());
    }
    let text = args.token_id.as_deref().unwrap_or_default();
    let id = require_token_id(text)?;
    if !auth.revoke(id).await.map_err(|e| store_failure(&e))? {
        return Err(Failure::new(format!("no token with id {id}")));
    }
    println!("Revoked 1 token (id {id}).");
    eprintln!("{}", bound.after_revoking(1));
    Ok(())
}

async fn rotate(
    auth: &Authenticator<String>,
    args: &RotateArgs,
    bound: RevocationBound,
) -> Outcome<()> {
    let id = require_token_id(&args.token_id)?;
    let grace = require_duration(&args.grace, "--grace")?;
    let issued = auth
        .rotate(id, grace)
        .await
        .map_err(|e| issue_failure(&e, Some(id)))?;
    println!("{}", issued.token().expose_secret());
    let until = time::OffsetDateTime::now_utc() + grace;
    eprintln!(
        "Created {} to replace token {id}, which keeps working until {}.",
        report::describe_token(issued.info()),
        report::time(until)
    );
    eprintln!("{}", bound.after_rotating());
    Ok(())
}

/// The longest token `check` reads; anything longer is not a token.
const MAX_TOKEN_INPUT: u64 = 4096;

/// The exit status after Ctrl-C at the prompt, as a shell reports a SIGINT.
const INTERRUPTED: u8 = 130;

async fn check(auth: &Authenticator<String>) -> Outcome<ExitCode> {
    let stdin = std::io::stdin();
    let mut input = Vec::new();
    if stdin.is_terminal() {
        // Typed, not piped: not shown as it is typed.
        match terminal::read_hidden_line("Token: ").await {
            Ok(terminal::Typed::Line(line)) => input = line.into_bytes(),
            Ok(terminal::Typed::Interrupted) => return Ok(ExitCode::from(INTERRUPTED)),
            Err(error) => return Err(Failure::new(format!("cannot read the token: {error}"))),
        }
    } else {
        stdin
            .lock()
            .take(MAX_TOKEN_INPUT)
            .read_to_end(&mut input)
            .map_err(|error| Failure::new(format!("cannot read the token: {error}")))?;
    }
    let credential = input.trim_ascii();
    if credential.is_empty() {
        return Err(Failure::new("no token on standard input"));
    }
    let result = auth.authenticate_credential(credential).await;
    // The use was recorded in the background: let it finish before the process ends.
    auth.flush().await;
    match result {
        Ok(identity) => {
            let now = time::OffsetDateTime::now_utc();
            print!(
                "{}",
                report::identity(identity.user(), identity.token(), now)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(AuthError::Unavailable(error)) => Err(store_failure(&error)),
        Err(error) => {
            let note = other_prefix(credential, auth.prefix()).unwrap_or_default();
            eprintln!("{}{note}", error.detail());
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(
            redact("mysql://root@localhost/x"),
            "mysql://root@localhost/x"
        );
        assert_eq!(redact("sqlite://a.db?mode=rwc"), "sqlite://a.db?mode=rwc");
        assert_eq!(redact("nonsense"), "nonsense");
    }

    #[test]
    fn errors_fit_on_one_line() {
        let error = std::io::Error::other("first\nsecond");
        assert_eq!(describe(&error), "first second");
        let error = std::io::Error::other("relation \"x\" does not exist at line 1392");
        assert_eq!(describe(&error), "relation \"x\" does not exist");
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
