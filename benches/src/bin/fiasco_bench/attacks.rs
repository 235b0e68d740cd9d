//! Floods and attacks on loopback, each bounded in time: the game's memory
//! stays within its budget, it stays alive, and other clients are served.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use super::{connect, free_port, rss_bytes, start_game, us, Args, Row};

const MIB: f64 = 1024.0 * 1024.0;

/// Samples a process's RSS every 50 ms until `stop`; returns the largest.
fn watch_rss(pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut most = 0;
        while !stop.load(Ordering::Relaxed) {
            most = most.max(rss_bytes(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        most
    })
}

/// A game under test whose RSS is sampled from its start on.
struct Watched {
    game: super::Server,
    /// RSS once the game settled, before the attack.
    before: u64,
    stop: Arc<AtomicBool>,
    rss: tokio::task::JoinHandle<u64>,
}

/// Starts the echo game at `fps` and its RSS sampling.
async fn watch_game(args: &Args, name: &'static str, fps: u32) -> Result<Watched, String> {
    let game = start_game(args, name, fps)?;
    let pid = game.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_bytes(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let rss = watch_rss(pid, Arc::clone(&stop));
    Ok(Watched {
        game,
        before,
        stop,
        rss,
    })
}

impl Watched {
    /// Ends the sampling: the game, its RSS before, and the largest seen.
    async fn finish(self) -> Result<(super::Server, u64, u64), String> {
        self.stop.store(true, Ordering::Relaxed);
        let most = self.rss.await.map_err(|error| error.to_string())?;
        Ok((self.game, self.before, most))
    }
}

/// One 64 B round trip on a fresh connection.
async fn fresh_round_trip(address: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let mut ws = connect(address).await?;
    ws.send(Message::binary(vec![1u8; 64]))
        .await
        .map_err(|error| error.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(_))) => return Ok(started.elapsed()),
            Some(Ok(_)) => continue,
            other => return Err(format!("fresh client: {other:?}")),
        }
    }
}

fn alive(server: &mut super::Server) -> bool {
    matches!(server.child.try_wait(), Ok(None))
}

