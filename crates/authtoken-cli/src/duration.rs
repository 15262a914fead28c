//! Durations as people type them: `30d`, `12h`, `10m`, `45s`, `2w`, or several
//! together such as `1h30m`.

use std::time::Duration;

/// Why a duration could not be read; the text explains it in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(String);

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurationError {}

fn invalid(input: &str, why: &str) -> DurationError {
    DurationError(format!(
        "invalid duration {input:?}: {why} (write a number and a unit, s, m, h, d or w, e.g. 30d, 12h, 10m, 45s)"
    ))
}

/// Parses `30d`, `12h`, `10m`, `45s`, `2w`, and sums such as `1h30m`.
///
/// # Errors
///
/// A [`DurationError`] naming the input and what is wrong with it.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(invalid(input, "it is empty"));
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid(input, "expected a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| invalid(input, "the number is too large"))?;
        rest = &rest[digits..];
        let Some(unit) = rest.chars().next() else {
            return Err(invalid(input, "the unit is missing"));
        };
        let seconds_per_unit = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(invalid(input, &format!("unknown unit {unit:?}"))),
        };
        rest = &rest[unit.len_utf8()..];
        total = number
            .checked_mul(seconds_per_unit)
            .and_then(|seconds| total.checked_add(seconds))
            // Beyond what a date can hold: refuse it here rather than overflow later.
            .filter(|&seconds| seconds <= 100 * 365 * 86_400)
            .ok_or_else(|| invalid(input, "it is longer than 100 years"))?;
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_unit() {
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn sums_several_parts() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("1d1s"), Ok(Duration::from_secs(86_401)));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "",
            "  ",
            "30",
            "d",
            "30x",
            "-5m",
            "1.5h",
            "10 m",
            "99999999999999999999s",
            "999999w",
            "5m!",
        ] {
            let error = parse_duration(bad).expect_err(bad).to_string();
            assert!(error.starts_with("invalid duration"), "{bad}: {error}");
            assert!(!error.contains('\n'), "{bad}: {error}");
        }
    }
}
