//! The Fiasco module runtime: the game process that hosts modules.
//!
//! A game is a frame loop. Each frame runs every module's systems once, in
//! stage order ([`Stage::First`], [`Stage::Update`], [`Stage::Last`]). Systems
//! talk through events: FlatBuffers tables broadcast to every module. A
//! system takes [`EventReader`]s and [`EventWriter`]s as parameters:
//!
//! ```
//! use fiasco::{system, EventReader, EventWriter, GameBuilder, Module, Stage};
//! # #[allow(unsafe_code, unused_imports, missing_docs, clippy::all)]
//! # mod schema { include!("../tests/support/doc_schema.rs"); }
//! use schema::fiasco::doc::{Ping, PingArgs};
//! fiasco::event_kinds! { Ping => "fiasco.doc.Ping" }
//!
//! #[system]
//! fn send(writer: EventWriter<Ping<'_>>) {
//!     writer.write_builder(|builder| Ping::create(builder, &PingArgs { value: 7 }));
//! }
//!
//! #[system]
//! fn receive(reader: EventReader<Ping<'_>>) {
//!     for ping in &reader {
//!         assert_eq!(ping.value(), 7);
//!     }
//! }
//!
//! fn build() -> Module {
//!     Module::new("pinger")
//!         .with_system(Stage::Update, send())
//!         .with_system(Stage::Update, receive())
//! }
//!
//! let mut game = GameBuilder::new().add_static(fiasco::module_api!("pinger", build)).build();
//! game.run_frames(2);
//! ```
//!
//! Modules are linked in ([`GameBuilder::add_static`]) or loaded from
//! dynamic libraries through a versioned C ABI ([`abi`], documented for other
//! languages by `include/fiasco_module.h`).
//!
//! Guarantees:
//! - every reader sees every event exactly once, including events written
//!   earlier in the same frame, so a request and its answer fit in one frame;
//! - events are verified when read; a malformed one is refused with a log line;
//! - a panic in a system disables its module and never unwinds across the C
//!   ABI; the game and the other modules carry on.

pub mod abi;
mod buffer;
mod byte_vector;
mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod guest;
mod host;
mod host_ref;
mod module;
mod recycle;
mod resources;
mod spare;
mod system;
mod with_bytes;

pub use byte_vector::byte_vector;
#[doc(hidden)]
pub use event::same_name;
pub use event::{Event, EventKind};
pub use fiasco_macros::system;
pub use host::config::{Config, ConfigSyntaxError};
pub use host::game::{Game, GameBuilder, ModuleReport, StopHandle, SystemTiming};
pub use host::loader::LoadError;
pub use module::{InitContext, Module, ModuleError, ShutdownContext, Waker};
pub use system::{
    EventReader, EventRef, EventWriter, EventsWritten, Frame, Res, ResMut, Stage, System,
    SystemContext, SystemParam,
};
pub use with_bytes::{build_with_bytes, payload_range};

/// Re-exported so modules use the very FlatBuffers version the runtime does.
pub use bytes;
pub use flatbuffers;
/// Re-exported for modules' logging; a dynamic module's logs reach the host.
pub use tracing;