/// 8 clients send 8 MiB messages as fast as the game lets them and never
/// read their echoes, the game at 1 fps.
async fn flood_unread(args: &Args, rows: &mut Vec<Row>) -> Result<(), String> {
    let watched = watch_game(args, "echo-game --fps 1", 1).await?;
    let address = watched.game.address;
    let mut floods = Vec::new();
    for _ in 0..8 {
        let mut ws = connect(address).await?;
        floods.push(tokio::spawn(async move {
            let payload = vec![3u8; 8 << 20];
            while ws.send(Message::binary(payload.clone())).await.is_ok() {}
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.flood_seconds)).await;
    let (mut game, before, most) = watched.finish().await?;
    let alive = alive(&mut game);
    for flood in floods {
        flood.abort();
    }
    let fresh = fresh_round_trip(game.address).await?;
    rows.push(Row::ours(
        format!(
            "game RSS, 8 clients flooding 8 MiB messages unread for {} s (fps 1); was {:.0} MiB",
            args.flood_seconds,
            before as f64 / MIB
        ),
        most as f64 / MIB,
        "MiB",
        "≤ 512 MiB, alive",
        most as f64 <= 512.0 * MIB && alive,
    ));
    rows.push(Row::ours(
        "a fresh client's first round trip after that flood (fps 1)",
        us(fresh) / 1000.0,
        "ms",
        "≤ 2 frames (2000 ms)",
        fresh <= Duration::from_secs(2),
    ));
    Ok(())
}

/// A client floods pings and never reads the pongs.
async fn ping_flood(args: &Args, rows: &mut Vec<Row>) -> Result<(), String> {
    let watched = watch_game(args, "echo-game --fps 60", 60).await?;
    let mut ws = connect(watched.game.address).await?;
    let seconds = 8.0;
    let flood = tokio::spawn(async move {
        loop {
            for _ in 0..256 {
                if ws.feed(Message::Ping(vec![0u8; 125].into())).await.is_err() {
                    return;
                }
            }
            if ws.flush().await.is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let (mut game, before, most) = watched.finish().await?;
    flood.abort();
    let growth = most.saturating_sub(before) as f64 / MIB;
    rows.push(Row::ours(
        format!("game RSS growth, a ping flood that never reads, {seconds} s"),
        growth,
        "MiB",
        "≤ 256 MiB",
        growth <= 256.0 && alive(&mut game),
    ));
    Ok(())
}

/// Completes a WebSocket handshake by hand on `stream`.
async fn raw_handshake(stream: &mut TcpStream, address: SocketAddr) -> Result<(), String> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| error.to_string())?;
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    while !response.ends_with(b"\r\n\r\n") {
        let read = stream
            .read(&mut byte)
            .await
            .map_err(|error| error.to_string())?;
        if read == 0 {
            return Err("handshake refused".into());
        }
        response.push(byte[0]);
    }
    Ok(())
}

/// 48 clients each send 15 MiB of a 16 MiB message that never ends, and
/// hold; another client's round trips meanwhile.
async fn unfinished_messages(args: &Args, rows: &mut Vec<Row>) -> Result<(), String> {
    let watched = watch_game(args, "echo-game --fps 60", 60).await?;
    let address = watched.game.address;
    let mut holders = Vec::new();
    for _ in 0..48 {
        let mut stream = TcpStream::connect(address)
            .await
            .map_err(|error| error.to_string())?;
        raw_handshake(&mut stream, address).await?;
        holders.push(tokio::spawn(async move {
            // A masked binary frame of 16 MiB (mask key 0: the bytes as is).
            let mut header = vec![0x82, 0xFF];
            header.extend_from_slice(&(16u64 << 20).to_be_bytes());
            header.extend_from_slice(&[0, 0, 0, 0]);
            if stream.write_all(&header).await.is_err() {
                return;
            }
            let chunk = vec![5u8; 1 << 20];
            for _ in 0..15 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            // Hold the connection (and whatever the host read) open.
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {}
        }));
    }
    let worst = Arc::new(Mutex::new(Duration::ZERO));
    let probing = Arc::new(AtomicBool::new(true));
    let probe = {
        let (worst, probing) = (Arc::clone(&worst), Arc::clone(&probing));
        tokio::spawn(async move {
            while probing.load(Ordering::Relaxed) {
                let took = fresh_round_trip(address).await.unwrap_or(Duration::MAX);
                {
                    let mut worst = worst
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    *worst = (*worst).max(took);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs_f64(args.hold_seconds)).await;
    probing.store(false, Ordering::Relaxed);
    let (mut game, before, most) = watched.finish().await?;
    let _ = probe.await;
    for holder in holders {
        holder.abort();
    }
    let growth = most.saturating_sub(before) as f64 / MIB;
    let worst = *worst
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    rows.push(Row::ours(
        format!(
            "game RSS growth, 48 clients holding 15 MiB of an unfinished message, {} s",
            args.hold_seconds
        ),
        growth,
        "MiB",
        "≤ 256 MiB",
        growth <= 256.0 && alive(&mut game),
    ));
    rows.push(Row::ours(
        "meanwhile, another client's worst round trip (connect included)",
        us(worst) / 1000.0,
        "ms",
        "served throughout (every probe < 1 s)",
        worst < Duration::from_secs(1),
    ));
    Ok(())
}

/// 8 clients flood 64 B messages (reading their echoes) into an in-process
/// 60 fps game; the IPC systems' time per frame and a ninth client's round
/// trips.
async fn small_flood(args: &Args, rows: &mut Vec<Row>) -> Result<(), String> {
    use fiasco::{Config, GameBuilder, StopHandle};
    let port = free_port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let stop = StopHandle::default();
    let seconds = args.flood_seconds;
    let game = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let mut config = Config::default();
            config.set("echo_agent", "port", port.to_string());
            let mut game = GameBuilder::new()
                .config(config)
                .profile(true)
                .add_static(fiasco_ipc::api())
                .add_static(echo_agent::api())
                .build();
            let frame = Duration::from_secs_f64(1.0 / 60.0);
            let mut times = Vec::new();
            let mut next = Instant::now();
            while !stop.is_stopped() {
                game.run_frame();
                let ipc: Duration = game
                    .timings()
                    .iter()
                    .filter(|timing| timing.module == "ipc")
                    .map(|timing| timing.last)
                    .sum();
                times.push(us(ipc));
                next += frame;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                } else {
                    next = Instant::now();
                }
            }
            game.shutdown();
            times
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(address).is_err() {
        if Instant::now() > deadline {
            return Err("the in-process game never listened".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let flooding = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let ws = connect(address).await?;
        let (mut sink, mut stream) = ws.split();
        let flooding = Arc::clone(&flooding);
        tasks.push(tokio::spawn(async move {
            while flooding.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    if sink.feed(Message::binary(vec![7u8; 64])).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        }));
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(_)) = stream.next().await {}
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ninth = connect(address).await?;
    let mut trips = Vec::new();
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < until {
        let started = Instant::now();
        ninth
            .send(Message::binary(vec![1u8; 64]))
            .await
            .map_err(|error| error.to_string())?;
        loop {
            match ninth.next().await {
                Some(Ok(Message::Binary(_))) => break,
                Some(Ok(_)) => continue,
                other => return Err(format!("ninth client: {other:?}")),
            }
        }
        trips.push(us(started.elapsed()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    flooding.store(false, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    stop.stop();
    let mut times = game.await.map_err(|error| error.to_string())?;
    // The frames of the flood only (skip the start-up).
    let skip = times.len().min(60);
    times.drain(..skip);
    times.sort_by(f64::total_cmp);
    trips.sort_by(f64::total_cmp);
    let at = |values: &[f64], q: f64| {
        values
            .get(((values.len() as f64 * q) as usize).min(values.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let (p50, p99, max) = (at(&times, 0.5), at(&times, 0.99), at(&times, 1.0));
    rows.push(Row::ours(
        "IPC game-thread time per frame, 8 clients flooding 64 B (60 fps): p50",
        p50,
        "µs",
        "-",
        true,
    ));
    rows.push(Row::ours("... p99", p99, "µs", "≤ 1 ms", p99 <= 1000.0));
    rows.push(Row::ours("... max", max, "µs", "-", true));
    let trip99 = at(&trips, 0.99);
    rows.push(Row::ours(
        "... a ninth client's round trip p99",
        trip99 / 1000.0,
        "ms",
        "≤ 2 frames (33.3 ms)",
        trip99 <= 2e6 / 60.0,
    ));
    Ok(())
}

/// Runs every flood and attack, adding their rows.
pub(crate) async fn run(args: &Args, rows: &mut Vec<Row>) -> Result<(), String> {
    small_flood(args, rows).await?;
    eprintln!("done: 64 B flood");
    flood_unread(args, rows).await?;
    eprintln!("done: 8 MiB flood");
    ping_flood(args, rows).await?;
    eprintln!("done: ping flood");
    unfinished_messages(args, rows).await?;
    eprintln!("done: unfinished messages");
    Ok(())
}
