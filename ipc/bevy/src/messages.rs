//! The plugin's Bevy messages: plain Rust values, no FlatBuffers.
//!
//! Requests (written by your systems, carried out at the end of the frame):
//! [`Listen`], [`StopListening`], [`Connect`], [`Disconnect`],
//! [`SendMessage`], [`CloseChannel`], [`RequestChannelStats`], [`Record`].
//! Events (written at the start of the frame, before `Update`), each the
//! core's event of the same name behind a newtype that derefs to it (read
//! `opened.channel`, `opened.role`, ...): [`ListenResult`],
//! [`StopListeningResult`], [`ConnectStatus`], [`ConnectionOpened`],
//! [`MessageFromRemote`], [`ChannelClosed`], [`ChannelStats`],
//! [`RecordStatus`].

use bevy_ecs::message::Message;
use bytes::Bytes;
use fiasco_ipc_core::{
    ChannelId, ConnectOptions, ListenOptions, MessageKind, Priority, RecordOptions,
};

/// Declares a Bevy message around a core event: the same fields, read
/// through `Deref`.
macro_rules! host_event {
    ($(#[$doc:meta])* $name:ident($core:ty)) => {
        $(#[$doc])*
        #[derive(Message, Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub $core);

        impl std::ops::Deref for $name {
            type Target = $core;
            fn deref(&self) -> &$core {
                &self.0
            }
        }

        impl From<$core> for $name {
            fn from(event: $core) -> Self {
                Self(event)
            }
        }
    };
}

host_event!(
    /// The answer to a [`Listen`]: the address bound, or why not.
    ListenResult(fiasco_ipc_core::ListenResult)
);
host_event!(
    /// The answer to a [`StopListening`].
    StopListeningResult(fiasco_ipc_core::StopListeningResult)
);
host_event!(
    /// A channel opened: `channel`, `user_id`, `port`, `peer`, `path`,
    /// `origin`, `direction`, and `role` (the token's role, when the port
    /// needs one). Comes before the channel's first message.
    ConnectionOpened(fiasco_ipc_core::ConnectionOpened)
);
host_event!(
    /// How a [`Connect`] is doing: `Connected` comes after its channel's
    /// [`ConnectionOpened`] (in the same frame or a later one), and the
    /// `Failed` of a dropped link after that channel's [`ChannelClosed`].
    ConnectStatus(fiasco_ipc_core::ConnectStatus)
);
host_event!(
    /// A message from a client: `channel`, `user_id`, `kind`, `data`
    /// (`text()` for a text message's `&str`).
    MessageFromRemote(fiasco_ipc_core::Message)
);
host_event!(
    /// A channel ended, exactly once, after its last message.
    ChannelClosed(fiasco_ipc_core::ChannelClosed)
);
host_event!(
    /// The answer to a [`RequestChannelStats`], in the next frame.
    ChannelStats(fiasco_ipc_core::ChannelStats)
);
host_event!(
    /// How a recording is doing: the answer to [`Record::Start`]
    /// (`Recording` or `Failed`), and its end (`Stopped` or `Failed`,
    /// once the file is complete); `user_id` 0 for the recording of
    /// [`IpcPlugin::record`](crate::IpcPlugin::record).
    RecordStatus(fiasco_ipc_core::RecordStatus)
);

/// Start or stop recording the host's channels to an MCAP file (see
/// [`recording`](fiasco_ipc_core::recording)). Answered by
/// [`RecordStatus`].
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Start recording (one recording at a time; the file must not exist).
    Start {
        /// Who asks: the statuses carry it.
        user_id: u64,
        /// The file, the ports, the writer's budget, the limits.
        options: RecordOptions,
    },
    /// Stop `user_id`'s recording.
    Stop {
        /// The requester, as in its `Start`.
        user_id: u64,
    },
}

/// Ask for a channel's counters: answered by one [`ChannelStats`] in the
/// next frame.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestChannelStats {
    /// Who asks: the answer carries it.
    pub user_id: u64,
    /// The channel.
    pub channel: ChannelId,
}

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
    /// 0: none; otherwise a latest-value key: a newer message with the same
    /// key replaces this one while it waits (see
    /// [`SendOptions`](fiasco_ipc_core::SendOptions)).
    pub conflation_key: u64,
    /// Normal, or High: before every queued normal message not started.
    pub priority: Priority,
    /// More channels to send the same bytes to (shared, not copied).
    pub also_to: Vec<ChannelId>,
}

impl SendMessage {
    /// A text message.
    pub fn text(channel: ChannelId, text: impl Into<String>) -> Self {
        Self::new(channel, MessageKind::Text, Bytes::from(text.into()))
    }

    /// A binary message.
    pub fn binary(channel: ChannelId, data: impl Into<Bytes>) -> Self {
        Self::new(channel, MessageKind::Binary, data.into())
    }

    /// A message of `kind` (normal priority, no key, one channel).
    pub fn new(channel: ChannelId, kind: MessageKind, data: Bytes) -> Self {
        Self {
            channel,
            kind,
            data,
            conflation_key: 0,
            priority: Priority::Normal,
            also_to: Vec::new(),
        }
    }

    /// With a latest-value key.
    #[must_use]
    pub fn keyed(mut self, conflation_key: u64) -> Self {
        self.conflation_key = conflation_key;
        self
    }

    /// With high priority.
    #[must_use]
    pub fn urgent(mut self) -> Self {
        self.priority = Priority::High;
        self
    }

    /// Also to these channels (one shared buffer).
    #[must_use]
    pub fn also_to(mut self, channels: impl IntoIterator<Item = ChannelId>) -> Self {
        self.also_to.extend(channels);
        self
    }
}

/// Close a channel with a close code (1000: normal) and a reason. Answered
/// by its [`ChannelClosed`] with [`ClosedBy::Agent`](fiasco_ipc_core::ClosedBy::Agent).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct CloseChannel {
    /// The channel.
    pub channel: ChannelId,
    /// The close code.
    pub code: u16,
    /// The reason (at most 123 bytes go on the wire).
    pub reason: String,
}

/// Dial a WebSocket server (`ws://` or `wss://`) and keep the link up,
/// dialing again with backoff and jitter after a failure or a drop, until
/// [`Disconnect`] or exit. Reported by [`ConnectStatus`]; each connection is
/// a new channel ([`ConnectionOpened`] with [`Direction::Outbound`](fiasco_ipc_core::Direction::Outbound)).
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
