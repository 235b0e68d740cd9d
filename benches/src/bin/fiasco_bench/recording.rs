//! Recording on against off, side by side in one run: two echo games of
//! this build, one recording every channel (`ipc.record`), interleaved
//! rounds of the same load; the IPC systems' game-thread time per frame
//! with and without recording; the writer thread's throughput (payload
//! bytes written per second of its CPU); the file's size per million 64 B
//! messages.

use std::path::Path;
use std::time::Duration;

use crate::{game_thread_cost, measure, median, shown, start_game_from, Args, Sample};

/// Rounds of the comparison, each game going first in every other.
const ROUNDS: usize = 3;

/// The writer thread's CPU time (`fiasco-ipc-record`; the kernel keeps 15
/// characters of a thread's name).
fn writer_cpu(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim() == "fiasco-ipc-reco")
        })
        .map(|task| crate::stat_cpu(&task.path().join("stat").to_string_lossy()))
        .sum()
}

/// Messages and payload bytes in a finished recording, and what it skipped.
#[derive(Debug, Default)]
struct FileFigures {
    messages: u64,
    payload: u64,
    skipped: u64,
    size: u64,
}

fn read_file(path: &Path) -> Result<FileFigures, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let mut figures = FileFigures {
        size: bytes.len() as u64,
        ..FileFigures::default()
    };
    let stream = mcap::MessageStream::new(&bytes).map_err(|error| error.to_string())?;
    for message in stream {
        let message = message.map_err(|error| error.to_string())?;
        if message.channel.topic == "/ipc/gaps" {
            let gap: serde_json::Value =
                serde_json::from_slice(&message.data).map_err(|error| error.to_string())?;
            figures.skipped += gap["skipped_messages"].as_u64().unwrap_or(0);
        } else if message.channel.topic != "/ipc/events" {
            figures.messages += 1;
            figures.payload += message.data.len() as u64;
        }
    }
    Ok(figures)
}

/// Prints the recording table.
pub(crate) async fn compare(args: &Args) -> Result<(), String> {
    // A folder of its own for the recordings, removed at the end.
    let scratch = tempfile::Builder::new()
        .prefix("fiasco-bench-record-")
        .tempdir()
        .map_err(|error| format!("cannot make a scratch folder: {error}"))?;
    let file = scratch.path().join("rounds.mcap");
    let record = [format!("ipc.record={}", file.display())];
    let servers = [
        start_game_from(&args.platform, &args.modules, "recording off", 0, &[])?,
        start_game_from(&args.platform, &args.modules, "recording on", 0, &record)?,
    ];
    let samples = crate::baseline::interleaved(&servers, ROUNDS, args.seconds).await?;
    let writer = writer_cpu(servers[1].child.id());
    // SIGTERM: the game stops cleanly and finishes the file.
    drop(servers);
    let rounds = read_file(&file)?;

    // The file's size per 64 B message: a recording of the 64 B load alone.
    let small_file = scratch.path().join("small.mcap");
    let small = {
        let settings = [format!("ipc.record={}", small_file.display())];
        let server = start_game_from(&args.platform, &args.modules, "recording", 0, &settings)?;
        measure(server.address, server.child.id(), 10, 16, 64, args.seconds).await?;
        drop(server);
        read_file(&small_file)?
    };

    // The game thread, in-process: the same frames with and without,
    // interleaved rounds (the figures move by a quarter between runs).
    let dir = scratch.path().to_owned();
    let costs = tokio::task::spawn_blocking(move || {
        let mut costs: [Vec<[f64; 3]>; 2] = Default::default();
        for round in 0..ROUNDS {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for index in order {
                let file = dir.join(format!("game-thread-{round}.mcap"));
                let cost = game_thread_cost((index == 1).then_some(file.as_path()))?;
                costs[index].push([cost.burst_cpu, cost.one_mib_cpu, cost.one_small_cpu]);
            }
        }
        Ok::<_, String>(costs)
    })
    .await
    .map_err(|error| error.to_string())??;
    let cost = |index: usize, field: usize| median(costs[index].iter().map(|c| c[field]).collect());
    let figure =
        |index: usize, pick: fn(&Sample) -> f64| median(samples[index].iter().map(pick).collect());
    println!();
    println!(
        "Recording on against off (two echo games of this build, fps 0; medians of {ROUNDS} interleaved rounds; payloads of one repeated byte, as in the rows above; server CPU includes the writer thread):"
    );
    println!();
    println!("| measure | recording off | recording on | on / off |");
    println!("| --- | --- | --- | --- |");
    for (what, pick, unit) in crate::baseline::ROWS {
        let (off, on) = (figure(0, pick), figure(1, pick));
        println!(
            "| {what} | {} {unit} | {} {unit} | {:.2}x |",
            shown(off),
            shown(on),
            if off > 0.0 { on / off } else { 0.0 }
        );
    }
    let game_rows = [
        "IPC systems' game-thread CPU per frame, 1000 messages of 64 B",
        "IPC systems' game-thread CPU, a frame with one 1 MiB message",
        "IPC systems' game-thread CPU, a frame with one 64 B message",
    ]
    .into_iter()
    .enumerate()
    .map(|(field, what)| (what, cost(0, field), cost(1, field)));
    for (what, off, on) in game_rows {
        println!(
            "| {what} | {} µs | {} µs | {:.2}x |",
            shown(off),
            shown(on),
            if off > 0.0 { on / off } else { 0.0 }
        );
    }
    println!();
    let seconds = writer.as_secs_f64();
    println!(
        "Recorder, over the rounds: {} messages, {} MB of payload written, {} skipped (gaps); the writer thread's CPU {:.2} s: {} MB of payload per CPU second; file {} MB.",
        rounds.messages,
        shown(rounds.payload as f64 / 1e6),
        rounds.skipped,
        seconds,
        if seconds > 0.0 {
            shown(rounds.payload as f64 / 1e6 / seconds)
        } else {
            "-".to_owned()
        },
        shown(rounds.size as f64 / 1e6),
    );
    let per_million = if small.messages > 0 {
        small.size as f64 / small.messages as f64
    } else {
        0.0
    };
    println!(
        "File size per million 64 B messages: {} MB ({} messages recorded in {} bytes, {} skipped).",
        shown(per_million),
        small.messages,
        small.size,
        small.skipped
    );
    Ok(())
}
