//! One TCP connection before it becomes a WebSocket: TLS, the HTTP request
//! (parsed by hyper), the security checks, static files, the upgrade.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::context::{shutdown_deadline, ListenerCtx, TrackerGuard};
use crate::security;
use crate::static_files;

/// A handshake the checks accepted, waiting for hyper to hand over the socket.
pub(crate) struct Accepted {
    pub(crate) upgrade: OnUpgrade,
    pub(crate) path: String,
    pub(crate) origin: Option<String>,
}

/// How long a refused connection lingers for its response to be written.
const REFUSED_LINGER: std::time::Duration = std::time::Duration::from_millis(200);

/// What the request handler decided about the connection.
#[derive(Default)]
struct Decision {
    accepted: Mutex<Option<Accepted>>,
    /// Set when a handshake was refused: the connection ends after the
    /// response (hyper keeps upgrade requests' connections open otherwise).
    refused: tokio::sync::Notify,
}

type Slot = Arc<Decision>;

pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ListenerCtx>,
    permit: OwnedSemaphorePermit,
    guard: TrackerGuard,
) {
    let deadline = Instant::now() + ctx.options.limits.handshake_timeout;
    match ctx.tls.clone() {
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => serve_http(stream, peer, ctx, deadline, permit, guard).await,
            Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        },
        None => serve_http(stream, peer, ctx, deadline, permit, guard).await,
    }
}

pub(crate) async fn serve_http<IO>(
    io: IO,
    peer: SocketAddr,
    ctx: Arc<ListenerCtx>,
    deadline: Instant,
    permit: OwnedSemaphorePermit,
    guard: TrackerGuard,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot: Slot = Arc::default();
    let service = {
        let ctx = Arc::clone(&ctx);
        let slot = Arc::clone(&slot);
        service_fn(move |request| {
            let ctx = Arc::clone(&ctx);
            let slot = Arc::clone(&slot);
            async move { Ok::<_, Infallible>(respond(request, peer, &ctx, &slot).await) }
        })
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(remaining)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutdown = ctx.shutdown.clone();
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = slot.refused.notified() => {
            // hyper keeps an upgrade request's connection open after a
            // refusal; give the response a moment to go out, then drop it.
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(REFUSED_LINGER, connection.as_mut()).await.unwrap_or(Ok(()))
        }
        _ = shutdown_deadline(&mut shutdown) => return,
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
    let accepted = slot
        .accepted
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some(accepted) = accepted else {
        return;
    };
    let upgraded = match tokio::time::timeout_at(deadline, accepted.upgrade).await {
        Ok(Ok(upgraded)) => upgraded,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "upgrade failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "upgrade timed out");
            return;
        }
    };
    crate::websocket::run(
        TokioIo::new(upgraded),
        peer,
        accepted.path,
        accepted.origin,
        ctx,
        permit,
        guard,
    )
    .await;
}

fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn respond(
    request: Request<Incoming>,
    peer: SocketAddr,
    ctx: &ListenerCtx,
    slot: &Slot,
) -> Response<Full<Bytes>> {
    let response = decide(request, peer, ctx, slot).await;
    if response.status().is_client_error() {
        slot.refused.notify_one();
    }
    response
}

async fn decide(
    request: Request<Incoming>,
    peer: SocketAddr,
    ctx: &ListenerCtx,
    slot: &Slot,
) -> Response<Full<Bytes>> {
    let port = ctx.local.port();
    if ctx.options.bind_address.is_loopback()
        && !security::host_allowed(request.headers().get(header::HOST), port)
    {
        tracing::warn!(%peer, port, host = ?request.headers().get(header::HOST), "refused: Host is not a loopback name (DNS rebinding?): 403");
        return status(StatusCode::FORBIDDEN, "forbidden: Host\n");
    }
    if !security::is_websocket_upgrade(&request) {
        return match *request.method() {
            Method::GET | Method::HEAD => match &ctx.options.web_root {
                Some(root) => {
                    static_files::serve(
                        root,
                        request.uri().path(),
                        request.method() == Method::HEAD,
                    )
                    .await
                }
                None => status(StatusCode::UPGRADE_REQUIRED, "this port speaks WebSocket\n"),
            },
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
        };
    }
    let Some(key) = security::websocket_key(&request) else {
        return status(StatusCode::BAD_REQUEST, "bad WebSocket handshake\n");
    };
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    if !security::origin_allowed(origin.as_deref(), &ctx.options, port) {
        let shown = origin.as_deref().unwrap_or("");
        tracing::warn!(%peer, port, origin = ?origin, "refused: Origin not allowed (cross-site WebSocket hijacking?): 403; to allow a page of yours, add its origin to the port's allowed origins (with the ipc module: --set ipc.allowed_origins={shown} or FIASCO_IPC_ALLOWED_ORIGINS)");
        let body = format!(
            "forbidden: Origin {shown} is not allowed on this port.\n             To allow a page of yours, add its origin to the port's allowed origins:\n             with the ipc module, --set ipc.allowed_origins={shown} (comma-separated)\n             or FIASCO_IPC_ALLOWED_ORIGINS={shown}; or ListenRequest.allowed_origins.\n"
        );
        let mut response = status(StatusCode::FORBIDDEN, "");
        *response.body_mut() = Full::new(Bytes::from(body));
        return response;
    }
    let path = match &ctx.options.token {
        Some(token) => match security::check_token(&request, token) {
            Some(path) => path,
            None => {
                tracing::warn!(%peer, port, "refused: missing or wrong token: 401");
                return status(StatusCode::UNAUTHORIZED, "unauthorized\n");
            }
        },
        None => request
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |path| path.as_str().to_owned()),
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut request = request;
    *slot
        .accepted
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Accepted {
        upgrade: hyper::upgrade::on(&mut request),
        path,
        origin,
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}
