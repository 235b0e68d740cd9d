//! The queues between the game thread and the network thread, and the
//! counts both threads keep on them.
//!
//! Game -> network: one batch of [`Command`]s per flush (one wake of the
//! network thread per frame, not one per message). Network -> game: a
//! mutex-guarded vector the game swaps out when it has served what it had.
//! Every message's bytes are counted, per channel ([`ChannelShared`]) and
//! host-wide ([`HostShared`]), from the moment the host holds them until the
//! game takes them (inbound) or the socket does (outbound).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use crate::budget::{Budget, Held};
use crate::options::{ConnectOptions, HostOptions, Limits, ListenOptions};
use crate::types::{ChannelId, Event, MessageKind};

/// A request from the game, as the network thread receives it.
#[derive(Debug)]
pub(crate) enum Command {
    Listen {
        user_id: u64,
        port: u16,
        options: Box<ListenOptions>,
    },
    StopListening {
        user_id: u64,
        port: u16,
    },
    /// A message, a keyed place or a round-trip request for one channel.
    Send {
        channel: ChannelId,
        outbound: crate::channel::Outbound,
    },
    Close {
        channel: ChannelId,
        code: u16,
        reason: String,
    },
    Connect {
        user_id: u64,
        connect_id: u64,
        options: Box<ConnectOptions>,
    },
    Disconnect {
        user_id: u64,
        connect_id: u64,
    },
    /// The game took inbound messages: channels waiting for room may read.
    Released,
    /// Start recording (one recording at a time).
    Record {
        user_id: u64,
        options: Box<crate::RecordOptions>,
    },
    /// Stop `user_id`'s recording.
    StopRecording {
        user_id: u64,
    },
}

/// A message on its way to a client, counted against its channel's and the
/// host's outbound limits until it is dropped: written to the socket, or
/// discarded because its channel closed. Either way its bytes are released
/// exactly once.
#[derive(Debug)]
pub(crate) struct OutboundMessage {
    pub(crate) kind: MessageKind,
    pub(crate) data: Bytes,
    channel: Arc<ChannelShared>,
    host: Arc<HostShared>,
}

/// The outbound counts with one more message in: the channel's messages
/// and bytes, and the host's bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutboundCounts {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
    pub(crate) host_bytes: usize,
}

impl OutboundMessage {
    /// Counts the message against its channel and the host (released when
    /// it drops); returns it with the new counts.
    pub(crate) fn charge(
        kind: MessageKind,
        data: Bytes,
        channel: &Arc<ChannelShared>,
        host: &Arc<HostShared>,
    ) -> (Self, OutboundCounts) {
        let len = data.len();
        let counts = OutboundCounts {
            messages: channel.outbound_messages.fetch_add(1, Ordering::AcqRel) + 1,
            bytes: channel.outbound_bytes.fetch_add(len, Ordering::AcqRel) + len,
            host_bytes: host.outbound.charge(len),
        };
        let message = Self {
            kind,
            data,
            channel: Arc::clone(channel),
            host: Arc::clone(host),
        };
        (message, counts)
    }
}

impl Drop for OutboundMessage {
    fn drop(&mut self) {
        let len = self.data.len();
        self.channel
            .outbound_messages
            .fetch_sub(1, Ordering::AcqRel);
        self.channel.outbound_bytes.fetch_sub(len, Ordering::AcqRel);
        self.host.outbound.release(len);
    }
}

/// Counts one channel shares between its connection task and the game.
#[derive(Debug)]
pub(crate) struct ChannelShared {
    pub(crate) limits: Limits,
    /// Inbound bytes held: complete messages waiting for the game and the
    /// message being read.
    pub(crate) inbound_bytes: AtomicUsize,
    /// Complete inbound messages waiting for the game.
    pub(crate) inbound_messages: AtomicUsize,
    /// The connection task, when it stopped reading for want of room.
    pub(crate) read_waker: AtomicWaker,
    /// Set while the task waits in [`HostShared::blocked`].
    pub(crate) read_blocked: AtomicBool,
    /// Messages and bytes the game queued and the socket has not taken yet.
    pub(crate) outbound_messages: AtomicUsize,
    pub(crate) outbound_bytes: AtomicUsize,
    /// Notified when the game gives up on the channel because its client
    /// reads too slowly: the connection closes ahead of its queued messages.
    pub(crate) outbound_full: Notify,
    /// The newest message of each conflation key not yet started on the
    /// socket; the channel's queue holds one place per key.
    pub(crate) keyed: Mutex<KeyedSlots>,
    /// Counters for [`ChannelStats`](crate::ChannelStats).
    pub(crate) stats: StatsCounters,
}

/// Keyed messages waiting on a channel, shared by the game thread (which
/// replaces a waiting value in place) and the channel's state machine
/// (which takes a key's value when its place comes up).
#[derive(Debug, Default)]
pub(crate) struct KeyedSlots {
    /// The newest value per key.
    pub(crate) slots: HashMap<u64, OutboundMessage>,
    /// The channel ended: nothing more is kept (the values would hold the
    /// channel's counts, and the channel, forever).
    pub(crate) closed: bool,
}

