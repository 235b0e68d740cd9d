//! One open channel: a WebSocket connection between a client and the game.
//!
//! The task reads client messages into the game's queue, writes the game's
//! messages out, and ends with exactly one `ChannelClosed` event, however it
//! ends (even when the runtime drops it at shutdown).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::futures::Notified;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::bridge::{ChannelShared, EventQueue, NetEvent, Outbound, OutboundMessage};
use crate::context::{shutdown_deadline, ChannelCtx, ListenerCtx, TrackerGuard};
use crate::meter::{MessageTimeout, MeteredIo};
use crate::options::Limits;
use crate::types::{ChannelId, ClosedBy, Direction, Event, InboundMessage, MessageKind};

/// Channel ids: unique for the life of the process, never reused.
static NEXT_CHANNEL: AtomicU64 = AtomicU64::new(1);

/// How long to wait for the client's answer to our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How many queued messages to write before one flush.
const WRITE_BATCH: usize = 64;
/// Read buffer per connection: small, so idle connections stay cheap.
const READ_BUFFER: usize = 8 * 1024;
/// Outbound messages larger than this go out as fragments of this size, so
/// the write buffer stays small whatever the message size.
const FRAGMENT: usize = 64 * 1024;
/// tungstenite writes its buffer out once it holds this much...
const WRITE_BUFFER: usize = 64 * 1024;
/// ...and never holds more than this: a fragment, its header and pending
/// control frames (a ping flood's pongs are coalesced, not queued).
const MAX_WRITE_BUFFER: usize = WRITE_BUFFER + FRAGMENT + 1024;

/// Reports the channel's end exactly once, even if the task is dropped.
struct CloseReport {
    channel: ChannelId,
    user_id: u64,
    queue: Arc<EventQueue>,
    reported: bool,
}

impl CloseReport {
    fn report(&mut self, closed_by: ClosedBy, code: u16, reason: impl Into<String>) {
        if std::mem::replace(&mut self.reported, true) {
            return;
        }
        let reason = reason.into();
        tracing::debug!(channel = %self.channel, ?closed_by, code, %reason, "channel closed");
        self.queue.push(NetEvent::Event(Event::ChannelClosed {
            channel: self.channel,
            user_id: self.user_id,
            closed_by,
            code,
            reason,
        }));
    }
}

impl Drop for CloseReport {
    fn drop(&mut self) {
        self.report(ClosedBy::HostShutdown, 1006, "dropped at shutdown");
    }
}

/// How the main loop ended.
enum End {
    /// The client sent a close frame (or none, then 1005).
    Remote(u16, String),
    /// The connection dropped without a close frame.
    Dropped(String),
    /// We close, with this code and reason, as `by`.
    Close(ClosedBy, u16, String),
    /// We shut down.
    Shutdown(Instant),
}

fn wire_code(code: u16) -> u16 {
    // Codes that must never be sent on the wire become a normal close.
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

/// The close code and who is to blame for a read error.
fn classify(error: &WsError) -> Option<(ClosedBy, u16, String)> {
    match error {
        WsError::ConnectionClosed | WsError::AlreadyClosed => None,
        WsError::Io(error)
            if error
                .get_ref()
                .is_some_and(|inner| inner.is::<MessageTimeout>()) =>
        {
            Some((ClosedBy::HostLimit, 1008, error.to_string()))
        }
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

/// The WebSocket settings of a channel with these limits.
pub(crate) fn config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(limits.max_message_size))
        .max_frame_size(Some(limits.max_frame_size))
}

/// A new channel id, never used before.
pub(crate) fn next_channel() -> ChannelId {
    ChannelId(NEXT_CHANNEL.fetch_add(1, Ordering::Relaxed))
}

/// What `ConnectionOpened` says of a new channel.
pub(crate) struct Opened {
    pub(crate) channel: ChannelId,
    pub(crate) peer: SocketAddr,
    pub(crate) path: String,
    pub(crate) origin: Option<String>,
    pub(crate) direction: Direction,
}

/// Runs an accepted client's channel to its end.
pub(crate) async fn run<IO>(
    io: IO,
    peer: SocketAddr,
    path: String,
    origin: Option<String>,
    ctx: Arc<ListenerCtx>,
    _permit: OwnedSemaphorePermit,
    _guard: TrackerGuard,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let limits = ctx.options.limits;
    let shared = Arc::new(ChannelShared::new(limits));
    let io = MeteredIo::new(io, Arc::clone(&shared), Arc::clone(&ctx.host));
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config(&limits))).await;
    let opened = Opened {
        channel: next_channel(),
        peer,
        path,
        origin,
        direction: Direction::Inbound,
    };
    serve(ws, shared, opened, None, &ctx.channel()).await;
}

