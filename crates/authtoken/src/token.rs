//! The token format: generation, the checksum, and parsing without allocation.
//!
//! A token reads `{prefix}_{random}{check}`:
//!
//! - `prefix` is the application's, `[a-z0-9]{1,16}` (see [`TokenPrefix`]);
//! - `random` is 32 base62 characters drawn from a CSPRNG seeded by the operating
//!   system (about 190 bits);
//! - `check` is 6 base62 characters of the CRC32 of `{prefix}_{random}`.
//!
//! The checksum lets a secret scanner recognise a leaked token and lets a typo be
//! rejected before any digest is computed or any store is asked.

use std::fmt;

use rand::Rng;
use zeroize::Zeroizing;

/// The base62 alphabet, digits first, as GitHub's tokens use it.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Number of random base62 characters in a token.
pub const RANDOM_LEN: usize = 32;
/// Number of base62 characters of the CRC32 checksum.
pub const CHECK_LEN: usize = 6;
/// Longest accepted prefix.
pub const MAX_PREFIX_LEN: usize = 16;
/// Length of a legacy Django REST Framework key (40 lowercase hex characters).
pub const LEGACY_KEY_LEN: usize = 40;
/// The most characters a token's [hint](PlaintextToken::hint) has.
pub const HINT_MAX_LEN: usize = 8;
/// How many of a token's last characters its [hint](PlaintextToken::hint) shows: all
/// of them from the checksum, none from the random part.
pub const HINT_TAIL_LEN: usize = 4;

/// The application's token prefix: `[a-z0-9]{1,16}`, such as `atk` in `atk_...`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenPrefix {
    bytes: [u8; MAX_PREFIX_LEN],
    len: u8,
}

/// The prefix given to [`TokenPrefix::new`] is not `[a-z0-9]{1,16}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token prefix must be 1 to 16 characters of [a-z0-9], got {0:?}")]
pub struct InvalidPrefix(pub String);

impl TokenPrefix {
    /// The prefix used when the application sets none.
    pub const DEFAULT: &'static str = "atk";

    /// Checks and wraps a prefix.
    ///
    /// # Errors
    ///
    /// [`InvalidPrefix`] unless `prefix` is 1 to 16 characters of `[a-z0-9]`.
    pub fn new(prefix: &str) -> Result<Self, InvalidPrefix> {
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(InvalidPrefix(prefix.to_owned()));
        }
        let mut bytes = [0u8; MAX_PREFIX_LEN];
        bytes[..prefix.len()].copy_from_slice(prefix.as_bytes());
        Ok(Self {
            bytes,
            // The length was checked to be at most 16 just above.
            len: prefix.len() as u8,
        })
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes were ever stored, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Length of a whole token with this prefix.
    pub fn token_len(&self) -> usize {
        usize::from(self.len) + 1 + RANDOM_LEN + CHECK_LEN
    }

    /// Draws a new token with this prefix from the thread-local CSPRNG
    /// (ChaCha, seeded and reseeded from the operating system).
    pub fn generate(&self) -> PlaintextToken {
        let mut rng = rand::rng();
        let mut text = Zeroizing::new(String::with_capacity(self.token_len()));
        text.push_str(self.as_str());
        text.push('_');
        let mut filled = 0;
        let mut buf = Zeroizing::new([0u8; 64]);
        while filled < RANDOM_LEN {
            rng.fill_bytes(buf.as_mut());
            for &byte in buf.iter() {
                // 248 = 4 * 62: rejecting the top values keeps every character equally likely.
                if byte < 248 && filled < RANDOM_LEN {
                    text.push(char::from(BASE62[usize::from(byte % 62)]));
                    filled += 1;
                }
            }
        }
        let check = encode_check(crc32(text.as_bytes()));
        for byte in check {
            text.push(char::from(byte));
        }
        PlaintextToken { text }
    }

    /// Checks that `credential` is a well-formed token of this prefix with a valid
    /// checksum. Runs in constant memory and never allocates.
    pub fn matches(&self, credential: &[u8]) -> bool {
        let prefix = self.as_bytes();
        if credential.len() != self.token_len()
            || !credential.starts_with(prefix)
            || credential[prefix.len()] != b'_'
        {
            return false;
        }
        let (body, check) = credential.split_at(credential.len() - CHECK_LEN);
        let random = &body[prefix.len() + 1..];
        // Every byte is read (no early exit): the compiler checks many at once.
        if !random.iter().fold(true, |alphanumeric, &b| {
            alphanumeric & b.is_ascii_alphanumeric()
        }) {
            return false;
        }
        match decode_check(check) {
            Some(expected) => crc32(body) == expected,
            None => false,
        }
    }
}

