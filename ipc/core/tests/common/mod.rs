//! Shared helpers: a game loop on its own thread that records every event
//! and echoes messages, and blocking WebSocket clients.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    missing_docs
)]

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fiasco_ipc_core::{ChannelId, Event, HostOptions, IpcHost, ListenOptions, MessageKind};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::WebSocket;

pub const WAIT: Duration = Duration::from_secs(10);

/// What the game loop does with messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Echo,
    Record,
}

/// Requests for the game thread to run before its next frame.
type Requests = Arc<Mutex<Vec<Box<dyn FnOnce(&mut IpcHost) + Send>>>>;

/// A game loop (1 ms frames) around an `IpcHost`, on its own thread.
pub struct Game {
    pub events: Arc<Mutex<Vec<Event>>>,
    requests: Requests,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Game {
    pub fn start(mode: Mode) -> Self {
        Self::start_with(mode, Duration::from_millis(1), HostOptions::default())
    }

    /// A game whose frames last `frame`, with its own host options.
    pub fn start_with(mode: Mode, frame: Duration, options: HostOptions) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let requests: Requests = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (events, requests, stop) = (events.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut host = IpcHost::with_options(options).unwrap();
                while !stop.load(Ordering::Acquire) {
                    for request in requests.lock().unwrap().drain(..) {
                        request(&mut host);
                    }
                    while let Some(event) = host.poll_event() {
                        if mode == Mode::Echo {
                            if let Event::Message(fiasco_ipc_core::Message {
                                channel,
                                kind,
                                data,
                                ..
                            }) = &event
                            {
                                let _ = host.send(*channel, *kind, data.clone());
                            }
                        }
                        events.lock().unwrap().push(event);
                    }
                    host.flush();
                    std::thread::sleep(frame);
                }
                host.shutdown(Duration::from_secs(2));
                while let Some(event) = host.poll_event() {
                    events.lock().unwrap().push(event);
                }
            })
        };
        Self {
            events,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Runs `request` on the game thread, before its next frame.
    pub fn request(&self, request: impl FnOnce(&mut IpcHost) + Send + 'static) {
        self.requests.lock().unwrap().push(Box::new(request));
    }

    /// Waits until an event matches; returns it.
    pub fn wait_for(&self, what: &str, predicate: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(event) = self
                .events
                .lock()
                .unwrap()
                .iter()
                .find(|event| predicate(event))
            {
                return event.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events: {:#?}",
                self.events.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Listens and returns the bound address.
    pub fn listen(&self, user_id: u64, port: u16, options: ListenOptions) -> SocketAddr {
        match self.listen_result(user_id, port, options) {
            Ok(address) => address,
            Err(error) => panic!("listen failed: {error}"),
        }
    }

    pub fn listen_result(
        &self,
        user_id: u64,
        port: u16,
        options: ListenOptions,
    ) -> Result<SocketAddr, fiasco_ipc_core::ListenError> {
        let before = self.count(
            |event| matches!(event, Event::ListenResult(fiasco_ipc_core::ListenResult { user_id: u, .. }) if *u == user_id),
        );
        self.request(move |host| host.listen(user_id, port, options));
        let deadline = Instant::now() + WAIT;
        loop {
            let results: Vec<_> = self
                .events
                .lock()
                .unwrap()
                .iter()
                .filter_map(|event| match event {
                    Event::ListenResult(fiasco_ipc_core::ListenResult {
                        user_id: u,
                        result,
                        ..
                    }) if *u == user_id => Some(result.clone()),
                    _ => None,
                })
                .collect();
            if results.len() > before {
                return results[before].clone();
            }
            assert!(Instant::now() < deadline, "no ListenResult");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn count(&self, predicate: impl Fn(&Event) -> bool) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|event| predicate(event))
            .count()
    }

    pub fn opened(&self, nth: usize) -> ChannelId {
        let deadline = Instant::now() + WAIT;
        loop {
            let channels = self.channels();
            if channels.len() > nth {
                return channels[nth];
            }
            assert!(Instant::now() < deadline, "no channel #{nth}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn channels(&self) -> Vec<ChannelId> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|event| match event {
                Event::ConnectionOpened(fiasco_ipc_core::ConnectionOpened { channel, .. }) => {
                    Some(*channel)
                }
                _ => None,
            })
            .collect()
    }

    pub fn closed(&self, channel: ChannelId) -> Event {
        self.wait_for(
            "ChannelClosed",
            |event| matches!(event, Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { channel: c, .. }) if *c == channel),
        )
    }

    /// Waits for the channel's end: who closed it, the code and the reason.
    pub fn closed_parts(&self, channel: ChannelId) -> (fiasco_ipc_core::ClosedBy, u16, String) {
        match self.closed(channel) {
            Event::ChannelClosed(fiasco_ipc_core::ChannelClosed {
                closed_by,
                code,
                reason,
                ..
            }) => (closed_by, code, reason),
            other => panic!("not a ChannelClosed: {other:?}"),
        }
    }

    pub fn send(&self, channel: ChannelId, kind: MessageKind, data: &'static [u8]) {
        self.request(move |host| {
            let _ = host.send(channel, kind, data);
        });
    }

    /// Stops the game and returns every event it saw. The host has shut
    /// down and joined its network thread by then, so nothing can follow:
    /// the place to check that something did not happen.
    pub fn finish(mut self) -> Vec<Event> {
        self.stop();
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    /// Stops the loop (the host closes everything with 1001) and joins it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Game {
    fn drop(&mut self) {
        self.stop();
    }
}

pub type Client = WebSocket<MaybeTlsStream<TcpStream>>;

/// Connects a real WebSocket client.
pub fn connect(address: SocketAddr, path: &str) -> Client {
    let (client, _) = tungstenite::connect(format!("ws://{address}{path}")).expect("connect");
    set_timeout(&client);
    client
}

pub fn set_timeout(client: &Client) {
    if let MaybeTlsStream::Plain(stream) = client.get_ref() {
        stream.set_read_timeout(Some(WAIT)).unwrap();
    }
}

/// Connects with extra request headers; returns the HTTP status on refusal.
pub fn connect_with(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Client, u16> {
    use tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{address}{path}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tungstenite::connect(request) {
        Ok((client, _)) => {
            set_timeout(&client);
            Ok(client)
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("unexpected handshake error: {other}"),
    }
}

/// Reads the close frame the host sends; returns its code and reason.
pub fn read_close(client: &mut Client) -> (u16, String) {
    loop {
        match client.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Ok(tungstenite::Message::Close(None)) => return (1005, String::new()),
            Ok(_) => continue,
            Err(error) => panic!("expected a close frame, got {error}"),
        }
    }
}

/// Listens with a host the test drives itself (no game loop); returns the
/// bound address.
pub fn listen_directly(host: &mut IpcHost, options: ListenOptions) -> SocketAddr {
    host.listen(1, 0, options);
    host.flush();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(Event::ListenResult(fiasco_ipc_core::ListenResult { result, .. })) =
            host.poll_event()
        {
            return result.unwrap();
        }
        assert!(Instant::now() < deadline, "no ListenResult");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How many events match.
pub fn count_in(events: &[Event], predicate: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|event| predicate(event)).count()
}

/// Whether an event opened a channel.
pub fn is_opened(event: &Event) -> bool {
    matches!(
        event,
        Event::ConnectionOpened(fiasco_ipc_core::ConnectionOpened { .. })
    )
}

/// Sends raw bytes on a new TCP connection and reads the answer until the
/// server closes (or `WAIT` passes).
pub fn raw_exchange(address: SocketAddr, request: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// A WebSocket upgrade request for `path` with extra header lines.
pub fn upgrade_request(address: SocketAddr, path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// The status code of a raw HTTP answer, 0 when there was none.
pub fn status_of(answer: &[u8]) -> u16 {
    answer
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// This process's resident memory, in bytes.
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// The wall clock since the Unix epoch (for a message's age across threads).
#[allow(dead_code)]
pub fn since_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
