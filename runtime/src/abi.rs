//! The versioned C ABI between the game process and its modules.
//!
//! This is the only contract a dynamic module has with the game: plain
//! `#[repr(C)]` structs and `extern "C"` functions, mirrored one to one by
//! `include/fiasco_module.h`. A module built by another compiler version, or
//! written in another language, works as long as it speaks this ABI.
//!
//! A module library exports two symbols:
//! - `uint32_t fiasco_module_abi_version(void)`, which must return
//!   [`ABI_VERSION`]; the loader checks it before anything else;
//! - `const FiascoModuleApi *fiasco_module_entry(void)`, the module's table.
//!
//! All pointers passed by the host are valid only for the duration of the call
//! they are passed to, except where stated.
//!
//! Version 2 added owned buffers ([`FiascoBuffer`]): a module hands the bus a
//! finished event without a copy (`write_event_owned`), and keeps an event's
//! bytes alive past its frame without a copy (`retain_event`), e.g. to give
//! them to a thread of its own. Version 1 modules are refused by name.
#![allow(unsafe_code)]

use std::ffi::c_void;

/// The ABI version this runtime speaks. Bumped on any incompatible change.
pub const ABI_VERSION: u32 = 2;

/// Name of the symbol returning the module's ABI version.
pub const ABI_VERSION_SYMBOL: &[u8] = b"fiasco_module_abi_version\0";
/// Name of the symbol returning the module's [`FiascoModuleApi`].
pub const ENTRY_SYMBOL: &[u8] = b"fiasco_module_entry\0";

/// Status code: success.
pub const STATUS_OK: i32 = 0;
/// Status code: the call failed; the module has logged why.
pub const STATUS_ERROR: i32 = 1;
/// Status code: a system panicked. The host disables the module.
pub const STATUS_PANIC: i32 = 2;
/// Status code: an argument was invalid (null pointer, unknown id).
pub const STATUS_INVALID: i32 = 3;

/// Log level: a line already formatted by the module's own logger, written
/// as is.
pub const LOG_RAW: i32 = 0;
/// Log level: error.
pub const LOG_ERROR: i32 = 1;
/// Log level: warning.
pub const LOG_WARN: i32 = 2;
/// Log level: information.
pub const LOG_INFO: i32 = 3;
/// Log level: debug.
pub const LOG_DEBUG: i32 = 4;
/// Log level: trace.
pub const LOG_TRACE: i32 = 5;

/// Stage: runs before every `STAGE_UPDATE` system (e.g. input, network in).
pub const STAGE_FIRST: u32 = 0;
/// Stage: the default stage for game and agent logic.
pub const STAGE_UPDATE: u32 = 1;
/// Stage: runs after every `STAGE_UPDATE` system (e.g. network out).
pub const STAGE_LAST: u32 = 2;

/// A borrowed byte string: `len` bytes at `ptr` (which may be dangling when
/// `len` is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FiascoStr {
    /// First byte.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// One event, as the host shows it to a module.
///
/// `data` stays valid until the end of the frame after the one it was
/// written in; a module must not keep it longer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FiascoEventView {
    /// The kind id (see `intern_kind`).
    pub kind: u32,
    /// Index of the module that wrote it (as in `module_name`).
    pub source: u32,
    /// The FlatBuffers bytes, unverified: readers verify them.
    pub data: FiascoStr,
    /// The event's sequence number on the bus (for `retain_event`).
    pub seq: u64,
}

/// Bytes owned by whoever holds this value, released by calling `release`
/// exactly once with `owner`.
///
/// The bytes do not change until released, and `release` may be called from
/// any thread: buffers cross to the host's and modules' own threads. A null
/// `release` means there is nothing to free.
#[repr(C)]
#[derive(Debug)]
pub struct FiascoBuffer {
    /// First byte; valid for `len` bytes until released.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
    /// Opaque; passed to `release`.
    pub owner: *mut c_void,
    /// Frees the bytes. Callable from any thread, once.
    pub release: Option<unsafe extern "C" fn(owner: *mut c_void)>,
}

