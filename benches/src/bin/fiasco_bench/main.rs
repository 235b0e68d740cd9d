//! `scripts/bench`: the full path (client -> IPC host -> echo agent ->
//! client) against a plain tokio-tungstenite echo server, side by side in
//! one run, driven by the same load generator. Prints a table of figures
//! and ratios.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

mod attacks;
mod baseline;
mod instructions;
mod recording;
mod streams;

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Benchmarks the IPC host against a plain echo server.
#[derive(Debug, Parser)]
struct Args {
    /// The platform_native executable.
    #[arg(long)]
    platform: PathBuf,
    /// A modules folder holding libipc.so and libecho_agent.so.
    #[arg(long)]
    modules: PathBuf,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Largest idle connection count for the memory figure.
    #[arg(long, default_value_t = 10_000)]
    max_idle: usize,
    /// Only drive an already running server at this address with one
    /// scenario (`bulk`, `rate` or `latency`), for profiling.
    #[arg(long, value_name = "ADDRESS")]
    drive: Option<SocketAddr>,
    /// The scenario for `--drive`.
    #[arg(long, default_value = "bulk")]
    scenario: String,
    /// Seconds of each flood (8 MiB messages unread, ping flood, 64 B flood).
    #[arg(long, default_value_t = 5.0)]
    flood_seconds: f64,
    /// Only the floods and attacks.
    #[arg(long)]
    only_attacks: bool,
    /// Only the instruction counts per round trip, under callgrind.
    #[arg(long)]
    instructions: bool,
    /// Seconds the unfinished-message attack holds its connections.
    #[arg(long, default_value_t = 40.0)]
    hold_seconds: f64,
    /// Seconds of the slow-reader streams (keyed and unkeyed).
    #[arg(long, default_value_t = 10)]
    stream_seconds: u64,
    /// Only the streams rows (and the baseline comparison, if given).
    #[arg(long)]
    only_streams: bool,
    /// Only recording on against off.
    #[arg(long)]
    only_recording: bool,
    /// The previous release's platform_native, to compare this build
    /// against in the same run (scripts/bench builds it).
    #[arg(long, requires = "baseline_modules")]
    baseline_platform: Option<PathBuf>,
    /// The previous release's modules folder (libipc.so, libecho_agent.so).
    #[arg(long)]
    baseline_modules: Option<PathBuf>,
    /// What the baseline is, for the table (e.g. its commit).
    #[arg(long, default_value = "the previous release")]
    baseline_name: String,
}

/// A server process under test, killed on drop.
struct Server {
    name: &'static str,
    address: SocketAddr,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or(19_000)
}

fn wait_listening(address: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(address).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on {address}"))
}

fn start_game(args: &Args, name: &'static str, fps: u32) -> Result<Server, String> {
    start_game_from(&args.platform, &args.modules, name, fps, &[])
}

/// Starts the echo game of a given build.
fn start_game_from(
    platform: &std::path::Path,
    modules: &std::path::Path,
    name: &'static str,
    fps: u32,
    settings: &[String],
) -> Result<Server, String> {
    let port = free_port();
    let child = Command::new(platform)
        .arg("--modules")
        .arg(modules)
        .args(["--fps", &fps.to_string()])
        .args(["--set", &format!("echo_agent.port={port}")])
        .args(["--set", "echo_agent.max_connections=30000"])
        .args(
            settings
                .iter()
                .flat_map(|setting| ["--set", setting.as_str()]),
        )
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("starting {}: {error}", platform.display()))?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let server = Server {
        name,
        address,
        child,
    };
    wait_listening(address)?;
    Ok(server)
}

/// Starts one of the benchmark's own servers (`plain_echo`, `bridge_echo`),
/// built beside this executable.
fn start_other(binary: &str, name: &'static str) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let path = exe.with_file_name(binary);
    let port = free_port();
    let child = Command::new(&path)
        .arg(port.to_string())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("starting {}: {error}", path.display()))?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let server = Server {
        name,
        address,
        child,
    };
    wait_listening(address)?;
    Ok(server)
}

