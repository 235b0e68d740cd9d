//! Outbound connections: dial a WebSocket server (ws:// or wss://), run
//! the channel as any other, and dial again with backoff and jitter until
//! the agent disconnects or the host stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Request};
use tokio_tungstenite::WebSocketStream;

use crate::bridge::{ChannelShared, EventQueue, HostShared, NetEvent, Outbound};
use crate::context::{shutdown_deadline, ChannelCtx, ChannelMap, Encoder, TrackerGuard};
use crate::meter::MeteredIo;
use crate::options::ConnectOptions;
use crate::tls;
use crate::types::{ConnectError, ConnectErrorKind, ConnectState, Direction, Event};
use crate::websocket::{self, Opened};

/// A connection that stayed up this long resets the backoff to its start;
/// one that ends sooner (a server that closes at once) keeps backing off.
const STABLE: Duration = Duration::from_secs(5);

/// What every connect task shares with the driver.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) queue: Arc<EventQueue>,
    pub(crate) host: Arc<HostShared>,
    pub(crate) encoder: Encoder,
    pub(crate) channels: ChannelMap,
    pub(crate) shutdown: watch::Receiver<Option<Instant>>,
}

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
    ws: WebSocketStream<MeteredIo<Box<dyn Io>>>,
    shared: Arc<ChannelShared>,
    local: SocketAddr,
    peer: SocketAddr,
    path: String,
}

/// One attempt: TCP, TLS when wss://, the WebSocket handshake.
async fn dial(
    target: &Target,
    options: &ConnectOptions,
    tls: Option<&tokio_rustls::TlsConnector>,
    host: &Arc<HostShared>,
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
            Err(error) => last_error = Some(format!("{address}: {error}")),
        }
    }
    let Some(stream) = stream else {
        return Err(ConnectError::new(
            ConnectErrorKind::Refused,
            last_error.unwrap_or_else(|| "no address to dial".to_owned()),
        ));
    };
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().map_err(|error| {
        ConnectError::new(ConnectErrorKind::Refused, format!("local address: {error}"))
    })?;
    let peer = stream.peer_addr().map_err(|error| {
        ConnectError::new(ConnectErrorKind::Refused, format!("peer address: {error}"))
    })?;
    let io: Box<dyn Io> = match tls {
        Some(connector) => {
            let name = tls::server_name(&target.host)?;
            let stream = connector.connect(name, stream).await.map_err(|error| {
                ConnectError::new(
                    ConnectErrorKind::Tls,
                    format!("TLS with {}: {error}", target.host),
                )
            })?;
            Box::new(stream)
        }
        None => Box::new(stream),
    };
    let shared = Arc::new(ChannelShared::new(options.limits));
    let io = MeteredIo::new(io, Arc::clone(&shared), Arc::clone(host));
    let config = websocket::config(&options.limits);
    let (mut ws, response) =
        tokio_tungstenite::client_async_with_config(target.request.clone(), io, Some(config))
            .await
            .map_err(|error| match error {
                WsError::Http(response) => {
                    let status = response.status().as_u16();
                    ConnectError::new(
                        ConnectErrorKind::HttpStatus(status),
                        format!("the server answered the handshake with HTTP {status}"),
                    )
                }
                other => ConnectError::new(
                    ConnectErrorKind::Handshake,
                    format!("not a WebSocket handshake: {other}"),
                ),
            })?;
    unoffered_extension(target.request.headers(), response.headers())
        .map_or(Ok(()), |name| {
            Err(ConnectError::new(
                ConnectErrorKind::Handshake,
                format!(
                    "the server answered with the extension {name}, which this client did not offer (RFC 6455 4.1)"
                ),
            ))
        })?;
    // The handshake's bytes are not a message.
    ws.get_mut().message_done(0);
    let path = target
        .request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |path| path.as_str().to_owned());
    Ok(Connection {
        ws,
        shared,
        local,
        peer,
        path,
    })
}

