//! `scripts/soak [SECONDS]`: streams and connection churn against the echo
//! game, on loopback, for a bounded time. Fails (exit 1) when an echo is
//! lost, late beyond a bound, out of order or wrong, when the game's RSS
//! grows after warm-up, or when its file descriptors do not come back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Soaks the echo game.
#[derive(Debug, Parser)]
struct Args {
    /// The platform_native executable.
    #[arg(long)]
    platform: PathBuf,
    /// A modules folder holding libipc.so and libecho_agent.so.
    #[arg(long)]
    modules: PathBuf,
    /// How long to run.
    #[arg(default_value_t = 60)]
    seconds: u64,
}

/// The game under test, killed on drop.
struct Game(Child);

impl Drop for Game {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn connect(address: SocketAddr) -> Result<Ws, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|error| format!("connect: {error}"))?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{address}/soak"), stream)
        .await
        .map_err(|error| format!("handshake: {error}"))?;
    Ok(ws)
}

/// The message number `n` of stream `stream`: sizes from 1 byte to 64 KiB,
/// text and binary in turn, contents that say where they belong.
fn message(stream: u64, n: u64) -> Message {
    let size = [1usize, 17, 200, 1500, 9000, 65_536][(n % 6) as usize];
    let tag = format!("{stream}:{n}:");
    let mut text = tag.repeat(size / tag.len() + 1);
    text.truncate(size.max(tag.len()));
    if n.is_multiple_of(2) {
        Message::text(text)
    } else {
        Message::binary(text.into_bytes())
    }
}

/// One stream: up to 8 messages in flight, every echo checked in order.
async fn stream(
    address: SocketAddr,
    id: u64,
    stop: Arc<AtomicBool>,
    echoed: Arc<AtomicU64>,
) -> Result<(), String> {
    let ws = connect(address).await?;
    let (mut sink, mut source) = ws.split();
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::channel::<Message>(8);
    // The client closes only after its last echo: a channel's close ends it,
    // so messages still in flight would (rightly) get no answer.
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let message = message(id, n);
            if sent_tx.send(message.clone()).await.is_err() || sink.send(message).await.is_err() {
                break;
            }
            n += 1;
        }
        drop(sent_tx);
        let _ = drained_rx.await;
        let _ = sink.close().await;
    });
    while let Some(expected) = sent_rx.recv().await {
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match source.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => return other,
                }
            }
        })
        .await
        .map_err(|_| format!("stream {id}: an echo is 10 s late"))?;
        match got {
            Some(Ok(message)) if message == expected => {
                echoed.fetch_add(1, Ordering::Relaxed);
            }
            Some(Ok(message)) => {
                let shown: String = format!("{message:?}").chars().take(120).collect();
                return Err(format!(
                    "stream {id}: wrong echo ({} bytes, expected {}): {shown}",
                    message.len(),
                    expected.len()
                ));
            }
            other => return Err(format!("stream {id}: echo lost: {other:?}")),
        }
    }
    let _ = drained_tx.send(());
    writer.await.map_err(|error| error.to_string())?;
    Ok(())
}

/// Connections that open, echo once, and end: half with a clean close,
/// half dropped without one.
async fn churn(
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    churned: Arc<AtomicU64>,
) -> Result<(), String> {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut ws = connect(address).await?;
        let probe = Message::text(format!("churn {n}"));
        ws.send(probe.clone())
            .await
            .map_err(|error| error.to_string())?;
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(message))) if message == probe => {}
            other => return Err(format!("churn {n}: echo lost: {other:?}")),
        }
        if n.is_multiple_of(2) {
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
        } else {
            drop(ws);
        }
        churned.fetch_add(1, Ordering::Relaxed);
        n += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| error.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    match soak(&args).await {
        Ok(summary) => println!("soak: {summary}"),
        Err(error) => {
            println!("soak: FAILED: {error}");
            std::process::exit(1);
        }
    }
}

async fn soak(args: &Args) -> Result<String, String> {
    let port = free_port()?;
    let child = Command::new(&args.platform)
        .arg("--modules")
        .arg(&args.modules)
        .args(["--fps", "60", "--set", &format!("echo_agent.port={port}")])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| format!("starting the game: {error}"))?;
    let game = Game(child);
    let pid = game.0.id();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(address).is_err() {
        if Instant::now() > deadline {
            return Err("the game never listened".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fds_before = fds(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let echoed = Arc::new(AtomicU64::new(0));
    let churned = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for id in 0..4 {
        tasks.push(tokio::spawn(stream(
            address,
            id,
            Arc::clone(&stop),
            Arc::clone(&echoed),
        )));
    }
    tasks.push(tokio::spawn(churn(
        address,
        Arc::clone(&stop),
        Arc::clone(&churned),
    )));
    let seconds = args.seconds.max(8);
    let warm_up = Duration::from_secs(seconds / 4);
    tokio::time::sleep(warm_up).await;
    let rss_warm = rss_kib(pid);
    let mut rss_most = rss_warm;
    let end = Instant::now() + Duration::from_secs(seconds) - warm_up;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_most = rss_most.max(rss_kib(pid));
        if let Ok(Some(status)) = game_status(&game) {
            return Err(format!("the game exited: {status}"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.map_err(|error| error.to_string())??;
    }
    // Every connection ended: the game's descriptors come back.
    let settle = Instant::now() + Duration::from_secs(5);
    let mut fds_after = fds(pid);
    while fds_after > fds_before && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds_after = fds(pid);
    }
    let rss_end = rss_kib(pid);
    let summary = format!(
        "{} echoes checked, {} connections churned (half dropped without a close), RSS {:.1} MiB after warm-up, at most {:.1}, {:.1} at the end; fds {} -> {}",
        echoed.load(Ordering::Relaxed),
        churned.load(Ordering::Relaxed),
        rss_warm as f64 / 1024.0,
        rss_most as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        fds_before,
        fds_after
    );
    // Growth after warm-up beyond allocator noise is a leak.
    let slack = (rss_warm / 5).max(8 * 1024);
    if rss_most > rss_warm + slack {
        return Err(format!("RSS grew after warm-up: {summary}"));
    }
    if fds_after > fds_before {
        return Err(format!("file descriptors did not come back: {summary}"));
    }
    if echoed.load(Ordering::Relaxed) == 0 || churned.load(Ordering::Relaxed) == 0 {
        return Err(format!("nothing was exchanged: {summary}"));
    }
    Ok(summary)
}

fn game_status(game: &Game) -> Result<Option<String>, String> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", game.0.id()))
        .map_err(|error| error.to_string())?;
    // State Z: the game ended (a zombie until we reap it).
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    Ok((state == Some("Z")).then(|| "ended".to_owned()))
}
