//! Every limit, hit: the close code or HTTP status, and what the game sees.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{connect, read_close, Game, Mode};
use fiasco_ipc_core::{ClosedBy, Event, ListenOptions, MessageKind};
use tungstenite::Message;

fn closed(game: &Game) -> (ClosedBy, u16, String) {
    let channel = game.opened(0);
    match game.closed(channel) {
        Event::ChannelClosed {
            closed_by,
            code,
            reason,
            ..
        } => (closed_by, code, reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_oversized_message_closes_with_1009() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.limits.max_message_size = 1024;
    let address = game.listen(1, 0, options);
    let mut client = connect(address, "/");
    client.send(Message::binary(vec![7u8; 1000])).unwrap();
    assert_eq!(
        client.read().unwrap().len(),
        1000,
        "under the limit: echoed"
    );
    client.send(Message::binary(vec![7u8; 4096])).unwrap();
    assert_eq!(read_close(&mut client).0, 1009);
    let (by, code, _) = closed(&game);
    assert_eq!((by, code), (ClosedBy::HostLimit, 1009));
}

#[test]
fn an_oversized_frame_closes_with_1009() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.limits.max_frame_size = 512;
    let address = game.listen(1, 0, options);
    let mut client = connect(address, "/");
    client.send(Message::binary(vec![1u8; 2048])).unwrap();
    assert_eq!(read_close(&mut client).0, 1009);
    assert_eq!(closed(&game).1, 1009);
}

#[test]
fn a_client_that_never_reads_is_closed_with_1008() {
    let game = Game::start(Mode::Record);
    let mut options = ListenOptions::default();
    options.limits.max_outbound_bytes = 1 << 20;
    let address = game.listen(1, 0, options);
    let client = connect(address, "/"); // never reads
    let channel = game.opened(0);
    // 64 MiB offered, 1 MiB allowed in flight beyond what the socket takes.
    for _ in 0..64 {
        game.request(move |host| {
            for _ in 0..16 {
                host.send(channel, MessageKind::Binary, vec![0u8; 64 * 1024]);
            }
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    match game.closed(channel) {
        Event::ChannelClosed {
            closed_by,
            code,
            reason,
            ..
        } => {
            assert_eq!((closed_by, code), (ClosedBy::HostLimit, 1008), "{reason}");
            assert!(reason.contains("reads too slowly"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    drop(client);
}

#[test]
fn connections_beyond_the_limit_get_503() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.limits.max_connections = 2;
    let address = game.listen(1, 0, options);
    let _a = connect(address, "/");
    let _b = connect(address, "/");
    game.opened(1);
    match tungstenite::connect(format!("ws://{address}/")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    let events = game.finish();
    assert_eq!(
        common::count_in(&events, common::is_opened),
        2,
        "no event for the refused client"
    );
}

#[test]
fn a_slow_handshake_is_dropped_after_the_handshake_timeout() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.limits.handshake_timeout = Duration::from_millis(300);
    let address = game.listen(1, 0, options);
    let mut slow = TcpStream::connect(address).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap(); // never finishes
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 512];
    let read = slow.read(&mut buffer).unwrap_or(0);
    let text = String::from_utf8_lossy(&buffer[..read]);
    assert!(
        read == 0 || text.starts_with("HTTP/1.1 408"),
        "got {text:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "dropped by the timeout, not by the client"
    );
    assert!(game.channels().is_empty());
}

#[test]
fn an_idle_client_is_pinged_then_closed_when_silent() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.limits.idle_timeout = Duration::from_millis(200);
    let address = game.listen(1, 0, options);
    // A raw client that completes the handshake and then never answers.
    let mut raw = TcpStream::connect(address).unwrap();
    raw.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let (by, code, reason) = closed(&game);
    assert_eq!((by, code), (ClosedBy::HostLimit, 1001), "{reason}");
    assert!(reason.contains("idle"), "{reason}");
    // A client that answers pings stays open past the idle timeout.
    let mut live = connect(address, "/");
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = live.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    let until = Instant::now() + Duration::from_millis(700);
    while Instant::now() < until {
        let _ = live.read(); // answers pings (tungstenite replies with pongs)
        let _ = live.flush();
    }
    live.send(Message::text("still open")).unwrap();
    loop {
        match live.read() {
            Ok(Message::Text(text)) => {
                assert_eq!(text.as_str(), "still open");
                break;
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Io(_)) => continue,
            Err(error) => panic!("{error}"),
        }
    }
}