/// The first extension the server's answer names that the request did not
/// offer, cut and escaped for a message. RFC 6455 4.1: the client must then
/// fail the connection (tungstenite checks the subprotocol, not this).
fn unoffered_extension(
    request: &tokio_tungstenite::tungstenite::http::HeaderMap,
    response: &tokio_tungstenite::tungstenite::http::HeaderMap,
) -> Option<String> {
    let names = |headers: &tokio_tungstenite::tungstenite::http::HeaderMap| -> Vec<Vec<u8>> {
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

/// A delay for backoff `base`: uniformly between half of it and all of it.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// Reports the state of the connect request.
fn report(link: &Link, user_id: u64, connect_id: u64, state: ConnectState) {
    link.queue.push(NetEvent::Event(Event::ConnectStatus {
        user_id,
        connect_id,
        state,
    }));
}

/// Reports a failed attempt, and when the next one starts (`None`: never).
fn report_failed(
    link: &Link,
    user_id: u64,
    connect_id: u64,
    error: ConnectError,
    retry_in: Option<Duration>,
) {
    report(
        link,
        user_id,
        connect_id,
        ConnectState::Failed { error, retry_in },
    );
}

/// Resolves when the agent disconnects (or the driver is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// The life of one connect request.
pub(crate) async fn run(
    user_id: u64,
    connect_id: u64,
    options: ConnectOptions,
    link: Link,
    mut stop: watch::Receiver<bool>,
    _guard: TrackerGuard,
) {
    let setup = options.validate().and_then(|()| {
        let target = target(&options)?;
        let tls = if target.secure {
            Some(tls::connector(options.ca_file.as_deref())?)
        } else {
            None
        };
        Ok((target, tls))
    });
    let (target, tls) = match setup {
        Ok(setup) => setup,
        Err(error) => {
            tracing::warn!(user_id, connect_id, %error, "connect request refused");
            report_failed(&link, user_id, connect_id, error, None);
            report(&link, user_id, connect_id, ConnectState::Stopped);
            return;
        }
    };
    let mut shutdown = link.shutdown.clone();
    let mut base = options.initial_backoff;
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        report(
            &link,
            user_id,
            connect_id,
            ConnectState::Connecting { attempt },
        );
        let dialing = tokio::time::timeout(
            options.limits.handshake_timeout,
            dial(&target, &options, tls.as_ref(), &link.host),
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
                let up_since = Instant::now();
                let ended_by_us =
                    connected(user_id, connect_id, connection, &options, &link, &mut stop).await;
                if ended_by_us || link.shutdown.borrow().is_some() {
                    break;
                }
                if up_since.elapsed() >= STABLE {
                    base = options.initial_backoff;
                }
                ConnectError::new(ConnectErrorKind::Closed, "the connection ended")
            }
            Err(error) if error.kind == ConnectErrorKind::InvalidRequest => {
                tracing::warn!(user_id, connect_id, %error, "connect request refused");
                report_failed(&link, user_id, connect_id, error, None);
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
            report_failed(&link, user_id, connect_id, error, None);
            break;
        }
        let delay = jittered(base);
        tracing::info!(user_id, connect_id, url = %options.url, %error, ?delay, "connection failed; dialing again");
        report_failed(&link, user_id, connect_id, error, Some(delay));
        base = (base * 2).min(options.max_backoff);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => break,
            _ = shutdown_deadline(&mut shutdown) => break,
        }
    }
    report(&link, user_id, connect_id, ConnectState::Stopped);
}

/// Runs a connected channel to its end; true when the agent disconnected.
async fn connected(
    user_id: u64,
    connect_id: u64,
    connection: Connection,
    options: &ConnectOptions,
    link: &Link,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let channel = websocket::next_channel();
    tracing::info!(user_id, connect_id, %channel, url = %options.url, "connected");
    let ctx = ChannelCtx {
        user_id,
        port: connection.local.port(),
        queue: &link.queue,
        encoder: &link.encoder,
        channels: &link.channels,
        shutdown: &link.shutdown,
    };
    let opened = Opened {
        channel,
        peer: connection.peer,
        path: connection.path,
        origin: None,
        direction: Direction::Outbound { connect_id },
    };
    // Reported right after the channel's ConnectionOpened, so the game
    // knows the channel by the time it hears it is connected.
    let connected = Event::ConnectStatus {
        user_id,
        connect_id,
        state: ConnectState::Connected { channel },
    };
    let serving = websocket::serve(
        connection.ws,
        connection.shared,
        opened,
        Some(connected),
        &ctx,
    );
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => false,
        () = stopped(stop) => {
            let sender = ctx
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
        use tokio_tungstenite::tungstenite::http::HeaderMap;
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
    fn jitter_stays_between_half_and_all_of_the_delay() {
        for _ in 0..1000 {
            let delay = jittered(Duration::from_millis(400));
            assert!(delay >= Duration::from_millis(200) && delay <= Duration::from_millis(400));
        }
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
