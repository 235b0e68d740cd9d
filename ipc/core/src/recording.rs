//! Recording a host's IPC sessions to an MCAP file: what to ask for
//! ([`RecordOptions`]), what the host answers ([`RecordStatus`]), and the
//! file's layout ([`mod@format`]), which `fiasco-ipc replay` and
//! `fiasco-ipc record-info` read back.
//!
//! The network thread hands each message to a writer thread by reference
//! (the payload's [`Bytes`](bytes::Bytes) are shared, not copied): inbound
//! messages when they are complete, outbound ones when they start onto the
//! socket (so a keyed stream records what its reader got). The writer
//! thread owns the file; the queue between them counts bytes against
//! [`RecordOptions::budget`], and what does not fit is skipped and written
//! as a gap record ([`format::TOPIC_GAPS`]), never dropped silently.

use std::path::PathBuf;
use std::time::Duration;

/// What to record, where, and within what bounds; for
/// [`IpcHost::record`](crate::IpcHost::record).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordOptions {
    /// The MCAP file to write. It must not exist: a recording never
    /// overwrites a file. Created with mode 0600 (payloads may hold
    /// secrets).
    pub path: PathBuf,
    /// Record only channels on these local ports; empty: every channel.
    pub ports: Vec<u16>,
    /// Bytes of messages waiting for the writer thread (payloads plus
    /// [`format::RECORD_OVERHEAD`] each). A message that does not fit is
    /// skipped and counted in the next gap record. Default 64 MiB.
    pub budget: usize,
    /// Stop the recording, cleanly, once the file reaches this many bytes;
    /// 0: no limit. Default 0.
    pub max_bytes: u64,
    /// Stop the recording, cleanly, after this long; default none.
    pub max_duration: Option<Duration>,
    /// The game's name, kept in the file's metadata. Default: this
    /// executable's name.
    pub game: String,
}

/// [`RecordOptions::budget`]'s default: 64 MiB.
pub const DEFAULT_RECORD_BUDGET: usize = 64 << 20;

impl RecordOptions {
    /// Records every channel to `path`, with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            ports: Vec::new(),
            budget: DEFAULT_RECORD_BUDGET,
            max_bytes: 0,
            max_duration: None,
            game: crate::Discovery::for_this_process().name,
        }
    }

    /// Records only channels on `ports` (empty: all).
    #[must_use]
    pub fn ports(mut self, ports: impl Into<Vec<u16>>) -> Self {
        self.ports = ports.into();
        self
    }

    /// Sets the writer queue's byte budget.
    #[must_use]
    pub fn budget(mut self, bytes: usize) -> Self {
        self.budget = bytes;
        self
    }

    /// Stops at `bytes` of file (0: no limit).
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Stops after `duration`.
    #[must_use]
    pub fn max_duration(mut self, duration: Duration) -> Self {
        self.max_duration = Some(duration);
        self
    }

    /// Names the game in the file's metadata.
    #[must_use]
    pub fn game(mut self, name: impl Into<String>) -> Self {
        self.game = name.into();
        self
    }

    /// Whether a channel on `port` is recorded.
    pub(crate) fn records_port(&self, port: u16) -> bool {
        self.ports.is_empty() || self.ports.contains(&port)
    }
}

/// How a recording is doing: the answer to
/// [`IpcHost::record`](crate::IpcHost::record) (`Recording` or `Failed`),
/// and its end (`Stopped` or `Failed`, once the file is complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordStatus {
    /// The requester (for the end of a recording started by options: 0).
    pub user_id: u64,
    /// The file.
    pub path: PathBuf,
    /// What happened.
    pub state: RecordState,
    /// Messages written so far.
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Messages skipped because the writer was behind (in gap records).
    pub skipped_messages: u64,
    /// Their payload bytes.
    pub skipped_bytes: u64,
}

impl RecordStatus {
    /// A status with nothing written or skipped yet.
    pub fn new(user_id: u64, path: PathBuf, state: RecordState) -> Self {
        Self {
            user_id,
            path,
            state,
            messages: 0,
            bytes: 0,
            skipped_messages: 0,
            skipped_bytes: 0,
        }
    }
}

/// What a [`RecordStatus`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    /// The file is open; messages are being recorded.
    Recording,
    /// The file is complete (summary and footer written).
    Stopped {
        /// Why it stopped: "requested", "size limit", "duration limit",
        /// "host stopped".
        reason: String,
    },
    /// No recording, or it ended on an error (the file holds what was
    /// written before it; the last chunk may be incomplete).
    Failed {
        /// What went wrong, for people.
        error: String,
    },
}

/// The layout of a recording: topics, encodings, metadata keys. One MCAP
/// channel per (IPC channel, direction, kind); each message's data is the
/// WebSocket payload exactly as it was on the wire, its log time the
/// moment the host received it or started sending it (nanoseconds since
/// the Unix epoch).
pub mod format {
    use crate::types::{ClosedBy, Direction, MessageKind};

