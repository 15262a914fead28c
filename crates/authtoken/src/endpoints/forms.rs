//! The bodies the token endpoints read ([`LoginForm`], [`NewTokenForm`]) and answer
//! ([`TokenBody`], [`TokenItem`], [`CreatedToken`]).

use std::fmt;
use std::time::Duration;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::error::{BLANK, EndpointError, FieldErrors, REQUIRED};
use super::{MAX_PASSWORD_BYTES, MAX_TOKEN_NAME_CHARS, MAX_USERNAME_CHARS};

/// The most scopes a new token may name.
const MAX_SCOPES: usize = 64;
use crate::store::{TokenId, TokenInfo};
use crate::token::PlaintextToken;

/// `POST token`'s body, JSON or form: `{"username", "password"}`. Both are optional
/// here so that a missing one is a field error ("This field is required."), not a
/// framework's parse error. Read only from an object (a JSON array with the fields in
/// order is refused). Its `Debug` never shows the password.
#[derive(Clone, Default, Deserialize)]
#[serde(remote = "Self")]
pub struct LoginForm {
    /// The username.
    #[serde(default)]
    pub username: Option<String>,
    /// The password; wiped from memory when the form is dropped.
    #[serde(default)]
    pub password: Option<Zeroizing<String>>,
}

/// Implements `Deserialize` for a form whose derive is `#[serde(remote = "Self")]`,
/// reading it from a map (a JSON object, a form) and nothing else: a derived struct
/// also reads a sequence, its fields in order, so `["alice", "pw"]` would log in.
macro_rules! from_object_only {
    ($form:ident, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $form {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> Visitor<'de> for ObjectVisitor {
                    type Value = $form;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$form, A::Error> {
                        // The derived (remote) reader, given the map.
                        $form::deserialize(MapAccessDeserializer::new(map))
                    }
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }
    };
}

from_object_only!(LoginForm, "an object with a username and a password");
from_object_only!(NewTokenForm, "an object with a name");

impl fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl LoginForm {
    /// A form holding both fields.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: Some(username.into()),
            password: Some(Zeroizing::new(password.into())),
        }
    }

    /// The username and password, each present, not blank and within bounds.
    pub(super) fn validate(self) -> Result<(String, Zeroizing<String>), EndpointError> {
        let mut errors = FieldErrors::new();
        match &self.username {
            None => errors.add("username", REQUIRED),
            Some(name) if name.trim().is_empty() => errors.add("username", BLANK),
            Some(name) if name.chars().count() > MAX_USERNAME_CHARS => errors.add(
                "username",
                format!("Ensure this field has no more than {MAX_USERNAME_CHARS} characters."),
            ),
            Some(_) => {}
        }
        match &self.password {
            None => errors.add("password", REQUIRED),
            Some(password) if password.is_empty() => errors.add("password", BLANK),
            Some(password) if password.len() > MAX_PASSWORD_BYTES => errors.add(
                "password",
                format!("Ensure this field has no more than {MAX_PASSWORD_BYTES} bytes."),
            ),
            Some(_) => {}
        }
        errors.into_result()?;
        match (self.username, self.password) {
            (Some(username), Some(password)) => Ok((username, password)),
            _ => Err(EndpointError::Fields(FieldErrors::new())),
        }
    }
}

/// `POST tokens`' body: `{"name", "scopes"?, "expires_in"?}` (seconds), read only
/// from an object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(remote = "Self")]
pub struct NewTokenForm {
    /// The token's name, shown in the list: 1 to 100 characters after trimming.
    #[serde(default)]
    pub name: Option<String>,
    /// Known scopes the calling token holds; none when left out.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Seconds until it expires, within the policy's bounds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl NewTokenForm {
    /// The trimmed name, the scopes (each known, without repeats) and the lifetime.
    pub(super) fn validate(
        self,
        known_scopes: &[String],
        default_lifetime: Duration,
        (min, max): (Duration, Duration),
    ) -> Result<(String, Vec<String>, Duration), EndpointError> {
        let mut errors = FieldErrors::new();
        let name = self.name.as_deref().map(str::trim).unwrap_or_default();
        if self.name.is_none() {
            errors.add("name", REQUIRED);
        } else if name.is_empty() {
            errors.add("name", BLANK);
        } else if name.chars().count() > MAX_TOKEN_NAME_CHARS {
            errors.add(
                "name",
                format!("Ensure this field has no more than {MAX_TOKEN_NAME_CHARS} characters."),
            );
        } else if name.chars().any(char::is_control) {
            errors.add("name", "This field may not contain control characters.");
        }
        let mut scopes: Vec<String> = Vec::new();
        let asked = self.scopes.unwrap_or_default();
        if asked.len() > MAX_SCOPES {
            errors.add(
                "scopes",
                format!("Ensure this field has no more than {MAX_SCOPES} elements."),
            );
        }
        for scope in asked.into_iter().take(MAX_SCOPES) {
            if !known_scopes.contains(&scope) {
                let shown: String = scope.chars().take(64).collect();
                errors.add("scopes", format!("Unknown scope: {shown:?}."));
            } else if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let lifetime = match self.expires_in {
            None => default_lifetime,
            Some(seconds) => {
                let lifetime = Duration::from_secs(seconds);
                if lifetime < min || lifetime > max {
                    errors.add(
                        "expires_in",
                        format!(
                            "Ensure this value is between {} and {} seconds.",
                            min.as_secs(),
                            max.as_secs()
                        ),
                    );
                }
                lifetime
            }
        };
        errors.into_result()?;
        Ok((name.to_owned(), scopes, lifetime))
    }
}

/// `POST token`'s answer: `{"token"}`. Its `Debug` never shows the token.
#[derive(Debug, Serialize)]
pub struct TokenBody {
    #[serde(serialize_with = "expose")]
    token: PlaintextToken,
}

impl TokenBody {
    pub(super) fn new(token: PlaintextToken) -> Self {
        Self { token }
    }

    /// The token, to hand to the client.
    pub fn token(&self) -> &PlaintextToken {
        &self.token
    }
}

fn expose<S: Serializer>(token: &PlaintextToken, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(token.expose_secret())
}

/// One token in `GET tokens`: `{"id", "name", "scopes", "created", "last_used",
/// "expires", "hint", "current"}`, times RFC 3339 UTC or `null`. Never the secret,
/// never the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenItem {
    /// The id, as `DELETE tokens/{id}` takes it.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it was last used (written at most once per configured interval).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
    /// When it stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// At most 8 characters that tell a person which token it is, without revealing
    /// it; empty for tokens issued before hints were kept.
    pub hint: String,
    /// True for the token making the request.
    pub current: bool,
}

impl TokenItem {
    pub(super) fn new(info: TokenInfo, current: TokenId) -> Self {
        Self {
            id: info.id.0,
            current: info.id == current,
            hint: info.hint,
            name: info.name,
            scopes: info.scopes,
            created: info.created,
            last_used: info.last_used,
            expires: info.expires,
        }
    }
}

/// `POST tokens`' answer: the [`TokenItem`] plus `"token"`, the only time the secret
/// is shown. Its `Debug` never shows the token.
#[derive(Debug, Serialize)]
pub struct CreatedToken {
    /// The new token's list item.
    #[serde(flatten)]
    pub item: TokenItem,
    #[serde(serialize_with = "expose")]
    token: PlaintextToken,
}

impl CreatedToken {
    pub(super) fn new(item: TokenItem, token: PlaintextToken) -> Self {
        Self { item, token }
    }

    /// The token, to hand to the client.
    pub fn token(&self) -> &PlaintextToken {
        &self.token
    }
}
