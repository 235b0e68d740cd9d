//! An IPC Agent Module that echoes every message back, with its kind.
//!
//! Configuration: `echo_agent.port` (default 9001; 0 for any free port),
//! `echo_agent.bind` (default 127.0.0.1), `echo_agent.max_connections`
//! (default: the host's, 1024) and `echo_agent.token` (a token clients must
//! present; default none). With `echo_agent.connect=URL` it also dials
//! URL (`echo_agent.connect_token`, `echo_agent.connect_ca`: a bearer token
//! and a CA file for wss://), keeps that link up, and echoes what it gets on
//! it too. With `echo_agent.prefix=P` it puts P before every text it echoes
//! (a game that answers differently, for replay tests). `scripts/echo-game
//! PORT [--connect URL ...]` runs it with the IPC
//! host in `platform_native`; the Autobahn conformance run and the
//! benchmarks drive it.

use fiasco::{system, EventReader, EventWriter, InitContext, Module, ModuleError, Res, Stage};
use fiasco_ipc_schema::{
    ConnectFailure, ConnectRequest, ConnectRequestArgs, ConnectState, ConnectStatus, ListenRequest,
    ListenRequestArgs, ListenResult, ListenStatus, MessageFromRemote, MessageKind, MessageToRemote,
    MessageToRemoteArgs,
};

/// The `user_id` this agent listens and dials with.
pub const USER_ID: u64 = 0xEC40;

/// The `connect_id` of its one outbound link.
pub const CONNECT_ID: u64 = 1;

/// The module's C ABI table (for static linking).
pub fn api() -> &'static fiasco::abi::FiascoModuleApi {
    fiasco::module_api!("echo_agent", module)
}

/// Builds the module.
pub fn module() -> Module {
    Module::new("echo_agent")
        .with_init(init)
        .with_system(Stage::Update, echo())
        .with_system(Stage::Update, report_listening())
        .with_system(Stage::Update, report_link())
}

fn init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    let port: u16 = ctx.config_parse("port", 9001)?;
    let bind = ctx.config("bind").unwrap_or_else(|| "127.0.0.1".to_owned());
    let max_connections: u32 = ctx.config_parse("max_connections", 0)?;
    let listen_token = ctx.config("token");
    ctx.insert_resource(Answers {
        prefix: ctx.config("prefix").unwrap_or_default().into_bytes(),
    });
    ctx.writer::<ListenRequest<'_>>().write_builder(|builder| {
        let bind_address = Some(builder.create_string(&bind));
        let token = listen_token
            .as_deref()
            .map(|token| builder.create_string(token));
        ListenRequest::create(
            builder,
            &ListenRequestArgs {
                user_id: USER_ID,
                port,
                bind_address,
                token,
                max_connections,
                ..Default::default()
            },
        )
    });
    if let Some(url) = ctx.config("connect") {
        let token = ctx.config("connect_token");
        let ca_file = ctx.config("connect_ca");
        ctx.writer::<ConnectRequest<'_>>().write_builder(|builder| {
            let url = Some(builder.create_string(&url));
            let token = token.as_deref().map(|token| builder.create_string(token));
            let ca_file = ca_file.as_deref().map(|file| builder.create_string(file));
            ConnectRequest::create(
                builder,
                &ConnectRequestArgs {
                    user_id: USER_ID,
                    connect_id: CONNECT_ID,
                    url,
                    token,
                    ca_file,
                    ..Default::default()
                },
            )
        });
    }
    Ok(())
}

/// How the echo answers: `prefix` before every text (`echo_agent.prefix`).
#[derive(Debug)]
struct Answers {
    prefix: Vec<u8>,
}

/// Sends every message back on its channel, with its kind: one copy of
/// the payload, no zeroing (`write_with_bytes`).
#[system]
fn echo(
    answers: Res<'_, Answers>,
    reader: EventReader<MessageFromRemote<'_>>,
    writer: EventWriter<MessageToRemote<'_>>,
) {
    let mut prefixed = Vec::new();
    for event in &reader {
        if event.user_id() != USER_ID {
            continue;
        }
        let mut content = event
            .content()
            .map(|content| content.bytes())
            .unwrap_or_default();
        if !answers.prefix.is_empty() && event.kind() == MessageKind::Text {
            prefixed.clear();
            prefixed.extend_from_slice(&answers.prefix);
            prefixed.extend_from_slice(content);
            content = &prefixed;
        }
        writer.write_with_bytes(content, |builder, content| {
            MessageToRemote::create(
                builder,
                &MessageToRemoteArgs {
                    channel: event.channel(),
                    content: Some(content),
                    kind: event.kind(),
                    ..Default::default()
                },
            )
        });
    }
}

/// Logs where the echo listens (scripts wait for this line).
#[system]
fn report_listening(results: EventReader<ListenResult<'_>>) {
    for result in results.iter().filter(|result| result.user_id() == USER_ID) {
        if result.status() == ListenStatus::Ok {
            tracing::info!(
                port = result.port(),
                "echo agent listening on ws://127.0.0.1:{}",
                result.port()
            );
        } else {
            tracing::error!(
                status = ?result.status(),
                message = result.message().unwrap_or(""),
                "echo agent could not listen"
            );
        }
    }
}

/// Logs how the outbound link is doing (scripts wait for these lines).
#[system]
fn report_link(statuses: EventReader<ConnectStatus<'_>>) {
    for status in statuses.iter().filter(|status| status.user_id() == USER_ID) {
        match status.state() {
            ConnectState::Connected => {
                tracing::info!(channel = status.channel(), "echo agent connected")
            }
            ConnectState::Failed if status.failure() == ConnectFailure::Closed => {
                tracing::info!(retry_in_ms = status.retry_in_ms(), "echo agent link ended")
            }
            ConnectState::Failed => tracing::warn!(
                failure = ?status.failure(),
                http_status = status.http_status(),
                retry_in_ms = status.retry_in_ms(),
                message = status.message().unwrap_or(""),
                "echo agent link failed"
            ),
            ConnectState::Stopped => tracing::info!("echo agent link stopped"),
            _ => {}
        }
    }
}

fiasco::export_module!(crate::api);
