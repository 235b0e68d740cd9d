//! Outbound connections against real peers: a third-party server (Python
//! `websockets`), one host dialing another (with a token, over TLS with a
//! test CA), a closed port, servers that answer 401/403/500, close at once
//! or send garbage, a server closing the channel, disconnect, and shutdown
//! while connecting. Every peer is on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Game, Mode};
use fiasco_ipc_core::{
    ClosedBy, ConnectError, ConnectErrorKind, ConnectOptions, ConnectState, Direction, Event,
    ListenOptions, MessageKind, TlsFiles,
};
use tokio_rustls::rustls;

const USER: u64 = 5;

/// The states reported for `connect_id`, in order.
fn states(game: &Game, connect_id: u64) -> Vec<ConnectState> {
    game.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            Event::ConnectStatus(fiasco_ipc_core::ConnectStatus {
                connect_id: id,
                state,
                ..
            }) if *id == connect_id => Some(state.clone()),
            _ => None,
        })
        .collect()
}

/// Waits for a state of `connect_id` matching `predicate`.
fn wait_state(
    game: &Game,
    connect_id: u64,
    what: &str,
    predicate: impl Fn(&ConnectState) -> bool,
) -> ConnectState {
    match game.wait_for(what, |event| {
        matches!(event, Event::ConnectStatus(fiasco_ipc_core::ConnectStatus { connect_id: id, state, .. }) if *id == connect_id && predicate(state))
    }) {
        Event::ConnectStatus(fiasco_ipc_core::ConnectStatus { state, .. }) => state,
        _ => unreachable!(),
    }
}

/// The first failure of `connect_id`: the error and its retry delay.
fn first_error(game: &Game, connect_id: u64) -> (ConnectError, Option<Duration>) {
    match wait_state(game, connect_id, "a failure", |state| {
        matches!(state, ConnectState::Failed { .. })
    }) {
        ConnectState::Failed { error, retry_in } => (error, retry_in),
        _ => unreachable!(),
    }
}

/// The rustls error underneath a TLS failure: the error's source is the
/// I/O error tokio-rustls failed with, which carries rustls' own.
fn rustls_error(error: &ConnectError) -> Option<&rustls::Error> {
    error
        .source
        .as_deref()?
        .downcast_ref::<std::io::Error>()?
        .get_ref()?
        .downcast_ref::<rustls::Error>()
}

/// The first failure of `connect_id`: its kind, message and retry delay.
fn first_failure(game: &Game, connect_id: u64) -> (ConnectErrorKind, String, Option<Duration>) {
    match wait_state(game, connect_id, "a failure", |state| {
        matches!(state, ConnectState::Failed { .. })
    }) {
        ConnectState::Failed { error, retry_in } => (error.kind, error.message, retry_in),
        _ => unreachable!(),
    }
}

/// Waits (up to the harness's wait) until `done` holds. `done` may lock
/// the game's events: this does not.
fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + common::WAIT;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn connect(game: &Game, connect_id: u64, options: ConnectOptions) {
    game.request(move |host| host.connect(USER, connect_id, options));
}

/// The outbound channel of `connect_id`, once connected.
fn connected(game: &Game, connect_id: u64, nth: usize) -> fiasco_ipc_core::ChannelId {
    let channels = || -> Vec<_> {
        states(game, connect_id)
            .into_iter()
            .filter_map(|state| match state {
                ConnectState::Connected { channel } => Some(channel),
                _ => None,
            })
            .collect()
    };
    until("connected", || channels().len() > nth);
    channels()[nth]
}

