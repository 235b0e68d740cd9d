//! `fiasco_ipc.h` mirrors the Rust structs exactly: a C program compiled
//! with the system's cc against the header prints every field's offset and
//! every struct's size, and they must equal Rust's. The field lists come
//! from the generator too (`fiasco_ipc_c::layout`), so a new field is
//! checked without editing this test.

#![allow(clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;

#[test]
fn the_header_matches_the_rust_structs() {
    let (rust, c_body) = fiasco_ipc_c::layout();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fiasco-ipc-header");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let source = dir.join("layout.c");
    let program = format!(
        "#include <stddef.h>\n#include <stdio.h>\n#include \"fiasco_ipc.h\"\nint main(void) {{\n{c_body}return 0;\n}}\n"
    );
    std::fs::write(&source, program).expect("write the C program");
    let binary = dir.join("layout");
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-o"])
        .arg(&binary)
        .arg(&source)
        .arg("-I")
        .arg(manifest.join("include"))
        .arg("-I")
        .arg(manifest.join("../../runtime/include"))
        .status()
        .expect("run cc");
    assert!(
        status.success(),
        "the header compiles as C11 without warnings"
    );
    let output = Command::new(&binary).output().expect("run the C program");
    let c = String::from_utf8_lossy(&output.stdout);
    assert!(
        rust.lines().count() > 100,
        "every struct's fields are listed"
    );
    for (rust_line, c_line) in rust.lines().zip(c.lines()) {
        assert_eq!(
            rust_line, c_line,
            "fiasco_ipc.h differs from ipc/c/src/generated.rs"
        );
    }
    assert_eq!(rust.lines().count(), c.lines().count());
}
