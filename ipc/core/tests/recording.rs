//! Recording through real sockets: a session of an echo game, read back
//! with the `mcap` crate (every message, both directions, in order, the
//! payloads byte for byte, the channel's opening and end); a recording
//! started and stopped by request; a file that exists is never
//! overwritten; a writer budget too small for some messages writes gap
//! records that account for every one skipped; the port filter; the size
//! limit.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{connect, Game, Mode};
use fiasco_ipc_core::recording::format;
use fiasco_ipc_core::{
    Event, HostOptions, ListenOptions, RecordOptions, RecordState, RecordStatus,
};
use tungstenite::Message;

/// A fresh folder for one test's files, removed when the test ends.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("fiasco-record-{name}-"))
        .tempdir()
        .unwrap()
}

/// Waits for the first `RecordStatus` whose state `state` accepts.
fn record_status(game: &Game, what: &str, state: fn(&RecordState) -> bool) -> RecordStatus {
    let event = game.wait_for(
        what,
        |event| matches!(event, Event::RecordStatus(status) if state(&status.state)),
    );
    match event {
        Event::RecordStatus(status) => status,
        other => panic!("waited for {what}, got {other:?}"),
    }
}

/// One message as read back: topic, its channel's metadata, data.
struct Read {
    topic: String,
    encoding: String,
    metadata: BTreeMap<String, String>,
    data: Vec<u8>,
}

fn read_back(path: &Path) -> (Vec<Read>, BTreeMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let messages = mcap::MessageStream::new(&bytes)
        .unwrap()
        .map(|message| {
            let message = message.unwrap();
            Read {
                topic: message.channel.topic.clone(),
                encoding: message.channel.message_encoding.clone(),
                metadata: message.channel.metadata.clone(),
                data: message.data.into_owned(),
            }
        })
        .collect();
    let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
    let index = summary
        .metadata_indexes
        .iter()
        .find(|index| index.name == format::METADATA)
        .expect("the metadata record");
    let metadata = mcap::read::metadata(&bytes, index).unwrap().metadata;
    (messages, metadata)
}

fn json(read: &Read) -> serde_json::Value {
    serde_json::from_slice(&read.data).unwrap()
}

