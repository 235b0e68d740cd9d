//! The values that cross between the game and the network thread.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

/// One WebSocket connection. Unique for the life of the process, never
/// reused, never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChannelId(pub u64);

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Hashes channel ids for the per-message maps. Ids are ours (sequential,
/// never chosen by a peer), so the identity, spread by a multiply, is a
/// good hash and far cheaper than SipHash.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ChannelHasher(u64);

impl std::hash::Hasher for ChannelHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8 | u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by channel id.
pub(crate) type ChannelMap<V> =
    std::collections::HashMap<ChannelId, V, std::hash::BuildHasherDefault<ChannelHasher>>;

/// Text (valid UTF-8) or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Any bytes.
    Binary,
    /// Valid UTF-8.
    Text,
}

/// Who ended a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClosedBy {
    /// The client closed it, or its connection dropped.
    Remote,
    /// The game asked for it ([`IpcHost::close`](crate::IpcHost::close)).
    Agent,
    /// The host, because a limit was hit.
    HostLimit,
    /// The host, because of a protocol or I/O error.
    HostError,
    /// The host, because it is shutting down (code 1001).
    HostShutdown,
}

/// Why a listen request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListenErrorKind {
    /// Another socket already uses the address and port: ask for another
    /// port, or port 0 for any free one.
    AddressInUse,
    /// The OS refused the port (below 1024 needs privileges): use a higher one.
    PermissionDenied,
    /// The address is not one of this machine's: bind one it has (or
    /// loopback).
    AddressUnavailable,
    /// The request is invalid (see the message): fix the request.
    InvalidRequest,
    /// This host already listens on the port: use the open listener, or
    /// stop it first.
    AlreadyListening,
    /// A non-loopback bind address needs a token: set one.
    TokenRequired,
    /// The TLS certificate or key could not be used: the source says why.
    Tls,
    /// Anything else the OS said: the source error tells.
    Other,
}

/// A failed listen request: a kind to act on, a message for people, and the
/// error underneath when there is one (the OS's, rustls', ...).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct ListenError {
    /// What went wrong.
    pub kind: ListenErrorKind,
    /// Details.
    pub message: String,
    /// The error underneath.
    #[source]
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

/// Two listen errors are equal when their kind and message are.
impl PartialEq for ListenError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for ListenError {}

impl ListenError {
    /// An error of `kind` with a message and no source (for glue that
    /// answers a request the host never saw, e.g. a host that did not start).
    pub fn new(kind: ListenErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// With the error underneath kept as the source.
    pub(crate) fn with_source(
        kind: ListenErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(std::sync::Arc::new(source)),
        }
    }

    pub(crate) fn from_io(error: std::io::Error, address: SocketAddr) -> Self {
        let kind = match error.kind() {
            std::io::ErrorKind::AddrInUse => ListenErrorKind::AddressInUse,
            std::io::ErrorKind::PermissionDenied => ListenErrorKind::PermissionDenied,
            std::io::ErrorKind::AddrNotAvailable => ListenErrorKind::AddressUnavailable,
            _ => ListenErrorKind::Other,
        };
        let message = format!("binding {address}: {error}");
        Self::with_source(kind, message, error)
    }
}

/// The answer to [`IpcHost::listen`](crate::IpcHost::listen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenResult {
    /// The requester.
    pub user_id: u64,
    /// The port asked for (0 for any).
    pub requested_port: u16,
    /// The address bound, or why not.
    pub result: Result<SocketAddr, ListenError>,
}

/// The answer to [`IpcHost::stop_listening`](crate::IpcHost::stop_listening).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopListeningResult {
    /// The requester.
    pub user_id: u64,
    /// The port.
    pub port: u16,
    /// Whether the host was listening there and stopped.
    pub stopped: bool,
}

/// A WebSocket handshake completed: a client's on a listening port, or the
/// server's a [`connect`](crate::IpcHost::connect) dialed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOpened {
    /// The new channel.
    pub channel: ChannelId,
    /// The listener's (or the connect request's) `user_id`.
    pub user_id: u64,
    /// The local port.
    pub port: u16,
    /// The other end's address.
    pub peer: SocketAddr,
    /// The request path and query (without a `token` parameter).
    pub path: String,
    /// The Origin header, when sent (inbound only).
    pub origin: Option<String>,
    /// Which way the channel goes.
    pub direction: Direction,
    /// The role of the token the client presented (`"default"` for the
    /// listener's single token); `None` when the port needs no token, and
    /// on outbound channels. Agents decide what each role may do.
    pub role: Option<String>,
}

/// How an outbound connection is doing: one report per attempt and state
/// (see [`ConnectState`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectStatus {
    /// The requester.
    pub user_id: u64,
    /// The requester's id for the connection.
    pub connect_id: u64,
    /// What happened.
    pub state: ConnectState,
}

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its channel.
    pub channel: ChannelId,
    /// The listener's `user_id`.
    pub user_id: u64,
    /// Text or binary.
    pub kind: MessageKind,
    /// The bytes (UTF-8 for text). With an encoder, a view into
    /// `encoded`, not a copy.
    pub data: Bytes,
    /// What the [`MessageEncoder`] made of the message on the network
    /// thread, when the host has one.
    pub encoded: Option<Bytes>,
}