#[test]
fn a_third_party_server_echoes_what_the_game_sends() {
    let mut server = PythonServer::start();
    let game = Game::start(Mode::Record);
    connect(
        &game,
        1,
        ConnectOptions::new(format!("ws://127.0.0.1:{}/echo", server.port)),
    );
    let channel = connected(&game, 1, 0);
    let opened = game.wait_for(
        "opened",
        |event| matches!(event, Event::ConnectionOpened(fiasco_ipc_core::ConnectionOpened { channel: c, .. }) if *c == channel),
    );
    let Event::ConnectionOpened(fiasco_ipc_core::ConnectionOpened {
        direction,
        path,
        user_id,
        ..
    }) = opened
    else {
        unreachable!()
    };
    assert_eq!(
        (direction, path.as_str(), user_id),
        (Direction::Outbound { connect_id: 1 }, "/echo", USER)
    );
    game.send(channel, MessageKind::Text, b"hello");
    game.send(channel, MessageKind::Binary, b"\x00\x01");
    until("two echoes", || {
        game.count(|event| matches!(event, Event::Message(fiasco_ipc_core::Message { channel: c, .. }) if *c == channel)) == 2
    });
    let echoes: Vec<_> = game
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            Event::Message(fiasco_ipc_core::Message {
                channel: c,
                kind,
                data,
                ..
            }) if *c == channel => Some((*kind, data.to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(
        echoes,
        [
            (MessageKind::Text, b"hello".to_vec()),
            (MessageKind::Binary, vec![0, 1])
        ]
    );
    // The agent closes: 1000 reaches the server, the channel ends once.
    game.request(move |host| host.close(channel, 1000, "done"));
    assert_eq!(game.closed_parts(channel).0, ClosedBy::Agent);
    server.stop();
}

#[test]
fn one_game_dials_another_with_a_token() {
    let listener = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.token = Some("s3cret".to_owned());
    let address = listener.listen(9, 0, options);
    let game = Game::start(Mode::Record);
    // Without the token: 401, and it keeps trying.
    connect(&game, 1, ConnectOptions::new(format!("ws://{address}/")));
    let (kind, message, retry) = first_failure(&game, 1);
    assert_eq!(kind, ConnectErrorKind::HttpStatus(401), "{message}");
    assert!(retry.is_some());
    game.request(|host| host.disconnect(USER, 1));
    wait_state(&game, 1, "stopped", |state| *state == ConnectState::Stopped);
    // With it: connected, and the listener echoes.
    let mut with_token = ConnectOptions::new(format!("ws://{address}/"));
    with_token.token = Some("s3cret".to_owned());
    connect(&game, 2, with_token);
    let channel = connected(&game, 2, 0);
    game.send(channel, MessageKind::Text, b"ping");
    game.wait_for("the echo", |event| matches!(event, Event::Message(fiasco_ipc_core::Message { channel: c, data, .. }) if *c == channel && &data[..] == b"ping"));
    // Disconnect: the listener's side sees 1000, this side Stopped.
    game.request(|host| host.disconnect(USER, 2));
    wait_state(&game, 2, "stopped", |state| *state == ConnectState::Stopped);
    let theirs = listener.opened(0);
    let (by, code, _) = listener.closed_parts(theirs);
    assert_eq!((by, code), (ClosedBy::Remote, 1000));
    assert_eq!(game.closed_parts(channel).1, 1000);
}

#[test]
fn a_token_never_goes_over_plain_ws_beyond_loopback() {
    let game = Game::start(Mode::Record);
    let mut options = ConnectOptions::new("ws://192.0.2.1:9/");
    options.token = Some("s3cret".to_owned());
    connect(&game, 1, options);
    wait_state(&game, 1, "stopped", |state| *state == ConnectState::Stopped);
    let states = states(&game, 1);
    let failed = states.iter().find_map(|state| match state {
        ConnectState::Failed { error, retry_in } => {
            Some((error.kind, retry_in.is_none(), error.message.clone()))
        }
        _ => None,
    });
    let (kind, no_retry, message) = failed.expect("a failure");
    assert_eq!(kind, ConnectErrorKind::InvalidRequest);
    assert!(no_retry, "an invalid request is not retried");
    assert!(
        message.contains("wss://") && !message.contains("s3cret"),
        "{message}"
    );
}

#[test]
fn a_closed_port_is_retried_with_growing_jittered_delays() {
    let port = {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let game = Game::start(Mode::Record);
    let mut options = ConnectOptions::new(format!("ws://127.0.0.1:{port}/"));
    options.initial_backoff = Duration::from_millis(20);
    options.max_backoff = Duration::from_millis(80);
    connect(&game, 1, options);
    until("five failures", || {
        states(&game, 1)
            .iter()
            .filter(|state| matches!(state, ConnectState::Failed { .. }))
            .count()
            >= 5
    });
    game.request(|host| host.disconnect(USER, 1));
    wait_state(&game, 1, "stopped", |state| *state == ConnectState::Stopped);
    let delays: Vec<_> = states(&game, 1)
        .into_iter()
        .filter_map(|state| match state {
            ConnectState::Failed { error, retry_in } => {
                assert_eq!(error.kind, ConnectErrorKind::Refused, "{}", error.message);
                retry_in
            }
            _ => None,
        })
        .collect();
    // Steps 20, 40, 80, 80... ms, each delay between half and all of its step.
    for (index, delay) in delays.iter().enumerate() {
        let step = Duration::from_millis(20 << index.min(2));
        assert!(
            *delay >= step / 2 && *delay <= step,
            "delay {index}: {delay:?} for step {step:?}"
        );
    }
    let attempts = states(&game, 1)
        .iter()
        .filter(|state| matches!(state, ConnectState::Connecting { .. }))
        .count();
    assert!(attempts >= 5);
}

/// A TCP server on loopback that answers every connection with `reply`
/// (None: closes at once), for as long as the test runs.
fn answering_server(reply: Option<&'static [u8]>) -> SocketAddr {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in socket.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            if let Some(reply) = reply {
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(reply);
            }
        }
    });
    address
}

