//! One channel's WebSocket life as a state machine, without sockets, tasks
//! or a clock (quinn-proto's shape): the driver lends it a non-blocking
//! stream for each step ([`handle_read`](ChannelState::handle_read),
//! [`handle_write`](ChannelState::handle_write)), tells it the time, and
//! sleeps until [`poll_timeout`](ChannelState::poll_timeout); the machine
//! decides everything else: which frames go out and when, pings, the idle,
//! write and message timeouts, the close handshake, the outbound queue.
//! The same machine serves inbound (server role) and outbound (client
//! role) channels.
//!
//! Frames are read and checked by tungstenite's [`WebSocketContext`] (no
//! frame codec of ours). Large data frames of the server role are written
//! by the machine itself, as a header formatted by tungstenite's
//! [`FrameHeader`] and the message's own bytes in one vectored write, so a
//! large message is never copied into a write buffer; small messages are
//! copied into tungstenite's buffer so a burst costs one write; control
//! frames (pongs, pings, close) go through tungstenite and only between
//! data frames. The client role must mask its frames, which needs a copy
//! anyway: there tungstenite writes every fragment.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Message, Utf8Bytes};

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::bridge::{ChannelShared, OutboundMessage};
use crate::budget::Gate;
use crate::meter::Meter;
use crate::options::Limits;
use crate::recorder::Tap;
use crate::types::{ClosedBy, MessageKind, Priority};

/// Most bytes the socket of a channel carrying keyed messages holds not yet
/// sent (`TCP_NOTSENT_LOWAT`): the socket takes more only below it.
/// Without it a slow reader's kernel send buffer (megabytes on loopback and
/// LANs) holds seconds of a stream, and a keyed value is stale before it
/// leaves the host: measured on loopback, a reader of 10 states a second
/// from a 60 Hz stream of 256 KiB got states 2.4 s old (p50) without it,
/// 0.6 to 1.1 s with it (the rest is in the reader's own receive buffer).
/// Only keyed channels get it: on every channel it cost bulk echo about
/// 14 % more CPU per GB (more, smaller writes), measured against the
/// previous release in the same run.
pub(crate) const NOTSENT_LOWAT: u32 = 128 * 1024;

/// Sets a channel's TCP options: no Nagle delay. Best effort.
pub(crate) fn tune_socket(stream: &tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// Sets [`NOTSENT_LOWAT`] on the channel's socket `fd`, once its first
/// keyed message is queued. Best effort: a socket that refuses it works.
/// `_owner` is the stream that owns `fd`, borrowed for the call.
#[allow(unsafe_code)] // borrowing a raw fd: socket2 needs one
pub(crate) fn keep_fresh<T: ?Sized>(fd: std::os::fd::RawFd, _owner: &T) {
    // SAFETY: `fd` is the socket under `_owner`, the channel's stream,
    // which the caller borrows for this call: the descriptor is open and
    // stays so while it is borrowed here.
    let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&socket).set_tcp_notsent_lowat(NOTSENT_LOWAT);
}

/// How long to wait for the peer's answer to a close frame.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Read buffer per connection: small, so idle connections stay cheap.
const READ_BUFFER: usize = 8 * 1024;
/// The server role writes a message in fragments of at most this size:
/// control frames (a pong, a close) wait at most for one fragment. No copy
/// is made, so the size costs no memory.
const SERVER_FRAGMENT: usize = 1024 * 1024;
/// Messages this big or bigger go out from their own bytes (server role);
/// smaller ones are copied into tungstenite's write buffer, so a burst of
/// them costs one write, not one each.
const VECTORED_FROM: usize = 32 * 1024;
/// The client role copies (masks) each fragment into tungstenite's write
/// buffer: small fragments keep that buffer small.
const CLIENT_FRAGMENT: usize = 64 * 1024;
/// tungstenite writes its buffer out once it holds this much...
const WRITE_BUFFER: usize = 64 * 1024;
/// ...and never holds more than this: a fragment, its header and pending
/// control frames (a ping flood's pongs are coalesced, not queued).
const MAX_WRITE_BUFFER: usize = WRITE_BUFFER + CLIENT_FRAGMENT + 1024;

