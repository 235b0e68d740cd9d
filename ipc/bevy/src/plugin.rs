//! The plugin: starts the host, delivers its events early in the frame and
//! carries out requests late in it.

use std::time::Duration;

use bevy_app::{App, AppExit, Last, Plugin, PreUpdate};
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use fiasco_ipc_core::{
    Discovery, Event, HostOptions, IpcHost, ListenError, ListenErrorKind, SendOptions,
    DEFAULT_SHUTDOWN_TIMEOUT,
};

use crate::messages::*;

/// The IPC host as a Bevy plugin: `app.add_plugins(IpcPlugin::default())`.
///
/// It starts the host's network thread (`fiasco-ipc`) when added. Each
/// frame, in [`PreUpdate`] ([`IpcSystems::Deliver`]), it writes what the
/// network brought as messages ([`ConnectionOpened`],
/// [`MessageFromRemote`], ...), at most the host's frame budget; in
/// [`Last`] ([`IpcSystems::Flush`]) it carries out the requests written
/// during the frame ([`Listen`], [`SendMessage`], ...) and hands them to the
/// network thread at once. So an answer written in the frame a message
/// arrives leaves in that same frame.
///
/// On [`AppExit`] every client is closed with 1001, within
/// `shutdown_timeout`, and the network thread is joined (also when the
/// [`App`] is dropped).
#[derive(Debug, Clone)]
pub struct IpcPlugin {
    /// The host's byte budgets and frame budget.
    pub options: HostOptions,
    /// How long shutdown waits for clients to answer the 1001 close.
    pub shutdown_timeout: Duration,
}

impl Default for IpcPlugin {
    /// The host's defaults, with a discovery file (`fiasco-ipc list` finds
    /// the app); set `options.discovery = None` to opt out.
    fn default() -> Self {
        let mut options = HostOptions::default();
        options.discovery = Some(Discovery::for_this_process());
        Self {
            options,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl IpcPlugin {
    /// Records every session from the start to an MCAP file (see
    /// [`RecordOptions`](fiasco_ipc_core::RecordOptions)); [`RecordStatus`] with `user_id` 0 reports its
    /// end. Start and stop recordings while running with [`Record`].
    #[must_use]
    pub fn record(mut self, options: fiasco_ipc_core::RecordOptions) -> Self {
        self.options.record = Some(options);
        self
    }
}

/// The plugin's systems, to order yours against.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpcSystems {
    /// In [`PreUpdate`]: the network's events become messages.
    Deliver,
    /// In [`Last`]: requests go to the network thread.
    Flush,
}

/// The running host, as a resource. `None` inside when it could not start
/// (logged; every [`Listen`] is then answered with the error) or after
/// shutdown.
#[derive(Resource, Debug)]
pub struct Ipc {
    host: Option<IpcHost>,
    start_error: Option<String>,
    shutdown_timeout: Duration,
}

impl Ipc {
    /// Whether the network thread runs.
    pub fn is_running(&self) -> bool {
        self.host.is_some()
    }

    /// Channels open now (opened and not yet reported closed).
    pub fn channel_count(&self) -> usize {
        self.host.as_ref().map_or(0, IpcHost::channel_count)
    }

    /// Inbound bytes the host holds, every channel together.
    pub fn inbound_bytes(&self) -> usize {
        self.host.as_ref().map_or(0, IpcHost::inbound_bytes)
    }

    /// Outbound bytes queued to every client together.
    pub fn outbound_bytes(&self) -> usize {
        self.host.as_ref().map_or(0, IpcHost::outbound_bytes)
    }
}

impl Plugin for IpcPlugin {
    fn build(&self, app: &mut App) {
        let (host, start_error) = match IpcHost::with_options(self.options.clone()) {
            Ok(host) => (Some(host), None),
            Err(error) => {
                tracing::error!(%error, "the IPC host could not start: every listen request will fail");
                (None, Some(error.to_string()))
            }
        };
        app.insert_resource(Ipc {
            host,
            start_error,
            shutdown_timeout: self.shutdown_timeout,
        })
        .add_message::<Listen>()
        .add_message::<StopListening>()
        .add_message::<SendMessage>()
        .add_message::<CloseChannel>()
        .add_message::<Connect>()
        .add_message::<Disconnect>()
        .add_message::<ConnectStatus>()
        .add_message::<ListenResult>()
        .add_message::<StopListeningResult>()
        .add_message::<ConnectionOpened>()
        .add_message::<MessageFromRemote>()
        .add_message::<ChannelClosed>()
        .add_message::<RequestChannelStats>()
        .add_message::<ChannelStats>()
        .add_message::<Record>()
        .add_message::<RecordStatus>()
        .add_systems(PreUpdate, deliver_events.in_set(IpcSystems::Deliver))
        .add_systems(
            Last,
            (carry_out_requests, shut_down_on_exit)
                .chain()
                .in_set(IpcSystems::Flush),
        );
    }
}

/// Where the host's events go.
#[derive(SystemParam)]
struct EventWriters<'w> {
    listen_results: MessageWriter<'w, ListenResult>,
    stop_results: MessageWriter<'w, StopListeningResult>,
    opened: MessageWriter<'w, ConnectionOpened>,
    messages: MessageWriter<'w, MessageFromRemote>,
    closed: MessageWriter<'w, ChannelClosed>,
    connect_status: MessageWriter<'w, ConnectStatus>,
    stats: MessageWriter<'w, ChannelStats>,
    record_status: MessageWriter<'w, RecordStatus>,
}

impl EventWriters<'_> {
    /// Writes every event the host has for this frame.
    fn deliver_all(&mut self, host: &mut IpcHost) {
        while let Some(event) = host.poll_event() {
            self.deliver(event);
        }
    }

