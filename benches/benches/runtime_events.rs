//! The cost of an event written by one module and read by another, across
//! the C ABI (64 B and 64 KiB payloads), and of a frame with no events.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fiasco::{
    system, Config, EventReader, EventWriter, GameBuilder, InitContext, Module, ModuleError, Res,
    Stage,
};
use fiasco_ipc_schema::{MessageToRemote, MessageToRemoteArgs};

struct Load {
    count: usize,
    payload: Vec<u8>,
}

fn writer_init(ctx: &mut InitContext<'_>) -> Result<(), ModuleError> {
    let count = ctx.config_parse("count", 0usize)?;
    let size = ctx.config_parse("size", 0usize)?;
    ctx.insert_resource(Load {
        count,
        payload: vec![7u8; size],
    });
    Ok(())
}

#[system]
fn write_events(load: Res<'_, Load>, writer: EventWriter<MessageToRemote<'_>>) {
    for channel in 0..load.count as u64 {
        writer.write_builder(|builder| {
            let content = builder.create_vector(&load.payload);
            MessageToRemote::create(
                builder,
                &MessageToRemoteArgs {
                    channel,
                    content: Some(content),
                    ..Default::default()
                },
            )
        });
    }
}

#[system]
fn read_events(reader: EventReader<MessageToRemote<'_>>) {
    let mut total = 0usize;
    for event in &reader {
        total += event.content().map_or(0, |content| content.len());
    }
    std::hint::black_box(total);
}

fn writer() -> Module {
    Module::new("bench_writer")
        .with_init(writer_init)
        .with_system(Stage::Update, write_events())
}

fn reader() -> Module {
    Module::new("bench_reader").with_system(Stage::Update, read_events())
}

fn game(count: usize, size: usize) -> fiasco::Game {
    let mut config = Config::default();
    config.set("bench_writer", "count", count.to_string());
    config.set("bench_writer", "size", size.to_string());
    GameBuilder::new()
        .config(config)
        .add_static(fiasco::module_api!("bench_writer", writer))
        .add_static(fiasco::module_api!("bench_reader", reader))
        .build()
}

fn events(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_across_modules");
    const PER_FRAME: usize = 100;
    for size in [64usize, 64 * 1024] {
        group.throughput(Throughput::Elements(PER_FRAME as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{size}B")),
            &size,
            |b, &size| {
                let mut game = game(PER_FRAME, size);
                b.iter(|| game.run_frame());
            },
        );
    }
    group.finish();
    c.bench_function("empty_frame", |b| {
        let mut game = game(0, 0);
        b.iter(|| game.run_frame());
    });
}

criterion_group!(benches, events);
criterion_main!(benches);
