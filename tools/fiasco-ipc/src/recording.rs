//! A recording read back: its metadata, each IPC channel's session (how it
//! opened, its messages both ways in order, how it ended) and its gaps.
//! The layout is `fiasco_ipc_core::recording::format`'s.

use std::collections::BTreeMap;
use std::path::Path;

use fiasco_ipc_core::recording::format;
use fiasco_ipc_core::{ClosedBy, MessageKind};
use serde_json::Value;

/// One recorded message.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Sent by the game (else received by it).
    pub(crate) sent: bool,
    pub(crate) kind: MessageKind,
    pub(crate) data: Vec<u8>,
    pub(crate) time_ns: u64,
}

/// How a channel ended.
#[derive(Debug, Clone)]
pub(crate) struct Closed {
    /// Who ended it; `None` when the file names no one this build knows.
    pub(crate) by: Option<ClosedBy>,
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) time_ns: u64,
}

impl Closed {
    /// Who ended the channel, as the file names it (`?`: a name this build
    /// does not know).
    pub(crate) fn by_name(&self) -> &'static str {
        self.by.map_or("?", format::closed_by_name)
    }
}

/// One IPC channel's recorded session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) channel: u64,
    pub(crate) port: u16,
    pub(crate) path: String,
    /// A client dialed the game (else the game's outbound link).
    pub(crate) inbound: bool,
    pub(crate) role: Option<String>,
    pub(crate) opened_ns: u64,
    pub(crate) items: Vec<Item>,
    pub(crate) closed: Option<Closed>,
}

impl Session {
    fn new(channel: u64) -> Self {
        Self {
            channel,
            port: 0,
            path: "/".to_owned(),
            inbound: true,
            role: None,
            opened_ns: 0,
            items: Vec::new(),
            closed: None,
        }
    }

    /// A session of channel 1 on no port, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self::new(1)
    }

    /// Messages and payload bytes one way.
    pub(crate) fn totals(&self, sent: bool) -> (u64, u64) {
        self.items
            .iter()
            .filter(|item| item.sent == sent)
            .fold((0, 0), |(count, bytes), item| {
                (count + 1, bytes + item.data.len() as u64)
            })
    }
}

/// What the writer skipped once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gap {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    pub(crate) events: u64,
}

/// A whole recording.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    pub(crate) metadata: BTreeMap<String, String>,
    /// By channel id, in the order they opened.
    pub(crate) sessions: BTreeMap<u64, Session>,
    pub(crate) gaps: Vec<Gap>,
    pub(crate) first_ns: Option<u64>,
    pub(crate) last_ns: Option<u64>,
    /// Why reading stopped before the end (a game killed while
    /// recording): what was read up to there is kept.
    pub(crate) cut_short: Option<String>,
}

/// Why a file cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not an MCAP file: {source}")]
    NotMcap {
        path: String,
        source: mcap::McapError,
    },
}

impl Recording {
    /// Reads `path` (whole, into memory). A file that ends early is read
    /// up to its last complete record, and says so in `cut_short`.
    pub(crate) fn read(path: &Path) -> Result<Self, ReadError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
            path: shown.clone(),
            source,
        })?;
        let stream = mcap::MessageStream::new(&bytes).map_err(|source| ReadError::NotMcap {
            path: shown,
            source,
        })?;
        let mut recording = Recording::default();
        for message in stream {
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    recording.cut_short = Some(error.to_string());
                    break;
                }
            };
            recording.add(
                &message.channel.topic,
                &message.channel.metadata,
                message.log_time,
                &message.data,
            );
        }
        recording.metadata = read_metadata(&bytes);
        Ok(recording)
    }

    fn add(&mut self, topic: &str, metadata: &BTreeMap<String, String>, time: u64, data: &[u8]) {
        self.first_ns = Some(self.first_ns.map_or(time, |first| first.min(time)));
        self.last_ns = Some(self.last_ns.map_or(time, |last| last.max(time)));
        if topic == format::TOPIC_EVENTS {
            if let Ok(event) = serde_json::from_slice::<Value>(data) {
                self.event(&event, time);
            }
            return;
        }
        if topic == format::TOPIC_GAPS {
            if let Ok(gap) = serde_json::from_slice::<Value>(data) {
                let number = |key: &str| gap[key].as_u64().unwrap_or(0);
                self.gaps.push(Gap {
                    messages: number("skipped_messages"),
                    bytes: number("skipped_bytes"),
                    events: number("skipped_events"),
                });
            }
            return;
        }
        let Some(channel) = metadata
            .get(format::META_CHANNEL)
            .and_then(|id| id.parse::<u64>().ok())
        else {
            return;
        };
        let kind = metadata
            .get(format::META_KIND)
            .and_then(|name| format::kind_named(name))
            .unwrap_or(MessageKind::Text);
        let sent = metadata.get(format::META_DIRECTION).map(String::as_str) == Some(format::SENT);
        self.sessions
            .entry(channel)
            .or_insert_with(|| Session::new(channel))
            .items
            .push(Item {
                sent,
                kind,
                data: data.to_vec(),
                time_ns: time,
            });
    }

    fn event(&mut self, event: &Value, time: u64) {
        let Some(channel) = event["channel"].as_u64() else {
            return;
        };
        let session = self
            .sessions
            .entry(channel)
            .or_insert_with(|| Session::new(channel));
        match event["event"].as_str() {
            Some("opened") => {
                session.port = event["port"]
                    .as_u64()
                    .and_then(|port| u16::try_from(port).ok())
                    .unwrap_or(0);
                session.path = event["path"].as_str().unwrap_or("/").to_owned();
                session.inbound = event["link"].as_str() != Some(format::LINK_OUTBOUND);
                session.role = event["role"].as_str().map(str::to_owned);
                session.opened_ns = event["opened_ns"].as_u64().unwrap_or(time);
            }
            Some("closed") => {
                session.closed = Some(Closed {
                    by: event["closed_by"]
                        .as_str()
                        .and_then(format::closed_by_named),
                    code: event["code"]
                        .as_u64()
                        .and_then(|code| u16::try_from(code).ok())
                        .unwrap_or(1005),
                    reason: event["reason"].as_str().unwrap_or("").to_owned(),
                    time_ns: time,
                });
            }
            _ => {}
        }
    }

    /// From the first record to the last, in seconds.
    pub(crate) fn duration_s(&self) -> f64 {
        match (self.first_ns, self.last_ns) {
            (Some(first), Some(last)) => (last - first) as f64 / 1e9,
            _ => 0.0,
        }
    }
}

/// The metadata record, read linearly: the writer puts it first, so a file
/// cut short has it too.
fn read_metadata(bytes: &[u8]) -> BTreeMap<String, String> {
    let linear = mcap::read::LinearReader::new(bytes).into_iter().flatten();
    for record in linear {
        match record {
            Ok(mcap::records::Record::Metadata(metadata)) if metadata.name == format::METADATA => {
                return metadata.metadata;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    BTreeMap::new()
}
