//! The task that owns one open channel's socket: a thin driver around the
//! channel's state machine ([`ChannelState`]). It lends the machine the
//! socket for each step, tells it the time, feeds it the game's requests,
//! the shutdown and the game giving up, and sleeps until the machine's
//! next deadline or the socket's readiness. It ends with exactly one
//! `ChannelClosed` event, however it ends (even when the runtime drops it
//! at shutdown).

use std::future::Future;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::Instant;
use tungstenite::protocol::Role;

use crate::bridge::{ChannelShared, EventQueue, NetEvent};
use crate::budget::Gate;
use crate::channel::{ChannelState, Closed, Outbound, CLOSE_TIMEOUT};
use crate::context::{shutdown_deadline, ChannelCtx, ListenerCtx, TrackerGuard};
use crate::meter::Meter;
use crate::recorder::{ChannelInfo, Tap};
use crate::types::{ChannelId, ClosedBy, Direction, Event, InboundMessage, MessageKind};

/// Channel ids: unique for the life of the process, never reused.
static NEXT_CHANNEL: AtomicU64 = AtomicU64::new(1);

/// Steps of the driver loop before it yields to the other tasks.
const STEPS_PER_POLL: usize = 64;

/// A new channel id, never used before.
pub(crate) fn next_channel() -> ChannelId {
    ChannelId(NEXT_CHANNEL.fetch_add(1, Ordering::Relaxed))
}

/// Reports the channel's end exactly once, even if the task is dropped.
struct CloseReport {
    channel: ChannelId,
    user_id: u64,
    queue: Arc<EventQueue>,
    /// The channel's keyed values, dropped at its end however it ends.
    shared: Arc<ChannelShared>,
    /// Records the end, while a recording runs.
    tap: Tap,
    reported: bool,
}

impl CloseReport {
    fn report(&mut self, closed: Closed) {
        if std::mem::replace(&mut self.reported, true) {
            return;
        }
        let Closed { by, code, reason } = closed;
        tracing::debug!(channel = %self.channel, closed_by = ?by, code, %reason, "channel closed");
        self.tap.closed(by, code, &reason);
        self.queue.push(NetEvent::Event(Event::ChannelClosed(
            crate::ChannelClosed {
                channel: self.channel,
                user_id: self.user_id,
                closed_by: by,
                code,
                reason,
            },
        )));
    }
}

impl Drop for CloseReport {
    fn drop(&mut self) {
        self.shared.close_keyed();
        self.report(Closed {
            by: ClosedBy::HostShutdown,
            code: 1006,
            reason: "dropped at shutdown".to_owned(),
        });
    }
}

/// What `ConnectionOpened` says of a new channel.
pub(crate) struct Opened {
    pub(crate) channel: ChannelId,
    pub(crate) peer: SocketAddr,
    pub(crate) path: String,
    pub(crate) origin: Option<String>,
    pub(crate) direction: Direction,
    /// The role of the token the client presented.
    pub(crate) role: Option<String>,
    /// The TCP socket under the channel's stream, when it is one: a keyed
    /// stream sets its freshness option (`channel::keep_fresh`).
    pub(crate) socket: Option<std::os::fd::RawFd>,
}

impl Opened {
    /// A client's channel on a listening port, with a new channel id.
    pub(crate) fn inbound(
        peer: SocketAddr,
        path: String,
        origin: Option<String>,
        role: Option<String>,
        socket: Option<std::os::fd::RawFd>,
    ) -> Self {
        Self {
            channel: next_channel(),
            peer,
            path,
            origin,
            direction: Direction::Inbound,
            role,
            socket,
        }
    }
}

/// Runs an accepted client's channel to its end.
pub(crate) async fn run<IO>(
    io: IO,
    opened: Opened,
    ctx: Arc<ListenerCtx>,
    _permit: OwnedSemaphorePermit,
    _guard: TrackerGuard,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let shared = Arc::new(ChannelShared::new(ctx.options.limits));
    serve(io, Role::Server, shared, opened, None, &ctx.channel()).await;
}

/// Runs an open channel, either way, to its end: reports it opened (then
/// `after_open`, when given), drives its state machine, and reports it
/// closed exactly once.
pub(crate) async fn serve<IO>(
    mut io: IO,
    role: Role,
    shared: Arc<ChannelShared>,
    opened: Opened,
    after_open: Option<Event>,
    ctx: &ChannelCtx<'_>,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let hub = ctx.hub;
    let Opened {
        channel,
        peer,
        path,
        origin,
        direction,
        role: client_role,
        socket,
    } = opened;
    let tap = Tap::new(
        Arc::clone(&hub.recorders),
        ChannelInfo {
            channel,
            user_id: ctx.user_id,
            port: ctx.port,
            peer,
            // An outbound link's URL may carry a token; a recording never.
            path: crate::security::without_token(&path),
            origin: origin.clone(),
            role: client_role.clone(),
            link: direction,
            opened_ns: crate::recorder::now_ns(),
        },
    );
    let (sender, mut outbound) = mpsc::unbounded_channel();
    hub.channels
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(channel, sender);
    let mut report = CloseReport {
        channel,
        user_id: ctx.user_id,
        queue: Arc::clone(&hub.queue),
        shared: Arc::clone(&shared),
        tap: tap.clone(),
        reported: false,
    };
    tracing::debug!(%channel, %peer, %path, ?direction, "channel opened");
    hub.queue.push(NetEvent::Opened(
        Event::ConnectionOpened(crate::ConnectionOpened {
            channel,
            user_id: ctx.user_id,
            port: ctx.port,
            peer,
            path,
            origin,
            direction,
            role: client_role,
        }),
        Arc::clone(&shared),
    ));
    tap.opened();
    if let Some(event) = after_open {
        hub.queue.push(NetEvent::Event(event));
    }
    let meter = Meter::new(Arc::clone(&shared), Arc::clone(&hub.host));
    let mut state = ChannelState::new(role, shared.limits, meter, Instant::now());
    state.set_tap(tap);
    drive(
        &mut io,
        &mut state,
        &mut outbound,
        &shared,
        ctx,
        (channel, socket),
    )
    .await;
    hub.channels
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&channel);
    if let Some(closed) = state.poll_closed() {
        report.report(closed);
    }
}

