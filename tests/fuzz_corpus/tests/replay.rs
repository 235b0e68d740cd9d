//! Every checked-in corpus input through its fuzz target.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

/// Feeds every file of `fuzz/corpus/TARGET/` to `run`.
fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
    {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        eprintln!("{target}: {}", path.display());
        run(&data);
        inputs += 1;
    }
    assert!(inputs > 0, "{} is empty", dir.display());
}

#[test]
fn http_request() {
    replay("http_request", fiasco_ipc_core::fuzzing::http_request);
}

#[test]
fn websocket_frames() {
    replay(
        "websocket_frames",
        fiasco_ipc_core::fuzzing::websocket_frames,
    );
}

#[test]
fn channel_state() {
    replay("channel_state", fiasco_ipc_core::fuzzing::channel_state);
}

#[test]
fn static_path() {
    replay("static_path", fiasco_ipc_core::fuzzing::static_path);
}

#[test]
fn token_request() {
    replay("token_request", fiasco_ipc_core::fuzzing::token_request);
}

#[test]
fn module_events() {
    replay("module_events", fiasco_ipc::fuzzing::module_events);
    fiasco_ipc::fuzzing::module_events_done();
}

#[test]
fn abi_strings() {
    replay("abi_strings", fiasco::fuzzing::abi_strings);
}
