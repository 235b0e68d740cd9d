//! The connection before its upgrade, on the paused clock over in-memory
//! streams: the HTTP lifetime, answers' write timeout, late answers to wrong
//! tokens, unfinished connections dropped for newer ones.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

use crate::harness::Harness;
use crate::options::ListenOptions;

const SECOND: Duration = Duration::from_secs(1);

/// A web root with `index.html` and a `size`-byte `big.bin`.
fn web_root(name: &str, size: usize) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("fiasco-http-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&root).ok();
    std::fs::write(root.join("index.html"), "<h1>game</h1>").ok();
    std::fs::write(root.join("big.bin"), vec![7u8; size]).ok();
    root
}

fn with_root(root: std::path::PathBuf) -> Harness {
    Harness::with_options(ListenOptions {
        web_root: Some(root),
        ..ListenOptions::default()
    })
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n";

/// Reads until the server closes; returns what came and when it closed.
async fn read_until_closed(client: &mut DuplexStream) -> (Vec<u8>, Instant) {
    let mut all = Vec::new();
    let _ = client.read_to_end(&mut all).await;
    (all, Instant::now())
}

#[tokio::test(start_paused = true)]
async fn a_keep_alive_connection_ends_at_its_lifetime_whatever_it_sends() {
    let root = web_root("lifetime", 10);
    let harness = with_root(root.clone());
    let (server, client) = tokio::io::duplex(64 * 1024);
    let start = Instant::now();
    let task = harness.serve_http(server);
    let (mut reader, mut writer) = tokio::io::split(client);
    let sender = tokio::spawn(async move {
        // One GET every 4 s, for ever (the old behaviour served it for ever).
        let mut sent = 0;
        while writer.write_all(GET).await.is_ok() {
            sent += 1;
            tokio::time::sleep(4 * SECOND).await;
        }
        sent
    });
    let mut all = Vec::new();
    let read = tokio::time::timeout(120 * SECOND, reader.read_to_end(&mut all)).await;
    assert!(read.is_ok(), "still open after 120 s");
    let closed = start.elapsed();
    let _ = task.await;
    sender.abort();
    let answers = String::from_utf8_lossy(&all)
        .matches("HTTP/1.1 200")
        .count();
    assert!(
        closed >= 28 * SECOND && closed <= 31 * SECOND,
        "closed after {closed:?}"
    );
    assert_eq!(answers, 8, "GETs at 0, 4, ... 28 s were answered");
    std::fs::remove_dir_all(root).ok();
}

#[tokio::test(start_paused = true)]
async fn pipelined_answers_that_are_never_read_are_dropped_at_the_write_timeout() {
    let root = web_root("pipelined", 256 * 1024);
    let harness = with_root(root.clone());
    let (server, mut client) = tokio::io::duplex(64 * 1024);
    let start = Instant::now();
    let task = harness.serve_http(server);
    let request = b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n".repeat(2000);
    // Write the requests (as far as the server reads them), read nothing.
    let _ = tokio::time::timeout(SECOND, client.write_all(&request)).await;
    assert!(
        tokio::time::timeout(120 * SECOND, task).await.is_ok(),
        "still open after 120 s"
    );
    let ended = start.elapsed();
    let write_timeout = harness.ctx.options.limits.write_timeout;
    assert!(
        ended >= write_timeout && ended <= write_timeout + 2 * SECOND,
        "dropped after {ended:?}"
    );
    std::fs::remove_dir_all(root).ok();
}

#[tokio::test(start_paused = true)]
async fn a_large_file_goes_to_a_slow_reader_at_the_minimum_rate() {
    let size = 1 << 20;
    let root = web_root("slow-reader", size);
    let harness = with_root(root.clone());
    let (server, mut client) = tokio::io::duplex(16 * 1024);
    let task = harness.serve_http(server);
    let _ = client
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n")
        .await;
    // 64 KiB every 9 s (the write timeout is 10 s): slow, but above the rate.
    let mut all = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        tokio::time::sleep(9 * SECOND).await;
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                all.extend_from_slice(&chunk[..n]);
                // Read what the buffer holds, up to 64 KiB.
                let mut got = n;
                while got < chunk.len() {
                    match tokio::time::timeout(
                        Duration::from_millis(1),
                        client.read(&mut chunk[got..]),
                    )
                    .await
                    {
                        Ok(Ok(n)) if n > 0 => {
                            all.extend_from_slice(&chunk[got..got + n]);
                            got += n;
                        }
                        _ => break,
                    }
                }
            }
        }
    }
    let _ = task.await;
    let body_at = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |at| at + 4);
    assert_eq!(all.len() - body_at, size, "the whole file, however slowly");
    std::fs::remove_dir_all(root).ok();
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_dropped_when_a_newer_one_needs_its_place() {
    let mut options = ListenOptions::default();
    options.limits.max_pending_handshakes = 2;
    let harness = Harness::with_options(options);
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (server, client) = tokio::io::duplex(4096);
        tasks.push(harness.serve_http(server));
        clients.push(client);
    }
    tokio::task::yield_now().await;
    // The second one speaks (half a request): the first, silent, makes room.
    let _ = clients[1].write_all(b"GET / HT").await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let start = Instant::now();
    let (server, _third) = tokio::io::duplex(4096);
    let _third_task = harness.serve_http(server);
    let (_, closed_at) = read_until_closed(&mut clients[0]).await;
    assert_eq!(
        closed_at, start,
        "dropped at once, not at the handshake timeout"
    );
    assert!(tasks[0].is_finished() || tokio::time::timeout(SECOND, &mut tasks[0]).await.is_ok());
    assert!(!tasks[1].is_finished(), "the one that spoke stays");
}

