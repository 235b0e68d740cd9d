//! The network thread: a current-thread tokio runtime that owns every
//! socket. It wakes only on I/O readiness, timers and the game's batches.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;

use crate::bridge::{Command, EventQueue, HostShared, NetEvent};
use crate::channel::Outbound;
use crate::connector;
use crate::context::{ChannelMap, Encoder, Hub, ListenerCtx, Tracker};
use crate::discovery::{DiscoveryFile, ListenerEntry};
use crate::listener;
use crate::options::{ConnectOptions, Discovery, ListenOptions};
use crate::recorder::Recorders;
use crate::tls;
use crate::types::{
    ChannelId, ConnectError, ConnectErrorKind, ConnectState, Event, ListenError, ListenErrorKind,
};

/// Tells the network thread to shut down, with a deadline for the clients.
#[derive(Debug)]
pub(crate) struct ShutdownSignal(oneshot::Sender<Duration>);

impl ShutdownSignal {
    pub(crate) fn signal(self, timeout: Duration) {
        // The thread may already be gone; then there is nothing to stop.
        let _ = self.0.send(timeout);
    }
}

/// Starts the network thread.
pub(crate) fn spawn(
    commands: mpsc::UnboundedReceiver<Vec<Command>>,
    queue: Arc<EventQueue>,
    host: Arc<HostShared>,
    encoder: Encoder,
    discovery: Option<Discovery>,
    record: Option<crate::RecordOptions>,
) -> std::io::Result<(JoinHandle<()>, ShutdownSignal)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("fiasco-ipc")
        .build()?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("fiasco-ipc".into())
        .spawn(move || {
            let discovery =
                discovery.map(|discovery| DiscoveryFile::new(discovery.dir, discovery.name));
            let driver = Driver::new(queue, host, encoder, discovery);
            let recorders = Arc::clone(&driver.recorders);
            if let Some(options) = record {
                recorders.start(0, options, &driver.queue);
            }
            runtime.block_on(driver.run(commands, shutdown_rx));
            // Anything still running past the deadline is dropped here; its
            // drop guards report the channel closed.
            runtime.shutdown_timeout(Duration::from_millis(100));
            // Every channel's end is queued: the file is finished before
            // the host's drop returns.
            recorders.stop(None, "host stopped", true);
        })?;
    Ok((thread, ShutdownSignal(shutdown_tx)))
}

struct Listening {
    user_id: u64,
    stop: watch::Sender<bool>,
}

struct Driver {
    queue: Arc<EventQueue>,
    host: Arc<HostShared>,
    encoder: Encoder,
    listeners: HashMap<u16, Listening>,
    /// Outbound connect requests by (user_id, connect_id): set to stop.
    connectors: HashMap<(u64, u64), watch::Sender<bool>>,
    channels: ChannelMap,
    recorders: Arc<Recorders>,
    tracker: Arc<Tracker>,
    /// Set to the deadline when the host shuts down.
    shutdown: watch::Sender<Option<Instant>>,
    /// Removed when the driver is dropped, at the end of the thread.
    discovery: Option<DiscoveryFile>,
    /// The system's trust store, loaded at the first wss:// link.
    trust: tls::SystemRoots,
}

impl Driver {
    fn new(
        queue: Arc<EventQueue>,
        host: Arc<HostShared>,
        encoder: Encoder,
        discovery: Option<DiscoveryFile>,
    ) -> Self {
        Self {
            queue,
            host,
            encoder,
            listeners: HashMap::new(),
            connectors: HashMap::new(),
            channels: Arc::default(),
            recorders: Arc::default(),
            tracker: Arc::default(),
            shutdown: watch::Sender::new(None),
            discovery,
            trust: tls::SystemRoots::default(),
        }
    }

