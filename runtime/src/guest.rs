//! The module side of the C ABI: trampolines that the [`module_api!`](crate::module_api) and
//! [`export_module!`](crate::export_module) macros point the ABI table at.
//!
//! Every trampoline catches panics: a panic never unwinds into the host.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use crate::abi::{
    FiascoHostApi, FiascoStr, LOG_ERROR, LOG_RAW, STATUS_ERROR, STATUS_INVALID, STATUS_OK,
    STATUS_PANIC,
};
use crate::host_ref::HostRef;
use crate::module::{Instance, Module};

/// The host table this copy of the runtime was initialised with, for the
/// log bridge. The host keeps it valid from the first `init` to the last
/// `shutdown`.
static HOST: AtomicPtr<FiascoHostApi> = AtomicPtr::new(std::ptr::null_mut());
static LOG_BRIDGE: Once = Once::new();

thread_local! {
    /// Depth of host calls (init, run_system, shutdown) running on this
    /// thread. The host's functions may be used only inside them: on the
    /// game thread, while the host table is valid.
    static IN_HOST_CALL: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Marks a host call on this thread for its lifetime.
struct HostCall;

impl HostCall {
    fn enter() -> Self {
        IN_HOST_CALL.with(|depth| depth.set(depth.get() + 1));
        HostCall
    }
}

impl Drop for HostCall {
    fn drop(&mut self) {
        IN_HOST_CALL.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Sends this library's `tracing` output to the host's log, when the library
/// has no subscriber of its own (a dynamic module has its own copy of the
/// `tracing` globals; a statically linked one shares the game's).
fn install_log_bridge(host: *const FiascoHostApi) {
    HOST.store(host.cast_mut(), Ordering::Release);
    LOG_BRIDGE.call_once(|| {
        if tracing::dispatcher::has_been_set() {
            return;
        }
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| HostLogWriter)
            .finish();
        // Losing the race to another subscriber is fine: logs go there.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Stops the log bridge from using `host`, whose table is about to become
/// invalid (its module shut down or failed to start). Later lines go to
/// stderr until another module of this library starts.
fn forget_host(host: *const FiascoHostApi) {
    let _ = HOST.compare_exchange(
        host.cast_mut(),
        std::ptr::null_mut(),
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

/// Writes formatted log lines to the host.
struct HostLogWriter;

impl Write for HostLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Outside a host call (another thread of the module, or the game's
        // own code between calls) the host may not be used: write directly.
        let in_call = IN_HOST_CALL.with(std::cell::Cell::get) > 0;
        let ptr = if in_call {
            HOST.load(Ordering::Acquire)
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: inside a host call on this thread, HOST (when set) is the
        // table of a live host: it is cleared before its module's state goes.
        match unsafe { HostRef::from_ptr(ptr) } {
            Some(host) => host.log(LOG_RAW, &String::from_utf8_lossy(buf)),
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Creates a module instance. Called by the `init` trampoline of
/// [`module_api!`](crate::module_api).
///
/// # Safety
/// `host` must be a valid host table for the duration of the call and
/// `state` valid for writes.
#[doc(hidden)]
pub unsafe fn init_module(
    host: *const FiascoHostApi,
    state: *mut *mut c_void,
    build: fn() -> Module,
) -> i32 {
    // SAFETY: guaranteed by the caller.
    let Some(host_ref) = (unsafe { HostRef::from_ptr(host) }) else {
        return STATUS_INVALID;
    };
    if state.is_null() {
        return STATUS_INVALID;
    }
    let _call = HostCall::enter();
    install_log_bridge(host);
    let result = catch_unwind(AssertUnwindSafe(|| Instance::start(build(), host_ref)));
    match result {
        Ok(Ok(instance)) => {
            // SAFETY: `state` was checked non-null and is valid for writes.
            unsafe { *state = Box::into_raw(Box::new(instance)).cast() };
            STATUS_OK
        }
        Ok(Err(error)) => {
            host_ref.log(LOG_ERROR, &format!("init failed: {error}"));
            STATUS_ERROR
        }
        Err(payload) => {
            host_ref.log(
                LOG_ERROR,
                &format!("init panicked: {}", panic_message(&*payload)),
            );
            STATUS_PANIC
        }
    }
}

/// # Safety
/// `state` must come from a successful `init` and not have been shut down.
unsafe fn instance<'a>(state: *mut c_void) -> Option<&'a mut Instance> {
    // SAFETY: guaranteed by the caller.
    unsafe { state.cast::<Instance>().as_mut() }
}

/// ABI: number of systems.
///
/// # Safety
/// See [`crate::abi::FiascoModuleApi::system_count`].
#[doc(hidden)]
pub unsafe extern "C" fn system_count(state: *mut c_void) -> u32 {
    // SAFETY: the host passes the state it got from init.
    unsafe { instance(state) }.map_or(0, |instance| {
        u32::try_from(instance.systems.len()).unwrap_or(u32::MAX)
    })
}

/// ABI: describes one system.
///
/// # Safety
/// See [`crate::abi::FiascoModuleApi::system_info`].
#[doc(hidden)]
pub unsafe extern "C" fn system_info(
    state: *mut c_void,
    index: u32,
    name: *mut FiascoStr,
    stage: *mut u32,
) -> i32 {
    // SAFETY: the host passes the state it got from init.
    let Some(instance) = (unsafe { instance(state) }) else {
        return STATUS_INVALID;
    };
    let Some((system_stage, system)) = instance.systems.get(index as usize) else {
        return STATUS_INVALID;
    };
    if name.is_null() || stage.is_null() {
        return STATUS_INVALID;
    }
    // SAFETY: both pointers were checked non-null; the host passes writable
    // locals. The name is 'static.
    unsafe {
        *name = FiascoStr::from_bytes(system.name().as_bytes());
        *stage = system_stage.to_abi();
    }
    STATUS_OK
}

/// ABI: runs one system, catching any panic.
///
/// # Safety
/// See [`crate::abi::FiascoModuleApi::run_system`].
#[doc(hidden)]
pub unsafe extern "C" fn run_system(
    state: *mut c_void,
    index: u32,
    host: *const FiascoHostApi,
) -> i32 {
    // SAFETY: the host passes the state it got from init.
    let Some(instance) = (unsafe { instance(state) }) else {
        return STATUS_INVALID;
    };
    // SAFETY: the host table is valid for the duration of this call.
    let Some(host) = (unsafe { HostRef::from_ptr(host) }) else {
        return STATUS_INVALID;
    };
    let Instance {
        name,
        systems,
        resources,
        ..
    } = instance;
    let Some((_, system)) = systems.get_mut(index as usize) else {
        return STATUS_INVALID;
    };
    let _call = HostCall::enter();
    match catch_unwind(AssertUnwindSafe(|| system.run(host, resources, name))) {
        Ok(()) => STATUS_OK,
        Err(payload) => {
            host.log(
                LOG_ERROR,
                &format!(
                    "system {}::{} panicked: {}",
                    name,
                    system.name(),
                    panic_message(&*payload)
                ),
            );
            STATUS_PANIC
        }
    }
}

/// ABI: runs the module's shutdown and frees its state.
///
/// # Safety
/// See [`crate::abi::FiascoModuleApi::shutdown`].
#[doc(hidden)]
pub unsafe extern "C" fn shutdown(state: *mut c_void, host: *const FiascoHostApi) {
    if state.is_null() {
        return;
    }
    // SAFETY: the state came from `Box::into_raw` in init and the host calls
    // shutdown once.
    let instance = unsafe { Box::from_raw(state.cast::<Instance>()) };
    let name = instance.name;
    let _call = HostCall::enter();
    let result = catch_unwind(AssertUnwindSafe(|| instance.stop()));
    forget_host(host);
    if let Err(payload) = result {
        // SAFETY: the host table is valid for the duration of this call.
        if let Some(host) = unsafe { HostRef::from_ptr(host) } {
            host.log(
                LOG_ERROR,
                &format!(
                    "module {name} panicked in shutdown: {}",
                    panic_message(&*payload)
                ),
            );
        }
    }
}

/// Builds the C ABI table of a module written in Rust.
///
/// Takes the module's name (a string literal) and a `fn() -> Module` that
/// builds it; evaluates to a `&'static FiascoModuleApi`. Use the table to
/// link the module statically (`GameBuilder::add_static`), and export it from
/// a `cdylib` with [`export_module!`](crate::export_module).
///
/// ```
/// use fiasco::{module_api, Module};
///
/// fn build() -> Module {
///     Module::new("hello")
/// }
///
/// pub fn api() -> &'static fiasco::abi::FiascoModuleApi {
///     module_api!("hello", build)
/// }
/// # assert_eq!(api().abi_version, fiasco::abi::ABI_VERSION);
/// ```
#[macro_export]
macro_rules! module_api {
    ($name:literal, $build:path) => {{
        #[allow(unsafe_code)]
        unsafe extern "C" fn __fiasco_init(
            host: *const $crate::abi::FiascoHostApi,
            state: *mut *mut ::std::ffi::c_void,
        ) -> i32 {
            // SAFETY: the host calls init with a valid table and out pointer.
            unsafe { $crate::guest::init_module(host, state, $build) }
        }
        static API: $crate::abi::FiascoModuleApi = $crate::abi::FiascoModuleApi {
            abi_version: $crate::abi::ABI_VERSION,
            name: $crate::abi::FiascoStr::from_bytes($name.as_bytes()),
            init: __fiasco_init,
            system_count: $crate::guest::system_count,
            system_info: $crate::guest::system_info,
            run_system: $crate::guest::run_system,
            shutdown: $crate::guest::shutdown,
        };
        &API
    }};
}

/// Exports a module's ABI table from a `cdylib`, so `platform_native` can
/// load it from its `modules/` folder.
///
/// Takes a path to a `fn() -> &'static FiascoModuleApi` (see
/// [`module_api!`](crate::module_api)). Use it once per library, in the crate
/// that builds the `cdylib`.
#[macro_export]
macro_rules! export_module {
    ($api:path) => {
        /// The ABI version this module speaks (C ABI entry point).
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn fiasco_module_abi_version() -> u32 {
            $crate::abi::ABI_VERSION
        }

        /// The module's ABI table (C ABI entry point).
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn fiasco_module_entry() -> *const $crate::abi::FiascoModuleApi {
            $api()
        }
    };
}