/// Drives the machine until the channel ends.
async fn drive<IO: AsyncRead + AsyncWrite + Unpin>(
    io: &mut IO,
    state: &mut ChannelState,
    outbound: &mut mpsc::UnboundedReceiver<Outbound>,
    shared: &Arc<ChannelShared>,
    ctx: &ChannelCtx<'_>,
    (channel, socket): (ChannelId, Option<std::os::fd::RawFd>),
) {
    let mut fresh = false;
    let hub = ctx.hub;
    // Made once per connection, not once per message: each ends the
    // channel.
    let mut shutdown = hub.shutdown.clone();
    let shutting_down = shutdown_deadline(&mut shutdown);
    tokio::pin!(shutting_down);
    let given_up = shared.outbound_full.notified();
    tokio::pin!(given_up);
    let timer = tokio::time::sleep_until(Instant::now() + shared.limits.idle_timeout);
    tokio::pin!(timer);
    let (mut shut_down, mut gave_up, mut commands_open) = (false, false, true);
    let mut encode = |kind: MessageKind, data: bytes::Bytes| {
        let event = inbound_event(ctx, channel, kind, data);
        let held = event.held_bytes();
        (event, held)
    };
    let mut push = |event: Event| hub.queue.push(NetEvent::Event(event));
    std::future::poll_fn(|cx| {
        for _ in 0..STEPS_PER_POLL {
            let now = Instant::now();
            if !shut_down {
                if let Poll::Ready(deadline) = shutting_down.as_mut().poll(cx) {
                    shut_down = true;
                    state.handle_shutdown(now, deadline, "game shutting down");
                }
            }
            if !gave_up && given_up.as_mut().poll(cx).is_ready() {
                gave_up = true;
                state.handle_outbound_full(now);
            }
            while commands_open {
                match outbound.poll_recv(cx) {
                    Poll::Ready(Some(command)) => {
                        state.handle_outbound(now, command);
                        if !fresh && state.carries_keyed() {
                            fresh = true;
                            if let Some(socket) = socket {
                                crate::channel::keep_fresh(socket, &*io);
                            }
                        }
                    }
                    Poll::Ready(None) => {
                        commands_open = false;
                        state.handle_shutdown(now, now + CLOSE_TIMEOUT, "host stopped");
                    }
                    Poll::Pending => break,
                }
            }
            let mut socket = Lent {
                io: &mut *io,
                cx: &mut *cx,
            };
            if state.wants_write() {
                state.handle_write(now, &mut socket);
            }
            state.handle_read(now, &mut socket, &mut encode, &mut push);
            if state.wants_write() {
                state.handle_write(now, &mut socket);
            }
            if state.is_done() {
                return Poll::Ready(());
            }
            if state.wants_room() {
                shared.read_waker.register(cx.waker());
                hub.host.block(shared);
                // Room may have been made between the check and the
                // registration: look again before sleeping.
                if state.meter().gate() == Gate::Open {
                    continue;
                }
            }
            if let Some(deadline) = state.poll_timeout() {
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    // The timer fired: its deadline has come, whatever the
                    // clock's rounding says (so the machine always acts).
                    state.handle_timeout(Instant::now().max(deadline));
                    continue;
                }
            }
            return Poll::Pending;
        }
        // Busy: let the other channels run, then carry on.
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// The socket lent to the machine for one step: a non-blocking
/// `Read + Write` whose `WouldBlock` leaves the task registered for the
/// socket's readiness (tokio-tungstenite's `AllowStd`, without a wrapper
/// kept around).
struct Lent<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

fn ready<T>(poll: Poll<io::Result<T>>) -> io::Result<T> {
    match poll {
        Poll::Ready(result) => result,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl<IO: AsyncRead + Unpin> Read for Lent<'_, '_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        ready(Pin::new(&mut *self.io).poll_read(self.cx, &mut buf))?;
        Ok(buf.filled().len())
    }
}

impl<IO: AsyncWrite + Unpin> Write for Lent<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        ready(Pin::new(&mut *self.io).poll_write(self.cx, buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        ready(Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        ready(Pin::new(&mut *self.io).poll_flush(self.cx))
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
    let encoded = ctx.hub.encoder.as_ref().and_then(|encoder| {
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
            Event::Message(crate::Message {
                channel,
                user_id,
                kind,
                data: encoded.event.slice(encoded.payload.clone()),
                encoded: Some(encoded.event),
            })
        }
        _ => Event::Message(crate::Message {
            channel,
            user_id,
            kind,
            data,
            encoded: None,
        }),
    }
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
