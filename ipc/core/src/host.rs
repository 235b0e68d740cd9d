//! The game's handle on the network thread.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::bridge::{ChannelShared, Command, EventQueue, HostShared, NetEvent, OutboundMessage};
use crate::budget::{outbound_check, OutboundFull};
use crate::driver;
use crate::inbox::{Allowance, Inbox};
use crate::options::{ConnectOptions, HostOptions, ListenOptions};
use crate::types::{ChannelId, ChannelMap, Event, MessageKind, SendError, StartError};

/// How long [`IpcHost`]'s drop waits for clients to answer the 1001 close.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// The game's side of the IPC host: requests in, events out.
///
/// Requests (`listen`, `send`, `close`, ...) are queued and handed to the
/// network thread by [`flush`](Self::flush), once a frame: one wake-up of the
/// network thread per frame, whatever the number of messages. Events come
/// back through [`poll_event`](Self::poll_event), at most a
/// [`FrameBudget`](crate::FrameBudget) between two flushes, channels in
/// turn. Nothing here blocks on the network.
///
/// ```no_run
/// use fiasco_ipc_core::{Event, IpcHost, ListenOptions, MessageKind};
///
/// let mut host = IpcHost::start()?;
/// host.listen(1, 9001, ListenOptions::default());
/// loop {
///     host.flush();
///     while let Some(event) = host.poll_event() {
///         if let Event::Message(crate::Message { channel, kind, data, .. }) = event {
///             // Echo; a failed send is logged, and the channel's
///             // ChannelClosed follows when it closes for it.
///             let _ = host.send(channel, kind, data);
///         }
///     }
///     std::thread::sleep(std::time::Duration::from_millis(16)); // a frame
/// }
/// # Ok::<(), fiasco_ipc_core::StartError>(())
/// ```
#[must_use = "the host does nothing unless flushed and polled"]
pub struct IpcHost {
    commands: mpsc::UnboundedSender<Vec<Command>>,
    pending: Vec<Command>,
    queue: Arc<EventQueue>,
    inbox: Inbox,
    allowance: Allowance,
    scratch: Vec<NetEvent>,
    /// Every channel whose `ChannelClosed` the game has not taken yet.
    channels: ChannelMap<Channel>,
    shared: Arc<HostShared>,
    /// Whether the game took inbound messages since the last flush.
    released: bool,
    /// Set by each flush: the next poll takes what arrived meanwhile, so a
    /// new channel's message joins the turn within a frame.
    refill: bool,
    shutdown: Option<driver::ShutdownSignal>,
    thread: Option<JoinHandle<()>>,
}

/// What the game side keeps of a channel.
#[derive(Debug)]
struct Channel {
    shared: Arc<ChannelShared>,
    /// False once the game gave up on it (outbound full): sends are refused.
    open: bool,
}

