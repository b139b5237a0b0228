//! The time services go by, movable in tests, and China Standard Time, on
//! which time limits, acceptance numbers and assessment periods count days.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};

use crate::storage::now_micros;

/// The time a service goes by: the system clock plus an offset, so tests (and a
/// rehearsal of the deadline sweep) can move it forward without waiting days.
#[derive(Debug, Default)]
pub struct Clock {
    offset_micros: AtomicI64,
}

impl Clock {
    /// Microseconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        now_micros() + self.offset_micros.load(Ordering::Relaxed)
    }

    /// Sets the clock to `now` (microseconds since the Unix epoch).
    pub fn set(&self, now: i64) {
        self.offset_micros
            .store(now - now_micros(), Ordering::Relaxed);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_micros
            .fetch_add(by.as_micros() as i64, Ordering::Relaxed);
    }
}

/// China Standard Time (UTC+8), Beijing's.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The Beijing date of an instant (microseconds since the Unix epoch); the
/// epoch's for an instant chrono cannot represent.
pub fn beijing_date(micros: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .with_timezone(&beijing())
        .date_naive()
}

/// The last microsecond of `date` in Beijing.
pub fn end_of_day(date: NaiveDate) -> i64 {
    let last = NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).expect("a valid time");
    date.and_time(last)
        .and_local_timezone(beijing())
        .single()
        .map_or(0, |t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_can_be_set_and_advanced() {
        let clock = Clock::default();
        clock.set(1_000_000);
        assert!((clock.now() - 1_000_000).abs() < 1_000_000);
        clock.advance(Duration::from_secs(10));
        assert!(clock.now() >= 11_000_000);
    }
}
