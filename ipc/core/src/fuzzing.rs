//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the
//! real connection code fed arbitrary bytes over in-memory streams, on a
//! paused clock so every timeout passes at once. Not part of the API.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::Harness;
use crate::options::Limits;

fn run(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build();
    if let Ok(runtime) = runtime {
        runtime.block_on(test);
    }
}

/// Writes `data` from the client side and reads whatever comes back, at
/// the same time, until the host is done with the connection.
async fn exchange(client: tokio::io::DuplexStream, data: &[u8]) {
    let (mut reader, mut writer) = tokio::io::split(client);
    let write = async {
        let _ = writer.write_all(data).await;
        let _ = writer.shutdown().await;
    };
    let read = async {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink).await;
    };
    tokio::join!(write, read);
}

/// `data` as the bytes of a connection before it is a WebSocket: the HTTP
/// request (hyper), the Host, Origin and token checks, static files (none
/// here) and the upgrade, then whatever follows as frames.
pub fn http_request(data: &[u8]) {
    run(async {
        let harness = Harness::new(Limits::default());
        let (server, client) = tokio::io::duplex(64 * 1024);
        let task = harness.serve_http(server);
        exchange(client, data).await;
        let _ = task.await;
        let _ = harness.events();
    });
}

/// `data` as WebSocket frames from a client on an open channel, while the
/// host also sends it a message.
pub fn websocket_frames(data: &[u8]) {
    run(async {
        let limits = Limits {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            ..Limits::default()
        };
        let harness = Harness::new(limits);
        let (client, task) = harness.connect(64 * 1024);
        let (channel, shared) = harness.opened().await;
        harness.send(channel, &shared, data.iter().rev().copied().collect());
        exchange(client, data).await;
        let _ = task.await;
        let _ = harness.events();
    });
}

/// `data` as the peer's bytes, fed to the channel's state machine itself
/// (no runtime): the first byte picks the role and how the bytes are cut
/// into reads and how much the socket takes per step; the clock moves a
/// second a step. The machine must end (the peer's bytes stop, then time
/// passes), report its end exactly once, and leave every byte it counted
/// released.
pub fn channel_state(data: &[u8]) {
    use std::sync::Arc;

    use tungstenite::protocol::Role;

    use crate::bridge::{ChannelShared, HostShared, OutboundMessage};
    use crate::channel::{ChannelState, Outbound};
    use crate::harness::Socket;
    use crate::meter::Meter;
    use crate::options::HostOptions;
    use crate::types::MessageKind;

    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let role = if control & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let chunk = 1 + usize::from(control >> 1) * 7;
    let limits = Limits {
        max_message_size: 1 << 20,
        max_frame_size: 1 << 20,
        ..Limits::default()
    };
    let host = Arc::new(HostShared::new(&HostOptions::default()));
    let shared = Arc::new(ChannelShared::new(limits));
    let meter = Meter::new(Arc::clone(&shared), Arc::clone(&host));
    let start = tokio::time::Instant::now();
    let mut state = ChannelState::new(role, limits, meter, start);
    let mut socket = Socket {
        room: chunk * 3,
        ..Socket::default()
    };
    let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
    let (message, _) =
        OutboundMessage::charge(MessageKind::Binary, reversed.into(), &shared, &host);
    state.handle_outbound(start, Outbound::Message(message, crate::Priority::Normal));
    let mut closed = 0;
    let mut fed = 0;
    for step in 0..(bytes.len() / chunk + 200) {
        let now = start + std::time::Duration::from_secs(step as u64);
        let end = bytes.len().min(fed + chunk);
        socket.incoming.extend(&bytes[fed..end]);
        fed = end;
        socket.eof = fed == bytes.len() && step % 2 == 1;
        // The peer takes what the machine wrote.
        socket.outgoing.clear();
        if state.poll_timeout().is_some_and(|due| due <= now) {
            state.handle_timeout(now);
        }
        if state.wants_write() {
            state.handle_write(now, &mut socket);
        }
        let mut delivered = Vec::new();
        state.handle_read(
            now,
            &mut socket,
            &mut |_, data| (data.len(), data.len()),
            &mut |charge| delivered.push(charge),
        );
        // The game takes every message at once.
        for charge in delivered {
            host.taken(&shared, charge);
        }
        if state.poll_closed().is_some() {
            closed += 1;
        }
        if state.is_done() {
            break;
        }
    }
    assert!(state.is_done(), "the channel never ended");
    assert!(
        closed == 1 && state.poll_closed().is_none(),
        "one ChannelClosed"
    );
    drop(state);
    assert_eq!(host.outbound.used(), 0, "outbound bytes released");
    assert_eq!(host.inbound.used(), 0, "inbound bytes released");
}

/// `data` as a request path for the static files: the lexical check never
/// yields a path outside the root, with a `..` or a dot segment, and the
/// whole lookup (the file system's canonical paths) never leaves the root.
pub fn static_path(data: &[u8]) {
    let Ok(request_path) = std::str::from_utf8(data) else {
        return;
    };
    let root = std::path::Path::new("/nonexistent-fuzz-root");
    if let Some(path) = crate::static_files::lexical(root, request_path) {
        assert!(path.starts_with(root), "{path:?} left the root");
        for component in path
            .strip_prefix(root)
            .into_iter()
            .flat_map(|rest| rest.components())
        {
            let std::path::Component::Normal(name) = component else {
                panic!("{path:?}: {component:?} in a served path");
            };
            assert!(
                !name.to_string_lossy().starts_with('.'),
                "{path:?}: a dot segment is served"
            );
        }
    }
}

/// `data` as a request's target and `Authorization` header (split at the
/// first newline): the token check takes exactly one token, and a path it
/// accepts carries no `token` parameter any more.
pub fn token_request(data: &[u8]) {
    let (target, authorization) = match data.iter().position(|byte| *byte == b'\n') {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let mut builder = hyper::Request::builder().uri(target);
    if let Some(value) =
        authorization.and_then(|value| hyper::header::HeaderValue::from_bytes(value).ok())
    {
        builder = builder.header(hyper::header::AUTHORIZATION, value);
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let options = crate::ListenOptions {
        token: Some("fuzz-token".to_owned()),
        ..crate::ListenOptions::default()
    };
    let grants = crate::security::Grant::all(&options).unwrap_or_default();
    if let Ok((path, _)) = crate::security::check_token(&request, &grants) {
        let query = path.split_once('?').map_or("", |(_, query)| query);
        assert!(
            !query
                .split('&')
                .any(|pair| pair == "token" || pair.starts_with("token=")),
            "{path}: the token is still in the path"
        );
    }
}
