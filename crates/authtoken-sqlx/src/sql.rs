//! The store's queries, each written once with `$1`-style placeholders, which SQLite
//! and PostgreSQL both read; MySQL reads them through [`mysql!`], which writes each
//! `$n` as `?` at compile time (its binds then follow the order the placeholders
//! appear in). What stays in a backend's module is what really differs: how times
//! are bound and read (SQLite keeps unix microseconds), PostgreSQL's advisory lock
//! and listener, and MySQL's lock row and missing `RETURNING`.

/// Looks a token up by digest; binds the digest.
pub(crate) const FIND_BY_DIGEST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM authtoken_tokens WHERE digest = $1"
);

/// Looks a token up by id; binds the id.
pub(crate) const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM authtoken_tokens WHERE id = $1"
);

/// Issues a token, unless the user holds `$8` live tokens at `$6` (no limit when `$8`
/// is null); binds digest, key version, user id, name, scopes, created, expires,
/// limit, expiry limit, hint. One statement, so that the count and the insert cannot
/// interleave on SQLite; PostgreSQL runs it under the user's advisory lock. (MySQL
/// has no `INSERT ... RETURNING`: its module counts and inserts under a row lock.)
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) const INSERT_RETURNING: &str = concat!(
    "INSERT INTO authtoken_tokens \
         (digest, key_version, user_id, name, scopes, created_at, expires_at, expiry_limit, \
          hint) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $9, $10 \
     WHERE CAST($8 AS BIGINT) IS NULL OR (SELECT COUNT(*) FROM authtoken_tokens \
         WHERE user_id = $3 AND (expires_at IS NULL OR expires_at > $6)) < $8 \
     RETURNING ",
    columns!()
);

/// Deletes one token and returns it; binds the id.
pub(crate) const DELETE_ONE_RETURNING: &str = concat!(
    "DELETE FROM authtoken_tokens WHERE id = $1 RETURNING ",
    columns!()
);

/// Deletes every token of a user and returns them; binds the user id.
pub(crate) const DELETE_USER_RETURNING: &str = concat!(
    "DELETE FROM authtoken_tokens WHERE user_id = $1 RETURNING ",
    columns!()
);

/// A last use with a sliding-expiry move, as a compare-and-set: only while the row
/// still holds the expiry read (`$3`), and never past its limit; binds id, used at,
/// from, to.
pub(crate) const TOUCH_SLIDING: &str = "UPDATE authtoken_tokens \
     SET last_used_at = $2, expires_at = $4 \
     WHERE id = $1 AND expires_at = $3 AND COALESCE(expiry_limit, expires_at) >= $4";

/// A last use; binds id, used at.
pub(crate) const TOUCH: &str = "UPDATE authtoken_tokens SET last_used_at = $2 WHERE id = $1";

/// Brings the expiry and the expiry limit forward to `$2`, never later; binds id, at.
pub(crate) const SHORTEN_EXPIRY: &str = "UPDATE authtoken_tokens SET \
     expires_at = CASE WHEN expires_at IS NULL OR expires_at > $2 THEN $2 ELSE expires_at END, \
     expiry_limit = CASE WHEN expiry_limit IS NULL OR expiry_limit > $2 \
         THEN $2 ELSE expiry_limit END \
     WHERE id = $1";

/// Re-keys a token; binds id, digest, key version.
pub(crate) const REPLACE_DIGEST: &str =
    "UPDATE authtoken_tokens SET digest = $2, key_version = $3 WHERE id = $1";

/// Deletes the tokens expired at `$1`; binds now.
pub(crate) const PURGE_EXPIRED: &str =
    "DELETE FROM authtoken_tokens WHERE expires_at IS NOT NULL AND expires_at <= $1";

/// The length of `sql` with each `$n` written as `?`.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
pub(crate) const fn question_marks_len(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let (mut at, mut len) = (0, 0);
    while at < bytes.len() {
        at += step(placeholder_len(bytes, at));
        len += 1;
    }
    len
}

/// `sql` with each `$n` written as `?`, in `N` bytes ([`question_marks_len`]).
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
pub(crate) const fn question_marks<const N: usize>(sql: &str) -> [u8; N] {
    let bytes = sql.as_bytes();
    let mut out = [0u8; N];
    let (mut at, mut len) = (0, 0);
    while at < bytes.len() {
        let placeholder = placeholder_len(bytes, at);
        out[len] = if placeholder > 0 { b'?' } else { bytes[at] };
        at += step(placeholder);
        len += 1;
    }
    out
}

/// How far to move past a placeholder of `len` bytes, or one byte of text.
const fn step(len: usize) -> usize {
    if len == 0 { 1 } else { len }
}

/// How long the `$n` placeholder starting at `at` is, 0 when none starts there.
const fn placeholder_len(bytes: &[u8], at: usize) -> usize {
    if bytes[at] != b'$' {
        return 0;
    }
    let mut end = at + 1;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end == at + 1 { 0 } else { end - at }
}

/// One of the queries above as MySQL reads it, made at compile time.
#[cfg(feature = "mysql")]
macro_rules! mysql {
    ($sql:expr) => {{
        const LEN: usize = $crate::sql::question_marks_len($sql);
        const BYTES: [u8; LEN] = $crate::sql::question_marks::<LEN>($sql);
        const SQL: &str = match ::core::str::from_utf8(&BYTES) {
            Ok(sql) => sql,
            Err(_) => panic!("a query is not UTF-8"),
        };
        SQL
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_question_marks() {
        const SQL: &str = "SELECT $1, $12 FROM t WHERE a = $3 AND b = '$' AND c = $x";
        const LEN: usize = question_marks_len(SQL);
        let out = question_marks::<LEN>(SQL);
        assert_eq!(
            std::str::from_utf8(&out),
            Ok("SELECT ?, ? FROM t WHERE a = ? AND b = '$' AND c = $x")
        );
    }
}