/// What the host offers a module. Passed to every module call.
#[repr(C)]
#[derive(Debug)]
pub struct FiascoHostApi {
    /// Always [`ABI_VERSION`].
    pub abi_version: u32,
    /// Opaque host state; pass it back as the first argument.
    pub ctx: *mut c_void,
    /// Interns an event kind name (the FlatBuffers table's fully qualified
    /// name, e.g. `fiasco.ipc.MessageToRemote`) and returns its id. Ids are
    /// stable for the life of the process.
    pub intern_kind: unsafe extern "C" fn(ctx: *mut c_void, name: FiascoStr) -> u32,
    /// Finds the next event of `kind` at or after `*cursor`. On success fills
    /// `out`, sets `*cursor` past it and returns 1; when there is none, sets
    /// `*cursor` to the end of the bus and returns 0.
    pub next_event: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: u32,
        cursor: *mut u64,
        out: *mut FiascoEventView,
    ) -> i32,
    /// The sequence number the next written event will get: a new reader
    /// starting here sees only events written after it was created.
    pub bus_end: unsafe extern "C" fn(ctx: *mut c_void) -> u64,
    /// Writes (copies) an event of `kind`. Returns [`STATUS_OK`], or
    /// [`STATUS_INVALID`] for an unknown kind or a null pointer.
    pub write_event: unsafe extern "C" fn(ctx: *mut c_void, kind: u32, data: FiascoStr) -> i32,
    /// Writes an event of `kind` without a copy: the host takes ownership
    /// of `buffer` in every case (it releases it at once when it refuses the
    /// event) and keeps it for the event's lifetime or longer (see
    /// `retain_event`). Returns [`STATUS_OK`], or [`STATUS_INVALID`] for an
    /// unknown kind or a null pointer.
    pub write_event_owned:
        unsafe extern "C" fn(ctx: *mut c_void, kind: u32, buffer: FiascoBuffer) -> i32,
    /// Keeps the bytes of the event `seq` of `kind` (as seen in
    /// [`FiascoEventView`]) alive beyond its frame, without a copy. Returns 1
    /// and fills `out` with a buffer the caller must release exactly once
    /// (from any thread, before its module's `shutdown` returns); 0 when the
    /// bus no longer holds the event.
    pub retain_event:
        unsafe extern "C" fn(ctx: *mut c_void, kind: u32, seq: u64, out: *mut FiascoBuffer) -> i32,
    /// Logs one already formatted line at `level` (`LOG_*`).
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: i32, line: FiascoStr),
    /// Looks up the configuration value `key` for the calling module (from
    /// `--set module.key=value`, or the environment `FIASCO_MODULE_KEY`).
    /// Returns 1 and fills `out` (valid until the call returns) when set,
    /// 0 otherwise.
    pub config_get:
        unsafe extern "C" fn(ctx: *mut c_void, key: FiascoStr, out: *mut FiascoStr) -> i32,
    /// The name of the module with index `index` (as in
    /// [`FiascoEventView::source`]); an empty string for an unknown index.
    pub module_name: unsafe extern "C" fn(ctx: *mut c_void, index: u32) -> FiascoStr,
    /// The current frame number (0 during `init`).
    pub frame: unsafe extern "C" fn(ctx: *mut c_void) -> u64,
    /// The game's waker: a module's own threads call it when they have
    /// something for the next frame, so an idle unthrottled game (`--fps 0`)
    /// need not spin. Valid until the module's `shutdown` returns; `wake`
    /// may be called from any thread, and is cheap (no system call) while
    /// the game is running frames.
    pub waker: unsafe extern "C" fn(ctx: *mut c_void) -> FiascoWaker,
}

/// A thread-safe handle that wakes the game between frames.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FiascoWaker {
    /// Opaque; pass it to `wake`.
    pub data: *const c_void,
    /// Wakes the game. Callable from any thread.
    pub wake: unsafe extern "C" fn(data: *const c_void),
}

// SAFETY: the host guarantees `wake` may be called from any thread with
// `data`, for as long as the handle is valid.
unsafe impl Send for FiascoWaker {}
// SAFETY: as above.
unsafe impl Sync for FiascoWaker {}

/// What a module offers the host: returned by `fiasco_module_entry`.
#[repr(C)]
#[derive(Debug)]
pub struct FiascoModuleApi {
    /// Must equal [`ABI_VERSION`].
    pub abi_version: u32,
    /// The module's name, used for configuration keys and logs.
    pub name: FiascoStr,
    /// Creates the module's state. Returns [`STATUS_OK`] and sets `*state`,
    /// or an error status after logging why.
    pub init: unsafe extern "C" fn(host: *const FiascoHostApi, state: *mut *mut c_void) -> i32,
    /// Number of systems the module state has (valid after `init`).
    pub system_count: unsafe extern "C" fn(state: *mut c_void) -> u32,
    /// Describes system `index`: its name and its stage (`STAGE_*`).
    pub system_info: unsafe extern "C" fn(
        state: *mut c_void,
        index: u32,
        name: *mut FiascoStr,
        stage: *mut u32,
    ) -> i32,
    /// Runs system `index` once. Returns [`STATUS_OK`], or [`STATUS_PANIC`]
    /// after a panic (the host then disables the module).
    pub run_system:
        unsafe extern "C" fn(state: *mut c_void, index: u32, host: *const FiascoHostApi) -> i32,
    /// Runs the module's shutdown and frees its state. Called once.
    pub shutdown: unsafe extern "C" fn(state: *mut c_void, host: *const FiascoHostApi),
}

// SAFETY: the table holds only function pointers and a pointer to static
// bytes (the name), which are safe to share between threads.
unsafe impl Sync for FiascoModuleApi {}
// SAFETY: as above.
unsafe impl Send for FiascoModuleApi {}

impl FiascoStr {
    /// Borrows a Rust byte slice.
    pub const fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// An empty string.
    pub const fn empty() -> Self {
        Self::from_bytes(&[])
    }

    /// Views the bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a`.
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: guaranteed by the caller.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}
