//! `fiasco_ipc.h` mirrors the Rust structs exactly: a C program compiled
//! with the system's cc against the header prints every field's offset and
//! every struct's size, and they must equal Rust's.

#![allow(clippy::expect_used, missing_docs)]

use fiasco_ipc_c::*;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

/// `(struct, field or "size", value)` lines for the listed structs, once
/// as Rust sees them and once as C source that prints what C sees.
macro_rules! layouts {
    ($($ty:ident { $($field:ident),* $(,)? })*) => {{
        let mut rust = String::new();
        let mut c = String::new();
        $(
            $(
                rust.push_str(&format!("{} {} {}\n", stringify!($ty), stringify!($field), offset_of!($ty, $field)));
                c.push_str(&format!(
                    "printf(\"{} {} %zu\\n\", offsetof({}, {}));\n",
                    stringify!($ty), stringify!($field), stringify!($ty), stringify!($field)
                ));
            )*
            rust.push_str(&format!("{} size {}\n", stringify!($ty), size_of::<$ty>()));
            c.push_str(&format!("printf(\"{} size %zu\\n\", sizeof({}));\n", stringify!($ty), stringify!($ty)));
        )*
        (rust, c)
    }};
}

#[test]
fn the_header_matches_the_rust_structs() {
    let (rust, c_body) = layouts! {
        FiascoIpcReader { cursor, kind, bound }
        FiascoIpcListenRequest {
            user_id, port, bind_address, allowed_origins, allowed_origins_count, token,
            web_root, tls_cert_path, tls_key_path, max_message_size, max_frame_size,
            max_connections, handshake_timeout_ms, idle_timeout_ms, max_outbound_messages,
            max_outbound_bytes, max_inbound_messages, max_inbound_bytes, write_timeout_ms,
            message_timeout_ms, max_pending_handshakes, max_pending_per_address,
            max_http_connections, http_lifetime_ms, max_request_head,
        }
        FiascoIpcListenResult { user_id, requested_port, port, status, message }
        FiascoIpcStopListeningRequest { user_id, port }
        FiascoIpcStopListeningResult { user_id, port, stopped }
        FiascoIpcConnectionOpened { channel, user_id, port, peer_address, path, origin, outbound, connect_id }
        FiascoIpcMessageFromRemote { channel, user_id, kind, content }
        FiascoIpcMessageToRemote { channel, content, kind }
        FiascoIpcCloseChannel { channel, code, reason }
        FiascoIpcChannelClosed { channel, user_id, closed_by, code, reason }
        FiascoIpcConnectRequest {
            user_id, connect_id, url, token, ca_file, no_reconnect, initial_backoff_ms,
            max_backoff_ms, max_message_size, max_frame_size, handshake_timeout_ms,
            idle_timeout_ms, max_outbound_messages, max_outbound_bytes, max_inbound_messages,
            max_inbound_bytes, write_timeout_ms, message_timeout_ms,
        }
        FiascoIpcConnectStatus {
            user_id, connect_id, state, attempt, channel, failure, http_status, retry_in_ms, message,
        }
        FiascoIpcDisconnectRequest { user_id, connect_id }
    };
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
    for (rust_line, c_line) in rust.lines().zip(c.lines()) {
        assert_eq!(
            rust_line, c_line,
            "fiasco_ipc.h differs from ipc/c/src/events.rs"
        );
    }
    assert_eq!(rust.lines().count(), c.lines().count());
}
