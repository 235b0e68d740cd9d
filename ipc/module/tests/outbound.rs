//! The whole outbound path in a game: the echo agent's ConnectRequest
//! (`echo_agent.connect`, as `scripts/echo-game --connect` sets it) goes
//! through the IPC module to a real WebSocket server (tungstenite), which
//! gets the bearer token and every message back with its kind; the server's
//! close reaches the game and the link is dialed again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::result_large_err,
    missing_docs
)]

mod support;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use fiasco::Config;
use support::EchoGame;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

#[test]
fn the_echo_agent_dials_out_and_echoes_with_kinds() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = server.local_addr().unwrap();
    let (tokens, token_seen) = mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        let mut echoes = Vec::new();
        // Two connections: the second proves the game dials again after a close.
        for round in 0..2 {
            let (stream, _) = server.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let tokens = tokens.clone();
            let mut socket =
                tungstenite::accept_hdr(stream, move |request: &Request, response: Response| {
                    let header = request
                        .headers()
                        .get("authorization")
                        .map(|value| value.to_str().unwrap().to_owned());
                    tokens.send(header).unwrap();
                    Ok(response)
                })
                .unwrap();
            socket.send(Message::text(format!("text {round}"))).unwrap();
            socket.send(Message::binary(vec![round, 0xff])).unwrap();
            for _ in 0..2 {
                echoes.push(socket.read().unwrap());
            }
            socket
                .close(Some(CloseFrame {
                    code: CloseCode::from(4000),
                    reason: "again".into(),
                }))
                .unwrap();
            while socket.read().is_ok() {}
        }
        echoes
    });
    let mut config = Config::default();
    config.set("echo_agent", "port", "0");
    config.set("echo_agent", "connect", format!("ws://{address}/telemetry"));
    config.set("echo_agent", "connect_token", "t0ken");
    let game = EchoGame::start(config);
    let echoes = server_thread.join().unwrap();
    game.stop();
    assert_eq!(
        echoes,
        [
            Message::text("text 0"),
            Message::binary(vec![0, 0xff]),
            Message::text("text 1"),
            Message::binary(vec![1, 0xff]),
        ]
    );
    for _ in 0..2 {
        assert_eq!(token_seen.recv().unwrap().as_deref(), Some("Bearer t0ken"));
    }
}
