//! The IPC Host Module: thin glue between the network core
//! ([`fiasco_ipc_core`]) and the game's events ([`fiasco_ipc_schema`]).
//!
//! Two systems:
//! - `ipc_receive` ([`Stage::First`]): turns what the network thread reported
//!   since the last frame into `ConnectionOpened`, `MessageFromRemote`,
//!   `ChannelClosed`, `ListenResult` and `StopListeningResult` events, at
//!   most a frame budget of messages a frame (`ipc.frame_messages`,
//!   `ipc.frame_bytes`), channels in turn;
//! - `ipc_send` ([`Stage::Last`]): takes every agent request written this
//!   frame (`ListenRequest`, `StopListeningRequest`, `MessageToRemote`,
//!   `CloseChannel`, `ConnectRequest`, `DisconnectRequest`,
//!   `ChannelStatsRequest`, `RecordRequest`) and hands them to the network
//!   thread in one batch.
//!
//! `ipc_receive` also writes `ConnectStatus`, `ChannelStats` and
//! `RecordStatus`. Recording from the start: `ipc.record=PATH` (`{pid}` and
//! `{time}` filled in), `ipc.record_ports`, `ipc.record_budget`,
//! `ipc.record_max_bytes`, `ipc.record_max_duration_ms`.
//!
//! No payload is copied on the game thread: `MessageFromRemote` events are
//! built on the network thread and handed to the bus whole, and the content
//! of `MessageToRemote` events is shared with the network thread, not
//! copied.
//!
//! So an agent that answers a message in the frame it arrives costs the
//! round trip at most one frame.
//!
//! Link it statically with [`api`], or load it as `modules/libipc.so` (the
//! `fiasco-ipc-dylib` crate).

/// The README's code blocks, compiled as doc tests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fiasco::bytes::Bytes;
use fiasco::flatbuffers::{FlatBufferBuilder, WIPOffset};
use fiasco::{system, EventReader, EventWriter, InitContext, Module, ModuleError, ResMut, Stage};
use fiasco_ipc_core as core;
use fiasco_ipc_core::{
    ChannelId, ClosedBy, ConnectError, ConnectErrorKind, ConnectOptions, ConnectState, Direction,
    Discovery, Encoded, Event, FrameBudget, HostOptions, InboundMessage, IpcHost, Limits,
    ListenErrorKind, ListenOptions, MessageEncoder, Priority, RecordOptions, RecordState,
    SendOptions, TlsFiles, TokenGrant,
};
use fiasco_ipc_schema as schema;
use schema::{
    ChannelClosed, ChannelClosedArgs, ChannelStats, ChannelStatsArgs, ChannelStatsRequest,
    CloseChannel, ConnectRequest, ConnectStatus, ConnectStatusArgs, ConnectionOpened,
    ConnectionOpenedArgs, DisconnectRequest, ListenRequest, ListenResult, ListenResultArgs,
    ListenStatus, MessageFromRemote, MessageFromRemoteArgs, MessageToRemote, RecordRequest,
    RecordStatus, RecordStatusArgs, StopListeningRequest, StopListeningResult,
    StopListeningResultArgs,
};

/// The module's name (configuration prefix `ipc.`).
pub const NAME: &str = "ipc";

/// The module's C ABI table, to link it statically
/// (`GameBuilder::add_static(fiasco_ipc::api())`).
pub fn api() -> &'static fiasco::abi::FiascoModuleApi {
    fiasco::module_api!("ipc", module)
}

/// Builds the module.
pub fn module() -> Module {
    Module::new(NAME)
        .with_init(init)
        .with_system(Stage::First, ipc_receive())
        .with_system(Stage::Last, ipc_send())
        .with_shutdown(|ctx| {
            if let Some(mut state) = ctx.take_resource::<IpcState>() {
                state.host.shutdown(state.shutdown_timeout);
            }
        })
}

/// The module's state: the network core's handle.
struct IpcState {
    host: IpcHost,
    shutdown_timeout: Duration,
    /// Origins every port allows besides its own and the request's
    /// (`ipc.allowed_origins`, comma-separated, or
    /// `FIASCO_IPC_ALLOWED_ORIGINS`): a page on a dev server, without code.
    allowed_origins: Vec<String>,
    /// Every port's limits before the handshake where its request gives
    /// none (`ipc.max_pending_handshakes`, `ipc.max_pending_per_address`,
    /// `ipc.max_http_connections`, `ipc.http_lifetime_ms`,
    /// `ipc.max_request_head`).
    gate_defaults: GateFields,
    /// Token grants every port accepts besides its request's
    /// (`ipc.tokens=role:token,...` or `FIASCO_IPC_TOKENS`): roles without
    /// code.
    tokens: Vec<TokenGrant>,
    /// The game's name in recordings (the discovery file's).
    game_name: String,
}

