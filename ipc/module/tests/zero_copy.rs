//! The host copies no payload on the game thread: with an agent that
//! answers with a prebuilt event (so the agent itself copies nothing), 1 MiB
//! messages go client -> game -> client without a single payload-sized
//! allocation on the game thread. A copy anywhere in the host's path (the
//! inbound event built on the game thread, the outbound content taken out
//! of the bus) would allocate one per message. And a broadcast (`also_to`)
//! to ten channels costs the one buffer the agent built, not ten copies.
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
    ConnectionOpened, ListenRequest, ListenRequestArgs, ListenResult, ListenStatus,
    MessageFromRemote, MessageKind, MessageToRemote, MessageToRemoteArgs,
};
use tungstenite::Message;

/// Counts allocations of at least `BIG` bytes made on the game thread.
struct Counting;

const BIG: usize = 512 * 1024;
/// Per test (a game thread says which it runs for): big allocations.
static BIG_ON_GAME_THREAD: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static COUNTING: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
const ROUND_TRIPS: usize = 0;
const BROADCAST: usize = 1;

thread_local! {
    /// Which test's game thread this is, if any.
    static GAME_THREAD: Cell<Option<usize>> = const { Cell::new(None) };
}

fn count(size: usize) {
    if size < BIG {
        return;
    }
    if let Some(test) = GAME_THREAD.try_with(Cell::get).ok().flatten() {
        if COUNTING[test].load(Ordering::Relaxed) {
            BIG_ON_GAME_THREAD[test].fetch_add(1, Ordering::Relaxed);
        }
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

/// A game with the IPC module and `agent` on a thread of its own, marked
/// as `test`'s game thread; returns its stop handle, the thread, and the
/// port the agent reported in `port`.
fn start_game(
    test: usize,
    fps: u32,
    agent: fn() -> &'static fiasco::abi::FiascoModuleApi,
    port: &'static Mutex<Option<u16>>,
) -> (StopHandle, std::thread::JoinHandle<()>, u16) {
    let stop = StopHandle::default();
    let game_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            GAME_THREAD.with(|flag| flag.set(Some(test)));
            let mut game = GameBuilder::new()
                .config(Config::default())
                .fps(fps)
                .add_static(fiasco_ipc::api())
                .add_static(agent())
                .build();
            assert!(game.reports().is_empty(), "{:?}", game.reports());
            game.run(&stop);
            game.shutdown();
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Some(port) = *port.lock().unwrap() {
            break port;
        }
        assert!(Instant::now() < deadline, "no ListenResult");
        std::thread::sleep(Duration::from_millis(5));
    };
    (stop, game_thread, port)
}

#[test]
fn megabyte_messages_cross_the_game_thread_without_a_payload_sized_allocation() {
    let (stop, game_thread, port) = start_game(
        ROUND_TRIPS,
        240,
        || fiasco::module_api!("prebuilt", agent),
        &PORT,
    );
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
    COUNTING[ROUND_TRIPS].store(true, Ordering::Release);
    const COUNT: usize = 30;
    for _ in 0..COUNT {
        round_trip(&mut client);
    }
    COUNTING[ROUND_TRIPS].store(false, Ordering::Release);
    stop.stop();
    drop(client);
    game_thread.join().unwrap();
    assert_eq!(
        BIG_ON_GAME_THREAD[ROUND_TRIPS].load(Ordering::Acquire),
        0,
        "payload-sized allocations on the game thread for {COUNT} 1 MiB round trips"
    );
}

const BROADCAST_USER: u64 = 0xB0AD;
const READERS: usize = 10;
const STATES: u64 = 20;
static BROADCAST_PORT: Mutex<Option<u16>> = Mutex::new(None);

/// The broadcaster's channels and how many states it sent.
#[derive(Default)]
struct Readers {
    channels: Vec<u64>,
    sent: u64,
    /// The game's state, made once (the agent's own buffer, not counted).
    state: Vec<u8>,
}

/// Once ten readers are in, sends one 1 MiB state a frame to the first
/// with `also_to` the nine others.
#[system]
fn broadcast(
    mut readers: ResMut<'_, Readers>,
    results: EventReader<ListenResult<'_>>,
    opened: EventReader<ConnectionOpened<'_>>,
    writer: EventWriter<MessageToRemote<'_>>,
) {
    for result in &results {
        if result.user_id() == BROADCAST_USER && result.status() == ListenStatus::Ok {
            *BROADCAST_PORT.lock().unwrap() = Some(result.port());
        }
    }
    for event in opened.iter().filter(|e| e.user_id() == BROADCAST_USER) {
        readers.channels.push(event.channel());
    }
    if readers.channels.len() < READERS || readers.sent == STATES {
        return;
    }
    if readers.sent == 0 {
        COUNTING[BROADCAST].store(true, Ordering::Release);
    }
    let sequence = readers.sent;
    let readers = &mut *readers;
    readers.state[..8].copy_from_slice(&sequence.to_le_bytes());
    let (channels, state) = (&readers.channels, &readers.state);
    writer.write_builder(|builder| {
        let content = fiasco::byte_vector(builder, state);
        let also_to = builder.create_vector(&channels[1..]);
        MessageToRemote::create(
            builder,
            &MessageToRemoteArgs {
                channel: channels[0],
                content: Some(content),
                kind: MessageKind::Binary,
                also_to: Some(also_to),
                ..Default::default()
            },
        )
    });
    readers.sent += 1;
    if readers.sent == STATES {
        COUNTING[BROADCAST].store(false, Ordering::Release);
    }
}

fn broadcaster_init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    ctx.insert_resource(Readers {
        state: vec![0u8; SIZE],
        ..Readers::default()
    });
    ctx.writer::<ListenRequest<'_>>().write_builder(|builder| {
        ListenRequest::create(
            builder,
            &ListenRequestArgs {
                user_id: BROADCAST_USER,
                port: 0,
                ..Default::default()
            },
        )
    });
    Ok(())
}

fn broadcaster() -> Module {
    Module::new("broadcaster")
        .with_init(broadcaster_init)
        .with_system(Stage::Update, broadcast())
}

#[test]
fn a_broadcast_to_ten_channels_costs_one_buffer_not_ten() {
    let (stop, game_thread, port) = start_game(
        BROADCAST,
        120,
        || fiasco::module_api!("broadcaster", broadcaster),
        &BROADCAST_PORT,
    );
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (mut client, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/")).unwrap();
            std::thread::spawn(move || {
                let mut sequences = Vec::new();
                while sequences.len() < STATES as usize {
                    if let Message::Binary(data) = client.read().unwrap() {
                        assert_eq!(data.len(), SIZE);
                        sequences.push(u64::from_le_bytes(data[..8].try_into().unwrap()));
                    }
                }
                sequences
            })
        })
        .collect();
    for reader in readers {
        let sequences = reader.join().unwrap();
        assert_eq!(
            sequences,
            (0..STATES).collect::<Vec<_>>(),
            "every state, in order"
        );
    }
    stop.stop();
    game_thread.join().unwrap();
    let big = BIG_ON_GAME_THREAD[BROADCAST].load(Ordering::Acquire);
    eprintln!("broadcast: {big} payload-sized allocations on the game thread for {STATES} states to {READERS} readers");
    // The agent's own state buffer, at most once a frame: a copy per
    // reader would be ten a frame.
    assert!(
        big <= STATES as usize,
        "{big} payload-sized allocations on the game thread for {STATES} states to {READERS} readers"
    );
}