    /// What a listener's or a link's connection tasks share.
    fn hub(&self) -> Hub {
        Hub {
            queue: Arc::clone(&self.queue),
            host: Arc::clone(&self.host),
            encoder: self.encoder.clone(),
            channels: Arc::clone(&self.channels),
            recorders: Arc::clone(&self.recorders),
            tracker: Arc::clone(&self.tracker),
            shutdown: self.shutdown.subscribe(),
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Vec<Command>>,
        mut stop: oneshot::Receiver<Duration>,
    ) {
        let timeout = loop {
            tokio::select! {
                biased;
                timeout = &mut stop => break timeout.unwrap_or(Duration::ZERO),
                batch = commands.recv() => match batch {
                    Some(batch) => {
                        for command in batch {
                            self.handle(command).await;
                        }
                    }
                    None => break Duration::ZERO,
                },
            }
        };
        // Commands flushed just before the shutdown still count.
        while let Ok(batch) = commands.try_recv() {
            for command in batch {
                self.handle(command).await;
            }
        }
        let deadline = Instant::now() + timeout;
        for (_, listening) in self.listeners.drain() {
            let _ = listening.stop.send(true);
        }
        let _ = self.shutdown.send(Some(deadline));
        let _ = tokio::time::timeout_at(
            deadline + Duration::from_millis(50),
            self.tracker.wait_idle(),
        )
        .await;
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Listen {
                user_id,
                port,
                options,
            } => {
                let result = self.listen(user_id, port, *options).await;
                if let Err(error) = &result {
                    tracing::warn!(user_id, port, %error, "listen request refused");
                }
                self.queue
                    .push(NetEvent::Event(Event::ListenResult(crate::ListenResult {
                        user_id,
                        requested_port: port,
                        result,
                    })));
            }
            Command::StopListening { user_id, port } => {
                let stopped = match self.listeners.remove(&port) {
                    Some(listening) if listening.user_id == user_id => {
                        let _ = listening.stop.send(true);
                        if let Some(discovery) = self.discovery.as_mut() {
                            discovery.remove(port);
                        }
                        tracing::info!(user_id, port, "stopped listening");
                        true
                    }
                    Some(listening) => {
                        // Another agent's port: leave it alone.
                        self.listeners.insert(port, listening);
                        false
                    }
                    None => false,
                };
                self.queue.push(NetEvent::Event(Event::StopListeningResult(
                    crate::StopListeningResult {
                        user_id,
                        port,
                        stopped,
                    },
                )));
            }
            Command::Send { channel, outbound } => self.route(channel, outbound),
            Command::Connect {
                user_id,
                connect_id,
                options,
            } => self.connect(user_id, connect_id, *options),
            Command::Disconnect {
                user_id,
                connect_id,
            } => match self.connectors.remove(&(user_id, connect_id)) {
                Some(stop) => {
                    let _ = stop.send(true);
                }
                None => tracing::debug!(user_id, connect_id, "disconnect for no connect request"),
            },
            Command::Released => self.host.wake_blocked(),
            Command::Record { user_id, options } => {
                self.recorders.start(user_id, *options, &self.queue);
            }
            Command::StopRecording { user_id } => {
                if !self.recorders.stop(Some(user_id), "requested", false) {
                    tracing::debug!(user_id, "stop recording: no recording of this user_id");
                }
            }
            Command::Close {
                channel,
                code,
                reason,
            } => {
                self.route(channel, Outbound::Close(code, reason));
            }
        }
    }

    fn connect(&mut self, user_id: u64, connect_id: u64, options: ConnectOptions) {
        let key = (user_id, connect_id);
        if self
            .connectors
            .get(&key)
            .is_some_and(|stop| !stop.is_closed())
        {
            let error = ConnectError::new(
                ConnectErrorKind::InvalidRequest,
                format!("connect_id {connect_id} is already in use by this user_id"),
            );
            self.queue.push(NetEvent::Event(Event::ConnectStatus(
                crate::ConnectStatus {
                    user_id,
                    connect_id,
                    state: ConnectState::Failed {
                        error,
                        retry_in: None,
                    },
                },
            )));
            return;
        }
        let (stop, stop_rx) = watch::channel(false);
        self.connectors.insert(key, stop);
        let guard = self.tracker.guard();
        tokio::spawn(connector::run(
            user_id,
            connect_id,
            options,
            self.hub(),
            self.trust.clone(),
            stop_rx,
            guard,
        ));
    }

