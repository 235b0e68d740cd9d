//! The ipc module linked statically with the echo agent: a real game loop,
//! real WebSocket clients, and the events agents see.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fiasco::{system, Config, EventReader, GameBuilder, Module, Res, Stage, StopHandle};
use fiasco_ipc_schema::{
    ChannelClosed, ClosedBy, ConnectionOpened, ListenResult, ListenStatus, MessageFromRemote,
};
use tungstenite::Message;

/// What a watching agent saw, shared with the test thread.
#[derive(Default)]
struct Seen {
    port: Option<u16>,
    opened: Vec<(u64, String)>,
    messages: Vec<(u64, Vec<u8>)>,
    closed: Vec<(u64, u16, ClosedBy)>,
}

type Shared = Arc<Mutex<Seen>>;

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

#[system]
fn watch(
    shared: Res<'_, Shared>,
    results: EventReader<ListenResult<'_>>,
    opened: EventReader<ConnectionOpened<'_>>,
    messages: EventReader<MessageFromRemote<'_>>,
    closed: EventReader<ChannelClosed<'_>>,
) {
    let mut seen = shared.lock().unwrap();
    for result in &results {
        if result.status() == ListenStatus::Ok && result.user_id() == echo_agent::USER_ID {
            seen.port = Some(result.port());
        }
    }
    for event in &opened {
        seen.opened
            .push((event.channel(), event.path().unwrap_or("").to_owned()));
    }
    for event in &messages {
        seen.messages.push((
            event.channel(),
            event
                .content()
                .map(|c| c.bytes().to_vec())
                .unwrap_or_default(),
        ));
    }
    for event in &closed {
        seen.closed
            .push((event.channel(), event.code(), event.closed_by()));
    }
}

fn watcher() -> Module {
    Module::new("watcher")
        .with_init(|ctx| {
            let shared = SHARED.lock().unwrap().clone().unwrap();
            ctx.insert_resource(shared);
            Ok(())
        })
        .with_system(Stage::Update, watch())
}

#[test]
fn echo_through_the_statically_linked_ipc_module() {
    let shared: Shared = Arc::default();
    *SHARED.lock().unwrap() = Some(shared.clone());
    let stop = StopHandle::default();
    let game_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut config = Config::default();
            config.set("echo_agent", "port", "0");
            let mut game = GameBuilder::new()
                .config(config)
                .fps(120)
                .add_static(fiasco_ipc::api())
                .add_static(echo_agent::api())
                .add_static(fiasco::module_api!("watcher", watcher))
                .build();
            assert!(game.reports().is_empty(), "{:?}", game.reports());
            game.run(&stop);
            game.shutdown();
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Some(port) = shared.lock().unwrap().port {
            break port;
        }
        assert!(Instant::now() < deadline, "no ListenResult");
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut client, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/tool")).unwrap();
    for i in 0..100u32 {
        client
            .send(Message::binary(i.to_le_bytes().to_vec()))
            .unwrap();
    }
    client.send(Message::text("done")).unwrap();
    for i in 0..100u32 {
        assert_eq!(
            client.read().unwrap(),
            Message::binary(i.to_le_bytes().to_vec())
        );
    }
    assert_eq!(client.read().unwrap(), Message::text("done"));
    // The client closes: every agent sees the channel closed by the remote.
    client
        .close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        }))
        .unwrap();
    loop {
        match client.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(error) => panic!("{error}"),
        }
    }
    let channel = shared.lock().unwrap().opened[0].0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.lock().unwrap().closed.is_empty() {
        assert!(Instant::now() < deadline, "no ChannelClosed seen");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        shared.lock().unwrap().closed,
        vec![(channel, 1000, ClosedBy::Remote)],
        "the watcher saw the close once, with its code and who closed it"
    );
    // Shutdown closes a second client with 1001 and joins everything.
    let (mut second, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/second")).unwrap();
    second.send(Message::text("hi")).unwrap();
    assert_eq!(second.read().unwrap(), Message::text("hi"));
    let reader = std::thread::spawn(move || loop {
        match second.read() {
            Ok(Message::Close(frame)) => return frame.map(|frame| u16::from(frame.code)),
            Ok(_) => continue,
            Err(error) => panic!("{error}"),
        }
    });
    stop.stop();
    game_thread.join().unwrap();
    assert_eq!(reader.join().unwrap(), Some(1001));
    let seen = shared.lock().unwrap();
    assert_eq!(seen.opened.len(), 2);
    assert_eq!(seen.opened[0].1, "/tool");
    assert_eq!(
        seen.messages.len(),
        102,
        "every message seen once by another agent"
    );
}