/// Builds `MessageFromRemote` events on the network thread, with one copy
/// of the payload and no zeroing ([`fiasco::build_with_bytes`]).
#[derive(Debug)]
struct FlatBufferEncoder;

impl MessageEncoder for FlatBufferEncoder {
    fn encode(&self, message: &InboundMessage<'_>) -> Option<Encoded> {
        let event = fiasco::build_with_bytes(message.payload, |builder, content| {
            let args = from_remote(message.channel, message.user_id, message.kind, content);
            MessageFromRemote::create(builder, &args)
        })?;
        let payload = fiasco::payload_range(&event, message.payload.len())?;
        Some(Encoded { event, payload })
    }
}

/// The host options from the module's configuration (`--set ipc.KEY=...`).
fn host_options(ctx: &InitContext<'_>) -> Result<HostOptions, ModuleError> {
    let mut options = HostOptions::default();
    options.inbound_budget = ctx.config_parse("inbound_budget", options.inbound_budget)?;
    options.outbound_budget = ctx.config_parse("outbound_budget", options.outbound_budget)?;
    options.channel_reserve = ctx.config_parse("channel_reserve", options.channel_reserve)?;
    options.frame_budget = FrameBudget::new(
        ctx.config_parse("frame_messages", options.frame_budget.max_messages)?,
        ctx.config_parse("frame_bytes", options.frame_budget.max_bytes)?,
    );
    options.encoder = Some(Arc::new(FlatBufferEncoder));
    // The discovery file, unless the game opts out (`--set ipc.discovery=false`).
    if ctx.config_parse("discovery", true)? {
        let mut discovery = Discovery::for_this_process();
        if let Some(name) = ctx.config("game_name") {
            discovery.name = name;
        }
        options.discovery = Some(discovery);
    }
    // Recording from the start (`--set ipc.record=PATH`).
    if let Some(path) = ctx.config("record").filter(|path| !path.trim().is_empty()) {
        let mut record = RecordOptions::new(record_path(path.trim()));
        if let Some(discovery) = &options.discovery {
            record.game = discovery.name.clone();
        }
        if let Some(ports) = ctx.config("record_ports") {
            record.ports = parse_ports(&ports).map_err(|message| ModuleError::Config {
                key: "record_ports".to_owned(),
                message,
            })?;
        }
        record.budget = ctx.config_parse("record_budget", record.budget)?;
        record.max_bytes = ctx.config_parse("record_max_bytes", record.max_bytes)?;
        let max_duration_ms: u64 = ctx.config_parse("record_max_duration_ms", 0)?;
        record.max_duration = (max_duration_ms > 0).then(|| Duration::from_millis(max_duration_ms));
        options.record = Some(record);
    }
    Ok(options)
}

/// A recording's path with `{pid}` (this process's id) and `{time}` (Unix
/// seconds) filled in, so each run of a game writes a new file.
fn record_path(template: &str) -> PathBuf {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    PathBuf::from(
        template
            .replace("{pid}", &std::process::id().to_string())
            .replace("{time}", &seconds.to_string()),
    )
}

/// `9100,9101`: a list of ports.
fn parse_ports(text: &str) -> Result<Vec<u16>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|port| !port.is_empty())
        .map(|port| {
            port.parse::<u16>()
                .map_err(|error| format!("{port:?} is not a port: {error}"))
        })
        .collect()
}

