//! Token format and checksum: `TokenPrefix::matches` and `token::classify` against a
//! reference implementation, and every one-byte change of a well-formed token refused.
#![no_main]

use std::sync::OnceLock;

use authtoken::TokenPrefix;
use authtoken::token::{CHECK_LEN, CredentialKind, RANDOM_LEN, classify, is_legacy_key};
use libfuzzer_sys::fuzz_target;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn prefixes() -> &'static [TokenPrefix] {
    static PREFIXES: OnceLock<Vec<TokenPrefix>> = OnceLock::new();
    PREFIXES.get_or_init(|| {
        ["atk", "a", "0", "abcdefghijklmnop", "x9"]
            .into_iter()
            .map(|prefix| TokenPrefix::new(prefix).expect("a valid prefix"))
            .collect()
    })
}

fn check_digits(mut value: u32) -> [u8; CHECK_LEN] {
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// The documented format, written the obvious way.
fn reference(prefix: &TokenPrefix, credential: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(credential) else {
        return false;
    };
    let Some(rest) = text
        .strip_prefix(prefix.as_str())
        .and_then(|r| r.strip_prefix('_'))
    else {
        return false;
    };
    if rest.len() != RANDOM_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let body = &text[..text.len() - CHECK_LEN];
    check_digits(crc32fast::hash(body.as_bytes())) == text.as_bytes()[text.len() - CHECK_LEN..]
}

/// A well-formed token of `prefix` whose random part is drawn from `seed`.
fn well_formed(prefix: &TokenPrefix, seed: &[u8]) -> Vec<u8> {
    let mut token = format!("{prefix}_").into_bytes();
    for i in 0..RANDOM_LEN {
        let byte = seed.get(i).copied().unwrap_or(i as u8);
        token.push(BASE62[usize::from(byte) % 62]);
    }
    let check = check_digits(crc32fast::hash(&token));
    token.extend_from_slice(&check);
    token
}

fuzz_target!(|input: (u8, bool, u16, u8, &[u8])| {
    let (choice, legacy, position, replacement, credential) = input;
    let prefixes = prefixes();
    let prefix = &prefixes[usize::from(choice) % prefixes.len()];

    // Arbitrary bytes: the fast check agrees with the reference, classify with both.
    let matches = prefix.matches(credential);
    assert_eq!(matches, reference(prefix, credential), "{credential:?}");
    let expected = if matches {
        Some(CredentialKind::Token)
    } else if legacy && is_legacy_key(credential) {
        Some(CredentialKind::LegacyKey)
    } else {
        None
    };
    assert_eq!(classify(prefix, credential, legacy), expected);

    // A well-formed token passes; any one changed byte is refused (CRC32 catches
    // every error burst of up to 32 bits).
    let token = well_formed(prefix, credential);
    assert!(prefix.matches(&token));
    let mut typo = token.clone();
    let at = usize::from(position) % typo.len();
    if typo[at] != replacement {
        typo[at] = replacement;
        assert!(
            !prefix.matches(&typo),
            "{:?}",
            String::from_utf8_lossy(&typo)
        );
    }
});
