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
        let mut limits = Limits::default();
        limits.max_message_size = 1 << 20;
        limits.max_frame_size = 1 << 20;
        let harness = Harness::new(limits);
        let (client, task) = harness.connect(64 * 1024);
        let (channel, shared) = harness.opened().await;
        harness.send(channel, &shared, data.iter().rev().copied().collect());
        exchange(client, data).await;
        let _ = task.await;
        let _ = harness.events();
    });
}
