//! The four operations every table offers C, written once.

use crate::convert::{c_str, Invalid};
use crate::events::CEvent;
use fiasco::abi::{
    FiascoBuffer, FiascoEventView, FiascoHostApi, FiascoStr, LOG_ERROR, LOG_WARN, STATUS_INVALID,
    STATUS_OK, STATUS_PANIC,
};
use fiasco::flatbuffers::FlatBufferBuilder;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Where a module reads one event kind: zero-initialise it
/// (`FiascoIpcReader r = {0};`) and pass it to one `fiasco_ipc_next_*`
/// function only. Starting at cursor 0 it sees every event the bus still
/// holds, each once.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct FiascoIpcReader {
    /// The bus position of the next event to look at.
    pub cursor: u64,
    /// The kind id, once `bound` is set.
    pub kind: u32,
    /// Which table the reader was bound to (0: not yet).
    pub bound: u32,
}

/// Runs `body`; a panic becomes `FIASCO_STATUS_PANIC` instead of unwinding
/// into C.
fn guard(body: impl FnOnce() -> i32) -> i32 {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(STATUS_PANIC)
}

/// The bytes of `data`, or `None` for a null pointer.
///
/// # Safety
/// A non-null `data.ptr` is valid for `data.len` bytes for `'a`.
unsafe fn slice<'a>(data: FiascoStr) -> Option<&'a [u8]> {
    if data.ptr.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees the bytes.
    Some(unsafe { std::slice::from_raw_parts(data.ptr, data.len) })
}

/// Logs `line` through the host.
///
/// # Safety
/// `host` is a valid host table.
unsafe fn log(host: &FiascoHostApi, level: i32, line: &str) {
    // SAFETY: the host table is valid; the line outlives the call.
    unsafe { (host.log)(host.ctx, level, c_str(Some(line))) }
}

/// The kind id of `T`.
///
/// # Safety
/// `host` is a valid host table.
unsafe fn kind<T: CEvent>(host: &FiascoHostApi) -> u32 {
    // SAFETY: the host table is valid; the name outlives the call.
    unsafe { (host.intern_kind)(host.ctx, c_str(Some(T::NAME))) }
}

/// See `fiasco_ipc_read_*`.
///
/// # Safety
/// `data` is valid for its length; `out` null or valid.
pub(crate) unsafe fn read<T: CEvent>(data: FiascoStr, out: *mut T) -> i32 {
    guard(|| {
        // SAFETY: the caller guarantees data.
        let Some(bytes) = (unsafe { slice(data) }) else {
            return STATUS_INVALID;
        };
        if out.is_null() {
            return STATUS_INVALID;
        }
        match T::read(bytes) {
            Ok(event) => {
                // SAFETY: out is non-null and, by the caller, valid.
                unsafe { out.write(event) };
                STATUS_OK
            }
            Err(_) => STATUS_INVALID,
        }
    })
}

/// See `fiasco_ipc_next_*`.
///
/// # Safety
/// `host` is the calling module's host table; `reader` and `out` null or valid.
pub(crate) unsafe fn next<T: CEvent>(
    host: *const FiascoHostApi,
    reader: *mut FiascoIpcReader,
    out: *mut T,
) -> i32 {
    guard(|| {
        // SAFETY: the caller guarantees the pointers, checked for null here.
        let (Some(host), Some(reader)) = (unsafe { host.as_ref() }, unsafe { reader.as_mut() })
        else {
            return 0;
        };
        if out.is_null() {
            return 0;
        }
        if reader.bound != T::INDEX {
            // SAFETY: a valid host table.
            reader.kind = unsafe { kind::<T>(host) };
            reader.bound = T::INDEX;
        }
        let mut view = FiascoEventView {
            kind: 0,
            source: 0,
            data: c_str(None),
            seq: 0,
        };
        // SAFETY: a valid host table; cursor and view are live.
        while unsafe { (host.next_event)(host.ctx, reader.kind, &mut reader.cursor, &mut view) }
            == 1
        {
            // SAFETY: the host keeps event bytes valid for the frame.
            let bytes = unsafe { slice(view.data) }.unwrap_or_default();
            match T::read(bytes) {
                Ok(event) => {
                    // SAFETY: out is non-null and, by the caller, valid.
                    unsafe { out.write(event) };
                    return 1;
                }
                Err(error) => {
                    // SAFETY: a valid host table.
                    let writer = unsafe { slice((host.module_name)(host.ctx, view.source)) };
                    let writer = String::from_utf8_lossy(writer.unwrap_or_default());
                    let line = format!(
                        "fiasco_ipc: skipped a {} event from module {writer} that failed verification: {error}",
                        T::NAME
                    );
                    // SAFETY: a valid host table.
                    unsafe { log(host, LOG_WARN, &line) };
                }
            }
        }
        0
    })
}

