//! One TCP connection before it becomes a WebSocket: TLS, the HTTP request
//! (parsed by hyper), the security checks, static files, the upgrade.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::answer::{self, Body};
use crate::context::{shutdown_deadline, ListenerCtx, TrackerGuard};
use crate::http_io::{HttpIo, StandDown};
use crate::pending::Ticket;
use crate::refusals::Refusal;
use crate::security::{self, TokenRefusal};
use crate::shown::{self, Shown};
use crate::static_files;
use crate::throttle::Verdict;

/// A handshake the checks accepted, waiting for hyper to hand over the socket.
pub(crate) struct Accepted {
    pub(crate) upgrade: OnUpgrade,
    pub(crate) path: String,
    pub(crate) origin: Option<String>,
    /// The role of the token it presented.
    pub(crate) role: Option<String>,
    /// Its place among the port's open channels.
    pub(crate) permit: OwnedSemaphorePermit,
}

/// How long a refused connection lingers for its response to be written.
const REFUSED_LINGER: std::time::Duration = std::time::Duration::from_millis(200);

/// What the request handler decided about the connection.
struct Decision {
    accepted: Mutex<Option<Accepted>>,
    /// Set when a handshake was refused: the connection ends after the
    /// response (hyper keeps upgrade requests' connections open otherwise).
    refused: Notify,
    /// Set when the connection ends at once, with no answer.
    dropped: Notify,
    /// The connection's place among the unfinished ones, until it leaves
    /// them (a channel, or a connection serving files).
    ticket: Mutex<Option<Ticket>>,
    /// Its place among the HTTP connections, once it serves files.
    http: Mutex<Option<OwnedSemaphorePermit>>,
    /// The TCP socket under the connection, when it is one.
    socket: Option<RawFd>,
}

type Slot = Arc<Decision>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Decision {
    fn new(ticket: Ticket, socket: Option<RawFd>) -> Self {
        Self {
            accepted: Mutex::default(),
            refused: Notify::new(),
            dropped: Notify::new(),
            ticket: Mutex::new(Some(ticket)),
            http: Mutex::default(),
            socket,
        }
    }

    /// Leaves the unfinished connections; `false` if this one was already
    /// dropped for a newer one.
    fn leave_pending(&self) -> bool {
        lock(&self.ticket).take().is_none_or(Ticket::leave)
    }

    /// Moves the connection to the HTTP connections; `false` when they are
    /// full (or it was dropped meanwhile).
    fn serve_files(&self, ctx: &ListenerCtx) -> bool {
        let mut http = lock(&self.http);
        if http.is_some() {
            return true;
        }
        if !self.leave_pending() {
            return false;
        }
        match Arc::clone(&ctx.gate.http).try_acquire_owned() {
            Ok(permit) => {
                *http = Some(permit);
                true
            }
            Err(_) => false,
        }
    }

    /// Ends the connection after `response`.
    fn refuse(&self, response: Response<Body>) -> Response<Body> {
        self.refused.notify_one();
        response
    }
}

/// Serves one accepted connection from its first byte: TLS, HTTP, the
/// checks, the upgrade, then the channel. Dropped at once when a newer
/// connection takes its place among the unfinished ones.
pub(crate) async fn serve<IO>(
    io: IO,
    peer: SocketAddr,
    socket: Option<RawFd>,
    ctx: Arc<ListenerCtx>,
    ticket: Ticket,
    guard: TrackerGuard,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let evicted = ticket.evicted();
    let port = ctx.local.port();
    let io = HttpIo::new(io, ctx.options.limits.write_timeout, ticket.heard());
    tokio::select! {
        () = evicted.notified() => {
            tracing::debug!(%peer, port, "dropped an unfinished connection for a newer one (max_pending_handshakes)");
        }
        () = serve_io(io, peer, socket, ctx, ticket, guard) => {}
    }
}

