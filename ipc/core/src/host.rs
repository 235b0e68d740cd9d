//! The game's handle on the network thread.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::bridge::{ChannelShared, Command, EventQueue, NetEvent};
use crate::driver;
use crate::options::ListenOptions;
use crate::types::{ChannelId, ChannelMap, Event, MessageKind};

/// How long [`IpcHost`]'s drop waits for clients to answer the 1001 close.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// The game's side of the IPC host: requests in, events out.
///
/// Requests (`listen`, `send`, `close`, ...) are queued and handed to the
/// network thread by [`flush`](Self::flush), once a frame: one wake-up of the
/// network thread per frame, whatever the number of messages. Events come
/// back through [`poll_event`](Self::poll_event). Nothing here blocks on the
/// network.
///
/// ```no_run
/// use fiasco_ipc_core::{Event, IpcHost, ListenOptions, MessageKind};
///
/// let mut host = IpcHost::start()?;
/// host.listen(1, 9001, ListenOptions::default());
/// loop {
///     host.flush();
///     while let Some(event) = host.poll_event() {
///         if let Event::Message { channel, kind, data, .. } = event {
///             host.send(channel, kind, data); // echo
///         }
///     }
///     std::thread::sleep(std::time::Duration::from_millis(16)); // a frame
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the host does nothing unless flushed and polled"]
pub struct IpcHost {
    commands: mpsc::UnboundedSender<Vec<Command>>,
    pending: Vec<Command>,
    queue: Arc<EventQueue>,
    received: VecDeque<Event>,
    scratch: Vec<NetEvent>,
    channels: ChannelMap<Arc<ChannelShared>>,
    shutdown: Option<driver::ShutdownSignal>,
    thread: Option<JoinHandle<()>>,
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
    /// Starts the network thread (`fiasco-ipc`), listening nowhere yet.
    pub fn start() -> std::io::Result<Self> {
        let queue = Arc::new(EventQueue::default());
        let (commands, receiver) = mpsc::unbounded_channel();
        let (thread, shutdown) = driver::spawn(receiver, Arc::clone(&queue))?;
        Ok(Self {
            commands,
            pending: Vec::new(),
            queue,
            received: VecDeque::new(),
            scratch: Vec::new(),
            channels: ChannelMap::default(),
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

    /// Stops accepting on `port`; open channels stay open. Answered by
    /// [`Event::StopListeningResult`].
    pub fn stop_listening(&mut self, user_id: u64, port: u16) {
        self.pending.push(Command::StopListening { user_id, port });
    }

    /// Queues a message to a client.
    ///
    /// Returns false when the channel is unknown or closing (the message is
    /// not sent; the channel's `ChannelClosed` tells why), or when this
    /// message would overflow the channel's outbound limits: then the
    /// channel is closed with 1008 and reported, as its client reads too
    /// slowly.
    pub fn send(&mut self, channel: ChannelId, kind: MessageKind, data: impl Into<Bytes>) -> bool {
        let data = data.into();
        let Some(shared) = self.channels.get(&channel) else {
            tracing::debug!(%channel, "message to an unknown or closed channel not sent");
            return false;
        };
        let limits = &shared.limits;
        let messages = shared.outbound_messages.fetch_add(1, Ordering::AcqRel) + 1;
        let bytes = shared
            .outbound_bytes
            .fetch_add(data.len(), Ordering::AcqRel)
            + data.len();
        if messages > limits.max_outbound_messages || bytes > limits.max_outbound_bytes {
            shared.sent(data.len());
            tracing::warn!(%channel, messages, bytes, "client reads too slowly: closing its channel (1008)");
            shared.outbound_full.notify_one();
            self.channels.remove(&channel);
            return false;
        }
        self.pending.push(Command::Send {
            channel,
            kind,
            data,
        });
        true
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

    /// Hands every queued request to the network thread. Call once a frame.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        if self.commands.send(batch).is_err() {
            tracing::error!("the IPC network thread has stopped; requests dropped");
        }
    }

    /// The next event, oldest first; `None` when there is none right now.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.received.is_empty() {
            self.queue.swap(&mut self.scratch);
            for event in self.scratch.drain(..) {
                let event = match event {
                    NetEvent::Opened(event, shared) => {
                        if let Event::ConnectionOpened { channel, .. } = &event {
                            self.channels.insert(*channel, shared);
                        }
                        event
                    }
                    NetEvent::Event(event) => {
                        match &event {
                            Event::Message { channel, .. } => {
                                if let Some(shared) = self.channels.get(channel) {
                                    shared.inbound.fetch_sub(1, Ordering::AcqRel);
                                }
                            }
                            Event::ChannelClosed { channel, .. } => {
                                self.channels.remove(channel);
                            }
                            _ => {}
                        }
                        event
                    }
                };
                self.received.push_back(event);
            }
        }
        self.received.pop_front()
    }

    /// Sets a function the network thread calls whenever it queues an event
    /// for the game, e.g. to wake a game loop that waits between frames.
    /// It must be cheap and must not block. Set once; returns false (and
    /// keeps the first) when one is already set.
    pub fn set_waker(&self, wake: impl Fn() + Send + Sync + 'static) -> bool {
        self.queue.set_waker(Box::new(wake))
    }

    /// Number of open channels the game knows of.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Closes every connection with 1001 and waits up to `timeout` for the
    /// clients' answers, then stops and joins the network thread. The final
    /// `ChannelClosed` events stay available to [`poll_event`](Self::poll_event).
    pub fn shutdown(&mut self, timeout: Duration) {
        self.flush();
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
