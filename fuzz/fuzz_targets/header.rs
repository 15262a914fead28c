//! `Authorization` header parsing against a plain reference implementation of DRF's
//! rules (split on whitespace, keyword, one credential of visible ASCII).
#![no_main]

use std::sync::OnceLock;

use authtoken::AuthError;
use authtoken::header::{Keyword, parse_authorization, parse_authorization_headers};
use libfuzzer_sys::fuzz_target;

fn keyword_sets() -> &'static [Vec<Keyword>] {
    static SETS: OnceLock<Vec<Vec<Keyword>>> = OnceLock::new();
    SETS.get_or_init(|| {
        let keyword = |word| Keyword::new(word).expect("a valid keyword");
        vec![
            vec![keyword("Token"), keyword("Bearer")],
            vec![keyword("Token")],
            vec![keyword("x-Api-KEY"), keyword("t")],
        ]
    })
}

/// What DRF does, written the obvious (allocating) way.
fn reference<'h>(header: &'h [u8], keywords: &[Keyword]) -> Result<Option<&'h [u8]>, AuthError> {
    let words: Vec<&[u8]> = header
        .split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .filter(|word| !word.is_empty())
        .collect();
    let Some(scheme) = words.first() else {
        return Ok(None);
    };
    if !keywords
        .iter()
        .any(|keyword| scheme.eq_ignore_ascii_case(keyword.as_str().as_bytes()))
    {
        return Ok(None);
    }
    match words.len() {
        1 => Err(AuthError::NoCredentials),
        2 if words[1].iter().all(|b| (0x21..=0x7e).contains(b)) => Ok(Some(words[1])),
        2 => Err(AuthError::CredentialInvalidCharacters),
        _ => Err(AuthError::CredentialContainsSpaces),
    }
}

fuzz_target!(|input: (u8, Vec<&[u8]>)| {
    let (choice, values) = input;
    let sets = keyword_sets();
    let keywords = &sets[usize::from(choice) % sets.len()];

    for value in &values {
        let parsed = parse_authorization(value, keywords);
        assert_eq!(parsed, reference(value, keywords), "header {value:?}");
        if let Ok(Some(credential)) = parsed {
            assert!(!credential.is_empty());
            // The credential borrows from the header, never a copy.
            let start = credential.as_ptr() as usize - value.as_ptr() as usize;
            assert!(start + credential.len() <= value.len());
        }
        if let Err(error) = &parsed {
            assert_eq!(error.status(), 401);
        }
    }

    let all = parse_authorization_headers(values.iter().copied(), keywords);
    match values.split_first() {
        None => assert_eq!(all, Ok(None)),
        Some((first, rest)) if rest.iter().all(|other| other == first) => {
            assert_eq!(all, parse_authorization(first, keywords));
        }
        Some(_) => assert_eq!(all, Err(AuthError::ConflictingHeaders)),
    }
});
