//! Reading tokens back from the application's own query, for an
//! [`authtoken::JoinedLookup`] that joins the token table with its user table.
//!
//! The lookup is asked for several digests at once. One statement text serves any
//! number of them:
//!
//! - SQLite: `WHERE authtoken_tokens.digest IN (SELECT unhex(value) FROM json_each($1))`,
//!   bound to [`digests_json`];
//! - PostgreSQL: `WHERE authtoken_tokens.digest = ANY($1)`, bound to the digests as a
//!   `Vec<Vec<u8>>` (`BYTEA[]`);
//! - MySQL and MariaDB: `WHERE authtoken_tokens.digest IN (SELECT UNHEX(d) FROM
//!   JSON_TABLE(?, '$[*]' COLUMNS (d CHAR(64) PATH '$')) AS digests)`, bound to
//!   [`digests_json`].

use authtoken::{TokenDigest, TokenRecord};

use crate::{Columns, Error};

/// The token columns for a [`authtoken::JoinedLookup`] query to select, from the table
/// [`crate::TOKENS_TABLE`] (not aliased), as a string literal, so that
/// `concat!` can build a query that stays `&'static str`. Each column is renamed
/// `authtoken_<column>`, so that none clashes with a column of the user table;
/// [`read_token`] reads them back.
///
/// ```
/// const FIND_WITH_USER: &str = concat!(
///     "SELECT ",
///     authtoken_sqlx::token_columns!(),
///     ", users.username, users.is_active FROM authtoken_tokens \
///      LEFT JOIN users ON users.id = CAST(authtoken_tokens.user_id AS BIGINT) \
///      WHERE authtoken_tokens.digest = $1",
/// );
/// assert!(FIND_WITH_USER.contains("authtoken_tokens.digest AS authtoken_digest"));
/// ```
#[macro_export]
macro_rules! token_columns {
    () => {
        "authtoken_tokens.id AS authtoken_id, \
         authtoken_tokens.digest AS authtoken_digest, \
         authtoken_tokens.key_version AS authtoken_key_version, \
         authtoken_tokens.user_id AS authtoken_user_id, \
         authtoken_tokens.name AS authtoken_name, \
         authtoken_tokens.hint AS authtoken_hint, \
         authtoken_tokens.scopes AS authtoken_scopes, \
         authtoken_tokens.created_at AS authtoken_created_at, \
         authtoken_tokens.expires_at AS authtoken_expires_at, \
         authtoken_tokens.expiry_limit AS authtoken_expiry_limit, \
         authtoken_tokens.last_used_at AS authtoken_last_used_at"
    };
}

/// [`token_columns!`] as a constant.
pub const TOKEN_COLUMNS: &str = token_columns!();

/// `digests` as a JSON array of hex strings, for the SQLite and MySQL forms of the
/// lookup above.
///
/// ```
/// use authtoken::TokenDigest;
/// let digests = [TokenDigest::from_bytes([0xab; 32])];
/// assert_eq!(authtoken_sqlx::digests_json(&digests), format!("[\"{}\"]", "ab".repeat(32)));
/// ```
pub fn digests_json(digests: &[TokenDigest]) -> String {
    let mut json = String::with_capacity(2 + digests.len() * 67);
    json.push('[');
    for (n, digest) in digests.iter().enumerate() {
        if n > 0 {
            json.push(',');
        }
        json.push('"');
        json.push_str(&digest.to_hex());
        json.push('"');
    }
    json.push(']');
    json
}

mod sealed {
    pub trait Sealed {}
}

/// A row of one of the supported databases, from which [`read_token`] reads the
/// [`TOKEN_COLUMNS`].
pub trait TokenRow: sealed::Sealed {
    /// Reads the token.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] when a column is missing or of another type;
    /// [`Error::CorruptRow`] when a value is out of range.
    fn read_token(&self) -> Result<TokenRecord, Error>;
}

/// Reads the token a row's [`TOKEN_COLUMNS`] hold, as the store itself would.
///
/// # Errors
///
/// As [`TokenRow::read_token`].
pub fn read_token<R: TokenRow>(row: &R) -> Result<TokenRecord, Error> {
    row.read_token()
}

#[cfg(feature = "sqlite")]
impl sealed::Sealed for sqlx::sqlite::SqliteRow {}

#[cfg(feature = "sqlite")]
impl TokenRow for sqlx::sqlite::SqliteRow {
    fn read_token(&self) -> Result<TokenRecord, Error> {
        crate::sqlite::read_columns(self, &Columns::JOINED)
    }
}

#[cfg(feature = "postgres")]
impl sealed::Sealed for sqlx::postgres::PgRow {}

#[cfg(feature = "postgres")]
impl TokenRow for sqlx::postgres::PgRow {
    fn read_token(&self) -> Result<TokenRecord, Error> {
        crate::postgres::read_columns(self, &Columns::JOINED)
    }
}

#[cfg(feature = "mysql")]
impl sealed::Sealed for sqlx::mysql::MySqlRow {}

#[cfg(feature = "mysql")]
impl TokenRow for sqlx::mysql::MySqlRow {
    fn read_token(&self) -> Result<TokenRecord, Error> {
        crate::mysql::read_columns(self, &Columns::JOINED)
    }
}
