//! The data path under load: a client that sends faster than the game takes
//! is slowed down (the host stops reading its socket), never closed and
//! never buffered beyond its share; channels are served in turn; a client
//! that reads is never closed, whatever the frame rate; one that stops
//! reading, or never finishes a message, is closed with 1008.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect, Game, Mode};
use fiasco_ipc_core::{
    ClosedBy, Event, FrameBudget, HostOptions, IpcHost, ListenOptions, MessageKind,
};
use tungstenite::Message;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

#[test]
fn a_fast_sender_is_slowed_down_within_its_share_and_loses_nothing() {
    // A game that does not poll at first: the client's messages pile up to
    // the channel's share, then the host stops reading its socket.
    let mut host = IpcHost::start().unwrap();
    let mut options = ListenOptions::default();
    options.limits.max_message_size = 64 * KIB;
    options.limits.max_inbound_bytes = 2 * MIB;
    let share = options.limits.max_inbound_bytes;
    let address = common::listen_directly(&mut host, options);
    const COUNT: usize = 400; // 25 MiB: far more than the share and the socket buffers
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = {
        let sent = Arc::clone(&sent);
        std::thread::spawn(move || {
            let mut client = connect(address, "/");
            for i in 0..COUNT {
                let mut payload = vec![(i % 251) as u8; 64 * KIB - 8];
                payload[..8].copy_from_slice(&(i as u64).to_le_bytes());
                client.send(Message::binary(payload)).unwrap();
                sent.store(i + 1, Ordering::Release);
            }
            client
        })
    };
    // The host fills the share (plus one read buffer at most) and stops.
    let deadline = Instant::now() + common::WAIT;
    while host.inbound_bytes() < share - 64 * KIB {
        assert!(
            Instant::now() < deadline,
            "the share never filled: {}",
            host.inbound_bytes()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let bound = share + 16 * KIB;
    assert!(
        host.inbound_bytes() <= bound,
        "{} held",
        host.inbound_bytes()
    );
    assert!(
        sent.load(Ordering::Acquire) < COUNT,
        "TCP pushed back on the client"
    );
    // Now the game takes everything: every message, in order, none lost, and
    // the host never held more than the share.
    let mut next = 0u64;
    let mut most_held = 0;
    while next < COUNT as u64 {
        most_held = most_held.max(host.inbound_bytes());
        match host.poll_event() {
            Some(Event::Message(fiasco_ipc_core::Message { data, .. })) => {
                assert_eq!(u64::from_le_bytes(data[..8].try_into().unwrap()), next);
                next += 1;
            }
            Some(Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { reason, .. })) => {
                panic!("closed: {reason}")
            }
            Some(_) => {}
            None => {
                host.flush();
                assert!(
                    Instant::now() < deadline + common::WAIT,
                    "stalled at {next}"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    assert!(most_held <= bound, "held {most_held} > {bound}");
    let _client = writer.join().unwrap();
    host.flush();
    assert_eq!(host.inbound_bytes(), 0, "everything taken, nothing counted");
}

#[test]
fn a_quiet_channel_is_served_in_turn_with_a_flooding_one() {
    let mut options = HostOptions::default();
    options.frame_budget = FrameBudget::new(4, 16 * MIB);
    let game = Game::start_with(Mode::Record, Duration::from_millis(2), options);
    let address = game.listen(1, 0, ListenOptions::default());
    let flooding = std::thread::spawn(move || {
        let mut client = connect(address, "/flood");
        // Far more than the game takes while the quiet message is on its way.
        for i in 0..4000u32 {
            if client
                .send(Message::binary(i.to_le_bytes().to_vec()))
                .is_err()
            {
                break;
            }
        }
        client
    });
    let flood = game.opened(0);
    let floods = |game: &Game| {
        game.count(|event| matches!(event, Event::Message(fiasco_ipc_core::Message { channel, .. }) if *channel == flood))
    };
    let deadline = Instant::now() + common::WAIT;
    while floods(&game) < 100 {
        assert!(Instant::now() < deadline, "no flood");
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut quiet = connect(address, "/quiet");
    let quiet_channel = game.opened(1);
    let before = floods(&game);
    quiet.send(Message::text("hello")).unwrap();
    game.wait_for(
        "the quiet message",
        |event| matches!(event, Event::Message(fiasco_ipc_core::Message { channel, .. }) if *channel == quiet_channel),
    );
    let during = floods(&game) - before;
    // In turn: a few frames of 4 messages. First come, first served would
    // deliver the thousands of flood messages queued ahead of it first.
    assert!(during <= 60, "{during} flood messages went first");
    drop(flooding.join().unwrap());
}

#[test]
fn a_client_that_reads_is_never_closed_at_a_slow_frame_rate() {
    // Four frames a second; 8 MiB messages echoed: the echoes of a frame are
    // far more than any socket buffer, yet the client, which reads while it
    // sends (as a browser does), gets them all. Nothing here depends on how
    // fast the machine is: a loaded one only makes the test take longer.
    let game = Game::start_with(
        Mode::Echo,
        Duration::from_millis(250),
        HostOptions::default(),
    );
    let address = game.listen(1, 0, ListenOptions::default());
    const COUNT: usize = 12;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        use futures_util::{SinkExt, StreamExt};
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/"))
            .await
            .unwrap();
        let (mut sink, mut stream) = socket.split();
        let writer = tokio::spawn(async move {
            for i in 0..COUNT {
                sink.send(tokio_tungstenite::tungstenite::Message::binary(vec![
                    i as u8;
                    8 * MIB
                ]))
                .await
                .unwrap();
            }
            sink
        });
        for i in 0..COUNT {
            match stream.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(data))) => {
                    assert_eq!(data.len(), 8 * MIB);
                    assert_eq!(data[0], i as u8, "in order");
                }
                other => panic!("echo {i}: {other:?}"),
            }
        }
        let mut sink = writer.await.unwrap();
        let channel = game.opened(0);
        sink.send(tokio_tungstenite::tungstenite::Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
                reason: "done".into(),
            },
        )))
        .await
        .unwrap();
        // Exactly one ChannelClosed per channel: this one says the client
        // closed it, so the host never did, at any point before.
        match game.closed(channel) {
            Event::ChannelClosed(fiasco_ipc_core::ChannelClosed {
                closed_by, code, ..
            }) => assert_eq!((closed_by, code), (ClosedBy::Remote, 1000)),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_client_that_stops_reading_is_closed_with_1008_after_the_write_timeout() {
    let game = Game::start(Mode::Record);
    let mut options = ListenOptions::default();
    options.limits.write_timeout = Duration::from_millis(300);
    let address = game.listen(1, 0, options);
    let client = connect(address, "/"); // never reads
    let channel = game.opened(0);
    // 16 MiB: within the outbound limits, far beyond the socket buffers.
    game.request(move |host| {
        for _ in 0..2 {
            let _ = host.send(channel, MessageKind::Binary, vec![0u8; 8 * MIB]);
        }
    });
    let started = Instant::now();
    let (closed_by, code, reason) = game.closed_parts(channel);
    assert_eq!((closed_by, code), (ClosedBy::HostLimit, 1008), "{reason}");
    assert!(reason.contains("no write progress"), "{reason}");
    assert!(started.elapsed() < common::WAIT);
    drop(client);
}

#[test]
fn a_message_that_never_ends_is_closed_with_1008() {
    let game = Game::start(Mode::Record);
    let mut options = ListenOptions::default();
    options.limits.message_timeout = Duration::from_millis(300);
    let address = game.listen(1, 0, options);
    let mut client = connect(address, "/");
    // A binary frame announcing 1 MiB, of which only 1 KiB ever comes.
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(MIB as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]); // mask key
    frame.extend_from_slice(&[0u8; KIB]);
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = client.get_mut() {
        let mut stream: &TcpStream = stream;
        stream.write_all(&frame).unwrap();
    }
    let channel = game.opened(0);
    let (closed_by, code, reason) = game.closed_parts(channel);
    assert_eq!((closed_by, code), (ClosedBy::HostLimit, 1008), "{reason}");
    assert!(reason.contains("not finished"), "{reason}");
    assert_eq!(common::read_close(&mut client).0, 1008);
}