/// Runs an open channel, either way, to its end: reports it opened (then
/// `after_open`, when given), pumps messages both ways, closes, and reports
/// it closed exactly once.
pub(crate) async fn serve<IO>(
    mut ws: WebSocketStream<MeteredIo<IO>>,
    shared: Arc<ChannelShared>,
    opened: Opened,
    after_open: Option<Event>,
    ctx: &ChannelCtx<'_>,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let Opened {
        channel,
        peer,
        path,
        origin,
        direction,
    } = opened;
    let (sender, mut outbound) = mpsc::unbounded_channel();
    ctx.channels
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(channel, sender);
    let mut report = CloseReport {
        channel,
        user_id: ctx.user_id,
        queue: Arc::clone(ctx.queue),
        reported: false,
    };
    tracing::debug!(%channel, %peer, %path, ?direction, "channel opened");
    ctx.queue.push(NetEvent::Opened(
        Event::ConnectionOpened {
            channel,
            user_id: ctx.user_id,
            port: ctx.port,
            peer,
            path,
            origin,
            direction,
        },
        Arc::clone(&shared),
    ));
    if let Some(event) = after_open {
        ctx.queue.push(NetEvent::Event(event));
    }

    let end = pump(&mut ws, &mut outbound, &shared, ctx, channel).await;
    ctx.channels
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&channel);
    match end {
        End::Remote(code, reason) => {
            // Let tungstenite send its answer to the client's close frame.
            drain_until_closed(&mut ws, Instant::now() + CLOSE_TIMEOUT).await;
            report.report(ClosedBy::Remote, code, reason);
        }
        End::Dropped(reason) => report.report(ClosedBy::Remote, 1006, reason),
        End::Close(by, code, reason) => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(Some(close_frame(code, &reason))))
                .await;
            drain_until_closed(&mut ws, Instant::now() + CLOSE_TIMEOUT).await;
            report.report(by, wire_code(code), reason);
        }
        End::Shutdown(deadline) => {
            let reason = "game shutting down";
            let _ =
                tokio::time::timeout_at(deadline, ws.close(Some(close_frame(1001, reason)))).await;
            drain_until_closed(&mut ws, deadline).await;
            report.report(ClosedBy::HostShutdown, 1001, reason);
        }
    }
}

