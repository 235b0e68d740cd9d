//! The queues between the game thread and the network thread.
//!
//! Game -> network: one batch of [`Command`]s per flush (one wake of the
//! network thread per frame, not one per message). Network -> game: a
//! mutex-guarded vector the game swaps out once per poll. Memory is bounded
//! per channel by [`ChannelShared`]'s counters (see `Limits`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::options::{Limits, ListenOptions};
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
    Send {
        channel: ChannelId,
        kind: MessageKind,
        data: Bytes,
    },
    Close {
        channel: ChannelId,
        code: u16,
        reason: String,
    },
}

/// What a connection task is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    Message(MessageKind, Bytes),
    Close(u16, String),
}

/// Counters one channel shares between its connection task and the game.
#[derive(Debug)]
pub(crate) struct ChannelShared {
    pub(crate) limits: Limits,
    /// Messages pushed to the game and not yet polled.
    pub(crate) inbound: AtomicUsize,
    /// Messages and bytes the game queued and the socket has not taken yet.
    pub(crate) outbound_messages: AtomicUsize,
    pub(crate) outbound_bytes: AtomicUsize,
    /// Notified when the game gives up on the channel because its client
    /// reads too slowly: the connection closes ahead of its queued messages.
    pub(crate) outbound_full: Notify,
}

impl ChannelShared {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            inbound: AtomicUsize::new(0),
            outbound_messages: AtomicUsize::new(0),
            outbound_bytes: AtomicUsize::new(0),
            outbound_full: Notify::new(),
        }
    }

    /// The socket took a message of `len` bytes.
    pub(crate) fn sent(&self, len: usize) {
        self.outbound_messages.fetch_sub(1, Ordering::AcqRel);
        self.outbound_bytes.fetch_sub(len, Ordering::AcqRel);
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
