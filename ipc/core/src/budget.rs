//! Byte budgets: what the host holds, counted per channel and host-wide,
//! and the decisions taken on those counts. The decisions are pure
//! functions, so the policy is tested without sockets.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::options::Limits;

/// A count of bytes held against a limit. Charged and released from both
/// threads; never blocks.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Adds `bytes`; returns the new total.
    pub(crate) fn charge(&self, bytes: usize) -> usize {
        self.used.fetch_add(bytes, Ordering::AcqRel) + bytes
    }

    pub(crate) fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

/// Whether a channel's socket may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Read.
    Open,
    /// The channel holds its share: wait until the game takes its messages.
    ChannelFull,
    /// The host holds its whole budget: wait until the game takes messages
    /// of any channel.
    HostFull,
}

/// What one channel holds inbound, as the gate sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// Bytes: complete messages waiting for the game plus the message being
    /// read.
    pub(crate) bytes: usize,
    /// Complete messages waiting for the game.
    pub(crate) messages: usize,
}

/// The backpressure decision for one channel.
///
/// A channel never holds more than its share (`max_inbound_bytes`, and
/// `max_inbound_messages` complete messages). Beyond its `reserve`, it reads
/// only while the host-wide budget has room; within the reserve it always
/// reads, so a quiet channel is served however full the budget is. Reads
/// are of at most one read buffer, so the counts overshoot by at most that.
pub(crate) fn inbound_gate(
    held: Held,
    limits: &Limits,
    reserve: usize,
    host_used: usize,
    host_limit: usize,
) -> Gate {
    if held.messages >= limits.max_inbound_messages || held.bytes >= limits.max_inbound_bytes {
        Gate::ChannelFull
    } else if held.bytes < reserve || host_used < host_limit {
        Gate::Open
    } else {
        Gate::HostFull
    }
}

/// Why the game may not queue one more message to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutboundFull {
    /// The channel's own queue is over `max_outbound_messages` or
    /// `max_outbound_bytes`.
    Channel,
    /// Every channel's queues together are over the host's outbound budget.
    Host,
}

/// Whether a channel's outbound queue, with one more message counted in
/// (`messages`, `bytes` of the channel; `host_used` of every channel), is
/// within its limits.
pub(crate) fn outbound_check(
    messages: usize,
    bytes: usize,
    limits: &Limits,
    host_used: usize,
    host_limit: usize,
) -> Result<(), OutboundFull> {
    if messages > limits.max_outbound_messages || bytes > limits.max_outbound_bytes {
        Err(OutboundFull::Channel)
    } else if host_used > host_limit {
        Err(OutboundFull::Host)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn held(bytes: usize, messages: usize) -> Held {
        Held { bytes, messages }
    }

    #[test]
    fn a_channel_stops_at_its_share_in_bytes_or_messages() {
        let limits = Limits::default();
        let share = limits.max_inbound_bytes;
        assert_eq!(
            inbound_gate(held(share - 1, 0), &limits, 0, 0, usize::MAX),
            Gate::Open
        );
        assert_eq!(
            inbound_gate(held(share, 0), &limits, 0, 0, usize::MAX),
            Gate::ChannelFull
        );
        let many = limits.max_inbound_messages;
        assert_eq!(
            inbound_gate(held(10, many), &limits, 0, 0, usize::MAX),
            Gate::ChannelFull
        );
    }

    #[test]
    fn the_reserve_reads_however_full_the_host_is() {
        let limits = Limits::default();
        let reserve = 64 * 1024;
        assert_eq!(
            inbound_gate(held(reserve - 1, 3), &limits, reserve, 200 * MIB, 128 * MIB),
            Gate::Open
        );
        assert_eq!(
            inbound_gate(held(reserve, 3), &limits, reserve, 200 * MIB, 128 * MIB),
            Gate::HostFull
        );
        assert_eq!(
            inbound_gate(held(reserve, 3), &limits, reserve, 100 * MIB, 128 * MIB),
            Gate::Open
        );
    }

    #[test]
    fn outbound_limits_per_channel_and_host() {
        let limits = Limits::default();
        assert_eq!(outbound_check(1, MIB, &limits, MIB, 128 * MIB), Ok(()));
        assert_eq!(
            outbound_check(1, limits.max_outbound_bytes + 1, &limits, MIB, 128 * MIB),
            Err(OutboundFull::Channel)
        );
        assert_eq!(
            outbound_check(limits.max_outbound_messages + 1, 1, &limits, MIB, 128 * MIB),
            Err(OutboundFull::Channel)
        );
        assert_eq!(
            outbound_check(1, MIB, &limits, 129 * MIB, 128 * MIB),
            Err(OutboundFull::Host)
        );
    }

    #[test]
    fn budgets_count_both_ways() {
        let budget = Budget::new(10);
        assert_eq!(budget.charge(4), 4);
        assert_eq!(budget.charge(7), 11);
        budget.release(4);
        assert_eq!(budget.used(), 7);
        assert_eq!(budget.limit(), 10);
    }
}
