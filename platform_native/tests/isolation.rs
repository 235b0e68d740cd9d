//! A bad library, an ABI mismatch, a panicking system and a malformed event
//! from a C module: each is reported, and the game and the other modules go on.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

#[test]
fn bad_files_are_reported_by_name_and_the_rest_load() {
    let scratch = common::scratch("bad-files");
    let dir = scratch.path();
    common::add_rust_modules(dir, &["test_requester", "test_responder"]);
    std::fs::write(
        dir.join("modules/libgarbage.so"),
        b"this is not an ELF file",
    )
    .unwrap();
    common::add_c_module(dir, "abi_mismatch");
    common::add_c_module(dir, "abi_v1");
    let output = common::run(dir, 10, &[common::out_setting(dir)]);
    let stderr = common::stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("libgarbage.so: not a loadable library"),
        "{stderr}"
    );
    assert!(
        stderr.contains("libabi_mismatch.so: module ABI version 999, this game speaks 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("libabi_v1.so: module ABI version 1, this game speaks 2"),
        "a version 1 module is refused by name: {stderr}"
    );
    assert_eq!(common::replies(dir).len(), 10, "the good modules ran");
}

#[test]
fn a_panicking_system_disables_its_module_only() {
    let scratch = common::scratch("panic");
    let dir = scratch.path();
    common::add_rust_modules(dir, &["test_panicker", "test_requester", "test_responder"]);
    let output = common::run(
        dir,
        20,
        &[common::out_setting(dir), "test_panicker.frame=3".into()],
    );
    let stderr = common::stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("test panic in frame 3"), "{stderr}");
    assert!(stderr.contains("module disabled"), "{stderr}");
    assert_eq!(
        common::replies(dir).len(),
        20,
        "the other modules kept running"
    );
    assert_eq!(
        common::recorded(dir).last().map(String::as_str),
        Some("shutdown")
    );
}

#[test]
fn a_malformed_event_from_a_c_module_is_refused_with_a_log_line() {
    let scratch = common::scratch("malformed");
    let dir = scratch.path();
    common::add_rust_modules(dir, &["test_requester", "test_responder"]);
    common::add_c_module(dir, "malformed");
    let output = common::run(dir, 10, &[common::out_setting(dir)]);
    let stderr = common::stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("C module ready"),
        "the C module loaded: {stderr}"
    );
    assert!(stderr.contains("refused a malformed event"), "{stderr}");
    assert!(
        stderr.contains("from=c_malformed"),
        "the log names the writer: {stderr}"
    );
    let replies = common::replies(dir);
    assert_eq!(
        replies.len(),
        10,
        "only the well-formed requests were answered: {replies:?}"
    );
    assert!(stderr.contains("C module shut down"));
}

#[test]
fn a_module_whose_init_fails_is_reported_and_skipped() {
    let scratch = common::scratch("init-fails");
    let dir = scratch.path();
    common::add_rust_modules(dir, &["test_requester", "test_responder"]);
    // No `test_requester.out`: its init fails.
    let output = common::run(dir, 5, &[]);
    let stderr = common::stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("configuration `out`: required"), "{stderr}");
    assert!(stderr.contains("module init failed"), "{stderr}");
}
