//! What the network thread's parts share: the listener and channel
//! contexts, the connection tracker, the channel map and the shutdown deadline. A leaf:
//! it imports none of the parts that use it (driver -> listener -> http ->
//! websocket), so their imports run one way.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::time::Instant;

use crate::bridge::{EventQueue, HostShared};
use crate::channel::Outbound;
use crate::options::ListenOptions;
use crate::pending::Pending;
use crate::refusals::Refusals;
use crate::throttle::TokenThrottle;
use crate::types::MessageEncoder;

/// The encoder of inbound messages, when the game has one.
pub(crate) type Encoder = Option<Arc<dyn MessageEncoder>>;

/// Outbound queues of the open channels, by id.
pub(crate) type ChannelMap = Arc<Mutex<crate::types::ChannelMap<mpsc::UnboundedSender<Outbound>>>>;

/// Counts live connection tasks, so shutdown can wait for them.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    live: AtomicUsize,
    idle: Notify,
}

/// Held by a connection task for its whole life.
#[derive(Debug)]
pub(crate) struct TrackerGuard(Arc<Tracker>);

impl Tracker {
    pub(crate) fn guard(self: &Arc<Self>) -> TrackerGuard {
        self.live.fetch_add(1, Ordering::AcqRel);
        TrackerGuard(Arc::clone(self))
    }

    pub(crate) async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.live.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for TrackerGuard {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A port's defences before the handshake: its slots for unfinished and
/// HTTP connections, its refusal log, its token throttle.
pub(crate) struct Gate {
    /// Connections that have not finished the WebSocket handshake.
    pub(crate) pending: Arc<Pending>,
    /// Plain HTTP connections (serving files).
    pub(crate) http: Arc<Semaphore>,
    pub(crate) refusals: Refusals,
    pub(crate) throttle: Mutex<TokenThrottle>,
    /// Each token's SHA-256 and its role, compared in constant time; `None`
    /// when the port needs no token.
    pub(crate) grants: Option<Vec<crate::security::Grant>>,
}

impl Gate {
    pub(crate) fn new(options: &ListenOptions, port: u16) -> Self {
        let limits = &options.limits;
        let per_address =
            (!options.bind_address.is_loopback()).then_some(limits.max_pending_per_address);
        Self {
            pending: Arc::new(Pending::new(limits.max_pending_handshakes, per_address)),
            http: Arc::new(Semaphore::new(limits.max_http_connections)),
            refusals: Refusals::new(port),
            throttle: Mutex::default(),
            grants: crate::security::Grant::all(options),
        }
    }
}

/// What every connection task shares with the driver, whichever way it
/// goes: where events go, the byte budgets, the encoder, the channel map,
/// the connection tracker and the shutdown signal.
#[derive(Clone)]
pub(crate) struct Hub {
    pub(crate) queue: Arc<EventQueue>,
    pub(crate) host: Arc<HostShared>,
    pub(crate) encoder: Encoder,
    pub(crate) channels: ChannelMap,
    /// Whether and where channels are recorded.
    pub(crate) recorders: Arc<crate::recorder::Recorders>,
    pub(crate) tracker: Arc<Tracker>,
    pub(crate) shutdown: watch::Receiver<Option<Instant>>,
}

/// Everything a connection on this port needs.
pub(crate) struct ListenerCtx {
    pub(crate) user_id: u64,
    pub(crate) local: SocketAddr,
    pub(crate) options: ListenOptions,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// Open channels (`max_connections`).
    pub(crate) connections: Arc<Semaphore>,
    pub(crate) gate: Gate,
    pub(crate) hub: Hub,
}

impl ListenerCtx {
    /// What a channel accepted on this port needs.
    pub(crate) fn channel(&self) -> ChannelCtx<'_> {
        ChannelCtx {
            user_id: self.user_id,
            port: self.local.port(),
            hub: &self.hub,
        }
    }
}

/// What one open channel needs, whichever way it goes: whose it is, its
/// local port, and the hub.
pub(crate) struct ChannelCtx<'a> {
    pub(crate) user_id: u64,
    /// The local port (the listener's, or the dialing socket's).
    pub(crate) port: u16,
    pub(crate) hub: &'a Hub,
}

/// Waits for the host's shutdown; returns its deadline.
pub(crate) async fn shutdown_deadline(
    shutdown: &mut tokio::sync::watch::Receiver<Option<Instant>>,
) -> Instant {
    let deadline = shutdown
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|deadline| *deadline);
    deadline.unwrap_or_else(Instant::now)
}