/// The WebSocket settings of a channel with these limits.
pub(crate) fn config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(limits.max_message_size))
        .max_frame_size(Some(limits.max_frame_size))
}

/// A close code as it may go on the wire: codes that must never be sent
/// become a normal close.
pub(crate) fn wire_code(code: u16) -> u16 {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => code,
        _ => 1000,
    }
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    // A close reason is at most 123 bytes; cut on a character boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code: CloseCode::from(wire_code(code)),
        reason: Utf8Bytes::from(reason[..end].to_owned()),
    }
}

/// The close code and who is to blame for a read error; `None` when the
/// connection simply ended.
pub(crate) fn classify(error: &WsError) -> Option<(ClosedBy, u16, String)> {
    match error {
        WsError::ConnectionClosed | WsError::AlreadyClosed => None,
        WsError::Io(error) => Some((ClosedBy::Remote, 1006, format!("connection lost: {error}"))),
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some((
            ClosedBy::HostLimit,
            1009,
            format!("message of {size} bytes over the limit of {max_size}"),
        )),
        WsError::Capacity(error) => Some((ClosedBy::HostLimit, 1009, error.to_string())),
        WsError::Utf8(_) => Some((
            ClosedBy::HostError,
            1007,
            "invalid UTF-8 in a text message".to_owned(),
        )),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Some((
            ClosedBy::Remote,
            1006,
            "connection reset without a close frame".to_owned(),
        )),
        WsError::Protocol(error) => Some((
            ClosedBy::HostError,
            1002,
            format!("protocol error: {error}"),
        )),
        other => Some((ClosedBy::HostError, 1011, other.to_string())),
    }
}

/// What the game (or the host) asks of a channel, in order.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A message for the peer.
    Message(OutboundMessage, Priority),
    /// The place of a conflation key: when it comes up, the key's newest
    /// value (in [`ChannelShared::keyed`]) is written.
    Keyed(u64, Priority),
    /// An agent closes the channel with this code (0: 1000) and reason,
    /// after the messages queued before.
    Close(u16, String),
    /// An agent asked for the channel's stats: time pings for a while so
    /// the round trip is known.
    MeasureRoundTrip,
}

/// How long after a stats request the channel keeps timing pings.
const MEASURE_FOR: Duration = Duration::from_secs(10);
/// How often a timed ping goes out while measuring.
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// A place in a channel's queue.
#[derive(Debug)]
enum Queued {
    Message(OutboundMessage),
    Keyed(u64),
    Close(u16, String),
}

/// How a channel ended: reported once, as `ChannelClosed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) by: ClosedBy,
    pub(crate) code: u16,
    pub(crate) reason: String,
}

/// Where the channel is in its life.
#[derive(Debug)]
enum Phase {
    Open,
    /// Closing: our close frame is to be sent (or was), or the peer's was
    /// answered; the channel ends when the connection does, or at
    /// `deadline`, and is reported as `closed`.
    Closing {
        closed: Closed,
        deadline: Instant,
        /// Our close frame has been handed to tungstenite.
        sent: bool,
    },
    /// Ended; `reported` once [`ChannelState::poll_closed`] gave it out.
    Done {
        closed: Closed,
        reported: bool,
    },
}

/// The message being written by the server role: its fragments' headers
/// are formatted here, their payloads written from the message itself.
#[derive(Debug)]
struct Writing {
    message: OutboundMessage,
    /// Payload bytes written so far.
    sent: usize,
    /// The end of the current fragment in the payload.
    fragment_end: usize,
    /// The current fragment's header, and how much of it was written.
    header: [u8; 14],
    header_len: usize,
    header_sent: usize,
    /// Written through tungstenite's buffer (copied, masked by the client
    /// role) rather than straight from the message.
    buffered: bool,
    /// The buffered way handed its first fragment to tungstenite.
    started: bool,
}

impl Writing {
    fn new(message: OutboundMessage, buffered: bool) -> Self {
        let mut writing = Self {
            message,
            sent: 0,
            fragment_end: 0,
            header: [0; 14],
            header_len: 0,
            header_sent: 0,
            buffered,
            started: false,
        };
        writing.next_fragment();
        writing
    }

