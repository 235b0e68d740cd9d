//! Connection timeouts on the paused clock over in-memory streams: exact,
//! and instant to run.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::channel::{classify, wire_code, Outbound};
use crate::harness::Harness;
use crate::options::Limits;
use crate::types::ClosedBy;

const SECOND: Duration = Duration::from_secs(1);

fn within(after: Duration, from: Duration, to: Duration) -> bool {
    after >= from && after < to
}

#[tokio::test(start_paused = true)]
async fn an_idle_client_is_pinged_then_closed_with_1001() {
    let harness = Harness::new(Limits::default());
    let (client, task) = harness.connect(64 * 1024);
    // The client is never polled: it answers nothing.
    let ended = harness.ended(task).await;
    assert_eq!(
        (ended.closed_by, ended.code),
        (ClosedBy::HostLimit, 1001),
        "{ended:?}"
    );
    assert!(ended.reason.contains("idle"), "{ended:?}");
    // 30 s of silence, a ping, 30 s more; then the close handshake's 1 s.
    assert!(within(ended.after, 60 * SECOND, 62 * SECOND), "{ended:?}");
    drop(client);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_answers_pings_stays_open() {
    let harness = Harness::new(Limits::default());
    let (client, task) = harness.connect(64 * 1024);
    let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    // Reading answers the host's pings; five idle periods pass.
    let reading = tokio::time::timeout(150 * SECOND, async {
        while let Some(Ok(_)) = client.next().await {}
    })
    .await;
    assert!(reading.is_err(), "the channel stayed open for 150 s");
    assert!(!task.is_finished());
    client.close(None).await.ok();
    while let Some(Ok(_)) = client.next().await {}
    let ended = harness.ended(task).await;
    assert_eq!(
        (ended.closed_by, ended.code),
        (ClosedBy::Remote, 1005),
        "{ended:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_closed_with_1008_after_the_write_timeout() {
    let harness = Harness::new(Limits::default());
    let (client, task) = harness.connect(64 * 1024);
    let (channel, shared) = harness.opened().await;
    for _ in 0..4 {
        harness.send(channel, &shared, vec![0; 1 << 20]);
    }
    let ended = harness.ended(task).await;
    assert_eq!(
        (ended.closed_by, ended.code),
        (ClosedBy::HostLimit, 1008),
        "{ended:?}"
    );
    assert!(ended.reason.contains("no write progress"), "{ended:?}");
    // 10 s without progress, then at most 2 s of close handshake.
    assert!(within(ended.after, 10 * SECOND, 13 * SECOND), "{ended:?}");
    assert_eq!(
        harness.ctx.hub.host.outbound.used(),
        0,
        "queued bytes released"
    );
    drop(client);
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_reading_client_is_never_closed() {
    let harness = Harness::new(Limits::default());
    let (client, task) = harness.connect(16 * 1024);
    let (channel, shared) = harness.opened().await;
    let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    for _ in 0..8 {
        harness.send(channel, &shared, vec![1; 1 << 20]);
    }
    // The client reads a message every 5 s (half the write timeout): 40 s
    // for the lot, and the host waits for it.
    for _ in 0..8 {
        let mut received = 0;
        while received < 1 << 20 {
            match client.next().await {
                Some(Ok(Message::Binary(data))) => received += data.len(),
                Some(Ok(_)) => {}
                other => panic!("closed: {other:?}"),
            }
        }
        tokio::time::sleep(5 * SECOND).await;
    }
    assert!(!task.is_finished(), "still open after 40 s");
    client.close(None).await.ok();
    while let Some(Ok(_)) = client.next().await {}
    let ended = harness.ended(task).await;
    assert_eq!(ended.closed_by, ClosedBy::Remote, "{ended:?}");
}

#[tokio::test(start_paused = true)]
async fn a_message_that_never_ends_is_closed_with_1008_at_the_message_timeout() {
    let harness = Harness::new(Limits::default());
    let (mut client, task) = harness.connect(64 * 1024);
    // A masked binary frame announcing 1 MiB, of which 1 KiB comes.
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(1u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&[0; 1024]);
    client.write_all(&frame).await.ok();
    let ended = harness.ended(task).await;
    assert_eq!(
        (ended.closed_by, ended.code),
        (ClosedBy::HostLimit, 1008),
        "{ended:?}"
    );
    assert!(ended.reason.contains("not finished"), "{ended:?}");
    assert!(within(ended.after, 30 * SECOND, 33 * SECOND), "{ended:?}");
    assert_eq!(
        harness.ctx.hub.host.inbound.used(),
        0,
        "partial bytes released"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_with_1001_by_its_deadline() {
    let harness = Harness::new(Limits::default());
    let (client, task) = harness.connect(64 * 1024);
    let _ = harness.opened().await;
    let deadline = tokio::time::Instant::now() + 2 * SECOND;
    let _ = harness.shutdown.send(Some(deadline));
    // The client never answers the close.
    let ended = harness.ended(task).await;
    assert_eq!(
        (ended.closed_by, ended.code),
        (ClosedBy::HostShutdown, 1001),
        "{ended:?}"
    );
    assert!(
        within(
            ended.after,
            2 * SECOND,
            2 * SECOND + Duration::from_millis(10)
        ),
        "{ended:?}"
    );
    drop(client);
}

#[tokio::test(start_paused = true)]
async fn an_agent_close_is_answered_at_once_or_given_up_after_a_second() {
    for answers in [true, false] {
        let harness = Harness::new(Limits::default());
        let (client, task) = harness.connect(64 * 1024);
        let (channel, _) = harness.opened().await;
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        harness.route(channel, Outbound::Close(4000, "bye".to_owned()));
        if answers {
            match client.next().await {
                Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4000),
                other => panic!("{other:?}"),
            }
            while let Some(Ok(_)) = client.next().await {}
        }
        let ended = harness.ended(task).await;
        assert_eq!(
            (ended.closed_by, ended.code),
            (ClosedBy::Agent, 4000),
            "{ended:?}"
        );
        if answers {
            assert!(ended.after < Duration::from_millis(10), "{ended:?}");
        } else {
            assert!(within(ended.after, SECOND, 2 * SECOND), "{ended:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_handshake_is_dropped_at_the_handshake_timeout() {
    let harness = Harness::new(Limits::default());
    let (server, mut client) = tokio::io::duplex(4096);
    let task = harness.serve_http(server);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .ok();
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer).await;
    let after = harness.started.elapsed();
    let _ = task.await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    assert!(within(after, 5 * SECOND, 6 * SECOND), "{after:?}");
    assert!(harness.events().is_empty(), "no channel");
}

#[test]
fn close_codes_that_must_not_be_sent_become_normal() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1014, 3000, 4999,
    ] {
        assert_eq!(wire_code(code), code);
    }
    for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
        assert_eq!(wire_code(code), 1000, "{code}");
    }
}

#[test]
fn read_errors_map_to_who_closed_and_the_code() {
    let too_long = WsError::Capacity(CapacityError::MessageTooLong {
        size: 10,
        max_size: 5,
    });
    assert_eq!(
        classify(&too_long).map(|(by, code, _)| (by, code)),
        Some((ClosedBy::HostLimit, 1009))
    );
    assert_eq!(
        classify(&WsError::Utf8(String::new())).map(|(by, code, _)| (by, code)),
        Some((ClosedBy::HostError, 1007))
    );
    let reset = WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
    assert_eq!(
        classify(&reset).map(|(by, code, _)| (by, code)),
        Some((ClosedBy::Remote, 1006))
    );
    let unmasked = WsError::Protocol(ProtocolError::UnmaskedFrameFromClient);
    assert_eq!(
        classify(&unmasked).map(|(by, code, _)| (by, code)),
        Some((ClosedBy::HostError, 1002))
    );
    let lost = WsError::Io(std::io::ErrorKind::BrokenPipe.into());
    assert_eq!(
        classify(&lost).map(|(by, code, _)| (by, code)),
        Some((ClosedBy::Remote, 1006))
    );
    assert!(classify(&WsError::ConnectionClosed).is_none());
}
