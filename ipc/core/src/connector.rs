//! Outbound connections: dial a WebSocket server (ws:// or wss://), run
//! the channel as any other, and dial again with backoff and jitter until
//! the agent disconnects or the host stops.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use tungstenite::protocol::Role;

use crate::bridge::{ChannelShared, NetEvent};
use crate::channel::Outbound;
use crate::context::{shutdown_deadline, ChannelCtx, Hub, TrackerGuard};
use crate::options::ConnectOptions;
use crate::reconnect::Reconnect;
use crate::tls::{self, SystemRoots};
use crate::types::{ConnectError, ConnectErrorKind, ConnectState, Direction, Event};
use crate::websocket::{self, Opened};

/// Any stream a channel can run on: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where a URL points.
struct Target {
    request: Request<()>,
    host: String,
    port: u16,
    secure: bool,
}

fn invalid(message: impl Into<String>) -> ConnectError {
    ConnectError::new(ConnectErrorKind::InvalidRequest, message)
}

/// Parses the URL and builds the handshake request (with the token).
fn target(options: &ConnectOptions) -> Result<Target, ConnectError> {
    let mut request = options
        .url
        .as_str()
        .into_client_request()
        .map_err(|error| invalid(format!("url {:?}: {error}", options.url)))?;
    let uri = request.uri().clone();
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => {
            return Err(invalid(format!(
                "url {:?}: not ws:// or wss://",
                options.url
            )))
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| invalid(format!("url {:?}: no host", options.url)))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    if let Some(token) = &options.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| invalid("the token is not a valid header value"))?;
        request.headers_mut().insert("authorization", value);
    }
    Ok(Target {
        request,
        host,
        port,
        secure,
    })
}

/// The addresses of the target, checked against the token rule.
async fn resolve(
    target: &Target,
    options: &ConnectOptions,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|error| {
            ConnectError::new(
                ConnectErrorKind::Dns,
                format!("resolving {}: {error}", target.host),
            )
        })?
        .collect();
    if addresses.is_empty() {
        return Err(ConnectError::new(
            ConnectErrorKind::Dns,
            format!("{} has no address", target.host),
        ));
    }
    if options.token.is_some()
        && !target.secure
        && addresses.iter().any(|address| !address.ip().is_loopback())
    {
        return Err(invalid(format!(
            "a token is never sent over plain ws:// to {} (beyond loopback): use wss://",
            target.host
        )));
    }
    Ok(addresses)
}

/// An established connection, handshake done.
struct Connection {
    io: TokioIo<hyper::upgrade::Upgraded>,
    /// The TCP socket under `io` (for its freshness option).
    socket: std::os::fd::RawFd,
    local: SocketAddr,
    peer: SocketAddr,
    path: String,
}

/// One attempt: TCP, TLS when wss://, the WebSocket handshake.
async fn dial(
    target: &Target,
    options: &ConnectOptions,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<Connection, ConnectError> {
    let addresses = resolve(target, options).await?;
    let mut last_error = None;
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(connected) => {
                stream = Some(connected);
                break;
            }
            Err(error) => last_error = Some((address, error)),
        }
    }
    let Some(stream) = stream else {
        return Err(match last_error {
            Some((address, error)) => ConnectError::with_source(
                ConnectErrorKind::Refused,
                format!("{address}: {error}"),
                error,
            ),
            None => ConnectError::new(ConnectErrorKind::Refused, "no address to dial"),
        });
    };
    crate::channel::tune_socket(&stream);
    let socket = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let refused = |what: &str, error: std::io::Error| {
        ConnectError::with_source(ConnectErrorKind::Refused, format!("{what}: {error}"), error)
    };
    let local = stream
        .local_addr()
        .map_err(|error| refused("local address", error))?;
    let peer = stream
        .peer_addr()
        .map_err(|error| refused("peer address", error))?;
    let io: Box<dyn Io> = match tls {
        Some(connector) => {
            let name = tls::server_name(&target.host)?;
            let stream = connector.connect(name, stream).await.map_err(|error| {
                ConnectError::with_source(
                    ConnectErrorKind::Tls,
                    format!("TLS with {}: {error}", target.host),
                    error,
                )
            })?;
            Box::new(stream)
        }
        None => Box::new(stream),
    };
    let io = handshake(io, &target.request).await?;
    let path = target
        .request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |path| path.as_str().to_owned());
    Ok(Connection {
        io,
        socket,
        local,
        peer,
        path,
    })
}