    /// Formats the header of the fragment starting at `sent`.
    fn next_fragment(&mut self) {
        let len = self.message.data.len();
        let start = self.sent;
        self.fragment_end = len.min(start + SERVER_FRAGMENT);
        let opcode = if start > 0 {
            OpData::Continue
        } else {
            match self.message.kind {
                MessageKind::Text => OpData::Text,
                MessageKind::Binary => OpData::Binary,
            }
        };
        let header = FrameHeader {
            is_final: self.fragment_end == len,
            opcode: OpCode::Data(opcode),
            ..FrameHeader::default()
        };
        let mut cursor = io::Cursor::new(&mut self.header[..]);
        // A header without a mask is at most 10 bytes: it always fits.
        let _ = header.format((self.fragment_end - start) as u64, &mut cursor);
        self.header_len = usize::try_from(cursor.position()).unwrap_or(0);
        self.header_sent = 0;
    }

    /// Between two fragments (nothing of the current one written yet).
    fn at_boundary(&self) -> bool {
        self.header_sent == 0
    }

    /// The server role: writes the current fragment's header and payload
    /// in vectored writes, straight from the message. `Ok(true)` when the
    /// whole message is written, `Ok(false)` at the end of a fragment (a
    /// control frame may go before the next).
    fn write(&mut self, io: &mut impl Write) -> io::Result<bool> {
        loop {
            let header = &self.header[self.header_sent..self.header_len];
            let payload = &self.message.data[self.sent..self.fragment_end];
            if header.is_empty() && payload.is_empty() {
                if self.fragment_end == self.message.data.len() {
                    return Ok(true);
                }
                self.next_fragment();
                return Ok(false);
            }
            let written = io.write_vectored(&[IoSlice::new(header), IoSlice::new(payload)])?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let from_header = written.min(header.len());
            self.header_sent += from_header;
            self.sent += written - from_header;
        }
    }
}

/// A message through tungstenite's buffer: each fragment copied (and
/// masked, for the client role) into it, written out as it fills.
/// `Ok(true)` when the whole message is handed over; a full socket is a
/// `WouldBlock` error, and the next call resumes at the next fragment.
fn write_buffered<IO: Read + Write>(
    ws: &mut WebSocketContext,
    wire: &mut Wire<'_, IO>,
    writing: &mut Writing,
) -> Result<bool, WsError> {
    let len = writing.message.data.len();
    while !writing.started || writing.sent < len {
        let end = len.min(writing.sent + CLIENT_FRAGMENT);
        let opcode = if writing.started {
            OpData::Continue
        } else {
            match writing.message.kind {
                MessageKind::Text => OpData::Text,
                MessageKind::Binary => OpData::Binary,
            }
        };
        let frame = Frame::message(
            writing.message.data.slice(writing.sent..end),
            OpCode::Data(opcode),
            end == len,
        );
        match ws.write(wire, Message::Frame(frame)) {
            // Buffered (and maybe written); a full socket leaves it buffered.
            Ok(()) => {}
            Err(error) if would_block(&error) => {}
            // The buffer is full: write it out, then try the fragment again.
            Err(WsError::WriteBufferFull(_)) => {
                ws.flush(wire)?;
                continue;
            }
            Err(error) => return Err(error),
        }
        writing.started = true;
        writing.sent = end;
    }
    Ok(true)
}

/// The stream as tungstenite sees it: reads only while the inbound budget
/// has room (and counted), writes only between our data frames (so a
/// control frame never lands inside one), progress noted.
struct Wire<'a, IO> {
    io: &'a mut IO,
    meter: &'a mut Meter,
    now: Instant,
    writes_allowed: bool,
    /// A read was refused for want of room.
    no_room: bool,
    /// Bytes written through this wire.
    written: usize,
}

impl<IO: Read> Read for Wire<'_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.meter.gate() != Gate::Open {
            self.no_room = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let read = self.io.read(buf)?;
        self.meter.read(read, self.now);
        Ok(read)
    }
}

impl<IO: Write> Write for Wire<'_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.writes_allowed {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let written = self.io.write(buf)?;
        self.written += written;
        Ok(written)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if !self.writes_allowed {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let written = self.io.write_vectored(bufs)?;
        self.written += written;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.writes_allowed {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.io.flush()
    }
}

