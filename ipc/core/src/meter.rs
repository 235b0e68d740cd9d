//! A socket whose reads are metered: every byte read counts against the
//! channel's share and the host's inbound budget until it is part of a
//! message the game has taken. When there is no room, the socket is simply
//! not read (TCP pushes back on the client) until the game takes messages.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

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
    /// Set when `partial` became non-zero: the message must end by then.
    deadline: Option<Pin<Box<Sleep>>>,
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
            deadline: None,
        }
    }

    /// A complete message (or control frame) came out of what was read:
    /// its `charge` bytes now wait for the game (0 for a control frame),
    /// and the bytes read for it are no longer partial.
    pub(crate) fn message_done(&mut self, charge: usize) {
        let partial = std::mem::take(&mut self.partial);
        self.deadline = None;
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
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    MessageTimeout(this.channel.limits.message_timeout),
                )));
            }
        }
        if this.gate() != Gate::Open {
            this.channel.read_waker.register(cx.waker());
            this.host.block(&this.channel);
            // Room may have been made between the check and the
            // registration: look again before sleeping.
            if this.gate() != Gate::Open {
                return Poll::Pending;
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let read = buf.filled().len() - before;
        if read > 0 {
            if this.partial == 0 {
                let mut deadline =
                    Box::pin(tokio::time::sleep(this.channel.limits.message_timeout));
                // Registers the timer, so it fires even if no byte follows.
                let _ = deadline.as_mut().poll(cx);
                this.deadline = Some(deadline);
            }
            this.partial += read;
            this.channel.inbound_bytes.fetch_add(read, Ordering::AcqRel);
            this.host.inbound.charge(read);
        }
        Poll::Ready(Ok(()))
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
