//! The demo in Bevy: a headless Bevy app (no window, no renderer; a 60 fps
//! schedule runner) with the IPC plugin, serving the same page and running
//! the same game (`ipc_agent::scene`, messages in `demo.fbs`) as the Fiasco
//! demo. `scripts/demo --bevy` runs it on 127.0.0.1:9001.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bevy_app::{App, AppExit, First, ScheduleRunnerPlugin, Startup, Update};
use bevy_ecs::prelude::*;
use clap::Parser;
use fiasco_ipc_bevy::{
    ChannelClosed, ChannelId, ChannelStats, ConnectionOpened, IpcPlugin, Listen, ListenOptions,
    ListenResult, MessageFromRemote, RequestChannelStats, SendMessage, TokenGrant,
};
use ipc_agent::scene::{ChannelNumbers, Scene, STATE_KEY};

/// The `user_id` the demo listens with.
const USER_ID: u64 = ipc_agent::USER_ID;

/// The Fiasco IPC demo as a headless Bevy app.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The port to serve the page and its WebSocket on (127.0.0.1).
    #[arg(long, default_value_t = 9001)]
    port: u16,
    /// The folder to serve: the demo page.
    #[arg(long, default_value = "examples/ipc_agent/web_root")]
    web_root: PathBuf,
    /// Frames per second.
    #[arg(long, default_value_t = 60.0)]
    fps: f64,
    /// Token grants, `role:token,...` (e.g. `editor:...,viewer:...`): a
    /// page then needs a token, and a `viewer` only watches.
    #[arg(long, env = "FIASCO_IPC_TOKENS")]
    tokens: Option<String>,
}

/// The demo's game state, as a Bevy resource.
#[derive(Resource, Debug, Default)]
struct Demo {
    scene: Scene,
    frame: u64,
}

/// Set by SIGINT or SIGTERM: the app exits at the next frame.
#[derive(Resource, Debug, Clone)]
struct StopSignal(Arc<AtomicBool>);

/// What the demo was asked to serve.
#[derive(Resource, Debug, Clone)]
struct Serve {
    port: u16,
    web_root: PathBuf,
    tokens: Vec<TokenGrant>,
}

fn main() -> AppExit {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    if !args.web_root.join("index.html").is_file() {
        tracing::error!(web_root = %args.web_root.display(), "the web root has no index.html");
        return AppExit::error();
    }
    if !(args.fps.is_finite() && args.fps > 0.0) {
        tracing::error!(fps = args.fps, "--fps must be a positive number");
        return AppExit::error();
    }
    let tokens = match TokenGrant::parse_list(args.tokens.as_deref().unwrap_or_default()) {
        Ok(tokens) => tokens,
        Err(error) => {
            tracing::error!(%error, "--tokens is role:token,...");
            return AppExit::error();
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The first signal sets the flag; a second one, with the flag set,
        // ends the app at once (exit code 1).
        let registered =
            signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)));
        if let Err(error) = registered {
            tracing::warn!(%error, signal, "cannot catch the signal: it will end the app abruptly");
        }
    }
    App::new()
        .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
            1.0 / args.fps,
        )))
        .add_plugins(IpcPlugin::default())
        .insert_resource(Demo::default())
        .insert_resource(StopSignal(stop))
        .insert_resource(Serve {
            port: args.port,
            web_root: args.web_root,
            tokens,
        })
        .add_systems(Startup, listen)
        .add_systems(First, exit_on_signal)
        .add_systems(
            Update,
            (track_viewers, handle_commands, stream_state, show_stats).chain(),
        )
        .run()
}

/// Asks the plugin to listen, serving the page.
fn listen(serve: Res<'_, Serve>, mut listens: MessageWriter<'_, Listen>) {
    let mut options = ListenOptions::default();
    options.web_root = Some(serve.web_root.clone());
    options.tokens = serve.tokens.clone();
    listens.write(Listen {
        user_id: USER_ID,
        port: serve.port,
        options,
    });
}