impl Default for TokenPrefix {
    fn default() -> Self {
        Self::new(Self::DEFAULT).unwrap_or_else(|_| unreachable!("the default prefix is valid"))
    }
}

impl fmt::Debug for TokenPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenPrefix").field(&self.as_str()).finish()
    }
}

impl fmt::Display for TokenPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a credential from a request turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A token in this library's format, prefix and checksum verified.
    Token,
    /// A legacy Django REST Framework key (40 lowercase hex characters).
    LegacyKey,
}

/// Classifies a credential without allocating: a token of `prefix`, a legacy DRF key
/// when `legacy_keys` is on, or `None` when it can be neither (and so cannot be valid).
pub fn classify(
    prefix: &TokenPrefix,
    credential: &[u8],
    legacy_keys: bool,
) -> Option<CredentialKind> {
    if prefix.matches(credential) {
        Some(CredentialKind::Token)
    } else if legacy_keys && is_legacy_key(credential) {
        Some(CredentialKind::LegacyKey)
    } else {
        None
    }
}

/// True for a Django REST Framework key: exactly 40 lowercase hex characters
/// (`binascii.hexlify(os.urandom(20))`).
pub fn is_legacy_key(credential: &[u8]) -> bool {
    credential.len() == LEGACY_KEY_LEN
        && credential
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Six base62 digits, most significant first. 62^6 > 2^32, so every CRC32 fits.
fn encode_check(mut value: u32) -> [u8; CHECK_LEN] {
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

fn decode_check(digits: &[u8]) -> Option<u32> {
    let mut value: u64 = 0;
    for &digit in digits {
        let d = match digit {
            b'0'..=b'9' => digit - b'0',
            b'A'..=b'Z' => digit - b'A' + 10,
            b'a'..=b'z' => digit - b'a' + 36,
            _ => return None,
        };
        value = value * 62 + u64::from(d);
    }
    u32::try_from(value).ok()
}

/// A token in plain text: it exists once, in the value returned when the token is
/// issued, and is zeroized when dropped.
///
/// `Debug` and `Display` show only the prefix; the secret is handed out by
/// [`PlaintextToken::expose_secret`] alone, so that every place that reads it says so.
pub struct PlaintextToken {
    text: Zeroizing<String>,
}

impl PlaintextToken {
    /// The whole token, to give to the client once. Do not log it.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// Wraps a token received from elsewhere (say, read from a terminal), so that it
    /// is zeroized and redacted like a fresh one.
    pub fn from_secret(secret: String) -> Self {
        Self {
            text: Zeroizing::new(secret),
        }
    }

    /// A few characters that identify the token to a person (in a list of their
    /// tokens, say) without revealing it: the prefix, `_`, and the token's last
    /// [`HINT_TAIL_LEN`] characters, which are checksum characters. When that is
    /// longer than [`HINT_MAX_LEN`], only its last [`HINT_MAX_LEN`] characters are
    /// kept, so the prefix loses its first characters and the tail always stays:
    ///
    /// | prefix | token | hint |
    /// | --- | --- | --- |
    /// | `atk` | `atk_…Xy3zQ9` | `atk_3zQ9` |
    /// | `myapp` | `myapp_…Xy3zQ9` | `app_3zQ9` |
    /// | `abcdefghijklmnop` | `abcdefghijklmnop_…Xy3zQ9` | `nop_3zQ9` |
    ///
    /// The hint never holds a character of the random part, only (at most) four of
    /// the six checksum characters: about 24 bits of a CRC32 of the token, against
    /// the 190 random bits a guess would have to find.
    ///
    /// It is empty for anything that is not a well-formed token with a valid
    /// checksum (a legacy DRF key, say), so that it never shows characters of a
    /// secret that are not checksum characters.
    ///
    /// ```
    /// use authtoken::TokenPrefix;
    ///
    /// let token = TokenPrefix::default().generate();
    /// let hint = token.hint();
    /// assert_eq!(hint.len(), 8);
    /// assert!(hint.starts_with("atk_"));
    /// assert!(token.expose_secret().ends_with(&hint[4..]));
    /// ```
    pub fn hint(&self) -> String {
        let text = self.text.as_str();
        let Some((prefix, _)) = text.split_once('_') else {
            return String::new();
        };
        let well_formed =
            TokenPrefix::new(prefix).is_ok_and(|prefix| prefix.matches(text.as_bytes()));
        if !well_formed {
            return String::new();
        }
        // Only ASCII passed the check above, so every index is a character boundary.
        let tail = &text[text.len() - HINT_TAIL_LEN..];
        let keep = prefix.len().min(HINT_MAX_LEN - 1 - HINT_TAIL_LEN);
        let mut hint = String::with_capacity(HINT_MAX_LEN);
        hint.push_str(&prefix[prefix.len() - keep..]);
        hint.push('_');
        hint.push_str(tail);
        hint
    }

    fn visible_prefix(&self) -> &str {
        match self.text.find('_') {
            Some(end) if end <= MAX_PREFIX_LEN => &self.text[..=end],
            _ => "",
        }
    }
}

impl fmt::Debug for PlaintextToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlaintextToken(\"{}<redacted>\")", self.visible_prefix())
    }
}