async fn handshake(harness: &Harness, token: &str) -> (String, Duration) {
    let (server, mut client) = tokio::io::duplex(64 * 1024);
    let task = harness.serve_http(server);
    let request = format!(
        "GET /?token={token} HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let start = Instant::now();
    let _ = client.write_all(request.as_bytes()).await;
    let mut head = vec![0; 1024];
    let n = client.read(&mut head).await.unwrap_or(0);
    let after = start.elapsed();
    drop(client);
    let _ = task.await;
    (String::from_utf8_lossy(&head[..n]).into_owned(), after)
}

#[tokio::test(start_paused = true)]
async fn wrong_tokens_are_answered_later_and_later_the_right_one_at_once() {
    let options = ListenOptions {
        token: Some("s3cret".to_owned()),
        ..ListenOptions::default()
    };
    let harness = Harness::with_options(options);
    let mut delays = Vec::new();
    for _ in 0..8 {
        let (answer, after) = handshake(&harness, "guess").await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        delays.push(after);
    }
    assert!(
        delays.windows(2).all(|pair| pair[0] <= pair[1]),
        "{delays:?}"
    );
    assert!(delays[0] < Duration::from_millis(100), "{delays:?}");
    assert_eq!(delays[7], SECOND, "{delays:?}");
    let (answer, after) = handshake(&harness, "s3cret").await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert_eq!(after, Duration::ZERO, "the right token is never delayed");
}

#[tokio::test(start_paused = true)]
async fn beyond_a_few_waiting_answers_a_wrong_token_is_closed_at_once() {
    let options = ListenOptions {
        token: Some("s3cret".to_owned()),
        ..ListenOptions::default()
    };
    let harness = std::sync::Arc::new(Harness::with_options(options));
    let waiting: Vec<_> = (0..crate::throttle::MAX_WAITING)
        .map(|_| {
            let harness = std::sync::Arc::clone(&harness);
            tokio::spawn(async move { handshake(&harness, "guess").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let (answer, after) = handshake(&harness, "guess").await;
    assert_eq!(answer, "", "closed without an answer");
    assert_eq!(after, Duration::ZERO);
    // While they wait, the right token opens at once.
    let (answer, after) = handshake(&harness, "s3cret").await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert_eq!(after, Duration::ZERO);
    for task in waiting {
        let (answer, _) = task.await.unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
}
