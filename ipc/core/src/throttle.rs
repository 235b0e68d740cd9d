//! Slowing down token guessing without locking anyone out. A wrong token is
//! answered late, the later the more that address failed recently (up to
//! [`MAX_DELAY`]); at most [`MAX_WAITING`] late answers per address wait at
//! once, more are closed at once. The right token is never delayed, whatever
//! its address did: on loopback every local process shares 127.0.0.1, and a
//! refusal by address would let one process lock out the others.
//!
//! The table is a fixed number of slots indexed by a keyed hash of the
//! address (an IPv6 address counts by its /64, what one host usually
//! holds), so many addresses cost no more memory: a newcomer takes the slot
//! of another address, which then only loses its history. Pure: the time is
//! passed in.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Addresses remembered at once.
pub(crate) const SLOTS: usize = 1024;
/// Late answers of one address waiting at once.
pub(crate) const MAX_WAITING: u32 = 4;
/// The longest delay of a wrong token's answer.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(1);
/// The delay after one recent failure; it doubles with each.
const BASE_DELAY: Duration = Duration::from_millis(40);
/// A failure is forgotten this long after the last one (one a step).
const FORGET_STEP: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: IpAddr,
    failures: u32,
    last: Instant,
    waiting: u32,
}

/// What to do with a wrong token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Answer 401 after this delay; call [`TokenThrottle::answered`] then.
    Delay(Duration),
    /// Too many of this address's answers wait: close at once, no answer.
    Close,
}

/// The per-address failure table.
#[derive(Debug)]
pub(crate) struct TokenThrottle {
    slots: Vec<Option<Entry>>,
    hasher: RandomState,
}

impl Default for TokenThrottle {
    fn default() -> Self {
        Self {
            slots: vec![None; SLOTS],
            hasher: RandomState::new(),
        }
    }
}

/// The address as the table counts it: IPv6 by its /64.
fn key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

impl TokenThrottle {
    fn slot(&mut self, key: IpAddr) -> &mut Option<Entry> {
        let index = (self.hasher.hash_one(key) % SLOTS as u64) as usize;
        &mut self.slots[index]
    }

    /// A wrong token from `address` at `now`.
    pub(crate) fn failed(&mut self, address: IpAddr, now: Instant) -> Verdict {
        let key = key(address);
        let slot = self.slot(key);
        let entry = match slot {
            Some(entry) if entry.key == key => entry,
            _ => slot.insert(Entry {
                key,
                failures: 0,
                last: now,
                waiting: 0,
            }),
        };
        let forgotten =
            now.saturating_duration_since(entry.last).as_millis() / FORGET_STEP.as_millis().max(1);
        entry.failures = entry
            .failures
            .saturating_sub(u32::try_from(forgotten).unwrap_or(u32::MAX));
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        if entry.waiting >= MAX_WAITING {
            return Verdict::Close;
        }
        entry.waiting += 1;
        let doublings = entry.failures.saturating_sub(1).min(16);
        Verdict::Delay(BASE_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY))
    }

    /// A late answer of `address` went out (or its connection ended).
    pub(crate) fn answered(&mut self, address: IpAddr) {
        let key = key(address);
        if let Some(entry) = self.slot(key) {
            if entry.key == key {
                entry.waiting = entry.waiting.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn delays_grow_with_failures_up_to_a_second() {
        let mut throttle = TokenThrottle::default();
        let now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..10 {
            match throttle.failed(LOCAL, now) {
                Verdict::Delay(delay) => delays.push(delay),
                Verdict::Close => panic!("never more than one waiting here"),
            }
            throttle.answered(LOCAL);
        }
        assert_eq!(delays[0], BASE_DELAY);
        assert!(
            delays.windows(2).all(|pair| pair[0] <= pair[1]),
            "{delays:?}"
        );
        assert_eq!(delays[9], MAX_DELAY);
    }

    #[test]
    fn failures_are_forgotten_with_time() {
        let mut throttle = TokenThrottle::default();
        let now = Instant::now();
        for _ in 0..10 {
            throttle.failed(LOCAL, now);
            throttle.answered(LOCAL);
        }
        let later = now + FORGET_STEP * 20;
        assert_eq!(throttle.failed(LOCAL, later), Verdict::Delay(BASE_DELAY));
    }

    #[test]
    fn at_most_a_few_answers_wait_per_address() {
        let mut throttle = TokenThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_WAITING {
            assert!(matches!(throttle.failed(LOCAL, now), Verdict::Delay(_)));
        }
        assert_eq!(throttle.failed(LOCAL, now), Verdict::Close);
        // Another address is not affected.
        let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
        assert!(matches!(throttle.failed(other, now), Verdict::Delay(_)));
        throttle.answered(LOCAL);
        assert!(matches!(throttle.failed(LOCAL, now), Verdict::Delay(_)));
    }

    #[test]
    fn the_table_stays_its_size_whatever_the_addresses() {
        let mut throttle = TokenThrottle::default();
        let now = Instant::now();
        for n in 0..100_000u32 {
            throttle.failed(IpAddr::V4(n.into()), now);
        }
        assert_eq!(throttle.slots.len(), SLOTS);
    }

    #[test]
    fn ipv6_counts_by_its_64_prefix() {
        let a: IpAddr = "2001:db8::1".parse().unwrap_or(LOCAL);
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap_or(LOCAL);
        let c: IpAddr = "2001:db8:0:1::1".parse().unwrap_or(LOCAL);
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(c));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap_or(LOCAL);
        assert_eq!(key(mapped), LOCAL);
    }
}
