//! The host copies no payload on the game thread: with an agent that
//! answers with a prebuilt event (so the agent itself copies nothing), 1 MiB
//! messages go client -> game -> client without a single payload-sized
//! allocation on the game thread. A copy anywhere in the host's path (the
//! inbound event built on the game thread, the outbound content taken out
//! of the bus) would allocate one per message.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fiasco::bytes::Bytes;
use fiasco::flatbuffers::FlatBufferBuilder;
use fiasco::{
    system, Config, EventReader, EventWriter, GameBuilder, InitContext, Module, ModuleError,
    ResMut, Stage, StopHandle,
};
use fiasco_ipc_schema::{
    ListenRequest, ListenRequestArgs, ListenResult, ListenStatus, MessageFromRemote, MessageKind,
    MessageToRemote, MessageToRemoteArgs,
};
use tungstenite::Message;

/// Counts allocations of at least `BIG` bytes made on the game thread.
struct Counting;

const BIG: usize = 512 * 1024;
static BIG_ON_GAME_THREAD: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

thread_local! {
    static GAME_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn count(size: usize) {
    if size >= BIG
        && COUNTING.load(Ordering::Relaxed)
        && GAME_THREAD.try_with(Cell::get).unwrap_or(false)
    {
        BIG_ON_GAME_THREAD.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator; counting touches only atomics
// and a const-initialised thread local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's layout is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const USER_ID: u64 = 0x2E0C;
const SIZE: usize = 1 << 20;
static PORT: Mutex<Option<u16>> = Mutex::new(None);

/// The answer, built once per channel.
#[derive(Default)]
struct Reply(Option<(u64, Bytes)>);

#[system]
fn answer(
    mut reply: ResMut<'_, Reply>,
    results: EventReader<ListenResult<'_>>,
    messages: EventReader<MessageFromRemote<'_>>,
    writer: EventWriter<MessageToRemote<'_>>,
) {
    for result in &results {
        if result.user_id() == USER_ID && result.status() == ListenStatus::Ok {
            *PORT.lock().unwrap() = Some(result.port());
        }
    }
    for message in messages.iter().filter(|m| m.user_id() == USER_ID) {
        assert_eq!(message.content().map_or(0, |c| c.len()), SIZE);
        let channel = message.channel();
        let event = match &reply.0 {
            Some((known, event)) if *known == channel => event.clone(),
            _ => {
                let mut builder = FlatBufferBuilder::with_capacity(SIZE + 1024);
                let content = builder.create_vector(&vec![7u8; SIZE]);
                let root = MessageToRemote::create(
                    &mut builder,
                    &MessageToRemoteArgs {
                        channel,
                        content: Some(content),
                        kind: MessageKind::Binary,
                        ..Default::default()
                    },
                );
                builder.finish_minimal(root);
                let event = Bytes::copy_from_slice(builder.finished_data());
                reply.0 = Some((channel, event.clone()));
                event
            }
        };
        assert!(writer.write_owned(event));
    }
}

fn init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    ctx.insert_resource(Reply::default());
    ctx.writer::<ListenRequest<'_>>().write_builder(|builder| {
        ListenRequest::create(
            builder,
            &ListenRequestArgs {
                user_id: USER_ID,
                port: 0,
                ..Default::default()
            },
        )
    });
    Ok(())
}

fn agent() -> Module {
    Module::new("prebuilt")
        .with_init(init)
        .with_system(Stage::Update, answer())
}

#[test]
fn megabyte_messages_cross_the_game_thread_without_a_payload_sized_allocation() {
    let stop = StopHandle::default();
    let game_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            GAME_THREAD.with(|flag| flag.set(true));
            let mut game = GameBuilder::new()
                .config(Config::default())
                .fps(240)
                .add_static(fiasco_ipc::api())
                .add_static(fiasco::module_api!("prebuilt", agent))
                .build();
            assert!(game.reports().is_empty(), "{:?}", game.reports());
            game.run(&stop);
            game.shutdown();
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Some(port) = *PORT.lock().unwrap() {
            break port;
        }
        assert!(Instant::now() < deadline, "no ListenResult");
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut client, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/")).unwrap();
    let payload = Bytes::from(vec![1u8; SIZE]);
    let round_trip = |client: &mut tungstenite::WebSocket<_>| {
        client.send(Message::Binary(payload.clone())).unwrap();
        match client.read().unwrap() {
            Message::Binary(data) => assert_eq!(data.len(), SIZE),
            other => panic!("{other:?}"),
        }
    };
    // Warm up: the reply is built, pools and queues reach their size.
    for _ in 0..5 {
        round_trip(&mut client);
    }
    COUNTING.store(true, Ordering::Release);
    const COUNT: usize = 30;
    for _ in 0..COUNT {
        round_trip(&mut client);
    }
    COUNTING.store(false, Ordering::Release);
    stop.stop();
    drop(client);
    game_thread.join().unwrap();
    assert_eq!(
        BIG_ON_GAME_THREAD.load(Ordering::Acquire),
        0,
        "payload-sized allocations on the game thread for {COUNT} 1 MiB round trips"
    );
}
