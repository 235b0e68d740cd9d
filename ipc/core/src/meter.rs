//! A socket whose reads are metered: every byte read counts against the
//! channel's share and the host's inbound budget until it is part of a
//! message the game has taken. When there is no room, the socket is simply
//! not read (TCP pushes back on the client) until the game takes messages.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::bridge::{ChannelShared, HostShared};
use crate::budget::{inbound_gate, Gate};

/// The error a read ends with when a message takes longer than
/// `message_timeout` from its first byte to its last.
#[derive(Debug, thiserror::Error)]
#[error("message not finished within {0:?}")]
pub(crate) struct MessageTimeout(pub(crate) Duration);

/// The socket of one channel, read only while its budget allows.
pub(crate) struct MeteredIo<IO> {
    io: IO,
    channel: Arc<ChannelShared>,
    host: Arc<HostShared>,
    /// Bytes read since the last complete message or control frame.
    partial: usize,
    /// When `partial` became non-zero: the message must end
    /// `message_timeout` later.
    started: Option<Instant>,
    /// Armed only while a started message waits for bytes, so messages that
    /// arrive whole cost no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<IO> std::fmt::Debug for MeteredIo<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredIo")
            .field("partial", &self.partial)
            .finish_non_exhaustive()
    }
}

impl<IO> MeteredIo<IO> {
    pub(crate) fn new(io: IO, channel: Arc<ChannelShared>, host: Arc<HostShared>) -> Self {
        Self {
            io,
            channel,
            host,
            partial: 0,
            started: None,
            timer: None,
        }
    }

    /// A complete message (or control frame) came out of what was read:
    /// its `charge` bytes now wait for the game (0 for a control frame),
    /// and the bytes read for it are no longer partial.
    pub(crate) fn message_done(&mut self, charge: usize) {
        let partial = std::mem::take(&mut self.partial);
        self.started = None;
        if charge > 0 {
            self.channel.inbound_messages.fetch_add(1, Ordering::AcqRel);
        }
        self.channel
            .inbound_bytes
            .fetch_add(charge, Ordering::AcqRel);
        self.channel
            .inbound_bytes
            .fetch_sub(partial, Ordering::AcqRel);
        self.host.inbound.charge(charge);
        self.host.inbound.release(partial);
    }

    fn gate(&self) -> Gate {
        inbound_gate(
            self.channel.held(),
            &self.channel.limits,
            self.host.reserve,
            self.host.inbound.used(),
            self.host.inbound.limit(),
        )
    }
}

impl<IO> Drop for MeteredIo<IO> {
    fn drop(&mut self) {
        let partial = std::mem::take(&mut self.partial);
        if partial > 0 {
            self.channel
                .inbound_bytes
                .fetch_sub(partial, Ordering::AcqRel);
            self.host.inbound.release(partial);
            // Room for the others (this runs on the network thread).
            self.host.wake_blocked();
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for MeteredIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.gate() != Gate::Open {
            this.channel.read_waker.register(cx.waker());
            this.host.block(&this.channel);
            // Room may have been made between the check and the
            // registration: look again before sleeping.
            if this.gate() != Gate::Open {
                return this.wait_within_message(cx);
            }
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return this.wait_within_message(cx),
        }
        let read = buf.filled().len() - before;
        if read > 0 {
            if this.partial == 0 {
                this.started = Some(Instant::now());
            }
            this.partial += read;
            this.channel.inbound_bytes.fetch_add(read, Ordering::AcqRel);
            this.host.inbound.charge(read);
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO> MeteredIo<IO> {
    /// Pending, unless a started message is past its deadline: then the
    /// error that closes the channel with 1008. Arms the timer so the
    /// deadline is noticed even if no byte ever comes.
    fn wait_within_message(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(started) = self.started else {
            return Poll::Pending;
        };
        let timeout = self.channel.limits.message_timeout;
        let deadline = started + timeout;
        let timer = match &mut self.timer {
            Some(timer) => {
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                MessageTimeout(timeout),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for MeteredIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
