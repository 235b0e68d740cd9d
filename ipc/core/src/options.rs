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
    /// Shared secret a client must present: exactly one per request, as
    /// the query parameter `token=` or `Authorization: Bearer` (two that
    /// disagree: 400). A wrong one is answered 401 late, the later the more
    /// its address failed recently (up to 1 s); the right one always opens
    /// at once. Use a long random token (e.g. 32 hex digits): guessing is
    /// slowed, not impossible. The same as a grant in
    /// [`tokens`](Self::tokens) with the role `"default"`. Default: none on
    /// loopback.
    pub token: Option<String>,
    /// Tokens that each grant a role: a client presenting one is reported
    /// with its role ([`ConnectionOpened::role`](crate::ConnectionOpened::role)),
    /// and agents decide what each role may do. Checked as `token` is.
    /// Default: none.
    pub tokens: Vec<TokenGrant>,
    /// A folder served for plain HTTP GET. Default: none (404).
    pub web_root: Option<PathBuf>,
    /// TLS certificate chain and key (PEM files). Default: none (plain ws).
    pub tls: Option<TlsFiles>,
    /// The limits.
    pub limits: Limits,
}

/// The role a port's single [`ListenOptions::token`] grants.
pub const DEFAULT_ROLE: &str = "default";

/// A token and the role it grants.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The secret: URL-safe (`[A-Za-z0-9._~-]`), 1 to 256 bytes, so it
    /// goes in a URL's query without escaping.
    pub token: String,
    /// The role's name: URL-safe as the token, 1 to 64 bytes.
    pub role: String,
}

impl TokenGrant {
    /// A grant of `role` to `token`.
    pub fn new(token: impl Into<String>, role: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            role: role.into(),
        }
    }

    /// Parses `role:token,role:token` (the `ipc.tokens` setting and
    /// `FIASCO_IPC_TOKENS`); spaces around items are ignored. The grants
    /// are checked when a port is opened with them.
    pub fn parse_list(text: &str) -> Result<Vec<TokenGrant>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.split_once(':')
                    .map(|(role, token)| TokenGrant::new(token.trim(), role.trim()))
                    .ok_or_else(|| format!("a grant is role:token, not {item:?}"))
            })
            .collect()
    }
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("token", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// Whether `text` is 1 to `max` URL-safe bytes (`[A-Za-z0-9._~-]`).
fn url_safe(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._~-".contains(&byte))
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
    /// Most open channels (completed WebSocket handshakes) at once on the
    /// port. Default 1024: more tools than anyone runs, far fewer than the
    /// process's file descriptors. Connections still in their handshake and
    /// HTTP connections do not count (see
    /// [`max_pending_handshakes`](Self::max_pending_handshakes) and
    /// [`max_http_connections`](Self::max_http_connections)). Beyond it, a
    /// client whose handshake passed every check gets HTTP 503.
    pub max_connections: usize,
    /// Most connections at once that have not finished their WebSocket
    /// handshake (silent sockets, unfinished request heads, TLS
    /// handshakes). Default 128: a real client needs one for milliseconds.
    /// When full, a new connection is not refused: the oldest unfinished one
    /// (preferring one that never sent a byte) is dropped for it, so
    /// sockets that never finish a request cannot keep out the clients that
    /// do.
    pub max_pending_handshakes: usize,
    /// Most unfinished connections from one address (IPv6: one /64), on
    /// ports bound beyond loopback only (on loopback every local process
    /// shares 127.0.0.1). Default 16. Over it, that address's oldest
    /// unfinished connection is dropped.
    pub max_pending_per_address: usize,
    /// Most plain HTTP connections at once (serving `web_root` files; they
    /// leave the unfinished ones at their first GET). Default 32: a browser
    /// opens six per page. Beyond it, a GET gets HTTP 503.
    pub max_http_connections: usize,
    /// Longest life of an HTTP connection that never upgrades, from its
    /// accept, whatever it sends. Default 30 s: a page and its files load
    /// in far less. When it passes, the connection closes after the answer
    /// being written (which must keep the write timeout's minimum rate:
    /// 64 KiB per `write_timeout`).
    pub http_lifetime: Duration,
    /// Largest HTTP request head (request line and headers), in bytes: the
    /// read buffer of a connection before its upgrade. Default 32 KiB: a
    /// browser's head with many localhost cookies fits. Beyond it, HTTP
    /// 431. At least 8 KiB.
    pub max_request_head: usize,
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
    /// Bytes queued to one client before it is closed with 1008. Default
    /// 64 MiB: four frames of the default frame budget echoed back, so a
    /// client that reads is never closed for one frame's burst.
    pub max_outbound_bytes: usize,
    /// How long the socket may accept no bytes while messages wait for it
    /// before the client is closed with 1008 (it stopped reading). Default
    /// 10 s: far beyond any pause of a client that reads, short enough that
    /// a stuck one does not hold its queue for long. HTTP answers (files,
    /// refusals) must get 64 KiB into the socket per `write_timeout`, or
    /// the connection is dropped.
    pub write_timeout: Duration,
    /// Messages from one client waiting for the game: at this many the host
    /// stops reading the socket until the game takes some (backpressure).
    /// Default 4096.
    pub max_inbound_messages: usize,
    /// Bytes one client may have in the host (complete messages waiting for
    /// the game and the message being read): at this many the host stops
    /// reading its socket until the game takes some (backpressure; TCP slows
    /// the client). Default 32 MiB: two largest messages. At least
    /// `max_message_size` + 64 KiB, so every message can complete.
    pub max_inbound_bytes: usize,
    /// Time from a message's first byte to its last. Default 30 s: a 16 MiB
    /// message needs milliseconds on a LAN; beyond it the client is closed
    /// with 1008 (it holds a share of the budget without finishing).
    pub message_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            max_connections: 1024,
            max_pending_handshakes: 128,
            max_pending_per_address: 16,
            max_http_connections: 32,
            http_lifetime: Duration::from_secs(30),
            max_request_head: 32 * 1024,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_outbound_messages: 4096,
            max_outbound_bytes: 64 << 20,
            write_timeout: Duration::from_secs(10),
            max_inbound_messages: 4096,
            max_inbound_bytes: 32 << 20,
            message_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            allowed_origins: Vec::new(),
            token: None,
            tokens: Vec::new(),
            web_root: None,
            tls: None,
            limits: Limits::default(),
        }
    }
}

