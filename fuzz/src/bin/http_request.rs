//! Fuzz target `http_request`: see `fiasco_ipc_core::fuzzing::http_request`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        fiasco_ipc_core::fuzzing::http_request(data);
    });
}
