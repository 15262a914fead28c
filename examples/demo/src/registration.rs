//! Request bodies from raw bytes and the `Content-Type` header, so that no framework's
//! own extractor (and its plain-text 415 or 422) stands in the way.

use std::fmt;

use crate::error::{DemoError, FieldErrors};

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 150;
/// The longest password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The largest request body read, in bytes; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The body formats a route reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    /// JSON only (`POST /api/register`).
    Json,
    /// JSON or `application/x-www-form-urlencoded` (`POST /api/token`, as DRF's
    /// `obtain_auth_token`).
    JsonOrForm,
}

/// A username and password as sent. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username as sent, in Unicode NFC (so that a composed `é` and an `e`
    /// followed by a combining acute accent are one name).
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

enum Format {
    Json,
    Form,
}

fn media_type(content_type: Option<&[u8]>) -> Result<Option<Format>, DemoError> {
    let Some(raw) = content_type else {
        // No content type: read the body as JSON, the demo's own format.
        return Ok(None);
    };
    let text = String::from_utf8_lossy(raw);
    let essence = text.split(';').next().unwrap_or_default().trim();
    let lower = essence.to_ascii_lowercase();
    if lower == "application/json"
        || (lower.starts_with("application/") && lower.ends_with("+json"))
    {
        Ok(Some(Format::Json))
    } else if lower == "application/x-www-form-urlencoded" {
        Ok(Some(Format::Form))
    } else {
        Err(DemoError::UnsupportedMediaType(essence.to_owned()))
    }
}

/// A field as found in the body.
enum Field {
    Missing,
    NotAString,
    Text(String),
}

/// Reads `{"username", "password"}` from a body and checks the fields.
pub(crate) fn credentials(
    content_type: Option<&[u8]>,
    body: &[u8],
    accept: Accept,
) -> Result<Credentials, DemoError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(DemoError::PayloadTooLarge);
    }
    let format = media_type(content_type)?.unwrap_or(Format::Json);
    let (username, password) = match format {
        Format::Json => json_fields(body)?,
        Format::Form if accept == Accept::JsonOrForm => form_fields(body),
        Format::Form => {
            return Err(DemoError::UnsupportedMediaType(
                "application/x-www-form-urlencoded".to_owned(),
            ));
        }
    };
    validate(username, password)
}

fn json_fields(body: &[u8]) -> Result<(Field, Field), DemoError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        // An empty body reads as an empty object: every field is missing.
        return Ok((Field::Missing, Field::Missing));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|error| DemoError::MalformedBody(error.to_string()))?;
    let serde_json::Value::Object(mut object) = value else {
        let mut errors = FieldErrors::new();
        errors.add(
            "non_field_errors",
            match value {
                serde_json::Value::Array(_) => "Invalid data. Expected a dictionary, but got list.",
                serde_json::Value::String(_) => "Invalid data. Expected a dictionary, but got str.",
                serde_json::Value::Null => "No data provided.",
                _ => "Invalid data. Expected a dictionary.",
            },
        );
        return Err(DemoError::Validation(errors));
    };
    let mut take = |name: &str| match object.remove(name) {
        None => Field::Missing,
        Some(serde_json::Value::String(text)) => Field::Text(text),
        Some(_) => Field::NotAString,
    };
    Ok((take("username"), take("password")))
}

fn form_fields(body: &[u8]) -> (Field, Field) {
    let mut username = Field::Missing;
    let mut password = Field::Missing;
    for (key, value) in form_urlencoded::parse(body) {
        let slot = match &*key {
            "username" => &mut username,
            "password" => &mut password,
            _ => continue,
        };
        // The first value wins, as Django's QueryDict.get would not; refuse ambiguity.
        *slot = match slot {
            Field::Missing => Field::Text(value.into_owned()),
            _ => Field::NotAString,
        };
    }
    (username, password)
}

