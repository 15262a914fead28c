//! What the command prints about tokens: counts, one-line descriptions, a table for
//! people and JSON for scripts. Never a secret: only [`TokenInfo`] reaches here.
//!
//! User ids, names and scopes come from the database, where an import or a row
//! written by hand may have put anything: every one of them is printed through
//! [`escape`], so that none can move the cursor, clear the screen or retitle the
//! window of the terminal reading the output.

use std::borrow::Cow;
use std::fmt::Write as _;

use authtoken::TokenInfo;
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

/// How many characters of a value [`excerpt`] shows.
const EXCERPT_CHARS: usize = 40;

/// True for a character that must not reach a terminal as it is: a control character
/// (C0, DEL and C1; ESC and CSI start the sequences that drive a terminal), or one
/// that reorders or splits the text around it (the bidirectional controls and the
/// line and paragraph separators).
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{61c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` with each character of [`needs_escape`] written as Rust writes it in a
/// string (`\n`, `\t`, `\u{1b}`) and every other one as it is: `ユーザー` prints as
/// it is, an ESC as `\u{1b}`. A backslash is left alone, so escaping twice changes
/// nothing; `list --json` gives the exact value.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// [`escape`]d `text`, cut after a few dozen characters (`xxxx… (5000 bytes)`), for
/// messages that name a value which may be long.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}… ({} bytes)", escape(&text[..end]), text.len()),
        None => escape(text).into_owned(),
    }
}

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
    let mut text = format!("token {} for user {}", info.id, escape(&info.user_id));
    let mut details = Vec::new();
    if !info.name.is_empty() {
        details.push(format!("name \"{}\"", escape(&info.name)));
    }
    if !info.scopes.is_empty() {
        details.push(format!("scopes {}", escape(&info.scopes.join(" "))));
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
    let _ = writeln!(text, "user: {}", escape(user));
    let _ = writeln!(text, "token: {}", info.id);
    let _ = writeln!(text, "name: {}", escape(&info.name));
    let _ = writeln!(text, "hint: {}", hint(info));
    let _ = writeln!(text, "scopes: {}", escape(&info.scopes.join(" ")));
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

/// The token's hint, [`escape`]d, or `-` when it has none (an imported token, say).
pub fn hint(info: &TokenInfo) -> Cow<'_, str> {
    if info.hint.is_empty() {
        Cow::Borrowed("-")
    } else {
        escape(&info.hint)
    }
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
        "HINT",
        "SCOPES",
        "CREATED",
        "LAST USED",
        "EXPIRES",
        "STATE",
    ];
    let rows: Vec<[String; 9]> = tokens
        .iter()
        .map(|info| {
            [
                info.id.to_string(),
                escape(&info.user_id).into_owned(),
                escape(&info.name).into_owned(),
                hint(info).into_owned(),
                escape(&info.scopes.join(" ")).into_owned(),
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

/// JSON for scripts: an array of token objects, each with its `state`. Strings keep
/// their exact values; the characters of [`needs_escape`] are written as JSON escapes
/// (`\u001b`), as serde leaves DEL, C1 and the bidirectional controls raw.
pub fn json(tokens: &[TokenInfo], now: OffsetDateTime) -> String {
    let rows: Vec<JsonToken<'_>> = tokens
        .iter()
        .map(|info| JsonToken {
            info,
            state: state(info, now),
        })
        .collect();
    let raw = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_owned());
    let mut text = String::with_capacity(raw.len() + 1);
    for c in raw.chars() {
        // serde escapes C0 inside strings, so a raw one is the layout's own newline;
        // any other such character is inside a string, where `\uXXXX` stands for it
        // (each of them is in the BMP).
        if c >= ' ' && needs_escape(c) {
            let _ = write!(text, "\\u{:04x}", u32::from(c));
        } else {
            text.push(c);
        }
    }
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
        .with_hint("atk_3zQ9".to_owned())
        .with_expires(expires)
    }

    #[test]
    fn table_shows_state_and_aligns_columns() {
        let now = datetime!(2026-06-01 00:00:00 UTC);
        let text = table(
            &[
                token(1, None),
                token(22, Some(datetime!(2026-02-01 00:00:00 UTC))),
                TokenInfo::new(
                    TokenId(3),
                    "7".to_owned(),
                    "imported".to_owned(),
                    Vec::new(),
                    datetime!(2026-01-02 03:04:05 UTC),
                ),
            ],
            now,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("ID  USER  NAME      HINT      SCOPES"));
        assert!(
            lines[1].starts_with("1   42    laptop    atk_3zQ9  read write  2026-01-02 03:04:05Z")
        );
        assert!(lines[1].ends_with(&format!("never{}active", " ".repeat(17))));
        assert!(lines[2].ends_with("2026-02-01 00:00:00Z  expired"));
        assert!(lines[3].starts_with("3   7     imported  -                     2026-01-02"));
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
        assert_eq!(value[0]["hint"], "atk_3zQ9");
    }

    #[test]
    fn escapes_what_drives_a_terminal_and_nothing_else() {
        assert_eq!(escape("42"), "42");
        assert!(matches!(escape("ユーザー"), Cow::Borrowed("ユーザー")));
        assert_eq!(escape("Zoë 🦀 C:\\x"), "Zoë 🦀 C:\\x");
        assert_eq!(escape("1\u{1b}[2J"), "1\\u{1b}[2J");
        assert_eq!(escape("a\tb\nc\r\0"), "a\\tb\\nc\\r\\0");
        assert_eq!(escape("\u{7f}\u{9b}2J"), "\\u{7f}\\u{9b}2J");
        assert_eq!(escape("\u{202e}fdp.exe"), "\\u{202e}fdp.exe");
        assert_eq!(escape("a\u{2028}b"), "a\\u{2028}b");
        // Twice is once.
        let once = escape("1\u{1b}[2J\u{9b}").into_owned();
        assert_eq!(escape(&once), once);
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt("42"), "42");
        let long = format!("{}\u{1b}[2J", "7".repeat(4996));
        let shown = excerpt(&long);
        assert_eq!(shown, format!("{}… (5000 bytes)", "7".repeat(40)));
        let hostile = format!("\u{1b}{}", "x".repeat(100));
        assert!(excerpt(&hostile).starts_with("\\u{1b}xxx"));
        assert!(!excerpt(&hostile).contains('\u{1b}'));
    }

    #[test]
    fn hostile_values_are_escaped_in_every_output() {
        let now = datetime!(2026-06-01 00:00:00 UTC);
        let info = TokenInfo::new(
            TokenId(3),
            "1\u{1b}[2J".to_owned(),
            "\u{1b}]0;owned\u{7}".to_owned(),
            vec!["read\u{9b}".to_owned()],
            datetime!(2026-01-02 03:04:05 UTC),
        )
        .with_hint("\u{1b}[2Jx".to_owned());
        let all = [
            table(std::slice::from_ref(&info), now),
            describe_token(&info),
            identity(&info.user_id, &info, now),
            json(std::slice::from_ref(&info), now),
        ];
        for text in &all {
            assert!(!text.chars().any(needs_escape_raw), "{text:?}");
        }
        assert!(all[0].contains("1\\u{1b}[2J") && all[0].contains("\\u{1b}]0;owned\\u{7}"));
        assert!(all[1].contains("user 1\\u{1b}[2J"), "{}", all[1]);
        assert!(all[2].contains("user: 1\\u{1b}[2J"), "{}", all[2]);
        let value: serde_json::Value = serde_json::from_str(&all[3]).expect("valid JSON");
        assert_eq!(value[0]["user_id"], "1\u{1b}[2J");
        assert_eq!(value[0]["name"], "\u{1b}]0;owned\u{7}");
        assert_eq!(value[0]["scopes"][0], "read\u{9b}");
        assert!(all[0].contains("\\u{1b}[2Jx") && all[2].contains("hint: \\u{1b}[2Jx\n"));
    }

    /// A character that would reach the terminal raw (newlines are the layout's own).
    fn needs_escape_raw(c: char) -> bool {
        c != '\n' && needs_escape(c)
    }

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count(1, "token"), "1 token");
        assert_eq!(count(0, "token"), "0 tokens");
        assert_eq!(count(3, "expired token"), "3 expired tokens");
    }
}
