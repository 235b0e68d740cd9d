//! The example IPC Agent Module: a box moves in the game; a web page served
//! by the game itself shows it live (the game streams `BoxState` every
//! frame) and sends commands (pause, resume, speed, colour) that the game
//! applies and answers (`CommandAck`).
//!
//! It uses the host's streams: the state goes to every page as one
//! broadcast (`also_to`, one buffer) with a conflation key, so a slow page
//! always gets the newest state and is never closed for reading slowly;
//! once a second each page is shown its channel's stats
//! (`ChannelStatsRequest` -> `ChannelStats`). With tokens
//! (`scripts/demo --roles`), a page's role comes with its
//! `ConnectionOpened`: a `viewer` watches, its commands are refused.
//!
//! The page and this agent share one definition of their messages,
//! `demo.fbs`: flatc generates this module's Rust (`demo_generated.rs`) and
//! the page's TypeScript (bundled as `web_root/demo_protocol.js`).
//!
//! Configuration: `ipc_agent.port` (default 9001), `ipc_agent.web_root`
//! (the folder to serve; default `examples/ipc_agent/web_root`).

use fiasco::{
    system, EventReader, EventWriter, Frame, InitContext, Module, ModuleError, ResMut, Stage,
};
use fiasco_ipc_schema::{
    ChannelClosed, ChannelStats, ChannelStatsRequest, ChannelStatsRequestArgs, ConnectionOpened,
    ListenRequest, ListenRequestArgs, ListenResult, ListenStatus, MessageFromRemote, MessageKind,
    MessageToRemote, MessageToRemoteArgs,
};

fiasco::generated_module!(demo_generated);

pub mod scene;

use scene::{ChannelNumbers, Scene, STATE_KEY};

/// Frames between two stats requests for each page (about a second).
const STATS_EVERY: u64 = 60;

/// The `user_id` this agent listens with (events on its port carry it).
pub const USER_ID: u64 = 0xB0C5;

/// The module's C ABI table (for static linking).
pub fn api() -> &'static fiasco::abi::FiascoModuleApi {
    fiasco::module_api!("ipc_agent", module)
}

/// Builds the module.
pub fn module() -> Module {
    Module::new("ipc_agent")
        .with_init(init)
        .with_system(Stage::Update, track_viewers())
        .with_system(Stage::Update, handle_commands())
        .with_system(Stage::Update, stream_state())
        .with_system(Stage::Update, show_stats())
}

fn init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    let port: u16 = ctx.config_parse("port", 9001)?;
    let web_root = ctx
        .config("web_root")
        .unwrap_or_else(|| "examples/ipc_agent/web_root".to_owned());
    if !std::path::Path::new(&web_root).join("index.html").is_file() {
        return Err(ModuleError::Config {
            key: "web_root".to_owned(),
            message: format!("{web_root} has no index.html"),
        });
    }
    ctx.insert_resource(Scene::default());
    ctx.writer::<ListenRequest<'_>>().write_builder(|builder| {
        let web_root = Some(builder.create_string(&web_root));
        ListenRequest::create(
            builder,
            &ListenRequestArgs {
                user_id: USER_ID,
                port,
                web_root,
                ..Default::default()
            },
        )
    });
    Ok(())
}

/// Keeps the set of connected pages, and says where to point the browser.
#[system]
fn track_viewers(
    mut scene: ResMut<'_, Scene>,
    results: EventReader<ListenResult<'_>>,
    opened: EventReader<ConnectionOpened<'_>>,
    closed: EventReader<ChannelClosed<'_>>,
) {
    for result in results.iter().filter(|result| result.user_id() == USER_ID) {
        if result.status() == ListenStatus::Ok {
            tracing::info!("demo ready: open http://127.0.0.1:{}/", result.port());
        } else {
            tracing::error!(status = ?result.status(), message = result.message().unwrap_or(""), "demo cannot listen");
        }
    }
    for event in opened.iter().filter(|event| event.user_id() == USER_ID) {
        tracing::info!(
            channel = event.channel(),
            peer = event.peer_address().unwrap_or(""),
            role = event.role().unwrap_or(""),
            "page connected"
        );
        scene.page_opened(event.channel(), event.role());
    }
    for event in closed.iter().filter(|event| event.user_id() == USER_ID) {
        tracing::info!(
            channel = event.channel(),
            code = event.code(),
            "page disconnected"
        );
        scene.page_closed(event.channel());
    }
}