/// Reads (and drops) until the client's close frame or the deadline.
async fn drain_until_closed<IO: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<IO>,
    deadline: Instant,
) {
    let _ = tokio::time::timeout_at(deadline, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

async fn pump<IO: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<MeteredIo<IO>>,
    outbound: &mut mpsc::UnboundedReceiver<Outbound>,
    shared: &ChannelShared,
    ctx: &ChannelCtx<'_>,
    channel: ChannelId,
) -> End {
    let limits = shared.limits;
    // Made once per connection, not once per message: both end the channel.
    let mut shutdown_watch = ctx.shutdown.clone();
    let shutting_down = shutdown_deadline(&mut shutdown_watch);
    tokio::pin!(shutting_down);
    let given_up = shared.outbound_full.notified();
    tokio::pin!(given_up);
    // For the write steps, which watch the shutdown too.
    let mut shutdown = ctx.shutdown.clone();
    let idle = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(idle);
    let mut pinged = false;
    loop {
        tokio::select! {
            biased;
            deadline = &mut shutting_down => {
                return End::Shutdown(deadline);
            }
            () = &mut given_up => {
                return outbound_full();
            }
            command = outbound.recv() => {
                let Some(command) = command else {
                    return End::Close(ClosedBy::HostShutdown, 1001, "host stopped".to_owned());
                };
                if let Some(end) = write(ws, command, outbound, shared, &mut shutdown, given_up.as_mut()).await {
                    return end;
                }
            }
            message = ws.next() => {
                idle.as_mut().reset(Instant::now() + limits.idle_timeout);
                pinged = false;
                let message = match message {
                    None => return End::Dropped("connection closed without a close frame".to_owned()),
                    Some(Ok(message)) => message,
                    Some(Err(error)) => return match classify(&error) {
                        None => End::Dropped("connection closed".to_owned()),
                        Some((ClosedBy::Remote, _, reason)) => End::Dropped(reason),
                        Some((by, code, reason)) => End::Close(by, code, reason),
                    },
                };
                let (kind, data) = match message {
                    Message::Text(text) => (MessageKind::Text, bytes::Bytes::from(text)),
                    Message::Binary(data) => (MessageKind::Binary, data),
                    Message::Close(frame) => {
                        ws.get_mut().message_done(0);
                        let (code, reason) = frame.map_or((1005, String::new()), |frame| (u16::from(frame.code), frame.reason.to_string()));
                        return End::Remote(code, reason);
                    }
                    // Pings are answered by tungstenite; pongs only prove life.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                        ws.get_mut().message_done(0);
                        continue;
                    }
                };
                let event = inbound_event(ctx, channel, kind, data);
                // Counted before the game can see (and release) it.
                ws.get_mut().message_done(event.held_bytes());
                ctx.queue.push(NetEvent::Event(event));
            }
            () = &mut idle => {
                if pinged {
                    return End::Close(ClosedBy::HostLimit, 1001, "idle timeout: no answer to ping".to_owned());
                }
                pinged = true;
                idle.as_mut().reset(Instant::now() + limits.idle_timeout);
                match within(ws.send(Message::Ping(bytes::Bytes::new())), shared, &mut shutdown, given_up.as_mut()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return End::Dropped("connection lost while pinging".to_owned()),
                    Err(end) => return end,
                }
            }
        }
    }
}

/// A client message as the game gets it: encoded on this thread when the
/// host has an encoder, the payload then a view into the encoded event.
fn inbound_event(
    ctx: &ChannelCtx<'_>,
    channel: ChannelId,
    kind: MessageKind,
    data: bytes::Bytes,
) -> Event {
    let user_id = ctx.user_id;
    let encoded = ctx.encoder.as_ref().and_then(|encoder| {
        encoder.encode(&InboundMessage {
            channel,
            user_id,
            kind,
            payload: &data,
        })
    });
    match encoded {
        Some(encoded)
            if encoded.payload.start <= encoded.payload.end
                && encoded.payload.end <= encoded.event.len() =>
        {
            Event::Message {
                channel,
                user_id,
                kind,
                data: encoded.event.slice(encoded.payload.clone()),
                encoded: Some(encoded.event),
            }
        }
        _ => Event::Message {
            channel,
            user_id,
            kind,
            data,
            encoded: None,
        },
    }
}

fn outbound_full() -> End {
    End::Close(
        ClosedBy::HostLimit,
        1008,
        "client reads too slowly: outbound queue full".to_owned(),
    )
}

