//! The plugin in a Bevy `App`, over real sockets with real WebSocket
//! clients (tungstenite): round trip within a frame, order and exactly
//! once, kinds, close codes both ways, a foreign Origin refused, shutdown
//! on `AppExit` with 1001, an outbound `Connect`, and roles by token with
//! a keyed burst and its stats, a recording started by the plugin's
//! option and stopped by a `Record` message, and what systems that read
//! one kind each see of a channel's life.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bevy_app::{App, AppExit, Update};
use bevy_ecs::prelude::*;
use fiasco_ipc_bevy::*;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

const USER_ID: u64 = 77;

/// What the test's agent saw, with the frame it saw it in.
#[derive(Resource, Default)]
struct Seen {
    frame: u64,
    address: Option<SocketAddr>,
    opened: Vec<ConnectionOpened>,
    messages: Vec<(u64, MessageFromRemote)>,
    closed: Vec<ChannelClosed>,
}

/// The test's agent: echoes every message with its kind in the frame it
/// arrives; "close me" is answered by closing the channel with 4002.
fn agent(
    mut seen: ResMut<Seen>,
    mut results: MessageReader<ListenResult>,
    mut opened: MessageReader<ConnectionOpened>,
    mut messages: MessageReader<MessageFromRemote>,
    mut closed: MessageReader<ChannelClosed>,
    mut sends: MessageWriter<SendMessage>,
    mut closes: MessageWriter<CloseChannel>,
) {
    seen.frame += 1;
    for result in results.read() {
        seen.address = Some(*result.result.as_ref().expect("listening"));
    }
    seen.opened.extend(opened.read().cloned());
    for message in messages.read() {
        let frame = seen.frame;
        seen.messages.push((frame, message.clone()));
        if message.text() == Some("close me") {
            closes.write(CloseChannel {
                channel: message.channel,
                code: 4002,
                reason: "asked".into(),
            });
        } else {
            sends.write(SendMessage::new(
                message.channel,
                message.kind,
                message.data.clone(),
            ));
        }
    }
    seen.closed.extend(closed.read().cloned());
}

/// An app with the plugin and the agent, listening on a free loopback port.
fn listening_app() -> (App, SocketAddr) {
    let mut app = App::new();
    app.add_plugins(IpcPlugin::default())
        .init_resource::<Seen>()
        .add_systems(Update, agent);
    app.world_mut().write_message(Listen {
        user_id: USER_ID,
        port: 0,
        options: ListenOptions::default(),
    });
    let address = run_until(&mut app, |seen| seen.address).expect("a listen result");
    (app, address)
}

/// Runs frames (about 200 a second) until `done` gives a value, for at most
/// ten seconds.
fn run_until<T>(app: &mut App, mut done: impl FnMut(&Seen) -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        app.update();
        if let Some(value) = done(app.world().resource::<Seen>()) {
            return Some(value);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Runs frames until the client thread is done; returns what it returned.
fn run_with_client<T>(app: &mut App, client: JoinHandle<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client.is_finished() {
        assert!(Instant::now() < deadline, "the client did not finish");
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
    client.join().expect("the client thread")
}

fn connect(address: SocketAddr) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (socket, _) = tungstenite::client(format!("ws://{address}/"), stream).unwrap();
    socket
}

/// The next data message (answering pings on the way).
fn next_message(socket: &mut WebSocket<TcpStream>) -> Message {
    loop {
        match socket.read().expect("a message") {
            message @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)) => {
                return message
            }
            _ => continue,
        }
    }
}

#[test]
fn an_answer_leaves_in_the_frame_its_message_arrives() {
    let (mut app, address) = listening_app();
    let mut socket = connect(address);
    socket.send(Message::text("ping")).unwrap();
    // Run frames only until the agent has seen the message...
    run_until(&mut app, |seen| seen.messages.first().map(|_| ())).expect("the message");
    // ...and no more: the echo written in that frame must already be out.
    assert_eq!(next_message(&mut socket), Message::text("ping"));
    let seen = app.world().resource::<Seen>();
    assert_eq!(seen.messages.len(), 1);
    assert_eq!(seen.opened.len(), 1);
    assert_eq!(seen.opened[0].user_id, USER_ID);
}

