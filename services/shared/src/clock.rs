//! The time services go by, movable in tests.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

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
