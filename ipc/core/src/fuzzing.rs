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
    let expected = crate::security::token_digest(b"fuzz-token");
    if let Ok(path) = crate::security::check_token(&request, &expected) {
        let query = path.split_once('?').map_or("", |(_, query)| query);
        assert!(
            !query
                .split('&')
                .any(|pair| pair == "token" || pair.starts_with("token=")),
            "{path}: the token is still in the path"
        );
    }
}