    fn deliver(&mut self, event: Event) {
        match event {
            Event::ListenResult(event) => {
                self.listen_results.write(event.into());
            }
            Event::StopListeningResult(event) => {
                self.stop_results.write(event.into());
            }
            Event::ConnectionOpened(event) => {
                self.opened.write(event.into());
            }
            Event::ConnectStatus(event) => {
                self.connect_status.write(event.into());
            }
            Event::Message(event) => {
                self.messages.write(event.into());
            }
            Event::ChannelClosed(event) => {
                self.closed.write(event.into());
            }
            Event::ChannelStats(event) => {
                self.stats.write(event.into());
            }
            Event::RecordStatus(event) => {
                self.record_status.write(event.into());
            }
            _ => {}
        }
    }
}

/// [`IpcSystems::Deliver`]: the network's events of this frame, as messages.
fn deliver_events(mut ipc: ResMut<'_, Ipc>, mut writers: EventWriters<'_>) {
    if let Some(host) = ipc.host.as_mut() {
        writers.deliver_all(host);
    }
}

/// The requests written this frame.
#[derive(SystemParam)]
struct Requests<'w, 's> {
    listens: MessageReader<'w, 's, Listen>,
    stops: MessageReader<'w, 's, StopListening>,
    sends: MessageReader<'w, 's, SendMessage>,
    closes: MessageReader<'w, 's, CloseChannel>,
    connects: MessageReader<'w, 's, Connect>,
    disconnects: MessageReader<'w, 's, Disconnect>,
    stats: MessageReader<'w, 's, RequestChannelStats>,
    records: MessageReader<'w, 's, Record>,
}

/// [`IpcSystems::Flush`]: carries out this frame's requests (listens,
/// stops, connects, sends, closes, disconnects, in that order) and hands them to the network
/// thread.
fn carry_out_requests(
    mut ipc: ResMut<'_, Ipc>,
    mut requests: Requests<'_, '_>,
    mut listen_results: MessageWriter<'_, ListenResult>,
) {
    let ipc = &mut *ipc;
    let Some(host) = ipc.host.as_mut() else {
        let why = ipc
            .start_error
            .as_deref()
            .unwrap_or("the IPC host has shut down");
        for listen in requests.listens.read() {
            listen_results.write(ListenResult(fiasco_ipc_core::ListenResult {
                user_id: listen.user_id,
                requested_port: listen.port,
                result: Err(ListenError::new(ListenErrorKind::Other, why)),
            }));
        }
        requests.stops.clear();
        requests.sends.clear();
        requests.closes.clear();
        requests.connects.clear();
        requests.disconnects.clear();
        requests.stats.clear();
        requests.records.clear();
        return;
    };
    for listen in requests.listens.read() {
        host.listen(listen.user_id, listen.port, listen.options.clone());
    }
    for stop in requests.stops.read() {
        host.stop_listening(stop.user_id, stop.port);
    }
    for connect in requests.connects.read() {
        host.connect(connect.user_id, connect.connect_id, connect.options.clone());
    }
    for send in requests.sends.read() {
        // The host logs why a send is refused; one refused for a full
        // queue closes its channel, which its ChannelClosed reports.
        let options = SendOptions {
            conflation_key: send.conflation_key,
            priority: send.priority,
            also_to: &send.also_to,
        };
        let _ = host.send_with(send.channel, send.kind, send.data.clone(), &options);
    }
    for close in requests.closes.read() {
        host.close(close.channel, close.code, close.reason.clone());
    }
    for disconnect in requests.disconnects.read() {
        host.disconnect(disconnect.user_id, disconnect.connect_id);
    }
    for request in requests.stats.read() {
        host.channel_stats(request.user_id, request.channel);
    }
    for record in requests.records.read() {
        match record {
            Record::Start { user_id, options } => host.record(*user_id, options.clone()),
            Record::Stop { user_id } => host.stop_recording(*user_id),
        }
    }
    host.flush();
}

/// On [`AppExit`]: 1001 to every client within the timeout, the network
/// thread joined, and the last `ChannelClosed` messages written.
fn shut_down_on_exit(
    mut ipc: ResMut<'_, Ipc>,
    mut exits: MessageReader<'_, '_, AppExit>,
    mut writers: EventWriters<'_>,
) {
    if exits.read().last().is_none() {
        return;
    }
    let timeout = ipc.shutdown_timeout;
    if let Some(mut host) = ipc.host.take() {
        host.shutdown(timeout);
        writers.deliver_all(&mut host);
        tracing::info!("IPC host shut down");
    }
}
