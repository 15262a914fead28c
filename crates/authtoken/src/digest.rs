//! What is stored instead of a token: its digest.
//!
//! By default the digest is SHA-256 of the token. With [`TokenHasher::hmac`] it is
//! HMAC-SHA-256 under an application secret (a "pepper") kept outside the database,
//! so that someone who can write to the database still cannot mint a token. Each
//! secret carries a version; older secrets keep verifying until they are dropped, and
//! a token found under an older secret is re-keyed to the current one when it is used.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Length of a digest in bytes.
pub const DIGEST_LEN: usize = 32;

/// The digest of a token: what the store keeps and looks up by, under a unique index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenDigest([u8; DIGEST_LEN]);

impl TokenDigest {
    /// Wraps 32 bytes read back from a store.
    pub const fn from_bytes(bytes: [u8; DIGEST_LEN]) -> Self {
        Self(bytes)
    }

    /// Wraps a slice read back from a store; `None` unless it is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; DIGEST_LEN]>::try_from(bytes).ok().map(Self)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// Lowercase hex, as used in revocation notices between nodes.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(DIGEST_LEN * 2);
        for byte in self.0 {
            out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
        }
        out
    }

    /// Parses the output of [`TokenDigest::to_hex`].
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != DIGEST_LEN * 2 {
            return None;
        }
        let mut out = [0u8; DIGEST_LEN];
        for (slot, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let high = (pair[0] as char).to_digit(16)?;
            let low = (pair[1] as char).to_digit(16)?;
            *slot = u8::try_from(high * 16 + low).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is not a secret, but eight hex digits are enough to tell two apart.
        write!(f, "TokenDigest({}…)", &self.to_hex()[..8])
    }
}

/// An HMAC secret and its version number.
pub struct DigestKey {
    version: u32,
    secret: Zeroizing<Vec<u8>>,
}

/// The secret given to [`DigestKey::new`] is too short or the version is 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDigestKey {
    /// Version 0 means "plain SHA-256" in stored records and cannot name a secret.
    #[error("an HMAC key version must be 1 or more (0 stands for plain SHA-256)")]
    ZeroVersion,
    /// Fewer than 32 bytes of secret.
    #[error("an HMAC secret must be at least 32 bytes long, got {0}")]
    TooShort(usize),
    /// Two keys share a version number.
    #[error("two HMAC keys share version {0}")]
    DuplicateVersion(u32),
}

impl DigestKey {
    /// A secret of at least 32 bytes, numbered by `version` (1 or more).
    ///
    /// # Errors
    ///
    /// [`InvalidDigestKey`] when the version is 0 or the secret is shorter than 32 bytes.
    pub fn new(version: u32, secret: impl Into<Vec<u8>>) -> Result<Self, InvalidDigestKey> {
        let secret = Zeroizing::new(secret.into());
        if version == 0 {
            return Err(InvalidDigestKey::ZeroVersion);
        }
        if secret.len() < 32 {
            return Err(InvalidDigestKey::TooShort(secret.len()));
        }
        Ok(Self { version, secret })
    }

    /// The version number.
    pub fn version(&self) -> u32 {
        self.version
    }
}

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestKey")
            .field("version", &self.version)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Computes token digests: SHA-256, or HMAC-SHA-256 under a current key plus older
/// keys that still verify.
#[derive(Debug)]
pub struct TokenHasher {
    /// Newest first; empty for plain SHA-256.
    keys: Vec<DigestKey>,
}

impl Default for TokenHasher {
    fn default() -> Self {
        Self::sha256()
    }
}

impl TokenHasher {
    /// Plain SHA-256: the default.
    pub fn sha256() -> Self {
        Self { keys: Vec::new() }
    }