fn send(writer: &EventWriter<MessageToRemote<'_>>, channel: u64, bytes: &[u8]) {
    writer.write_builder(|builder| {
        let content = fiasco::byte_vector(builder, bytes);
        MessageToRemote::create(
            builder,
            &MessageToRemoteArgs {
                channel,
                content: Some(content),
                kind: MessageKind::Binary,
                ..Default::default()
            },
        )
    });
}

/// Sends the state to every page in one message: one buffer shared by
/// their channels (`also_to`), keyed so a page that reads slowly gets the
/// newest state and nothing piles up for it.
fn broadcast_state(writer: &EventWriter<MessageToRemote<'_>>, pages: &[u64], bytes: &[u8]) {
    let Some((&first, others)) = pages.split_first() else {
        return;
    };
    writer.write_builder(|builder| {
        let content = fiasco::byte_vector(builder, bytes);
        let also_to = builder.create_vector(others);
        MessageToRemote::create(
            builder,
            &MessageToRemoteArgs {
                channel: first,
                content: Some(content),
                kind: MessageKind::Binary,
                conflation_key: STATE_KEY,
                also_to: Some(also_to),
                ..Default::default()
            },
        )
    });
}

/// Applies the pages' commands and answers each in the same frame.
#[system]
fn handle_commands(
    mut scene: ResMut<'_, Scene>,
    reader: EventReader<MessageFromRemote<'_>>,
    writer: EventWriter<MessageToRemote<'_>>,
) {
    let mut builder = flatbuffers::FlatBufferBuilder::new();
    for event in reader.iter().filter(|event| event.user_id() == USER_ID) {
        let content = event
            .content()
            .map(|content| content.bytes())
            .unwrap_or_default();
        let answer = scene.answer(event.channel(), content, &mut builder);
        send(&writer, event.channel(), answer);
    }
}

/// Moves the box and streams its state to every page, every frame.
#[system]
fn stream_state(
    frame: Frame,
    mut scene: ResMut<'_, Scene>,
    writer: EventWriter<MessageToRemote<'_>>,
) {
    scene.step();
    let pages: Vec<u64> = scene.pages().collect();
    if pages.is_empty() {
        return;
    }
    let mut builder = flatbuffers::FlatBufferBuilder::new();
    let state = scene.state_message(frame.0, &mut builder);
    broadcast_state(&writer, &pages, state);
}

/// Once a second asks the host how each page's channel is doing, and shows
/// each page its answer (a frame later).
#[system]
fn show_stats(
    frame: Frame,
    scene: ResMut<'_, Scene>,
    answers: EventReader<ChannelStats<'_>>,
    requests: EventWriter<ChannelStatsRequest<'_>>,
    writer: EventWriter<MessageToRemote<'_>>,
) {
    let mut builder = flatbuffers::FlatBufferBuilder::new();
    for stats in answers.iter().filter(|stats| stats.user_id() == USER_ID) {
        if !stats.open() {
            continue;
        }
        let numbers = ChannelNumbers {
            queued_messages: stats.queued_messages(),
            queued_bytes: stats.queued_bytes(),
            sent_messages: stats.sent_messages(),
            conflated_messages: stats.conflated_messages(),
            round_trip_us: stats.round_trip_us(),
        };
        let message = scene.channel_message(stats.channel(), &numbers, &mut builder);
        send(&writer, stats.channel(), message);
    }
    if frame.0.is_multiple_of(STATS_EVERY) {
        for channel in scene.pages() {
            requests.write_builder(|builder| {
                ChannelStatsRequest::create(
                    builder,
                    &ChannelStatsRequestArgs {
                        user_id: USER_ID,
                        channel,
                    },
                )
            });
        }
    }
}

fiasco::export_module!(crate::api);
