//! The channel's state machine driven by hand: an in-memory socket, the
//! time passed in, no runtime. What the paused-clock harness cannot reach
//! (the client role's backpressure, exact write progress) is tested here.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tungstenite::protocol::{Role, WebSocketContext};
use tungstenite::Message;

use super::{ChannelState, Closed, Outbound};
use crate::bridge::{ChannelShared, HostShared, OutboundMessage};
use crate::harness::Socket;
use crate::meter::Meter;
use crate::options::{HostOptions, Limits};
use crate::types::{ClosedBy, MessageKind, Priority};

const SECOND: Duration = Duration::from_secs(1);

/// The peer's side of the bytes (its tungstenite context is beside it).
struct Peer {
    /// Bytes the machine wrote, not yet read by the peer.
    unread: VecDeque<u8>,
    /// Bytes the peer wrote, not yet given to the machine.
    written: Vec<u8>,
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.unread.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.unread.read(buf)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Pair {
    state: ChannelState,
    socket: Socket,
    /// The peer: a tungstenite context of the other role.
    peer_ws: WebSocketContext,
    peer: Peer,
    shared: Arc<ChannelShared>,
    host: Arc<HostShared>,
    received: Vec<(MessageKind, Bytes)>,
    start: Instant,
}

impl Pair {
    fn new(role: Role, limits: Limits, room: usize) -> Self {
        let host = Arc::new(HostShared::new(&HostOptions::default()));
        Self::with_host(role, limits, room, host)
    }

    fn with_host(role: Role, limits: Limits, room: usize, host: Arc<HostShared>) -> Self {
        let shared = Arc::new(ChannelShared::new(limits));
        let meter = Meter::new(Arc::clone(&shared), Arc::clone(&host));
        let start = Instant::now();
        let peer_role = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        Self {
            state: ChannelState::new(role, limits, meter, start),
            socket: Socket {
                room,
                ..Socket::default()
            },
            peer_ws: WebSocketContext::new(peer_role, None),
            peer: Peer {
                unread: VecDeque::new(),
                written: Vec::new(),
            },
            shared,
            host,
            received: Vec::new(),
            start,
        }
    }

    /// One driver step at `at` after the start: write, read, write.
    fn step(&mut self, at: Duration) {
        let now = self.start + at;
        let received = &mut self.received;
        if self.state.wants_write() {
            self.state.handle_write(now, &mut self.socket);
        }
        self.state.handle_read(
            now,
            &mut self.socket,
            &mut |kind, data: Bytes| {
                let len = data.len();
                ((kind, data), len)
            },
            &mut |message| received.push(message),
        );
        if self.state.wants_write() {
            self.state.handle_write(now, &mut self.socket);
        }
    }

    /// Runs the due timers at `at`, then a step.
    fn tick(&mut self, at: Duration) {
        let now = self.start + at;
        if self.state.poll_timeout().is_some_and(|due| due <= now) {
            self.state.handle_timeout(now);
        }
        self.step(at);
    }

    /// The peer sends a message (its bytes reach the machine's socket).
    fn peer_sends(&mut self, message: Message) {
        let _ = self.peer_ws.write(&mut self.peer, message);
        let _ = self.peer_ws.flush(&mut self.peer);
        let bytes = std::mem::take(&mut self.peer.written);
        self.socket.incoming.extend(bytes);
    }

    /// The peer takes up to `limit` bytes the machine wrote, and reads
    /// every message they complete (answering pings and closes).
    fn peer_reads(&mut self, limit: usize) -> Vec<Message> {
        let n = limit.min(self.socket.outgoing.len());
        self.peer.unread.extend(self.socket.outgoing.drain(..n));
        let mut messages = Vec::new();
        while let Ok(message) = self.peer_ws.read(&mut self.peer) {
            messages.push(message);
        }
        let answers = std::mem::take(&mut self.peer.written);
        self.socket.incoming.extend(answers);
        messages
    }

    /// Queues a message of `priority`, keyed when `key` is not 0 (the
    /// game's side of a keyed send: replace the waiting value, or take a
    /// place in the queue).
    fn queue_as(&mut self, data: Vec<u8>, priority: Priority, key: u64) {
        let (message, _) = OutboundMessage::charge(
            MessageKind::Binary,
            Bytes::from(data),
            &self.shared,
            &self.host,
        );
        let now = self.start;
        if key == 0 {
            self.state
                .handle_outbound(now, Outbound::Message(message, priority));
        } else if self.shared.keyed().slots.insert(key, message).is_none() {
            self.state
                .handle_outbound(now, Outbound::Keyed(key, priority));
        }
    }

