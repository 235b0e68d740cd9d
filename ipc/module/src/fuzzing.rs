//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`). Not
//! part of the API.

use std::cell::RefCell;

use fiasco::bytes::Bytes;
use fiasco::{system, EventReader, EventWriter, Game, GameBuilder, Module, Stage};
use fiasco_ipc_schema::{
    ChannelClosed, ChannelStats, ChannelStatsRequest, CloseChannel, ConnectionOpened, ListenResult,
    MessageFromRemote, MessageToRemote, StopListeningRequest, StopListeningResult,
};

thread_local! {
    static INPUT: RefCell<Bytes> = const { RefCell::new(Bytes::new()) };
    static GAME: RefCell<Option<Game>> = const { RefCell::new(None) };
}

#[system]
#[allow(clippy::too_many_arguments)] // a system's parameters are its event kinds
fn write_input(
    send: EventWriter<MessageToRemote<'_>>,
    close: EventWriter<CloseChannel<'_>>,
    stop: EventWriter<StopListeningRequest<'_>>,
    from_remote: EventWriter<MessageFromRemote<'_>>,
    opened: EventWriter<ConnectionOpened<'_>>,
    closed: EventWriter<ChannelClosed<'_>>,
    results: EventWriter<ListenResult<'_>>,
    stop_results: EventWriter<StopListeningResult<'_>>,
    stats_requests: EventWriter<ChannelStatsRequest<'_>>,
    stats: EventWriter<ChannelStats<'_>>,
) {
    let input = INPUT.with(|input| input.borrow().clone());
    stats_requests.write_owned(input.clone());
    stats.write_owned(input.clone());
    send.write_owned(input.clone());
    close.write_owned(input.clone());
    stop.write_owned(input.clone());
    from_remote.write_owned(input.clone());
    opened.write_owned(input.clone());
    closed.write_owned(input.clone());
    results.write_owned(input.clone());
    stop_results.write_owned(input);
}

#[system]
#[allow(clippy::too_many_arguments)]
fn read_everything(
    from_remote: EventReader<MessageFromRemote<'_>>,
    opened: EventReader<ConnectionOpened<'_>>,
    closed: EventReader<ChannelClosed<'_>>,
    results: EventReader<ListenResult<'_>>,
    stop_results: EventReader<StopListeningResult<'_>>,
    stats: EventReader<ChannelStats<'_>>,
    sends: EventReader<MessageToRemote<'_>>,
) {
    for event in &stats {
        let _ = (event.channel(), event.queued_bytes(), event.round_trip_us());
    }
    for event in &sends {
        let _ = (
            event.also_to().map(|also| also.iter().max()),
            event.priority(),
            event.conflation_key(),
        );
    }
    for event in &from_remote {
        let _ = (
            event.channel(),
            event.content().map(|c| c.len()),
            event.kind(),
        );
    }
    for event in &opened {
        let _ = (
            event.peer_address(),
            event.path(),
            event.origin(),
            event.role(),
        );
    }
    for event in &closed {
        let _ = (event.reason(), event.code(), event.closed_by());
    }
    for event in &results {
        let _ = (event.message(), event.status());
    }
    for event in &stop_results {
        let _ = event.stopped();
    }
}

fn fuzzer() -> Module {
    Module::new("fuzzer")
        .with_system(Stage::Update, write_input())
        .with_system(Stage::Last, read_everything())
}

/// `data` as every request and report kind of ipc.fbs, written by a module
/// into a game with the IPC module and read back by the module and by
/// agents' readers (and as a `ListenRequest`, parsed and checked, never
/// bound): a malformed event is refused, never a panic.
pub fn module_events(data: &[u8]) {
    {
        crate::fuzz_listen_request(data);
        INPUT.with(|input| *input.borrow_mut() = Bytes::copy_from_slice(data));
        GAME.with(|game| {
            let mut game = game.borrow_mut();
            let game = game.get_or_insert_with(|| {
                GameBuilder::new()
                    .add_static(crate::api())
                    .add_static(fiasco::module_api!("fuzzer", fuzzer))
                    .build()
            });
            // Two frames: the events are written, read, and dropped.
            game.run_frame();
            game.run_frame();
        });
    }
}

/// Shuts down the game [`module_events`] keeps between inputs (a fuzzer
/// runs many inputs in one process). Call it before the thread ends: a game
/// dropped with the thread's locals would log after the logger is gone.
pub fn module_events_done() {
    if let Some(mut game) = GAME.with(|game| game.borrow_mut().take()) {
        game.shutdown();
    }
}