#[test]
fn messages_come_back_in_order_exactly_once_with_their_kinds() {
    let (mut app, address) = listening_app();
    const COUNT: usize = 300;
    let client = std::thread::spawn(move || {
        let mut socket = connect(address);
        for index in 0..COUNT {
            let message = if index % 2 == 0 {
                Message::text(format!("text {index}"))
            } else {
                Message::binary(format!("bytes {index}").into_bytes())
            };
            socket.send(message).unwrap();
        }
        (0..COUNT)
            .map(|_| next_message(&mut socket))
            .collect::<Vec<_>>()
    });
    let echoes = run_with_client(&mut app, client);
    for (index, echo) in echoes.iter().enumerate() {
        let expected = if index % 2 == 0 {
            Message::text(format!("text {index}"))
        } else {
            Message::binary(format!("bytes {index}").into_bytes())
        };
        assert_eq!(echo, &expected, "echo {index}");
    }
    let seen = app.world().resource::<Seen>();
    assert_eq!(seen.messages.len(), COUNT, "each message seen exactly once");
    for (index, (_, message)) in seen.messages.iter().enumerate() {
        let kind = if index % 2 == 0 {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        assert_eq!(message.kind, kind);
    }
}

#[test]
fn close_codes_go_both_ways() {
    let (mut app, address) = listening_app();
    // The client closes with 4001.
    let client = std::thread::spawn(move || {
        let mut socket = connect(address);
        socket
            .close(Some(CloseFrame {
                code: CloseCode::from(4001),
                reason: "bye".into(),
            }))
            .unwrap();
        while socket.read().is_ok() {}
    });
    run_with_client(&mut app, client);
    let closed = run_until(&mut app, |seen| seen.closed.first().cloned()).expect("closed");
    assert_eq!(
        (
            closed.closed_by,
            closed.code,
            closed.reason.as_str(),
            closed.user_id
        ),
        (ClosedBy::Remote, 4001, "bye", USER_ID)
    );
    // The agent closes with 4002.
    let client = std::thread::spawn(move || {
        let mut socket = connect(address);
        socket.send(Message::text("close me")).unwrap();
        next_message(&mut socket)
    });
    let close = run_with_client(&mut app, client);
    let Message::Close(Some(frame)) = close else {
        panic!("expected a close frame, got {close:?}");
    };
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (4002, "asked")
    );
    let closed = run_until(&mut app, |seen| seen.closed.get(1).cloned()).expect("closed");
    assert_eq!((closed.closed_by, closed.code), (ClosedBy::Agent, 4002));
}

#[test]
fn a_page_from_a_foreign_origin_is_refused() {
    let (mut app, address) = listening_app();
    let client = std::thread::spawn(move || {
        let stream = TcpStream::connect(address).unwrap();
        let request = tungstenite::http::Request::builder()
            .uri(format!("ws://{address}/"))
            .header("Host", address.to_string())
            .header("Origin", "http://evil.example")
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header(
                "Sec-WebSocket-Key",
                tungstenite::handshake::client::generate_key(),
            )
            .body(())
            .unwrap();
        tungstenite::client(request, stream)
            .map(|_| ())
            .unwrap_err()
    });
    let error = run_with_client(&mut app, client);
    let tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response)) = error else {
        panic!("expected an HTTP refusal, got {error:?}");
    };
    assert_eq!(response.status(), 403);
    // A client the port allows, after the refused one: once its channel is
    // seen, a channel of the refused one (decided before its 403 went out,
    // on the same network thread) could not come later unseen.
    let allowed = std::thread::spawn(move || connect(address));
    let _socket = run_with_client(&mut app, allowed);
    let opened = run_until(&mut app, |seen| {
        (!seen.opened.is_empty()).then_some(seen.opened.len())
    });
    assert_eq!(opened, Some(1), "only the allowed client has a channel");
}

#[test]
fn app_exit_closes_every_client_with_1001_and_joins_the_thread() {
    let (mut app, address) = listening_app();
    let (connected, is_connected) = std::sync::mpsc::channel();
    let client = std::thread::spawn(move || {
        let mut socket = connect(address);
        connected.send(()).unwrap();
        // Reading the close frame answers it, as a browser does.
        next_message(&mut socket)
    });
    is_connected.recv().unwrap();
    run_until(&mut app, |seen| seen.opened.first().map(|_| ())).expect("opened");
    assert!(app.world().resource::<Ipc>().is_running());
    app.world_mut().write_message(AppExit::Success);
    app.update();
    // The update returned after the network thread was joined.
    assert!(!app.world().resource::<Ipc>().is_running());
    let Message::Close(Some(frame)) = client.join().unwrap() else {
        panic!("expected a close frame");
    };
    assert_eq!(u16::from(frame.code), 1001);
    app.update();
    let seen = app.world().resource::<Seen>();
    assert_eq!(seen.closed.len(), 1);
    assert_eq!(seen.closed[0].closed_by, ClosedBy::HostShutdown);
    assert_eq!(seen.closed[0].code, 1001);
}

