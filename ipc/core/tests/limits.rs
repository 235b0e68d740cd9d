//! Every limit, hit: the close code or HTTP status, and what the game sees.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{connect, read_close, Game, Mode};
use fiasco_ipc_core::{ClosedBy, Event, ListenOptions, MessageKind, SendError};
use tungstenite::Message;

fn closed(game: &Game) -> (ClosedBy, u16, String) {
    let channel = game.opened(0);
    match game.closed(channel) {
        Event::ChannelClosed(fiasco_ipc_core::ChannelClosed {
            closed_by,
            code,
            reason,
            ..
        }) => (closed_by, code, reason),
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

/// Sends 64 MiB in 64 KiB messages, 1 MiB a game frame, to `channel`;
/// returns the refusals, in order.
fn offer_64_mib(
    game: &Game,
    channel: fiasco_ipc_core::ChannelId,
) -> std::sync::Arc<std::sync::Mutex<Vec<SendError>>> {
    let refusals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for _ in 0..64 {
        let refusals = std::sync::Arc::clone(&refusals);
        game.request(move |host| {
            for _ in 0..16 {
                if let Err(error) = host.send(channel, MessageKind::Binary, vec![0u8; 64 * 1024]) {
                    refusals.lock().unwrap().push(error);
                }
            }
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    refusals
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
    let refusals = offer_64_mib(&game, channel);
    let (closed_by, code, reason) = game.closed_parts(channel);
    assert_eq!((closed_by, code), (ClosedBy::HostLimit, 1008), "{reason}");
    assert!(reason.contains("reads too slowly"), "{reason}");
    // The send that overflowed says so; every later one, that the channel
    // is closing (or, once the game took its ChannelClosed, unknown).
    let refusals = refusals.lock().unwrap();
    assert!(
        matches!(refusals.first(), Some(SendError::ChannelFull { channel: c, bytes, .. }) if *c == channel && *bytes > 1 << 20),
        "{refusals:?}"
    );
    assert!(
        refusals[1..]
            .iter()
            .all(|error| matches!(error, SendError::Closing(_) | SendError::UnknownChannel(_))),
        "{refusals:?}"
    );
    drop(client);
}

#[test]
fn a_send_beyond_the_host_outbound_budget_is_refused_and_closes_with_1008() {
    let mut host_options = fiasco_ipc_core::HostOptions::default();
    host_options.outbound_budget = 1 << 20;
    let game = Game::start_with(Mode::Record, Duration::from_millis(1), host_options);
    // The channel's own limit (64 MiB) is far above the host's budget.
    let address = game.listen(1, 0, ListenOptions::default());
    let client = connect(address, "/"); // never reads
    let channel = game.opened(0);
    let refusals = offer_64_mib(&game, channel);
    let (closed_by, code, reason) = game.closed_parts(channel);
    assert_eq!((closed_by, code), (ClosedBy::HostLimit, 1008), "{reason}");
    let refusals = refusals.lock().unwrap();
    assert!(
        matches!(refusals.first(), Some(SendError::HostFull { channel: c, host_bytes }) if *c == channel && *host_bytes > 1 << 20),
        "{refusals:?}"
    );
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

// The handshake and idle timeouts are tested exactly, on tokio's paused
// clock over in-memory streams: `ipc/core/src/websocket_tests.rs`.
