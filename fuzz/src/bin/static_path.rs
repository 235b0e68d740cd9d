//! Fuzz target: `fiasco_ipc_core::fuzzing::static_path` (see its docs).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        fiasco_ipc_core::fuzzing::static_path(data);
    });
}
