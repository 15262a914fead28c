//! Settings from the environment.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use authtoken::InvalidTokenLimit;

/// Where the demo listens and which database it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The address to bind: 127.0.0.1, so that the demo is never exposed by accident.
    pub host: IpAddr,
    /// The port (`PORT`, default 3000; 0 picks a free one).
    pub port: u16,
    /// The database (`DATABASE_URL`, default a SQLite file in the working directory;
    /// `postgres://user:password@host/db` for PostgreSQL, `mysql://user:password@host/db`
    /// for MySQL or MariaDB).
    pub database_url: String,
    /// How many invalid tokens one client may send before it is answered 429
    /// (`INVALID_TOKEN_LIMIT`: `failures/seconds`, default `20/60`; `off` for none).
    pub invalid_token_limit: Option<InvalidTokenLimit>,
}

/// `PORT` is not a port number, or `INVALID_TOKEN_LIMIT` is not `failures/seconds`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// The port when `PORT` is not set.
    pub const DEFAULT_PORT: u16 = 3000;
    /// The database when `DATABASE_URL` is not set: `authtoken-demo.db` in the working
    /// directory, created when missing.
    pub const DEFAULT_DATABASE_URL: &'static str = "sqlite://authtoken-demo.db?mode=rwc";
    /// The invalid-token limit when `INVALID_TOKEN_LIMIT` is not set: 20 per minute
    /// from one client.
    pub const DEFAULT_INVALID_TOKEN_LIMIT: &'static str = "20/60";

    /// Reads `PORT`, `DATABASE_URL` and `INVALID_TOKEN_LIMIT`; unset or empty
    /// variables take the defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `PORT` is not a port number or `INVALID_TOKEN_LIMIT` is
    /// neither `failures/seconds` nor `off`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let port = std::env::var("PORT").ok();
        let database_url = std::env::var("DATABASE_URL").ok();
        let limit = std::env::var("INVALID_TOKEN_LIMIT").ok();
        let mut config = Self::from_vars(port.as_deref(), database_url.as_deref())?;
        config.invalid_token_limit = parse_limit(limit.as_deref())?;
        Ok(config)
    }

    /// As [`Config::from_env`], from given values.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `port` is not a port number.
    pub fn from_vars(port: Option<&str>, database_url: Option<&str>) -> Result<Self, ConfigError> {
        let port = match port.map(str::trim).filter(|port| !port.is_empty()) {
            None => Self::DEFAULT_PORT,
            Some(port) => port.parse().map_err(|_| {
                ConfigError(format!(
                    "PORT must be a number from 0 to 65535, not {port:?}"
                ))
            })?,
        };
        let database_url = database_url
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .unwrap_or(Self::DEFAULT_DATABASE_URL)
            .to_owned();
        Ok(Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            database_url,
            invalid_token_limit: parse_limit(None)?,
        })
    }

    /// `host:port`, to bind.
    pub fn bind_address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The database URL with its password, if any, replaced by `***`: what may be
    /// printed or logged.
    pub fn redacted_database_url(&self) -> String {
        redact_password(&self.database_url)
    }
}

/// `failures/seconds` (or `off`, `0`) as a limit; `None` or empty is the default.
fn parse_limit(value: Option<&str>) -> Result<Option<InvalidTokenLimit>, ConfigError> {
    let value = value
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or(Config::DEFAULT_INVALID_TOKEN_LIMIT);
    if ["off", "0", "false", "no"]
        .iter()
        .any(|off| value.eq_ignore_ascii_case(off))
    {
        return Ok(None);
    }
    let parsed = value.split_once('/').and_then(|(failures, seconds)| {
        let failures: u32 = failures.trim().parse().ok()?;
        let seconds: u64 = seconds.trim().parse().ok().filter(|&s| s > 0)?;
        Some(InvalidTokenLimit::new(
            failures,
            Duration::from_secs(seconds),
        ))
    });
    parsed.map(Some).ok_or_else(|| {
        ConfigError(format!(
            "INVALID_TOKEN_LIMIT must be failures/seconds (such as 20/60) or off, not {value:?}"
        ))
    })
}

/// `url` with the password of `scheme://user:password@host` replaced by `***`.
pub(crate) fn redact_password(url: &str) -> String {
    let Some(authority_start) = url.find("://").map(|at| at + 3) else {
        return url.to_owned();
    };
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    match authority[..at].split_once(':') {
        Some((user, _password)) => format!(
            "{}{user}:***{}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = Config::from_vars(None, Some("")).expect("defaults");
        assert_eq!(config.bind_address().to_string(), "127.0.0.1:3000");
        assert_eq!(config.database_url, "sqlite://authtoken-demo.db?mode=rwc");
    }

    #[test]
    fn overrides() {
        let config = Config::from_vars(Some("8080"), Some("sqlite::memory:")).expect("valid");
        assert_eq!(config.port, 8080);
        assert_eq!(config.database_url, "sqlite::memory:");
    }

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            (
                "postgres://app:s3cr%40t@db.example:5432/app?sslmode=require",
                "postgres://app:***@db.example:5432/app?sslmode=require",
            ),
            (
                "postgres://app@localhost/app",
                "postgres://app@localhost/app",
            ),
            (
                "postgres://localhost/app?user=a",
                "postgres://localhost/app?user=a",
            ),
            (
                "sqlite://authtoken-demo.db?mode=rwc",
                "sqlite://authtoken-demo.db?mode=rwc",
            ),
            ("sqlite::memory:", "sqlite::memory:"),
        ] {
            let config = Config::from_vars(None, Some(url)).expect("valid");
            assert_eq!(config.redacted_database_url(), shown, "{url}");
        }
    }

    #[test]
    fn the_invalid_token_limit() {
        let default = Config::from_vars(None, None).expect("defaults");
        assert_eq!(
            default.invalid_token_limit,
            Some(InvalidTokenLimit::new(20, Duration::from_secs(60)))
        );
        assert_eq!(
            parse_limit(Some(" 5 / 10 ")),
            Ok(Some(InvalidTokenLimit::new(5, Duration::from_secs(10))))
        );
        assert_eq!(parse_limit(Some("OFF")), Ok(None));
        for bad in ["5", "5/0", "x/60", "5/-1"] {
            let error = parse_limit(Some(bad)).expect_err(bad);
            assert!(error.to_string().contains("INVALID_TOKEN_LIMIT"), "{error}");
        }
    }

    #[test]
    fn a_bad_port_is_an_error() {
        let error = Config::from_vars(Some("eighty"), None).expect_err("not a number");
        assert!(error.to_string().contains("eighty"));
        Config::from_vars(Some("65536"), None).expect_err("out of range");
    }
}
