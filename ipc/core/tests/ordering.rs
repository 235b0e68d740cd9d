//! Ordering across event kinds, through real sockets: a client's
//! `ConnectionOpened` before its first message and `ChannelClosed` after its
//! last, and an outbound link's `Connected` after its channel's
//! `ConnectionOpened` and its drop's `Failed` after that channel's
//! `ChannelClosed`; each whether the game takes everything in one frame or
//! one message a frame while other clients' messages are served in turn.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{Game, Mode, WAIT};
use fiasco_ipc_core::{
    ChannelId, ConnectOptions, ConnectState, Event, FrameBudget, HostOptions, IpcHost,
    ListenOptions, MessageKind,
};

/// How the game takes its events.
#[derive(Debug, Clone, Copy)]
enum Frames {
    /// Nothing until everything has arrived, then all of it in one frame.
    OneAtTheEnd,
    /// A frame every millisecond from the start, one message a frame.
    OneMessageEach,
}

fn host_for(frames: Frames) -> IpcHost {
    let mut options = HostOptions::default();
    if let Frames::OneMessageEach = frames {
        options.frame_budget = FrameBudget::new(1, 1 << 20);
    }
    IpcHost::with_options(options).unwrap()
}

/// One frame: every event the host gives.
fn frame(host: &mut IpcHost, events: &mut Vec<Event>) {
    while let Some(event) = host.poll_event() {
        events.push(event);
    }
    host.flush();
}

/// Frames every millisecond until `done` holds for the events so far.
fn frames_until(host: &mut IpcHost, events: &mut Vec<Event>, done: impl Fn(&[Event]) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(events) {
        assert!(Instant::now() < deadline, "timed out; events: {events:#?}");
        std::thread::sleep(Duration::from_millis(1));
        frame(host, events);
    }
}

/// The event as a line, when it is about `channels` or link `connect_id`.
fn line(event: &Event, channels: &[ChannelId], connect_id: u64) -> Option<String> {
    match event {
        Event::ConnectionOpened(fiasco_ipc_core::ConnectionOpened { channel, .. })
            if channels.contains(channel) =>
        {
            Some(format!("opened {channel}"))
        }
        Event::Message(message) if channels.contains(&message.channel) => Some(format!(
            "message {} {}",
            message.channel,
            message.text().unwrap_or("(binary)")
        )),
        Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { channel, .. })
            if channels.contains(channel) =>
        {
            Some(format!("closed {channel}"))
        }
        Event::ConnectStatus(status) if status.connect_id == connect_id => {
            Some(match &status.state {
                ConnectState::Connecting { attempt } => format!("connecting {attempt}"),
                ConnectState::Connected { channel } => format!("connected {channel}"),
                ConnectState::Failed { error, .. } => format!("failed {:?}", error.kind),
                ConnectState::Stopped => "stopped".to_owned(),
            })
        }
        _ => None,
    }
}

fn opened_channels(events: &[Event]) -> Vec<ChannelId> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::ConnectionOpened(opened) => Some(opened.channel),
            _ => None,
        })
        .collect()
}

/// A client that opens, sends `texts`, closes and waits for the close to
/// finish, on its own thread.
fn client(
    address: std::net::SocketAddr,
    texts: &'static [&'static str],
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut client = common::connect(address, "/");
        for text in texts {
            client.send(tungstenite::Message::text(*text)).unwrap();
        }
        client.close(None).unwrap();
        while client.read().is_ok() {}
    })
}

#[test]
fn a_clients_open_messages_and_close_keep_their_order() {
    for frames in [Frames::OneAtTheEnd, Frames::OneMessageEach] {
        let mut host = host_for(frames);
        let address = common::listen_directly(&mut host, ListenOptions::default());
        let mut events = Vec::new();
        let clients = [
            client(address, &["a1", "a2", "a3"]),
            client(address, &["b1", "b2", "b3"]),
        ];
        if let Frames::OneAtTheEnd = frames {
            // Both closes finished: the host has read every message.
            for client in clients {
                client.join().unwrap();
            }
        }
        let closed = |events: &[Event]| {
            events
                .iter()
                .filter(|event| matches!(event, Event::ChannelClosed(_)))
                .count()
                == 2
        };
        frames_until(&mut host, &mut events, closed);
        let channels = opened_channels(&events);
        assert_eq!(channels.len(), 2, "{frames:?}");
        for &channel in &channels {
            let lines: Vec<String> = events
                .iter()
                .filter_map(|event| line(event, &[channel], 0))
                .collect();
            let texts: Vec<&str> = lines
                .iter()
                .filter_map(|line| line.strip_prefix(&format!("message {channel} ")))
                .collect();
            let prefix = texts.first().map_or("?", |text| &text[..1]).to_owned();
            assert_eq!(
                lines,
                [
                    format!("opened {channel}"),
                    format!("message {channel} {prefix}1"),
                    format!("message {channel} {prefix}2"),
                    format!("message {channel} {prefix}3"),
                    format!("closed {channel}"),
                ],
                "{frames:?}"
            );
        }
        host.shutdown(Duration::from_secs(2));
    }
}

#[test]
fn a_links_status_follows_its_channels_events() {
    for frames in [Frames::OneAtTheEnd, Frames::OneMessageEach] {
        // The server: sends two messages to the first connection and closes it.
        let server = Game::start(Mode::Record);
        let address = server.listen(9, 0, ListenOptions::default());
        let mut host = host_for(frames);
        let mut options = ConnectOptions::new(format!("ws://{address}/"));
        options.initial_backoff = Duration::from_millis(10);
        host.connect(5, 7, options);
        host.flush();
        let mut events = Vec::new();
        if let Frames::OneMessageEach = frames {
            frames_until(&mut host, &mut events, |events| {
                !opened_channels(events).is_empty()
            });
        }
        let theirs = server.opened(0);
        server.request(move |host| {
            host.send(theirs, MessageKind::Text, &b"hello"[..]).unwrap();
            host.send(theirs, MessageKind::Text, &b"again"[..]).unwrap();
            host.close(theirs, 4000, "go away");
        });
        // The second connection is up on the server's side: the game's side
        // has read the first one's messages and close by then.
        server.opened(1);
        frames_until(&mut host, &mut events, |events| {
            events
                .iter()
                .filter_map(|event| line(event, &[], 7))
                .filter(|line| line.starts_with("connected"))
                .count()
                == 2
        });
        let channels = opened_channels(&events);
        let lines: Vec<String> = events
            .iter()
            .filter_map(|event| line(event, &channels, 7))
            .collect();
        let (first, second) = (channels[0], channels[1]);
        assert_eq!(
            lines,
            [
                "connecting 1".to_owned(),
                format!("opened {first}"),
                format!("connected {first}"),
                format!("message {first} hello"),
                format!("message {first} again"),
                format!("closed {first}"),
                "failed Closed".to_owned(),
                "connecting 2".to_owned(),
                format!("opened {second}"),
                format!("connected {second}"),
            ],
            "{frames:?}"
        );
        host.shutdown(Duration::from_secs(2));
    }
}
