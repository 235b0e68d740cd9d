//! Regenerates the checked-in FlatBuffers bindings, or checks they are fresh.
//!
//! `cargo run -p fiasco-bindgen` rewrites them; `-- --check` fails (exit 1)
//! when a checked-in file differs from what the pinned `flatc` makes of its
//! schema. The `flatc` crate vendors and builds flatc 23.5.26, the version of
//! the `flatbuffers` runtime crate the workspace pins.

mod c_api;
mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A schema and the file its Rust bindings are checked in as.
struct Binding {
    schema: &'static str,
    output: &'static str,
}

/// A schema whose bindings in another language are checked in as a folder
/// of files.
struct TreeBinding {
    schema: &'static str,
    /// flatc's language flag.
    language: &'static str,
    output_dir: &'static str,
    /// Also check in the FlatBuffers C++ headers of flatc's own release
    /// (`flatbuffers/*.h`), so C++ code builds against exactly the version
    /// that generated it.
    cpp_headers: bool,
}

const TREE_BINDINGS: &[TreeBinding] = &[
    TreeBinding {
        schema: "examples/ipc_agent/demo.fbs",
        language: "--ts",
        output_dir: "examples/ipc_agent/web/generated",
        cpp_headers: false,
    },
    TreeBinding {
        schema: "ipc/schema/ipc.fbs",
        language: "--cpp",
        output_dir: "ipc/schema/cpp",
        cpp_headers: true,
    },
];

/// The FlatBuffers headers generated C++ code includes (`flatbuffers.h` and
/// what it includes), not the compiler's own.
const CPP_HEADERS: &[&str] = &[
    "allocator.h",
    "array.h",
    "base.h",
    "buffer.h",
    "buffer_ref.h",
    "default_allocator.h",
    "detached_buffer.h",
    "flatbuffer_builder.h",
    "flatbuffers.h",
    "stl_emulation.h",
    "string.h",
    "struct.h",
    "table.h",
    "vector.h",
    "vector_downward.h",
    "verifier.h",
];

/// Copies the [`CPP_HEADERS`] the `flatc` crate installed beside its flatc
/// into `out_dir/flatbuffers/`.
fn copy_cpp_headers(out_dir: &Path) -> Result<(), String> {
    let installed = flatc::flatc()
        .parent()
        .and_then(Path::parent)
        .map(|prefix| prefix.join("include/flatbuffers"))
        .ok_or("flatc has no install prefix")?;
    let target = out_dir.join("flatbuffers");
    std::fs::create_dir_all(&target).map_err(|error| error.to_string())?;
    for header in CPP_HEADERS {
        std::fs::copy(installed.join(header), target.join(header))
            .map_err(|error| format!("copying {header} from {}: {error}", installed.display()))?;
    }
    Ok(())
}

const BINDINGS: &[Binding] = &[
    Binding {
        schema: "ipc/schema/ipc.fbs",
        output: "ipc/schema/src/ipc_generated.rs",
    },
    Binding {
        schema: "runtime/tests/support/doc_schema.fbs",
        output: "runtime/tests/support/doc_schema.rs",
    },
    Binding {
        schema: "platform_native/tests/modules/test_events.fbs",
        output: "platform_native/tests/modules/test_events/src/test_events_generated.rs",
    },
    Binding {
        schema: "examples/ipc_agent/demo.fbs",
        output: "examples/ipc_agent/src/demo_generated.rs",
    },
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the pinned flatc on `schema` for `language` (`--rust`, `--ts`, `--cpp`),
/// writing into `out_dir`.
fn run_flatc(root: &Path, schema: &str, language: &str, out_dir: &Path) -> Result<(), String> {
    let status = Command::new(flatc::flatc())
        .args([language, "--gen-all", "-o"])
        .arg(out_dir)
        .arg(root.join(schema))
        .status()
        .map_err(|error| format!("running flatc: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("flatc {language} failed on {schema}: {status}"))
    }
}

/// Generates the Rust bindings of `binding` into `out_dir`; returns them.
fn generate(root: &Path, binding: &Binding, out_dir: &Path) -> Result<String, String> {
    run_flatc(root, binding.schema, "--rust", out_dir)?;
    let stem = Path::new(binding.schema)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or("schema without a file name")?;
    let generated = out_dir.join(format!("{stem}_generated.rs"));
    std::fs::read_to_string(&generated)
        .map_err(|error| format!("reading {}: {error}", generated.display()))
}

/// Every file below `dir`, relative to it, with its contents.
fn read_tree(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let (Ok(relative), Ok(text)) =
                (path.strip_prefix(dir), std::fs::read_to_string(&path))
            {
                files.push((relative.to_path_buf(), text));
            }
        }
    }
    files.sort();
    files
}

