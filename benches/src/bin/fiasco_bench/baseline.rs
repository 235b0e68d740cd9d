//! This build against the previous release, in the same run: the echo game
//! of each (unthrottled), interleaved rounds of the same load, medians and
//! ratios. A change that costs more than the noise shows here.

use crate::{median, sample, shown, start_game_from, Args, Sample, Server};

/// Rounds of the comparison: more than the main table's, as two builds of
/// the same code differ by less than the machine's noise.
const ROUNDS: usize = 5;

/// Which figure of a sample a row shows.
pub(crate) type Pick = fn(&Sample) -> f64;

/// The rows both comparisons show: what, which figure, its unit.
pub(crate) const ROWS: [(&str, Pick, &str); 6] = [
    ("latency p50, 1 client, 64 B", |s| s.p50, "µs"),
    ("latency p99, 1 client, 64 B", |s| s.p99, "µs"),
    (
        "messages/s, 10 clients x 16 in flight, 64 B",
        |s| s.rate,
        "msg/s",
    ),
    ("server CPU per 64 B message", |s| s.cpu_per_message, "µs"),
    ("MB/s, 4 clients, 1 MiB messages", |s| s.megabytes, "MB/s"),
    ("server CPU per GB echoed", |s| s.cpu_per_gigabyte, "s/GB"),
];

/// `rounds` samples of each server, each going first in every other
/// round: no order bias.
pub(crate) async fn interleaved(
    servers: &[Server; 2],
    rounds: usize,
    seconds: f64,
) -> Result<[Vec<Sample>; 2], String> {
    let mut samples: [Vec<Sample>; 2] = Default::default();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            samples[index].push(sample(&servers[index], seconds).await?);
        }
    }
    Ok(samples)
}

/// Prints the comparison table, when a baseline was given.
pub(crate) async fn compare(args: &Args) -> Result<(), String> {
    let (Some(platform), Some(modules)) = (&args.baseline_platform, &args.baseline_modules) else {
        return Ok(());
    };
    let servers = [
        start_game_from(&args.platform, &args.modules, "this build", 0, &[])?,
        start_game_from(platform, modules, "baseline", 0, &[])?,
    ];
    let samples = interleaved(&servers, ROUNDS, args.seconds).await?;
    let figure =
        |index: usize, pick: fn(&Sample) -> f64| median(samples[index].iter().map(pick).collect());
    println!();
    println!(
        "This build against {} (echo game, fps 0; medians of {ROUNDS} interleaved rounds, each going first in every other):",
        args.baseline_name
    );
    println!();
    println!("| measure | this build | baseline | ratio | per round (this / baseline) |");
    println!("| --- | --- | --- | --- | --- |");
    for (what, pick, unit) in ROWS {
        let (ours, theirs) = (figure(0, pick), figure(1, pick));
        let rounds: Vec<String> = samples[0]
            .iter()
            .zip(&samples[1])
            .map(|(a, b)| format!("{}/{}", shown(pick(a)), shown(pick(b))))
            .collect();
        println!(
            "| {what} | {} {unit} | {} {unit} | {:.2}x | {} |",
            shown(ours),
            shown(theirs),
            if theirs > 0.0 { ours / theirs } else { 0.0 },
            rounds.join(", ")
        );
    }
    Ok(())
}
