//! Where the authenticator reads the time, so that tests can move it.

use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// A source of the current time in UTC.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now.
    fn now(&self) -> OffsetDateTime;

    /// Now, in whole milliseconds since the Unix epoch: what a request answered from
    /// the cache compares ages and expiry with. The default reads [`Clock::now`]; a
    /// clock that can count milliseconds more cheaply overrides it, and must agree
    /// with `now`.
    fn now_unix_millis(&self) -> i64 {
        unix_millis(self.now())
    }
}

/// `at` in whole milliseconds since the Unix epoch (rounded toward the epoch),
/// saturating.
pub(crate) fn unix_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The system's clock: what every application uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// Reads the system time without building a calendar date.
    fn now_unix_millis(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            // A system clock set before 1970.
            Err(_) => unix_millis(self.now()),
        }
    }
}

/// A clock that moves only when told to, for tests of expiry and throttling.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// A clock standing at the current system time, truncated to whole microseconds
    /// (what every store keeps).
    pub fn starting_now() -> Self {
        let now = OffsetDateTime::now_utc();
        let micros = now.microsecond();
        Self::new(now.replace_microsecond(micros).unwrap_or(now))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: OffsetDateTime) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_agree_with_the_calendar_time() {
        let manual = ManualClock::new(
            OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap(),
        );
        assert_eq!(manual.now_unix_millis(), 1_700_000_000_123);
        manual.advance(std::time::Duration::from_micros(877));
        assert_eq!(manual.now_unix_millis(), 1_700_000_000_124);

        // The system clock's shortcut reads the same time as its calendar reading
        // (the two reads are a moment apart; a minute covers a clock being stepped).
        let shortcut = SystemClock.now_unix_millis();
        let calendar = unix_millis(SystemClock.now());
        assert!(
            (calendar - shortcut).abs() < 60_000,
            "{shortcut} against {calendar}"
        );
        assert!(shortcut > 1_700_000_000_000, "milliseconds, not seconds");
    }
}