fn init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    let timeout_ms: u64 = ctx.config_parse("shutdown_timeout_ms", 2000)?;
    let options = host_options(ctx)?;
    let game_name = options
        .discovery
        .as_ref()
        .map_or_else(|| Discovery::for_this_process().name, |d| d.name.clone());
    let host =
        IpcHost::with_options(options).map_err(|error| ModuleError::Other(Box::new(error)))?;
    // An idle unthrottled game sleeps between frames; network events wake it.
    // The network thread is joined in shutdown, before the waker expires.
    let waker = ctx.waker();
    host.set_waker(move || waker.wake());
    let allowed_origins = ctx
        .config("allowed_origins")
        .map(|origins| {
            origins
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let tokens = match ctx.config("tokens") {
        Some(text) => TokenGrant::parse_list(&text).map_err(|message| ModuleError::Config {
            key: "tokens".to_owned(),
            message,
        })?,
        None => Vec::new(),
    };
    let gate_defaults = GateFields {
        max_pending_handshakes: ctx.config_parse("max_pending_handshakes", 0)?,
        max_pending_per_address: ctx.config_parse("max_pending_per_address", 0)?,
        max_http_connections: ctx.config_parse("max_http_connections", 0)?,
        http_lifetime_ms: ctx.config_parse("http_lifetime_ms", 0)?,
        max_request_head: ctx.config_parse("max_request_head", 0)?,
    };
    ctx.insert_resource(IpcState {
        host,
        shutdown_timeout: Duration::from_millis(timeout_ms),
        allowed_origins,
        gate_defaults,
        tokens,
        game_name,
    });
    Ok(())
}

fn closed_by(by: ClosedBy) -> schema::ClosedBy {
    match by {
        ClosedBy::Remote => schema::ClosedBy::Remote,
        ClosedBy::Agent => schema::ClosedBy::Agent,
        ClosedBy::HostLimit => schema::ClosedBy::HostLimit,
        ClosedBy::HostError => schema::ClosedBy::HostError,
        ClosedBy::HostShutdown => schema::ClosedBy::HostShutdown,
    }
}

fn message_kind(kind: fiasco_ipc_core::MessageKind) -> schema::MessageKind {
    match kind {
        fiasco_ipc_core::MessageKind::Binary => schema::MessageKind::Binary,
        fiasco_ipc_core::MessageKind::Text => schema::MessageKind::Text,
    }
}

fn listen_status(kind: ListenErrorKind) -> ListenStatus {
    match kind {
        ListenErrorKind::AddressInUse => ListenStatus::AddressInUse,
        ListenErrorKind::PermissionDenied => ListenStatus::PermissionDenied,
        ListenErrorKind::AddressUnavailable => ListenStatus::AddressUnavailable,
        ListenErrorKind::InvalidRequest => ListenStatus::InvalidRequest,
        ListenErrorKind::AlreadyListening => ListenStatus::AlreadyListening,
        ListenErrorKind::TokenRequired => ListenStatus::TokenRequired,
        ListenErrorKind::Tls => ListenStatus::TlsError,
        _ => ListenStatus::Other,
    }
}

fn write_listen_result(
    writer: &EventWriter<ListenResult<'_>>,
    user_id: u64,
    requested_port: u16,
    port: u16,
    status: ListenStatus,
    message: &str,
) {
    writer.write_builder(|builder| {
        let message = (!message.is_empty()).then(|| builder.create_string(message));
        ListenResult::create(
            builder,
            &ListenResultArgs {
                user_id,
                requested_port,
                port,
                status,
                message,
            },
        )
    });
}

/// Network -> events.
#[system]
#[allow(clippy::too_many_arguments)]
fn ipc_receive(
    mut state: ResMut<'_, IpcState>,
    opened: EventWriter<ConnectionOpened<'_>>,
    messages: EventWriter<MessageFromRemote<'_>>,
    closed: EventWriter<ChannelClosed<'_>>,
    listen_results: EventWriter<ListenResult<'_>>,
    stop_results: EventWriter<StopListeningResult<'_>>,
    connect_status: EventWriter<ConnectStatus<'_>>,
    stats: EventWriter<ChannelStats<'_>>,
    record_status: EventWriter<RecordStatus<'_>>,
) {
    while let Some(event) = state.host.poll_event() {
        match event {
            // Built on the network thread: handed over whole, no copy.
            Event::Message(message) => match message.encoded {
                Some(encoded) => {
                    messages.write_owned(encoded);
                }
                None => write_message(&messages, &message),
            },
            Event::ConnectionOpened(event) => write_opened(&opened, &event),
            Event::ConnectStatus(event) => write_connect_status(
                &connect_status,
                event.user_id,
                event.connect_id,
                &event.state,
            ),
            Event::ChannelClosed(event) => write_closed(&closed, &event),
            Event::ListenResult(event) => match event.result {
                Ok(address) => write_listen_result(
                    &listen_results,
                    event.user_id,
                    event.requested_port,
                    address.port(),
                    ListenStatus::Ok,
                    "",
                ),
                Err(error) => write_listen_result(
                    &listen_results,
                    event.user_id,
                    event.requested_port,
                    0,
                    listen_status(error.kind),
                    &error.message,
                ),
            },
            Event::StopListeningResult(event) => {
                stop_results.write_builder(|builder: &mut FlatBufferBuilder<'static>| -> WIPOffset<StopListeningResult<'static>> {
                    StopListeningResult::create(
                        builder,
                        &StopListeningResultArgs {
                            user_id: event.user_id,
                            port: event.port,
                            stopped: event.stopped,
                        },
                    )
                });
            }
            Event::ChannelStats(event) => write_stats(&stats, &event),
            Event::RecordStatus(event) => write_record_status(&record_status, &event),
            _ => {}
        }
    }
}

/// A `MessageFromRemote`'s fields, its content already in the builder.
fn from_remote(
    channel: ChannelId,
    user_id: u64,
    kind: fiasco_ipc_core::MessageKind,
    content: WIPOffset<fiasco::flatbuffers::Vector<'_, u8>>,
) -> MessageFromRemoteArgs<'_> {
    MessageFromRemoteArgs {
        channel: channel.0,
        user_id,
        kind: message_kind(kind),
        content: Some(content),
    }
}

