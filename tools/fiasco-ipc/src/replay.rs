//! `fiasco-ipc replay`: plays the client side of every recorded inbound
//! channel against a running game, at the recorded pace (scaled by
//! `--speed`) or as fast as the answers come, and compares what the game
//! answers with what it answered when recorded.
//!
//! Per channel, in the recorded order: a message the game received is
//! sent (when its recorded time comes, or at once when pacing by the
//! answers); a message the game sent is awaited, due its recorded latency
//! after the client message before it, late after `--timeout-ms` more.
//! Then the channel ends as it ended: the client closes with the recorded
//! code, or the game is expected to close it (an agent's close or a
//! limit); a recording that stopped first (or a game that shut down) is
//! closed with 1000. Whatever the game sends before its close answer is
//! an "extra" answer: the close handshake is the point after which none
//! can come.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use fiasco_ipc_core::discovery::{self, GameEntry};
use fiasco_ipc_core::recording::format;
use fiasco_ipc_core::{ClosedBy, MessageKind};

use crate::list::printable;
use crate::recording::{Item, Recording, Session};

/// How to replay.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) url: Option<String>,
    pub(crate) ports: HashMap<u16, String>,
    pub(crate) token: Option<String>,
    /// `Some(speed)`: the recorded pace, that many times faster; `None`:
    /// as fast as the answers come.
    pub(crate) speed: Option<f64>,
    pub(crate) timeout: Duration,
    pub(crate) exclude_ports: Vec<u16>,
    pub(crate) exclude_paths: Vec<String>,
    pub(crate) exclude_kinds: Vec<MessageKind>,
    pub(crate) expect_same: bool,
}

impl Options {
    /// Whether the answers on `session` are compared.
    fn compares(&self, session: &Session) -> bool {
        !self.exclude_ports.contains(&session.port)
            && !self
                .exclude_paths
                .iter()
                .any(|prefix| session.path.starts_with(prefix.as_str()))
    }

    /// A recorded span, at the replay's pace.
    fn scaled(&self, nanos: u64) -> Duration {
        Duration::from_nanos(nanos).div_f64(self.speed.unwrap_or(1.0))
    }
}

/// The report and whether the replay passed.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) report: String,
    pub(crate) passed: bool,
}

/// Where one channel is played, and with which token.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    token: Option<String>,
}

/// Replays `recording`: every inbound channel at once, each on its own
/// task; returns the report.
pub(crate) fn run(recording: &Recording, options: &Options) -> Result<Outcome, String> {
    let mut report = String::new();
    let mut plays = Vec::new();
    let games = if options.url.is_none() {
        discovery::running(&discovery::default_dir()).map_err(|error| error.to_string())?
    } else {
        Vec::new()
    };
    for session in recording.sessions.values() {
        if !session.inbound {
            let _ = writeln!(
                report,
                "channel {}: skipped, the game's outbound link (port {}, {})",
                session.channel,
                session.port,
                printable(&session.path)
            );
            continue;
        }
        plays.push((session, target(session, options, &games)?));
    }
    if plays.is_empty() {
        return Err("the recording has no inbound channel to play".to_owned());
    }
    let first_ns = plays
        .iter()
        .map(|(session, _)| session.opened_ns)
        .min()
        .unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the replay's runtime: {error}"))?;
    let reports: Vec<Played> = runtime.block_on(async {
        let start = Instant::now();
        let tasks = plays.into_iter().map(|(session, target)| {
            let at = match options.speed {
                Some(_) => start + options.scaled(session.opened_ns.saturating_sub(first_ns)),
                None => start,
            };
            play(session, target, options, at)
        });
        futures_util::future::join_all(tasks).await
    });
    let mut passed = true;
    for played in &reports {
        passed &= played.passed(options.expect_same);
        report.push_str(&played.describe(options));
    }
    let _ = writeln!(
        report,
        "{}: {} channels played",
        if passed { "PASSED" } else { "FAILED" },
        reports.len()
    );
    Ok(Outcome { report, passed })
}

