//! Fuzz target `abi_strings`: see `fiasco::fuzzing::abi_strings`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        fiasco::fuzzing::abi_strings(data);
    });
}