/// A message the host left plain (no encoder): built here.
fn write_message(writer: &EventWriter<MessageFromRemote<'_>>, message: &core::Message) {
    writer.write_builder(|builder| {
        let content = fiasco::byte_vector(builder, &message.data);
        let args = from_remote(message.channel, message.user_id, message.kind, content);
        MessageFromRemote::create(builder, &args)
    });
}

fn write_opened(writer: &EventWriter<ConnectionOpened<'_>>, event: &core::ConnectionOpened) {
    let (outbound, connect_id) = match event.direction {
        Direction::Outbound { connect_id } => (true, connect_id),
        _ => (false, 0),
    };
    writer.write_builder(|builder| {
        let peer_address = Some(builder.create_string(&event.peer.to_string()));
        let path = Some(builder.create_string(&event.path));
        let origin = event
            .origin
            .as_deref()
            .map(|origin| builder.create_string(origin));
        let role = event
            .role
            .as_deref()
            .map(|role| builder.create_string(role));
        ConnectionOpened::create(
            builder,
            &ConnectionOpenedArgs {
                channel: event.channel.0,
                user_id: event.user_id,
                port: event.port,
                peer_address,
                path,
                origin,
                outbound,
                connect_id,
                role,
            },
        )
    });
}

fn write_closed(writer: &EventWriter<ChannelClosed<'_>>, event: &core::ChannelClosed) {
    writer.write_builder(|builder| {
        let reason = Some(builder.create_string(&event.reason));
        ChannelClosed::create(
            builder,
            &ChannelClosedArgs {
                channel: event.channel.0,
                user_id: event.user_id,
                closed_by: closed_by(event.closed_by),
                code: event.code,
                reason,
            },
        )
    });
}

fn write_stats(writer: &EventWriter<ChannelStats<'_>>, event: &core::ChannelStats) {
    let round_trip_us = event.round_trip.map_or(0, |rtt| {
        u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX).max(1)
    });
    writer.write_builder(|builder| {
        ChannelStats::create(
            builder,
            &ChannelStatsArgs {
                user_id: event.user_id,
                channel: event.channel.0,
                open: event.open,
                queued_messages: event.queued_messages,
                queued_bytes: event.queued_bytes,
                sent_messages: event.sent_messages,
                sent_bytes: event.sent_bytes,
                conflated_messages: event.conflated_messages,
                inbound_messages: event.inbound_messages,
                inbound_bytes: event.inbound_bytes,
                round_trip_us,
            },
        )
    });
}

fn write_record_status(writer: &EventWriter<RecordStatus<'_>>, event: &core::RecordStatus) {
    let (state, reason) = match &event.state {
        RecordState::Recording => (schema::RecordState::Recording, ""),
        RecordState::Stopped { reason } => (schema::RecordState::Stopped, reason.as_str()),
        RecordState::Failed { error } => (schema::RecordState::Failed, error.as_str()),
    };
    writer.write_builder(|builder| {
        let path = Some(builder.create_string(&event.path.to_string_lossy()));
        let reason = (!reason.is_empty()).then(|| builder.create_string(reason));
        RecordStatus::create(
            builder,
            &RecordStatusArgs {
                user_id: event.user_id,
                state,
                path,
                reason,
                messages: event.messages,
                bytes: event.bytes,
                skipped_messages: event.skipped_messages,
                skipped_bytes: event.skipped_bytes,
            },
        )
    });
}

