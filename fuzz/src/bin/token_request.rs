//! Fuzz target: `fiasco_ipc_core::fuzzing::token_request` (see its docs).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        fiasco_ipc_core::fuzzing::token_request(data);
    });
}