impl Message {
    /// The text of a text message (the host checked it is UTF-8); `None`
    /// for a binary one.
    pub fn text(&self) -> Option<&str> {
        match self.kind {
            MessageKind::Text => std::str::from_utf8(&self.data).ok(),
            MessageKind::Binary => None,
        }
    }
}

/// A channel ended; nothing about it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelClosed {
    /// The channel.
    pub channel: ChannelId,
    /// The listener's `user_id`.
    pub user_id: u64,
    /// Who closed it.
    pub closed_by: ClosedBy,
    /// The close code; 1006 when the connection dropped.
    pub code: u16,
    /// The reason or an explanation.
    pub reason: String,
}

/// A channel's counters, the answer to
/// [`IpcHost::channel_stats`](crate::IpcHost::channel_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelStats {
    /// The requester.
    pub user_id: u64,
    /// The channel.
    pub channel: ChannelId,
    /// False when the channel is unknown or closed (the counters are 0).
    pub open: bool,
    /// Messages queued towards the client, not yet written whole.
    pub queued_messages: u32,
    /// Their bytes.
    pub queued_bytes: u64,
    /// Messages written to the socket so far.
    pub sent_messages: u64,
    /// Their payload bytes.
    pub sent_bytes: u64,
    /// Keyed messages replaced by a newer one before they started.
    pub conflated_messages: u64,
    /// Messages from the client waiting for the game.
    pub inbound_messages: u32,
    /// Bytes the client holds in the host (waiting messages and the one
    /// being read).
    pub inbound_bytes: u64,
    /// The round trip of the host's last answered ping; `None` before one
    /// is answered.
    pub round_trip: Option<std::time::Duration>,
}

/// Which of a channel's queued messages goes out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// In the order sent, with the other normal messages.
    #[default]
    Normal,
    /// Before every normal message not yet started on the socket (it waits
    /// at most for the one being written); control frames still go first.
    High,
}

/// How [`IpcHost::send_with`](crate::IpcHost::send_with) sends a message.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions<'a> {
    /// 0: none. Otherwise a latest-value key: while a message with the same
    /// key waits on the channel and has not started on the socket, the new
    /// one replaces it in its place (the old one's bytes released at once).
    /// A reader slower than the stream gets each key's newest value at its
    /// own pace and is never closed for it.
    pub conflation_key: u64,
    /// Normal, or High: before every queued normal message not started.
    pub priority: Priority,
    /// More channels to send the same bytes to: one buffer shared by
    /// reference, each channel's limits, key and priority applying to its
    /// reference. Unknown or closing channels are skipped.
    pub also_to: &'a [ChannelId],
}

/// What the host reports to the game, one payload type per kind. Per
/// channel, events come in order: one `ConnectionOpened`, its messages,
/// one `ChannelClosed`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The answer to [`IpcHost::listen`](crate::IpcHost::listen).
    ListenResult(ListenResult),
    /// The answer to [`IpcHost::stop_listening`](crate::IpcHost::stop_listening).
    StopListeningResult(StopListeningResult),
    /// A WebSocket handshake completed.
    ConnectionOpened(ConnectionOpened),
    /// How an outbound connection is doing.
    ConnectStatus(ConnectStatus),
    /// A message from a client.
    Message(Message),
    /// A channel ended; nothing about it follows.
    ChannelClosed(ChannelClosed),
    /// The answer to [`IpcHost::channel_stats`](crate::IpcHost::channel_stats).
    ChannelStats(ChannelStats),
    /// The answer to [`IpcHost::record`](crate::IpcHost::record), and a
    /// recording's end.
    RecordStatus(crate::RecordStatus),
}

impl Event {
    /// Bytes an inbound message holds in the host (its encoded form when
    /// there is one), for the byte and frame budgets; 0 for other events.
    pub(crate) fn held_bytes(&self) -> usize {
        match self {
            Event::Message(message) => message
                .encoded
                .as_ref()
                .map_or(message.data.len(), Bytes::len),
            _ => 0,
        }
    }
}

/// Which way a channel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A client connected to a listening port.
    Inbound,
    /// The game dialed out, for this connect request.
    Outbound {
        /// The connect request's id.
        connect_id: u64,
    },
}

/// The state of an outbound connection, reported as it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectState {
    /// Dialing: attempt 1 is the first.
    Connecting {
        /// The attempt's number.
        attempt: u32,
    },
    /// Connected: the channel's `ConnectionOpened` came before (in the
    /// same frame or an earlier one), so the channel can be sent to at once.
    Connected {
        /// The new channel.
        channel: ChannelId,
    },
    /// The attempt failed, or the connection ended (then after that
    /// channel's `ChannelClosed`).
    Failed {
        /// Why.
        error: ConnectError,
        /// When the next attempt starts; `None`: no more attempts
        /// (`Stopped` follows).
        retry_in: Option<std::time::Duration>,
    },
    /// No more attempts: disconnected, not to be retried, or the host
    /// stops. Nothing about this request follows.
    Stopped,
}