/// The states of the app's outbound link, as `ConnectStatus` messages.
#[derive(Resource, Default)]
struct Links(Vec<ConnectState>);

fn record_links(mut links: ResMut<Links>, mut statuses: MessageReader<ConnectStatus>) {
    links
        .0
        .extend(statuses.read().map(|status| status.state.clone()));
}

#[test]
fn connect_dials_a_server_and_the_agent_echoes_on_the_link() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = server.local_addr().unwrap();
    let server_thread = std::thread::spawn(move || {
        let (stream, _) = server.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut socket = tungstenite::accept(stream).unwrap();
        socket.send(Message::text("from the server")).unwrap();
        let echo = next_message(&mut socket);
        socket.close(None).unwrap();
        while socket.read().is_ok() {}
        echo
    });
    let mut app = App::new();
    app.add_plugins(IpcPlugin::default())
        .init_resource::<Seen>()
        .init_resource::<Links>()
        .add_systems(Update, (agent, record_links));
    let mut options = ConnectOptions::new(format!("ws://{address}/"));
    options.reconnect = false;
    app.world_mut().write_message(Connect {
        user_id: USER_ID,
        connect_id: 3,
        options,
    });
    let client = std::thread::spawn(move || server_thread.join().unwrap());
    let echo = run_with_client(&mut app, client);
    assert_eq!(echo, Message::text("from the server"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app
        .world()
        .resource::<Links>()
        .0
        .contains(&ConnectState::Stopped)
    {
        assert!(Instant::now() < deadline, "no Stopped");
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
    let links = &app.world().resource::<Links>().0;
    assert!(matches!(
        links.first(),
        Some(ConnectState::Connecting { attempt: 1 })
    ));
    assert!(links
        .iter()
        .any(|state| matches!(state, ConnectState::Connected { .. })));
    let opened = &app.world().resource::<Seen>().opened;
    assert_eq!(opened[0].direction, Direction::Outbound { connect_id: 3 });
}

/// What the streams agent saw: each channel's role and the stats answers.
#[derive(Resource, Default)]
struct StreamsSeen {
    address: Option<SocketAddr>,
    roles: Vec<(ChannelId, Option<String>)>,
    /// Each stats answer's channel state and replaced count.
    stats: Vec<(bool, u64)>,
}

/// Answers "role" with the channel's role; "burst" with 100 keyed states
/// written in one frame (the client gets the newest alone) and a stats
/// request; reports the stats answer as "conflated N".
fn streams_agent(
    mut seen: ResMut<StreamsSeen>,
    mut results: MessageReader<ListenResult>,
    mut opened: MessageReader<ConnectionOpened>,
    mut messages: MessageReader<MessageFromRemote>,
    mut stats: MessageReader<ChannelStats>,
    mut sends: MessageWriter<SendMessage>,
    mut ask: MessageWriter<RequestChannelStats>,
) {
    for result in results.read() {
        seen.address = Some(*result.result.as_ref().expect("listening"));
    }
    for event in opened.read() {
        seen.roles.push((event.channel, event.role.clone()));
    }
    for message in messages.read() {
        match message.text() {
            Some("role") => {
                let role = seen
                    .roles
                    .iter()
                    .find(|(channel, _)| *channel == message.channel)
                    .and_then(|(_, role)| role.clone())
                    .unwrap_or_default();
                sends.write(SendMessage::text(message.channel, role));
            }
            Some("burst") => {
                for index in 0..100 {
                    sends.write(
                        SendMessage::text(message.channel, format!("state {index}")).keyed(1),
                    );
                }
                ask.write(RequestChannelStats {
                    user_id: USER_ID,
                    channel: message.channel,
                });
            }
            _ => {}
        }
    }
    for answer in stats.read() {
        seen.stats.push((answer.open, answer.conflated_messages));
        sends.write(SendMessage::text(
            answer.channel,
            format!("conflated {}", answer.conflated_messages),
        ));
    }
}

#[test]
fn roles_by_token_and_a_keyed_burst_through_the_plugin() {
    let mut app = App::new();
    app.add_plugins(IpcPlugin::default())
        .init_resource::<StreamsSeen>()
        .add_systems(Update, streams_agent);
    let mut options = ListenOptions::default();
    options.tokens = vec![
        TokenGrant::new("editor-token-0123456789", "editor"),
        TokenGrant::new("viewer-token-0123456789", "viewer"),
    ];
    app.world_mut().write_message(Listen {
        user_id: USER_ID,
        port: 0,
        options,
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let address = loop {
        app.update();
        if let Some(address) = app.world().resource::<StreamsSeen>().address {
            break address;
        }
        assert!(Instant::now() < deadline, "no listen result");
        std::thread::sleep(Duration::from_millis(5));
    };
    let client = std::thread::spawn(move || {
        let mut answers = Vec::new();
        for token in ["editor-token-0123456789", "viewer-token-0123456789"] {
            let stream = TcpStream::connect(address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let url = format!("ws://{address}/ws?token={token}");
            let (mut socket, _) = tungstenite::client(url, stream).unwrap();
            socket.send(Message::text("role")).unwrap();
            answers.push(next_message(&mut socket));
            socket.send(Message::text("burst")).unwrap();
            answers.push(next_message(&mut socket));
            answers.push(next_message(&mut socket));
        }
        let refused = tungstenite::client(
            format!("ws://{address}/ws?token=guess"),
            TcpStream::connect(address).unwrap(),
        );
        let status = match refused {
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                response.status().as_u16()
            }
            _ => 0,
        };
        (answers, status)
    });
    let (answers, status) = run_with_client(&mut app, client);
    assert_eq!(
        answers,
        [
            Message::text("editor"),
            Message::text("state 99"),
            Message::text("conflated 99"),
            Message::text("viewer"),
            Message::text("state 99"),
            Message::text("conflated 99"),
        ]
    );
    assert_eq!(status, 401);
    let seen = app.world().resource::<StreamsSeen>();
    assert_eq!(seen.stats, [(true, 99), (true, 99)]);
}

/// The recording statuses the app got.
#[derive(Resource, Default)]
struct Recordings(Vec<RecordStatus>);

fn record_statuses(mut seen: ResMut<Recordings>, mut statuses: MessageReader<RecordStatus>) {
    seen.0.extend(statuses.read().cloned());
}

#[test]
fn the_plugin_records_from_the_start_and_record_messages_stop_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bevy.mcap");
    let mut app = App::new();
    app.add_plugins(IpcPlugin::default().record(RecordOptions::new(&path).game("bevy test")))
        .init_resource::<Seen>()
        .init_resource::<Recordings>()
        .add_systems(Update, (agent, record_statuses));
    app.world_mut().write_message(Listen {
        user_id: USER_ID,
        port: 0,
        options: ListenOptions::default(),
    });
    let address = run_until(&mut app, |seen| seen.address).expect("a listen result");
    let client = std::thread::spawn(move || {
        let mut socket = connect(address);
        for text in ["one", "two"] {
            socket.send(Message::text(text)).unwrap();
            assert_eq!(next_message(&mut socket), Message::text(text));
        }
        socket
    });
    let socket = run_with_client(&mut app, client);
    // One recording at a time: a second is refused, the first goes on.
    app.world_mut().write_message(Record::Start {
        user_id: 5,
        options: RecordOptions::new(dir.path().join("second.mcap")),
    });
    app.world_mut().write_message(Record::Stop { user_id: 0 });
    let deadline = Instant::now() + Duration::from_secs(10);
    let stopped = loop {
        app.update();
        let recordings = &app.world().resource::<Recordings>().0;
        if let Some(stopped) = recordings
            .iter()
            .find(|status| matches!(status.state, RecordState::Stopped { .. }))
        {
            break stopped.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no Stopped: {:?}",
            recordings.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(stopped.user_id, 0);
    assert_eq!(stopped.messages, 4);
    let statuses = &app.world().resource::<Recordings>().0;
    assert!(statuses.iter().any(|status| status.user_id == 5
        && matches!(&status.state, RecordState::Failed { error } if error.contains("already recording"))));
    assert!(!dir.path().join("second.mcap").exists());
    drop(socket);

    let bytes = std::fs::read(&path).unwrap();
    let texts: Vec<(String, Vec<u8>)> = mcap::MessageStream::new(&bytes)
        .unwrap()
        .map(|message| message.unwrap())
        .filter(|message| message.channel.topic != "/ipc/events")
        .map(|message| (message.channel.topic.clone(), message.data.into_owned()))
        .collect();
    let topics: Vec<&str> = texts
        .iter()
        .map(|(topic, _)| topic.rsplit('/').nth(1).unwrap())
        .collect();
    assert_eq!(topics, ["received", "sent", "received", "sent"]);
    let data: Vec<&[u8]> = texts.iter().map(|(_, data)| &data[..]).collect();
    assert_eq!(data, [b"one", b"one", b"two", b"two"]);
    app.world_mut().write_message(AppExit::Success);
    app.update();
}

/// What two sets of systems saw, each reading one kind a system: `chained`
/// in the contract's order (opened, messages, closed), `reversed` the other
/// way round. Each line carries its frame.
#[derive(Resource, Default)]
struct KindLog {
    frame: u64,
    chained: Vec<(u64, String)>,
    reversed: Vec<(u64, String)>,
}

impl KindLog {
    fn log(&mut self, reversed: bool, line: String) {
        let entry = (self.frame, line);
        if reversed {
            self.reversed.push(entry);
        } else {
            self.chained.push(entry);
        }
    }
}

fn next_frame(mut log: ResMut<KindLog>) {
    log.frame += 1;
}

fn log_opened<const REVERSED: bool>(
    mut log: ResMut<KindLog>,
    mut opened: MessageReader<ConnectionOpened>,
) {
    for event in opened.read() {
        log.log(REVERSED, format!("opened {}", event.channel));
    }
}

fn log_messages<const REVERSED: bool>(
    mut log: ResMut<KindLog>,
    mut messages: MessageReader<MessageFromRemote>,
) {
    for message in messages.read() {
        let text = message.text().unwrap_or_default().to_owned();
        log.log(REVERSED, format!("message {} {text}", message.channel));
    }
}

fn log_closed<const REVERSED: bool>(
    mut log: ResMut<KindLog>,
    mut closed: MessageReader<ChannelClosed>,
) {
    for event in closed.read() {
        log.log(REVERSED, format!("closed {}", event.channel));
    }
}

#[test]
fn kinds_read_in_separate_systems_come_in_the_order_the_systems_run() {
    let (mut app, address) = listening_app();
    app.init_resource::<KindLog>()
        .add_systems(bevy_app::First, next_frame)
        .add_systems(
            Update,
            (
                (
                    log_opened::<false>,
                    log_messages::<false>,
                    log_closed::<false>,
                )
                    .chain(),
                (log_closed::<true>, log_messages::<true>, log_opened::<true>).chain(),
            ),
        );
    // The client opens, sends two messages and closes before the app runs
    // another frame: the network thread answers the close by itself, and
    // has read the messages by then.
    std::thread::spawn(move || {
        let mut socket = connect(address);
        socket.send(Message::text("m1")).unwrap();
        socket.send(Message::text("m2")).unwrap();
        socket.close(None).unwrap();
        while socket.read().is_ok() {}
    })
    .join()
    .unwrap();
    run_until(&mut app, |seen| seen.closed.first().map(|_| ())).expect("closed");
    let log = app.world().resource::<KindLog>();
    let lines = |entries: &[(u64, String)]| -> Vec<String> {
        entries.iter().map(|(_, line)| line.clone()).collect()
    };
    let channel = app.world().resource::<Seen>().opened[0].channel;
    // Read in the contract's order, each channel's life reads in order.
    assert_eq!(
        lines(&log.chained),
        [
            format!("opened {channel}"),
            format!("message {channel} m1"),
            format!("message {channel} m2"),
            format!("closed {channel}"),
        ]
    );
    // The opening and the messages came in one frame, before Update: a
    // system reading messages before ConnectionOpened sees the messages of
    // a channel it does not know yet.
    let first_frame = log.reversed[0].0;
    let in_first_frame: Vec<String> = log
        .reversed
        .iter()
        .filter(|(frame, line)| *frame == first_frame && !line.starts_with("closed"))
        .map(|(_, line)| line.clone())
        .collect();
    assert_eq!(
        in_first_frame,
        [
            format!("message {channel} m1"),
            format!("message {channel} m2"),
            format!("opened {channel}"),
        ]
    );
}
