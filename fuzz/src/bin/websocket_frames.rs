//! Fuzz target `websocket_frames`: see `fiasco_ipc_core::fuzzing::websocket_frames`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        fiasco_ipc_core::fuzzing::websocket_frames(data);
    });
}
