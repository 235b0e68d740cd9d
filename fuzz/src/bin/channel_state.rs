//! Fuzz target `channel_state`: see `fiasco_ipc_core::fuzzing::channel_state`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        fiasco_ipc_core::fuzzing::channel_state(data);
    });
}
