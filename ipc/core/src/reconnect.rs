//! The reconnect policy of an outbound link, as a pure state machine: the
//! time is passed in and the jitter comes from a seedable generator, so
//! every decision is unit-tested without sockets, a runtime or a clock.
//!
//! A link backs off from `initial` doubling up to `max` after each failure;
//! a connection that stayed up for [`STABLE`] resets the backoff to
//! `initial` (one that ends sooner, a server that closes at once, keeps
//! backing off). Each delay is drawn uniformly between half of the backoff
//! and all of it, so links that failed together do not dial together.

use std::time::Duration;

use tokio::time::Instant;

/// A connection that stayed up this long resets the backoff to its start.
pub(crate) const STABLE: Duration = Duration::from_secs(5);

/// The reconnect state of one link.
#[derive(Debug)]
pub(crate) struct Reconnect {
    initial: Duration,
    max: Duration,
    /// The backoff the next failure waits for (before jitter).
    base: Duration,
    /// Dialing attempts so far (the first is 1).
    attempt: u32,
    /// When the current connection opened, while one is up.
    up_since: Option<Instant>,
    rng: fastrand::Rng,
}

impl Reconnect {
    /// A policy backing off from `initial` to `max`, its jitter drawn from
    /// a generator seeded with `seed`.
    pub(crate) fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            base: initial,
            attempt: 0,
            up_since: None,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// A dialing attempt starts; returns its number (1, 2, ...).
    pub(crate) fn dialing(&mut self) -> u32 {
        self.attempt = self.attempt.saturating_add(1);
        self.attempt
    }

    /// The attempt connected at `now`.
    pub(crate) fn connected(&mut self, now: Instant) {
        self.up_since = Some(now);
    }

    /// The attempt failed, or the connection ended, at `now`: how long to
    /// wait before dialing again.
    pub(crate) fn failed(&mut self, now: Instant) -> Duration {
        if let Some(since) = self.up_since.take() {
            if now.saturating_duration_since(since) >= STABLE {
                self.base = self.initial;
            }
        }
        let delay = self.base.mul_f64(0.5 + self.rng.f64() / 2.0);
        self.base = (self.base * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> Reconnect {
        Reconnect::new(100 * MS, 1600 * MS, 7)
    }

    #[test]
    fn delays_double_up_to_the_cap_each_between_half_and_all_of_it() {
        let mut reconnect = policy();
        let now = Instant::now();
        for base in [100, 200, 400, 800, 1600, 1600, 1600] {
            reconnect.dialing();
            let delay = reconnect.failed(now);
            assert!(
                delay >= base * MS / 2 && delay <= base * MS,
                "{delay:?} for a backoff of {base} ms"
            );
        }
    }

    #[test]
    fn attempts_are_numbered_from_one() {
        let mut reconnect = policy();
        assert_eq!(reconnect.dialing(), 1);
        let _ = reconnect.failed(Instant::now());
        assert_eq!(reconnect.dialing(), 2);
    }

    #[test]
    fn a_stable_link_resets_the_backoff() {
        let mut reconnect = policy();
        let start = Instant::now();
        for _ in 0..4 {
            let _ = reconnect.failed(start);
        }
        // Up for exactly STABLE: the next wait starts again from 100 ms.
        reconnect.connected(start);
        let delay = reconnect.failed(start + STABLE);
        assert!(delay <= 100 * MS, "{delay:?}");
    }

    #[test]
    fn a_link_that_drops_at_once_keeps_backing_off() {
        let mut reconnect = policy();
        let start = Instant::now();
        for _ in 0..4 {
            let _ = reconnect.failed(start);
        }
        reconnect.connected(start);
        let delay = reconnect.failed(start + STABLE - MS);
        assert!(delay >= 800 * MS, "{delay:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let now = Instant::now();
        let delays = |seed| {
            let mut reconnect = Reconnect::new(100 * MS, 1600 * MS, seed);
            (0..8).map(|_| reconnect.failed(now)).collect::<Vec<_>>()
        };
        assert_eq!(delays(3), delays(3));
        assert_ne!(delays(3), delays(4));
    }

    #[test]
    fn a_cap_below_the_start_is_the_start() {
        let mut reconnect = Reconnect::new(100 * MS, 10 * MS, 1);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(reconnect.failed(now) <= 100 * MS);
        }
    }
}