/// Frees a buffer made by [`finish`].
unsafe extern "C" fn release_vec(owner: *mut c_void) {
    // SAFETY: owner came from Box::into_raw in `finish`, released once.
    drop(unsafe { Box::from_raw(owner.cast::<Vec<u8>>()) });
}

/// Builds `event` into an owned buffer.
///
/// # Safety
/// Every non-null pointer in `event` is valid.
unsafe fn finish<T: CEvent>(event: &T) -> Result<FiascoBuffer, Invalid> {
    let mut builder = FlatBufferBuilder::new();
    // SAFETY: forwarded from the caller.
    let table = unsafe { event.build(&mut builder) }?;
    builder.finish_minimal(table);
    let (bytes, head) = builder.collapse();
    let owner = Box::new(bytes);
    let finished = owner.get(head..).unwrap_or_default();
    let (ptr, len) = (finished.as_ptr(), finished.len());
    Ok(FiascoBuffer {
        ptr,
        len,
        owner: Box::into_raw(owner).cast::<c_void>(),
        release: Some(release_vec),
    })
}

/// See `fiasco_ipc_build_*`.
///
/// # Safety
/// `event` null or valid with valid pointers; `out` null or valid.
pub(crate) unsafe fn build<T: CEvent>(event: *const T, out: *mut FiascoBuffer) -> i32 {
    guard(|| {
        // SAFETY: the caller guarantees event, checked for null here.
        let Some(event) = (unsafe { event.as_ref() }) else {
            return STATUS_INVALID;
        };
        if out.is_null() {
            return STATUS_INVALID;
        }
        // SAFETY: forwarded from the caller.
        match unsafe { finish(event) } {
            Ok(buffer) => {
                // SAFETY: out is non-null and, by the caller, valid.
                unsafe { out.write(buffer) };
                STATUS_OK
            }
            Err(_) => STATUS_INVALID,
        }
    })
}

/// See `fiasco_ipc_write_*`.
///
/// # Safety
/// `host` the calling module's host table; `event` null or valid with
/// valid pointers.
pub(crate) unsafe fn write<T: CEvent>(host: *const FiascoHostApi, event: *const T) -> i32 {
    guard(|| {
        // SAFETY: the caller guarantees the pointers, checked for null here.
        let (Some(host), Some(event)) = (unsafe { host.as_ref() }, unsafe { event.as_ref() })
        else {
            return STATUS_INVALID;
        };
        // SAFETY: forwarded from the caller.
        match unsafe { finish(event) } {
            // SAFETY: a valid host table, which owns the buffer from here.
            Ok(buffer) => unsafe { (host.write_event_owned)(host.ctx, kind::<T>(host), buffer) },
            Err(Invalid(why)) => {
                let line = format!("fiasco_ipc: cannot write a {} event: {why}", T::NAME);
                // SAFETY: a valid host table.
                unsafe { log(host, LOG_ERROR, &line) };
                STATUS_INVALID
            }
        }
    })
}

/// See the `fiasco_ipc_*_at` functions: runs `get` on the bytes of `data`
/// and writes what it finds to `out`.
///
/// # Safety
/// `data` is valid for its length; `out` null or valid.
pub(crate) unsafe fn item<T>(
    data: FiascoStr,
    out: *mut T,
    get: impl FnOnce(&[u8]) -> Option<T>,
) -> i32 {
    guard(|| {
        // SAFETY: the caller guarantees data.
        let Some(bytes) = (unsafe { slice(data) }) else {
            return STATUS_INVALID;
        };
        match (get(bytes), out.is_null()) {
            (Some(item), false) => {
                // SAFETY: out is non-null and, by the caller, valid.
                unsafe { out.write(item) };
                STATUS_OK
            }
            _ => STATUS_INVALID,
        }
    })
}
