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

pub use api::FiascoIpcReader;
pub use events::{
    FiascoIpcChannelClosed, FiascoIpcCloseChannel, FiascoIpcConnectRequest, FiascoIpcConnectStatus,
    FiascoIpcConnectionOpened, FiascoIpcDisconnectRequest, FiascoIpcListenRequest,
    FiascoIpcListenResult, FiascoIpcMessageFromRemote, FiascoIpcMessageToRemote,
    FiascoIpcStopListeningRequest, FiascoIpcStopListeningResult,
};

use fiasco::abi::{FiascoBuffer, FiascoHostApi, FiascoStr};

/// Exports the four C functions of one table.
macro_rules! c_functions {
    ($table:ty, $next:ident, $read:ident, $write:ident, $build:ident) => {
        #[doc = concat!("The next `", stringify!($table), "` on the bus after `reader`'s cursor, verified: 1 and `*out`, or 0 when there is none.")]
        ///
        /// # Safety
        /// `host` is the host table given to the calling module, `reader`
        /// and `out` valid pointers.
        #[no_mangle]
        pub unsafe extern "C" fn $next(
            host: *const FiascoHostApi,
            reader: *mut FiascoIpcReader,
            out: *mut $table,
        ) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe { api::next(host, reader, out) }
        }

        #[doc = concat!("Verifies `data` as a `", stringify!($table), "`: `FIASCO_STATUS_OK` and `*out` (borrowing `data`), or `FIASCO_STATUS_INVALID`.")]
        ///
        /// # Safety
        /// `data` is valid for its length, `out` a valid pointer.
        #[no_mangle]
        pub unsafe extern "C" fn $read(data: FiascoStr, out: *mut $table) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe { api::read(data, out) }
        }

        #[doc = concat!("Builds a `", stringify!($table), "` and writes it on the bus: `FIASCO_STATUS_OK`, or `FIASCO_STATUS_INVALID` (logged: which field).")]
        ///
        /// # Safety
        /// `host` is the host table given to the calling module; `event`
        /// and every non-null pointer in it are valid.
        #[no_mangle]
        pub unsafe extern "C" fn $write(host: *const FiascoHostApi, event: *const $table) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe { api::write(host, event) }
        }

        #[doc = concat!("Builds a `", stringify!($table), "` into `*out`, a buffer the caller releases once: `FIASCO_STATUS_OK` or `FIASCO_STATUS_INVALID`.")]
        ///
        /// # Safety
        /// `event` and every non-null pointer in it are valid; `out` a
        /// valid pointer.
        #[no_mangle]
        pub unsafe extern "C" fn $build(event: *const $table, out: *mut FiascoBuffer) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe { api::build(event, out) }
        }
    };
}

c_functions!(
    FiascoIpcListenRequest,
    fiasco_ipc_next_listen_request,
    fiasco_ipc_read_listen_request,
    fiasco_ipc_write_listen_request,
    fiasco_ipc_build_listen_request
);
c_functions!(
    FiascoIpcListenResult,
    fiasco_ipc_next_listen_result,
    fiasco_ipc_read_listen_result,
    fiasco_ipc_write_listen_result,
    fiasco_ipc_build_listen_result
);
c_functions!(
    FiascoIpcStopListeningRequest,
    fiasco_ipc_next_stop_listening_request,
    fiasco_ipc_read_stop_listening_request,
    fiasco_ipc_write_stop_listening_request,
    fiasco_ipc_build_stop_listening_request
);
c_functions!(
    FiascoIpcStopListeningResult,
    fiasco_ipc_next_stop_listening_result,
    fiasco_ipc_read_stop_listening_result,
    fiasco_ipc_write_stop_listening_result,
    fiasco_ipc_build_stop_listening_result
);
c_functions!(
    FiascoIpcConnectionOpened,
    fiasco_ipc_next_connection_opened,
    fiasco_ipc_read_connection_opened,
    fiasco_ipc_write_connection_opened,
    fiasco_ipc_build_connection_opened
);
c_functions!(
    FiascoIpcMessageFromRemote,
    fiasco_ipc_next_message_from_remote,
    fiasco_ipc_read_message_from_remote,
    fiasco_ipc_write_message_from_remote,
    fiasco_ipc_build_message_from_remote
);
c_functions!(
    FiascoIpcMessageToRemote,
    fiasco_ipc_next_message_to_remote,
    fiasco_ipc_read_message_to_remote,
    fiasco_ipc_write_message_to_remote,
    fiasco_ipc_build_message_to_remote
);
c_functions!(
    FiascoIpcCloseChannel,
    fiasco_ipc_next_close_channel,
    fiasco_ipc_read_close_channel,
    fiasco_ipc_write_close_channel,
    fiasco_ipc_build_close_channel
);
c_functions!(
    FiascoIpcChannelClosed,
    fiasco_ipc_next_channel_closed,
    fiasco_ipc_read_channel_closed,
    fiasco_ipc_write_channel_closed,
    fiasco_ipc_build_channel_closed
);
c_functions!(
    FiascoIpcConnectRequest,
    fiasco_ipc_next_connect_request,
    fiasco_ipc_read_connect_request,
    fiasco_ipc_write_connect_request,
    fiasco_ipc_build_connect_request
);
c_functions!(
    FiascoIpcConnectStatus,
    fiasco_ipc_next_connect_status,
    fiasco_ipc_read_connect_status,
    fiasco_ipc_write_connect_status,
    fiasco_ipc_build_connect_status
);
c_functions!(
    FiascoIpcDisconnectRequest,
    fiasco_ipc_next_disconnect_request,
    fiasco_ipc_read_disconnect_request,
    fiasco_ipc_write_disconnect_request,
    fiasco_ipc_build_disconnect_request
);

/// Origin `index` of a `fiasco.ipc.ListenRequest` in `data`:
/// `FIASCO_STATUS_OK` and `*out` (borrowing `data`), or
/// `FIASCO_STATUS_INVALID` (not a valid request, or no such origin).
///
/// # Safety
/// `data` is valid for its length, `out` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn fiasco_ipc_listen_request_allowed_origin(
    data: FiascoStr,
    index: usize,
    out: *mut FiascoStr,
) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { api::allowed_origin(data, index, out) }
}