/// Generates `binding` into a scratch folder; returns its tree.
fn generate_tree(
    root: &Path,
    binding: &TreeBinding,
    out_dir: &Path,
) -> Result<Vec<(PathBuf, String)>, String> {
    run_flatc(root, binding.schema, binding.language, out_dir)?;
    if binding.cpp_headers {
        copy_cpp_headers(out_dir)?;
    }
    Ok(read_tree(out_dir))
}

fn check_or_write_trees(
    root: &Path,
    scratch: &Path,
    check: bool,
    stale: &mut Vec<&'static str>,
) -> Result<(), String> {
    for binding in TREE_BINDINGS {
        let _ = std::fs::remove_dir_all(scratch);
        let fresh = generate_tree(root, binding, scratch)?;
        let target = root.join(binding.output_dir);
        if read_tree(&target) == fresh {
            println!("fresh: {}/", binding.output_dir);
        } else if check {
            eprintln!(
                "STALE: {}/ does not match {} (run `cargo run -p fiasco-bindgen`)",
                binding.output_dir, binding.schema
            );
            stale.push(binding.output_dir);
        } else {
            let _ = std::fs::remove_dir_all(&target);
            for (relative, text) in fresh {
                let path = target.join(relative);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|error| error.to_string())?;
                }
                std::fs::write(&path, text).map_err(|error| error.to_string())?;
            }
            println!("wrote: {}/", binding.output_dir);
        }
    }
    Ok(())
}

/// The C API's Rust and header, generated from ipc.fbs's binary schema.
fn generate_c_api(root: &Path, out_dir: &Path) -> Result<[(&'static str, String); 2], String> {
    let status = Command::new(flatc::flatc())
        .args(["-b", "--schema", "--bfbs-comments", "-o"])
        .arg(out_dir)
        .arg(root.join("ipc/schema/ipc.fbs"))
        .status()
        .map_err(|error| format!("running flatc: {error}"))?;
    if !status.success() {
        return Err(format!("flatc -b --schema failed on ipc.fbs: {status}"));
    }
    let bfbs = std::fs::read(out_dir.join("ipc.bfbs")).map_err(|error| error.to_string())?;
    let schema = schema::Schema::from_bfbs(&bfbs)?;
    Ok([
        (c_api::RUST_OUTPUT, c_api::rust(&schema)),
        (c_api::HEADER_OUTPUT, c_api::header(&schema)),
    ])
}

/// Compares (or writes) one generated file.
fn check_or_write(
    root: &Path,
    output: &'static str,
    fresh: &str,
    check: bool,
    stale: &mut Vec<&'static str>,
) -> Result<(), String> {
    let path = root.join(output);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == fresh {
        println!("fresh: {output}");
    } else if check {
        eprintln!("STALE: {output} does not match its schema (run `cargo run -p fiasco-bindgen`)");
        stale.push(output);
    } else {
        std::fs::write(&path, fresh)
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
        println!("wrote: {output}");
    }
    Ok(())
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
    let c_api = generate_c_api(&root, &scratch).and_then(|files| {
        files
            .iter()
            .try_for_each(|(output, fresh)| check_or_write(&root, output, fresh, check, &mut stale))
    });
    if let Err(error) = c_api {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    if let Err(error) = check_or_write_trees(&root, &scratch, check, &mut stale) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if stale.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
