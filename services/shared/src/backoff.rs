//! Exponential back-off with jitter, for every loop that retries a call to
//! another part: each wait doubles up to a ceiling, and is drawn between half
//! of it and all of it, so parts restarted together do not retry in step.

use std::time::Duration;

/// The waits between attempts of one retried call.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    ceiling: Duration,
    next: Duration,
}

impl Backoff {
    /// Waits starting at `first` and doubling up to `ceiling`.
    pub fn new(first: Duration, ceiling: Duration) -> Backoff {
        Backoff {
            first,
            ceiling: ceiling.max(first),
            next: first,
        }
    }

    /// The wait before the next attempt: between half the current step and
    /// the step, which then doubles (up to the ceiling).
    pub fn next_wait(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// After a success: the next failure waits the first step again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_ceiling_each_drawn_from_its_upper_half() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for step in [100, 200, 400, 800, 1000, 1000] {
            let wait = backoff.next_wait();
            let step = Duration::from_millis(step);
            assert!(wait >= step / 2 && wait <= step, "{wait:?} for {step:?}");
        }
        backoff.reset();
        assert!(backoff.next_wait() <= Duration::from_millis(100));
    }

    #[test]
    fn waits_are_spread_rather_than_in_step() {
        let waits: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(4), Duration::from_secs(4)).next_wait())
            .collect();
        assert!(waits.len() > 10, "{waits:?}");
    }
}