/// One server's figures from one round.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    p50: f64,
    p99: f64,
    /// Load generator CPU during the latency run, % of one core.
    latency_load: f64,
    rate: f64,
    cpu_per_message: f64,
    rate_load: f64,
    megabytes: f64,
    cpu_per_gigabyte: f64,
    bulk_load: f64,
}

/// One round against `server`: latency, 64 B messages/s, 1 MiB MB/s.
async fn sample(server: &Server, seconds: f64) -> Result<Sample, String> {
    let pid = server.child.id();
    let load_before = cpu_time(std::process::id());
    let started = Instant::now();
    let (p50, p99) = latency(server.address, 3000).await?;
    let latency_load = (cpu_time(std::process::id()) - load_before).as_secs_f64()
        / started.elapsed().as_secs_f64()
        * 100.0;
    let rate = measure(server.address, pid, 10, 16, 64, seconds).await?;
    let size = 1 << 20;
    let bulk = measure(server.address, pid, 4, 1, size, seconds).await?;
    Ok(Sample {
        p50: us(p50),
        p99: us(p99),
        latency_load,
        rate: rate.per_second,
        cpu_per_message: rate.server_cpu / rate.count.max(1.0) * 1e6,
        rate_load: rate.load_share * 100.0,
        megabytes: bulk.per_second * size as f64 / 1e6,
        cpu_per_gigabyte: bulk.server_cpu / (bulk.count * size as f64 / 1e9).max(1e-9),
        bulk_load: bulk.load_share * 100.0,
    })
}

async fn connect(address: SocketAddr) -> Result<Ws, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|error| error.to_string())?;
    stream
        .set_nodelay(true)
        .map_err(|error| error.to_string())?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{address}/"), stream)
        .await
        .map_err(|error| error.to_string())?;
    Ok(ws)
}

/// 1 client, 1 message in flight: round-trip times.
async fn latency(address: SocketAddr, count: usize) -> Result<(Duration, Duration), String> {
    let mut ws = connect(address).await?;
    let payload = vec![7u8; 64];
    let mut samples = Vec::with_capacity(count);
    for i in 0..count + 20 {
        let started = Instant::now();
        ws.send(Message::binary(payload.clone()))
            .await
            .map_err(|error| error.to_string())?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(_))) => break,
                Some(Ok(_)) => continue,
                other => return Err(format!("latency: {other:?}")),
            }
        }
        if i >= 20 {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Ok((at(0.50), at(0.99)))
}

/// `clients` connections, each keeping `in_flight` messages of `size` bytes
/// outstanding for `seconds`: echoed messages per second.
async fn throughput(
    address: SocketAddr,
    clients: usize,
    in_flight: usize,
    size: usize,
    seconds: f64,
) -> Result<f64, String> {
    Ok(measure(
        address,
        std::process::id(),
        clients,
        in_flight,
        size,
        seconds,
    )
    .await?
    .per_second)
}

/// What one throughput measurement saw.
struct Measured {
    /// Messages echoed per second.
    per_second: f64,
    /// Messages echoed while measuring.
    count: f64,
    /// The server's CPU seconds (user + system, every thread) meanwhile.
    server_cpu: f64,
    /// The load generator's CPU meanwhile, as a share of one core: on two
    /// cores it competes with the server, and near 1.0 it is the ceiling.
    load_share: f64,
}

