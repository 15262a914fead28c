//! Where the authenticator reads the time, so that tests can move it.

use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

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

    /// Milliseconds on a clock that never goes back, from any fixed origin: what the
    /// age of a cache entry is measured on, so that a wall clock stepped backwards
    /// (by NTP, or by hand) cannot keep a cached token alive past the cache ttl.
    ///
    /// The default reads [`Clock::now_unix_millis`], which steps with the wall clock:
    /// a clock of one's own should override it with a monotonic reading.
    fn monotonic_millis(&self) -> i64 {
        self.now_unix_millis()
    }
}

/// `at` in whole milliseconds since the Unix epoch (rounded toward the epoch),
/// saturating.
pub(crate) fn unix_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `at` in whole microseconds since the Unix epoch (rounded toward the epoch),
/// saturating: the precision every store keeps times in.
pub(crate) fn unix_micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The time `micros` microseconds after the Unix epoch, or `None` past the calendar.
pub(crate) fn from_unix_micros(micros: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
}

/// `at` truncated to whole microseconds, as a store gives it back.
pub(crate) fn to_store_precision(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
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

    /// Milliseconds since this process first asked, on [`Instant`].
    fn monotonic_millis(&self) -> i64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        i64::try_from(origin.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to, for tests of expiry and throttling.
///
/// [`ManualClock::advance`] moves the wall time and the monotonic reading together;
/// [`ManualClock::set`] steps the wall time alone, as a real clock stepped by NTP
/// does, so that tests can step it backwards.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Readings>,
}

#[derive(Debug, Clone, Copy)]
struct Readings {
    wall: OffsetDateTime,
    monotonic_millis: i64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(Readings {
                wall: start,
                monotonic_millis: 0,
            }),
        }
    }

    fn readings(&self) -> std::sync::MutexGuard<'_, Readings> {
        self.now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A clock standing at the current system time, truncated to whole microseconds
    /// (what every store keeps).
    pub fn starting_now() -> Self {
        let now = OffsetDateTime::now_utc();
        let micros = now.microsecond();
        Self::new(now.replace_microsecond(micros).unwrap_or(now))
    }

    /// Moves the clock forward: wall time and monotonic reading alike.
    ///
    /// # Panics
    ///
    /// When the wall time would pass the end of year 9999.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.readings();
        now.wall += by;
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        now.monotonic_millis = now.monotonic_millis.saturating_add(millis);
    }

    /// Steps the wall time to `to`, forward or back; the monotonic reading stays.
    pub fn set(&self, to: OffsetDateTime) {
        self.readings().wall = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.readings().wall
    }

    fn monotonic_millis(&self) -> i64 {
        self.readings().monotonic_millis
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