fn would_block(error: &WsError) -> bool {
    matches!(error, WsError::Io(error) if error.kind() == io::ErrorKind::WouldBlock)
}

/// One channel's protocol state and timers.
#[derive(Debug)]
pub(crate) struct ChannelState {
    ws: WebSocketContext,
    role: Role,
    limits: Limits,
    meter: Meter,
    phase: Phase,
    /// Messages (and an agent's close) waiting for the socket, in order.
    queue: VecDeque<Queued>,
    /// High-priority messages: before every one in `queue`.
    urgent: VecDeque<Queued>,
    /// The keyed values and the stats counters.
    shared: Arc<ChannelShared>,
    /// The payload and send time of the ping in flight, to time its pong.
    ping_in_flight: Option<(u64, Instant)>,
    /// Timed pings go out until then (an agent asked for stats).
    measure_until: Option<Instant>,
    /// The next timed ping while measuring.
    next_measure: Option<Instant>,
    /// A keyed message was queued: the socket should hold little unsent.
    carries_keyed: bool,
    /// The message the server role is writing.
    writing: Option<Writing>,
    /// tungstenite holds bytes it could not write yet.
    unflushed: bool,
    /// When the peer was last heard from, plus the idle timeout.
    idle_deadline: Instant,
    /// A ping was sent for the current idle period.
    pinged: bool,
    /// A ping is due at the next frame boundary.
    ping_due: bool,
    /// Since when writing waits for the socket without progress.
    stalled_since: Option<Instant>,
    /// The last read stopped for want of inbound room.
    no_room: bool,
    /// Where the channel's messages are recorded, when anything records.
    tap: Option<Tap>,
}

impl ChannelState {
    /// A channel opened at `now`, in `role`, reading against `meter`.
    pub(crate) fn new(role: Role, limits: Limits, meter: Meter, now: Instant) -> Self {
        Self {
            ws: WebSocketContext::new(role, Some(config(&limits))),
            role,
            limits,
            shared: Arc::clone(meter.channel()),
            meter,
            phase: Phase::Open,
            queue: VecDeque::new(),
            urgent: VecDeque::new(),
            ping_in_flight: None,
            measure_until: None,
            next_measure: None,
            carries_keyed: false,
            writing: None,
            unflushed: false,
            idle_deadline: now + limits.idle_timeout,
            pinged: false,
            ping_due: false,
            stalled_since: None,
            no_room: false,
            tap: None,
        }
    }

    /// Records the channel's messages through `tap` (while a recording
    /// runs): received ones when complete, sent ones when they start.
    pub(crate) fn set_tap(&mut self, tap: Tap) {
        self.tap = Some(tap);
    }

    /// The inbound counts (for the driver's wake-up on room).
    pub(crate) fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Queues what the game asked, in order.
    pub(crate) fn handle_outbound(&mut self, now: Instant, outbound: Outbound) {
        if !matches!(self.phase, Phase::Open) {
            // Closing or closed: the message is dropped, which releases its
            // bytes; the channel's ChannelClosed tells the agents why.
            return;
        }
        let (queued, priority) = match outbound {
            Outbound::Message(message, priority) => (Queued::Message(message), priority),
            Outbound::Keyed(key, priority) => {
                self.carries_keyed = true;
                (Queued::Keyed(key), priority)
            }
            Outbound::Close(code, reason) => (Queued::Close(code, reason), Priority::Normal),
            Outbound::MeasureRoundTrip => {
                self.measure_until = Some(now + MEASURE_FOR);
                if self.next_measure.is_none() {
                    self.next_measure = Some(now);
                }
                return;
            }
        };
        match priority {
            Priority::High => self.urgent.push_back(queued),
            Priority::Normal => self.queue.push_back(queued),
        }
    }

    /// Whether a keyed message was ever queued on the channel.
    pub(crate) fn carries_keyed(&self) -> bool {
        self.carries_keyed
    }

    /// The next place in the queues: high priority first; a keyed place
    /// becomes its key's newest value (skipped when there is none).
    fn next_queued(&mut self) -> Option<Queued> {
        loop {
            let queued = self.urgent.pop_front().or_else(|| self.queue.pop_front())?;
            if let Queued::Keyed(key) = queued {
                if let Some(message) = self.shared.keyed().slots.remove(&key) {
                    return Some(Queued::Message(message));
                }
                continue;
            }
            return Some(queued);
        }
    }