fn validate(username: Field, password: Field) -> Result<Credentials, DemoError> {
    let mut errors = FieldErrors::new();
    // Checked as it will be stored: in NFC, which may have fewer characters (or, for
    // a few scripts, more) than the name as sent.
    let username = match username {
        Field::Text(text) => Field::Text(crate::users::nfc(&text).into_owned()),
        other => other,
    };
    let username = match username {
        Field::Missing => {
            errors.add("username", "This field is required.");
            None
        }
        Field::NotAString => {
            errors.add("username", "Not a valid string.");
            None
        }
        Field::Text(text) if text.trim().is_empty() => {
            errors.add("username", "This field may not be blank.");
            None
        }
        Field::Text(text) if text.chars().count() > MAX_USERNAME_CHARS => {
            errors.add(
                "username",
                "Ensure this field has no more than 150 characters.",
            );
            None
        }
        Field::Text(text) if text.chars().any(char::is_control) => {
            errors.add(
                "username",
                "Enter a valid username. Control characters are not allowed.",
            );
            None
        }
        Field::Text(text) => Some(text),
    };
    let password = match password {
        Field::Missing => {
            errors.add("password", "This field is required.");
            None
        }
        Field::NotAString => {
            errors.add("password", "Not a valid string.");
            None
        }
        Field::Text(text) if text.is_empty() => {
            errors.add("password", "This field may not be blank.");
            None
        }
        Field::Text(text) if text.len() > MAX_PASSWORD_BYTES => {
            errors.add("password", "Ensure this field has no more than 1024 bytes.");
            None
        }
        Field::Text(text) => Some(text),
    };
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() => {
            Ok(Credentials { username, password })
        }
        _ => Err(DemoError::Validation(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&[u8]> = Some(b"application/json");
    const FORM: Option<&[u8]> = Some(b"application/x-www-form-urlencoded");

    fn field_error(result: Result<Credentials, DemoError>, field: &str) -> Vec<&'static str> {
        match result {
            Err(DemoError::Validation(errors)) => errors.get(field).to_vec(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_credentials_come_back_unchanged() {
        let body = r#"{"username":"Zoë 🦀 ","password":" pw "}"#;
        let creds = credentials(JSON, body.as_bytes(), Accept::Json).expect("valid");
        assert_eq!(creds.username, "Zoë 🦀 ");
        assert_eq!(creds.password, " pw ");
    }

    #[test]
    fn content_type_parameters_and_case_are_ignored() {
        let body = br#"{"username":"a","password":"b"}"#;
        for content_type in [
            &b"application/json; charset=utf-8"[..],
            b"Application/JSON",
            b"application/vnd.api+json",
        ] {
            let parsed = credentials(Some(content_type), body, Accept::Json);
            assert!(parsed.is_ok(), "{}", content_type.escape_ascii());
        }
        credentials(None, body, Accept::Json).expect("no content type reads as JSON");
    }

    #[test]
    fn form_is_read_for_login_only() {
        let body = b"username=Zo%C3%AB+x&password=p%26w";
        let creds = credentials(FORM, body, Accept::JsonOrForm).expect("valid");
        assert_eq!(creds.username, "Zoë x");
        assert_eq!(creds.password, "p&w");
        let error = credentials(FORM, body, Accept::Json).expect_err("register reads JSON");
        assert_eq!(error.status(), 415);
    }

    #[test]
    fn other_media_types_get_415_with_json() {
        let error = credentials(Some(b"text/plain"), b"x", Accept::JsonOrForm).expect_err("415");
        assert_eq!(error.status(), 415);
        assert!(error.json_body().contains("text/plain"));
    }

    #[test]
    fn malformed_json_is_400() {
        for body in [&b"{"[..], b"not json", b"\xff\xfe"] {
            let error = credentials(JSON, body, Accept::Json).expect_err("malformed");
            assert_eq!(error.status(), 400);
            let value: serde_json::Value =
                serde_json::from_str(&error.json_body()).expect("a JSON body");
            assert!(value["detail"].is_string());
        }
    }

    #[test]
    fn non_objects_are_400() {
        for body in [&b"[]"[..], b"\"x\"", b"null", b"3"] {
            let error = credentials(JSON, body, Accept::Json).expect_err("not an object");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn missing_blank_and_wrong_types() {
        assert_eq!(
            field_error(credentials(JSON, b"", Accept::Json), "username"),
            ["This field is required."]
        );
        assert_eq!(
            field_error(
                credentials(JSON, br#"{"username":" ","password":"x"}"#, Accept::Json),
                "username"
            ),
            ["This field may not be blank."]
        );
        assert_eq!(
            field_error(
                credentials(JSON, br#"{"username":"a","password":""}"#, Accept::Json),
                "password"
            ),
            ["This field may not be blank."]
        );
        assert_eq!(
            field_error(
                credentials(JSON, br#"{"username":1,"password":"x"}"#, Accept::Json),
                "username"
            ),
            ["Not a valid string."]
        );
        assert_eq!(
            field_error(
                credentials(
                    JSON,
                    br#"{"username":"a\u0000b","password":"x"}"#,
                    Accept::Json
                ),
                "username"
            )
            .len(),
            1
        );
        assert_eq!(
            field_error(
                credentials(
                    FORM,
                    b"username=a&username=b&password=x",
                    Accept::JsonOrForm
                ),
                "username"
            ),
            ["Not a valid string."]
        );
    }

    #[test]
    fn usernames_come_back_in_nfc() {
        for (sent, kept) in [
            ("e\u{301}mile", "émile"),
            ("émile", "émile"),
            ("A\u{30a}ngstro\u{308}m", "Ångström"),
            // Compatibility characters are kept: NFC, not NFKC.
            ("ﬁ ①", "ﬁ ①"),
        ] {
            let json = serde_json::json!({ "username": sent, "password": "pw" });
            let creds = credentials(JSON, json.to_string().as_bytes(), Accept::Json).expect(sent);
            assert_eq!(creds.username, kept, "{sent:?}");
            let form = format!(
                "username={}&password=pw",
                form_urlencoded::byte_serialize(sent.as_bytes()).collect::<String>()
            );
            let creds = credentials(FORM, form.as_bytes(), Accept::JsonOrForm).expect(sent);
            assert_eq!(creds.username, kept, "{sent:?} as a form");
        }
    }

    #[test]
    fn length_limits() {
        let ok = serde_json::json!({ "username": "é".repeat(150), "password": "p".repeat(1024) });
        credentials(JSON, ok.to_string().as_bytes(), Accept::Json).expect("at the limits");
        let long_name = serde_json::json!({ "username": "é".repeat(151), "password": "p" });
        assert_eq!(
            field_error(
                credentials(JSON, long_name.to_string().as_bytes(), Accept::Json),
                "username"
            ),
            ["Ensure this field has no more than 150 characters."]
        );
        // 150 decomposed characters are 300 as sent and 150 once composed.
        let decomposed = serde_json::json!({ "username": "e\u{301}".repeat(150), "password": "p" });
        let creds = credentials(JSON, decomposed.to_string().as_bytes(), Accept::Json)
            .expect("150 characters in NFC");
        assert_eq!(creds.username, "é".repeat(150));
        // 513 two-byte characters: 1026 bytes.
        let long_password = serde_json::json!({ "username": "a", "password": "é".repeat(513) });
        assert_eq!(
            field_error(
                credentials(JSON, long_password.to_string().as_bytes(), Accept::Json),
                "password"
            ),
            ["Ensure this field has no more than 1024 bytes."]
        );
    }

    #[test]
    fn large_bodies_are_413() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let error = credentials(JSON, &body, Accept::Json).expect_err("too large");
        assert_eq!(error.status(), 413);
    }

    #[test]
    fn debug_hides_the_password() {
        let creds = Credentials {
            username: "a".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
