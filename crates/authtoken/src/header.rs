//! Parsing the raw `Authorization` header, exactly as Django REST Framework does.
//!
//! DRF splits the header on runs of whitespace: the first word is the keyword, the
//! second the credential. Several spaces or a tab between them, and whitespace around
//! the value, are fine; a third word means the credential contained a space.

use crate::error::AuthError;

/// An accepted authorization keyword, such as `Token` or `Bearer`, compared without
/// regard to ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword(Box<str>);

/// The keyword given to [`Keyword::new`] is empty or holds bytes other than visible ASCII.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an authorization keyword must be 1 to 32 visible ASCII characters without quotes, got {0:?}"
)]
pub struct InvalidKeyword(pub String);

impl Keyword {
    /// Checks and wraps a keyword.
    ///
    /// # Errors
    ///
    /// [`InvalidKeyword`] unless `keyword` is 1 to 32 visible ASCII characters other
    /// than `"`, `\` and `,` (it is also written into `WWW-Authenticate`).
    pub fn new(keyword: &str) -> Result<Self, InvalidKeyword> {
        let valid = !keyword.is_empty()
            && keyword.len() <= 32
            && keyword
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b','));
        if valid {
            Ok(Self(keyword.into()))
        } else {
            Err(InvalidKeyword(keyword.to_owned()))
        }
    }

    /// The keyword as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `word` is this keyword, ignoring ASCII case.
    pub fn matches(&self, word: &[u8]) -> bool {
        let keyword = self.0.as_bytes();
        // Clients nearly always send the keyword as written: comparing the bytes first
        // answers them without folding the case of each one.
        word == keyword || word.eq_ignore_ascii_case(keyword)
    }
}

/// The whitespace Python's `bytes.split()` splits on, which DRF relies on.
fn is_split_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits on runs of whitespace, without allocating.
fn words(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    header
        .split(|&b| is_split_whitespace(b))
        .filter(|word| !word.is_empty())
}

/// Reads an `Authorization` header value.
///
/// Returns `Ok(None)` when the header is empty or names a scheme that is not one of
/// `keywords` (the request is anonymous to this library), `Ok(Some(credential))`
/// when it holds one of the keywords and a credential of visible ASCII, and the
/// DRF-worded error otherwise. Never allocates.
///
/// # Errors
///
/// - [`AuthError::NoCredentials`]: the keyword with nothing after it;
/// - [`AuthError::CredentialContainsSpaces`]: more than one word after the keyword;
/// - [`AuthError::CredentialInvalidCharacters`]: a byte outside visible ASCII.
pub fn parse_authorization<'h>(
    header: &'h [u8],
    keywords: &[Keyword],
) -> Result<Option<&'h [u8]>, AuthError> {
    // What well-behaved clients send, `<keyword> <credential>` with one space, is
    // answered in one pass; every other shape goes word by word (`parse_words`, which
    // answers the same for this one).
    if let Some(space) = header.iter().position(|&b| b == b' ')
        && let (scheme, [_, credential @ ..]) = header.split_at(space)
        && !credential.is_empty()
        && all_visible_ascii(credential)
        && keywords.iter().any(|keyword| keyword.matches(scheme))
    {
        return Ok(Some(credential));
    }
    parse_words(header, keywords)
}

/// [`parse_authorization`] for any shape of header: word by word, as DRF does.
fn parse_words<'h>(header: &'h [u8], keywords: &[Keyword]) -> Result<Option<&'h [u8]>, AuthError> {
    let mut words = words(header);
    let Some(scheme) = words.next() else {
        return Ok(None);
    };
    if !keywords.iter().any(|keyword| keyword.matches(scheme)) {
        return Ok(None);
    }
    let Some(credential) = words.next() else {
        return Err(AuthError::NoCredentials);
    };
    if words.next().is_some() {
        return Err(AuthError::CredentialContainsSpaces);
    }
    if !all_visible_ascii(credential) {
        return Err(AuthError::CredentialInvalidCharacters);
    }
    Ok(Some(credential))
}

/// True when every byte is visible ASCII (`!` to `~`): no space, control or
/// non-ASCII byte. Reads every byte without branching on each, so that the compiler
/// can check many at once.
fn all_visible_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |visible, &b| visible & b.is_ascii_graphic())
}