    fn route(&self, channel: ChannelId, outbound: Outbound) {
        let channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match channels.get(&channel) {
            // A send error means the connection task just ended; its
            // ChannelClosed event is on its way to the game.
            Some(sender) => drop(sender.send(outbound)),
            None => tracing::debug!(%channel, "request for a closed channel ignored"),
        }
    }

    async fn listen(
        &mut self,
        user_id: u64,
        port: u16,
        options: ListenOptions,
    ) -> Result<std::net::SocketAddr, ListenError> {
        options.validate()?;
        if port != 0 && self.listeners.contains_key(&port) {
            return Err(ListenError::new(
                ListenErrorKind::AlreadyListening,
                format!("already listening on port {port}"),
            ));
        }
        let tls = match &options.tls {
            Some(files) => Some(tls::acceptor(files)?),
            None => None,
        };
        let address = options.address(port);
        let listener = bind(address).map_err(|error| ListenError::from_io(error, address))?;
        let local = listener
            .local_addr()
            .map_err(|error| ListenError::from_io(error, address))?;
        let (stop, stop_rx) = watch::channel(false);
        let token_len = options
            .token
            .iter()
            .chain(options.tokens.iter().map(|grant| &grant.token))
            .map(String::len)
            .min();
        let ctx = Arc::new(ListenerCtx {
            user_id,
            local,
            connections: Arc::new(Semaphore::new(options.limits.max_connections)),
            gate: crate::context::Gate::new(&options, local.port()),
            options,
            tls,
            hub: self.hub(),
        });
        if let Some(discovery) = self.discovery.as_mut() {
            discovery.add(listener_entry(user_id, local, &ctx.options));
        }
        tokio::spawn(listener::accept_loop(listener, ctx, stop_rx));
        self.listeners
            .insert(local.port(), Listening { user_id, stop });
        tracing::info!(user_id, address = %local, "listening");
        if let Some(token) = token_len {
            if token < MIN_ADVISED_TOKEN {
                tracing::warn!(user_id, address = %local, bytes = token, "the port's token is short: wrong tokens are answered late, but a guesser that does not wait for the answers still learns of each wrong guess at once (thousands a second); use a random token of at least 16 bytes (e.g. 32 hex digits)");
            }
        }
        Ok(local)
    }
}

/// Tokens shorter than this get a warning when the port opens: the late
/// answers slow one who waits for them, not one who does not.
const MIN_ADVISED_TOKEN: usize = 16;

/// The kernel's queue of connections not yet accepted: room for a burst
/// (a few hundred tools starting at once, or a flood the accept loop is
/// catching up with) without a client's SYN being dropped and retried a
/// second later. Linux caps it at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 1024;

/// Binds `address` as `std` does (address reuse on Unix), with
/// [`ACCEPT_BACKLOG`].
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// What the discovery file says of a listener.
fn listener_entry(user_id: u64, local: SocketAddr, options: &ListenOptions) -> ListenerEntry {
    let scheme = if options.tls.is_some() { "wss" } else { "ws" };
    let port = local.port();
    let hosts: Vec<String> = if local.ip().is_unspecified() {
        vec!["127.0.0.1".to_owned(), "localhost".to_owned()]
    } else if local.ip().is_loopback() {
        vec![local.ip().to_string(), "localhost".to_owned()]
    } else {
        vec![local.ip().to_string()]
    };
    let tokens: Vec<crate::discovery::RoleToken> = options
        .token
        .iter()
        .map(|token| crate::discovery::RoleToken {
            role: crate::DEFAULT_ROLE.to_owned(),
            token: token.clone(),
        })
        .chain(
            options
                .tokens
                .iter()
                .map(|grant| crate::discovery::RoleToken {
                    role: grant.role.clone(),
                    token: grant.token.clone(),
                }),
        )
        .collect();
    let urls = hosts
        .into_iter()
        .map(|host| match host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("{scheme}://[{host}]:{port}/"),
            Err(_) => format!("{scheme}://{host}:{port}/"),
        })
        .collect();
    ListenerEntry {
        user_id,
        port,
        urls,
        token_required: options.token.is_some() || !options.tokens.is_empty(),
        token: options.token.clone(),
        roles: tokens.iter().map(|grant| grant.role.clone()).collect(),
        tokens,
    }
}