/// What a channel's inbound share needs beyond its largest message: the
/// frame headers and the read buffer.
pub(crate) const INBOUND_SLACK: usize = 64 * 1024;

/// Hard caps: values above are refused as invalid requests.
const MAX_MESSAGE_CAP: usize = 1 << 30;
const MAX_CONNECTIONS_CAP: usize = 100_000;
const MAX_PENDING_CAP: usize = 65_536;
/// hyper's smallest read buffer.
const MIN_REQUEST_HEAD: usize = 8 * 1024;
const MAX_REQUEST_HEAD: usize = 1 << 20;

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
        if limits.max_pending_handshakes == 0 || limits.max_pending_handshakes > MAX_PENDING_CAP {
            return invalid("max_pending_handshakes must be between 1 and 65536");
        }
        if limits.max_pending_per_address == 0 || limits.max_http_connections == 0 {
            return invalid("max_pending_per_address and max_http_connections must be positive");
        }
        if limits.max_http_connections > MAX_CONNECTIONS_CAP {
            return invalid("max_http_connections must be at most 100000");
        }
        if !(MIN_REQUEST_HEAD..=MAX_REQUEST_HEAD).contains(&limits.max_request_head) {
            return invalid("max_request_head must be between 8 KiB and 1 MiB");
        }
        if limits.handshake_timeout.is_zero()
            || limits.http_lifetime.is_zero()
            || limits.idle_timeout.is_zero()
            || limits.write_timeout.is_zero()
            || limits.message_timeout.is_zero()
        {
            return invalid("timeouts must be positive");
        }
        if limits.max_inbound_bytes < limits.max_message_size.saturating_add(INBOUND_SLACK) {
            return invalid("max_inbound_bytes must be at least max_message_size + 64 KiB");
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
        let mut seen = std::collections::HashSet::new();
        for (token, role) in self.token.iter().map(|token| (token, DEFAULT_ROLE)).chain(
            self.tokens
                .iter()
                .map(|grant| (&grant.token, grant.role.as_str())),
        ) {
            if !url_safe(token, 256) {
                return invalid("a token must be 1 to 256 URL-safe characters ([A-Za-z0-9._~-])");
            }
            if !url_safe(role, 64) {
                return invalid(&format!(
                    "role {role:?} must be 1 to 64 URL-safe characters ([A-Za-z0-9._~-])"
                ));
            }
            if !seen.insert(token.as_str()) {
                return invalid("the same token is granted twice");
            }
        }
        if !self.bind_address.is_loopback() && self.token.is_none() && self.tokens.is_empty() {
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

/// Host-wide options: the byte budgets every channel shares and how much
/// the game is handed per frame. `#[non_exhaustive]`: start from
/// [`Default`]. Per-port limits are in [`Limits`].
#[derive(Clone)]
#[non_exhaustive]
pub struct HostOptions {
    /// Inbound bytes the host holds for every channel together (messages
    /// waiting for the game and messages being read). When it is spent,
    /// channels beyond their reserve stop being read until the game takes
    /// messages. Default 128 MiB: a few seconds of a flood at the default
    /// frame budget, a small part of a game's memory.
    pub inbound_budget: usize,
    /// Outbound bytes queued to every client together. A message that would
    /// go beyond it closes its channel with 1008 (its client is behind).
    /// Default 128 MiB.
    pub outbound_budget: usize,
    /// Inbound bytes each channel may hold however full the host budget is,
    /// so a quiet client is served while others flood. Default 64 KiB.
    pub channel_reserve: usize,
    /// How much [`IpcHost::poll_event`](crate::IpcHost::poll_event) yields
    /// between two flushes (one frame).
    pub frame_budget: FrameBudget,
    /// Builds the game's form of each inbound message on the network
    /// thread, so the game thread copies nothing (see
    /// [`MessageEncoder`](crate::MessageEncoder)). Default: none.
    pub encoder: Option<std::sync::Arc<dyn crate::MessageEncoder>>,
    /// Keep a discovery file so tools find the game's ports
    /// (`fiasco-ipc list`; see [`discovery`](crate::discovery)). Default:
    /// none (a library writes no files unasked); the IPC module and the
    /// Bevy plugin turn it on.
    pub discovery: Option<Discovery>,
    /// Record every session from the start (see
    /// [`recording`](crate::recording)); its end is reported by
    /// [`Event::RecordStatus`](crate::Event::RecordStatus) with `user_id`
    /// 0. Default: none.
    pub record: Option<crate::RecordOptions>,
}

/// Where and under which name the game's discovery file is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discovery {
    /// The game's name in the file.
    pub name: String,
    /// The folder ([`discovery::default_dir`](crate::discovery::default_dir)).
    pub dir: PathBuf,
}

impl Discovery {
    /// This process, named after its executable, in the user's folder.
    pub fn for_this_process() -> Self {
        let name = std::env::current_exe()
            .ok()
            .and_then(|exe| {
                exe.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "game".to_owned());
        Self {
            name,
            dir: crate::discovery::default_dir(),
        }
    }

    /// Named `name`, in `dir`.
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            dir: dir.into(),
        }
    }
}

