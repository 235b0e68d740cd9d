//! __NAME__: a Bevy app with the Fiasco IPC plugin, a counter to start from.
//!
//! It listens on the port from the environment `FIASCO___UPPER___PORT`
//! (default 9100), on 127.0.0.1. A client's text message "inc" adds one to
//! the count and is answered with the count as text ("1", "2", ...);
//! anything else is answered with "unknown command".
//!
//! Ctrl-C (SIGINT) or SIGTERM ends it cleanly: the signal sets a flag, a
//! system writes `AppExit`, and on it the IPC plugin closes every client
//! with 1001 and removes the app's discovery file (`fiasco-ipc list`). A
//! second Ctrl-C ends it at once. (Bevy's `TerminalCtrlCHandlerPlugin`
//! does the first part for SIGINT alone, and not in a process started with
//! SIGINT ignored, as `cmd &` in a script or `nohup` start it.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bevy_app::{App, AppExit, First, ScheduleRunnerPlugin, Startup, Update};
use bevy_ecs::prelude::*;
use fiasco_ipc_bevy::{
    IpcPlugin, Listen, ListenOptions, ListenResult, MessageFromRemote, MessageKind, SendMessage,
};
use signal_hook::consts::{SIGINT, SIGTERM};

/// Every event about this app's port and its channels carries this id.
const USER_ID: u64 = 0xC0_0017;

/// Where the environment says to listen.
const PORT_VARIABLE: &str = "FIASCO___UPPER___PORT";

/// The port to listen on.
#[derive(Resource, Debug, Clone, Copy)]
struct Port(u16);

/// Set by SIGINT or SIGTERM: the app exits at the next frame.
#[derive(Resource, Debug, Clone)]
struct StopSignal(Arc<AtomicBool>);

/// The app's state.
#[derive(Resource, Debug, Default)]
struct Counter {
    count: u64,
}

fn main() -> AppExit {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let port = match std::env::var(PORT_VARIABLE) {
        Err(std::env::VarError::NotPresent) => 9100,
        Ok(text) => match text.parse::<u16>() {
            Ok(port) => port,
            Err(error) => {
                tracing::error!("{PORT_VARIABLE}={text:?} is not a port (0 to 65535): {error}");
                return AppExit::error();
            }
        },
        Err(error) => {
            tracing::error!("{PORT_VARIABLE}: {error}");
            return AppExit::error();
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // The first signal sets the flag; a second one, with the flag set,
        // exits at once (code 1).
        let registered = signal_hook::flag::register_conditional_shutdown(signal, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(signal, stop.clone()));
        if let Err(error) = registered {
            tracing::warn!("cannot catch signal {signal} ({error}): it will end the app abruptly");
        }
    }
    App::new()
        // 60 frames a second, no window.
        .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
            1.0 / 60.0,
        )))
        .add_plugins(IpcPlugin::default())
        .insert_resource(StopSignal(stop))
        .insert_resource(Port(port))
        .init_resource::<Counter>()
        .add_systems(Startup, listen)
        .add_systems(First, exit_on_signal)
        .add_systems(Update, (report, answer))
        .run()
}

/// Ends the app on SIGINT or SIGTERM: the plugin then closes every client
/// with 1001 and removes the discovery file.
fn exit_on_signal(stop: Res<'_, StopSignal>, mut exits: MessageWriter<'_, AppExit>) {
    if stop.0.load(Ordering::Relaxed) {
        tracing::info!("stopping");
        exits.write(AppExit::Success);
    }
}

/// Asks the plugin to listen (carried out at the end of the first frame).
fn listen(port: Res<'_, Port>, mut listens: MessageWriter<'_, Listen>) {
    listens.write(Listen {
        user_id: USER_ID,
        port: port.0,
        options: ListenOptions::default(),
    });
}

/// Says where the app listens; ends it if it cannot.
fn report(mut results: MessageReader<'_, '_, ListenResult>, mut exits: MessageWriter<'_, AppExit>) {
    for result in results.read().filter(|result| result.user_id == USER_ID) {
        match &result.result {
            Ok(address) => tracing::info!("__NAME__ listening on ws://{address}/"),
            Err(error) => {
                tracing::error!("__NAME__ could not listen: {error}");
                exits.write(AppExit::error());
            }
        }
    }
}

/// Answers every message from this app's clients, in the frame it arrives.
fn answer(
    mut counter: ResMut<'_, Counter>,
    mut messages: MessageReader<'_, '_, MessageFromRemote>,
    mut sends: MessageWriter<'_, SendMessage>,
) {
    for message in messages.read().filter(|message| message.user_id == USER_ID) {
        let answer = if message.kind == MessageKind::Text && message.data == "inc" {
            counter.count += 1;
            counter.count.to_string()
        } else {
            "unknown command".to_owned()
        };
        sends.write(SendMessage::text(message.channel, answer));
    }
}