/// Reads a `RecordRequest` (not a stop) into options; the game's name
/// comes from the discovery file's.
fn record_options(request: &RecordRequest<'_>) -> Result<RecordOptions, RequestError> {
    let path = request.path().filter(|path| !path.is_empty());
    let mut options = RecordOptions::new(path.ok_or(RequestError::RecordPath)?);
    options.ports = request.ports().into_iter().flatten().collect();
    if request.budget_bytes() > 0 {
        let value = request.budget_bytes();
        options.budget =
            usize::try_from(value).map_err(|source| RequestError::Size { value, source })?;
    }
    options.max_bytes = request.max_bytes();
    if request.max_duration_ms() > 0 {
        options.max_duration = Some(Duration::from_millis(request.max_duration_ms()));
    }
    Ok(options)
}

/// Why a `ListenRequest` could not be read into options: answered with
/// `ListenStatus::InvalidRequest` and this message. The agent fixes the
/// field named.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    /// `bind_address` is not an IP address literal.
    #[error("bind_address {address:?}: {source}")]
    BindAddress {
        address: String,
        source: std::net::AddrParseError,
    },
    /// Only one of the two TLS files was given.
    #[error("tls_cert_path and tls_key_path go together")]
    TlsPair,
    /// A `RecordRequest` that is not a stop names no file.
    #[error("path is required to start a recording")]
    RecordPath,
    /// A size does not fit this machine's address space.
    #[error("size {value} too large")]
    Size {
        value: u64,
        source: std::num::TryFromIntError,
    },
}

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

/// Fuzzing entry point (feature `fuzzing`): `data` as a `ListenRequest`
/// through the module's verification, parsing and the core's checks, but
/// never acted on (a fuzzer must not bind ports at random).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_listen_request(data: &[u8]) {
    if let Ok(request) = fiasco::flatbuffers::root::<ListenRequest<'_>>(data) {
        if let Ok(options) = listen_options(&request, &GateFields::default()) {
            let _ = options.validate();
        }
    }
}

/// Reads a `ListenRequest` into options.
fn listen_options(
    request: &ListenRequest<'_>,
    defaults: &GateFields,
) -> Result<ListenOptions, RequestError> {
    let mut options = ListenOptions::default();
    apply_gate_limits(&mut options.limits, defaults);
    if let Some(address) = request.bind_address().filter(|address| !address.is_empty()) {
        options.bind_address =
            address
                .parse::<IpAddr>()
                .map_err(|source| RequestError::BindAddress {
                    address: address.to_owned(),
                    source,
                })?;
    }
    if let Some(origins) = request.allowed_origins() {
        options.allowed_origins = origins.iter().map(str::to_owned).collect();
    }
    options.token = request.token().map(str::to_owned);
    options.tokens = request
        .tokens()
        .into_iter()
        .flatten()
        .map(|grant| {
            TokenGrant::new(
                grant.token().unwrap_or_default(),
                grant.role().unwrap_or_default(),
            )
        })
        .collect();
    options.web_root = request
        .web_root()
        .filter(|root| !root.is_empty())
        .map(PathBuf::from);
    match (request.tls_cert_path(), request.tls_key_path()) {
        (Some(cert), Some(key)) => {
            options.tls = Some(TlsFiles {
                cert_path: cert.into(),
                key_path: key.into(),
            });
        }
        (None, None) => {}
        _ => return Err(RequestError::TlsPair),
    }
    apply_limits(
        &mut options.limits,
        &LimitFields {
            max_message_size: request.max_message_size(),
            max_frame_size: request.max_frame_size(),
            max_connections: request.max_connections(),
            handshake_timeout_ms: request.handshake_timeout_ms(),
            idle_timeout_ms: request.idle_timeout_ms(),
            max_outbound_messages: request.max_outbound_messages(),
            max_outbound_bytes: request.max_outbound_bytes(),
            max_inbound_messages: request.max_inbound_messages(),
            max_inbound_bytes: request.max_inbound_bytes(),
            write_timeout_ms: request.write_timeout_ms(),
            message_timeout_ms: request.message_timeout_ms(),
        },
    )?;
    apply_gate_limits(
        &mut options.limits,
        &GateFields {
            max_pending_handshakes: request.max_pending_handshakes(),
            max_pending_per_address: request.max_pending_per_address(),
            max_http_connections: request.max_http_connections(),
            http_lifetime_ms: request.http_lifetime_ms(),
            max_request_head: request.max_request_head(),
        },
    );
    Ok(options)
}

/// The limits of a listener before the handshake (a `ListenRequest`'s, or
/// the module's `ipc.*` defaults); 0 keeps what is set.
#[derive(Debug, Default, Clone, Copy)]
struct GateFields {
    max_pending_handshakes: u32,
    max_pending_per_address: u32,
    max_http_connections: u32,
    http_lifetime_ms: u32,
    max_request_head: u32,
}