impl std::fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOptions")
            .field("inbound_budget", &self.inbound_budget)
            .field("outbound_budget", &self.outbound_budget)
            .field("channel_reserve", &self.channel_reserve)
            .field("frame_budget", &self.frame_budget)
            .field("encoder", &self.encoder.is_some())
            .field("discovery", &self.discovery)
            .field("record", &self.record)
            .finish()
    }
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            inbound_budget: 128 << 20,
            outbound_budget: 128 << 20,
            channel_reserve: 64 * 1024,
            frame_budget: FrameBudget::default(),
            encoder: None,
            discovery: None,
            record: None,
        }
    }
}

impl HostOptions {
    /// Checks the options before the host starts.
    pub fn validate(&self) -> Result<(), InvalidOptions> {
        if self.inbound_budget < self.channel_reserve || self.inbound_budget == 0 {
            return Err(InvalidOptions(
                "inbound_budget must be positive and at least channel_reserve",
            ));
        }
        if self.outbound_budget == 0 {
            return Err(InvalidOptions("outbound_budget must be positive"));
        }
        if self.frame_budget.max_messages == 0 || self.frame_budget.max_bytes == 0 {
            return Err(InvalidOptions("frame_budget limits must be positive"));
        }
        if self
            .record
            .as_ref()
            .is_some_and(|record| record.budget == 0)
        {
            return Err(InvalidOptions("record.budget must be positive"));
        }
        Ok(())
    }
}