    /// The game gave up on the channel (its outbound limit is full).
    pub(crate) fn handle_outbound_full(&mut self, now: Instant) {
        self.begin_close(
            now,
            ClosedBy::HostLimit,
            1008,
            "client reads too slowly: outbound queue full".to_owned(),
            None,
        );
    }

    /// The host shuts down: close with 1001, ending by `deadline`.
    pub(crate) fn handle_shutdown(&mut self, now: Instant, deadline: Instant, reason: &str) {
        self.begin_close(
            now,
            ClosedBy::HostShutdown,
            1001,
            reason.to_owned(),
            Some(deadline),
        );
    }

    /// Starts closing (once); the queue is dropped. The close frame goes
    /// out at the next frame boundary.
    fn begin_close(
        &mut self,
        now: Instant,
        by: ClosedBy,
        code: u16,
        reason: String,
        deadline: Option<Instant>,
    ) {
        let deadline = deadline.unwrap_or(now + CLOSE_TIMEOUT);
        match &mut self.phase {
            Phase::Open => {
                self.queue.clear();
                self.phase = Phase::Closing {
                    closed: Closed {
                        by,
                        code: wire_code(code),
                        reason,
                    },
                    deadline,
                    sent: false,
                };
            }
            // A shutdown during a close keeps the close, by the earlier
            // deadline.
            Phase::Closing {
                deadline: current, ..
            } => *current = (*current).min(deadline),
            Phase::Done { .. } => {}
        }
    }

    /// Ends the channel now.
    fn finish(&mut self, closed: Closed) {
        if !matches!(self.phase, Phase::Done { .. }) {
            self.queue.clear();
            self.urgent.clear();
            // The keyed values go too (they hold the channel's counts).
            self.shared.close_keyed();
            self.writing = None;
            self.phase = Phase::Done {
                closed,
                reported: false,
            };
        }
    }

    /// Ends the channel: the connection ended (cleanly or not).
    fn connection_ended(&mut self, dropped: Option<Closed>) {
        let closed = match std::mem::replace(&mut self.phase, Phase::Open) {
            Phase::Closing { closed, .. } => closed,
            Phase::Done { closed, reported } => {
                self.phase = Phase::Done { closed, reported };
                return;
            }
            Phase::Open => dropped.unwrap_or(Closed {
                by: ClosedBy::Remote,
                code: 1006,
                reason: "connection closed without a close frame".to_owned(),
            }),
        };
        self.finish(closed);
    }

