//! The Fiasco IPC host as a Bevy plugin.
//!
//! WebSocket clients (a browser page, an editor, a test robot) reach your
//! Bevy app through plain Rust messages: no FlatBuffers, no runtime of
//! ours. The host is the same network core as in the Fiasco runtime, with
//! the same defences and contracts: loopback by default, a token for
//! anything else, Origin and Host checks, message size and connection
//! limits, byte budgets with backpressure, a frame budget, per channel
//! order and exactly once, and a clean shutdown.
//!
//! ```no_run
//! use bevy_app::{App, ScheduleRunnerPlugin, Update};
//! use bevy_ecs::prelude::*;
//! use fiasco_ipc_bevy::{IpcPlugin, Listen, ListenOptions, MessageFromRemote, SendMessage};
//!
//! const MY_USER_ID: u64 = 0x5EED;
//!
//! fn listen(mut listens: MessageWriter<Listen>) {
//!     listens.write(Listen { user_id: MY_USER_ID, port: 9001, options: ListenOptions::default() });
//! }
//!
//! /// Echoes every message, in the frame it arrives.
//! fn echo(mut messages: MessageReader<MessageFromRemote>, mut sends: MessageWriter<SendMessage>) {
//!     for message in messages.read().filter(|message| message.user_id == MY_USER_ID) {
//!         sends.write(SendMessage::new(message.channel, message.kind, message.data.clone()));
//!     }
//! }
//!
//! App::new()
//!     .add_plugins(ScheduleRunnerPlugin::run_loop(std::time::Duration::from_secs_f64(1.0 / 60.0)))
//!     .add_plugins(IpcPlugin::default())
//!     .add_systems(bevy_app::Startup, listen)
//!     .add_systems(Update, echo)
//!     .run();
//! ```

mod messages;
mod plugin;

pub use messages::{
    ChannelClosed, ChannelStats, CloseChannel, Connect, ConnectStatus, ConnectionOpened,
    Disconnect, Listen, ListenResult, MessageFromRemote, Record, RecordStatus, RequestChannelStats,
    SendMessage, StopListening, StopListeningResult,
};
pub use plugin::{Ipc, IpcPlugin, IpcSystems};

/// The bytes of a message ([`MessageFromRemote::data`](fiasco_ipc_core::Message::data),
/// [`SendMessage::data`]): the `bytes` crate's, cheap to clone (shared, not copied).
pub use bytes::Bytes;

pub use fiasco_ipc_core::{
    ChannelId, ClosedBy, ConnectError, ConnectErrorKind, ConnectOptions, ConnectState, Direction,
    FrameBudget, HostOptions, Limits, ListenError, ListenErrorKind, ListenOptions, MessageKind,
    Priority, RecordOptions, RecordState, TlsFiles, TokenGrant,
};
