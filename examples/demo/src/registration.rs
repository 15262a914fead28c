//! What a registration must hold: a username and password within bounds, the username
//! in Unicode NFC.

use crate::error::{DemoError, FieldErrors};

/// The longest username, in characters (after NFC).
pub const MAX_USERNAME_CHARS: usize = 150;
/// The longest password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The username as it will be stored (in NFC, otherwise as sent), when both fields are
/// within bounds; every field's problems at once otherwise, worded as DRF words them.
pub(crate) fn check(username: &str, password: &str) -> Result<String, DemoError> {
    let mut errors = FieldErrors::new();
    // Checked as it will be stored: in NFC, which may have fewer characters (or, for
    // a few scripts, more) than the name as sent.
    let username = crate::users::nfc(username);
    if username.trim().is_empty() {
        errors.add("username", "This field may not be blank.");
    } else if username.chars().count() > MAX_USERNAME_CHARS {
        errors.add(
            "username",
            "Ensure this field has no more than 150 characters.",
        );
    } else if username.chars().any(char::is_control) {
        errors.add(
            "username",
            "Enter a valid username. Control characters are not allowed.",
        );
    }
    if password.is_empty() {
        errors.add("password", "This field may not be blank.");
    } else if password.len() > MAX_PASSWORD_BYTES {
        errors.add("password", "Ensure this field has no more than 1024 bytes.");
    }
    if errors.is_empty() {
        Ok(username.into_owned())
    } else {
        Err(DemoError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_error(result: Result<String, DemoError>, field: &str) -> Vec<&'static str> {
        match result {
            Err(DemoError::Validation(errors)) => errors.get(field).to_vec(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn good_fields_come_back_unchanged() {
        assert_eq!(check("Zoë 🦀", "pw").expect("valid"), "Zoë 🦀");
        assert_eq!(check(" ada ", "pw").expect("valid"), " ada ");
    }

    #[test]
    fn blank_fields() {
        for blank in ["", "   ", "\t"] {
            assert_eq!(
                field_error(check(blank, "pw"), "username"),
                ["This field may not be blank."]
            );
        }
        assert_eq!(
            field_error(check("ada", ""), "password"),
            ["This field may not be blank."]
        );
        let both = check("", "");
        let Err(DemoError::Validation(errors)) = both else {
            panic!("{both:?}");
        };
        assert_eq!(
            errors.get("username").len() + errors.get("password").len(),
            2
        );
    }

    #[test]
    fn usernames_come_back_in_nfc() {
        let decomposed = "Rene\u{301}";
        assert_eq!(check(decomposed, "pw").expect("valid"), "Ren\u{e9}");
    }

    #[test]
    fn length_limits() {
        assert!(check(&"é".repeat(MAX_USERNAME_CHARS), "pw").is_ok());
        assert_eq!(
            field_error(check(&"é".repeat(MAX_USERNAME_CHARS + 1), "pw"), "username"),
            ["Ensure this field has no more than 150 characters."]
        );
        // 150 characters in NFC, 300 as sent.
        assert!(check(&"e\u{301}".repeat(MAX_USERNAME_CHARS), "pw").is_ok());
        assert!(check("ada", &"p".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert_eq!(
            field_error(
                check("ada", &"p".repeat(MAX_PASSWORD_BYTES + 1)),
                "password"
            ),
            ["Ensure this field has no more than 1024 bytes."]
        );
    }

    #[test]
    fn control_characters_are_refused() {
        for name in ["ada\u{0}", "a\nb", "\u{7f}x"] {
            assert_eq!(
                field_error(check(name, "pw"), "username"),
                ["Enter a valid username. Control characters are not allowed."],
                "{name:?}"
            );
        }
    }
}
