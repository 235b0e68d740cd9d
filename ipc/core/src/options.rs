//! Per-port listen options and their limits.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::types::{ListenError, ListenErrorKind};

/// How a port listens. `#[non_exhaustive]`: start from [`Default`] and set
/// fields. Every default is safe for a game on a developer's machine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenOptions {
    /// Address to bind. Default `127.0.0.1`: only this machine can connect.
    /// Anything but loopback requires [`token`](Self::token).
    pub bind_address: IpAddr,
    /// Origins allowed besides the port's own (`http://127.0.0.1:PORT`,
    /// `http://localhost:PORT`, `http://[::1]:PORT` and their `https`
    /// forms). `"*"` allows any. Default: none.
    pub allowed_origins: Vec<String>,
    /// Shared secret a client must present (query `token=` or
    /// `Authorization: Bearer`). Default: none on loopback.
    pub token: Option<String>,
    /// A folder served for plain HTTP GET. Default: none (404).
    pub web_root: Option<PathBuf>,
    /// TLS certificate chain and key (PEM files). Default: none (plain ws).
    pub tls: Option<TlsFiles>,
    /// The limits.
    pub limits: Limits,
}

/// PEM files for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// The private key.
    pub key_path: PathBuf,
}

/// Per-port limits: caps on sizes and times "to prevent memory eating by a
/// malicious user", and on how far a slow client or a slow game may fall
/// behind. `#[non_exhaustive]`: start from [`Default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest message from a client. Default 16 MiB: a large level or
    /// screenshot fits; beyond it the client gets 1009.
    pub max_message_size: usize,
    /// Largest frame from a client. Default 16 MiB (as the message).
    pub max_frame_size: usize,
    /// Most connections at once on the port. Default 1024: more tools than
    /// anyone runs, far fewer than the process's file descriptors. Beyond
    /// it, clients get HTTP 503.
    pub max_connections: usize,
    /// Time from TCP accept to a completed handshake. Default 5 s: enough
    /// for TLS on a loaded machine, short enough against slowloris. Beyond
    /// it the socket is dropped.
    pub handshake_timeout: Duration,
    /// Silence before the host pings; as long again without an answer and
    /// the channel is closed (1001). Default 30 s.
    pub idle_timeout: Duration,
    /// Messages queued to one client before it is closed with 1008 (it reads
    /// too slowly). Default 4096: a minute of 60 fps streaming.
    pub max_outbound_messages: usize,
    /// Bytes queued to one client before it is closed with 1008. Default 64 MiB.
    pub max_outbound_bytes: usize,
    /// Messages from one client waiting for the game before the client is
    /// closed with 1008 (it floods faster than the game takes). Default 4096.
    pub max_inbound_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_outbound_messages: 4096,
            max_outbound_bytes: 64 << 20,
            max_inbound_messages: 4096,
        }
    }
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            allowed_origins: Vec::new(),
            token: None,
            web_root: None,
            tls: None,
            limits: Limits::default(),
        }
    }
}

/// Hard caps: values above are refused as invalid requests.
const MAX_MESSAGE_CAP: usize = 1 << 30;
const MAX_CONNECTIONS_CAP: usize = 100_000;

impl ListenOptions {
    /// Checks the options before binding.
    pub fn validate(&self) -> Result<(), ListenError> {
        let invalid =
            |message: &str| Err(ListenError::new(ListenErrorKind::InvalidRequest, message));
        let limits = &self.limits;
        if limits.max_message_size == 0 || limits.max_message_size > MAX_MESSAGE_CAP {
            return invalid("max_message_size must be between 1 byte and 1 GiB");
        }
        if limits.max_frame_size == 0 || limits.max_frame_size > MAX_MESSAGE_CAP {
            return invalid("max_frame_size must be between 1 byte and 1 GiB");
        }
        if limits.max_connections == 0 || limits.max_connections > MAX_CONNECTIONS_CAP {
            return invalid("max_connections must be between 1 and 100000");
        }
        if limits.handshake_timeout.is_zero() || limits.idle_timeout.is_zero() {
            return invalid("timeouts must be positive");
        }
        if limits.max_outbound_messages == 0
            || limits.max_outbound_bytes == 0
            || limits.max_inbound_messages == 0
        {
            return invalid("queue limits must be positive");
        }
        if self.token.as_deref() == Some("") {
            return invalid("an empty token is not a secret");
        }
        if !self.bind_address.is_loopback() && self.token.is_none() {
            return Err(ListenError::new(
                ListenErrorKind::TokenRequired,
                format!(
                    "binding {} (beyond loopback) requires a token",
                    self.bind_address
                ),
            ));
        }
        if let Some(root) = &self.web_root {
            if !root.is_dir() {
                return invalid(&format!("web_root {} is not a folder", root.display()));
            }
        }
        Ok(())
    }

    pub(crate) fn address(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.bind_address, port)
    }
}
