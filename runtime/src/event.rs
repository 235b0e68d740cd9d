//! Event kinds: which FlatBuffers tables travel on the event bus.

use flatbuffers::{Follow, Verifiable};

/// A FlatBuffers table that can travel on the event bus.
///
/// Implemented for a generated table with [`event_kinds!`](crate::event_kinds);
/// the name must be the table's fully qualified name, which is how modules
/// built separately (or in another language) agree on what an event is.
pub trait EventKind {
    /// The fully qualified table name, e.g. `fiasco.ipc.MessageToRemote`.
    const NAME: &'static str;
}

/// An [`EventKind`] that can be read from bytes valid for `'a`.
///
/// Blanket-implemented for every generated table that implements
/// [`EventKind`]; you never implement it by hand.
pub trait Event<'a>: EventKind + Follow<'a, Inner = Self> + Verifiable + Copy + 'a {}

impl<'a, T> Event<'a> for T where T: EventKind + Follow<'a, Inner = T> + Verifiable + Copy + 'a {}

/// Declares generated FlatBuffers tables as event kinds.
///
/// ```ignore
/// fiasco::event_kinds! {
///     MessageToRemote => "fiasco.ipc.MessageToRemote",
/// }
/// ```
#[macro_export]
macro_rules! event_kinds {
    ($($table:ident => $name:expr),* $(,)?) => {
        $(
            impl $crate::EventKind for $table<'_> {
                const NAME: &'static str = $name;
            }
        )*
    };
}

/// Compile-time string equality, used to check a builder's table kind.
#[doc(hidden)]
pub const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Declares a checked-in flatc output file as a private module, with the
/// lints that generated code does not meet turned off for it alone.
///
/// ```ignore
/// fiasco::generated_module!(ipc_generated); // ipc_generated.rs beside this file
/// pub use ipc_generated::fiasco::ipc::*;
/// ```
#[macro_export]
#[rustfmt::skip]
macro_rules! generated_module {
    ($name:ident) => {
        #[allow(
            missing_docs, unused_imports, unsafe_code, clippy::all, clippy::unwrap_used,
            clippy::expect_used, missing_debug_implementations, unreachable_pub,
            non_camel_case_types, non_snake_case
        )]
        #[rustfmt::skip]
        mod $name;
    };
}
