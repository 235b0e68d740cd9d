//! Connections that never finish a request cannot take the places of
//! clients that do: unfinished connections have slots of their own, and
//! the oldest is dropped for a newer one.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connect_with, Game, Mode};
use fiasco_ipc_core::ListenOptions;

/// Holds `count` silent sockets open on `address`, opening a new one for
/// each the host drops, until `stop`.
fn hold_silent_sockets(
    address: SocketAddr,
    count: usize,
    stop: Arc<AtomicBool>,
    reopened: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let open = || {
            let stream = TcpStream::connect(address).ok()?;
            stream.set_nonblocking(true).ok()?;
            Some(stream)
        };
        let mut sockets: Vec<Option<TcpStream>> = (0..count).map(|_| open()).collect();
        let mut byte = [0u8; 1];
        while !stop.load(Ordering::Relaxed) {
            for socket in &mut sockets {
                let dropped = match socket {
                    Some(stream) => match stream.read(&mut byte) {
                        Ok(_) => true,
                        Err(error) => error.kind() != ErrorKind::WouldBlock,
                    },
                    None => true,
                };
                if dropped {
                    *socket = open();
                    reopened.fetch_add(1, Ordering::Relaxed);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

#[test]
fn silent_sockets_cannot_keep_out_a_client_with_the_token() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.token = Some("s3cret-token".to_owned());
    let address = game.listen(1, 0, options);
    let stop = Arc::new(AtomicBool::new(false));
    let reopened = Arc::new(AtomicUsize::new(0));
    let attacker = hold_silent_sockets(address, 1024, Arc::clone(&stop), Arc::clone(&reopened));
    // Until the attacker has filled the slots and is churning.
    let deadline = std::time::Instant::now() + 3 * common::WAIT;
    while reopened.load(Ordering::Relaxed) < 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the host dropped only {} silent sockets",
            reopened.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut opened = 0;
    for _ in 0..10 {
        if let Ok(mut client) = connect_with(address, "/?token=s3cret-token", &[]) {
            client.send(tungstenite::Message::text("in")).unwrap();
            assert_eq!(client.read().unwrap(), tungstenite::Message::text("in"));
            opened += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    attacker.join().unwrap();
    assert!(opened >= 9, "{opened} of 10 got in");
}

#[test]
fn unfinished_request_heads_are_held_only_up_to_the_cap() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.limits.max_pending_handshakes = 64;
    let address = game.listen(1, 0, options);
    // 400 connections, each with 20 KB of an unfinished head.
    let head = format!(
        "GET / HTTP/1.1\r\nHost: {address}\r\nX-Pad: {}",
        "p".repeat(20_000)
    );
    let mut sockets = Vec::new();
    for _ in 0..400 {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        sockets.push(stream);
        // Let the host read it before the next comes (a real attacker's
        // heads arrive over time too); it then counts as having spoken.
        std::thread::sleep(Duration::from_millis(1));
    }
    // A finished handshake after all of them: every one before it was
    // accepted by then.
    let _client = connect_with(address, "/", &[]).unwrap();
    game.opened(0);
    // The oldest 400 - 64 were dropped: each reads the end at once.
    let mut dropped = 0;
    for stream in &mut sockets[..400 - 64 - 1] {
        stream.set_read_timeout(Some(common::WAIT)).unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => dropped += 1,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => dropped += 1,
            other => panic!("an old unfinished connection is still held: {other:?}"),
        }
    }
    assert_eq!(dropped, 400 - 64 - 1);
}