/// The URL and token for a recorded channel: `--port`, then `--url`, then
/// the running game listening on the recorded port (its token for the
/// recorded role).
fn target(session: &Session, options: &Options, games: &[GameEntry]) -> Result<Target, String> {
    let base = options
        .ports
        .get(&session.port)
        .or(options.url.as_ref())
        .cloned();
    if let Some(base) = base {
        return Ok(Target {
            url: with_path(&base, &session.path),
            token: options.token.clone(),
        });
    }
    let listeners: Vec<_> = games.iter().flat_map(|game| &game.listeners).collect();
    let only = match listeners.as_slice() {
        [only] => Some(only),
        _ => None,
    };
    let listener = listeners
        .iter()
        .find(|listener| listener.port == session.port)
        .or(only)
        .ok_or_else(|| {
            format!(
                "no running game listens on port {port} (found {found}): give --url URL or --port {port}=URL",
                port = session.port,
                found = listeners.len()
            )
        })?;
    let base = listener
        .urls
        .first()
        .ok_or_else(|| format!("port {} has no URL in its discovery file", listener.port))?;
    let role_token = listener
        .tokens
        .iter()
        .find(|grant| Some(&grant.role) == session.role.as_ref())
        .map(|grant| grant.token.clone())
        .or_else(|| listener.token.clone());
    Ok(Target {
        url: with_path(base, &session.path),
        token: options.token.clone().or(role_token),
    })
}

/// `base`'s scheme and authority with `path` (and query).
fn with_path(base: &str, path: &str) -> String {
    let authority_end = base
        .find("://")
        .map(|scheme| {
            let rest = scheme + 3;
            base[rest..]
                .find('/')
                .map_or(base.len(), |slash| rest + slash)
        })
        .unwrap_or(base.len());
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    format!("{}{path}", &base[..authority_end])
}

/// What the game sent, as the reader task saw it.
#[derive(Debug)]
enum Got {
    Message(MessageKind, Vec<u8>, Instant),
    Closed(Option<(u16, String)>),
    Error(String),
}

/// Answers the reader may hold before the player takes them; beyond, the
/// socket is not read (TCP slows the game's sends to this channel).
const READ_AHEAD: usize = 1024;

/// How one channel's replay went.
#[derive(Debug, Default)]
struct Played {
    channel: u64,
    port: u16,
    path: String,
    url: String,
    compared: bool,
    sent: u64,
    received: u64,
    expected: u64,
    missing: u64,
    /// Answer latencies now and as recorded.
    latencies: Vec<Duration>,
    recorded: Vec<Duration>,
    difference: Option<String>,
    error: Option<String>,
}

impl Played {
    fn passed(&self, expect_same: bool) -> bool {
        self.error.is_none() && (!expect_same || self.difference.is_none())
    }

    fn describe(&self, options: &Options) -> String {
        let mut out = format!(
            "channel {} {} (recorded port {} {}): sent {}, received {}",
            self.channel,
            printable(&self.url),
            self.port,
            printable(&self.path),
            self.sent,
            self.received,
        );
        if self.compared {
            let _ = write!(
                out,
                ", {} of {} answers in time; answer latency p50 {} p99 {} (recorded p50 {} p99 {})",
                self.expected - self.missing,
                self.expected,
                millis(percentile(&self.latencies, 50)),
                millis(percentile(&self.latencies, 99)),
                millis(percentile(&self.recorded, 50)),
                millis(percentile(&self.recorded, 99)),
            );
        } else {
            out.push_str(", answers not compared (excluded)");
        }
        match (&self.error, &self.difference) {
            (Some(error), _) => {
                let _ = write!(out, "\n  ERROR: {}", printable(error));
            }
            (None, Some(difference)) if options.expect_same => {
                let _ = write!(out, "\n  DIFFERENT: {difference}");
            }
            (None, Some(difference)) => {
                let _ = write!(
                    out,
                    "\n  differs (not checked without --expect-same): {difference}"
                );
            }
            (None, None) if options.expect_same && self.compared => out.push_str("\n  same"),
            (None, None) => {}
        }
        out.push('\n');
        out
    }
}