/// What a channel's stats read besides the queue counts.
#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    pub(crate) sent_messages: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    pub(crate) conflated: AtomicU64,
    /// The last timed ping's round trip in microseconds; 0: none yet.
    pub(crate) round_trip_us: AtomicU64,
}

impl ChannelShared {
    /// Locks the keyed slots.
    pub(crate) fn keyed(&self) -> std::sync::MutexGuard<'_, KeyedSlots> {
        self.keyed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The channel ended: drops every waiting keyed value (releasing its
    /// bytes) and refuses new ones.
    pub(crate) fn close_keyed(&self) {
        let dropped = {
            let mut keyed = self.keyed();
            keyed.closed = true;
            std::mem::take(&mut keyed.slots)
        };
        drop(dropped);
    }
}

impl ChannelShared {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            inbound_bytes: AtomicUsize::new(0),
            inbound_messages: AtomicUsize::new(0),
            read_waker: AtomicWaker::new(),
            read_blocked: AtomicBool::new(false),
            outbound_messages: AtomicUsize::new(0),
            outbound_bytes: AtomicUsize::new(0),
            outbound_full: Notify::new(),
            keyed: Mutex::default(),
            stats: StatsCounters::default(),
        }
    }

    pub(crate) fn held(&self) -> Held {
        Held {
            bytes: self.inbound_bytes.load(Ordering::Acquire),
            messages: self.inbound_messages.load(Ordering::Acquire),
        }
    }
}

/// Host-wide counts and the channels waiting for room.
#[derive(Debug)]
pub(crate) struct HostShared {
    /// Inbound bytes every channel holds.
    pub(crate) inbound: Budget,
    /// Outbound bytes queued to every channel.
    pub(crate) outbound: Budget,
    /// Inbound bytes a channel may always hold, however full the host is.
    pub(crate) reserve: usize,
    /// Channels that stopped reading for want of room, woken (on the network
    /// thread) when the game has taken messages.
    blocked: Mutex<Vec<Arc<ChannelShared>>>,
    any_blocked: AtomicBool,
}

impl HostShared {
    pub(crate) fn new(options: &HostOptions) -> Self {
        Self {
            inbound: Budget::new(options.inbound_budget),
            outbound: Budget::new(options.outbound_budget),
            reserve: options.channel_reserve,
            blocked: Mutex::new(Vec::new()),
            any_blocked: AtomicBool::new(false),
        }
    }

    /// Puts a channel on the waiting list (once).
    pub(crate) fn block(&self, channel: &Arc<ChannelShared>) {
        if !channel.read_blocked.swap(true, Ordering::AcqRel) {
            self.blocked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Arc::clone(channel));
            self.any_blocked.store(true, Ordering::Release);
        }
    }

    /// Whether any channel waits for room (cheap; for the game thread).
    pub(crate) fn any_blocked(&self) -> bool {
        self.any_blocked.load(Ordering::Acquire)
    }

    /// Wakes every waiting channel; each checks its gate again. Called on
    /// the network thread, where waking a task costs no system call.
    pub(crate) fn wake_blocked(&self) {
        let waiting = {
            let mut blocked = self
                .blocked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.any_blocked.store(false, Ordering::Release);
            std::mem::take(&mut *blocked)
        };
        for channel in waiting {
            channel.read_blocked.store(false, Ordering::Release);
            channel.read_waker.wake();
        }
    }

    /// The game took an inbound message of `bytes` from `channel`.
    pub(crate) fn taken(&self, channel: &ChannelShared, bytes: usize) {
        channel.inbound_messages.fetch_sub(1, Ordering::AcqRel);
        channel.inbound_bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.inbound.release(bytes);
    }
}

/// An event on its way to the game, with what the game side needs to keep.
#[derive(Debug)]
pub(crate) enum NetEvent {
    Event(Event),
    Opened(Event, Arc<ChannelShared>),
}

/// Called after each push, so a waiting game can run a frame.
pub(crate) type WakeFn = Box<dyn Fn() + Send + Sync>;

/// Network -> game events.
#[derive(Default)]
pub(crate) struct EventQueue {
    events: Mutex<Vec<NetEvent>>,
    waker: std::sync::OnceLock<WakeFn>,
}

impl std::fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue").finish_non_exhaustive()
    }
}

impl EventQueue {
    pub(crate) fn push(&self, event: NetEvent) {
        // A poisoned lock means a panic while pushing a value, which leaves
        // the vector itself intact: keep going.
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
        if let Some(wake) = self.waker.get() {
            wake();
        }
    }

    /// Sets the function called after each push (once; later calls are
    /// ignored and return false).
    pub(crate) fn set_waker(&self, wake: WakeFn) -> bool {
        self.waker.set(wake).is_ok()
    }

    /// Moves every queued event into `out` (which must be empty), leaving
    /// `out`'s old allocation in the queue for reuse.
    pub(crate) fn swap(&self, out: &mut Vec<NetEvent>) {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::swap(&mut *events, out);
    }
}
