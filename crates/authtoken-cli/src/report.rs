//! What the command prints about tokens: counts, one-line descriptions, a table for
//! people and JSON for scripts. Never a secret: only [`TokenInfo`] reaches here.

use std::fmt::Write as _;

use authtoken::TokenInfo;
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

/// `1 token`, `3 tokens`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A time in UTC, to the second: `2026-11-29 14:03:07Z`.
pub fn time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_else(|_| at.to_string())
}

/// `active` or `expired`, at `now`.
pub fn state(info: &TokenInfo, now: OffsetDateTime) -> &'static str {
    if info.is_expired_at(now) {
        "expired"
    } else {
        "active"
    }
}

/// `token 5 for user 42 (name "laptop", scopes read write, never expires)`.
pub fn describe_token(info: &TokenInfo) -> String {
    let mut text = format!("token {} for user {}", info.id, info.user_id);
    let mut details = Vec::new();
    if !info.name.is_empty() {
        details.push(format!("name {:?}", info.name));
    }
    if !info.scopes.is_empty() {
        details.push(format!("scopes {}", info.scopes.join(" ")));
    }
    details.push(match info.expires {
        Some(expires) => format!("expires {}", time(expires)),
        None => "never expires".to_owned(),
    });
    let _ = write!(text, " ({})", details.join(", "));
    text
}

/// What `check` prints about the token it accepted.
pub fn identity(user: &str, info: &TokenInfo, now: OffsetDateTime) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "user: {user}");
    let _ = writeln!(text, "token: {}", info.id);
    let _ = writeln!(text, "name: {}", info.name);
    let _ = writeln!(text, "scopes: {}", info.scopes.join(" "));
    let _ = writeln!(text, "created: {}", time(info.created));
    let _ = writeln!(
        text,
        "last used: {}",
        info.last_used.map_or_else(|| "never".to_owned(), time)
    );
    let _ = writeln!(
        text,
        "expires: {}",
        info.expires.map_or_else(|| "never".to_owned(), time)
    );
    let _ = writeln!(text, "state: {}", state(info, now));
    text
}

/// A table for people, one token a row.
pub fn table(tokens: &[TokenInfo], now: OffsetDateTime) -> String {
    if tokens.is_empty() {
        return "No tokens.\n".to_owned();
    }
    let header = [
        "ID",
        "USER",
        "NAME",
        "SCOPES",
        "CREATED",
        "LAST USED",
        "EXPIRES",
        "STATE",
    ];
    let rows: Vec<[String; 8]> = tokens
        .iter()
        .map(|info| {
            [
                info.id.to_string(),
                info.user_id.clone(),
                info.name.clone(),
                info.scopes.join(" "),
                time(info.created),
                info.last_used.map_or_else(|| "-".to_owned(), time),
                info.expires.map_or_else(|| "never".to_owned(), time),
                state(info, now).to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (cell, width) in cells.zip(widths) {
            let _ = write!(out, "{cell:<width$}  ");
        }
        text.push_str(out.trim_end());
        text.push('\n');
    };
    line(&mut header.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    text
}

#[derive(Serialize)]
struct JsonToken<'a> {
    #[serde(flatten)]
    info: &'a TokenInfo,
    state: &'static str,
}

/// JSON for scripts: an array of token objects, each with its `state`.
pub fn json(tokens: &[TokenInfo], now: OffsetDateTime) -> String {
    let rows: Vec<JsonToken<'_>> = tokens
        .iter()
        .map(|info| JsonToken {
            info,
            state: state(info, now),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_owned());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use authtoken::TokenId;
    use time::macros::datetime;

    fn token(id: i64, expires: Option<OffsetDateTime>) -> TokenInfo {
        TokenInfo::new(
            TokenId(id),
            "42".to_owned(),
            "laptop".to_owned(),
            vec!["read".to_owned(), "write".to_owned()],
            datetime!(2026-01-02 03:04:05 UTC),
        )
        .with_expires(expires)
    }

    #[test]
    fn table_shows_state_and_aligns_columns() {
        let now = datetime!(2026-06-01 00:00:00 UTC);
        let text = table(
            &[
                token(1, None),
                token(22, Some(datetime!(2026-02-01 00:00:00 UTC))),
            ],
            now,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID  USER  NAME"));
        assert!(lines[1].starts_with("1   42    laptop  read write  2026-01-02 03:04:05Z"));
        assert!(lines[1].ends_with(&format!("never{}active", " ".repeat(17))));
        assert!(lines[2].ends_with("2026-02-01 00:00:00Z  expired"));
        assert_eq!(table(&[], now), "No tokens.\n");
    }

    #[test]
    fn json_carries_the_state() {
        let now = datetime!(2026-06-01 00:00:00 UTC);
        let value: serde_json::Value =
            serde_json::from_str(&json(&[token(7, None)], now)).expect("valid JSON");
        assert_eq!(value[0]["id"], 7);
        assert_eq!(value[0]["user_id"], "42");
        assert_eq!(value[0]["state"], "active");
        assert_eq!(value[0]["scopes"][1], "write");
        assert_eq!(value[0]["created"], "2026-01-02T03:04:05Z");
    }

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count(1, "token"), "1 token");
        assert_eq!(count(0, "token"), "0 tokens");
        assert_eq!(count(3, "expired token"), "3 expired tokens");
    }
}
