//! Text and binary both ways with their kind; in order, exactly once; several
//! clients and several agents.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{connect, Game, Mode};
use fiasco_ipc_core::{Event, ListenOptions, MessageKind};
use tungstenite::Message;

#[test]
fn text_and_binary_echo_with_their_kind() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let mut client = connect(address, "/");
    client.send(Message::text("héllo")).unwrap();
    client
        .send(Message::binary(vec![0u8, 159, 146, 150]))
        .unwrap();
    assert_eq!(client.read().unwrap(), Message::text("héllo"));
    assert_eq!(
        client.read().unwrap(),
        Message::binary(vec![0u8, 159, 146, 150])
    );
    let kinds: Vec<_> = game
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            Event::Message(fiasco_ipc_core::Message {
                kind,
                data,
                user_id,
                ..
            }) => {
                assert_eq!(*user_id, 1);
                Some((*kind, data.to_vec()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (MessageKind::Text, "héllo".as_bytes().to_vec()),
            (MessageKind::Binary, vec![0, 159, 146, 150])
        ]
    );
}

#[test]
fn messages_arrive_in_order_exactly_once_both_ways() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let mut client = connect(address, "/");
    const COUNT: u32 = 2000;
    let writer = {
        // Write everything first, then read: exercises the queues both ways.
        for i in 0..COUNT {
            client
                .write(Message::binary(i.to_le_bytes().to_vec()))
                .unwrap();
        }
        client.flush().unwrap();
        client
    };
    let mut client = writer;
    for i in 0..COUNT {
        let message = client.read().unwrap();
        assert_eq!(
            message.into_data().as_ref(),
            i.to_le_bytes(),
            "message {i} out of order or missing"
        );
    }
    let received =
        game.count(|event| matches!(event, Event::Message(fiasco_ipc_core::Message { .. })));
    assert_eq!(
        received, COUNT as usize,
        "the game saw every message exactly once"
    );
}

#[test]
fn several_clients_and_several_agents_are_kept_apart() {
    let game = Game::start(Mode::Echo);
    let first = game.listen(10, 0, ListenOptions::default());
    let second = game.listen(20, 0, ListenOptions::default());
    assert_ne!(first.port(), second.port());
    let mut clients: Vec<_> = (0..3)
        .map(|_| connect(first, "/a"))
        .chain((0..2).map(|_| connect(second, "/b")))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(Message::text(format!("client {i}"))).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.read().unwrap(), Message::text(format!("client {i}")));
    }
    let opened: Vec<(u64, u16, String)> = game
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            Event::ConnectionOpened(fiasco_ipc_core::ConnectionOpened {
                user_id,
                port,
                path,
                ..
            }) => Some((*user_id, *port, path.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened
            .iter()
            .filter(|(user, port, path)| *user == 10 && *port == first.port() && path == "/a")
            .count(),
        3
    );
    assert_eq!(
        opened
            .iter()
            .filter(|(user, port, path)| *user == 20 && *port == second.port() && path == "/b")
            .count(),
        2
    );
    let channels = game.channels();
    let mut unique = channels.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "every connection has its own channel id");
    assert!(channels.iter().all(|channel| channel.0 != 0));
}

#[test]
fn agent_messages_reach_only_their_channel() {
    let game = Game::start(Mode::Record);
    let address = game.listen(1, 0, ListenOptions::default());
    let mut a = connect(address, "/");
    let mut b = connect(address, "/");
    let channel_a = game.opened(0);
    let channel_b = game.opened(1);
    // In one frame: a's message, then b's. Had a's reached b too, b would
    // read it first (one network thread, the game's order): b's first
    // message is the point after which a leak cannot come unseen.
    game.request(move |host| {
        host.send(channel_a, MessageKind::Text, &b"only for a"[..])
            .unwrap();
        host.send(channel_b, MessageKind::Text, &b"for b"[..])
            .unwrap();
    });
    assert_eq!(a.read().unwrap(), Message::text("only for a"));
    assert_eq!(
        b.read().unwrap(),
        Message::text("for b"),
        "b got a's message"
    );
}
