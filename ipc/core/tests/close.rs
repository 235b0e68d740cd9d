//! Close codes and reasons both ways; abrupt disconnects; ids never reused.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{connect, read_close, Game, Mode};
use fiasco_ipc_core::{ClosedBy, Event, ListenOptions};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;

#[test]
fn a_client_close_reaches_the_agents_with_its_code_and_reason() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(5, 0, ListenOptions::default());
    let mut client = connect(address, "/");
    let channel = game.opened(0);
    client
        .close(Some(CloseFrame {
            code: CloseCode::Library(4000),
            reason: "bye from the tool".into(),
        }))
        .unwrap();
    // The host answers the close handshake.
    loop {
        match client.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(error) => panic!("close handshake not completed: {error}"),
        }
    }
    match game.closed(channel) {
        Event::ChannelClosed(fiasco_ipc_core::ChannelClosed {
            closed_by,
            code,
            reason,
            user_id,
            ..
        }) => {
            assert_eq!(
                (closed_by, code, reason.as_str(), user_id),
                (ClosedBy::Remote, 4000, "bye from the tool", 5)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_agent_close_reaches_the_client_with_its_code_and_reason() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(5, 0, ListenOptions::default());
    let mut client = connect(address, "/");
    let channel = game.opened(0);
    game.request(move |host| host.close(channel, 4001, "level reloaded"));
    assert_eq!(read_close(&mut client), (4001, "level reloaded".to_owned()));
    client.flush().ok(); // sends tungstenite's answer to the close frame
    match game.closed(channel) {
        Event::ChannelClosed(fiasco_ipc_core::ChannelClosed {
            closed_by, code, ..
        }) => assert_eq!((closed_by, code), (ClosedBy::Agent, 4001)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_abrupt_disconnect_is_reported_as_1006() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(5, 0, ListenOptions::default());
    let client = connect(address, "/");
    let channel = game.opened(0);
    drop(client); // TCP close without a close frame
    match game.closed(channel) {
        Event::ChannelClosed(fiasco_ipc_core::ChannelClosed {
            closed_by, code, ..
        }) => assert_eq!((closed_by, code), (ClosedBy::Remote, 1006)),
        other => panic!("{other:?}"),
    }
    // The host carries on.
    let mut again = connect(address, "/");
    again.send(tungstenite::Message::text("ok")).unwrap();
    assert_eq!(again.read().unwrap(), tungstenite::Message::text("ok"));
}

#[test]
fn channel_ids_are_never_reused() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(5, 0, ListenOptions::default());
    for _ in 0..20 {
        let mut client = connect(address, "/");
        client.close(None).ok();
        while client.read().is_ok() {}
    }
    game.opened(19);
    let channels = game.channels();
    assert_eq!(channels.len(), 20);
    let mut sorted = channels.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 20);
    assert!(
        channels.windows(2).all(|pair| pair[0] < pair[1]),
        "ids only grow: {channels:?}"
    );
}

#[test]
fn every_channel_gets_exactly_one_closed_event() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(5, 0, ListenOptions::default());
    let clients: Vec<_> = (0..10).map(|_| connect(address, "/")).collect();
    for i in 0..10 {
        game.opened(i);
    }
    drop(clients);
    let channels = game.channels();
    for &channel in &channels {
        game.closed(channel);
    }
    // After the host has shut down and joined its thread, no late second
    // close can come.
    let events = game.finish();
    for channel in channels {
        let count = common::count_in(
            &events,
            |event| matches!(event, Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { channel: c, .. }) if *c == channel),
        );
        assert_eq!(count, 1, "channel {channel}");
    }
}