/// As [`throughput`], with the server's (`pid`) and the load generator's
/// CPU from /proc over the same window.
async fn measure(
    address: SocketAddr,
    pid: u32,
    clients: usize,
    in_flight: usize,
    size: usize,
    seconds: f64,
) -> Result<Measured, String> {
    let echoed = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let ws = connect(address).await?;
        let (mut sink, mut stream) = ws.split();
        let permits = Arc::new(Semaphore::new(in_flight));
        let (echoed, measuring, stop) = (echoed.clone(), measuring.clone(), stop.clone());
        let writer_permits = permits.clone();
        let writer_stop = stop.clone();
        let payload = tungstenite::Bytes::from(vec![7u8; size]);
        tasks.push(tokio::spawn(async move {
            while !writer_stop.load(Ordering::Relaxed) {
                let Ok(permit) = writer_permits.acquire().await else {
                    break;
                };
                permit.forget();
                if sink.send(Message::Binary(payload.clone())).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        }));
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if message.is_binary() {
                    if measuring.load(Ordering::Relaxed) {
                        echoed.fetch_add(1, Ordering::Relaxed);
                    }
                    permits.add_permits(1);
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // warm up
    measuring.store(true, Ordering::Relaxed);
    let own = std::process::id();
    let (server_before, load_before) = (cpu_time(pid), cpu_time(own));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let count = echoed.load(Ordering::Relaxed) as f64;
    let elapsed = started.elapsed().as_secs_f64();
    let (server_after, load_after) = (cpu_time(pid), cpu_time(own));
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    Ok(Measured {
        per_second: count / elapsed,
        count,
        server_cpu: (server_after - server_before).as_secs_f64(),
        load_share: (load_after - load_before).as_secs_f64() / elapsed,
    })
}

/// CPU time (user + system) of a process, from /proc.
fn cpu_time(pid: u32) -> Duration {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// User and system time from a `/proc/.../stat` file (a process's or a
/// thread's).
fn stat_cpu(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / 100.0) // USER_HZ is 100 on Linux
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

async fn cpu_share(pid: u32, seconds: f64) -> f64 {
    let before = cpu_time(pid);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    (cpu_time(pid) - before).as_secs_f64() / started.elapsed().as_secs_f64()
}

async fn open_idle(address: SocketAddr, count: usize) -> Result<Vec<Ws>, String> {
    let mut open = Vec::with_capacity(count);
    let mut pending =
        futures_util::stream::iter((0..count).map(|_| connect(address))).buffer_unordered(64);
    while let Some(ws) = pending.next().await {
        open.push(ws?);
    }
    Ok(open)
}

/// RSS added per idle connection, at `count` connections.
async fn memory_per_connection(server: &Server, count: usize) -> Result<f64, String> {
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_bytes(pid);
    let connections = open_idle(server.address, count).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes(pid);
    drop(connections);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(after.saturating_sub(before) as f64 / count as f64)
}

struct Row {
    what: String,
    ours: f64,
    plain: Option<f64>,
    /// The hand-written bridge's figure, when it has one.
    bridge: Option<f64>,
    /// The load generator's CPU during the row's measurement, per server.
    load: Option<String>,
    unit: &'static str,
    target: String,
    /// Whether `ours` meets the target.
    met: bool,
}

fn print(rows: &[Row]) {
    println!("| measure | Fiasco IPC | hand-written bridge | plain tokio-tungstenite | vs bridge | vs plain | target | met | load generator CPU (ours / bridge / plain) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        let figure = |value: Option<f64>| {
            value.map_or("-".to_owned(), |value| {
                format!("{} {}", shown(value), row.unit)
            })
        };
        let ratio = |value: Option<f64>| {
            value
                .filter(|value| *value > 0.0)
                .map_or("-".to_owned(), |value| format!("{:.2}x", row.ours / value))
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.what,
            figure(Some(row.ours)),
            figure(row.bridge),
            figure(row.plain),
            ratio(row.bridge),
            ratio(row.plain),
            row.target,
            if row.met { "yes" } else { "**no**" },
            row.load.as_deref().unwrap_or("-"),
        );
    }
}

impl Row {
    /// A row with Fiasco IPC's figure alone.
    fn ours(
        what: impl Into<String>,
        ours: f64,
        unit: &'static str,
        target: impl Into<String>,
        met: bool,
    ) -> Self {
        Self {
            what: what.into(),
            ours,
            plain: None,
            bridge: None,
            load: None,
            unit,
            target: target.into(),
            met,
        }
    }
}

/// A figure with the digits that matter.
fn shown(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// Rounds of each side-by-side measurement.
const ROUNDS: usize = 3;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn us(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The IPC host's systems' time per frame, in-process, with 0 and with
/// 1,000 messages in the frame; recording to `record` when given.
fn game_thread_cost(record: Option<&std::path::Path>) -> Result<GameThreadCost, String> {
    use fiasco::{Config, GameBuilder};
    let port = free_port();
    let mut config = Config::default();
    config.set("echo_agent", "port", port.to_string());
    if let Some(path) = record {
        config.set("ipc", "record", path.display().to_string());
    }
    // The whole burst in one frame: this measures the cost per message.
    config.set("ipc", "frame_messages", "1000");
    let mut game = GameBuilder::new()
        .config(config)
        .profile(true)
        .add_static(fiasco_ipc::api())
        .add_static(echo_agent::api())
        .build();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..200 {
        game.run_frame();
        if std::net::TcpStream::connect(address).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut client, _) =
        tungstenite::connect(format!("ws://{address}/")).map_err(|error| error.to_string())?;
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = client.get_ref() {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    }
    let ipc_cpu = |game: &fiasco::Game| -> Duration {
        game.timings()
            .iter()
            .filter(|timing| timing.module == "ipc")
            .map(|timing| timing.last_cpu)
            .sum()
    };
    let ipc_time = |game: &fiasco::Game| -> Duration {
        game.timings()
            .iter()
            .filter(|timing| timing.module == "ipc")
            .map(|timing| timing.last)
            .sum()
    };
    // Idle frames (one open connection, no traffic).
    for _ in 0..20 {
        game.run_frame();
    }
    let mut idle = Duration::ZERO;
    const IDLE_FRAMES: u32 = 500;
    for _ in 0..IDLE_FRAMES {
        game.run_frame();
        idle += ipc_time(&game);
    }
    // Frames with 1,000 messages each.
    const BURST: usize = 1000;
    const REPEATS: u32 = 20;
    let mut bursts = Vec::new();
    let mut burst_cpu = Vec::new();
    let mut echoed = 0;
    for _ in 0..REPEATS {
        for i in 0..BURST {
            client
                .write(Message::binary((i as u64).to_le_bytes().repeat(8)))
                .map_err(|error| error.to_string())?;
        }
        client.flush().map_err(|error| error.to_string())?;
        std::thread::sleep(Duration::from_millis(40)); // all land in the inbound queue
        game.run_frame();
        bursts.push(us(ipc_time(&game)));
        burst_cpu.push(us(ipc_cpu(&game)));
        for _ in 0..BURST {
            match client.read() {
                Ok(_) => echoed += 1,
                Err(error) => return Err(format!("echo after one frame: {error}")),
            }
        }
    }
    // Frames with one 1 MiB message each.
    let (mut big, mut big_receive, mut big_send) = (Vec::new(), Vec::new(), Vec::new());
    let mut big_cpu = Vec::new();
    let payload = vec![9u8; 1 << 20];
    for _ in 0..REPEATS {
        client
            .send(Message::binary(payload.clone()))
            .map_err(|error| error.to_string())?;
        std::thread::sleep(Duration::from_millis(20));
        game.run_frame();
        big.push(us(ipc_time(&game)));
        big_cpu.push(us(ipc_cpu(&game)));
        let system_time = |name: &str| {
            game.timings()
                .iter()
                .filter(|timing| timing.module == "ipc" && timing.system == name)
                .map(|timing| us(timing.last_cpu))
                .sum::<f64>()
        };
        big_receive.push(system_time("ipc_receive"));
        big_send.push(system_time("ipc_send"));
        match client.read() {
            Ok(_) => {}
            Err(error) => return Err(format!("1 MiB echo after one frame: {error}")),
        }
    }
    // Frames with one 64 B message each: what a frame with one message
    // costs whatever its size (the wake-up of the network thread).
    let mut small_cpu = Vec::new();
    for _ in 0..REPEATS {
        client
            .send(Message::binary(vec![3u8; 64]))
            .map_err(|error| error.to_string())?;
        std::thread::sleep(Duration::from_millis(20));
        game.run_frame();
        small_cpu.push(us(ipc_cpu(&game)));
        match client.read() {
            Ok(_) => {}
            Err(error) => return Err(format!("64 B echo after one frame: {error}")),
        }
    }
    game.shutdown();
    Ok(GameThreadCost {
        idle: us(idle) / f64::from(IDLE_FRAMES),
        one_small_cpu: median(small_cpu),
        burst: median(bursts),
        burst_cpu: median(burst_cpu),
        one_mib_cpu: median(big_cpu),
        per_frame: echoed / REPEATS as usize,
        one_mib: median(big),
        one_mib_receive: median(big_receive),
        one_mib_send: median(big_send),
    })
}

/// The IPC systems' game-thread time per frame, in µs.
struct GameThreadCost {
    idle: f64,
    burst: f64,
    /// The same, as the game thread's CPU time.
    burst_cpu: f64,
    /// One 1 MiB message's frame, as the game thread's CPU time.
    one_mib_cpu: f64,
    /// One 64 B message's frame, as the game thread's CPU time.
    one_small_cpu: f64,
    per_frame: usize,
    one_mib: f64,
    /// Of which `ipc_receive` and `ipc_send`.
    one_mib_receive: f64,
    one_mib_send: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .init();
    if let Some(address) = args.drive {
        match args.scenario.as_str() {
            "bulk" => println!(
                "{:.1} MB/s",
                throughput(address, 4, 1, 1 << 20, args.seconds).await? * 1.048576
            ),
            "rate" => println!(
                "{:.0} msg/s",
                throughput(address, 10, 16, 64, args.seconds).await?
            ),
            "game-thread" => {
                let cost = tokio::task::spawn_blocking(|| game_thread_cost(None))
                    .await
                    .map_err(|error| error.to_string())??;
                println!(
                    "idle {:.2} µs/frame; {:.1} µs ({:.1} µs CPU) for {} messages; {:.1} µs ({:.1} µs CPU) for one 1 MiB message",
                    cost.idle, cost.burst, cost.burst_cpu, cost.per_frame, cost.one_mib, cost.one_mib_cpu
                );
                println!(
                    "one 1 MiB message, CPU: ipc_receive {:.1} µs, ipc_send {:.1} µs; a frame with one 64 B message: {:.1} µs CPU",
                    cost.one_mib_receive, cost.one_mib_send, cost.one_small_cpu
                );
            }
            _ => {
                let (p50, p99) = latency(address, 5000).await?;
                println!("p50 {:.1} µs, p99 {:.1} µs", us(p50), us(p99));
            }
        }
        return Ok(());
    }
    println!(
        "machine: {} cores; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    let mut rows = Vec::new();
    if args.instructions {
        return tokio::task::spawn_blocking(move || instructions::run(&args))
            .await
            .map_err(|error| error.to_string())?;
    }
    if args.only_attacks {
        attacks::run(&args, &mut rows).await?;
        println!();
        print(&rows);
        return Ok(());
    }
    if args.only_recording {
        return recording::compare(&args).await;
    }
    if args.only_streams {
        let seconds = args.stream_seconds;
        tokio::task::spawn_blocking(move || streams::rows(&mut rows, seconds).map(|()| rows))
            .await
            .map_err(|error| error.to_string())?
            .map(|rows| print(&rows))?;
        baseline::compare(&args).await?;
        return Ok(());
    }

    // Game-thread cost of the IPC host's systems, first: before any load
    // leaves work (closing sockets) behind.
    let cost = tokio::task::spawn_blocking(|| game_thread_cost(None))
        .await
        .map_err(|error| error.to_string())??;
    let (idle_us, busy_us, per_frame) = (cost.idle, cost.burst, cost.per_frame);
    rows.push(Row::ours(
        "IPC systems' game-thread time per frame, 0 messages",
        idle_us,
        "µs",
        "-",
        true,
    ));
    rows.push(Row::ours(
        format!("IPC systems' game-thread time per frame, {per_frame} messages"),
        busy_us,
        "µs",
        "≤ 1 µs per message",
        busy_us / per_frame.max(1) as f64 <= 1.0,
    ));
    let per_message_cpu = cost.burst_cpu / per_frame.max(1) as f64;
    rows.push(Row::ours(
        "IPC systems' game-thread CPU time per 64 B message (thread CPU clock)",
        per_message_cpu,
        "µs",
        "≤ 0.3 µs",
        per_message_cpu <= 0.3,
    ));
    rows.push(Row::ours(
        "IPC systems' game-thread time per frame, one 1 MiB message (wall)",
        cost.one_mib,
        "µs",
        "-",
        true,
    ));
    rows.push(Row::ours(
        "IPC systems' game-thread CPU time, a frame with one 64 B message (thread CPU clock)",
        cost.one_small_cpu,
        "µs",
        "-",
        true,
    ));
    rows.push(Row::ours(
        "IPC systems' game-thread CPU time, one 1 MiB message (thread CPU clock)",
        cost.one_mib_cpu,
        "µs",
        "≤ 5 µs",
        cost.one_mib_cpu <= 5.0,
    ));
    for (system, time) in [
        ("ipc_receive", cost.one_mib_receive),
        ("ipc_send", cost.one_mib_send),
    ] {
        rows.push(Row::ours(
            format!("... of which {system} (CPU)"),
            time,
            "µs",
            "-",
            true,
        ));
    }
    // Unthrottled game, the hand-written bridge and the plain server, side
    // by side: latency, messages/s, MB/s, and each server's CPU per unit
    // of work (from /proc), beside the load generator's own CPU.
    {
        let servers = [
            start_game(&args, "echo-game --fps 0", 0)?,
            start_other("bridge_echo", "hand-written bridge")?,
            start_other("plain_echo", "plain tokio-tungstenite")?,
        ];
        // Interleaved rounds, medians: this machine's neighbours make single
        // runs vary by tens of percent.
        let mut samples: [Vec<Sample>; 3] = Default::default();
        for _ in 0..ROUNDS {
            for (server, samples) in servers.iter().zip(samples.iter_mut()) {
                samples.push(sample(server, args.seconds).await?);
            }
        }
        let figure = |index: usize, pick: fn(&Sample) -> f64| {
            median(samples[index].iter().map(pick).collect())
        };
        let load = |pick: fn(&Sample) -> f64| {
            Some(format!(
                "{:.0} / {:.0} / {:.0} %",
                figure(0, pick),
                figure(1, pick),
                figure(2, pick)
            ))
        };
        let mut side = |what: &str,
                        pick: fn(&Sample) -> f64,
                        unit: &'static str,
                        load_pick: fn(&Sample) -> f64,
                        target: &str,
                        met: fn(f64, f64, f64) -> bool| {
            let (ours, bridge, plain) = (figure(0, pick), figure(1, pick), figure(2, pick));
            rows.push(Row {
                what: what.to_owned(),
                ours,
                plain: Some(plain),
                bridge: Some(bridge),
                load: load(load_pick),
                unit,
                target: target.to_owned(),
                met: met(ours, bridge, plain),
            });
        };
        side(
            "latency p50, 1 client, 64 B (fps 0)",
            |s| s.p50,
            "µs",
            |s| s.latency_load,
            "≤ 1.0x bridge",
            |ours, bridge, _| ours <= bridge,
        );
        side(
            "latency p99, 1 client, 64 B (fps 0)",
            |s| s.p99,
            "µs",
            |s| s.latency_load,
            "-",
            |_, _, _| true,
        );
        side(
            "messages/s, 10 clients x 16 in flight, 64 B (fps 0)",
            |s| s.rate,
            "msg/s",
            |s| s.rate_load,
            "-",
            |_, _, _| true,
        );
        side(
            "server CPU per 64 B message, 10 clients x 16 in flight",
            |s| s.cpu_per_message,
            "µs",
            |s| s.rate_load,
            "≤ 1.0x bridge, ≤ 1.3x plain",
            |ours, bridge, plain| ours <= bridge && ours <= 1.3 * plain,
        );
        side(
            "MB/s, 4 clients, 1 MiB messages (fps 0)",
            |s| s.megabytes,
            "MB/s",
            |s| s.bulk_load,
            "≥ 0.9x bridge",
            |ours, bridge, _| ours >= 0.9 * bridge,
        );
        side(
            "server CPU per GB echoed, 4 clients x 1 MiB",
            |s| s.cpu_per_gigabyte,
            "s/GB",
            |s| s.bulk_load,
            "≤ 1.25x bridge, ≤ 1.5x plain",
            |ours, bridge, plain| ours <= 1.25 * bridge && ours <= 1.5 * plain,
        );
        let names: Vec<&str> = servers.iter().map(|server| server.name).collect();
        eprintln!("done: {}", names.join(", "));
    }

    // 60 fps game: latency, idle CPU, memory per idle connection.
    {
        let game = start_game(&args, "echo-game --fps 60", 60)?;
        let plain = start_other("plain_echo", "plain tokio-tungstenite")?;
        let (p50, p99) = latency(game.address, 300).await?;
        rows.push(Row::ours(
            "latency p50, 1 client, 64 B (60 fps)",
            us(p50),
            "µs",
            "-",
            true,
        ));
        rows.push(Row::ours(
            "latency p99, 1 client, 64 B (60 fps)",
            us(p99),
            "µs",
            "≤ 1 frame + 1 ms (17 667 µs)",
            us(p99) <= 1e6 / 60.0 + 1000.0,
        ));
        let pid = game.child.id();
        let idle0 = cpu_share(pid, 5.0).await * 100.0;
        let connections = open_idle(game.address, 100).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle100 = cpu_share(pid, 5.0).await * 100.0;
        drop(connections);
        rows.push(Row::ours(
            "game CPU, 60 fps, 0 connections",
            idle0,
            "% core",
            "-",
            true,
        ));
        rows.push(Row::ours(
            "game CPU, 60 fps, 100 idle connections",
            idle100,
            "% core",
            format!("≤ {:.1} (0 conns + 0.5)", idle0 + 0.5),
            idle100 <= idle0 + 0.5,
        ));
        for count in [1000, args.max_idle] {
            let ours = memory_per_connection(&game, count).await? / 1024.0;
            let theirs = memory_per_connection(&plain, count).await? / 1024.0;
            rows.push(Row {
                what: format!("RSS per idle connection at {count}"),
                ours,
                plain: Some(theirs),
                bridge: None,
                load: None,
                unit: "KiB",
                target: "≤ 16 KiB".into(),
                met: ours <= 16.0,
            });
        }
    }

    let seconds = args.stream_seconds;
    let mut rows =
        tokio::task::spawn_blocking(move || streams::rows(&mut rows, seconds).map(|()| rows))
            .await
            .map_err(|error| error.to_string())??;

    attacks::run(&args, &mut rows).await?;

    println!();
    print(&rows);
    recording::compare(&args).await?;
    baseline::compare(&args).await?;
    Ok(())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