    /// The MCAP profile written in the header.
    pub const PROFILE: &str = "fiasco-ipc";
    /// Topic of the messages of channel `channel`: `/ipc/{channel}/{direction}/{kind}`
    /// with direction [`RECEIVED`] or [`SENT`] and kind `text` or `binary`.
    pub fn message_topic(channel: u64, direction: &str, kind: &str) -> String {
        format!("/ipc/{channel}/{direction}/{kind}")
    }
    /// A message the host received from the other end (a client, or the
    /// server of an outbound link).
    pub const RECEIVED: &str = "received";
    /// A message the host sent to the other end.
    pub const SENT: &str = "sent";
    /// Message encoding of a text channel whose first message is JSON.
    pub const ENCODING_JSON: &str = "json";
    /// Message encoding of a text channel whose first message is not JSON.
    pub const ENCODING_TEXT: &str = "text";
    /// Message encoding of a binary channel.
    pub const ENCODING_BINARY: &str = "binary";
    /// Channel metadata: the IPC channel id.
    pub const META_CHANNEL: &str = "ipc_channel";
    /// Channel metadata: the local port.
    pub const META_PORT: &str = "port";
    /// Channel metadata: the request path and query (no token).
    pub const META_PATH: &str = "path";
    /// Channel metadata: [`RECEIVED`] or [`SENT`].
    pub const META_DIRECTION: &str = "direction";
    /// Channel metadata: `text` or `binary`.
    pub const META_KIND: &str = "kind";
    /// Channel metadata: `inbound` (a client dialed the game) or
    /// `outbound` (the game's link to a server).
    pub const META_LINK: &str = "link";
    /// Channel metadata: the role of the client's token, when the port has
    /// roles.
    pub const META_ROLE: &str = "role";
    /// Opened and closed channels, JSON (schema [`SCHEMA_EVENT`]):
    /// `{"event":"opened","channel","user_id","port","path","origin","role","peer","link","opened_ns"}`
    /// and `{"event":"closed","channel","closed_by","code","reason"}`.
    pub const TOPIC_EVENTS: &str = "/ipc/events";
    /// The JSON schema name of [`TOPIC_EVENTS`].
    pub const SCHEMA_EVENT: &str = "fiasco.ipc.ChannelEvent";
    /// What the writer skipped, JSON (schema [`SCHEMA_GAP`]):
    /// `{"skipped_messages","skipped_bytes","skipped_events","first_ns","last_ns","channels":[{"channel","messages","bytes"}]}`,
    /// written before the first record that fit again.
    pub const TOPIC_GAPS: &str = "/ipc/gaps";
    /// The JSON schema name of [`TOPIC_GAPS`].
    pub const SCHEMA_GAP: &str = "fiasco.ipc.RecordGap";
    /// The metadata record's name; its keys are `game`, `start_time`
    /// (HTTP date, UTC), `start_time_ns`, `host_version` and `ports`
    /// (`all`, or a comma-separated list).
    pub const METADATA: &str = "fiasco-ipc";
    /// Bytes each record counts against the budget besides its payload.
    pub const RECORD_OVERHEAD: usize = 128;

    /// How a kind is named in topics and in [`META_KIND`]: `text` or
    /// `binary`.
    pub fn kind_name(kind: MessageKind) -> &'static str {
        match kind {
            MessageKind::Text => "text",
            MessageKind::Binary => "binary",
        }
    }

    /// The kind [`kind_name`] names `name`; `None` for another name.
    pub fn kind_named(name: &str) -> Option<MessageKind> {
        [MessageKind::Text, MessageKind::Binary]
            .into_iter()
            .find(|kind| kind_name(*kind) == name)
    }

    /// [`META_LINK`] and the opened event's `link` of a channel a client
    /// dialed.
    pub const LINK_INBOUND: &str = "inbound";
    /// [`META_LINK`] and the opened event's `link` of the game's outbound
    /// link.
    pub const LINK_OUTBOUND: &str = "outbound";

    /// How a link is named: [`LINK_INBOUND`] or [`LINK_OUTBOUND`].
    pub fn link_name(link: Direction) -> &'static str {
        match link {
            Direction::Inbound => LINK_INBOUND,
            Direction::Outbound { .. } => LINK_OUTBOUND,
        }
    }

    /// How the closed event names who ended the channel: `remote`,
    /// `agent`, `host_limit`, `host_error`, `host_shutdown`.
    pub fn closed_by_name(closed_by: ClosedBy) -> &'static str {
        match closed_by {
            ClosedBy::Remote => "remote",
            ClosedBy::Agent => "agent",
            ClosedBy::HostLimit => "host_limit",
            ClosedBy::HostError => "host_error",
            ClosedBy::HostShutdown => "host_shutdown",
        }
    }

    /// Who [`closed_by_name`] names `name`; `None` for another name.
    pub fn closed_by_named(name: &str) -> Option<ClosedBy> {
        [
            ClosedBy::Remote,
            ClosedBy::Agent,
            ClosedBy::HostLimit,
            ClosedBy::HostError,
            ClosedBy::HostShutdown,
        ]
        .into_iter()
        .find(|closed_by| closed_by_name(*closed_by) == name)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_name_reads_back_as_what_it_names() {
            for kind in [MessageKind::Text, MessageKind::Binary] {
                assert_eq!(kind_named(kind_name(kind)), Some(kind));
            }
            for closed_by in [
                ClosedBy::Remote,
                ClosedBy::Agent,
                ClosedBy::HostLimit,
                ClosedBy::HostError,
                ClosedBy::HostShutdown,
            ] {
                assert_eq!(closed_by_named(closed_by_name(closed_by)), Some(closed_by));
            }
            assert_eq!(kind_named("json"), None);
            assert_eq!(closed_by_named("\x1b[2J"), None);
        }
    }
}
