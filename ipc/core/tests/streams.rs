//! Streams that fit their readers, through real sockets: a keyed stream to a
//! slow reader (never closed, always newer, at most two states held), the
//! same stream unkeyed (closed with 1008 as before), a high-priority
//! message behind 32 MiB of bulk, stats that move as the client reads,
//! broadcast to several channels, and roles by token.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::connect;
use fiasco_ipc_core::{
    ChannelClosed, ChannelId, ChannelStats, ClosedBy, ConnectionOpened, Event, IpcHost,
    ListenOptions, MessageKind, Priority, SendOptions, TokenGrant,
};
use tungstenite::Message;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const FRAME: Duration = Duration::from_micros(16_667);

/// Waits (polling and flushing) for the next channel to open.
fn next_opened(host: &mut IpcHost) -> ConnectionOpened {
    let deadline = Instant::now() + common::WAIT;
    loop {
        if let Some(Event::ConnectionOpened(opened)) = host.poll_event() {
            return opened;
        }
        host.flush();
        assert!(Instant::now() < deadline, "no channel opened");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What a stream's frames saw: the stats answers and whether it closed.
#[derive(Default)]
struct Seen {
    most_queued: u32,
    closed: Option<ChannelClosed>,
    last_stats: Option<ChannelStats>,
}

impl Seen {
    fn take(&mut self, host: &mut IpcHost) {
        while let Some(event) = host.poll_event() {
            match event {
                Event::ChannelStats(stats) => {
                    self.most_queued = self.most_queued.max(stats.queued_messages);
                    self.last_stats = Some(stats);
                }
                Event::ChannelClosed(closed) => self.closed = Some(closed),
                _ => {}
            }
        }
    }
}

/// A client that reads one message every 100 ms until `stop`; returns the
/// sequence numbers it got and their age at receipt.
fn slow_reader(
    address: SocketAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(u64, Duration)>> {
    std::thread::spawn(move || {
        let mut client = connect(address, "/state");
        let mut got = Vec::new();
        while !stop.load(Ordering::Acquire) {
            match client.read() {
                Ok(Message::Binary(data)) => {
                    let sequence = u64::from_le_bytes(data[..8].try_into().unwrap());
                    let sent = u64::from_le_bytes(data[8..16].try_into().unwrap());
                    let age = common::since_epoch().saturating_sub(Duration::from_nanos(sent));
                    got.push((sequence, age));
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        got
    })
}

/// A 60 Hz stream of 256 KiB states to a reader of 10 a second, for
/// `seconds`; keyed or not.
fn stream_to_a_slow_reader(keyed: bool, seconds: u64) -> (Seen, Vec<(u64, Duration)>) {
    let mut host = IpcHost::start().unwrap();
    let address = common::listen_directly(&mut host, ListenOptions::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = slow_reader(address, Arc::clone(&stop));
    let channel = next_opened(&mut host).channel;
    let options = SendOptions {
        conflation_key: u64::from(keyed),
        ..SendOptions::default()
    };
    let mut seen = Seen::default();
    let frames = seconds * 60;
    for sequence in 0..frames {
        let mut state = vec![(sequence % 251) as u8; 256 * KIB];
        state[..8].copy_from_slice(&sequence.to_le_bytes());
        let now = common::since_epoch().as_nanos() as u64;
        state[8..16].copy_from_slice(&now.to_le_bytes());
        let _ = host.send_with(channel, MessageKind::Binary, state, &options);
        host.channel_stats(1, channel);
        host.flush();
        std::thread::sleep(FRAME);
        seen.take(&mut host);
        if seen.closed.is_some() {
            break;
        }
    }
    stop.store(true, Ordering::Release);
    let got = reader.join().unwrap();
    host.shutdown(Duration::from_secs(1));
    (seen, got)
}

#[test]
fn a_slow_reader_of_a_keyed_stream_gets_newer_states_and_is_never_closed() {
    let (seen, got) = stream_to_a_slow_reader(true, 30);
    assert!(seen.closed.is_none(), "closed: {:?}", seen.closed);
    assert!(got.len() >= 100, "read {} states in 30 s", got.len());
    for pair in got.windows(2) {
        assert!(pair[1].0 > pair[0].0, "{} after {}", pair[1].0, pair[0].0);
    }
    assert!(
        seen.most_queued <= 2,
        "the host held {} states for the reader",
        seen.most_queued
    );
    let stats = seen.last_stats.unwrap();
    assert!(stats.conflated_messages > 1000, "{stats:?}");
    let mut ages: Vec<Duration> = got.iter().map(|(_, age)| *age).collect();
    ages.sort();
    eprintln!(
        "keyed: {} states read, age at receipt p50 {:?} p99 {:?}, {} replaced",
        got.len(),
        ages[ages.len() / 2],
        ages[ages.len() * 99 / 100],
        stats.conflated_messages
    );
}

#[test]
fn the_same_stream_unkeyed_closes_the_slow_reader_with_1008() {
    let (seen, got) = stream_to_a_slow_reader(false, 30);
    let closed = seen
        .closed
        .expect("the unkeyed stream fills the outbound limit");
    assert_eq!((closed.closed_by, closed.code), (ClosedBy::HostLimit, 1008));
    for pair in got.windows(2) {
        assert_eq!(pair[1].0, pair[0].0 + 1, "unkeyed: in order, none skipped");
    }
}

#[test]
fn a_high_priority_message_overtakes_queued_bulk_but_not_the_one_being_written() {
    let mut host = IpcHost::start().unwrap();
    let address = common::listen_directly(&mut host, ListenOptions::default());
    let client = std::thread::spawn(move || connect(address, "/"));
    let channel = next_opened(&mut host).channel;
    let mut client = client.join().unwrap();
    // 32 MiB of bulk (within the default 64 MiB limit) to a client that
    // does not read yet.
    for index in 0..32u8 {
        host.send(channel, MessageKind::Binary, vec![index; MIB])
            .unwrap();
    }
    host.flush();
    // Wait until the socket stops taking bytes: the kernel's buffers are
    // full and the host is blocked inside one message (or between two).
    let mut last = u64::MAX;
    let mut still = 0;
    let mut sent = 0;
    let deadline = Instant::now() + common::WAIT;
    while still < 25 {
        host.channel_stats(1, channel);
        host.flush();
        std::thread::sleep(Duration::from_millis(20));
        while let Some(event) = host.poll_event() {
            if let Event::ChannelStats(stats) = event {
                sent = stats.sent_messages;
                if stats.sent_bytes == last {
                    still += 1;
                } else {
                    (last, still) = (stats.sent_bytes, 0);
                }
            }
        }
        assert!(Instant::now() < deadline, "the socket never filled");
    }
    assert!(
        sent < 31,
        "the kernel took {sent} MiB: nothing left to overtake"
    );
    let urgent = SendOptions {
        priority: Priority::High,
        ..SendOptions::default()
    };
    host.send_with(channel, MessageKind::Text, "urgent", &urgent)
        .unwrap();
    host.flush();
    // Now the client reads everything.
    let mut bulk_before = 0;
    let mut received = 0;
    while received < 33 {
        match client.read().unwrap() {
            Message::Text(text) => {
                assert_eq!(text.as_str(), "urgent");
                bulk_before = received;
                received += 1;
            }
            Message::Binary(data) => {
                assert_eq!(data.len(), MIB);
                received += 1;
            }
            _ => {}
        }
        host.flush();
    }
    // Before it: the messages written whole, and at most the one being
    // written when it was queued.
    assert!(
        bulk_before as u64 <= sent + 1,
        "{bulk_before} bulk messages came first; {sent} were written whole when it was queued"
    );
    host.shutdown(Duration::from_secs(1));
}

#[test]
fn stats_move_as_the_client_reads_and_time_the_round_trip() {
    let mut host = IpcHost::start().unwrap();
    let address = common::listen_directly(&mut host, ListenOptions::default());
    let client = std::thread::spawn(move || connect(address, "/"));
    let channel = next_opened(&mut host).channel;
    let mut client = client.join().unwrap();
    let stats = |host: &mut IpcHost| -> ChannelStats {
        host.channel_stats(7, channel);
        match host.poll_event() {
            Some(Event::ChannelStats(stats)) => stats,
            other => panic!("expected the stats first, got {other:?}"),
        }
    };
    let before = stats(&mut host);
    assert!(before.open);
    assert_eq!((before.user_id, before.channel), (7, channel));
    assert_eq!((before.queued_messages, before.sent_messages), (0, 0));
    // 8 MiB to a client that does not read: some of it stays queued.
    for _ in 0..8 {
        host.send(channel, MessageKind::Binary, vec![1u8; MIB])
            .unwrap();
    }
    host.flush();
    std::thread::sleep(Duration::from_millis(200));
    let stuck = stats(&mut host);
    assert!(stuck.queued_messages > 0, "{stuck:?}");
    assert!(stuck.queued_bytes > 0, "{stuck:?}");
    // The client reads it all; the queue empties and the pings it answers
    // while reading time the round trip.
    let mut read = 0;
    while read < 8 {
        match client.read().unwrap() {
            Message::Binary(_) => read += 1,
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let deadline = Instant::now() + common::WAIT;
    let done = loop {
        host.flush();
        let now = stats(&mut host);
        if now.sent_messages == 8 && now.round_trip.is_some() {
            break now;
        }
        assert!(Instant::now() < deadline, "stats never settled: {now:?}");
        // The client answers pings when it reads.
        assert!(read_briefly(&mut client), "the client was closed");
    };
    assert_eq!((done.queued_messages, done.queued_bytes), (0, 0));
    assert_eq!(done.sent_bytes, 8 * MIB as u64);
    let unknown = {
        host.channel_stats(7, ChannelId(u64::MAX));
        host.poll_event()
    };
    assert!(
        matches!(
            unknown,
            Some(Event::ChannelStats(ChannelStats { open: false, .. }))
        ),
        "{unknown:?}"
    );
    host.shutdown(Duration::from_secs(1));
}

/// Reads for a moment (answering pings); true unless the connection ended.
fn read_briefly(client: &mut common::Client) -> bool {
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = client.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
    }
    let result = client.read();
    common::set_timeout(client);
    match result {
        Ok(Message::Close(_)) => false,
        Err(tungstenite::Error::Io(_)) | Ok(_) => true,
        Err(_) => false,
    }
}

#[test]
fn also_to_reaches_every_channel_in_order_and_skips_unknown_ones() {
    let mut host = IpcHost::start().unwrap();
    let address = common::listen_directly(&mut host, ListenOptions::default());
    let mut clients = Vec::new();
    let mut channels = Vec::new();
    for _ in 0..3 {
        let client = std::thread::spawn(move || connect(address, "/"));
        channels.push(next_opened(&mut host).channel);
        clients.push(client.join().unwrap());
    }
    let others = [channels[1], ChannelId(u64::MAX), channels[2]];
    for index in 0..5u8 {
        let options = SendOptions {
            also_to: &others,
            ..SendOptions::default()
        };
        host.send_with(channels[0], MessageKind::Binary, vec![index; 100], &options)
            .unwrap();
    }
    host.flush();
    for client in &mut clients {
        for index in 0..5u8 {
            match client.read().unwrap() {
                Message::Binary(data) => assert_eq!(&data[..], &[index; 100][..]),
                other => panic!("{other:?}"),
            }
        }
    }
    host.shutdown(Duration::from_secs(1));
}

#[test]
fn two_tokens_give_two_roles_and_a_wrong_token_gets_401() {
    let mut host = IpcHost::start().unwrap();
    let mut options = ListenOptions::default();
    options.tokens = vec![
        TokenGrant::new("editor-s3cret-0123456789", "editor"),
        TokenGrant::new("viewer-s3cret-0123456789", "viewer"),
    ];
    let address = common::listen_directly(&mut host, options);
    for (token, role) in [
        ("editor-s3cret-0123456789", "editor"),
        ("viewer-s3cret-0123456789", "viewer"),
    ] {
        let client = std::thread::spawn(move || connect(address, &format!("/ws?token={token}")));
        let opened = next_opened(&mut host);
        assert_eq!(opened.role.as_deref(), Some(role));
        assert_eq!(opened.path, "/ws", "the token is not shown to agents");
        drop(client.join().unwrap());
    }
    let refused = common::connect_with(address, "/ws?token=guess", &[]);
    assert_eq!(refused.err(), Some(401));
    let bearer = common::connect_with(
        address,
        "/ws",
        &[("authorization", "Bearer viewer-s3cret-0123456789")],
    );
    assert!(bearer.is_ok());
    assert_eq!(next_opened(&mut host).role.as_deref(), Some("viewer"));
    host.shutdown(Duration::from_secs(1));
}

#[test]
fn a_port_without_tokens_reports_no_role_and_bad_grants_are_refused() {
    let mut host = IpcHost::start().unwrap();
    let address = common::listen_directly(&mut host, ListenOptions::default());
    let client = std::thread::spawn(move || connect(address, "/"));
    assert_eq!(next_opened(&mut host).role, None);
    drop(client.join().unwrap());
    for grant in [
        TokenGrant::new("has space", "editor"),
        TokenGrant::new("fine-token", "bad/role"),
        TokenGrant::new("", "editor"),
    ] {
        let mut options = ListenOptions::default();
        options.tokens = vec![grant];
        assert!(options.validate().is_err());
    }
    assert_eq!(
        TokenGrant::parse_list("editor:e-1, viewer:v-2").unwrap(),
        [
            TokenGrant::new("e-1", "editor"),
            TokenGrant::new("v-2", "viewer")
        ]
    );
    assert!(TokenGrant::parse_list("no-colon").is_err());
    host.shutdown(Duration::from_secs(1));
}
