//! The plugin's Bevy messages: plain Rust values, no FlatBuffers.
//!
//! Requests (written by your systems, carried out at the end of the frame):
//! [`Listen`], [`StopListening`], [`Connect`], [`Disconnect`],
//! [`SendMessage`], [`CloseChannel`].
//! Events (written at the start of the frame, before `Update`):
//! [`ListenResult`], [`StopListeningResult`], [`ConnectStatus`], [`ConnectionOpened`],
//! [`MessageFromRemote`], [`ChannelClosed`].

use std::net::SocketAddr;

use bevy_ecs::message::Message;
use bytes::Bytes;
use fiasco_ipc_core::{
    ChannelId, ClosedBy, ConnectOptions, ConnectState, Direction, ListenError, ListenOptions,
    MessageKind,
};

/// Listen on `port` (0: any free port) for `user_id`, which every event
/// about the port and its channels carries. Answered by [`ListenResult`].
#[derive(Message, Debug, Clone)]
pub struct Listen {
    /// Who asks: events about this port carry it.
    pub user_id: u64,
    /// The port (0: any free one).
    pub port: u16,
    /// Bind address, allowed origins, token, web root, TLS, limits.
    pub options: ListenOptions,
}

/// Stop accepting on `port`; open channels stay open. Answered by
/// [`StopListeningResult`].
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopListening {
    /// The requester, as in its [`Listen`].
    pub user_id: u64,
    /// The port.
    pub port: u16,
}

/// Send one message on a channel. Per channel, messages go in the order
/// written, exactly once. A client that reads too slowly for its limits
/// has its channel closed with 1008 (see [`ChannelClosed`]).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct SendMessage {
    /// The channel.
    pub channel: ChannelId,
    /// Text (the bytes must be UTF-8) or binary.
    pub kind: MessageKind,
    /// The bytes.
    pub data: Bytes,
}

impl SendMessage {
    /// A text message.
    pub fn text(channel: ChannelId, text: impl Into<String>) -> Self {
        Self {
            channel,
            kind: MessageKind::Text,
            data: Bytes::from(text.into()),
        }
    }

    /// A binary message.
    pub fn binary(channel: ChannelId, data: impl Into<Bytes>) -> Self {
        Self {
            channel,
            kind: MessageKind::Binary,
            data: data.into(),
        }
    }
}

/// Close a channel with a close code (1000: normal) and a reason. Answered
/// by its [`ChannelClosed`] with [`ClosedBy::Agent`].
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct CloseChannel {
    /// The channel.
    pub channel: ChannelId,
    /// The close code.
    pub code: u16,
    /// The reason (at most 123 bytes go on the wire).
    pub reason: String,
}

/// The answer to a [`Listen`].
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct ListenResult {
    /// The requester.
    pub user_id: u64,
    /// The port asked for (0 for any).
    pub requested_port: u16,
    /// The address bound, or why not.
    pub result: Result<SocketAddr, ListenError>,
}

/// The answer to a [`StopListening`].
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopListeningResult {
    /// The requester.
    pub user_id: u64,
    /// The port.
    pub port: u16,
    /// Whether the host was listening there and stopped.
    pub stopped: bool,
}

/// A client completed the WebSocket handshake: a new channel. Its messages
/// follow, then exactly one [`ChannelClosed`].
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOpened {
    /// The new channel (unique for the life of the process).
    pub channel: ChannelId,
    /// The listener's `user_id`.
    pub user_id: u64,
    /// The local port.
    pub port: u16,
    /// The client's address.
    pub peer: SocketAddr,
    /// The request path and query (without a `token` parameter).
    pub path: String,
    /// The Origin header, when sent (inbound only).
    pub origin: Option<String>,
    /// Which way it goes: a client that connected, or a [`Connect`].
    pub direction: Direction,
}

/// Dial a WebSocket server (`ws://` or `wss://`) and keep the link up,
/// dialing again with backoff and jitter after a failure or a drop, until
/// [`Disconnect`] or exit. Reported by [`ConnectStatus`]; each connection is
/// a new channel ([`ConnectionOpened`] with [`Direction::Outbound`]).
#[derive(Message, Debug, Clone)]
pub struct Connect {
    /// Who asks: its events carry it.
    pub user_id: u64,
    /// The requester's id for this connection, unique among its own.
    pub connect_id: u64,
    /// URL, token, CA file, reconnect policy, limits.
    pub options: ConnectOptions,
}

/// Stop dialing for `connect_id` and close its channel (1000), if open.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect {
    /// The requester, as in its [`Connect`].
    pub user_id: u64,
    /// The request's id.
    pub connect_id: u64,
}

/// How a [`Connect`] is doing: one message per attempt and state.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct ConnectStatus {
    /// The requester.
    pub user_id: u64,
    /// The request's id.
    pub connect_id: u64,
    /// Connecting, connected (with its channel), failed (why, and when the
    /// next attempt starts), stopped.
    pub state: ConnectState,
}

/// A message from a client, in order, exactly once.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct MessageFromRemote {
    /// Its channel.
    pub channel: ChannelId,
    /// The listener's `user_id`.
    pub user_id: u64,
    /// Text (valid UTF-8, checked) or binary.
    pub kind: MessageKind,
    /// The bytes.
    pub data: Bytes,
}

impl MessageFromRemote {
    /// The message as text, when it is a text message.
    pub fn text(&self) -> Option<&str> {
        match self.kind {
            MessageKind::Text => std::str::from_utf8(&self.data).ok(),
            MessageKind::Binary => None,
        }
    }
}

/// A channel ended; nothing about it follows.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
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