#[test]
fn servers_that_refuse_close_or_babble_cost_a_retry_not_a_panic() {
    /// What the server answers (None: it closes at once), and the failure
    /// it must cause.
    type Case = (Option<&'static [u8]>, fn(ConnectErrorKind) -> bool);
    let cases: [Case; 5] = [
        (
            Some(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"),
            |kind| kind == ConnectErrorKind::HttpStatus(401),
        ),
        (
            Some(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
            |kind| kind == ConnectErrorKind::HttpStatus(403),
        ),
        (
            Some(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
            |kind| kind == ConnectErrorKind::HttpStatus(500),
        ),
        (Some(b"\x00\xff garbage, not HTTP \xfe\r\n\r\n"), |kind| {
            kind == ConnectErrorKind::Handshake
        }),
        (None, |kind| kind == ConnectErrorKind::Handshake),
    ];
    let game = Game::start(Mode::Record);
    for (id, (reply, expected)) in cases.into_iter().enumerate() {
        let id = id as u64 + 1;
        let address = answering_server(reply);
        let mut options = ConnectOptions::new(format!("ws://{address}/"));
        options.initial_backoff = Duration::from_millis(10);
        connect(&game, id, options);
        let (kind, message, retry) = first_failure(&game, id);
        assert!(expected(kind), "case {id}: {kind:?} {message}");
        assert!(retry.is_some(), "case {id} is retried");
        until("a second attempt", || {
            states(&game, id)
                .iter()
                .any(|state| matches!(state, ConnectState::Connecting { attempt: 2 }))
        });
        game.request(move |host| host.disconnect(USER, id));
        wait_state(&game, id, "stopped", |state| {
            *state == ConnectState::Stopped
        });
    }
}

/// A server that completes the handshake (the right accept key) but
/// answers with an extension the client never offered.
fn extension_server() -> SocketAddr {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in socket.incoming().take(10) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let n = stream.read(&mut request).unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..n]).into_owned();
            let key = request
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("sec-websocket-key")
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default();
            let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
            let _ = write!(
                stream,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            );
        }
    });
    address
}

#[test]
fn an_extension_the_client_did_not_offer_fails_the_attempt_and_is_retried() {
    let game = Game::start(Mode::Record);
    let address = extension_server();
    let mut options = ConnectOptions::new(format!("ws://{address}/"));
    options.initial_backoff = Duration::from_millis(10);
    connect(&game, 1, options);
    let (kind, message, retry) = first_failure(&game, 1);
    assert_eq!(kind, ConnectErrorKind::Handshake, "{message}");
    assert!(
        message.contains("permessage-deflate") && message.contains("did not offer"),
        "{message}"
    );
    assert!(retry.is_some(), "retried");
    until("a second attempt", || {
        states(&game, 1)
            .iter()
            .any(|state| matches!(state, ConnectState::Connecting { attempt: 2 }))
    });
    assert_eq!(game.count(common::is_opened), 0, "no channel opened");
}

