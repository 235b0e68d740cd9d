//! The Fiasco IPC network core: WebSocket listeners on a network thread,
//! driven by plain requests and events. It knows nothing of the game
//! runtime; the `fiasco-ipc` module is thin glue on top of it.
//!
//! ```no_run
//! use fiasco_ipc_core::{Event, IpcHost, ListenOptions, ListenResult};
//!
//! let mut host = IpcHost::start()?;
//! host.listen(7, 0, ListenOptions::default());
//! host.flush();
//! // ... once a frame:
//! while let Some(event) = host.poll_event() {
//!     if let Event::ListenResult(ListenResult { result: Ok(address), .. }) = event {
//!         println!("listening on ws://{address}");
//!     }
//! }
//! # Ok::<(), fiasco_ipc_core::StartError>(())
//! ```
//!
//! Design:
//! - one named thread (`fiasco-ipc`) runs a current-thread tokio runtime;
//!   sockets are driven by readiness, timers and the game's batches, so idle
//!   connections cost no CPU;
//! - the game thread never blocks: requests are batched and handed over once
//!   per [`IpcHost::flush`]; events are swapped out of a queue;
//! - every byte the host holds is counted, per channel ([`Limits`]) and
//!   host-wide ([`HostOptions`]): a client that sends faster than the game
//!   takes is not read until the game catches up (TCP slows it down); one
//!   that does not read its answers is closed with 1008 and reported;
//!   nothing is dropped silently;
//! - the game is handed at most a [`FrameBudget`] per frame, channels in
//!   turn, so no flood stretches a frame or starves a quiet client;
//! - before the handshake too, what a peer can make the host hold, write
//!   or log is bounded: unfinished connections have slots of their own
//!   (the oldest dropped for a newer one), HTTP connections a lifetime and
//!   a write timeout, files go out in chunks, one token per request with
//!   late answers to wrong ones, refusal log lines cut and rate-limited;
//! - a channel's protocol life (frames both ways, pings, the idle, write
//!   and message timeouts, the close handshake, its outbound queue) is a
//!   state machine without I/O, driven with the time passed in
//!   (quinn-proto's shape); the task owning the socket is a thin driver,
//!   the same for inbound and outbound channels, and the reconnect policy
//!   of outbound links is pure the same way;
//! - a message goes out without a copy: the server role writes a frame's
//!   header and the message's own bytes in one vectored write;
//! - HTTP parsing is hyper's (server and the outbound handshake), WebSocket
//!   frames and checks tungstenite's, TLS rustls'.

mod answer;
mod bridge;
mod budget;
mod channel;
mod connector;
mod context;
pub mod discovery;
mod driver;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(test, feature = "fuzzing"))]
mod harness;
mod host;
mod http;
mod http_io;
#[cfg(test)]
mod http_tests;
mod inbox;
mod listener;
mod meter;
mod options;
mod pending;
mod reconnect;
mod record_writer;
mod recorder;
pub mod recording;
mod refusals;
mod security;
mod shown;
mod static_files;
mod throttle;
mod tls;
mod types;
mod websocket;

pub use host::{IpcHost, DEFAULT_SHUTDOWN_TIMEOUT};
pub use options::{
    ConnectOptions, Discovery, FrameBudget, HostOptions, InvalidOptions, Limits, ListenOptions,
    TlsFiles, TokenGrant, DEFAULT_ROLE,
};
pub use recording::{RecordOptions, RecordState, RecordStatus};
pub use types::{
    ChannelClosed, ChannelId, ChannelStats, ClosedBy, ConnectError, ConnectErrorKind, ConnectState,
    ConnectStatus, ConnectionOpened, Direction, Encoded, Event, InboundMessage, ListenError,
    ListenErrorKind, ListenResult, Message, MessageEncoder, MessageKind, Priority, SendError,
    SendOptions, StartError, StopListeningResult,
};