fn percentile(values: &[Duration], percent: usize) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let last = sorted.len().checked_sub(1)?;
    sorted.get(last * percent / 100).copied()
}

fn millis(value: Option<Duration>) -> String {
    value.map_or_else(
        || "-".to_owned(),
        |value| format!("{:.2} ms", value.as_secs_f64() * 1e3),
    )
}

/// A payload for people: text as text, binary as hex, cut to 200 bytes.
fn shown(kind: MessageKind, data: &[u8]) -> String {
    const SHOWN: usize = 200;
    let cut = &data[..data.len().min(SHOWN)];
    let more = if data.len() > SHOWN { "..." } else { "" };
    let body = match kind {
        MessageKind::Text => format!("{:?}", String::from_utf8_lossy(cut)),
        MessageKind::Binary => cut.iter().map(|byte| format!("{byte:02x}")).collect(),
    };
    format!(
        "{} {body}{more} ({} bytes)",
        format::kind_name(kind),
        data.len()
    )
}

/// Plays one channel from `at`.
async fn play(session: &Session, target: Target, options: &Options, at: Instant) -> Played {
    let mut played = Played {
        channel: session.channel,
        port: session.port,
        path: session.path.clone(),
        url: target.url.clone(),
        compared: options.compares(session),
        ..Played::default()
    };
    tokio::time::sleep_until(at).await;
    if let Err(error) = exchange(session, &target, options, &mut played).await {
        played.error = Some(error);
    }
    played
}

/// Connects, plays the items, ends the channel.
async fn exchange(
    session: &Session,
    target: &Target,
    options: &Options,
    played: &mut Played,
) -> Result<(), String> {
    let mut request = target
        .url
        .as_str()
        .into_client_request()
        .map_err(|error| format!("{}: {error}", target.url))?;
    if let Some(token) = &target.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token cannot go in a header".to_owned())?;
        request.headers_mut().insert("authorization", value);
    }
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|error| format!("cannot connect to {}: {error}", target.url))?;
    let connected = Instant::now();
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            let got = match message {
                Ok(Message::Text(text)) => {
                    Got::Message(MessageKind::Text, text.as_bytes().to_vec(), Instant::now())
                }
                Ok(Message::Binary(data)) => {
                    Got::Message(MessageKind::Binary, data.to_vec(), Instant::now())
                }
                Ok(Message::Close(frame)) => Got::Closed(
                    frame.map(|frame| (u16::from(frame.code), frame.reason.to_string())),
                ),
                Ok(_) => continue,
                Err(error) => Got::Error(error.to_string()),
            };
            if tx.send(got).await.is_err() {
                break;
            }
        }
    });
    let mut player = Player {
        options,
        rx: &mut rx,
        played,
        anchor: (connected, session.opened_ns),
        closed: None,
        index: 0,
    };
    let result = player.items(session, connected, &mut sink).await;
    let ended = match result {
        Ok(()) => player.end(session, &mut sink).await,
        Err(error) => Err(error),
    };
    reader.abort();
    ended
}

/// The state of one channel's replay.
struct Player<'a> {
    options: &'a Options,
    rx: &'a mut mpsc::Receiver<Got>,
    played: &'a mut Played,
    /// The last client message: when it was sent now, and when recorded.
    anchor: (Instant, u64),
    /// The game's close, once seen.
    closed: Option<Option<(u16, String)>>,
    /// The number of the next compared answer.
    index: u64,
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

