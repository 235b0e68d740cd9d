//! Runs `platform_native` with a folder of real module libraries.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `target/debug` (or the profile the tests were built with).
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_platform_native"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fresh folder for one test, with its `modules` folder; removed when
/// the test ends (its module copies are tens of MiB: a test run must not
/// fill the disk).
pub fn scratch(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("fiasco-{name}-"))
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("modules")).unwrap();
    dir
}

/// Copies the Rust test modules `names` (e.g. "test_requester") into `dir/modules`.
pub fn add_rust_modules(dir: &Path, names: &[&str]) {
    for name in names {
        let file = format!("lib{name}.so");
        let source = target_dir().join(&file);
        assert!(
            source.exists(),
            "{} is missing: run `cargo build --workspace` before the tests",
            source.display()
        );
        std::fs::copy(&source, dir.join("modules").join(&file)).unwrap();
    }
}

/// Compiles a C module from `tests/modules/c/NAME.c` into `dir/modules`.
pub fn add_c_module(dir: &Path, name: &str) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = manifest.join(format!("tests/modules/c/{name}.c"));
    let include = manifest.join("../runtime/include");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
        .arg(dir.join("modules").join(format!("lib{name}.so")))
        .arg("-I")
        .arg(include)
        .arg(source)
        .status()
        .expect("cc");
    assert!(status.success(), "compiling {name}.c");
}

/// Runs the game for `frames` frames, unthrottled.
pub fn run(dir: &Path, frames: u64, settings: &[String]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_platform_native"));
    command
        .arg("--modules")
        .arg(dir.join("modules"))
        .args(["--fps", "0", "--frames", &frames.to_string()])
        .env("RUST_LOG", "info");
    for setting in settings {
        command.args(["--set", setting]);
    }
    command.output().unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The lines the requester module recorded.
pub fn recorded(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("out.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// (id, frame) of every reply the requester saw.
pub fn replies(dir: &Path) -> Vec<(u64, u64)> {
    recorded(dir)
        .iter()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("reply ")?.split(' ');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect()
}

pub fn out_setting(dir: &Path) -> String {
    format!("test_requester.out={}", dir.join("out.txt").display())
}