/// Sets every limit given (non-zero) in `limits`.
fn apply_gate_limits(limits: &mut Limits, fields: &GateFields) {
    let count = |value: u32, limit: &mut usize| {
        if value > 0 {
            *limit = value as usize;
        }
    };
    count(
        fields.max_pending_handshakes,
        &mut limits.max_pending_handshakes,
    );
    count(
        fields.max_pending_per_address,
        &mut limits.max_pending_per_address,
    );
    count(
        fields.max_http_connections,
        &mut limits.max_http_connections,
    );
    count(fields.max_request_head, &mut limits.max_request_head);
    if fields.http_lifetime_ms > 0 {
        limits.http_lifetime = Duration::from_millis(fields.http_lifetime_ms.into());
    }
}

/// The limit fields a `ListenRequest` or a `ConnectRequest` carries; 0
/// keeps the default.
struct LimitFields {
    max_message_size: u64,
    max_frame_size: u64,
    max_connections: u32,
    handshake_timeout_ms: u32,
    idle_timeout_ms: u32,
    max_outbound_messages: u32,
    max_outbound_bytes: u64,
    max_inbound_messages: u32,
    max_inbound_bytes: u64,
    write_timeout_ms: u32,
    message_timeout_ms: u32,
}

/// Sets every limit the request gives (non-zero) in `limits`.
fn apply_limits(limits: &mut Limits, fields: &LimitFields) -> Result<(), RequestError> {
    let size =
        |value: u64| usize::try_from(value).map_err(|source| RequestError::Size { value, source });
    let millis = |value: u32| Duration::from_millis(value.into());
    if fields.max_message_size > 0 {
        limits.max_message_size = size(fields.max_message_size)?;
    }
    if fields.max_frame_size > 0 {
        limits.max_frame_size = size(fields.max_frame_size)?;
    }
    if fields.max_connections > 0 {
        limits.max_connections = fields.max_connections as usize;
    }
    if fields.handshake_timeout_ms > 0 {
        limits.handshake_timeout = millis(fields.handshake_timeout_ms);
    }
    if fields.idle_timeout_ms > 0 {
        limits.idle_timeout = millis(fields.idle_timeout_ms);
    }
    if fields.max_outbound_messages > 0 {
        limits.max_outbound_messages = fields.max_outbound_messages as usize;
    }
    if fields.max_outbound_bytes > 0 {
        limits.max_outbound_bytes = size(fields.max_outbound_bytes)?;
    }
    if fields.max_inbound_messages > 0 {
        limits.max_inbound_messages = fields.max_inbound_messages as usize;
    }
    if fields.max_inbound_bytes > 0 {
        limits.max_inbound_bytes = size(fields.max_inbound_bytes)?;
    }
    if fields.write_timeout_ms > 0 {
        limits.write_timeout = millis(fields.write_timeout_ms);
    }
    if fields.message_timeout_ms > 0 {
        limits.message_timeout = millis(fields.message_timeout_ms);
    }
    Ok(())
}

/// Reads a `ConnectRequest` into options.
fn connect_options(request: &ConnectRequest<'_>) -> Result<ConnectOptions, RequestError> {
    let mut options = ConnectOptions::new(request.url().unwrap_or(""));
    options.token = request.token().map(str::to_owned);
    options.ca_file = request
        .ca_file()
        .filter(|file| !file.is_empty())
        .map(PathBuf::from);
    options.reconnect = !request.no_reconnect();
    if request.initial_backoff_ms() > 0 {
        options.initial_backoff = Duration::from_millis(request.initial_backoff_ms().into());
    }
    if request.max_backoff_ms() > 0 {
        options.max_backoff = Duration::from_millis(request.max_backoff_ms().into());
    }
    apply_limits(
        &mut options.limits,
        &LimitFields {
            max_message_size: request.max_message_size(),
            max_frame_size: request.max_frame_size(),
            max_connections: 0,
            handshake_timeout_ms: request.handshake_timeout_ms(),
            idle_timeout_ms: request.idle_timeout_ms(),
            max_outbound_messages: request.max_outbound_messages(),
            max_outbound_bytes: request.max_outbound_bytes(),
            max_inbound_messages: request.max_inbound_messages(),
            max_inbound_bytes: request.max_inbound_bytes(),
            write_timeout_ms: request.write_timeout_ms(),
            message_timeout_ms: request.message_timeout_ms(),
        },
    )?;
    Ok(options)
}