/// Host options that cannot work: the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host options: {0}")]
pub struct InvalidOptions(pub &'static str);

/// How much inbound traffic the game is handed per frame: what does not fit
/// waits for the next frame, within the byte budget. `#[non_exhaustive]`:
/// start from [`Default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameBudget {
    /// Messages per frame. Default 128: the IPC systems' game-thread time
    /// per frame stays under 1 ms (p99) on a 2-core VM under a flood, where
    /// the flood's own threads preempt the game; 7,680 messages/s at 60 fps
    /// (a client sending more is slowed down, not closed), as many frames
    /// as the game runs at `--fps 0`.
    pub max_messages: usize,
    /// Bytes per frame (the first message of a frame always goes, however
    /// large). Default 16 MiB: the largest default message, about 1 GB/s
    /// at 60 fps.
    pub max_bytes: usize,
}

impl Default for FrameBudget {
    fn default() -> Self {
        Self {
            max_messages: 128,
            max_bytes: 16 << 20,
        }
    }
}

impl FrameBudget {
    /// A budget of `max_messages` and `max_bytes` per frame.
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        Self {
            max_messages,
            max_bytes,
        }
    }
}

/// How an outbound connection dials and stays up. `#[non_exhaustive]`:
/// start from [`ConnectOptions::new`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// `ws://host[:port]/path` or `wss://...`.
    pub url: String,
    /// Sent as `Authorization: Bearer`; never over plain `ws://` to a host
    /// beyond loopback (refused as invalid), never logged.
    pub token: Option<String>,
    /// PEM file of the CAs to trust for `wss://`, instead of the system's
    /// trust store.
    pub ca_file: Option<PathBuf>,
    /// Dial again after a failure or a drop. Default: yes.
    pub reconnect: bool,
    /// The first delay before dialing again. Default 100 ms.
    pub initial_backoff: Duration,
    /// The longest delay: it doubles up to this. Default 30 s.
    pub max_backoff: Duration,
    /// The channel's limits, as a listener's (`max_connections`, the
    /// pending, HTTP and request head limits unused; `handshake_timeout`
    /// covers TCP, TLS and the handshake).
    pub limits: Limits,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never in a log line.
        f.debug_struct("ConnectOptions")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("reconnect", &self.reconnect)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("limits", &self.limits)
            .finish()
    }
}

impl ConnectOptions {
    /// Dials `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            ca_file: None,
            reconnect: true,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            limits: Limits::default(),
        }
    }

    /// Checks what can be checked before dialing.
    pub(crate) fn validate(&self) -> Result<(), crate::types::ConnectError> {
        let as_listen = ListenOptions {
            limits: self.limits,
            ..ListenOptions::default()
        };
        let invalid = |message: String| {
            crate::types::ConnectError::new(crate::types::ConnectErrorKind::InvalidRequest, message)
        };
        as_listen
            .validate()
            .map_err(|error| invalid(error.message))?;
        if self.token.as_deref() == Some("") {
            return Err(invalid("an empty token is not a secret".to_owned()));
        }
        if self.initial_backoff.is_zero() || self.max_backoff < self.initial_backoff {
            return Err(invalid(
                "initial_backoff must be positive and at most max_backoff".to_owned(),
            ));
        }
        Ok(())
    }
}
