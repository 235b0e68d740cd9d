//! An agent that runs the Autobahn TestSuite client cases through the
//! game's outbound connections, as `scripts/autobahn client` uses it.
//!
//! Against a fuzzing server (`kosoku -m fuzzingserver`) at
//! `autobahn_client.server` (e.g. `ws://127.0.0.1:9302`) it asks
//! `/getCaseCount`, then dials `/runCase?case=N&agent=fiasco` for each case
//! in turn, with the echo agent's `user_id`: the echo agent sends every
//! message back with its kind, so each case runs the whole path (outbound
//! client -> echo agent -> back). Last it dials `/updateReports`. Every link
//! is one connection (`no_reconnect`); the next starts when the previous
//! one's `Stopped` arrives.

use fiasco::{system, EventReader, EventWriter, InitContext, Module, ModuleError, ResMut, Stage};
use fiasco_ipc_schema::{
    ConnectRequest, ConnectRequestArgs, ConnectState, ConnectStatus, MessageFromRemote,
};

/// The echo agent's `user_id` (`ECHO_USER_ID`): case links carry it,
/// so the echo agent echoes them.
const ECHO_USER_ID: u64 = 0xEC40;
/// This agent's own `user_id` (the case count and the report links).
const USER_ID: u64 = 0xA070;
/// The `connect_id` of the case count link.
const COUNT: u64 = 1;
/// The `connect_id` of the report link.
const REPORTS: u64 = 2;
/// Case N runs as `connect_id` CASES + N.
const CASES: u64 = 1000;
/// Autobahn's largest messages are 16 MiB; the limits leave room.
const MAX_MESSAGE: u64 = 32 << 20;

/// The module's C ABI table (for static linking).
pub fn api() -> &'static fiasco::abi::FiascoModuleApi {
    fiasco::module_api!("autobahn_client", module)
}

/// Builds the module.
pub fn module() -> Module {
    Module::new("autobahn_client")
        .with_init(init)
        .with_system(Stage::Update, sequence())
}

/// Where the run stands.
struct Run {
    server: String,
    agent: String,
    count: Option<u64>,
    /// The case running now (1-based), 0 before the first.
    case: u64,
}

fn dial(writer: &EventWriter<ConnectRequest<'_>>, user_id: u64, connect_id: u64, url: &str) {
    writer.write_builder(|builder| {
        let url = Some(builder.create_string(url));
        ConnectRequest::create(
            builder,
            &ConnectRequestArgs {
                user_id,
                connect_id,
                url,
                no_reconnect: true,
                max_message_size: MAX_MESSAGE,
                max_frame_size: MAX_MESSAGE,
                max_inbound_bytes: MAX_MESSAGE + (1 << 20),
                max_outbound_bytes: 2 * MAX_MESSAGE,
                ..Default::default()
            },
        )
    });
}

fn init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    let Some(server) = ctx.config("server") else {
        return Err(ModuleError::Config {
            key: "server".to_owned(),
            message: "set the fuzzing server's URL, e.g. ws://127.0.0.1:9302".to_owned(),
        });
    };
    let server = server.trim_end_matches('/').to_owned();
    let agent = ctx.config("agent").unwrap_or_else(|| "fiasco".to_owned());
    dial(
        &ctx.writer::<ConnectRequest<'_>>(),
        USER_ID,
        COUNT,
        &format!("{server}/getCaseCount"),
    );
    ctx.insert_resource(Run {
        server,
        agent,
        count: None,
        case: 0,
    });
    Ok(())
}

/// Reads the case count, and starts each link when the previous stopped.
#[system]
fn sequence(
    mut run: ResMut<'_, Run>,
    messages: EventReader<MessageFromRemote<'_>>,
    statuses: EventReader<ConnectStatus<'_>>,
    connects: EventWriter<ConnectRequest<'_>>,
) {
    for message in messages
        .iter()
        .filter(|message| message.user_id() == USER_ID)
    {
        let text = message
            .content()
            .map(|content| content.bytes())
            .unwrap_or_default();
        run.count = std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        tracing::info!(count = ?run.count, "autobahn client: cases to run");
    }
    let ours = |status: &ConnectStatus<'_>| {
        status.user_id() == USER_ID || status.user_id() == ECHO_USER_ID
    };
    for status in statuses.iter().filter(ours) {
        if status.state() == ConnectState::Failed {
            tracing::debug!(
                connect_id = status.connect_id(),
                message = status.message().unwrap_or(""),
                "link ended"
            );
        }
        if status.state() != ConnectState::Stopped {
            continue;
        }
        let finished = status.connect_id();
        let next_case = match finished {
            COUNT => 1,
            REPORTS => {
                tracing::info!("autobahn client done: reports updated");
                continue;
            }
            id if id == CASES + run.case => run.case + 1,
            _ => continue,
        };
        match run.count {
            Some(count) if next_case <= count => {
                run.case = next_case;
                let url = format!(
                    "{}/runCase?case={next_case}&agent={}",
                    run.server, run.agent
                );
                dial(&connects, ECHO_USER_ID, CASES + next_case, &url);
            }
            _ => {
                let url = format!("{}/updateReports?agent={}", run.server, run.agent);
                dial(&connects, USER_ID, REPORTS, &url);
            }
        }
    }
}

fiasco::export_module!(crate::api);