/// Why an outbound attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// The request cannot work (bad URL, a token over plain `ws://`
    /// beyond loopback, an unreadable CA file): never retried.
    InvalidRequest,
    /// The host name did not resolve.
    Dns,
    /// No server took the TCP connection (refused, unreachable).
    Refused,
    /// TCP, TLS and the handshake did not finish within `handshake_timeout`.
    Timeout,
    /// TLS failed: an untrusted or mismatched certificate, or another TLS error.
    Tls,
    /// The server answered the handshake with an HTTP status, not 101.
    HttpStatus(u16),
    /// The server's answer was not a WebSocket handshake.
    Handshake,
    /// The connection was up and ended (the channel's `ChannelClosed` says how).
    Closed,
}

/// A failed outbound attempt: a kind to act on, a message for people
/// (naming the certificate, the status, the OS error...), and the error
/// underneath when there is one (the OS's, rustls', hyper's...), so a
/// caller can inspect it (`std::error::Error::source`, then downcast)
/// instead of matching message text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct ConnectError {
    /// What went wrong.
    pub kind: ConnectErrorKind,
    /// Details.
    pub message: String,
    /// The error underneath.
    #[source]
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

/// Two connect errors are equal when their kind and message are.
impl PartialEq for ConnectError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for ConnectError {}

impl ConnectError {
    /// An error of `kind` with a message and no source.
    pub fn new(kind: ConnectErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// With the error underneath kept as the source.
    pub(crate) fn with_source(
        kind: ConnectErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(std::sync::Arc::new(source)),
        }
    }
}

/// Why [`IpcHost::send`](crate::IpcHost::send) did not queue a message.
/// The message is not sent in every case; what to do differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No open channel has this id (it never existed, or the game has
    /// already taken its `ChannelClosed`). Drop whatever you track of it.
    #[error("no open channel {0}")]
    UnknownChannel(ChannelId),
    /// The channel is closing (the host gave up on it before); its
    /// `ChannelClosed` follows and says why. Stop sending to it.
    #[error("channel {0} is closing")]
    Closing(ChannelId),
    /// This message would have overflowed the channel's outbound limits
    /// (`max_outbound_messages`, `max_outbound_bytes`): its client reads
    /// too slowly, so the channel is being closed with 1008 and reported.
    #[error("channel {channel}: its client reads too slowly ({messages} messages, {bytes} bytes queued): closing it (1008)")]
    ChannelFull {
        /// The channel.
        channel: ChannelId,
        /// Messages queued to it, with this one.
        messages: usize,
        /// Bytes queued to it, with this one.
        bytes: usize,
    },
    /// This message would have overflowed the host's `outbound_budget`
    /// (every channel together): the channel sent to is being closed with
    /// 1008 and reported. Send less, or raise the budget.
    #[error("channel {channel}: the host's outbound budget is spent ({host_bytes} bytes queued): closing the channel (1008)")]
    HostFull {
        /// The channel.
        channel: ChannelId,
        /// Bytes queued to every channel, with this message.
        host_bytes: usize,
    },
}

/// Why [`IpcHost::start`](crate::IpcHost::start) or
/// [`IpcHost::with_options`](crate::IpcHost::with_options) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The options are inconsistent: fix them (the message says which).
    #[error("invalid host options: {0}")]
    InvalidOptions(#[from] crate::InvalidOptions),
    /// The network thread or its runtime could not be made (the OS
    /// refused a thread, an epoll instance or an eventfd): usually a
    /// resource limit of the process.
    #[error("starting the network thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A client message as the network thread hands it to a [`MessageEncoder`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct InboundMessage<'a> {
    /// Its channel.
    pub channel: ChannelId,
    /// The listener's `user_id`.
    pub user_id: u64,
    /// Text or binary.
    pub kind: MessageKind,
    /// The bytes.
    pub payload: &'a [u8],
}

impl<'a> InboundMessage<'a> {
    /// A message as the network thread would hand it over (for testing an
    /// encoder).
    pub fn new(channel: ChannelId, user_id: u64, kind: MessageKind, payload: &'a [u8]) -> Self {
        Self {
            channel,
            user_id,
            kind,
            payload,
        }
    }
}

/// An inbound message in the game's form: `event`, whose bytes at `payload`
/// are the message's payload.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The whole event, e.g. a finished FlatBuffer.
    pub event: Bytes,
    /// Where the payload lies in `event`.
    pub payload: std::ops::Range<usize>,
}

/// Builds the game's form of inbound messages on the network thread, so
/// the game thread hands them on without copying (the `fiasco-ipc` module
/// builds its `MessageFromRemote` FlatBuffers here).
///
/// It runs on the network thread for every message: it must be quick and
/// must not block.
pub trait MessageEncoder: Send + Sync + 'static {
    /// Encodes one message; `None` leaves it plain (then
    /// [`Event::Message`]'s `encoded` is `None`).
    fn encode(&self, message: &InboundMessage<'_>) -> Option<Encoded>;
}
