//! Accepting connections on one port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::context::ListenerCtx;

pub(crate) async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ListenerCtx>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => accept(stream, peer, &ctx),
                Err(error) => {
                    // Out of file descriptors and the like: back off instead
                    // of spinning on an error that will repeat at once.
                    tracing::warn!(port = ctx.local.port(), %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    tracing::debug!(port = ctx.local.port(), "accept loop ended");
}

fn accept(stream: TcpStream, peer: SocketAddr, ctx: &Arc<ListenerCtx>) {
    crate::channel::tune_socket(&stream);
    let socket = Some(std::os::fd::AsRawFd::as_raw_fd(&stream));
    // No refusal here: a place among the unfinished connections, the
    // oldest dropped for it when they are full (see `pending`).
    let (ticket, dropped) = ctx.gate.pending.admit(peer.ip());
    if dropped {
        tracing::debug!(port = ctx.local.port(), %peer, "unfinished connections full: the oldest dropped");
    }
    let ctx = Arc::clone(ctx);
    let guard = ctx.hub.tracker.guard();
    tokio::spawn(async move {
        crate::http::serve(stream, peer, socket, ctx, ticket, guard).await;
    });
}