/// Reads every `Authorization` header of a request: none is anonymous, one is parsed
/// by [`parse_authorization`], and several are accepted only when they are all the
/// same value.
///
/// # Errors
///
/// [`AuthError::ConflictingHeaders`] for several different values, and the errors of
/// [`parse_authorization`].
pub fn parse_authorization_headers<'h, I>(
    headers: I,
    keywords: &[Keyword],
) -> Result<Option<&'h [u8]>, AuthError>
where
    I: IntoIterator<Item = &'h [u8]>,
{
    let mut headers = headers.into_iter();
    let Some(first) = headers.next() else {
        return Ok(None);
    };
    if headers.any(|other| other != first) {
        return Err(AuthError::ConflictingHeaders);
    }
    parse_authorization(first, keywords)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn defaults() -> Vec<Keyword> {
        vec![
            Keyword::new("Token").expect("valid"),
            Keyword::new("Bearer").expect("valid"),
        ]
    }

    fn parse(header: &[u8]) -> Result<Option<&[u8]>, AuthError> {
        parse_authorization(header, &defaults())
    }

    #[test]
    fn a_plain_header_yields_its_credential() {
        assert_eq!(parse(b"Token abc"), Ok(Some(&b"abc"[..])));
        assert_eq!(parse(b"Bearer abc"), Ok(Some(&b"abc"[..])));
    }

    #[test]
    fn keywords_ignore_case() {
        for header in [
            &b"token abc"[..],
            b"TOKEN abc",
            b"bearer abc",
            b"BeArEr abc",
        ] {
            assert_eq!(parse(header), Ok(Some(&b"abc"[..])));
        }
    }

    #[test]
    fn whitespace_around_and_between_is_fine() {
        for header in [
            &b"Token  abc"[..],
            b"Token\tabc",
            b"Token abc ",
            b" Token abc",
            b"Token \t abc\t ",
        ] {
            assert_eq!(parse(header), Ok(Some(&b"abc"[..])), "{header:?}");
        }
    }

    #[test]
    fn absent_or_foreign_schemes_are_anonymous() {
        for header in [
            &b""[..],
            b"   ",
            b"Basic dXNlcjpwYXNz",
            b"Tokenabc",
            b"Digest x y z",
        ] {
            assert_eq!(parse(header), Ok(None), "{header:?}");
        }
    }

    #[test]
    fn keyword_alone_is_no_credentials() {
        for header in [&b"Token"[..], b"Token ", b"bearer\t", b"  TOKEN  "] {
            assert_eq!(parse(header), Err(AuthError::NoCredentials), "{header:?}");
        }
    }

    #[test]
    fn spaces_inside_the_credential() {
        for header in [&b"Token abc def"[..], b"Token a\tb", b"Bearer a b c"] {
            assert_eq!(parse(header), Err(AuthError::CredentialContainsSpaces));
        }
    }

    #[test]
    fn bytes_outside_visible_ascii() {
        for header in [
            &b"Token ab\xe9c"[..], // latin-1
            b"Token \xff\xfe",     // invalid UTF-8
            b"Token h\xc3\xa9llo", // valid UTF-8, not ASCII
            b"Token abc\x00def",   // NUL
            b"Token abc\x7f",      // DEL
        ] {
            assert_eq!(
                parse(header),
                Err(AuthError::CredentialInvalidCharacters),
                "{header:?}"
            );
        }
    }

    #[test]
    fn an_eight_kilobyte_value_is_parsed_not_refused() {
        let mut header = b"Token ".to_vec();
        header.extend(std::iter::repeat_n(b'a', 8 * 1024));
        assert_eq!(
            parse(&header).map(|c| c.map(<[u8]>::len)),
            Ok(Some(8 * 1024))
        );
    }

    #[test]
    fn custom_keywords_replace_the_defaults() {
        let only_key = [Keyword::new("Key").expect("valid")];
        assert_eq!(
            parse_authorization(b"key abc", &only_key),
            Ok(Some(&b"abc"[..]))
        );
        assert_eq!(parse_authorization(b"Token abc", &only_key), Ok(None));
    }

    #[test]
    fn keywords_are_validated() {
        for bad in ["", "To ken", "Tök", "a\"b", "a,b"] {
            assert!(Keyword::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repeated_headers() {
        let keywords = defaults();
        let one: [&[u8]; 1] = [b"Token abc"];
        let same: [&[u8]; 2] = [b"Token abc", b"Token abc"];
        let different: [&[u8]; 2] = [b"Token abc", b"Token abd"];
        let none: [&[u8]; 0] = [];
        assert_eq!(
            parse_authorization_headers(one, &keywords),
            Ok(Some(&b"abc"[..]))
        );
        assert_eq!(
            parse_authorization_headers(same, &keywords),
            Ok(Some(&b"abc"[..]))
        );
        assert_eq!(
            parse_authorization_headers(different, &keywords),
            Err(AuthError::ConflictingHeaders)
        );
        assert_eq!(parse_authorization_headers(none, &keywords), Ok(None));
    }

    proptest! {
        #[test]
        fn the_one_pass_answers_as_the_word_by_word_parse(
            keyword in prop_oneof![Just(b"Token".to_vec()), Just(b"bearer".to_vec()), Just(b"Basic".to_vec()), proptest::collection::vec(any::<u8>(), 0..8)],
            separator in prop_oneof![Just(b" ".to_vec()), Just(b"  ".to_vec()), Just(b"\t".to_vec()), Just(Vec::new())],
            rest in proptest::collection::vec(prop_oneof![8 => 0x21u8..0x7f, 1 => Just(b' '), 1 => any::<u8>()], 0..64),
        ) {
            let header = [keyword, separator, rest].concat();
            prop_assert_eq!(parse(&header), parse_words(&header, &defaults()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(header in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&header);
        }

        #[test]
        fn arbitrary_bytes_after_a_keyword_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut header = b"Token ".to_vec();
            header.extend(tail);
            match parse(&header) {
                Ok(Some(credential)) => prop_assert!(credential.iter().all(u8::is_ascii_graphic)),
                Ok(None) => prop_assert!(false, "a keyword header is never anonymous"),
                Err(_) => {}
            }
        }
    }
}
