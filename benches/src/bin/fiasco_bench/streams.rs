//! The streams rows: a keyed stream to a slow reader (and the same stream
//! unkeyed, side by side), and a high-priority message behind 32 MiB of
//! bulk (and the same message at normal priority). The host is the core's
//! `IpcHost`, driven by this thread as a 60 fps game would; the clients are
//! tungstenite over real loopback sockets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fiasco_ipc_core::{
    ChannelId, Event, IpcHost, ListenOptions, MessageKind, Priority, SendOptions,
};
use tungstenite::Message;

use crate::{median, Row};

const FRAME: Duration = Duration::from_micros(16_667);
const STATE: usize = 256 * 1024;

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Listens on a free loopback port; returns the host and its address.
fn listening() -> Result<(IpcHost, SocketAddr), String> {
    let mut host = IpcHost::start().map_err(|error| error.to_string())?;
    host.listen(1, 0, ListenOptions::default());
    host.flush();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(Event::ListenResult(result)) = host.poll_event() {
            let address = result.result.map_err(|error| error.to_string())?;
            return Ok((host, address));
        }
        if Instant::now() > deadline {
            return Err("no listen result".to_owned());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn opened(host: &mut IpcHost) -> Result<ChannelId, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(Event::ConnectionOpened(opened)) = host.poll_event() {
            return Ok(opened.channel);
        }
        host.flush();
        if Instant::now() > deadline {
            return Err("no channel".to_owned());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn connect(address: SocketAddr) -> Result<tungstenite::WebSocket<std::net::TcpStream>, String> {
    let stream = std::net::TcpStream::connect(address).map_err(|error| error.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|error| error.to_string())?;
    let _ = stream.set_nodelay(true);
    tungstenite::client(format!("ws://{address}/"), stream)
        .map(|(socket, _)| socket)
        .map_err(|error| error.to_string())
}

/// What a slow reader of a 60 Hz stream of 256 KiB states saw.
pub(crate) struct SlowReader {
    pub(crate) received: usize,
    pub age_p50: f64,
    pub age_p99: f64,
    pub(crate) most_queued_bytes: u64,
    /// When the host closed it, seconds after the start.
    pub(crate) closed_after: Option<f64>,
}

/// Streams for `seconds` to a client that reads one message every 100 ms.
pub(crate) fn slow_reader(keyed: bool, seconds: u64) -> Result<SlowReader, String> {
    let (mut host, address) = listening()?;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || -> Vec<f64> {
            let Ok(mut client) = connect(address) else {
                return Vec::new();
            };
            let mut ages = Vec::new();
            while !stop.load(Ordering::Acquire) {
                match client.read() {
                    Ok(Message::Binary(data)) if data.len() >= 8 => {
                        let sent = u64::from_le_bytes(data[..8].try_into().unwrap_or_default());
                        let age = since_epoch().saturating_sub(Duration::from_nanos(sent));
                        ages.push(age.as_secs_f64() * 1e3);
                    }
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => continue,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            ages
        })
    };
    let channel = opened(&mut host)?;
    let options = SendOptions {
        conflation_key: u64::from(keyed),
        ..SendOptions::default()
    };
    let started = Instant::now();
    let mut most_queued_bytes = 0;
    let mut closed_after = None;
    let mut state = vec![7u8; STATE];
    'frames: for _ in 0..seconds * 60 {
        let now = since_epoch().as_nanos() as u64;
        state[..8].copy_from_slice(&now.to_le_bytes());
        let _ = host.send_with(channel, MessageKind::Binary, state.clone(), &options);
        host.channel_stats(1, channel);
        host.flush();
        std::thread::sleep(FRAME);
        while let Some(event) = host.poll_event() {
            match event {
                Event::ChannelStats(stats) => {
                    most_queued_bytes = most_queued_bytes.max(stats.queued_bytes);
                }
                Event::ChannelClosed(_) => {
                    closed_after = Some(started.elapsed().as_secs_f64());
                    break 'frames;
                }
                _ => {}
            }
        }
    }
    stop.store(true, Ordering::Release);
    let mut ages = reader.join().map_err(|_| "the reader panicked")?;
    host.shutdown(Duration::from_secs(1));
    ages.sort_by(f64::total_cmp);
    let at = |q: f64| {
        ages.get(((ages.len() as f64 * q) as usize).min(ages.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(SlowReader {
        received: ages.len(),
        age_p50: at(0.5),
        age_p99: at(0.99),
        most_queued_bytes,
        closed_after,
    })
}

/// The time from queueing a 64 B message behind 32 MiB of bulk (32 x 1
/// MiB, queued in the same frame) to its arrival at a client that reads
/// as fast as it can, in ms.
pub(crate) fn behind_bulk(priority: Priority) -> Result<f64, String> {
    let (mut host, address) = listening()?;
    let client = std::thread::spawn(move || -> Result<Duration, String> {
        let mut client = connect(address)?;
        loop {
            match client.read().map_err(|error| error.to_string())? {
                Message::Text(text) => {
                    let sent: u64 = text.parse().map_err(|_| "not a time")?;
                    return Ok(since_epoch().saturating_sub(Duration::from_nanos(sent)));
                }
                _ => continue,
            }
        }
    });
    let channel = opened(&mut host)?;
    for _ in 0..32 {
        host.send(channel, MessageKind::Binary, vec![1u8; 1 << 20])
            .map_err(|error| error.to_string())?;
    }
    let options = SendOptions {
        priority,
        ..SendOptions::default()
    };
    let now = since_epoch().as_nanos().to_string();
    host.send_with(channel, MessageKind::Text, now, &options)
        .map_err(|error| error.to_string())?;
    host.flush();
    let waited = loop {
        if client.is_finished() {
            break client.join().map_err(|_| "the client panicked")??;
        }
        host.flush();
        std::thread::sleep(Duration::from_millis(1));
    };
    host.shutdown(Duration::from_secs(1));
    Ok(waited.as_secs_f64() * 1e3)
}

/// Adds the streams rows.
pub(crate) fn rows(rows: &mut Vec<Row>, seconds: u64) -> Result<(), String> {
    let keyed = slow_reader(true, seconds)?;
    let unkeyed = slow_reader(false, seconds)?;
    let what = format!("slow reader (10 reads/s) of a 60 Hz stream of 256 KiB states, {seconds} s");
    rows.push(Row::ours(
        format!("{what}: keyed, states received"),
        keyed.received as f64,
        "msgs",
        "never closed",
        keyed.closed_after.is_none(),
    ));
    rows.push(Row::ours(
        format!("{what}: keyed, age at receipt p50"),
        keyed.age_p50,
        "ms",
        "-",
        true,
    ));
    rows.push(Row::ours(
        format!("{what}: keyed, age at receipt p99"),
        keyed.age_p99,
        "ms",
        "-",
        true,
    ));
    rows.push(Row::ours(
        format!("{what}: keyed, most bytes queued (ChannelStats)"),
        keyed.most_queued_bytes as f64 / 1024.0,
        "KiB",
        "≤ 2 states (512 KiB)",
        keyed.most_queued_bytes <= 2 * STATE as u64,
    ));
    rows.push(Row::ours(
        format!("{what}: unkeyed, closed with 1008 after"),
        unkeyed.closed_after.unwrap_or(f64::INFINITY),
        "s",
        "closed (today's contract)",
        unkeyed.closed_after.is_some(),
    ));
    rows.push(Row::ours(
        format!("{what}: unkeyed, age at receipt p50"),
        unkeyed.age_p50,
        "ms",
        "-",
        true,
    ));
    let high = median(
        (0..3)
            .map(|_| behind_bulk(Priority::High))
            .collect::<Result<_, _>>()?,
    );
    let normal = median(
        (0..3)
            .map(|_| behind_bulk(Priority::Normal))
            .collect::<Result<_, _>>()?,
    );
    rows.push(Row::ours(
        "a 64 B message behind 32 MiB of queued bulk, High priority: latency (median of 3)",
        high,
        "ms",
        format!("≪ Normal ({normal:.1} ms)"),
        high * 4.0 < normal,
    ));
    rows.push(Row::ours(
        "the same at Normal priority: latency (median of 3)",
        normal,
        "ms",
        "-",
        true,
    ));
    Ok(())
}
