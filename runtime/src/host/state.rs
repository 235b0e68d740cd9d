//! The host side of the C ABI: the functions behind [`FiascoHostApi`].
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::io::Write;

use crate::abi::{
    FiascoBuffer, FiascoEventView, FiascoHostApi, FiascoStr, FiascoWaker, ABI_VERSION,
    STATUS_INVALID, STATUS_OK,
};
use crate::host::bus::Bus;
use crate::host::config::Config;
use crate::host::wake::Wake;

/// Everything the host functions reach through `ctx`.
pub(crate) struct HostState {
    pub(crate) bus: RefCell<Bus>,
    kinds: RefCell<HashMap<Box<str>, u32>>,
    pub(crate) config: Config,
    pub(crate) module_names: RefCell<Vec<Box<str>>>,
    /// Index of the module whose code is running, for event sources and
    /// configuration lookups.
    pub(crate) current: Cell<u32>,
    pub(crate) frame: Cell<u64>,
    /// Scratch for `config_get`: the value lives here until the next call.
    config_scratch: RefCell<String>,
    /// Wakes an idle unthrottled game; shared with modules' threads.
    pub(crate) wake: Wake,
}

impl HostState {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            bus: RefCell::new(Bus::default()),
            kinds: RefCell::new(HashMap::new()),
            config,
            module_names: RefCell::new(Vec::new()),
            current: Cell::new(0),
            frame: Cell::new(0),
            config_scratch: RefCell::new(String::new()),
            wake: Wake::default(),
        }
    }

    /// The ABI table pointing at `self`. `self` must not move while the table
    /// is in use (the game keeps it boxed).
    pub(crate) fn api(&self) -> FiascoHostApi {
        FiascoHostApi {
            abi_version: ABI_VERSION,
            ctx: (self as *const Self).cast_mut().cast(),
            intern_kind,
            next_event,
            bus_end,
            write_event,
            write_event_owned,
            retain_event,
            log,
            config_get,
            module_name,
            frame,
            waker,
        }
    }

    fn intern(&self, name: &str) -> u32 {
        let mut kinds = self.kinds.borrow_mut();
        if let Some(&id) = kinds.get(name) {
            return id;
        }
        let next = u32::try_from(kinds.len()).unwrap_or(u32::MAX);
        kinds.insert(name.into(), next);
        next
    }

    fn is_kind(&self, kind: u32) -> bool {
        (kind as usize) < self.kinds.borrow().len()
    }

    pub(crate) fn current_module_name(&self) -> String {
        self.module_names
            .borrow()
            .get(self.current.get() as usize)
            .map_or_else(String::new, |name| name.to_string())
    }
}

/// # Safety
/// `ctx` must be the `ctx` of a table made by [`HostState::api`], whose
/// state is alive.
unsafe fn state<'a>(ctx: *mut c_void) -> &'a HostState {
    // SAFETY: guaranteed by the caller; the game keeps the state boxed for
    // as long as modules can call in.
    unsafe { &*ctx.cast::<HostState>() }
}

unsafe extern "C" fn intern_kind(ctx: *mut c_void, name: FiascoStr) -> u32 {
    // SAFETY: modules pass back the ctx they were given and a valid string.
    let (state, name) = unsafe { (state(ctx), name.as_bytes()) };
    match std::str::from_utf8(name) {
        Ok(name) => state.intern(name),
        Err(_) => state.intern(&String::from_utf8_lossy(name)),
    }
}

unsafe extern "C" fn next_event(
    ctx: *mut c_void,
    kind: u32,
    cursor: *mut u64,
    out: *mut FiascoEventView,
) -> i32 {
    // SAFETY: modules pass back the ctx they were given.
    let state = unsafe { state(ctx) };
    // SAFETY: the pointers are checked for null; modules pass writable locals.
    let (Some(cursor), Some(out)) = (unsafe { cursor.as_mut() }, unsafe { out.as_mut() }) else {
        return 0;
    };
    let Ok(bus) = state.bus.try_borrow() else {
        return 0;
    };
    match bus.next(kind, cursor) {
        Some(event) => {
            *out = FiascoEventView {
                kind,
                source: event.source,
                data: FiascoStr {
                    ptr: event.ptr,
                    len: event.len,
                },
                seq: event.seq,
            };
            1
        }
        None => 0,
    }
}

unsafe extern "C" fn bus_end(ctx: *mut c_void) -> u64 {
    // SAFETY: modules pass back the ctx they were given.
    let state = unsafe { state(ctx) };
    state.bus.try_borrow().map_or(0, |bus| bus.end())
}

