//! `ipc.fbs`: the protocol between the IPC Host Module and IPC Agent Modules.
//!
//! The bindings in `ipc_generated.rs` are generated from `ipc.fbs` by the
//! pinned flatc (`cargo run -p fiasco-bindgen`) and checked in, so building
//! needs no flatc. Read `ipc.fbs` for what every table and field means.
//!
//! ```
//! use fiasco_ipc_schema::{MessageKind, MessageToRemote, MessageToRemoteArgs};
//!
//! let mut builder = fiasco::flatbuffers::FlatBufferBuilder::new();
//! // One memcpy for the payload (`create_vector` copies byte by byte).
//! let content = fiasco::byte_vector(&mut builder, b"hello");
//! let message = MessageToRemote::create(
//!     &mut builder,
//!     &MessageToRemoteArgs {
//!         channel: 1,
//!         content: Some(content),
//!         kind: MessageKind::Text,
//!         ..Default::default()
//!     },
//! );
//! builder.finish_minimal(message);
//! let read = fiasco::flatbuffers::root::<MessageToRemote>(builder.finished_data()).unwrap();
//! assert_eq!(read.content().map(|c| c.bytes()), Some(&b"hello"[..]));
//! ```

fiasco::generated_module!(ipc_generated);

pub use ipc_generated::fiasco::ipc::*;

fiasco::event_kinds! {
    ListenRequest => "fiasco.ipc.ListenRequest",
    ListenResult => "fiasco.ipc.ListenResult",
    StopListeningRequest => "fiasco.ipc.StopListeningRequest",
    StopListeningResult => "fiasco.ipc.StopListeningResult",
    ConnectionOpened => "fiasco.ipc.ConnectionOpened",
    MessageFromRemote => "fiasco.ipc.MessageFromRemote",
    MessageToRemote => "fiasco.ipc.MessageToRemote",
    CloseChannel => "fiasco.ipc.CloseChannel",
    ChannelClosed => "fiasco.ipc.ChannelClosed",
    ConnectRequest => "fiasco.ipc.ConnectRequest",
    ConnectStatus => "fiasco.ipc.ConnectStatus",
    DisconnectRequest => "fiasco.ipc.DisconnectRequest",
    ChannelStatsRequest => "fiasco.ipc.ChannelStatsRequest",
    ChannelStats => "fiasco.ipc.ChannelStats",
    RecordRequest => "fiasco.ipc.RecordRequest",
    RecordStatus => "fiasco.ipc.RecordStatus",
}
