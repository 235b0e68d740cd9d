//! Accepting connections on one port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
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
    let _ = stream.set_nodelay(true);
    match Arc::clone(&ctx.connections).try_acquire_owned() {
        Ok(permit) => {
            let ctx = Arc::clone(ctx);
            let guard = ctx.tracker.guard();
            tokio::spawn(async move {
                crate::http::serve(stream, peer, ctx, permit, guard).await;
            });
        }
        Err(_) => {
            tracing::warn!(port = ctx.local.port(), %peer, "connection limit reached: 503");
            let guard = ctx.tracker.guard();
            tokio::spawn(async move {
                let _guard = guard;
                let mut stream = stream;
                let response = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), stream.write_all(response)).await;
            });
        }
    }
}
