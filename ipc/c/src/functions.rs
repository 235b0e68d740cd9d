//! The four C functions every event table exports, written once; the
//! generated code invokes [`c_functions`] per table.

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
            host: *const fiasco::abi::FiascoHostApi,
            reader: *mut $crate::FiascoIpcReader,
            out: *mut $table,
        ) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::api::next(host, reader, out) }
        }

        #[doc = concat!("Verifies `data` as a `", stringify!($table), "`: `FIASCO_STATUS_OK` and `*out` (borrowing `data`), or `FIASCO_STATUS_INVALID`.")]
        ///
        /// # Safety
        /// `data` is valid for its length, `out` a valid pointer.
        #[no_mangle]
        pub unsafe extern "C" fn $read(data: fiasco::abi::FiascoStr, out: *mut $table) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::api::read(data, out) }
        }

        #[doc = concat!("Builds a `", stringify!($table), "` and writes it on the bus: `FIASCO_STATUS_OK`, or `FIASCO_STATUS_INVALID` (logged: which field).")]
        ///
        /// # Safety
        /// `host` is the host table given to the calling module; `event`
        /// and every non-null pointer in it are valid.
        #[no_mangle]
        pub unsafe extern "C" fn $write(host: *const fiasco::abi::FiascoHostApi, event: *const $table) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::api::write(host, event) }
        }

        #[doc = concat!("Builds a `", stringify!($table), "` into `*out`, a buffer the caller releases once: `FIASCO_STATUS_OK` or `FIASCO_STATUS_INVALID`.")]
        ///
        /// # Safety
        /// `event` and every non-null pointer in it are valid; `out` a
        /// valid pointer.
        #[no_mangle]
        pub unsafe extern "C" fn $build(event: *const $table, out: *mut fiasco::abi::FiascoBuffer) -> i32 {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::api::build(event, out) }
        }
    };
}
