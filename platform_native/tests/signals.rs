//! SIGINT and SIGTERM end the game cleanly: shutdown runs, exit code 0.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stop_with(signal: &str) {
    let scratch = common::scratch(&format!("signal-{signal}"));
    let dir = scratch.path();
    common::add_rust_modules(dir, &["test_requester", "test_responder"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_platform_native"))
        .arg("--modules")
        .arg(dir.join("modules"))
        .args(["--fps", "60", "--set", &common::out_setting(dir)])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until frames run.
    let deadline = Instant::now() + Duration::from_secs(10);
    while common::replies(dir).len() < 5 {
        assert!(Instant::now() < deadline, "the game did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the game did not stop on {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0), "exit code on {signal}");
    assert_eq!(
        common::recorded(dir).last().map(String::as_str),
        Some("shutdown")
    );
    // Paced at 60 fps: about 60 frames a second, not thousands.
    let frames = common::replies(dir).len();
    assert!(frames < 1000, "{frames} frames: the loop is not paced");
}

#[test]
fn sigint_ends_the_game_cleanly() {
    stop_with("INT");
}

#[test]
fn sigterm_ends_the_game_cleanly() {
    stop_with("TERM");
}