unsafe extern "C" fn write_event(ctx: *mut c_void, kind: u32, data: FiascoStr) -> i32 {
    // SAFETY: modules pass back the ctx they were given.
    let state = unsafe { state(ctx) };
    if !state.is_kind(kind) || (data.ptr.is_null() && data.len != 0) {
        return STATUS_INVALID;
    }
    let Ok(mut bus) = state.bus.try_borrow_mut() else {
        return STATUS_INVALID;
    };
    // SAFETY: the module passes `len` readable bytes; we copy them now.
    bus.push(kind, state.current.get(), unsafe { data.as_bytes() });
    STATUS_OK
}

unsafe extern "C" fn write_event_owned(ctx: *mut c_void, kind: u32, buffer: FiascoBuffer) -> i32 {
    // SAFETY: modules pass back the ctx they were given.
    let state = unsafe { state(ctx) };
    let valid = !(buffer.ptr.is_null() && buffer.len != 0);
    // SAFETY: the module hands over a buffer under the FiascoBuffer
    // contract; from here on it is released exactly once, by the drop of
    // these bytes (at once when the event is refused).
    let buffer = unsafe { crate::buffer::Foreign::new(buffer) };
    if !valid || !state.is_kind(kind) {
        return STATUS_INVALID;
    }
    let Ok(mut bus) = state.bus.try_borrow_mut() else {
        return STATUS_INVALID;
    };
    bus.push_foreign(kind, state.current.get(), buffer);
    STATUS_OK
}

unsafe extern "C" fn retain_event(
    ctx: *mut c_void,
    kind: u32,
    seq: u64,
    out: *mut FiascoBuffer,
) -> i32 {
    // SAFETY: modules pass back the ctx they were given.
    let state = unsafe { state(ctx) };
    // SAFETY: checked for null; modules pass a writable local.
    let Some(out) = (unsafe { out.as_mut() }) else {
        return 0;
    };
    let Ok(mut bus) = state.bus.try_borrow_mut() else {
        return 0;
    };
    match bus.retain(kind, seq) {
        Some(bytes) => {
            *out = crate::buffer::into_abi(bytes);
            1
        }
        None => 0,
    }
}

unsafe extern "C" fn log(ctx: *mut c_void, level: i32, line: FiascoStr) {
    // SAFETY: modules pass back the ctx they were given and a valid string.
    let (state, line) = unsafe { (state(ctx), line.as_bytes()) };
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    let module = state.current_module_name();
    match level {
        crate::abi::LOG_ERROR => tracing::error!(module = %module, "{text}"),
        crate::abi::LOG_WARN => tracing::warn!(module = %module, "{text}"),
        crate::abi::LOG_DEBUG => tracing::debug!(module = %module, "{text}"),
        crate::abi::LOG_TRACE => tracing::trace!(module = %module, "{text}"),
        crate::abi::LOG_RAW => {
            // Already formatted by the module's own subscriber: pass through.
            let _ = writeln!(std::io::stderr(), "{text}");
        }
        _ => tracing::info!(module = %module, "{text}"),
    }
}

unsafe extern "C" fn config_get(ctx: *mut c_void, key: FiascoStr, out: *mut FiascoStr) -> i32 {
    // SAFETY: modules pass back the ctx they were given and a valid string.
    let (state, key) = unsafe { (state(ctx), key.as_bytes()) };
    // SAFETY: checked for null; modules pass a writable local.
    let Some(out) = (unsafe { out.as_mut() }) else {
        return 0;
    };
    let module = state.current_module_name();
    let Some(value) = state.config.get(&module, &String::from_utf8_lossy(key)) else {
        return 0;
    };
    let Ok(mut scratch) = state.config_scratch.try_borrow_mut() else {
        return 0;
    };
    *scratch = value;
    *out = FiascoStr::from_bytes(scratch.as_bytes());
    1
}

unsafe extern "C" fn module_name(ctx: *mut c_void, index: u32) -> FiascoStr {
    // SAFETY: modules pass back the ctx they were given.
    let state = unsafe { state(ctx) };
    let Ok(names) = state.module_names.try_borrow() else {
        return FiascoStr::empty();
    };
    // Names are boxed and never removed, so the bytes outlive the borrow.
    names
        .get(index as usize)
        .map_or_else(FiascoStr::empty, |name| {
            FiascoStr::from_bytes(name.as_bytes())
        })
}

unsafe extern "C" fn frame(ctx: *mut c_void) -> u64 {
    // SAFETY: modules pass back the ctx they were given.
    unsafe { state(ctx) }.frame.get()
}

unsafe extern "C" fn waker(ctx: *mut c_void) -> FiascoWaker {
    // SAFETY: modules pass back the ctx they were given.
    unsafe { state(ctx) }.wake.handle()
}
