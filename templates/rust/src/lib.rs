//! __NAME__: an IPC Agent Module, a counter to start from.
//!
//! It listens on the port from its configuration (`__NAME__.port`, default
//! 9100; `--set __NAME__.port=...` or the environment `FIASCO___UPPER___PORT`).
//! A client's text message "inc" adds one to the count and is answered with
//! the count as text ("1", "2", ...); anything else is answered with
//! "unknown command".

use fiasco::{system, EventReader, EventWriter, InitContext, Module, ModuleError, ResMut, Stage};
use fiasco_ipc_schema::{
    ListenRequest, ListenRequestArgs, ListenResult, ListenStatus, MessageFromRemote, MessageKind,
    MessageToRemote, MessageToRemoteArgs,
};

/// Every event about this agent's port and its channels carries this id:
/// other agents' events are skipped by it.
const USER_ID: u64 = 0xC0_0017;

/// The module's state, kept by the game between frames (inserted in init,
/// taken by systems as `Res`/`ResMut`).
struct Counter {
    count: u64,
}

/// Asks the IPC host to listen when the module starts.
fn init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    let port: u16 = ctx.config_parse("port", 9100)?;
    ctx.insert_resource(Counter { count: 0 });
    ctx.writer::<ListenRequest<'_>>().write_builder(|builder| {
        ListenRequest::create(
            builder,
            &ListenRequestArgs {
                user_id: USER_ID,
                port,
                ..Default::default()
            },
        )
    });
    Ok(())
}

/// Answers every message from this agent's clients, in the frame it
/// arrives. The events live until the end of the next frame: copy what you
/// keep longer.
#[system]
fn answer(
    mut counter: ResMut<'_, Counter>,
    messages: EventReader<MessageFromRemote<'_>>,
    replies: EventWriter<MessageToRemote<'_>>,
) {
    for message in messages
        .iter()
        .filter(|message| message.user_id() == USER_ID)
    {
        let command = message
            .content()
            .map(|content| content.bytes())
            .unwrap_or_default();
        let answer = if message.kind() == MessageKind::Text && command == b"inc" {
            counter.count += 1;
            counter.count.to_string()
        } else {
            "unknown command".to_owned()
        };
        replies.write_builder(|builder| {
            let content = fiasco::byte_vector(builder, answer.as_bytes());
            MessageToRemote::create(
                builder,
                &MessageToRemoteArgs {
                    channel: message.channel(),
                    content: Some(content),
                    kind: MessageKind::Text,
                    ..Default::default()
                },
            )
        });
    }
}

/// Says where the agent listens, or why it cannot.
#[system]
fn report(results: EventReader<ListenResult<'_>>) {
    for result in results.iter().filter(|result| result.user_id() == USER_ID) {
        match result.status() {
            ListenStatus::Ok => {
                tracing::info!("__NAME__ listening on ws://127.0.0.1:{}", result.port())
            }
            status => tracing::error!(
                ?status,
                message = result.message().unwrap_or(""),
                "__NAME__ could not listen"
            ),
        }
    }
}

fn module() -> Module {
    Module::new("__NAME__")
        .with_init(init)
        .with_system(Stage::Update, answer())
        .with_system(Stage::Update, report())
}

fn api() -> &'static fiasco::abi::FiascoModuleApi {
    fiasco::module_api!("__NAME__", module)
}

fiasco::export_module!(api);