fn handshake_error(message: impl Into<String>) -> ConnectError {
    ConnectError::new(ConnectErrorKind::Handshake, message)
}

/// The client's WebSocket handshake over hyper's HTTP/1 client (RFC 6455
/// 4.1): the request tungstenite made (with its key), then the answer's
/// checks; the upgraded connection keeps any bytes the server sent after
/// its answer.
async fn handshake(
    io: Box<dyn Io>,
    request: &Request<()>,
) -> Result<TokioIo<hyper::upgrade::Upgraded>, ConnectError> {
    let failed = |error: hyper::Error| {
        ConnectError::with_source(
            ConnectErrorKind::Handshake,
            format!("not a WebSocket handshake: {error}"),
            error,
        )
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(failed)?;
    // Runs the connection until the upgrade hands it over (or it fails).
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "outbound handshake connection ended");
        }
    });
    let mut outgoing = Request::builder()
        .method("GET")
        .uri(
            request
                .uri()
                .path_and_query()
                .map_or("/", |path| path.as_str()),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|error| handshake_error(format!("the request: {error}")))?;
    *outgoing.headers_mut() = request.headers().clone();
    let response = sender.send_request(outgoing).await.map_err(failed)?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status().as_u16();
        return Err(ConnectError::new(
            ConnectErrorKind::HttpStatus(status),
            format!("the server answered the handshake with HTTP {status}"),
        ));
    }
    check_answer(request.headers(), response.headers())?;
    let upgraded = hyper::upgrade::on(response).await.map_err(failed)?;
    Ok(TokioIo::new(upgraded))
}

