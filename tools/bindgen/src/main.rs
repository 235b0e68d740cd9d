//! Regenerates the checked-in FlatBuffers bindings, or checks they are fresh.
//!
//! `cargo run -p fiasco-bindgen` rewrites them; `-- --check` fails (exit 1)
//! when a checked-in file differs from what the pinned `flatc` makes of its
//! schema. The `flatc` crate vendors and builds flatc 23.5.26, the version of
//! the `flatbuffers` runtime crate the workspace pins.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A schema and the file its Rust bindings are checked in as.
struct Binding {
    schema: &'static str,
    output: &'static str,
    /// Extra flatc flags for this schema.
    flags: &'static [&'static str],
}

const BINDINGS: &[Binding] = &[
    Binding {
        schema: "ipc/schema/ipc.fbs",
        output: "ipc/schema/src/ipc_generated.rs",
        flags: &[],
    },
    Binding {
        schema: "runtime/tests/support/doc_schema.fbs",
        output: "runtime/tests/support/doc_schema.rs",
        flags: &[],
    },
    Binding {
        schema: "platform_native/tests/modules/test_events.fbs",
        output: "platform_native/tests/modules/test_events/src/test_events_generated.rs",
        flags: &[],
    },
    Binding {
        schema: "examples/ipc_agent/demo.fbs",
        output: "examples/ipc_agent/src/demo_generated.rs",
        flags: &[],
    },
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn generate(root: &Path, binding: &Binding, out_dir: &Path) -> Result<String, String> {
    let status = Command::new(flatc::flatc())
        .arg("--rust")
        .arg("--gen-all")
        .args(binding.flags)
        .arg("-o")
        .arg(out_dir)
        .arg(root.join(binding.schema))
        .status()
        .map_err(|error| format!("running flatc: {error}"))?;
    if !status.success() {
        return Err(format!("flatc failed on {}: {status}", binding.schema));
    }
    let stem = Path::new(binding.schema)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or("schema without a file name")?;
    let generated = out_dir.join(format!("{stem}_generated.rs"));
    std::fs::read_to_string(&generated)
        .map_err(|error| format!("reading {}: {error}", generated.display()))
}

fn main() -> ExitCode {
    let check = std::env::args().any(|arg| arg == "--check");
    let root = workspace_root();
    let scratch = std::env::temp_dir().join(format!("fiasco-bindgen-{}", std::process::id()));
    let mut stale = Vec::new();
    for binding in BINDINGS {
        if !root.join(binding.schema).exists() {
            continue;
        }
        let _ = std::fs::remove_dir_all(&scratch);
        let fresh = match generate(&root, binding, &scratch) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let path = root.join(binding.output);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == fresh {
            println!("fresh: {}", binding.output);
        } else if check {
            eprintln!(
                "STALE: {} does not match {} (run `cargo run -p fiasco-bindgen`)",
                binding.output, binding.schema
            );
            stale.push(binding.output);
        } else if let Err(error) = std::fs::write(&path, fresh) {
            eprintln!("error: writing {}: {error}", path.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote: {}", binding.output);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if stale.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