impl Player<'_> {
    fn compares(&self, kind: MessageKind) -> bool {
        self.played.compared && !self.options.exclude_kinds.contains(&kind)
    }

    /// Sends and awaits the recorded messages in order.
    async fn items(
        &mut self,
        session: &Session,
        connected: Instant,
        sink: &mut Sink,
    ) -> Result<(), String> {
        for item in &session.items {
            if !item.sent {
                if self.options.speed.is_some() {
                    let due = connected
                        + self
                            .options
                            .scaled(item.time_ns.saturating_sub(session.opened_ns));
                    self.wait_until(due).await?;
                }
                let message = match item.kind {
                    MessageKind::Text => {
                        Message::text(String::from_utf8_lossy(&item.data).into_owned())
                    }
                    MessageKind::Binary => Message::binary(item.data.clone()),
                };
                sink.send(message)
                    .await
                    .map_err(|error| format!("send failed: {error}"))?;
                self.played.sent += 1;
                self.anchor = (Instant::now(), item.time_ns);
            } else if self.compares(item.kind) && self.closed.is_none() {
                self.answer(item).await?;
            }
        }
        Ok(())
    }

    /// Until `due`, takes what the game sends on a channel whose answers
    /// are not compared (so its socket is read); on a compared one the
    /// answers wait for their turn.
    async fn wait_until(&mut self, due: Instant) -> Result<(), String> {
        while !self.played.compared && self.closed.is_none() {
            tokio::select! {
                () = tokio::time::sleep_until(due) => return Ok(()),
                got = self.rx.recv() => self.take_uncompared(got)?,
            }
        }
        tokio::time::sleep_until(due).await;
        Ok(())
    }

    fn take_uncompared(&mut self, got: Option<Got>) -> Result<(), String> {
        match got {
            Some(Got::Message(..)) => self.played.received += 1,
            Some(Got::Closed(close)) => self.closed = Some(close),
            None => self.closed = Some(None),
            Some(Got::Error(error)) => return Err(error),
        }
        Ok(())
    }

    /// Awaits the game's next compared answer and checks it against `item`.
    async fn answer(&mut self, item: &Item) -> Result<(), String> {
        let recorded = Duration::from_nanos(item.time_ns.saturating_sub(self.anchor.1));
        self.played.expected += 1;
        self.played.recorded.push(recorded);
        let index = self.index;
        self.index += 1;
        let deadline =
            self.anchor.0 + self.options.scaled(recorded.as_nanos() as u64) + self.options.timeout;
        loop {
            let got = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(got) => got,
                Err(_) => {
                    self.played.missing += 1;
                    self.differ(format!(
                        "answer {index} missing: expected {} within {} ms of when it was due",
                        shown(item.kind, &item.data),
                        self.options.timeout.as_millis()
                    ));
                    return Ok(());
                }
            };
            match got {
                Some(Got::Message(kind, data, at)) => {
                    self.played.received += 1;
                    if !self.compares(kind) {
                        continue;
                    }
                    self.played
                        .latencies
                        .push(at.saturating_duration_since(self.anchor.0));
                    if kind != item.kind || data != item.data {
                        self.differ(format!(
                            "answer {index}: expected {}, got {}",
                            shown(item.kind, &item.data),
                            shown(kind, &data)
                        ));
                    }
                    return Ok(());
                }
                Some(Got::Closed(close)) => {
                    self.played.missing += 1;
                    self.differ(format!(
                        "answer {index} missing: the game closed the channel ({}) before {}",
                        close_text(close.as_ref()),
                        shown(item.kind, &item.data)
                    ));
                    self.closed = Some(close);
                    return Ok(());
                }
                None => {
                    self.played.missing += 1;
                    self.differ(format!("answer {index} missing: the connection dropped"));
                    self.closed = Some(None);
                    return Ok(());
                }
                Some(Got::Error(error)) => return Err(error),
            }
        }
    }

    /// The first difference of the channel is kept.
    fn differ(&mut self, difference: String) {
        if self.played.difference.is_none() {
            self.played.difference = Some(difference);
        }
    }

    /// Ends the channel as recorded, and takes what the game still sends
    /// until its close: each compared one an extra answer.
    async fn end(&mut self, session: &Session, sink: &mut Sink) -> Result<(), String> {
        let recorded = session.closed.as_ref();
        let game_closes = recorded.is_some_and(|closed| {
            matches!(
                closed.by,
                Some(ClosedBy::Agent | ClosedBy::HostLimit | ClosedBy::HostError)
            )
        });
        let mut deadline = Instant::now() + self.options.timeout;
        if !game_closes && self.closed.is_none() {
            let (code, reason) = match recorded {
                Some(closed) if closed.by == Some(ClosedBy::Remote) => {
                    if self.options.speed.is_some() {
                        let after = closed.time_ns.saturating_sub(self.anchor.1);
                        let due = self.anchor.0 + self.options.scaled(after);
                        self.wait_until(due).await?;
                        deadline = due.max(Instant::now()) + self.options.timeout;
                    }
                    (closed.code, closed.reason.clone())
                }
                _ => (1000, "replay done".to_owned()),
            };
            // 1005 and 1006 are never sent on the wire: a recorded close
            // without a code is sent as 1000.
            let code = if matches!(code, 1005 | 1006 | 1015) {
                1000
            } else {
                code
            };
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            // The game may have closed first: then the close answer is ours
            // to read, not to send.
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        while self.closed.is_none() {
            let got = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(got) => got,
                Err(_) => {
                    self.differ(format!(
                        "the game did not close the channel within {} ms{}",
                        self.options.timeout.as_millis(),
                        recorded.map_or_else(String::new, |closed| format!(
                            " (recorded: {} by {})",
                            closed.code,
                            closed.by_name()
                        ))
                    ));
                    return Ok(());
                }
            };
            match got {
                Some(Got::Message(kind, data, _)) => {
                    self.played.received += 1;
                    if self.compares(kind) {
                        let index = self.index;
                        self.index += 1;
                        self.differ(format!("answer {index} extra: got {}", shown(kind, &data)));
                    }
                }
                Some(Got::Closed(close)) => self.closed = Some(close),
                None => self.closed = Some(None),
                Some(Got::Error(error)) => return Err(error),
            }
        }
        if game_closes {
            if let (Some(recorded), Some(close)) = (recorded, &self.closed) {
                let code = close.as_ref().map_or(1005, |(code, _)| *code);
                if code != recorded.code {
                    self.differ(format!(
                        "the game closed with {} (recorded {} {:?})",
                        close_text(close.as_ref()),
                        recorded.code,
                        recorded.reason
                    ));
                }
            }
        }
        Ok(())
    }
}