/// Runs one write step, unless the client makes no progress for
/// `write_timeout` (it stopped reading), the game gives up on the channel,
/// or the host shuts down: then how the channel ends.
async fn within<F>(
    step: F,
    shared: &ChannelShared,
    shutdown: &mut tokio::sync::watch::Receiver<Option<Instant>>,
    given_up: Pin<&mut Notified<'_>>,
) -> Result<Result<(), WsError>, End>
where
    F: std::future::Future<Output = Result<(), WsError>>,
{
    let limits: &Limits = &shared.limits;
    tokio::select! {
        biased;
        deadline = shutdown_deadline(shutdown) => Err(End::Shutdown(deadline)),
        () = given_up => Err(outbound_full()),
        result = tokio::time::timeout(limits.write_timeout, step) => match result {
            Ok(result) => Ok(result),
            Err(_) => Err(End::Close(
                ClosedBy::HostLimit,
                1008,
                format!("client reads too slowly: no write progress for {:?}", limits.write_timeout),
            )),
        },
    }
}

/// Writes one command and whatever else is queued (up to a batch), then
/// flushes once. Returns how the channel ends, if it does.
async fn write<IO: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<MeteredIo<IO>>,
    first: Outbound,
    outbound: &mut mpsc::UnboundedReceiver<Outbound>,
    shared: &ChannelShared,
    shutdown: &mut tokio::sync::watch::Receiver<Option<Instant>>,
    mut given_up: Pin<&mut Notified<'_>>,
) -> Option<End> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(command) = next.take() {
        match command {
            Outbound::Close(code, reason) => {
                let code = if code == 0 { 1000 } else { code };
                return Some(End::Close(ClosedBy::Agent, code, reason));
            }
            Outbound::Message(message) => {
                if message.kind == MessageKind::Text && std::str::from_utf8(&message.data).is_err()
                {
                    return Some(End::Close(
                        ClosedBy::HostError,
                        1011,
                        "an agent sent invalid UTF-8 as text".to_owned(),
                    ));
                }
                if let Some(end) =
                    send_message(ws, &message, shared, shutdown, given_up.as_mut()).await
                {
                    return Some(end);
                }
                // Dropping it releases its bytes from the outbound counts.
                drop(message);
                written += 1;
            }
        }
        if written < WRITE_BATCH {
            next = outbound.try_recv().ok();
        }
    }
    match within(ws.flush(), shared, shutdown, given_up).await {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(End::Dropped(format!("write failed: {error}"))),
        Err(end) => Some(end),
    }
}

/// Feeds one message, in fragments of at most [`FRAGMENT`] bytes (views of
/// the message, not copies).
async fn send_message<IO: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<MeteredIo<IO>>,
    message: &OutboundMessage,
    shared: &ChannelShared,
    shutdown: &mut tokio::sync::watch::Receiver<Option<Instant>>,
    mut given_up: Pin<&mut Notified<'_>>,
) -> Option<End> {
    let data = &message.data;
    let first = match message.kind {
        MessageKind::Text => OpData::Text,
        MessageKind::Binary => OpData::Binary,
    };
    let mut start = 0;
    loop {
        let end = data.len().min(start + FRAGMENT);
        let opcode = if start == 0 { first } else { OpData::Continue };
        let is_final = end == data.len();
        let mut item = Message::Frame(Frame::message(
            data.slice(start..end),
            OpCode::Data(opcode),
            is_final,
        ));
        loop {
            match within(ws.feed(item), shared, shutdown, given_up.as_mut()).await {
                Ok(Ok(())) => break,
                // Pongs a ping flood left fill the buffer: write it out, retry.
                Ok(Err(WsError::WriteBufferFull(returned))) => {
                    item = *returned;
                    match within(ws.flush(), shared, shutdown, given_up.as_mut()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => {
                            return Some(End::Dropped(format!("write failed: {error}")))
                        }
                        Err(end) => return Some(end),
                    }
                }
                Ok(Err(error)) => return Some(End::Dropped(format!("write failed: {error}"))),
                Err(end) => return Some(end),
            }
        }
        if is_final {
            return None;
        }
        start = end;
    }
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