impl fmt::Display for PlaintextToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}<redacted>", self.visible_prefix())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn prefix() -> TokenPrefix {
        TokenPrefix::new("test").expect("valid prefix")
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let token = prefix().generate();
        let text = token.expose_secret();
        assert_eq!(text.len(), 4 + 1 + RANDOM_LEN + CHECK_LEN);
        assert!(text.starts_with("test_"));
        assert!(text[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(prefix().matches(text.as_bytes()));
    }

    #[test]
    fn ten_thousand_tokens_are_distinct_and_parse() {
        let prefix = prefix();
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let token = prefix.generate();
            assert!(prefix.matches(token.expose_secret().as_bytes()));
            assert!(seen.insert(token.expose_secret().to_owned()));
        }
    }

    #[test]
    fn every_one_character_typo_is_caught() {
        let prefix = prefix();
        let token = prefix.generate();
        let original = token.expose_secret().as_bytes().to_vec();
        for position in 0..original.len() {
            for &replacement in BASE62.iter().chain(b"_-") {
                if replacement == original[position] {
                    continue;
                }
                let mut typo = original.clone();
                typo[position] = replacement;
                assert!(
                    !prefix.matches(&typo),
                    "typo at {position} accepted: {}",
                    String::from_utf8_lossy(&typo)
                );
            }
        }
    }

    #[test]
    fn swapped_neighbours_are_caught() {
        let prefix = prefix();
        let token = prefix.generate();
        let original = token.expose_secret().as_bytes().to_vec();
        for position in 5..original.len() - 1 {
            if original[position] == original[position + 1] {
                continue;
            }
            let mut swapped = original.clone();
            swapped.swap(position, position + 1);
            assert!(!prefix.matches(&swapped));
        }
    }

    #[test]
    fn wrong_prefix_length_and_truncation_are_rejected() {
        let token = prefix().generate();
        let text = token.expose_secret();
        let other = TokenPrefix::new("tesx").expect("valid prefix");
        assert!(!other.matches(text.as_bytes()));
        assert!(!prefix().matches(&text.as_bytes()[..text.len() - 1]));
        assert!(!prefix().matches(format!("{text}0").as_bytes()));
        assert!(!prefix().matches(b""));
        assert!(!prefix().matches(b"test_"));
    }

    #[test]
    fn prefixes_are_validated() {
        for bad in [
            "",
            "UPPER",
            "has_underscore",
            "seventeen-chars-x",
            "ä",
            "a b",
        ] {
            assert!(TokenPrefix::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "atk", "myapp2", "abcdefghijklmnop"] {
            assert_eq!(TokenPrefix::new(good).expect("valid").as_str(), good);
        }
        assert_eq!(TokenPrefix::default().as_str(), "atk");
    }

    #[test]
    fn check_digits_round_trip_at_the_extremes() {
        for value in [0, 1, 61, 62, u32::MAX / 2, u32::MAX] {
            assert_eq!(decode_check(&encode_check(value)), Some(value));
        }
        assert_eq!(decode_check(b"zzzzzz"), None, "62^6 - 1 exceeds u32");
        assert_eq!(decode_check(b"00000!"), None);
        // Every byte in every position: a base62 digit counts its place value, any
        // other byte makes the check invalid.
        for position in 0..CHECK_LEN {
            for byte in 0..=u8::MAX {
                let mut digits = *b"000000";
                digits[position] = byte;
                let place = 62u64.pow((CHECK_LEN - 1 - position) as u32);
                let expected = BASE62
                    .iter()
                    .position(|&digit| digit == byte)
                    .and_then(|value| u32::try_from(value as u64 * place).ok());
                assert_eq!(decode_check(&digits), expected, "{byte:#04x} at {position}");
            }
        }
    }

    #[test]
    fn legacy_keys_are_forty_lowercase_hex() {
        let key = b"9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
        assert!(is_legacy_key(key));
        assert!(!is_legacy_key(b"9944B09199C62BCF9418AD846DD0E4BBDFC6EE4B"));
        assert!(!is_legacy_key(&key[..39]));
        assert_eq!(classify(&prefix(), key, false), None);
        assert_eq!(
            classify(&prefix(), key, true),
            Some(CredentialKind::LegacyKey)
        );
    }

    /// The hint of `token` with `prefix`, checked against the rule: at most
    /// [`HINT_MAX_LEN`] characters, the prefix's last characters (as many as fit),
    /// `_`, and the last [`HINT_TAIL_LEN`] characters of the checksum.
    fn assert_hint_rule(prefix: &str, token: &PlaintextToken) -> String {
        let secret = token.expose_secret();
        let hint = token.hint();
        assert!(hint.len() <= HINT_MAX_LEN, "{hint:?} is too long");
        let (shown_prefix, tail) = hint.split_once('_').expect("an underscore");
        assert!(prefix.ends_with(shown_prefix), "{hint:?} for {prefix:?}");
        assert_eq!(shown_prefix.len(), prefix.len().min(3), "{hint:?}");
        assert_eq!(tail.len(), HINT_TAIL_LEN, "{hint:?}");
        let check = &secret[secret.len() - CHECK_LEN..];
        // With the checks above: the prefix's end, `_`, and four checksum characters;
        // nothing of the random part.
        assert!(
            check.ends_with(tail),
            "{hint:?} shows only checksum characters"
        );
        hint
    }

    #[test]
    fn hints_keep_the_tail_and_fit_in_eight_characters() {
        for prefix in ["a", "atk", "myapp", "abcdefghijklmnop"] {
            let token_prefix = TokenPrefix::new(prefix).expect("valid prefix");
            for _ in 0..200 {
                let token = token_prefix.generate();
                assert_hint_rule(prefix, &token);
            }
        }
        let token = TokenPrefix::default().generate();
        let hint = assert_hint_rule("atk", &token);
        assert_eq!(hint.len(), 8);
        assert_eq!(
            hint,
            format!(
                "atk_{}",
                &token.expose_secret()[token.expose_secret().len() - 4..]
            )
        );
    }

    #[test]
    fn hints_of_known_tokens() {
        // Tokens made by hand with their right checksum.
        let token = |prefix: &str, random: &str| {
            let body = format!("{prefix}_{random}");
            let check = encode_check(crc32(body.as_bytes()));
            let text = format!("{body}{}", std::str::from_utf8(&check).expect("ASCII"));
            (text.clone(), PlaintextToken::from_secret(text))
        };
        let random = "0123456789abcdefghijABCDEFGHIJxy";
        let (text, atk) = token("atk", random);
        assert_eq!(atk.hint(), format!("atk_{}", &text[text.len() - 4..]));
        let (text, long) = token("abcdefghijklmnop", random);
        assert_eq!(long.hint(), format!("nop_{}", &text[text.len() - 4..]));
        let (text, five) = token("myapp", random);
        assert_eq!(five.hint(), format!("app_{}", &text[text.len() - 4..]));
        let (text, one) = token("a", random);
        assert_eq!(one.hint(), format!("a_{}", &text[text.len() - 4..]));
    }

    #[test]
    fn anything_but_a_well_formed_token_has_an_empty_hint() {
        let good = TokenPrefix::default().generate();
        let text = good.expose_secret();
        let mut typo = text.to_owned().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'0' { b'1' } else { b'0' };
        for odd in [
            String::new(),
            "_".to_owned(),
            "atk_".to_owned(),
            "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b".to_owned(),
            String::from_utf8(typo).expect("ASCII"),
            text[..text.len() - 1].to_owned(),
            format!("{text}0"),
            text.to_uppercase(),
            format!("ä{text}"),
            format!("abcdefghijklmnopq{}", &text[3..]),
            "ünïcödé_ßßßßßßßßßßßßßßßßßßßßßßßßßßßßßßßßßßßßßß".to_owned(),
        ] {
            assert_eq!(
                PlaintextToken::from_secret(odd.clone()).hint(),
                "",
                "{odd:?}"
            );
        }
    }

    #[test]
    fn debug_and_display_hide_the_secret() {
        let token = prefix().generate();
        let secret = token.expose_secret();
        let random = &secret[5..];
        for shown in [
            format!("{token:?}"),
            format!("{token}"),
            format!("{token:#?}"),
        ] {
            assert!(!shown.contains(random), "{shown}");
            assert!(shown.contains("test_"), "{shown}");
        }
        let odd = PlaintextToken::from_secret("no-prefix-at-all".to_owned());
        assert!(!format!("{odd:?}").contains("no-prefix"));
    }
}
