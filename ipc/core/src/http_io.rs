//! The socket of a connection before it is a WebSocket, with a write
//! timeout: HTTP answers (and the TLS handshake's) must keep a minimum rate,
//! [`MIN_PROGRESS`] bytes every `write_timeout`, or the connection fails with
//! `TimedOut` and is dropped. A client that never reads its answers (2,000
//! pipelined GETs, a large file read a byte a second) cannot hold the
//! connection and its buffers. It also marks the connection as heard at the
//! peer's first byte (see [`pending`](crate::pending)). After the upgrade
//! the channel's own write timeout takes over ([`HttpIo::stand_down`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Bytes an answer must get into the socket per `write_timeout` (64 KiB: a
/// file chunk; a client on the slowest link reads far more).
pub(crate) const MIN_PROGRESS: usize = 64 * 1024;

/// A socket with a write timeout and a heard flag.
#[derive(Debug)]
pub(crate) struct HttpIo<IO> {
    inner: IO,
    write_timeout: Duration,
    /// Armed when a write had to wait; disarmed after [`MIN_PROGRESS`]
    /// bytes or when everything written so far is flushed.
    deadline: Option<Pin<Box<Sleep>>>,
    progress: usize,
    heard: Arc<AtomicBool>,
    active: Arc<AtomicBool>,
}

/// Turns the write timeout off once the connection is a channel.
#[derive(Debug, Clone)]
pub(crate) struct StandDown(Arc<AtomicBool>);

impl StandDown {
    /// From now on writes wait as long as the channel's own rules allow.
    pub(crate) fn stand_down(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl<IO> HttpIo<IO> {
    pub(crate) fn new(inner: IO, write_timeout: Duration, heard: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            write_timeout,
            deadline: None,
            progress: 0,
            heard,
            active: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The handle that turns the write timeout off.
    pub(crate) fn stand_down_handle(&self) -> StandDown {
        StandDown(Arc::clone(&self.active))
    }

    fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// A write returned `n` bytes.
    fn wrote(&mut self, n: usize) {
        if self.deadline.is_some() {
            self.progress += n;
            if self.progress >= MIN_PROGRESS {
                self.deadline = None;
                self.progress = 0;
            }
        }
    }

    /// What a write's `result` means: progress counted, or a wait that
    /// arms (or hits) the deadline while the timeout is active.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(Ok(n)) => {
                self.wrote(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.active() => self.waiting(cx),
            other => other,
        }
    }

    /// A write had to wait: arm the deadline (once) and see if it passed.
    fn waiting(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let timeout = self.write_timeout;
        let deadline = self.deadline.get_or_insert_with(|| {
            self.progress = 0;
            Box::pin(tokio::time::sleep(timeout))
        });
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client does not read its answers (write timeout)",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for HttpIo<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.heard.store(true, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for HttpIo<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.after_write(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.after_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                // Everything written so far is with the kernel.
                this.deadline = None;
                this.progress = 0;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending if this.active() => this.waiting(cx).map_ok(|_| ()),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_stops_fails_the_write_after_the_timeout() {
        let (server, _client) = tokio::io::duplex(1024);
        let mut io = HttpIo::new(
            server,
            Duration::from_secs(10),
            Arc::new(AtomicBool::new(false)),
        );
        let start = tokio::time::Instant::now();
        let result = io.write_all(&[0; 4096]).await;
        assert_eq!(
            result.map_err(|error| error.kind()),
            Err(io::ErrorKind::TimedOut)
        );
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_at_the_minimum_rate_is_never_timed_out() {
        let (server, mut client) = tokio::io::duplex(16 * 1024);
        let mut io = HttpIo::new(
            server,
            Duration::from_secs(10),
            Arc::new(AtomicBool::new(false)),
        );
        let reader = tokio::spawn(async move {
            let mut buf = vec![0; MIN_PROGRESS];
            let mut total = 0;
            loop {
                // 64 KiB every 9 s: just above the minimum rate.
                tokio::time::sleep(Duration::from_secs(9)).await;
                match client.read_exact(&mut buf).await {
                    Ok(_) => total += buf.len(),
                    Err(_) => return total,
                }
            }
        });
        let data = vec![1; 8 * MIN_PROGRESS];
        assert!(io.write_all(&data).await.is_ok());
        assert!(io.flush().await.is_ok());
        drop(io);
        assert_eq!(reader.await.unwrap_or(0), data.len());
    }

    #[tokio::test(start_paused = true)]
    async fn standing_down_turns_the_timeout_off() {
        let (server, _client) = tokio::io::duplex(1024);
        let mut io = HttpIo::new(
            server,
            Duration::from_secs(10),
            Arc::new(AtomicBool::new(false)),
        );
        io.stand_down_handle().stand_down();
        let write = tokio::time::timeout(Duration::from_secs(60), io.write_all(&[0; 4096]));
        assert!(write.await.is_err(), "the write waits, no TimedOut");
    }

    #[tokio::test]
    async fn the_first_byte_read_marks_it_heard() {
        let (server, mut client) = tokio::io::duplex(1024);
        let heard = Arc::new(AtomicBool::new(false));
        let mut io = HttpIo::new(server, Duration::from_secs(10), Arc::clone(&heard));
        assert!(client.write_all(b"G").await.is_ok());
        let mut byte = [0];
        assert!(io.read_exact(&mut byte).await.is_ok());
        assert!(heard.load(Ordering::Relaxed));
    }
}
