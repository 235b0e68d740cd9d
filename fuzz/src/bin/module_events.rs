//! Fuzz target `module_events`: arbitrary bytes as every ipc.fbs request
//! event an agent writes to the ipc module (which must verify and refuse
//! or act on them without panicking), and as every event agents read (which
//! readers verify). A `ListenRequest` goes through the module's parsing and
//! checks only: a fuzzer must not bind ports at random.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        fiasco_ipc::fuzzing::module_events(data);
    });
}
