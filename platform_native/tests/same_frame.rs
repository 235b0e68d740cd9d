//! Two dynamic modules: a request written in stage First is answered by
//! another module in Update and the answer read in Last, all in one frame;
//! every reply is seen exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

#[test]
fn requests_are_answered_within_the_frame_exactly_once() {
    let scratch = common::scratch("same-frame");
    let dir = scratch.path();
    common::add_rust_modules(dir, &["test_requester", "test_responder"]);
    let output = common::run(dir, 50, &[common::out_setting(dir)]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let replies = common::replies(dir);
    let expected: Vec<(u64, u64)> = (1..=50).map(|frame| (frame, frame)).collect();
    assert_eq!(
        replies, expected,
        "one reply per request, in the frame it was asked"
    );
    let lines = common::recorded(dir);
    assert_eq!(lines.first().map(String::as_str), Some("init"));
    assert_eq!(lines.last().map(String::as_str), Some("shutdown"));
}

#[test]
fn load_order_does_not_change_delivery() {
    // The responder loads first (file name order), so the requester's
    // events come after it in the frame... but stages order systems, and
    // readers see everything since their last run: still one reply per
    // request, in the same frame.
    let scratch = common::scratch("order");
    let dir = scratch.path();
    common::add_rust_modules(dir, &["test_responder", "test_requester"]);
    std::fs::rename(
        dir.join("modules/libtest_responder.so"),
        dir.join("modules/liba_responder.so"),
    )
    .unwrap();
    let output = common::run(dir, 20, &[common::out_setting(dir)]);
    assert!(output.status.success());
    let replies = common::replies(dir);
    assert_eq!(replies.len(), 20);
    assert!(replies.iter().all(|(id, frame)| id == frame));
}