/// The checks of a server's 101 answer (RFC 6455 4.1): `Upgrade:
/// websocket`, `Connection: Upgrade`, the accept key derived from ours, no
/// extension or subprotocol the request did not offer.
fn check_answer(request: &HeaderMap, response: &HeaderMap) -> Result<(), ConnectError> {
    let has_token = |name: header::HeaderName, token: &str| {
        response.get_all(name).iter().any(|value| {
            value
                .as_bytes()
                .split(|byte| *byte == b',')
                .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    if !has_token(header::UPGRADE, "websocket") {
        return Err(handshake_error(
            "not a WebSocket handshake: no \"Upgrade: websocket\" in the answer",
        ));
    }
    if !has_token(header::CONNECTION, "upgrade") {
        return Err(handshake_error(
            "not a WebSocket handshake: no \"Connection: Upgrade\" in the answer",
        ));
    }
    let key = request
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let expected = tungstenite::handshake::derive_accept_key(key);
    let accept = response.get(header::SEC_WEBSOCKET_ACCEPT);
    if accept.map(HeaderValue::as_bytes) != Some(expected.as_bytes()) {
        return Err(handshake_error(
            "not a WebSocket handshake: the answer's Sec-WebSocket-Accept does not match the key",
        ));
    }
    if request.get(header::SEC_WEBSOCKET_PROTOCOL).is_none()
        && response.contains_key(header::SEC_WEBSOCKET_PROTOCOL)
    {
        return Err(handshake_error(
            "the server chose a subprotocol, which this client did not offer (RFC 6455 4.1)",
        ));
    }
    match unoffered_extension(request, response) {
        Some(name) => Err(handshake_error(format!(
            "the server answered with the extension {name}, which this client did not offer (RFC 6455 4.1)"
        ))),
        None => Ok(()),
    }
}

/// The first extension the server's answer names that the request did not
/// offer, cut and escaped for a message. RFC 6455 4.1: the client must then
/// fail the connection (tungstenite checks the subprotocol, not this).
fn unoffered_extension(request: &HeaderMap, response: &HeaderMap) -> Option<String> {
    let names = |headers: &HeaderMap| -> Vec<Vec<u8>> {
        headers
            .get_all("sec-websocket-extensions")
            .iter()
            .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
            .map(|extension| {
                let name = extension
                    .split(|byte| *byte == b';')
                    .next()
                    .unwrap_or_default();
                name.trim_ascii().to_ascii_lowercase()
            })
            .filter(|name| !name.is_empty())
            .collect()
    };
    let offered = names(request);
    names(response)
        .into_iter()
        .find(|name| !offered.contains(name))
        .map(|name| crate::shown::Shown::log(&name).to_string())
}

/// Reports the state of the connect request.
fn report(hub: &Hub, user_id: u64, connect_id: u64, state: ConnectState) {
    hub.queue.push(NetEvent::Event(Event::ConnectStatus(
        crate::ConnectStatus {
            user_id,
            connect_id,
            state,
        },
    )));
}

/// Reports a failed attempt, and when the next one starts (`None`: never).
fn report_failed(
    hub: &Hub,
    user_id: u64,
    connect_id: u64,
    error: ConnectError,
    retry_in: Option<std::time::Duration>,
) {
    report(
        hub,
        user_id,
        connect_id,
        ConnectState::Failed { error, retry_in },
    );
}

/// Resolves when the agent disconnects (or the driver is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// The life of one connect request: dial, run the channel, and dial again
/// as the [`Reconnect`] policy says, until the agent disconnects or the
/// host stops.
pub(crate) async fn run(
    user_id: u64,
    connect_id: u64,
    options: ConnectOptions,
    hub: Hub,
    system_roots: SystemRoots,
    mut stop: watch::Receiver<bool>,
    _guard: TrackerGuard,
) {
    let setup = options.validate().and_then(|()| {
        let target = target(&options)?;
        let tls = if target.secure {
            Some(tls::connector(options.ca_file.as_deref(), &system_roots)?)
        } else {
            None
        };
        Ok((target, tls))
    });
    let (target, tls) = match setup {
        Ok(setup) => setup,
        Err(error) => {
            tracing::warn!(user_id, connect_id, %error, "connect request refused");
            report_failed(&hub, user_id, connect_id, error, None);
            report(&hub, user_id, connect_id, ConnectState::Stopped);
            return;
        }
    };
    let mut shutdown = hub.shutdown.clone();
    let mut policy = Reconnect::new(
        options.initial_backoff,
        options.max_backoff,
        fastrand::u64(..),
    );
    loop {
        let attempt = policy.dialing();
        report(
            &hub,
            user_id,
            connect_id,
            ConnectState::Connecting { attempt },
        );
        let dialing = tokio::time::timeout(
            options.limits.handshake_timeout,
            dial(&target, &options, tls.as_ref()),
        );
        let result = tokio::select! {
            result = dialing => result.unwrap_or_else(|_| Err(ConnectError::new(
                ConnectErrorKind::Timeout,
                format!("no handshake with {} within {:?}", target.host, options.limits.handshake_timeout),
            ))),
            () = stopped(&mut stop) => break,
            _ = shutdown_deadline(&mut shutdown) => break,
        };
        let error = match result {
            Ok(connection) => {
                policy.connected(Instant::now());
                let ended_by_us =
                    connected(user_id, connect_id, connection, &options, &hub, &mut stop).await;
                if ended_by_us || hub.shutdown.borrow().is_some() {
                    break;
                }
                ConnectError::new(ConnectErrorKind::Closed, "the connection ended")
            }
            Err(error) if error.kind == ConnectErrorKind::InvalidRequest => {
                tracing::warn!(user_id, connect_id, %error, "connect request refused");
                report_failed(&hub, user_id, connect_id, error, None);
                break;
            }
            Err(error) => error,
        };
        if !options.reconnect {
            if error.kind == ConnectErrorKind::Closed {
                tracing::debug!(user_id, connect_id, "connection ended; not reconnecting");
            } else {
                tracing::info!(user_id, connect_id, %error, "connection failed; not reconnecting");
            }
            report_failed(&hub, user_id, connect_id, error, None);
            break;
        }
        let delay = policy.failed(Instant::now());
        tracing::info!(user_id, connect_id, url = %options.url, %error, ?delay, "connection failed; dialing again");
        report_failed(&hub, user_id, connect_id, error, Some(delay));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => break,
            _ = shutdown_deadline(&mut shutdown) => break,
        }
    }
    report(&hub, user_id, connect_id, ConnectState::Stopped);
}

/// Runs a connected channel to its end; true when the agent disconnected.
async fn connected(
    user_id: u64,
    connect_id: u64,
    connection: Connection,
    options: &ConnectOptions,
    hub: &Hub,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let channel = websocket::next_channel();
    tracing::info!(user_id, connect_id, %channel, url = %options.url, "connected");
    let ctx = ChannelCtx {
        user_id,
        port: connection.local.port(),
        hub,
    };
    let opened = Opened {
        channel,
        peer: connection.peer,
        path: connection.path,
        origin: None,
        direction: Direction::Outbound { connect_id },
        role: None,
        socket: Some(connection.socket),
    };
    // Reported right after the channel's ConnectionOpened, so the game
    // knows the channel by the time it hears it is connected.
    let connected = Event::ConnectStatus(crate::ConnectStatus {
        user_id,
        connect_id,
        state: ConnectState::Connected { channel },
    });
    let shared = Arc::new(ChannelShared::new(options.limits));
    let serving = websocket::serve(
        connection.io,
        Role::Client,
        shared,
        opened,
        Some(connected),
        &ctx,
    );
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => false,
        () = stopped(stop) => {
            let sender = hub
                .channels
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&channel)
                .cloned();
            if let Some(sender) = sender {
                let _ = sender.send(Outbound::Close(1000, "disconnected".to_owned()));
            }
            serving.await;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_the_client_did_not_offer_is_named() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append(
                    "sec-websocket-extensions",
                    HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
                );
            }
            map
        };
        let none = headers(&[]);
        assert_eq!(unoffered_extension(&none, &none), None);
        assert_eq!(
            unoffered_extension(
                &none,
                &headers(&["permessage-deflate; client_max_window_bits"])
            ),
            Some("permessage-deflate".to_owned())
        );
        let offered = headers(&["permessage-deflate"]);
        assert_eq!(
            unoffered_extension(
                &offered,
                &headers(&["Permessage-Deflate; server_no_context_takeover"])
            ),
            None
        );
        assert_eq!(
            unoffered_extension(&offered, &headers(&["permessage-deflate, x-webkit"])),
            Some("x-webkit".to_owned())
        );
    }

    #[test]
    fn urls_are_checked_before_dialing() {
        let kind = |url: &str| {
            target(&ConnectOptions::new(url))
                .err()
                .map(|error| error.kind)
        };
        assert_eq!(
            kind("http://example.org/"),
            Some(ConnectErrorKind::InvalidRequest)
        );
        assert_eq!(kind("not a url"), Some(ConnectErrorKind::InvalidRequest));
        assert_eq!(kind("ws://127.0.0.1:9/x"), None);
        let secure =
            target(&ConnectOptions::new("wss://example.org/x")).map(|t| (t.secure, t.port));
        assert!(matches!(secure, Ok((true, 443))));
    }

    #[test]
    fn the_token_goes_as_a_bearer_header() {
        let mut options = ConnectOptions::new("ws://127.0.0.1:9/");
        options.token = Some("s3cret".to_owned());
        let target = target(&options).map(|target| target.request);
        let header = target
            .ok()
            .and_then(|request| request.headers().get("authorization").cloned());
        assert_eq!(header, Some(HeaderValue::from_static("Bearer s3cret")));
        assert!(
            !format!("{options:?}").contains("s3cret"),
            "never in a log line"
        );
    }
}