/// Writes a `ConnectStatus` event.
fn write_connect_status(
    writer: &EventWriter<ConnectStatus<'_>>,
    user_id: u64,
    connect_id: u64,
    state: &ConnectState,
) {
    let (state_value, attempt, channel) = match state {
        ConnectState::Connecting { attempt } => (schema::ConnectState::Connecting, *attempt, 0),
        ConnectState::Connected { channel } => (schema::ConnectState::Connected, 0, channel.0),
        ConnectState::Failed { .. } => (schema::ConnectState::Failed, 0, 0),
        ConnectState::Stopped => (schema::ConnectState::Stopped, 0, 0),
    };
    let (failure, http_status, retry_in_ms, message) = match state {
        ConnectState::Failed { error, retry_in } => {
            let (failure, status) = connect_failure(error.kind);
            let retry = retry_in.map_or(0, |delay| {
                u32::try_from(delay.as_millis()).unwrap_or(u32::MAX).max(1)
            });
            (failure, status, retry, error.message.as_str())
        }
        _ => (schema::ConnectFailure::None, 0, 0, ""),
    };
    writer.write_builder(|builder| {
        let message = (!message.is_empty()).then(|| builder.create_string(message));
        ConnectStatus::create(
            builder,
            &ConnectStatusArgs {
                user_id,
                connect_id,
                state: state_value,
                attempt,
                channel,
                failure,
                http_status,
                retry_in_ms,
                message,
            },
        )
    });
}

fn connect_failure(kind: ConnectErrorKind) -> (schema::ConnectFailure, u16) {
    match kind {
        ConnectErrorKind::InvalidRequest => (schema::ConnectFailure::InvalidRequest, 0),
        ConnectErrorKind::Dns => (schema::ConnectFailure::Dns, 0),
        ConnectErrorKind::Refused => (schema::ConnectFailure::Refused, 0),
        ConnectErrorKind::Timeout => (schema::ConnectFailure::Timeout, 0),
        ConnectErrorKind::Tls => (schema::ConnectFailure::Tls, 0),
        ConnectErrorKind::HttpStatus(status) => (schema::ConnectFailure::HttpStatus, status),
        ConnectErrorKind::Handshake => (schema::ConnectFailure::Handshake, 0),
        _ => (schema::ConnectFailure::Closed, 0),
    }
}

