//! Inbound metering: every byte read counts against the channel's share
//! and the host's inbound budget until it is part of a message the game has
//! taken. When there is no room, the socket is simply not read (TCP pushes
//! back on the client) until the game takes messages. No I/O here: the
//! channel's state machine asks [`Meter::gate`] before each read and tells
//! the meter what it read.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::Instant;

use crate::bridge::{ChannelShared, HostShared};
use crate::budget::{inbound_gate, Gate};

/// One channel's inbound counts, kept with the host's.
#[derive(Debug)]
pub(crate) struct Meter {
    channel: Arc<ChannelShared>,
    host: Arc<HostShared>,
    /// Bytes read since the last complete message or control frame.
    partial: usize,
    /// When `partial` became non-zero: the message must end
    /// `message_timeout` later.
    started: Option<Instant>,
}

impl Meter {
    pub(crate) fn new(channel: Arc<ChannelShared>, host: Arc<HostShared>) -> Self {
        Self {
            channel,
            host,
            partial: 0,
            started: None,
        }
    }

    /// The channel's shared counts.
    pub(crate) fn channel(&self) -> &Arc<ChannelShared> {
        &self.channel
    }

    /// Whether the channel may read now.
    pub(crate) fn gate(&self) -> Gate {
        inbound_gate(
            self.channel.held(),
            &self.channel.limits,
            self.host.reserve,
            self.host.inbound.used(),
            self.host.inbound.limit(),
        )
    }

    /// `bytes` were read at `now`.
    pub(crate) fn read(&mut self, bytes: usize, now: Instant) {
        if bytes == 0 {
            return;
        }
        if self.partial == 0 {
            self.started = Some(now);
        }
        self.partial += bytes;
        self.channel
            .inbound_bytes
            .fetch_add(bytes, Ordering::AcqRel);
        self.host.inbound.charge(bytes);
    }

    /// When the message being read started, if one is.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.started
    }

    /// A complete message (or control frame) came out of what was read:
    /// the bytes read for it are no longer partial; its `charge` bytes
    /// (0 for a control frame) now wait for the game.
    pub(crate) fn message_done(&mut self, charge: usize) {
        let partial = std::mem::take(&mut self.partial);
        self.started = None;
        if charge > 0 {
            self.channel.inbound_messages.fetch_add(1, Ordering::AcqRel);
            self.channel
                .inbound_bytes
                .fetch_add(charge, Ordering::AcqRel);
            self.host.inbound.charge(charge);
        }
        self.channel
            .inbound_bytes
            .fetch_sub(partial, Ordering::AcqRel);
        self.host.inbound.release(partial);
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let partial = std::mem::take(&mut self.partial);
        if partial > 0 {
            self.channel
                .inbound_bytes
                .fetch_sub(partial, Ordering::AcqRel);
            self.host.inbound.release(partial);
            // Room for the others (this runs on the network thread).
            self.host.wake_blocked();
        }
    }
}