/// Ends the app (the plugin closes every page with 1001) on SIGINT/SIGTERM.
fn exit_on_signal(stop: Res<'_, StopSignal>, mut exits: MessageWriter<'_, AppExit>) {
    if stop.0.load(Ordering::Relaxed) {
        tracing::info!("stopping");
        exits.write(AppExit::Success);
    }
}

/// Keeps the set of connected pages, and says where to point the browser.
fn track_viewers(
    mut demo: ResMut<'_, Demo>,
    mut results: MessageReader<'_, '_, ListenResult>,
    mut opened: MessageReader<'_, '_, ConnectionOpened>,
    mut closed: MessageReader<'_, '_, ChannelClosed>,
) {
    for result in results.read().filter(|result| result.user_id == USER_ID) {
        match &result.result {
            Ok(address) => tracing::info!("demo ready: open http://{address}/ (Bevy)"),
            Err(error) => tracing::error!(%error, "demo cannot listen"),
        }
    }
    for event in opened.read().filter(|event| event.user_id == USER_ID) {
        let role = event.role.as_deref();
        tracing::info!(channel = %event.channel, peer = %event.peer, role = role.unwrap_or(""), "page connected");
        demo.scene.page_opened(event.channel.0, role);
    }
    for event in closed.read().filter(|event| event.user_id == USER_ID) {
        tracing::info!(channel = %event.channel, code = event.code, "page disconnected");
        demo.scene.page_closed(event.channel.0);
    }
}

/// Applies the pages' commands and answers each in the same frame.
fn handle_commands(
    mut demo: ResMut<'_, Demo>,
    mut messages: MessageReader<'_, '_, MessageFromRemote>,
    mut sends: MessageWriter<'_, SendMessage>,
) {
    let mut builder = flatbuffers::FlatBufferBuilder::new();
    for message in messages.read().filter(|message| message.user_id == USER_ID) {
        let answer = demo
            .scene
            .answer(message.channel.0, &message.data, &mut builder);
        sends.write(SendMessage::binary(message.channel, answer.to_vec()));
    }
}

/// Moves the box and streams its state to every page, every frame.
fn stream_state(mut demo: ResMut<'_, Demo>, mut sends: MessageWriter<'_, SendMessage>) {
    demo.frame += 1;
    demo.scene.step();
    if demo.scene.pages().next().is_none() {
        return;
    }
    let mut builder = flatbuffers::FlatBufferBuilder::new();
    let state = bytes::Bytes::copy_from_slice(demo.scene.state_message(demo.frame, &mut builder));
    // One message to every page (one shared buffer), keyed: a slow page
    // gets the newest state and nothing piles up for it.
    let mut pages = demo.scene.pages().map(ChannelId);
    if let Some(first) = pages.next() {
        sends.write(
            SendMessage::binary(first, state)
                .keyed(STATE_KEY)
                .also_to(pages),
        );
    }
}

/// Once a second asks how each page's channel is doing, and shows each
/// page its answer.
fn show_stats(
    demo: Res<'_, Demo>,
    mut answers: MessageReader<'_, '_, ChannelStats>,
    mut requests: MessageWriter<'_, RequestChannelStats>,
    mut sends: MessageWriter<'_, SendMessage>,
) {
    let mut builder = flatbuffers::FlatBufferBuilder::new();
    for stats in answers
        .read()
        .filter(|stats| stats.user_id == USER_ID && stats.open)
    {
        let numbers = ChannelNumbers {
            queued_messages: stats.queued_messages,
            queued_bytes: stats.queued_bytes,
            sent_messages: stats.sent_messages,
            conflated_messages: stats.conflated_messages,
            round_trip_us: stats
                .round_trip
                .map_or(0, |rtt| u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX)),
        };
        let message = demo
            .scene
            .channel_message(stats.channel.0, &numbers, &mut builder);
        sends.write(SendMessage::binary(stats.channel, message.to_vec()));
    }
    if demo.frame.is_multiple_of(60) {
        for channel in demo.scene.pages() {
            requests.write(RequestChannelStats {
                user_id: USER_ID,
                channel: ChannelId(channel),
            });
        }
    }
}