fn close_text(close: Option<&(u16, String)>) -> String {
    close.map_or_else(
        || "no close frame".to_owned(),
        |(code, reason)| format!("{code} {reason:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_path_replaces_the_base_urls() {
        assert_eq!(
            with_path("ws://127.0.0.1:9100/", "/a?b=1"),
            "ws://127.0.0.1:9100/a?b=1"
        );
        assert_eq!(
            with_path("ws://127.0.0.1:9100", "/"),
            "ws://127.0.0.1:9100/"
        );
        assert_eq!(with_path("ws://[::1]:9100/x/y", "z"), "ws://[::1]:9100/z");
    }

    #[test]
    fn payloads_are_cut_to_200_bytes_binary_in_hex() {
        let long = vec![b'a'; 300];
        let text = shown(MessageKind::Text, &long);
        assert!(text.starts_with("text \"aaaa"));
        assert!(text.ends_with("...\" (300 bytes)") || text.ends_with("\"... (300 bytes)"));
        assert_eq!(
            shown(MessageKind::Binary, &[0, 255]),
            "binary 00ff (2 bytes)"
        );
        assert_eq!(percentile(&[], 50), None);
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&values, 99), Some(Duration::from_millis(99)));
    }

    #[test]
    fn excluded_ports_and_paths_are_played_but_not_compared() {
        let options = Options {
            url: None,
            ports: HashMap::new(),
            token: None,
            speed: None,
            timeout: Duration::from_secs(1),
            exclude_ports: vec![9200],
            exclude_paths: vec!["/state".to_owned()],
            exclude_kinds: Vec::new(),
            expect_same: true,
        };
        let session = |port, path: &str| Session {
            port,
            path: path.to_owned(),
            ..crate::recording::Session::for_tests()
        };
        assert!(options.compares(&session(9100, "/")));
        assert!(!options.compares(&session(9200, "/")));
        assert!(!options.compares(&session(9100, "/state/1")));
    }
}