async fn serve_io<IO>(
    io: HttpIo<IO>,
    peer: SocketAddr,
    socket: Option<RawFd>,
    ctx: Arc<ListenerCtx>,
    ticket: Ticket,
    guard: TrackerGuard,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + ctx.options.limits.handshake_timeout;
    let stand_down = io.stand_down_handle();
    let slot: Slot = Arc::new(Decision::new(ticket, socket));
    match ctx.tls.clone() {
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(io)).await {
            Ok(Ok(stream)) => serve_http(stream, peer, ctx, started, slot, stand_down, guard).await,
            Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        },
        None => serve_http(io, peer, ctx, started, slot, stand_down, guard).await,
    }
}

async fn serve_http<IO>(
    io: IO,
    peer: SocketAddr,
    ctx: Arc<ListenerCtx>,
    started: Instant,
    slot: Slot,
    stand_down: StandDown,
    guard: TrackerGuard,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = ctx.options.limits;
    let deadline = started + limits.handshake_timeout;
    let service = {
        let ctx = Arc::clone(&ctx);
        let slot = Arc::clone(&slot);
        service_fn(move |request| {
            let ctx = Arc::clone(&ctx);
            let slot = Arc::clone(&slot);
            async move { Ok::<_, Infallible>(decide(request, peer, &ctx, &slot).await) }
        })
    };
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(std::time::Duration::from_millis(1));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(remaining)
        .max_buf_size(limits.max_request_head)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutdown = ctx.hub.shutdown.clone();
    // However it is used, a connection that never upgrades ends at its
    // lifetime, after the answer being written.
    let lifetime = tokio::time::sleep_until(started + limits.http_lifetime);
    tokio::pin!(lifetime);
    let mut closing = false;
    let result = loop {
        tokio::select! {
            result = connection.as_mut() => break result,
            () = slot.refused.notified() => {
                // hyper keeps an upgrade request's connection open after a
                // refusal; give the response a moment to go out, then drop it.
                connection.as_mut().graceful_shutdown();
                break tokio::time::timeout(REFUSED_LINGER, connection.as_mut()).await.unwrap_or(Ok(()));
            }
            () = slot.dropped.notified() => return,
            () = &mut lifetime, if !closing => {
                tracing::debug!(%peer, "HTTP connection at its lifetime: closing after the answer");
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = shutdown_deadline(&mut shutdown) => return,
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
    let accepted = lock(&slot.accepted).take();
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
    // The channel's own write timeout (1008) takes over.
    stand_down.stand_down();
    crate::websocket::run(
        TokioIo::new(upgraded),
        crate::websocket::Opened::inbound(
            peer,
            accepted.path,
            accepted.origin,
            accepted.role,
            slot.socket,
        ),
        ctx,
        accepted.permit,
        guard,
    )
    .await;
}

/// Answers a wrong token late (see [`throttle`](crate::throttle)), or ends
/// the connection at once when too many of its address's answers wait.
async fn wrong_token(peer: SocketAddr, ctx: &ListenerCtx, slot: &Slot) -> Response<Body> {
    let port = ctx.local.port();
    let verdict = lock(&ctx.gate.throttle).failed(peer.ip(), Instant::now());
    match verdict {
        Verdict::Close => {
            ctx.gate.refusals.refused(Refusal::TokenThrottled, || {
                tracing::warn!(%peer, port, "refused: wrong token, and this address has too many late answers waiting: closed");
            });
            slot.dropped.notify_one();
            std::future::pending().await
        }
        Verdict::Delay(delay) => {
            ctx.gate.refusals.refused(Refusal::Token, || {
                tracing::warn!(%peer, port, ?delay, "refused: missing or wrong token: 401, answered late");
            });
            /// Counts the answer as gone however the wait ends.
            struct Answered<'a>(&'a ListenerCtx, std::net::IpAddr);
            impl Drop for Answered<'_> {
                fn drop(&mut self) {
                    lock(&self.0.gate.throttle).answered(self.1);
                }
            }
            let _answered = Answered(ctx, peer.ip());
            tokio::time::sleep(delay).await;
            slot.refuse(answer::text(StatusCode::UNAUTHORIZED, "unauthorized\n"))
        }
    }
}

async fn decide(
    request: Request<Incoming>,
    peer: SocketAddr,
    ctx: &ListenerCtx,
    slot: &Slot,
) -> Response<Body> {
    let port = ctx.local.port();
    let refusals = &ctx.gate.refusals;
    if ctx.options.bind_address.is_loopback()
        && !security::host_allowed(request.headers().get(header::HOST), port)
    {
        refusals.refused(Refusal::Host, || {
            let host = shown::header(request.headers().get(header::HOST));
            tracing::warn!(%peer, port, %host, "refused: Host is not a loopback name (DNS rebinding?): 403");
        });
        return slot.refuse(answer::text(StatusCode::FORBIDDEN, "forbidden: Host\n"));
    }
    if !security::is_websocket_upgrade(&request) {
        return match (request.method(), &ctx.options.web_root) {
            (&Method::GET | &Method::HEAD, Some(root)) => {
                if !slot.serve_files(ctx) {
                    refusals.refused(Refusal::Busy, || {
                        tracing::warn!(%peer, port, "refused: HTTP connections full (max_http_connections): 503");
                    });
                    return slot.refuse(answer::text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy: too many HTTP connections\n",
                    ));
                }
                static_files::serve(root, request.uri().path(), request.method() == Method::HEAD)
                    .await
            }
            (&Method::GET | &Method::HEAD, None) => slot.refuse(answer::text(
                StatusCode::UPGRADE_REQUIRED,
                "this port speaks WebSocket\n",
            )),
            _ => slot.refuse(answer::text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n",
            )),
        };
    }
    let Some(key) = security::websocket_key(&request) else {
        return slot.refuse(answer::text(
            StatusCode::BAD_REQUEST,
            "bad WebSocket handshake\n",
        ));
    };
    let origin = request.headers().get(header::ORIGIN);
    let origin_text = origin.map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    if !security::origin_allowed(origin_text.as_deref(), &ctx.options, port) {
        let given = origin.map_or(&b""[..], HeaderValue::as_bytes);
        refusals.refused(Refusal::Origin, || {
            let origin = Shown::log(given);
            tracing::warn!(%peer, port, %origin, "refused: Origin not allowed (cross-site WebSocket hijacking?): 403; to allow a page of yours, add its origin to the port's allowed origins (ipc module: --set ipc.allowed_origins=ORIGIN or FIASCO_IPC_ALLOWED_ORIGINS)");
        });
        let body = format!(
            "forbidden: Origin {} is not allowed on this port.\n\
             To allow a page of yours, add its origin to the port's allowed origins:\n\
             with the ipc module, --set ipc.allowed_origins=ORIGIN (comma-separated)\n\
             or FIASCO_IPC_ALLOWED_ORIGINS=ORIGIN; or ListenRequest.allowed_origins.\n",
            Shown::answer(given)
        );
        return slot.refuse(answer::text(StatusCode::FORBIDDEN, body));
    }
    let (path, role) = match &ctx.gate.grants {
        Some(grants) => match security::check_token(&request, grants) {
            Ok((path, role)) => (path, Some(role.to_string())),
            Err(TokenRefusal::Ambiguous) => {
                refusals.refused(Refusal::Malformed, || {
                    tracing::warn!(%peer, port, "refused: more than one token in one request: 400");
                });
                return slot.refuse(answer::text(
                    StatusCode::BAD_REQUEST,
                    "bad request: one token per request\n",
                ));
            }
            Err(TokenRefusal::Wrong) => return wrong_token(peer, ctx, slot).await,
        },
        None => (
            request
                .uri()
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |path| path.as_str().to_owned()),
            None,
        ),
    };
    let Ok(permit) = Arc::clone(&ctx.connections).try_acquire_owned() else {
        refusals.refused(Refusal::Busy, || {
            tracing::warn!(%peer, port, "refused: channels full (max_connections): 503");
        });
        return slot.refuse(answer::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: too many connections\n",
        ));
    };
    // A channel now: no longer among the unfinished or HTTP connections.
    if !slot.leave_pending() {
        slot.dropped.notify_one();
        return std::future::pending().await;
    }
    lock(&slot.http).take();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut request = request;
    *lock(&slot.accepted) = Some(Accepted {
        upgrade: hyper::upgrade::on(&mut request),
        path,
        origin: origin_text,
        role,
        permit,
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}
