//! Every table built through the C functions reads back the same through
//! them and through the Rust bindings; what is not a valid event is refused.

#![allow(unsafe_code)] // calls the C API as C would
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use fiasco::abi::{FiascoBuffer, FiascoStr, STATUS_INVALID, STATUS_OK};
use fiasco::flatbuffers::root;
use fiasco_ipc_c::*;
use fiasco_ipc_schema as ipc;

fn s(text: &str) -> FiascoStr {
    FiascoStr {
        ptr: text.as_ptr(),
        len: text.len(),
    }
}

const ABSENT: FiascoStr = FiascoStr {
    ptr: std::ptr::null(),
    len: 0,
};

/// The text of a FiascoStr read back (`None`: absent).
fn text(value: FiascoStr) -> Option<String> {
    if value.ptr.is_null() {
        return None;
    }
    // SAFETY: read functions return pointers into the live event bytes.
    let bytes = unsafe { std::slice::from_raw_parts(value.ptr, value.len) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// Builds `event` with a C build function; returns the bytes.
fn built<T>(build: unsafe extern "C" fn(*const T, *mut FiascoBuffer) -> i32, event: &T) -> Vec<u8> {
    let mut buffer = FiascoBuffer {
        ptr: std::ptr::null(),
        len: 0,
        owner: std::ptr::null_mut(),
        release: None,
    };
    // SAFETY: a live event and buffer.
    assert_eq!(unsafe { build(event, &mut buffer) }, STATUS_OK);
    // SAFETY: a built buffer holds len bytes until released.
    let bytes = unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec();
    let release = buffer
        .release
        .expect("a built buffer has a release function");
    // SAFETY: released once.
    unsafe { release(buffer.owner) };
    bytes
}

/// Reads `bytes` with a C read function.
fn read<T>(read: unsafe extern "C" fn(FiascoStr, *mut T) -> i32, bytes: &[u8]) -> Option<T> {
    let mut out = std::mem::MaybeUninit::<T>::uninit();
    let data = FiascoStr {
        ptr: bytes.as_ptr(),
        len: bytes.len(),
    };
    // SAFETY: live bytes and a place to write.
    match unsafe { read(data, out.as_mut_ptr()) } {
        // SAFETY: OK means out was written.
        STATUS_OK => Some(unsafe { out.assume_init() }),
        status => {
            assert_eq!(status, STATUS_INVALID);
            None
        }
    }
}

#[test]
fn listen_request_round_trips_with_every_field() {
    let origins = [s("http://localhost:5173"), s("https://tool.example")];
    let grants = [
        FiascoIpcTokenGrant {
            token: s("e-token"),
            role: s("editor"),
        },
        FiascoIpcTokenGrant {
            token: s("v-token"),
            role: s("viewer"),
        },
    ];
    let event = FiascoIpcListenRequest {
        user_id: 7,
        port: 9100,
        bind_address: s("127.0.0.1"),
        allowed_origins: origins.as_ptr(),
        allowed_origins_count: origins.len(),
        token: s("secret"),
        web_root: ABSENT,
        tls_cert_path: s("cert.pem"),
        tls_key_path: s("key.pem"),
        max_message_size: 1 << 20,
        max_frame_size: 1 << 16,
        max_connections: 3,
        handshake_timeout_ms: 4,
        idle_timeout_ms: 5,
        max_outbound_messages: 6,
        max_outbound_bytes: 7,
        max_inbound_messages: 8,
        max_inbound_bytes: 9,
        write_timeout_ms: 10,
        message_timeout_ms: 11,
        max_pending_handshakes: 12,
        max_pending_per_address: 13,
        max_http_connections: 14,
        http_lifetime_ms: 15,
        max_request_head: 16_384,
        tokens: grants.as_ptr(),
        tokens_count: grants.len(),
    };
    let bytes = built(fiasco_ipc_build_listen_request, &event);
    let rust = root::<ipc::ListenRequest>(&bytes).expect("valid for the Rust bindings");
    assert_eq!(rust.token(), Some("secret"));
    assert_eq!(rust.web_root(), None);
    assert_eq!(rust.message_timeout_ms(), 11);
    let origins: Vec<_> = rust.allowed_origins().into_iter().flatten().collect();
    assert_eq!(origins, ["http://localhost:5173", "https://tool.example"]);

    let back = read(fiasco_ipc_read_listen_request, &bytes).expect("reads back");
    assert_eq!((back.user_id, back.port), (7, 9100));
    assert_eq!(text(back.bind_address).as_deref(), Some("127.0.0.1"));
    assert_eq!(text(back.web_root), None);
    assert_eq!(text(back.tls_key_path).as_deref(), Some("key.pem"));
    assert_eq!(back.allowed_origins_count, 2);
    assert!(back.allowed_origins.is_null());
    assert_eq!(
        (
            back.max_message_size,
            back.max_frame_size,
            back.max_connections
        ),
        (1 << 20, 1 << 16, 3)
    );
    assert_eq!(
        (
            back.handshake_timeout_ms,
            back.idle_timeout_ms,
            back.max_outbound_messages
        ),
        (4, 5, 6)
    );
    assert_eq!(
        (
            back.max_outbound_bytes,
            back.max_inbound_messages,
            back.max_inbound_bytes
        ),
        (7, 8, 9)
    );
    assert_eq!((back.write_timeout_ms, back.message_timeout_ms), (10, 11));
    assert_eq!(
        (
            back.max_pending_handshakes,
            back.max_pending_per_address,
            back.max_http_connections,
            back.http_lifetime_ms,
            back.max_request_head
        ),
        (12, 13, 14, 15, 16_384)
    );
    assert_eq!(rust.max_pending_handshakes(), 12);

    let data = FiascoStr {
        ptr: bytes.as_ptr(),
        len: bytes.len(),
    };
    let mut origin = ABSENT;
    // SAFETY: live bytes and a place to write.
    assert_eq!(
        unsafe { fiasco_ipc_listen_request_allowed_origins_at(data, 1, &mut origin) },
        STATUS_OK
    );
    assert_eq!(text(origin).as_deref(), Some("https://tool.example"));
    // SAFETY: as above.
    let past_the_end =
        unsafe { fiasco_ipc_listen_request_allowed_origins_at(data, 2, &mut origin) };
    assert_eq!(past_the_end, STATUS_INVALID);

    let grants: Vec<_> = rust
        .tokens()
        .into_iter()
        .flatten()
        .map(|grant| (grant.token(), grant.role()))
        .collect();
    assert_eq!(
        grants,
        [
            (Some("e-token"), Some("editor")),
            (Some("v-token"), Some("viewer"))
        ]
    );
    assert_eq!(back.tokens_count, 2);
    let mut grant = FiascoIpcTokenGrant::default();
    // SAFETY: live bytes and a place to write.
    assert_eq!(
        unsafe { fiasco_ipc_listen_request_tokens_at(data, 1, &mut grant) },
        STATUS_OK
    );
    assert_eq!(text(grant.token).as_deref(), Some("v-token"));
    assert_eq!(text(grant.role).as_deref(), Some("viewer"));
}

#[test]
fn results_and_stops_round_trip() {
    let result = FiascoIpcListenResult {
        user_id: 1,
        requested_port: 0,
        port: 40000,
        status: 1,
        message: s("address in use"),
    };
    let bytes = built(fiasco_ipc_build_listen_result, &result);
    let rust = root::<ipc::ListenResult>(&bytes).expect("valid");
    assert_eq!(rust.status(), ipc::ListenStatus::AddressInUse);
    let back = read(fiasco_ipc_read_listen_result, &bytes).expect("reads back");
    assert_eq!(
        (back.user_id, back.requested_port, back.port, back.status),
        (1, 0, 40000, 1)
    );
    assert_eq!(text(back.message).as_deref(), Some("address in use"));

    let stop = FiascoIpcStopListeningRequest {
        user_id: 2,
        port: 9,
    };
    let bytes = built(fiasco_ipc_build_stop_listening_request, &stop);
    let back = read(fiasco_ipc_read_stop_listening_request, &bytes).expect("reads back");
    assert_eq!((back.user_id, back.port), (2, 9));

    let stopped = FiascoIpcStopListeningResult {
        user_id: 3,
        port: 10,
        stopped: 1,
    };
    let bytes = built(fiasco_ipc_build_stop_listening_result, &stopped);
    assert!(root::<ipc::StopListeningResult>(&bytes)
        .expect("valid")
        .stopped());
    let back = read(fiasco_ipc_read_stop_listening_result, &bytes).expect("reads back");
    assert_eq!((back.user_id, back.port, back.stopped), (3, 10, 1));
}

#[test]
fn channel_events_round_trip() {
    let opened = FiascoIpcConnectionOpened {
        channel: 11,
        user_id: 12,
        port: 13,
        peer_address: s("127.0.0.1:5000"),
        path: s("/"),
        origin: ABSENT,
        outbound: 1,
        connect_id: 99,
        role: s("viewer"),
    };
    let bytes = built(fiasco_ipc_build_connection_opened, &opened);
    let back = read(fiasco_ipc_read_connection_opened, &bytes).expect("reads back");
    assert_eq!((back.channel, back.user_id, back.port), (11, 12, 13));
    assert_eq!(text(back.peer_address).as_deref(), Some("127.0.0.1:5000"));
    assert_eq!(text(back.path).as_deref(), Some("/"));
    assert_eq!(text(back.origin), None);
    assert_eq!((back.outbound, back.connect_id), (1, 99));
    assert_eq!(text(back.role).as_deref(), Some("viewer"));

    let content = [0u8, 1, 2, 255];
    let from = FiascoIpcMessageFromRemote {
        channel: 14,
        user_id: 15,
        kind: 0,
        content: FiascoStr {
            ptr: content.as_ptr(),
            len: content.len(),
        },
    };
    let bytes = built(fiasco_ipc_build_message_from_remote, &from);
    let back = read(fiasco_ipc_read_message_from_remote, &bytes).expect("reads back");
    assert_eq!((back.channel, back.user_id, back.kind), (14, 15, 0));
    // SAFETY: points into bytes, alive here.
    let read_content = unsafe { std::slice::from_raw_parts(back.content.ptr, back.content.len) };
    assert_eq!(read_content, content);

    let others = [20u64, 21, 22];
    let to = FiascoIpcMessageToRemote {
        channel: 16,
        content: s("hello"),
        kind: 1,
        conflation_key: 7,
        priority: 1,
        also_to: others.as_ptr(),
        also_to_count: others.len(),
    };
    let bytes = built(fiasco_ipc_build_message_to_remote, &to);
    let rust = root::<ipc::MessageToRemote>(&bytes).expect("valid");
    assert_eq!(rust.kind(), ipc::MessageKind::Text);
    assert_eq!(rust.conflation_key(), 7);
    assert_eq!(rust.priority(), ipc::Priority::High);
    let also: Vec<u64> = rust.also_to().into_iter().flatten().collect();
    assert_eq!(also, others);
    let data = FiascoStr {
        ptr: bytes.as_ptr(),
        len: bytes.len(),
    };
    let mut other = 0u64;
    // SAFETY: live bytes and a place to write.
    assert_eq!(
        unsafe { fiasco_ipc_message_to_remote_also_to_at(data, 2, &mut other) },
        STATUS_OK
    );
    assert_eq!(other, 22);
    assert_eq!(rust.content().map(|c| c.bytes()), Some(&b"hello"[..]));
    let back = read(fiasco_ipc_read_message_to_remote, &bytes).expect("reads back");
    assert_eq!((back.channel, back.kind), (16, 1));
    assert_eq!(
        (back.conflation_key, back.priority, back.also_to_count),
        (7, 1, 3)
    );
    assert_eq!(text(back.content).as_deref(), Some("hello"));

    let close = FiascoIpcCloseChannel {
        channel: 17,
        code: 4000,
        reason: s("bye"),
    };
    let bytes = built(fiasco_ipc_build_close_channel, &close);
    let back = read(fiasco_ipc_read_close_channel, &bytes).expect("reads back");
    assert_eq!((back.channel, back.code), (17, 4000));
    assert_eq!(text(back.reason).as_deref(), Some("bye"));

    let closed = FiascoIpcChannelClosed {
        channel: 18,
        user_id: 19,
        closed_by: 2,
        code: 1009,
        reason: s("message too big"),
    };
    let bytes = built(fiasco_ipc_build_channel_closed, &closed);
    assert_eq!(
        root::<ipc::ChannelClosed>(&bytes)
            .expect("valid")
            .closed_by(),
        ipc::ClosedBy::HostLimit
    );
    let back = read(fiasco_ipc_read_channel_closed, &bytes).expect("reads back");
    assert_eq!(
        (back.channel, back.user_id, back.closed_by, back.code),
        (18, 19, 2, 1009)
    );
    assert_eq!(text(back.reason).as_deref(), Some("message too big"));
}

#[test]
fn what_is_not_a_valid_event_is_refused() {
    assert!(read(
        fiasco_ipc_read_message_from_remote,
        &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3]
    )
    .is_none());
    assert!(read(fiasco_ipc_read_listen_request, &[]).is_none());
    // A message whose content vector claims more bytes than there are.
    let to = FiascoIpcMessageToRemote {
        channel: 1,
        content: s("hello"),
        kind: 1,
        ..Default::default()
    };
    let mut bytes = built(fiasco_ipc_build_message_to_remote, &to);
    bytes.truncate(bytes.len() - 4);
    assert!(read(fiasco_ipc_read_message_to_remote, &bytes).is_none());
    // A null data pointer.
    let mut out = std::mem::MaybeUninit::<FiascoIpcCloseChannel>::uninit();
    // SAFETY: null is checked.
    assert_eq!(
        unsafe { fiasco_ipc_read_close_channel(ABSENT, out.as_mut_ptr()) },
        STATUS_INVALID
    );
}

#[test]
fn bad_input_from_c_is_refused_not_built() {
    let latin1 = [0xE9u8];
    let close = FiascoIpcCloseChannel {
        channel: 1,
        code: 1000,
        reason: FiascoStr {
            ptr: latin1.as_ptr(),
            len: 1,
        },
    };
    let mut buffer = FiascoBuffer {
        ptr: std::ptr::null(),
        len: 0,
        owner: std::ptr::null_mut(),
        release: None,
    };
    // SAFETY: live values; the reason is checked for UTF-8.
    assert_eq!(
        unsafe { fiasco_ipc_build_close_channel(&close, &mut buffer) },
        STATUS_INVALID
    );
    let dangling = FiascoIpcMessageToRemote {
        channel: 1,
        content: FiascoStr {
            ptr: std::ptr::null(),
            len: 5,
        },
        ..Default::default()
    };
    // SAFETY: a null pointer is checked before use.
    assert_eq!(
        unsafe { fiasco_ipc_build_message_to_remote(&dangling, &mut buffer) },
        STATUS_INVALID
    );
    assert!(buffer.release.is_none(), "nothing was built");
}

#[test]
fn connect_events_round_trip() {
    let request = FiascoIpcConnectRequest {
        user_id: 1,
        connect_id: 2,
        url: s("wss://collector.example/ingest"),
        token: s("t0k"),
        ca_file: s("ca.pem"),
        no_reconnect: 1,
        initial_backoff_ms: 50,
        max_backoff_ms: 800,
        max_message_size: 3,
        max_frame_size: 4,
        handshake_timeout_ms: 5,
        idle_timeout_ms: 6,
        max_outbound_messages: 7,
        max_outbound_bytes: 8,
        max_inbound_messages: 9,
        max_inbound_bytes: 10,
        write_timeout_ms: 11,
        message_timeout_ms: 12,
    };
    let bytes = built(fiasco_ipc_build_connect_request, &request);
    let rust = root::<ipc::ConnectRequest>(&bytes).expect("valid");
    assert_eq!(rust.url(), Some("wss://collector.example/ingest"));
    assert!(rust.no_reconnect());
    let back = read(fiasco_ipc_read_connect_request, &bytes).expect("reads back");
    assert_eq!(
        (back.user_id, back.connect_id, back.no_reconnect),
        (1, 2, 1)
    );
    assert_eq!(text(back.token).as_deref(), Some("t0k"));
    assert_eq!(text(back.ca_file).as_deref(), Some("ca.pem"));
    assert_eq!((back.initial_backoff_ms, back.max_backoff_ms), (50, 800));
    assert_eq!(
        (
            back.max_message_size,
            back.max_frame_size,
            back.handshake_timeout_ms
        ),
        (3, 4, 5)
    );
    assert_eq!(
        (
            back.idle_timeout_ms,
            back.max_outbound_messages,
            back.max_outbound_bytes
        ),
        (6, 7, 8)
    );
    assert_eq!((back.max_inbound_messages, back.max_inbound_bytes), (9, 10));
    assert_eq!((back.write_timeout_ms, back.message_timeout_ms), (11, 12));

    let status = FiascoIpcConnectStatus {
        user_id: 1,
        connect_id: 2,
        state: 2,
        attempt: 3,
        channel: 0,
        failure: 6,
        http_status: 401,
        retry_in_ms: 250,
        message: s("the server answered the handshake with HTTP 401"),
    };
    let bytes = built(fiasco_ipc_build_connect_status, &status);
    assert_eq!(
        root::<ipc::ConnectStatus>(&bytes).expect("valid").failure(),
        ipc::ConnectFailure::HttpStatus
    );
    let back = read(fiasco_ipc_read_connect_status, &bytes).expect("reads back");
    assert_eq!(
        (
            back.state,
            back.attempt,
            back.failure,
            back.http_status,
            back.retry_in_ms
        ),
        (2, 3, 6, 401, 250)
    );
    assert_eq!(
        text(back.message).as_deref(),
        Some("the server answered the handshake with HTTP 401")
    );

    let disconnect = FiascoIpcDisconnectRequest {
        user_id: 1,
        connect_id: 2,
    };
    let bytes = built(fiasco_ipc_build_disconnect_request, &disconnect);
    let back = read(fiasco_ipc_read_disconnect_request, &bytes).expect("reads back");
    assert_eq!((back.user_id, back.connect_id), (1, 2));
}