fn status(events: &[Event], what: impl Fn(&RecordStatus) -> bool) -> RecordStatus {
    events
        .iter()
        .find_map(|event| match event {
            Event::RecordStatus(status) if what(status) => Some(status.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no such RecordStatus in {events:#?}"))
}

fn stopped(events: &[Event]) -> RecordStatus {
    status(events, |status| {
        matches!(status.state, RecordState::Stopped { .. })
    })
}

#[test]
fn an_echo_session_is_recorded_whole_and_in_order() {
    let dir = scratch("echo");
    let path = dir.path().join("session.mcap");
    let mut options = HostOptions::default();
    options.record = Some(RecordOptions::new(&path).game("echo test"));
    let game = Game::start_with(Mode::Echo, std::time::Duration::from_millis(1), options);
    let address = game.listen(5, 0, ListenOptions::default());
    let sent: Vec<Message> = vec![
        Message::text(r#"{"op":"inc","n":1}"#),
        Message::text("not json"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(r#"{"op":"inc","n":2}"#),
    ];
    let mut client = connect(address, "/tool?x=1");
    for message in &sent {
        client.send(message.clone()).unwrap();
        assert_eq!(&client.read().unwrap(), message);
    }
    client
        .close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "done".into(),
        }))
        .unwrap();
    while client.read().is_ok() {}
    let port = address.port().to_string();
    let events = game.finish();
    let end = stopped(&events);
    assert_eq!(
        end.state,
        RecordState::Stopped {
            reason: "host stopped".into()
        }
    );
    assert_eq!((end.messages, end.skipped_messages), (8, 0));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file is the owner's only");
    }
    let (messages, metadata) = read_back(&path);
    assert_eq!(metadata["game"], "echo test");
    assert_eq!(metadata["host_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(metadata["ports"], "all");
    assert!(metadata["start_time"].ends_with("GMT"));

    // opened, then each message received and echoed, then closed.
    assert_eq!(messages.len(), 1 + 2 * sent.len() + 1);
    let opened = json(&messages[0]);
    assert_eq!(messages[0].topic, format::TOPIC_EVENTS);
    assert_eq!(opened["event"], "opened");
    assert_eq!(opened["path"], "/tool?x=1");
    assert_eq!(opened["link"], "inbound");
    assert_eq!(opened["port"].to_string(), port);
    let channel = opened["channel"].as_u64().unwrap();
    for (index, message) in sent.iter().enumerate() {
        // A text channel's encoding follows its first message (JSON here).
        let (kind, data, encoding) = match message {
            Message::Text(text) => ("text", text.as_bytes(), "json"),
            Message::Binary(data) => ("binary", &data[..], "binary"),
            _ => unreachable!(),
        };
        for (offset, direction) in [(1, "received"), (2, "sent")] {
            let read = &messages[1 + 2 * index + offset - 1];
            assert_eq!(read.topic, format!("/ipc/{channel}/{direction}/{kind}"));
            assert_eq!(read.data, data, "message {index} {direction}");
            assert_eq!(read.metadata["direction"], direction);
            assert_eq!(read.metadata["port"], port);
            assert_eq!(read.metadata["path"], "/tool?x=1");
            assert_eq!(read.metadata["ipc_channel"], channel.to_string());
            assert_eq!(read.encoding, encoding);
        }
    }
    let closed = json(messages.last().unwrap());
    assert_eq!(closed["event"], "closed");
    assert_eq!(closed["closed_by"], "remote");
    assert_eq!(closed["code"], 1000);
    assert_eq!(closed["reason"], "done");
}

#[test]
fn an_agent_starts_and_stops_a_recording_and_no_file_is_overwritten() {
    let dir = scratch("request");
    let path = dir.path().join("asked.mcap");
    let existing = dir.path().join("existing.mcap");
    std::fs::write(&existing, b"keep me").unwrap();
    let game = Game::start(Mode::Echo);
    let address = game.listen(5, 0, ListenOptions::default());
    {
        let existing = existing.clone();
        game.request(move |host| host.record(8, RecordOptions::new(existing)));
    }
    let refused = record_status(&game, "the refusal", |state| {
        matches!(state, RecordState::Failed { .. })
    });
    let RecordState::Failed { error } = refused.state else {
        unreachable!("the predicate took Failed only")
    };
    assert_eq!(refused.user_id, 8);
    assert!(error.contains("exists"), "{error}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    // A client that connected before the recording started is recorded
    // from its next message, its opening written first.
    let mut early = connect(address, "/early");
    early.send(Message::text("before")).unwrap();
    assert_eq!(early.read().unwrap(), Message::text("before"));
    {
        let path = path.clone();
        game.request(move |host| host.record(8, RecordOptions::new(path)));
    }
    record_status(&game, "recording", |state| *state == RecordState::Recording);
    early.send(Message::text("during")).unwrap();
    assert_eq!(early.read().unwrap(), Message::text("during"));
    game.request(|host| host.stop_recording(8));
    let end = record_status(&game, "the end", |state| {
        matches!(state, RecordState::Stopped { .. })
    });
    assert_eq!(
        end.state,
        RecordState::Stopped {
            reason: "requested".into()
        }
    );
    assert_eq!(end.messages, 2);
    // The file is complete once Stopped is reported, while the game runs.
    let (messages, _) = read_back(&path);
    let topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(topics.len(), 3, "{topics:?}");
    assert_eq!(json(&messages[0])["path"], "/early");
    assert_eq!(messages[1].data, b"during");
    assert_eq!(messages[2].data, b"during");
    // After the stop nothing is recorded.
    early.send(Message::text("after")).unwrap();
    assert_eq!(early.read().unwrap(), Message::text("after"));
    drop(game.finish());
    assert_eq!(read_back(&path).0.len(), 3);
}

#[test]
fn a_writer_budget_too_small_writes_gap_records_for_what_it_skipped() {
    let dir = scratch("gaps");
    let path = dir.path().join("gaps.mcap");
    // Room for a few small messages, never for a 4 KiB one.
    let mut options = HostOptions::default();
    options.record = Some(RecordOptions::new(&path).budget(2048));
    let game = Game::start_with(Mode::Echo, std::time::Duration::from_millis(1), options);
    let address = game.listen(5, 0, ListenOptions::default());
    let mut client = connect(address, "/");
    let rounds = 20;
    for round in 0..rounds {
        let small = Message::text(format!("small {round}"));
        let big = Message::binary(vec![round as u8; 4096]);
        for message in [small, big] {
            client.send(message.clone()).unwrap();
            assert_eq!(client.read().unwrap(), message);
        }
    }
    client.close(None).unwrap();
    while client.read().is_ok() {}
    let events = game.finish();
    let end = stopped(&events);
    // Every big message skipped both ways, every small one written.
    assert_eq!(end.skipped_messages, 2 * rounds);
    assert_eq!(end.skipped_bytes, 2 * rounds * 4096);
    assert_eq!(end.messages, 2 * rounds);

    let (messages, _) = read_back(&path);
    let gaps: Vec<serde_json::Value> = messages
        .iter()
        .filter(|m| m.topic == format::TOPIC_GAPS)
        .map(json)
        .collect();
    assert!(!gaps.is_empty());
    let skipped: u64 = gaps
        .iter()
        .map(|gap| gap["skipped_messages"].as_u64().unwrap())
        .sum();
    let bytes: u64 = gaps
        .iter()
        .map(|gap| gap["skipped_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!((skipped, bytes), (2 * rounds, 2 * rounds * 4096));
    for gap in &gaps {
        let channels = gap["channels"].as_array().unwrap();
        assert_eq!(channels.len(), 1, "{gap}");
        assert!(gap["first_ns"].as_u64() <= gap["last_ns"].as_u64());
    }
    let small: Vec<&Read> = messages
        .iter()
        .filter(|m| m.topic.ends_with("/text"))
        .collect();
    assert_eq!(small.len() as u64, 2 * rounds);
    assert!(messages.iter().all(|m| !m.topic.ends_with("/binary")));
}

#[test]
fn only_the_named_ports_are_recorded_and_the_size_limit_stops_the_file() {
    let dir = scratch("ports");
    let path = dir.path().join("ports.mcap");
    let game = Game::start(Mode::Echo);
    let recorded = game.listen(5, 0, ListenOptions::default());
    let other = game.listen(6, 0, ListenOptions::default());
    {
        let path = path.clone();
        let port = recorded.port();
        game.request(move |host| {
            host.record(
                1,
                RecordOptions::new(path).ports([port]).max_bytes(64 * 1024),
            );
        });
    }
    let mut quiet = connect(other, "/other");
    quiet.send(Message::text("not recorded")).unwrap();
    assert_eq!(quiet.read().unwrap(), Message::text("not recorded"));
    let mut client = connect(recorded, "/recorded");
    // Incompressible bytes, so the file grows as fast as the messages.
    let mut seed = 1u64;
    let mut reached = false;
    for _ in 0..200 {
        let data: Vec<u8> = (0..16 * 1024)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        client.send(Message::binary(data)).unwrap();
        client.read().unwrap();
        if game.count(|event| {
            matches!(
                event,
                Event::RecordStatus(RecordStatus {
                    state: RecordState::Stopped { .. },
                    ..
                })
            )
        }) > 0
        {
            reached = true;
            break;
        }
    }
    assert!(reached, "the size limit never stopped the recording");
    let events = game.finish();
    let end = stopped(&events);
    assert_eq!(
        end.state,
        RecordState::Stopped {
            reason: "size limit".into()
        }
    );
    let size = std::fs::metadata(&path).unwrap().len();
    // One chunk may go past the limit before it is seen.
    assert!(size < 64 * 1024 + 2 * (1 << 20), "{size}");
    let (messages, metadata) = read_back(&path);
    assert_eq!(metadata["ports"], recorded.port().to_string());
    assert!(messages
        .iter()
        .all(|m| m.topic == format::TOPIC_EVENTS || m.metadata["path"] == "/recorded"));
}

#[test]
fn a_duration_limit_stops_the_file_cleanly() {
    let dir = scratch("duration");
    let path = dir.path().join("short.mcap");
    let game = Game::start(Mode::Echo);
    let address = game.listen(5, 0, ListenOptions::default());
    {
        let path = path.clone();
        game.request(move |host| {
            host.record(
                2,
                RecordOptions::new(path).max_duration(std::time::Duration::from_millis(300)),
            );
        });
    }
    record_status(&game, "recording", |state| *state == RecordState::Recording);
    let mut client = connect(address, "/timed");
    client.send(Message::text("within")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("within"));
    // Waited for, not slept on: the writer reports the end once the file is complete.
    let end = record_status(&game, "the end", |state| {
        matches!(state, RecordState::Stopped { .. })
    });
    assert_eq!(
        end.state,
        RecordState::Stopped {
            reason: "duration limit".into()
        }
    );
    // Complete (read_back needs the summary) while the game runs on.
    let (messages, _) = read_back(&path);
    assert!(messages.len() <= 3, "{} records", messages.len());
    drop(game.finish());
}
