//! A listener configured from the command line, as `scripts/echo-game PORT
//! --token T` and `--set ipc.*` give it: the echo agent's token, and the
//! module's defaults for the limits before the handshake.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use fiasco::Config;
use support::EchoGame;
use tungstenite::Message;

#[test]
fn the_echo_agent_requires_its_token_and_the_ipc_defaults_apply() {
    let mut config = Config::default();
    config.set("echo_agent", "token", "t0ken-for-tests");
    config.set("ipc", "max_request_head", "8192");
    let (game, port) = EchoGame::listening(config);
    match tungstenite::connect(format!("ws://127.0.0.1:{port}/")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    let (mut client, _) =
        tungstenite::connect(format!("ws://127.0.0.1:{port}/?token=t0ken-for-tests")).unwrap();
    client.send(Message::text("hi")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("hi"));
    // ipc.max_request_head=8192: a 10 KB head is refused by the parser.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(10_000)
    );
    let _ = stream.write_all(head.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    game.stop();
}
