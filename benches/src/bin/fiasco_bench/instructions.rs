//! `scripts/bench --instructions`: instructions per round trip, counted by
//! callgrind (valgrind), which repeat run to run on this shared machine
//! where wall-clock rates do not. Each server runs under callgrind twice
//! per message size, once for a few round trips and once for many, from a
//! single client; the difference of the totals divided by the difference
//! of the counts is the cost of one round trip, start-up and shut-down
//! cancelled out. Each measurement runs twice, to show the spread.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tungstenite::Message;

use crate::{free_port, Args};

/// The servers counted, with their command lines (port appended).
fn servers(args: &Args) -> Result<Vec<(&'static str, Vec<String>)>, String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let sibling = |name: &str| exe.with_file_name(name).display().to_string();
    Ok(vec![
        (
            "full-path",
            vec![
                args.platform.display().to_string(),
                "--modules".into(),
                args.modules.display().to_string(),
                "--fps".into(),
                "0".into(),
                "--set".into(),
                "ipc.discovery=false".into(),
                "--set".into(),
                "echo_agent.port=".into(),
            ],
        ),
        ("bridge", vec![sibling("bridge_echo")]),
        ("plain", vec![sibling("plain_echo")]),
    ])
}

/// Round trips of the short and the long run, per message size.
const RUNS: [(usize, u64, u64); 2] = [(64, 200, 1200), (1 << 20, 4, 24)];

/// Runs every count and prints one line per server and size.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("fiasco-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let servers = servers(args)?;
    for (size, short, long) in RUNS {
        for (name, command) in &servers {
            let mut per_trip = Vec::new();
            for _ in 0..2 {
                let few = total(&dir, command, size, short)?;
                let many = total(&dir, command, size, long)?;
                per_trip.push(many.saturating_sub(few) as f64 / (long - short) as f64);
            }
            let low = per_trip.iter().copied().fold(f64::MAX, f64::min);
            let high = per_trip.iter().copied().fold(0.0, f64::max);
            let size_name = if size >= 1 << 20 {
                format!("{}MiB", size >> 20)
            } else {
                format!("{size}B")
            };
            println!(
                "instructions {name} {size_name}: {:.0} per round trip (runs: {}; spread {:.2} %)",
                (low + high) / 2.0,
                per_trip
                    .iter()
                    .map(|value| format!("{value:.0}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                (high - low) / low.max(1.0) * 100.0
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Total instructions of one server run doing `trips` round trips.
fn total(dir: &Path, command: &[String], size: usize, trips: u64) -> Result<u64, String> {
    let port = free_port();
    let out = dir.join(format!("callgrind.{port}"));
    let mut line: Vec<String> = command.to_vec();
    match line.last_mut() {
        // The game takes its port as a setting; the others as an argument.
        Some(last) if last.ends_with('=') => last.push_str(&port.to_string()),
        _ => line.push(port.to_string()),
    }
    let mut child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .args(&line)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("starting valgrind (is it installed?): {error}"))?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let result = round_trips(address, size, trips);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    result?;
    read_total(&out)
}

/// Connects (waiting for the slow start under valgrind) and does `trips`
/// sequential round trips of `size` bytes.
fn round_trips(address: SocketAddr, size: usize, trips: u64) -> Result<(), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let (mut socket, _) = loop {
        match tungstenite::connect(format!("ws://{address}/")) {
            Ok(connected) => break connected,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(error) => return Err(format!("connecting to {address}: {error}")),
        }
    };
    let payload = tungstenite::Bytes::from(vec![5u8; size]);
    for _ in 0..trips {
        socket
            .send(Message::Binary(payload.clone()))
            .map_err(|error| error.to_string())?;
        loop {
            match socket.read().map_err(|error| error.to_string())? {
                Message::Binary(data) if data.len() == size => break,
                Message::Binary(data) => return Err(format!("echo of {} bytes", data.len())),
                _ => {}
            }
        }
    }
    let _ = socket.close(None);
    while socket.read().is_ok() {}
    Ok(())
}

/// The `totals:` (or `summary:`) line of a callgrind output file.
fn read_total(path: &PathBuf) -> Result<u64, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|count| count.parse().ok())
        })
        .ok_or_else(|| format!("no total in {}", path.display()))
}
