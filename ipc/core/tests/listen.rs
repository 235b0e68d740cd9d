//! Listening: port 0, specific failures, several ports, stop listening.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{connect, Game, Mode};
use fiasco_ipc_core::{Event, ListenErrorKind, ListenOptions, MessageKind};
use tungstenite::Message;

#[test]
fn port_zero_reports_the_port_bound() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    assert_ne!(address.port(), 0);
    assert!(address.ip().is_loopback(), "binds loopback by default");
    let mut client = connect(address, "/");
    client.send(Message::text("hi")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("hi"));
}

#[test]
fn a_port_in_use_is_reported_as_such() {
    let game = Game::start(Mode::Echo);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let error = game
        .listen_result(1, port, ListenOptions::default())
        .unwrap_err();
    assert_eq!(error.kind, ListenErrorKind::AddressInUse, "{error}");
}

#[test]
fn listening_twice_on_a_port_is_refused() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let error = game
        .listen_result(2, address.port(), ListenOptions::default())
        .unwrap_err();
    assert_eq!(error.kind, ListenErrorKind::AlreadyListening);
}

#[test]
fn invalid_requests_and_unavailable_addresses_are_reported() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.limits.max_connections = 0;
    assert_eq!(
        game.listen_result(1, 0, options).unwrap_err().kind,
        ListenErrorKind::InvalidRequest
    );
    let mut options = ListenOptions::default();
    options.bind_address = "0.0.0.0".parse().unwrap();
    assert_eq!(
        game.listen_result(1, 0, options).unwrap_err().kind,
        ListenErrorKind::TokenRequired
    );
    let mut options = ListenOptions::default();
    options.bind_address = "192.0.2.1".parse().unwrap(); // TEST-NET-1: not ours
    options.token = Some("secret".into());
    assert_eq!(
        game.listen_result(1, 0, options).unwrap_err().kind,
        ListenErrorKind::AddressUnavailable
    );
}

#[test]
fn stop_listening_refuses_new_clients_and_keeps_open_channels() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let mut client = connect(address, "/");
    game.opened(0);
    let port = address.port();
    // Another agent cannot stop it.
    game.request(move |host| host.stop_listening(2, port));
    game.wait_for("refused stop", |event| {
        matches!(
            event,
            Event::StopListeningResult(fiasco_ipc_core::StopListeningResult {
                user_id: 2,
                stopped: false,
                ..
            })
        )
    });
    game.request(move |host| host.stop_listening(1, port));
    game.wait_for("stop", |event| {
        matches!(
            event,
            Event::StopListeningResult(fiasco_ipc_core::StopListeningResult {
                user_id: 1,
                stopped: true,
                ..
            })
        )
    });
    assert!(
        tungstenite::connect(format!("ws://{address}/")).is_err(),
        "no new connections"
    );
    client.send(Message::text("still here")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("still here"));
    // The port can be listened on again.
    let again = game.listen(1, port, ListenOptions::default());
    assert_eq!(again.port(), port);
    let channel = game.opened(0);
    game.send(channel, MessageKind::Binary, b"x");
    assert_eq!(client.read().unwrap(), Message::binary(b"x".to_vec()));
}
