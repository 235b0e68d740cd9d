//! 1,000 connections opened and closed; garbage from peers never hurts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{connect, Game, Mode};
use fiasco_ipc_core::{Event, ListenOptions};
use tungstenite::Message;

#[test]
fn a_thousand_connections_open_and_close() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let mut clients = Vec::new();
    for i in 0..1000u32 {
        let mut client = connect(address, "/");
        client
            .send(Message::binary(i.to_le_bytes().to_vec()))
            .unwrap();
        clients.push(client);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(
            client.read().unwrap().into_data().as_ref(),
            (i as u32).to_le_bytes()
        );
    }
    for mut client in clients {
        client.close(None).unwrap();
        while client.read().is_ok() {}
    }
    let deadline = std::time::Instant::now() + common::WAIT;
    while game.count(|event| {
        matches!(
            event,
            Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { .. })
        )
    }) < 1000
    {
        assert!(
            std::time::Instant::now() < deadline,
            "not every channel was reported closed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(game.channels().len(), 1000);
    assert_eq!(
        game.count(|event| matches!(
            event,
            Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { .. })
        )),
        1000
    );
}

#[test]
fn garbage_and_bad_handshakes_get_an_error_and_nothing_else() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let host = format!("Host: {address}\r\n");
    let attempts: Vec<Vec<u8>> = vec![
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage".to_vec(),
        b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
        format!("GET / HTTP/1.1\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n").into_bytes(),
        format!("POST / HTTP/1.1\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n").into_bytes(),
        format!("GET / HTTP/1.1\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 8\r\n\r\n").into_bytes(),
        vec![0u8; 70_000],
    ];
    for attempt in attempts {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(&attempt);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        assert!(
            !text.starts_with("HTTP/1.1 101"),
            "a bad handshake was accepted: {text}"
        );
    }
    // Bad frames after a good handshake: unmasked client frame -> 1002.
    let mut client = connect(address, "/");
    client.send(Message::text("fine")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("fine"));
    let stream = client.get_mut();
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = stream {
        stream.write_all(&[0x81, 0x02, b'h', b'i']).unwrap(); // unmasked
    }
    let (code, _) = common::read_close(&mut client);
    assert_eq!(code, 1002);
    // The host is still fine.
    let mut again = connect(address, "/");
    again.send(Message::text("ok")).unwrap();
    assert_eq!(again.read().unwrap(), Message::text("ok"));
    let events = game.finish();
    assert_eq!(
        common::count_in(&events, common::is_opened),
        2,
        "only the good handshakes opened a channel"
    );
}