#[test]
fn a_server_that_closes_gets_a_new_channel_of_the_same_request() {
    let listener = Game::start(Mode::Record);
    let address = listener.listen(9, 0, ListenOptions::default());
    let game = Game::start(Mode::Record);
    let mut options = ConnectOptions::new(format!("ws://{address}/"));
    options.initial_backoff = Duration::from_millis(10);
    connect(&game, 7, options);
    let first = connected(&game, 7, 0);
    let theirs = listener.opened(0);
    listener.request(move |host| host.close(theirs, 4000, "go away"));
    let (by, code, reason) = game.closed_parts(first);
    assert_eq!(
        (by, code, reason.as_str()),
        (ClosedBy::Remote, 4000, "go away")
    );
    let second = connected(&game, 7, 1);
    assert_ne!(first, second, "a new channel, ids never reused");
    let failures: Vec<_> = states(&game, 7)
        .into_iter()
        .filter_map(|state| match state {
            ConnectState::Failed { error, .. } => Some(error.kind),
            _ => None,
        })
        .collect();
    assert_eq!(failures, [ConnectErrorKind::Closed]);
}

#[test]
fn shutdown_while_connecting_stops_the_request() {
    // A server that takes the TCP connection and never answers.
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    let held = std::thread::spawn(move || socket.accept().map(|(stream, _)| stream));
    let mut game = Game::start(Mode::Record);
    let mut options = ConnectOptions::new(format!("ws://{address}/"));
    options.limits.handshake_timeout = Duration::from_secs(60);
    connect(&game, 1, options);
    wait_state(&game, 1, "connecting", |state| {
        matches!(state, ConnectState::Connecting { .. })
    });
    let _stream = held.join().unwrap();
    game.stop();
    let states = states(&game, 1);
    assert_eq!(states.last(), Some(&ConnectState::Stopped), "{states:?}");
}

