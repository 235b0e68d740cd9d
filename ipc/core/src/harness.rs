//! A deterministic harness for the connection tasks: in-memory streams
//! instead of sockets, tokio's paused clock instead of the wall clock, so
//! timeouts are tested exactly and at once (the quinn habit, at this
//! project's size). For tests and the fuzz targets.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::DuplexStream;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::bridge::{ChannelShared, EventQueue, HostShared, NetEvent, OutboundMessage};
use crate::channel::Outbound;
use crate::context::{Hub, ListenerCtx, Tracker};
use crate::options::{HostOptions, Limits, ListenOptions};
use crate::types::{ChannelId, ClosedBy, Event, MessageKind};

/// One listener's context, without a listener.
pub(crate) struct Harness {
    pub(crate) ctx: Arc<ListenerCtx>,
    pub(crate) queue: Arc<EventQueue>,
    pub(crate) shutdown: watch::Sender<Option<Instant>>,
    pub(crate) started: Instant,
}

/// How a channel ended, and when (on the paused clock, since the harness
/// started).
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) closed_by: ClosedBy,
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) after: std::time::Duration,
}

impl Harness {
    pub(crate) fn new(limits: Limits) -> Self {
        Self::with_options(ListenOptions {
            limits,
            ..ListenOptions::default()
        })
    }

    /// A listener's context with these options (a web root, a token...).
    pub(crate) fn with_options(options: ListenOptions) -> Self {
        let queue = Arc::new(EventQueue::default());
        let (shutdown, shutdown_rx) = watch::channel(None);
        let ctx = Arc::new(ListenerCtx {
            user_id: 7,
            local: SocketAddr::from(([127, 0, 0, 1], 9)),
            connections: Arc::new(Semaphore::new(options.limits.max_connections)),
            gate: crate::context::Gate::new(&options, 9),
            options,
            tls: None,
            hub: Hub {
                queue: Arc::clone(&queue),
                host: Arc::new(HostShared::new(&HostOptions::default())),
                encoder: None,
                channels: Arc::default(),
                recorders: Arc::default(),
                tracker: Arc::new(Tracker::default()),
                shutdown: shutdown_rx,
            },
        });
        Self {
            ctx,
            queue,
            shutdown,
            started: Instant::now(),
        }
    }

    /// Starts a connection task on one end of an in-memory stream of
    /// `buffer` bytes each way; returns the other end and the task.
    pub(crate) fn connect(&self, buffer: usize) -> (DuplexStream, JoinHandle<()>) {
        let (server, client) = tokio::io::duplex(buffer);
        let permit = Arc::clone(&self.ctx.connections)
            .try_acquire_owned()
            .unwrap_or_else(|_| panic!("a connection permit"));
        let guard = self.ctx.hub.tracker.guard();
        let ctx = Arc::clone(&self.ctx);
        let task = tokio::spawn(crate::websocket::run(
            server,
            crate::websocket::Opened::inbound(
                SocketAddr::from(([127, 0, 0, 1], 50_000)),
                "/".to_owned(),
                None,
                None,
                None,
            ),
            ctx,
            permit,
            guard,
        ));
        (client, task)
    }

    /// Serves one connection from its first byte (HTTP, checks, upgrade).
    pub(crate) fn serve_http(&self, server: DuplexStream) -> JoinHandle<()> {
        let (ticket, _) = self
            .ctx
            .gate
            .pending
            .admit(std::net::IpAddr::from([127, 0, 0, 1]));
        let guard = self.ctx.hub.tracker.guard();
        tokio::spawn(crate::http::serve(
            server,
            SocketAddr::from(([127, 0, 0, 1], 50_000)),
            None,
            Arc::clone(&self.ctx),
            ticket,
            guard,
        ))
    }

    /// Every event queued so far.
    pub(crate) fn events(&self) -> Vec<NetEvent> {
        let mut events = Vec::new();
        self.queue.swap(&mut events);
        events
    }

    /// The opened channel's id and counts (the first `ConnectionOpened`).
    pub(crate) async fn opened(&self) -> (ChannelId, Arc<ChannelShared>) {
        loop {
            for event in self.events() {
                if let NetEvent::Opened(
                    Event::ConnectionOpened(crate::ConnectionOpened { channel, .. }),
                    shared,
                ) = event
                {
                    return (channel, shared);
                }
            }
            tokio::task::yield_now().await;
        }
    }

    /// Queues a message to the channel, as the game's flush would.
    pub(crate) fn send(&self, channel: ChannelId, shared: &Arc<ChannelShared>, data: Vec<u8>) {
        let (message, _) = OutboundMessage::charge(
            MessageKind::Binary,
            bytes::Bytes::from(data),
            shared,
            &self.ctx.hub.host,
        );
        self.route(channel, Outbound::Message(message, crate::Priority::Normal));
    }

    pub(crate) fn route(&self, channel: ChannelId, outbound: Outbound) {
        let channels = self
            .ctx
            .hub
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = channels.get(&channel) {
            let _ = sender.send(outbound);
        }
    }

    /// Waits for the task to end; returns its `ChannelClosed`.
    pub(crate) async fn ended(&self, task: JoinHandle<()>) -> Ended {
        let _ = task.await;
        let after = self.started.elapsed();
        self.events()
            .into_iter()
            .find_map(|event| match event {
                NetEvent::Event(Event::ChannelClosed(crate::ChannelClosed {
                    closed_by,
                    code,
                    reason,
                    ..
                })) => Some(Ended {
                    closed_by,
                    code,
                    reason,
                    after,
                }),
                _ => None,
            })
            .unwrap_or_else(|| panic!("the task ended without a ChannelClosed"))
    }
}

/// One end of an in-memory connection: what the peer sent, waiting to be
/// read; what the machine wrote, up to `room` bytes the peer has not taken.
#[derive(Debug, Default)]
pub(crate) struct Socket {
    pub(crate) incoming: VecDeque<u8>,
    pub(crate) outgoing: Vec<u8>,
    pub(crate) room: usize,
    pub(crate) eof: bool,
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.incoming.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        self.incoming.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let free = self.room.saturating_sub(self.outgoing.len());
        if free == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = free.min(buf.len());
        self.outgoing.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