    /// The first byte of every binary message the peer reads.
    fn peer_reads_firsts(&mut self) -> Vec<u8> {
        self.peer_reads(usize::MAX)
            .into_iter()
            .filter_map(|message| match message {
                Message::Binary(data) => Some(data[0]),
                _ => None,
            })
            .collect()
    }

    fn queue(&mut self, data: Vec<u8>) {
        let (message, _) = OutboundMessage::charge(
            MessageKind::Binary,
            Bytes::from(data),
            &self.shared,
            &self.host,
        );
        let now = self.start;
        self.state
            .handle_outbound(now, Outbound::Message(message, Priority::Normal));
    }

    fn closed(&mut self) -> Option<Closed> {
        self.state.poll_closed()
    }
}

#[test]
fn messages_go_out_whole_and_in_order_and_release_their_bytes() {
    let mut pair = Pair::new(Role::Server, Limits::default(), usize::MAX);
    pair.queue(vec![1; 10]);
    pair.queue(vec![2; 3 << 20]);
    pair.queue(Vec::new());
    pair.step(Duration::ZERO);
    let messages = pair.peer_reads(usize::MAX);
    let sizes: Vec<_> = messages.iter().map(|m| m.len()).collect();
    assert_eq!(sizes, [10, 3 << 20, 0]);
    assert_eq!(pair.host.outbound.used(), 0);
    assert!(!pair.state.wants_write());
}

#[test]
fn a_peer_message_is_delivered_and_charged_until_taken() {
    let mut pair = Pair::new(Role::Server, Limits::default(), usize::MAX);
    pair.peer_sends(Message::text("hello"));
    pair.peer_sends(Message::binary(vec![7; 100]));
    pair.step(Duration::ZERO);
    assert_eq!(pair.received.len(), 2);
    assert_eq!(pair.received[0], (MessageKind::Text, Bytes::from("hello")));
    assert_eq!(pair.host.inbound.used(), 105, "both wait for the game");
    assert_eq!(pair.shared.held().messages, 2);
}

#[test]
fn a_silent_peer_is_pinged_then_closed_at_exact_times() {
    let mut pair = Pair::new(Role::Server, Limits::default(), usize::MAX);
    let idle = Limits::default().idle_timeout;
    assert_eq!(pair.state.poll_timeout(), Some(pair.start + idle));
    pair.tick(idle - Duration::from_millis(1));
    assert!(
        pair.peer_reads(usize::MAX).is_empty(),
        "nothing before the idle timeout"
    );
    pair.tick(idle);
    assert!(matches!(
        pair.peer_reads(usize::MAX)[..],
        [Message::Ping(_)]
    ));
    // The peer's automatic pong is not given back: it stays silent.
    pair.socket.incoming.clear();
    pair.tick(2 * idle);
    let closing = pair.peer_reads(usize::MAX);
    assert!(matches!(closing[..], [Message::Close(Some(ref f))] if u16::from(f.code) == 1001));
    pair.socket.incoming.clear();
    pair.tick(2 * idle + SECOND);
    assert_eq!(
        pair.closed().map(|c| (c.by, c.code)),
        Some((ClosedBy::HostLimit, 1001))
    );
    assert!(pair.closed().is_none(), "reported once");
}

#[test]
fn an_answered_ping_keeps_the_channel_open() {
    let mut pair = Pair::new(Role::Server, Limits::default(), usize::MAX);
    let idle = Limits::default().idle_timeout;
    for period in 1..=5 {
        pair.tick(idle * period);
        let _ = pair.peer_reads(usize::MAX); // the pong goes back
        pair.step(idle * period);
    }
    assert!(!pair.state.is_done());
}

#[test]
fn a_peer_that_stops_reading_is_closed_after_the_write_timeout_without_progress() {
    let limits = Limits::default();
    let mut pair = Pair::new(Role::Server, limits, 64 * 1024);
    pair.queue(vec![0; 1 << 20]);
    pair.step(Duration::ZERO);
    assert!(pair.state.wants_write());
    let due = pair.state.poll_timeout();
    assert_eq!(due, Some(pair.start + limits.write_timeout));
    // Progress at 9 s moves the deadline.
    let _ = pair.peer_reads(1000);
    pair.step(9 * SECOND);
    assert_eq!(
        pair.state.poll_timeout(),
        Some(pair.start + 9 * SECOND + limits.write_timeout)
    );
    pair.tick(9 * SECOND + limits.write_timeout);
    // The close frame cannot go inside the half-written frame: the close
    // gives up a second later.
    pair.tick(10 * SECOND + limits.write_timeout);
    let closed = pair.closed();
    assert_eq!(
        closed.as_ref().map(|c| (c.by, c.code)),
        Some((ClosedBy::HostLimit, 1008))
    );
    assert!(closed.is_some_and(|c| c.reason.contains("no write progress")));
    assert_eq!(
        pair.host.outbound.used(),
        0,
        "the queue's bytes are released"
    );
}

#[test]
fn a_close_waits_for_the_fragment_being_written_then_goes_before_the_rest() {
    let mut pair = Pair::new(Role::Server, Limits::default(), 100);
    pair.queue(vec![5; 3 << 20]); // three fragments
    pair.queue(vec![6; 10]);
    pair.step(Duration::ZERO);
    pair.state
        .handle_shutdown(pair.start, pair.start + SECOND, "game shutting down");
    // The peer reads everything the machine writes.
    let mut messages = Vec::new();
    for _ in 0..100_000 {
        pair.step(Duration::ZERO);
        messages.extend(pair.peer_reads(usize::MAX));
        if messages.iter().any(|m| matches!(m, Message::Close(_))) {
            break;
        }
    }
    // The first fragment completed; the close came before the second; the
    // rest and the next message were dropped.
    assert!(
        matches!(messages[..], [Message::Close(Some(ref f))] if u16::from(f.code) == 1001),
        "{messages:?}"
    );
    pair.step(Duration::ZERO);
    assert_eq!(
        pair.closed().map(|c| (c.by, c.code)),
        Some((ClosedBy::HostShutdown, 1001))
    );
    assert_eq!(pair.host.outbound.used(), 0);
}

#[test]
fn a_pong_waits_between_fragments_never_inside_one() {
    let mut pair = Pair::new(Role::Server, Limits::default(), 1000);
    pair.queue(vec![5; 2 << 20]);
    pair.step(Duration::ZERO);
    pair.peer_sends(Message::Ping(Bytes::from_static(b"p")));
    let mut messages = Vec::new();
    for _ in 0..100_000 {
        pair.step(Duration::ZERO);
        messages.extend(pair.peer_reads(700));
        if messages.iter().any(|m| m.is_binary()) {
            break;
        }
    }
    // The peer got the pong (between the fragments) and the whole message.
    assert!(
        matches!(messages[..], [Message::Pong(_), Message::Binary(ref b)] if b.len() == 2 << 20),
        "{}",
        messages.len()
    );
}

#[test]
fn an_unfinished_message_is_closed_at_the_message_timeout_and_released() {
    // Idle pings come later than the message timeout here.
    let limits = Limits {
        idle_timeout: 120 * SECOND,
        ..Limits::default()
    };
    let mut pair = Pair::new(Role::Server, limits, usize::MAX);
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(1u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&[0; 1024]);
    pair.socket.incoming.extend(frame);
    pair.step(SECOND);
    assert_eq!(
        pair.state.poll_timeout(),
        Some(pair.start + SECOND + limits.message_timeout)
    );
    pair.tick(SECOND + limits.message_timeout);
    pair.tick(2 * SECOND + limits.message_timeout);
    let closed = pair.closed();
    assert_eq!(
        closed.as_ref().map(|c| (c.by, c.code)),
        Some((ClosedBy::HostLimit, 1008))
    );
    drop(pair.state);
    assert_eq!(pair.host.inbound.used(), 0, "partial bytes released");
}

#[test]
fn the_client_role_masks_its_frames_and_stops_reading_without_room() {
    // A host budget of 64 KiB and no reserve: the second message waits.
    let options = HostOptions {
        inbound_budget: 64 * 1024,
        channel_reserve: 0,
        ..HostOptions::default()
    };
    let host = Arc::new(HostShared::new(&options));
    let mut pair = Pair::with_host(Role::Client, Limits::default(), usize::MAX, host);
    pair.queue(vec![3; 200_000]);
    pair.step(Duration::ZERO);
    // The server-role peer refuses unmasked frames: it reads this whole.
    let messages = pair.peer_reads(usize::MAX);
    assert!(matches!(messages[..], [Message::Binary(ref b)] if b.len() == 200_000));
    pair.peer_sends(Message::binary(vec![1; 60 * 1024]));
    pair.peer_sends(Message::binary(vec![2; 60 * 1024]));
    pair.step(Duration::ZERO);
    assert_eq!(pair.received.len(), 1, "the second waits for room");
    assert!(pair.state.wants_room());
    // The game takes the first: the second is read.
    pair.host.taken(&pair.shared, 60 * 1024);
    pair.step(Duration::ZERO);
    assert_eq!(pair.received.len(), 2);
}

#[test]
fn a_peer_close_is_answered_and_reported_with_its_code() {
    let mut pair = Pair::new(Role::Server, Limits::default(), usize::MAX);
    pair.queue(vec![1; 10]);
    pair.peer_sends(Message::Close(Some(tungstenite::protocol::CloseFrame {
        code: 4001.into(),
        reason: "done".into(),
    })));
    pair.step(Duration::ZERO);
    let answer = pair.peer_reads(usize::MAX);
    assert!(
        answer.iter().any(|m| matches!(m, Message::Close(_))),
        "{answer:?}"
    );
    assert_eq!(
        pair.closed(),
        Some(Closed {
            by: ClosedBy::Remote,
            code: 4001,
            reason: "done".to_owned()
        })
    );
}

#[test]
fn a_connection_that_ends_without_a_close_frame_is_1006() {
    let mut pair = Pair::new(Role::Server, Limits::default(), usize::MAX);
    pair.socket.eof = true;
    pair.step(Duration::ZERO);
    assert_eq!(
        pair.closed().map(|c| (c.by, c.code)),
        Some((ClosedBy::Remote, 1006))
    );
}

#[test]
fn an_agent_close_goes_after_the_messages_queued_before_it() {
    let mut pair = Pair::new(Role::Server, Limits::default(), usize::MAX);
    pair.queue(vec![1; 10]);
    let now = pair.start;
    pair.state
        .handle_outbound(now, Outbound::Close(0, "bye".to_owned()));
    pair.queue(vec![2; 10]);
    pair.step(Duration::ZERO);
    let messages = pair.peer_reads(usize::MAX);
    assert!(
        matches!(messages[..], [Message::Binary(_), Message::Close(Some(ref f))] if u16::from(f.code) == 1000),
        "{messages:?}"
    );
    pair.step(Duration::ZERO);
    assert_eq!(
        pair.closed().map(|c| (c.by, c.code)),
        Some((ClosedBy::Agent, 1000))
    );
}

#[test]
fn a_high_priority_message_waits_only_for_the_one_being_written() {
    // Room for part of the first message only: it is being written.
    let mut pair = Pair::new(Role::Server, Limits::default(), 100 * 1024);
    for index in 0..4 {
        pair.queue_as(vec![index; 256 * 1024], Priority::Normal, 0);
    }
    pair.step(Duration::ZERO);
    pair.queue_as(vec![9; 10], Priority::High, 0);
    pair.socket.room = usize::MAX;
    pair.step(Duration::ZERO);
    let firsts = pair.peer_reads_firsts();
    assert_eq!(firsts, [0, 9, 1, 2, 3]);
}

#[test]
fn a_keyed_place_writes_its_newest_value_once() {
    let mut pair = Pair::new(Role::Server, Limits::default(), 0);
    pair.queue_as(vec![1; 10], Priority::Normal, 7);
    pair.queue_as(vec![2; 10], Priority::Normal, 0);
    // The game replaces the waiting value: the place stays first.
    let replaced = pair.shared.keyed().slots.remove(&7);
    drop(replaced);
    pair.queue_as(vec![3; 10], Priority::Normal, 7);
    assert_eq!(
        pair.shared
            .outbound_messages
            .load(std::sync::atomic::Ordering::Acquire),
        2
    );
    pair.socket.room = usize::MAX;
    pair.step(Duration::ZERO);
    let firsts = pair.peer_reads_firsts();
    assert_eq!(firsts, [3, 2], "the newest value, in the key's place");
    assert_eq!(pair.host.outbound.used(), 0, "every byte released");
    assert_eq!(
        pair.shared
            .stats
            .sent_messages
            .load(std::sync::atomic::Ordering::Acquire),
        2
    );
}

#[test]
fn a_channel_that_ends_drops_its_keyed_values_and_takes_no_more() {
    let mut pair = Pair::new(Role::Server, Limits::default(), 0);
    pair.queue_as(vec![1; 1000], Priority::Normal, 5);
    assert_eq!(pair.host.outbound.used(), 1000);
    pair.state.handle_shutdown(pair.start, pair.start, "test");
    pair.tick(SECOND);
    pair.tick(2 * SECOND);
    assert!(pair.closed().is_some());
    assert_eq!(pair.host.outbound.used(), 0, "the keyed value was released");
    assert!(pair.shared.keyed().closed);
}