    /// HMAC-SHA-256 under `current`; tokens digested under any of `previous` keep
    /// verifying (and are re-keyed to `current` on use) until those keys are dropped.
    ///
    /// # Errors
    ///
    /// [`InvalidDigestKey::DuplicateVersion`] when two keys share a version.
    pub fn hmac(
        current: DigestKey,
        previous: impl IntoIterator<Item = DigestKey>,
    ) -> Result<Self, InvalidDigestKey> {
        let mut keys = vec![current];
        for key in previous {
            if keys.iter().any(|k| k.version == key.version) {
                return Err(InvalidDigestKey::DuplicateVersion(key.version));
            }
            keys.push(key);
        }
        Ok(Self { keys })
    }

    /// The version new digests are made under: 0 for plain SHA-256.
    pub fn current_version(&self) -> u32 {
        self.keys.first().map_or(0, DigestKey::version)
    }

    /// The digest new tokens are stored under and lookups try first.
    pub fn digest(&self, token: &[u8]) -> TokenDigest {
        match self.keys.first() {
            Some(key) => hmac_digest(key, token),
            None => sha256_digest(token),
        }
    }

    /// Digests under the older keys, newest first, with their versions: what a lookup
    /// tries when the current digest is not found.
    pub fn previous_digests<'a>(
        &'a self,
        token: &'a [u8],
    ) -> impl Iterator<Item = (u32, TokenDigest)> + 'a {
        self.keys
            .iter()
            .skip(1)
            .map(move |key| (key.version, hmac_digest(key, token)))
    }
}

fn sha256_digest(token: &[u8]) -> TokenDigest {
    TokenDigest(Sha256::digest(token).into())
}

fn hmac_digest(key: &DigestKey, token: &[u8]) -> TokenDigest {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(token);
    TokenDigest(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: u32, fill: u8) -> DigestKey {
        DigestKey::new(version, vec![fill; 32]).expect("valid key")
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        let digest = TokenHasher::sha256().digest(b"abc");
        assert_eq!(
            digest.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_6() {
        let secret = DigestKey::new(1, vec![0xaa; 131]).expect("valid key");
        let hasher = TokenHasher::hmac(secret, []).expect("valid");
        assert_eq!(
            hasher
                .digest(b"Test Using Larger Than Block-Size Key - Hash Key First")
                .to_hex(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_ne!(hasher.digest(b"x"), TokenHasher::sha256().digest(b"x"));
    }

    #[test]
    fn different_secrets_give_different_digests() {
        let one = TokenHasher::hmac(key(1, 1), []).expect("valid");
        let two = TokenHasher::hmac(key(2, 2), [key(1, 1)]).expect("valid");
        assert_ne!(one.digest(b"token"), two.digest(b"token"));
        let previous: Vec<_> = two.previous_digests(b"token").collect();
        assert_eq!(previous, vec![(1, one.digest(b"token"))]);
        assert_eq!(two.current_version(), 2);
        assert_eq!(TokenHasher::sha256().current_version(), 0);
    }

    #[test]
    fn keys_are_validated() {
        assert_eq!(
            DigestKey::new(0, vec![0; 32]).err(),
            Some(InvalidDigestKey::ZeroVersion)
        );
        assert_eq!(
            DigestKey::new(1, vec![0; 31]).err(),
            Some(InvalidDigestKey::TooShort(31))
        );
        assert_eq!(
            TokenHasher::hmac(key(1, 1), [key(1, 2)]).err(),
            Some(InvalidDigestKey::DuplicateVersion(1))
        );
        assert!(!format!("{:?}", key(1, b'S')).contains("SSSS"));
    }

    #[test]
    fn hex_round_trips() {
        let digest = TokenHasher::sha256().digest(b"x");
        assert_eq!(TokenDigest::from_hex(&digest.to_hex()), Some(digest));
        assert_eq!(TokenDigest::from_hex("zz"), None);
        assert_eq!(TokenDigest::from_hex(&"g".repeat(64)), None);
        assert_eq!(TokenDigest::from_slice(&[0; 31]), None);
    }
}