impl std::fmt::Debug for IpcHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcHost")
            .field("channels", &self.channels.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl IpcHost {
    /// Starts the network thread (`fiasco-ipc`) with the default
    /// [`HostOptions`], listening nowhere yet.
    pub fn start() -> Result<Self, StartError> {
        Self::with_options(HostOptions::default())
    }

    /// Starts the network thread with `options`, checked first
    /// ([`StartError::InvalidOptions`]).
    pub fn with_options(options: HostOptions) -> Result<Self, StartError> {
        options.validate()?;
        let queue = Arc::new(EventQueue::default());
        let shared = Arc::new(HostShared::new(&options));
        let (commands, receiver) = mpsc::unbounded_channel();
        let (thread, shutdown) = driver::spawn(
            receiver,
            Arc::clone(&queue),
            Arc::clone(&shared),
            options.encoder.clone(),
            options.discovery.clone(),
        )?;
        Ok(Self {
            commands,
            pending: Vec::new(),
            queue,
            inbox: Inbox::default(),
            allowance: Allowance::new(options.frame_budget),
            scratch: Vec::new(),
            channels: ChannelMap::default(),
            shared,
            released: false,
            refill: true,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Listens on `port` (0: any free port). Answered by
    /// [`Event::ListenResult`] with this `user_id`, which every event about
    /// the port's channels carries.
    pub fn listen(&mut self, user_id: u64, port: u16, options: ListenOptions) {
        self.pending.push(Command::Listen {
            user_id,
            port,
            options: Box::new(options),
        });
    }

    /// Dials a WebSocket server and keeps the link up: reported by
    /// [`Event::ConnectStatus`] with this `user_id` and `connect_id` (which
    /// the requester picks, unique among its own), each connection a new
    /// channel ([`Event::ConnectionOpened`] with
    /// [`Direction::Outbound`](crate::Direction::Outbound)) on which
    /// messages and closes work as on inbound ones. After a failure, drop or
    /// close it dials again, backing off with jitter, until
    /// [`disconnect`](Self::disconnect) or shutdown.
    pub fn connect(&mut self, user_id: u64, connect_id: u64, options: ConnectOptions) {
        self.pending.push(Command::Connect {
            user_id,
            connect_id,
            options: Box::new(options),
        });
    }

    /// Stops dialing for `connect_id` and closes its channel with 1000,
    /// if open; [`ConnectState::Stopped`](crate::ConnectState::Stopped)
    /// follows.
    pub fn disconnect(&mut self, user_id: u64, connect_id: u64) {
        self.pending.push(Command::Disconnect {
            user_id,
            connect_id,
        });
    }

    /// Stops accepting on `port`; open channels stay open. Answered by
    /// [`Event::StopListeningResult`].
    pub fn stop_listening(&mut self, user_id: u64, port: u16) {
        self.pending.push(Command::StopListening { user_id, port });
    }

    /// Queues a message to a client. `data` is shared with the network
    /// thread, not copied (a [`Bytes`] made from an event's bytes stays a
    /// view of them).
    ///
    /// Errs, without sending, when the channel is unknown
    /// ([`SendError::UnknownChannel`]) or closing ([`SendError::Closing`]:
    /// its `ChannelClosed` tells why), or when this message would overflow
    /// the channel's outbound limits ([`SendError::ChannelFull`]) or the
    /// host's outbound budget ([`SendError::HostFull`]): then the channel
    /// is closed with 1008 and reported, as its client reads too slowly.
    pub fn send(
        &mut self,
        channel: ChannelId,
        kind: MessageKind,
        data: impl Into<Bytes>,
    ) -> Result<(), SendError> {
        let data = data.into();
        let Some(entry) = self.channels.get_mut(&channel) else {
            tracing::debug!(%channel, "message to an unknown channel not sent");
            return Err(SendError::UnknownChannel(channel));
        };
        if !entry.open {
            tracing::debug!(%channel, "message to a closing channel not sent");
            return Err(SendError::Closing(channel));
        }
        // From here the message releases what it counts when dropped.
        let (message, counts) = OutboundMessage::charge(kind, data, &entry.shared, &self.shared);
        let (messages, bytes, host_used) = (counts.messages, counts.bytes, counts.host_bytes);
        if let Err(full) = outbound_check(
            messages,
            bytes,
            &entry.shared.limits,
            host_used,
            self.shared.outbound.limit(),
        ) {
            drop(message);
            let error = match full {
                OutboundFull::Channel => SendError::ChannelFull {
                    channel,
                    messages,
                    bytes,
                },
                OutboundFull::Host => SendError::HostFull {
                    channel,
                    host_bytes: host_used,
                },
            };
            tracing::warn!(%error);
            entry.shared.outbound_full.notify_one();
            entry.open = false;
            return Err(error);
        }
        self.pending.push(Command::Send { channel, message });
        Ok(())
    }

    /// Closes a channel with a close code (1000 for normal) and reason.
    /// Answered by [`Event::ChannelClosed`] from [`ClosedBy::Agent`](crate::ClosedBy::Agent).
    pub fn close(&mut self, channel: ChannelId, code: u16, reason: impl Into<String>) {
        self.pending.push(Command::Close {
            channel,
            code,
            reason: reason.into(),
        });
    }

    /// Hands every queued request to the network thread, and starts a new
    /// frame's budget for [`poll_event`](Self::poll_event). Call once a
    /// frame: channels that stopped reading for want of room resume here.
    pub fn flush(&mut self) {
        self.allowance.reset();
        self.refill = true;
        if std::mem::take(&mut self.released) && self.shared.any_blocked() {
            self.pending.push(Command::Released);
        }
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        if self.commands.send(batch).is_err() {
            tracing::error!("the IPC network thread has stopped; requests dropped");
        }
    }

    /// The next event: host events first, then channels in turn (each
    /// channel's events in order). `None` when there is none right now, or
    /// when this frame's [`FrameBudget`](crate::FrameBudget) is spent (the
    /// rest waits for the next frame, after a [`flush`](Self::flush)).
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.inbox.is_empty() || std::mem::take(&mut self.refill) {
            self.refill();
        }
        let event = self.inbox.pop(&mut self.allowance)?;
        match &event {
            Event::Message(crate::Message { channel, .. }) => {
                if let Some(entry) = self.channels.get(channel) {
                    self.shared.taken(&entry.shared, event.held_bytes());
                    self.released = true;
                }
            }
            Event::ChannelClosed(crate::ChannelClosed { channel, .. }) => {
                self.channels.remove(channel);
            }
            _ => {}
        }
        Some(event)
    }

    /// Takes what the network thread queued since the last time.
    fn refill(&mut self) {
        self.queue.swap(&mut self.scratch);
        for event in self.scratch.drain(..) {
            match event {
                NetEvent::Opened(event, shared) => {
                    if let Event::ConnectionOpened(crate::ConnectionOpened { channel, .. }) = &event {
                        self.channels
                            .insert(*channel, Channel { shared, open: true });
                    }
                    self.inbox.push(event);
                }
                NetEvent::Event(event) => self.inbox.push(event),
            }
        }
    }

    /// Sets a function the network thread calls whenever it queues an event
    /// for the game, e.g. to wake a game loop that waits between frames.
    /// It must be cheap and must not block. Set once; returns false (and
    /// keeps the first) when one is already set.
    pub fn set_waker(&self, wake: impl Fn() + Send + Sync + 'static) -> bool {
        self.queue.set_waker(Box::new(wake))
    }

    /// Number of channels the game knows of and has not seen closed.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Inbound bytes the host holds right now, every channel together
    /// (messages waiting for the game and messages being read).
    pub fn inbound_bytes(&self) -> usize {
        self.shared.inbound.used()
    }

    /// Outbound bytes queued to every client together.
    pub fn outbound_bytes(&self) -> usize {
        self.shared.outbound.used()
    }

    /// Closes every connection with 1001 and waits up to `timeout` for the
    /// clients' answers, then stops and joins the network thread. The final
    /// `ChannelClosed` events stay available to [`poll_event`](Self::poll_event).
    pub fn shutdown(&mut self, timeout: Duration) {
        self.flush();
        // What is left is handed over whole: no more frames follow.
        self.allowance = Allowance::new(crate::FrameBudget::new(usize::MAX, usize::MAX));
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.signal(timeout);
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the IPC network thread panicked");
            }
        }
    }
}

impl Drop for IpcHost {
    fn drop(&mut self) {
        self.shutdown(DEFAULT_SHUTDOWN_TIMEOUT);
    }
}