#[test]
fn tls_trusts_the_given_ca_and_refuses_the_rest() {
    let dir = std::env::temp_dir().join(format!("fiasco-outbound-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Fiasco outbound test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();

    let listener = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.tls = Some(TlsFiles {
        cert_path: dir.join("cert.pem"),
        key_path: dir.join("key.pem"),
    });
    let port = listener.listen(9, 0, options).port();
    let game = Game::start(Mode::Record);

    // Trusted through the CA file, name matching: connected, echoed.
    let mut trusted = ConnectOptions::new(format!("wss://localhost:{port}/"));
    trusted.ca_file = Some(dir.join("ca.pem"));
    connect(&game, 1, trusted);
    let channel = connected(&game, 1, 0);
    game.send(channel, MessageKind::Text, b"over tls");
    game.wait_for("the echo", |event| matches!(event, Event::Message(fiasco_ipc_core::Message { channel: c, data, .. }) if *c == channel && &data[..] == b"over tls"));

    // The system's trust store does not know the test CA.
    let mut untrusted = ConnectOptions::new(format!("wss://localhost:{port}/"));
    untrusted.reconnect = false;
    connect(&game, 2, untrusted);
    let (error, retry) = first_error(&game, 2);
    assert_eq!((error.kind, retry), (ConnectErrorKind::Tls, None));
    assert!(error.message.contains("localhost"), "{error}");
    assert!(
        matches!(
            rustls_error(&error),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{error:?}"
    );

    // The right CA, the wrong name: the certificate is for localhost only.
    let mut wrong_name = ConnectOptions::new(format!("wss://127.0.0.1:{port}/"));
    wrong_name.ca_file = Some(dir.join("ca.pem"));
    wrong_name.reconnect = false;
    connect(&game, 3, wrong_name);
    let (error, _) = first_error(&game, 3);
    assert_eq!(error.kind, ConnectErrorKind::Tls);
    assert!(
        matches!(
            rustls_error(&error),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{error:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `python -m websockets`-style echo server from the test venv, on loopback.
struct PythonServer {
    child: Child,
    port: u16,
}

impl PythonServer {
    fn start() -> Self {
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
        assert!(
            std::path::Path::new(python).exists(),
            "{python} is missing: this test needs the venv with the Python websockets package; \
             make it with `python3 -m venv .venv && .venv/bin/pip install 'websockets>=13'` at the \
             repository's root (scripts/test makes it)"
        );
        let script = r#"
import asyncio, websockets
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"#;
        let mut child = Command::new(python)
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Python websockets server");
        let mut line = String::new();
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8];
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0] as char);
        }
        let port = line.trim().parse().expect("the server's port");
        Self { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn shutdown_closes_outbound_channels_with_1001() {
    let listener = Game::start(Mode::Record);
    let address = listener.listen(9, 0, ListenOptions::default());
    let mut game = Game::start(Mode::Record);
    connect(&game, 1, ConnectOptions::new(format!("ws://{address}/")));
    let channel = connected(&game, 1, 0);
    let theirs = listener.opened(0);
    game.stop();
    let (by, code, _) = listener.closed_parts(theirs);
    assert_eq!((by, code), (ClosedBy::Remote, 1001), "the server got 1001");
    let (by, code, _) = game.closed_parts(channel);
    assert_eq!((by, code), (ClosedBy::HostShutdown, 1001));
    assert_eq!(states(&game, 1).last(), Some(&ConnectState::Stopped));
}

#[test]
fn the_server_side_close_codes_and_idle_pings_hold_on_outbound_channels() {
    // Two links with a 50 ms idle timeout, dialed together: one to a
    // listener (which answers pings), one to a server that completes the
    // handshake and then never reads, so never answers a ping.
    let listener = Game::start(Mode::Record);
    let address = listener.listen(9, 0, ListenOptions::default());
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_address = silent.local_addr().unwrap();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let silent_server = std::thread::spawn(move || {
        let (stream, _) = silent.accept().unwrap();
        let socket = tungstenite::accept(stream).unwrap();
        // Holds the socket, unread, until the test is done with it.
        let _ = finished.recv_timeout(Duration::from_secs(20));
        drop(socket);
    });
    let game = Game::start(Mode::Record);
    let mut answered = ConnectOptions::new(format!("ws://{address}/"));
    answered.limits.idle_timeout = Duration::from_millis(50);
    let mut unanswered = ConnectOptions::new(format!("ws://{silent_address}/"));
    unanswered.limits.idle_timeout = Duration::from_millis(50);
    unanswered.reconnect = false;
    connect(&game, 1, answered);
    connect(&game, 3, unanswered);
    let channel = connected(&game, 1, 0);
    let silent_channel = connected(&game, 3, 0);
    // The unanswered pings end their link as the idle limit says...
    let (by, code, reason) = game.closed_parts(silent_channel);
    assert_eq!((by, code), (ClosedBy::HostLimit, 1001), "{reason}");
    // ...while the answered link, as old, is open and carries a message
    // sent after the silent one closed: its arrival at the server is the
    // point after which it was surely open past the idle limit.
    game.send(channel, MessageKind::Text, b"still here");
    listener.wait_for(
        "the message",
        |event| matches!(event, Event::Message(fiasco_ipc_core::Message { data, .. }) if &data[..] == b"still here"),
    );
    let events = game.events.lock().unwrap().clone();
    let silent_closed = events
        .iter()
        .position(|event| matches!(event, Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { channel: c, .. }) if *c == silent_channel))
        .unwrap();
    assert!(
        !events[..silent_closed]
            .iter()
            .any(|event| matches!(event, Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { channel: c, .. }) if *c == channel)),
        "answered pings keep it open"
    );
    done.send(()).unwrap();
    silent_server.join().unwrap();
    // A message too big for the link's limit: 1009 to the server.
    let mut small = ConnectOptions::new(format!("ws://{address}/"));
    small.limits.max_message_size = 16;
    small.limits.max_frame_size = 16;
    small.reconnect = false;
    connect(&game, 2, small);
    let second = connected(&game, 2, 0);
    let their_second = listener.opened(1);
    listener.request(move |host| {
        let _ = host.send(their_second, MessageKind::Binary, vec![0u8; 64]);
    });
    let (by, code, _) = game.closed_parts(second);
    assert_eq!((by, code), (ClosedBy::HostLimit, 1009));
    assert_eq!(listener.closed_parts(their_second).1, 1009);
}
