//! `fiasco_ipc.h`: every ipc.fbs event, read and written from C.
//!
//! A C (or Zig, or any C-calling) agent links this static library into its
//! module and includes `ipc/c/include/fiasco_ipc.h` beside
//! `runtime/include/fiasco_module.h`. For each table `T` of ipc.fbs there is
//! a plain struct `FiascoIpcT` and four functions:
//!
//! - `fiasco_ipc_next_t(host, reader, out)`: the next event of the kind on
//!   the bus, verified; events that fail verification are skipped and
//!   logged with the name of the module that wrote them.
//! - `fiasco_ipc_read_t(data, out)`: verifies bytes and fills `out`.
//! - `fiasco_ipc_write_t(host, event)`: builds the event and hands it to the
//!   bus without a copy.
//! - `fiasco_ipc_build_t(event, out)`: builds the event into an owned
//!   buffer.
//!
//! What is read borrows the event's bytes, so it lives as long as the event
//! (until the end of the frame after the one it was written in). The
//! verification is the FlatBuffers verifier the Rust agents use; nothing a
//! peer or a module writes can make these functions read out of bounds.
//! No function unwinds into C: a panic (a bug here) returns
//! `FIASCO_STATUS_PANIC`.

#![allow(unsafe_code)] // a C API: raw pointers in, raw pointers out

mod api;
mod convert;
mod events;
#[macro_use]
mod functions;
#[rustfmt::skip] // written by fiasco-bindgen, compared byte for byte
mod generated;

pub use api::FiascoIpcReader;
pub use generated::*;