/// Agent requests -> network, one batch a frame. (One reader per request
/// kind and the writers of early refusals: a system's parameters are its
/// event kinds.)
#[allow(clippy::too_many_arguments)]
#[system]
fn ipc_send(
    mut state: ResMut<'_, IpcState>,
    listen: EventReader<ListenRequest<'_>>,
    stop: EventReader<StopListeningRequest<'_>>,
    send: EventReader<MessageToRemote<'_>>,
    close: EventReader<CloseChannel<'_>>,
    connect: EventReader<ConnectRequest<'_>>,
    disconnect: EventReader<DisconnectRequest<'_>>,
    stats: EventReader<ChannelStatsRequest<'_>>,
    record: EventReader<RecordRequest<'_>>,
    listen_results: EventWriter<ListenResult<'_>>,
    connect_status: EventWriter<ConnectStatus<'_>>,
    record_status: EventWriter<RecordStatus<'_>>,
) {
    let state = &mut *state;
    let host = &mut state.host;
    for request in &listen {
        match listen_options(&request, &state.gate_defaults) {
            Ok(mut options) => {
                options
                    .allowed_origins
                    .extend(state.allowed_origins.iter().cloned());
                options.tokens.extend(state.tokens.iter().cloned());
                host.listen(request.user_id(), request.port(), options);
            }
            Err(error) => {
                let message = error.to_string();
                tracing::warn!(user_id = request.user_id(), port = request.port(), %message, "invalid listen request");
                write_listen_result(
                    &listen_results,
                    request.user_id(),
                    request.port(),
                    0,
                    ListenStatus::InvalidRequest,
                    &message,
                );
            }
        }
    }
    for request in &stop {
        host.stop_listening(request.user_id(), request.port());
    }
    for request in &connect {
        let (user_id, connect_id) = (request.user_id(), request.connect_id());
        match connect_options(&request) {
            Ok(options) => host.connect(user_id, connect_id, options),
            Err(error) => {
                let error = ConnectError::new(ConnectErrorKind::InvalidRequest, error.to_string());
                tracing::warn!(user_id, connect_id, %error, "invalid connect request");
                let failed = ConnectState::Failed {
                    error,
                    retry_in: None,
                };
                write_connect_status(&connect_status, user_id, connect_id, &failed);
            }
        }
    }
    for (message, event) in send.iter_with_refs() {
        let kind = match message.kind() {
            schema::MessageKind::Text => fiasco_ipc_core::MessageKind::Text,
            _ => fiasco_ipc_core::MessageKind::Binary,
        };
        // Shared with the network thread, not copied.
        let content = message
            .content()
            .map(|content| content.bytes())
            .unwrap_or_default();
        let data = event
            .share(content)
            .unwrap_or_else(|| Bytes::copy_from_slice(content));
        let also_to: Vec<ChannelId> = message
            .also_to()
            .into_iter()
            .flatten()
            .map(ChannelId)
            .collect();
        let options = SendOptions {
            conflation_key: message.conflation_key(),
            priority: match message.priority() {
                schema::Priority::High => Priority::High,
                _ => Priority::Normal,
            },
            also_to: &also_to,
        };
        // The host logs why a send is refused; one refused for a full
        // queue closes its channel, which its ChannelClosed reports.
        let _ = host.send_with(ChannelId(message.channel()), kind, data, &options);
    }
    for request in &close {
        let reason = request.reason().unwrap_or("");
        host.close(ChannelId(request.channel()), request.code(), reason);
    }
    for request in &disconnect {
        host.disconnect(request.user_id(), request.connect_id());
    }
    // Answered from shared counters in the next frame's ipc_receive.
    for request in &stats {
        host.channel_stats(request.user_id(), ChannelId(request.channel()));
    }
    for request in &record {
        let user_id = request.user_id();
        if request.stop() {
            host.stop_recording(user_id);
            continue;
        }
        match record_options(&request) {
            Ok(mut options) => {
                options.game.clone_from(&state.game_name);
                host.record(user_id, options);
            }
            Err(error) => {
                tracing::warn!(user_id, %error, "invalid record request");
                write_record_status(
                    &record_status,
                    &core::RecordStatus::new(
                        user_id,
                        PathBuf::from(request.path().unwrap_or_default()),
                        RecordState::Failed {
                            error: error.to_string(),
                        },
                    ),
                );
            }
        }
    }
    host.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request's limits before the handshake win over the module's
    /// `ipc.*` defaults, which win over the core's.
    #[test]
    fn gate_limits_come_from_the_request_then_the_module_defaults() {
        let mut builder = FlatBufferBuilder::new();
        let request = ListenRequest::create(
            &mut builder,
            &schema::ListenRequestArgs {
                max_pending_handshakes: 7,
                http_lifetime_ms: 1500,
                ..Default::default()
            },
        );
        builder.finish_minimal(request);
        let request = fiasco::flatbuffers::root::<ListenRequest<'_>>(builder.finished_data())
            .unwrap_or_else(|error| panic!("{error}"));
        let defaults = GateFields {
            max_pending_handshakes: 50,
            max_http_connections: 9,
            ..GateFields::default()
        };
        let options = listen_options(&request, &defaults).unwrap_or_else(|error| panic!("{error}"));
        let limits = options.limits;
        assert_eq!(limits.max_pending_handshakes, 7);
        assert_eq!(limits.http_lifetime, Duration::from_millis(1500));
        assert_eq!(limits.max_http_connections, 9);
        assert_eq!(limits.max_request_head, Limits::default().max_request_head);
        assert!(options.validate().is_ok());
    }

    /// The payload range the encoder computes is where a verified read
    /// finds the content, whatever the size.
    #[test]
    fn the_encoded_payload_range_is_the_verified_content() {
        for size in [0, 1, 63, 4096, 16 * 1024, 1 << 20] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let message = InboundMessage::new(
                ChannelId(3),
                9,
                fiasco_ipc_core::MessageKind::Text,
                &payload,
            );
            let Some(encoded) = FlatBufferEncoder.encode(&message) else {
                panic!("{size}: not encoded");
            };
            let table = fiasco::flatbuffers::root::<MessageFromRemote<'_>>(&encoded.event);
            let content = table
                .ok()
                .and_then(|table| table.content())
                .map(|content| content.bytes());
            let content = content.unwrap_or_else(|| panic!("{size}: no content"));
            let start = content.as_ptr() as usize - encoded.event.as_ptr() as usize;
            assert_eq!(encoded.payload, start..start + size, "{size}");
            assert_eq!(&encoded.event[encoded.payload.clone()], &payload[..]);
        }
    }
}