    /// Whether the channel has ended.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done { .. })
    }

    /// How the channel ended, once, after it has.
    pub(crate) fn poll_closed(&mut self) -> Option<Closed> {
        match &mut self.phase {
            Phase::Done { closed, reported } if !*reported => {
                *reported = true;
                Some(closed.clone())
            }
            _ => None,
        }
    }

    /// The last read stopped because the inbound budget has no room: the
    /// driver waits for the game to take messages, then reads again.
    pub(crate) fn wants_room(&self) -> bool {
        self.no_room
    }

    /// Reads what the socket has (while the budget allows). Each complete
    /// message is made into what the game gets by `encode`, which also
    /// says how many bytes that holds; they are counted against the budget
    /// (until the game takes them), then the event goes to `push`.
    pub(crate) fn handle_read<IO: Read + Write, E>(
        &mut self,
        now: Instant,
        io: &mut IO,
        encode: &mut impl FnMut(MessageKind, Bytes) -> (E, usize),
        push: &mut impl FnMut(E),
    ) {
        self.no_room = false;
        while !self.is_done() {
            let mut wire = Wire {
                io: &mut *io,
                meter: &mut self.meter,
                now,
                writes_allowed: self.writing.as_ref().is_none_or(Writing::at_boundary),
                no_room: false,
                written: 0,
            };
            let result = self.ws.read(&mut wire);
            let (no_room, written) = (wire.no_room, wire.written);
            self.no_room = no_room;
            if written > 0 {
                self.stalled_since = None;
            }
            let message = match result {
                Ok(message) => message,
                Err(error) if would_block(&error) => {
                    // tungstenite may hold a pong it could not write: the
                    // next write step flushes it (a no-op when it holds
                    // nothing).
                    self.unflushed = true;
                    return;
                }
                Err(error) => {
                    self.read_failed(now, &error);
                    return;
                }
            };
            self.idle_deadline = now + self.limits.idle_timeout;
            self.pinged = false;
            let (kind, data) = match message {
                Message::Text(text) => (MessageKind::Text, Bytes::from(text)),
                Message::Binary(data) => (MessageKind::Binary, data),
                Message::Close(frame) => {
                    self.meter.message_done(0);
                    let (code, reason) = frame.map_or((1005, String::new()), |frame| {
                        (u16::from(frame.code), frame.reason.to_string())
                    });
                    if matches!(self.phase, Phase::Open) {
                        // tungstenite queued its answer; the channel ends
                        // once it is written and the connection is done.
                        self.queue.clear();
                        self.urgent.clear();
                        self.phase = Phase::Closing {
                            closed: Closed {
                                by: ClosedBy::Remote,
                                code,
                                reason,
                            },
                            deadline: now + CLOSE_TIMEOUT,
                            sent: true,
                        };
                        self.unflushed = true;
                    }
                    continue;
                }
                // A pong to our last ping times the round trip.
                Message::Pong(payload) => {
                    self.meter.message_done(0);
                    if let Some((sequence, sent)) = self.ping_in_flight {
                        if payload.as_ref() == sequence.to_be_bytes() {
                            let micros = now.saturating_duration_since(sent).as_micros();
                            let micros = u64::try_from(micros).unwrap_or(u64::MAX).max(1);
                            self.shared
                                .stats
                                .round_trip_us
                                .store(micros, Ordering::Relaxed);
                        }
                    }
                    continue;
                }
                // Pings are answered by tungstenite.
                Message::Ping(_) | Message::Frame(_) => {
                    self.meter.message_done(0);
                    continue;
                }
            };
            if !matches!(self.phase, Phase::Open) {
                // Closing: what still comes is read and dropped.
                self.meter.message_done(0);
                continue;
            }
            if let Some(tap) = &self.tap {
                tap.message(false, kind, &data);
            }
            // Counted before the game can see (and release) it.
            let (event, charge) = encode(kind, data);
            self.meter.message_done(charge);
            push(event);
        }
    }

    fn read_failed(&mut self, now: Instant, error: &WsError) {
        match classify(error) {
            None => self.connection_ended(None),
            Some((ClosedBy::Remote, code, reason)) => {
                let closed = Closed {
                    by: ClosedBy::Remote,
                    code,
                    reason,
                };
                self.connection_ended(Some(closed));
            }
            Some((by, code, reason)) => {
                if matches!(self.phase, Phase::Open) {
                    self.begin_close(now, by, code, reason, None);
                } else {
                    // An error while closing: the connection is done.
                    self.connection_ended(None);
                }
            }
        }
    }

    /// Writes what is due, in order: tungstenite's control frames between
    /// data frames, a due ping, the close frame, then queued messages.
    pub(crate) fn handle_write<IO: Read + Write>(&mut self, now: Instant, io: &mut IO) {
        let mut progressed = false;
        let blocked = self.write_steps(now, io, &mut progressed);
        if progressed {
            self.stalled_since = None;
        }
        if blocked && !self.is_done() {
            self.stalled_since.get_or_insert(now);
        } else if !blocked {
            self.stalled_since = None;
        }
    }

    /// The write loop; true when the socket would block with bytes left.
    fn write_steps<IO: Read + Write>(
        &mut self,
        now: Instant,
        io: &mut IO,
        progressed: &mut bool,
    ) -> bool {
        loop {
            if self.is_done() {
                return false;
            }
            let at_boundary = self.writing.as_ref().is_none_or(Writing::at_boundary);
            if at_boundary {
                // Control frames go first, between data frames.
                if self.ping_due {
                    self.ping_due = false;
                    // Every ping is timed: its payload says which it was.
                    let sequence = self.ping_in_flight.map_or(1, |(sequence, _)| sequence + 1);
                    self.ping_in_flight = Some((sequence, now));
                    let payload = Bytes::copy_from_slice(&sequence.to_be_bytes());
                    let result = self.with_wire(now, io, progressed, |ws, wire| {
                        ws.write(wire, Message::Ping(payload))
                    });
                    match result {
                        Ok(()) => self.unflushed = true,
                        Err(error) if would_block(&error) => self.unflushed = true,
                        Err(error) => return self.write_failed(&error),
                    }
                }
                if let Phase::Closing { closed, sent, .. } = &mut self.phase {
                    if !*sent {
                        *sent = true;
                        self.writing = None;
                        let frame = close_frame(closed.code, &closed.reason);
                        let result = self
                            .with_wire(now, io, progressed, |ws, wire| ws.close(wire, Some(frame)));
                        match result {
                            Ok(()) => self.unflushed = false,
                            Err(error) if would_block(&error) => self.unflushed = true,
                            Err(error) => return self.write_failed(&error),
                        }
                    }
                }
                if !matches!(self.phase, Phase::Open) {
                    if let Some(blocked) = self.flush(now, io, progressed) {
                        return blocked;
                    }
                    // Closing: nothing more goes out (the rest of a message
                    // being written is dropped); the peer's answer or the
                    // deadline ends the channel.
                    self.writing = None;
                    return false;
                }
            }
            if self.writing.is_none() {
                match self.next_queued() {
                    // Small messages wait in tungstenite's buffer until
                    // the queue is empty: one write for the batch.
                    None => return self.flush(now, io, progressed).unwrap_or(false),
                    Some(Queued::Close(code, reason)) => {
                        let code = if code == 0 { 1000 } else { code };
                        self.begin_close(now, ClosedBy::Agent, code, reason, None);
                        continue;
                    }
                    Some(Queued::Keyed(_)) => continue,
                    Some(Queued::Message(message)) => {
                        if message.kind == MessageKind::Text
                            && std::str::from_utf8(&message.data).is_err()
                        {
                            self.begin_close(
                                now,
                                ClosedBy::HostError,
                                1011,
                                "an agent sent invalid UTF-8 as text".to_owned(),
                                None,
                            );
                            continue;
                        }
                        // Small messages are copied into tungstenite's buffer
                        // to go out in one write with the others; the client
                        // role must mask (copy) every frame anyway.
                        if let Some(tap) = &self.tap {
                            tap.message(true, message.kind, &message.data);
                        }
                        let buffered =
                            self.role == Role::Client || message.data.len() < VECTORED_FROM;
                        self.writing = Some(Writing::new(message, buffered));
                    }
                }
            }
            let Some(mut writing) = self.writing.take() else {
                continue;
            };
            if !writing.buffered && writing.at_boundary() && self.unflushed {
                // What tungstenite holds goes before this frame.
                self.writing = Some(writing);
                if let Some(blocked) = self.flush(now, io, progressed) {
                    return blocked;
                }
                continue;
            }
            let result = if writing.buffered {
                self.unflushed = true;
                self.with_wire(now, io, progressed, |ws, wire| {
                    write_buffered(ws, wire, &mut writing)
                })
            } else {
                let before = (writing.sent, writing.header_sent);
                let result = writing.write(io).map_err(WsError::Io);
                *progressed |= before != (writing.sent, writing.header_sent);
                result
            };
            match result {
                // Dropping the message releases its bytes from the counts.
                Ok(true) => {
                    let stats = &self.shared.stats;
                    stats.sent_messages.fetch_add(1, Ordering::Relaxed);
                    let len = writing.message.data.len() as u64;
                    stats.sent_bytes.fetch_add(len, Ordering::Relaxed);
                }
                Ok(false) => self.writing = Some(writing),
                Err(error) if would_block(&error) => {
                    self.writing = Some(writing);
                    return true;
                }
                Err(error) => return self.write_failed(&error),
            }
        }
    }

    /// Writes out what tungstenite holds. `None` when it is all written;
    /// else what [`write_steps`](Self::write_steps) returns: true when the
    /// socket would block, false when the connection is gone.
    fn flush<IO: Read + Write>(
        &mut self,
        now: Instant,
        io: &mut IO,
        progressed: &mut bool,
    ) -> Option<bool> {
        if !self.unflushed {
            return None;
        }
        match self.with_wire(now, io, progressed, |ws, wire| ws.flush(wire)) {
            Ok(()) => {
                self.unflushed = false;
                None
            }
            Err(error) if would_block(&error) => Some(true),
            Err(error) => Some(self.write_failed(&error)),
        }
    }

    fn with_wire<IO: Read + Write, T>(
        &mut self,
        now: Instant,
        io: &mut IO,
        progressed: &mut bool,
        step: impl FnOnce(&mut WebSocketContext, &mut Wire<'_, IO>) -> Result<T, WsError>,
    ) -> Result<T, WsError> {
        let mut wire = Wire {
            io,
            meter: &mut self.meter,
            now,
            writes_allowed: true,
            no_room: false,
            written: 0,
        };
        let result = step(&mut self.ws, &mut wire);
        if wire.written > 0 {
            *progressed = true;
        }
        result
    }

    /// A write failed: the connection is gone. Returns false (nothing
    /// left to wait for).
    fn write_failed(&mut self, error: &WsError) -> bool {
        match error {
            // tungstenite finished the close handshake (server role).
            WsError::ConnectionClosed | WsError::AlreadyClosed => self.connection_ended(None),
            error => {
                let reason = format!("write failed: {error}");
                if matches!(self.phase, Phase::Open) {
                    self.finish(Closed {
                        by: ClosedBy::Remote,
                        code: 1006,
                        reason,
                    });
                } else {
                    self.connection_ended(None);
                }
            }
        }
        false
    }

    /// Whether the machine has something to write.
    pub(crate) fn wants_write(&self) -> bool {
        !self.is_done()
            && (self.unflushed
                || self.ping_due
                || self.writing.is_some()
                || matches!(self.phase, Phase::Closing { sent: false, .. })
                || (matches!(self.phase, Phase::Open)
                    && !(self.queue.is_empty() && self.urgent.is_empty())))
    }

    /// The next time something is due, if anything is.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |time: Instant| next = Some(next.map_or(time, |next| next.min(time)));
        match &self.phase {
            Phase::Open => {
                at(self.idle_deadline);
                if let Some(next) = self.next_measure {
                    at(next);
                }
                if let Some(started) = self.meter.started() {
                    at(started + self.limits.message_timeout);
                }
                if let Some(since) = self.stalled_since {
                    at(since + self.limits.write_timeout);
                }
            }
            Phase::Closing { deadline, .. } => at(*deadline),
            Phase::Done { .. } => {}
        }
        next
    }

    /// Acts on whatever is due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match &self.phase {
            Phase::Done { .. } => {}
            Phase::Closing {
                deadline, closed, ..
            } => {
                if now >= *deadline {
                    let closed = closed.clone();
                    self.finish(closed);
                }
            }
            Phase::Open => {
                if let Some(since) = self.stalled_since {
                    if now >= since + self.limits.write_timeout {
                        let reason = format!(
                            "client reads too slowly: no write progress for {:?}",
                            self.limits.write_timeout
                        );
                        self.begin_close(now, ClosedBy::HostLimit, 1008, reason, None);
                        return;
                    }
                }
                if let Some(started) = self.meter.started() {
                    if now >= started + self.limits.message_timeout {
                        let reason = format!(
                            "message not finished within {:?}",
                            self.limits.message_timeout
                        );
                        self.begin_close(now, ClosedBy::HostLimit, 1008, reason, None);
                        return;
                    }
                }
                if let Some(next) = self.next_measure {
                    if now >= next {
                        let measuring = self.measure_until.is_some_and(|until| now < until);
                        self.next_measure = measuring.then_some(now + MEASURE_EVERY);
                        if measuring {
                            self.ping_due = true;
                        }
                    }
                }
                if now >= self.idle_deadline {
                    if self.pinged {
                        self.begin_close(
                            now,
                            ClosedBy::HostLimit,
                            1001,
                            "idle timeout: no answer to ping".to_owned(),
                            None,
                        );
                        return;
                    }
                    self.pinged = true;
                    self.ping_due = true;
                    self.idle_deadline = now + self.limits.idle_timeout;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "channel_tests.rs"]
mod tests;
