//! A safe view of the host's C ABI table, used by module code.
#![allow(unsafe_code)]

use bytes::Bytes;

use crate::abi::{FiascoBuffer, FiascoEventView, FiascoHostApi, FiascoStr, STATUS_OK};

/// The host, as module code sees it during one call from the host.
#[derive(Clone, Copy)]
pub(crate) struct HostRef<'h> {
    api: &'h FiascoHostApi,
}

impl std::fmt::Debug for HostRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRef").finish_non_exhaustive()
    }
}

impl<'h> HostRef<'h> {
    /// # Safety
    /// `ptr` must be null or point to a host table valid for `'h`.
    pub(crate) unsafe fn from_ptr(ptr: *const FiascoHostApi) -> Option<Self> {
        // SAFETY: guaranteed by the caller.
        unsafe { ptr.as_ref() }.map(|api| Self { api })
    }

    pub(crate) fn as_ptr(self) -> *const FiascoHostApi {
        self.api
    }

    pub(crate) fn intern_kind(self, name: &str) -> u32 {
        // SAFETY: the host table is valid for 'h and the name outlives the call.
        unsafe { (self.api.intern_kind)(self.api.ctx, FiascoStr::from_bytes(name.as_bytes())) }
    }

    /// The next event of `kind` at or after `cursor`: its bytes (valid for
    /// the duration of the current host call), source module and sequence
    /// number.
    pub(crate) fn next_event(self, kind: u32, cursor: &mut u64) -> Option<(&'h [u8], u32, u64)> {
        let mut view = FiascoEventView {
            kind: 0,
            source: 0,
            data: FiascoStr::empty(),
            seq: 0,
        };
        // SAFETY: the host table is valid for 'h; `cursor` and `view` are
        // valid for writes for the duration of the call.
        let found = unsafe { (self.api.next_event)(self.api.ctx, kind, cursor, &mut view) };
        if found == 1 {
            // SAFETY: the host keeps event data alive until the end of the
            // next frame, longer than this host call.
            Some((unsafe { view.data.as_bytes() }, view.source, view.seq))
        } else {
            None
        }
    }

    pub(crate) fn bus_end(self) -> u64 {
        // SAFETY: the host table is valid for 'h.
        unsafe { (self.api.bus_end)(self.api.ctx) }
    }

    pub(crate) fn write_event(self, kind: u32, data: &[u8]) -> bool {
        // SAFETY: the host table is valid for 'h; `data` outlives the call
        // (the host copies it).
        unsafe {
            (self.api.write_event)(self.api.ctx, kind, FiascoStr::from_bytes(data)) == STATUS_OK
        }
    }

    /// Hands a finished event to the bus without a copy.
    pub(crate) fn write_event_owned(self, kind: u32, data: Bytes) -> bool {
        let buffer = crate::buffer::into_abi(data);
        // SAFETY: the host table is valid for 'h; the buffer follows the
        // FiascoBuffer contract and the host takes it over in every case.
        unsafe { (self.api.write_event_owned)(self.api.ctx, kind, buffer) == STATUS_OK }
    }

    /// Shares the bytes of event `seq` of `kind` beyond its frame, no copy.
    pub(crate) fn retain_event(self, kind: u32, seq: u64) -> Option<Bytes> {
        let mut out = FiascoBuffer {
            ptr: std::ptr::null(),
            len: 0,
            owner: std::ptr::null_mut(),
            release: None,
        };
        // SAFETY: the host table is valid for 'h; `out` is valid for writes.
        let found = unsafe { (self.api.retain_event)(self.api.ctx, kind, seq, &mut out) };
        // SAFETY: on success the host filled `out` under the FiascoBuffer
        // contract; we release it once, when the bytes drop.
        (found == 1).then(|| unsafe { crate::buffer::from_abi(out) })
    }

    pub(crate) fn log(self, level: i32, line: &str) {
        // SAFETY: the host table is valid for 'h; `line` outlives the call.
        unsafe { (self.api.log)(self.api.ctx, level, FiascoStr::from_bytes(line.as_bytes())) }
    }

    pub(crate) fn config(self, key: &str) -> Option<String> {
        let mut out = FiascoStr::empty();
        // SAFETY: the host table is valid for 'h; `key` and `out` outlive the call.
        let found = unsafe {
            (self.api.config_get)(
                self.api.ctx,
                FiascoStr::from_bytes(key.as_bytes()),
                &mut out,
            )
        };
        // SAFETY: the host keeps `out` valid until the call returns; we copy it.
        (found == 1).then(|| String::from_utf8_lossy(unsafe { out.as_bytes() }).into_owned())
    }

    pub(crate) fn module_name(self, index: u32) -> String {
        // SAFETY: the host table is valid for 'h; the returned bytes are copied at once.
        let name = unsafe { (self.api.module_name)(self.api.ctx, index) };
        // SAFETY: module names live as long as the host.
        String::from_utf8_lossy(unsafe { name.as_bytes() }).into_owned()
    }

    pub(crate) fn waker(self) -> crate::abi::FiascoWaker {
        // SAFETY: the host table is valid for 'h.
        unsafe { (self.api.waker)(self.api.ctx) }
    }

    pub(crate) fn frame(self) -> u64 {
        // SAFETY: the host table is valid for 'h.
        unsafe { (self.api.frame)(self.api.ctx) }
    }
}
