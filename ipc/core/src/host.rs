//! The game's handle on the network thread.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::bridge::OutboundCounts;
use crate::bridge::{ChannelShared, Command, EventQueue, HostShared, NetEvent, OutboundMessage};
use crate::budget::{outbound_check, OutboundFull};
use crate::channel::Outbound;
use crate::driver;
use crate::inbox::{Allowance, Inbox};
use crate::options::{ConnectOptions, HostOptions, ListenOptions};
use crate::types::{
    ChannelId, ChannelMap, ChannelStats, Event, MessageKind, SendError, SendOptions, StartError,
};

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
///         if let Event::Message(message) = event {
///             // Echo; a failed send is logged, and the channel's
///             // ChannelClosed follows when it closes for it.
///             let _ = host.send(message.channel, message.kind, message.data);
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
    /// Answers of the game thread's own (stats), given out first.
    answers: std::collections::VecDeque<Event>,
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
            options.record.clone(),
        )?;
        Ok(Self {
            commands,
            pending: Vec::new(),
            queue,
            inbox: Inbox::default(),
            allowance: Allowance::new(options.frame_budget),
            scratch: Vec::new(),
            channels: ChannelMap::default(),
            answers: std::collections::VecDeque::new(),
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
        self.send_with(channel, kind, data, &SendOptions::default())
    }

    /// Sends as [`send`](Self::send) does, with a conflation key, a
    /// priority, or more channels ([`SendOptions`]). The result is
    /// `channel`'s; each channel of `also_to` gets a reference to the same
    /// bytes (no copy) and is refused or closed on its own, as by `send`.
    ///
    /// A keyed message (`conflation_key` not 0) that finds a message of the
    /// same key waiting on the channel (not yet started on the socket)
    /// replaces it in its place in the queue; the limits are checked on
    /// the queue after the replacement, so a keyed stream to a slow reader
    /// never fills them.
    pub fn send_with(
        &mut self,
        channel: ChannelId,
        kind: MessageKind,
        data: impl Into<Bytes>,
        options: &SendOptions<'_>,
    ) -> Result<(), SendError> {
        let data = data.into();
        for &other in options.also_to {
            if other != channel {
                let _ = self.send_one(other, kind, data.clone(), options);
            }
        }
        self.send_one(channel, kind, data, options)
    }

    /// Queues one channel's reference to a message.
    fn send_one(
        &mut self,
        channel: ChannelId,
        kind: MessageKind,
        data: Bytes,
        options: &SendOptions<'_>,
    ) -> Result<(), SendError> {
        let Some(entry) = self.channels.get_mut(&channel) else {
            tracing::debug!(%channel, "message to an unknown channel not sent");
            return Err(SendError::UnknownChannel(channel));
        };
        if !entry.open {
            tracing::debug!(%channel, "message to a closing channel not sent");
            return Err(SendError::Closing(channel));
        }
        let (key, priority) = (options.conflation_key, options.priority);
        let checked = if key == 0 {
            // From here the message releases what it counts when dropped.
            let (message, counts) =
                OutboundMessage::charge(kind, data, &entry.shared, &self.shared);
            check(&entry.shared, &self.shared, counts).map(|()| {
                self.pending.push(Command::Send {
                    channel,
                    outbound: Outbound::Message(message, priority),
                });
            })
        } else {
            let mut keyed = entry.shared.keyed();
            if keyed.closed {
                tracing::debug!(%channel, "message to a closed channel not sent");
                return Err(SendError::Closing(channel));
            }
            // The waiting value goes first: the limits see the queue after
            // the replacement.
            let replaced = keyed.slots.remove(&key);
            let had_place = replaced.is_some();
            if had_place {
                drop(replaced);
                entry
                    .shared
                    .stats
                    .conflated
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let (message, counts) =
                OutboundMessage::charge(kind, data, &entry.shared, &self.shared);
            let checked = check(&entry.shared, &self.shared, counts);
            if checked.is_ok() {
                keyed.slots.insert(key, message);
                if !had_place {
                    self.pending.push(Command::Send {
                        channel,
                        outbound: Outbound::Keyed(key, priority),
                    });
                }
            }
            checked
        };
        checked.map_err(|full| {
            let error = match full {
                Full::Channel { messages, bytes } => SendError::ChannelFull {
                    channel,
                    messages,
                    bytes,
                },
                Full::Host { host_bytes } => SendError::HostFull {
                    channel,
                    host_bytes,
                },
            };
            tracing::warn!(%error);
            entry.shared.outbound_full.notify_one();
            entry.open = false;
            error
        })
    }

    /// Asks for a channel's counters: answered by one
    /// [`Event::ChannelStats`] from the next [`poll_event`](Self::poll_event)
    /// (read from counters the threads share: no system call here). The
    /// round trip comes from pings the host times: asking starts one a
    /// second on the channel for the next 10 s, so ask again to keep it
    /// fresh.
    pub fn channel_stats(&mut self, user_id: u64, channel: ChannelId) {
        let mut stats = ChannelStats {
            user_id,
            channel,
            ..ChannelStats::default()
        };
        if let Some(entry) = self.channels.get(&channel) {
            use std::sync::atomic::Ordering::Relaxed;
            let shared = &entry.shared;
            let counters = &shared.stats;
            let round_trip = counters.round_trip_us.load(Relaxed);
            stats = ChannelStats {
                open: entry.open,
                queued_messages: saturate(shared.outbound_messages.load(Relaxed)),
                queued_bytes: shared.outbound_bytes.load(Relaxed) as u64,
                sent_messages: counters.sent_messages.load(Relaxed),
                sent_bytes: counters.sent_bytes.load(Relaxed),
                conflated_messages: counters.conflated.load(Relaxed),
                inbound_messages: saturate(shared.inbound_messages.load(Relaxed)),
                inbound_bytes: shared.inbound_bytes.load(Relaxed) as u64,
                round_trip: (round_trip > 0).then(|| Duration::from_micros(round_trip)),
                ..stats
            };
            if entry.open {
                self.pending.push(Command::Send {
                    channel,
                    outbound: Outbound::MeasureRoundTrip,
                });
            }
        }
        self.answers.push_back(Event::ChannelStats(stats));
    }

    /// Starts recording every channel (or those on `options.ports`) to an
    /// MCAP file, off the game thread (see [`recording`](crate::recording)).
    /// Answered by [`Event::RecordStatus`] with this `user_id`:
    /// `Recording`, or `Failed` (the file exists or cannot be made, or a
    /// recording already runs); its end (`Stopped` or `Failed`) follows
    /// once the file is complete.
    pub fn record(&mut self, user_id: u64, options: crate::RecordOptions) {
        self.pending.push(Command::Record {
            user_id,
            options: Box::new(options),
        });
    }

    /// Stops `user_id`'s recording: [`Event::RecordStatus`] `Stopped`
    /// follows once the file is complete.
    pub fn stop_recording(&mut self, user_id: u64) {
        self.pending.push(Command::StopRecording { user_id });
    }

    /// Closes a channel with a close code (1000 for normal) and reason.
    /// Answered by [`Event::ChannelClosed`] from [`ClosedBy::Agent`](crate::ClosedBy::Agent).
    pub fn close(&mut self, channel: ChannelId, code: u16, reason: impl Into<String>) {
        // What is sent after the close is refused ([`SendError::Closing`]):
        // nothing may overtake it, whatever its priority.
        if let Some(entry) = self.channels.get_mut(&channel) {
            entry.open = false;
        }
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

    /// The next event: host events first, then channels in turn, each
    /// channel's events in order; an outbound link's `ConnectStatus`
    /// reports go in order with its channels' events (`Connected` after its
    /// channel's `ConnectionOpened`, the `Failed` of a dropped link after
    /// that channel's `ChannelClosed`). `None` when there is none right now, or
    /// when this frame's [`FrameBudget`](crate::FrameBudget) is spent (the
    /// rest waits for the next frame, after a [`flush`](Self::flush)).
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(answer) = self.answers.pop_front() {
            return Some(answer);
        }
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
                    if let Event::ConnectionOpened(crate::ConnectionOpened { channel, .. }) = &event
                    {
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

/// Why a send overflows.
enum Full {
    Channel { messages: usize, bytes: usize },
    Host { host_bytes: usize },
}

/// Checks a channel's outbound counts, with the message in, against its
/// limits and the host's budget.
fn check(channel: &ChannelShared, host: &HostShared, counts: OutboundCounts) -> Result<(), Full> {
    outbound_check(
        counts.messages,
        counts.bytes,
        &channel.limits,
        counts.host_bytes,
        host.outbound.limit(),
    )
    .map_err(|full| match full {
        OutboundFull::Channel => Full::Channel {
            messages: counts.messages,
            bytes: counts.bytes,
        },
        OutboundFull::Host => Full::Host {
            host_bytes: counts.host_bytes,
        },
    })
}

fn saturate(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}
