//! The recorder's writer thread (`fiasco-ipc-record`): takes the queued
//! records in batches and writes them to the MCAP file, zstd chunks of up
//! to [`CHUNK_SIZE`], each chunk finished and flushed at least every
//! [`FLUSH_INTERVAL`] so a killed game leaves a file readable up to its
//! last chunk. It stops on request, at a limit, or at the first write
//! error, and reports the end with a `RecordStatus` once the file is
//! complete.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bridge::{EventQueue, NetEvent};
use crate::recorder::{ChannelInfo, Gap, Record, Recording};
use crate::recording::format::{self, closed_by_name, kind_name, link_name};
use crate::recording::{RecordState, RecordStatus};
use crate::types::{Event, MessageKind};

/// The uncompressed size at which a chunk is finished.
const CHUNK_SIZE: u64 = 1 << 20;

/// The longest a written record waits in an unfinished chunk.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The longest a queued record waits for the writer (unless the queue
/// fills a quarter of its budget first): the writer wakes once a batch.
const BATCH_INTERVAL: Duration = Duration::from_millis(20);

/// Opens a new file for a recording: never over an existing one, readable
/// by its owner only.
pub(crate) fn open(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Starts the writer thread on an opened file.
pub(crate) fn spawn(
    file: File,
    recording: Arc<Recording>,
    events: Arc<EventQueue>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("fiasco-ipc-record".into())
        .spawn(move || {
            let mut counts = Counts::default();
            let end = write_file(file, &recording, &mut counts);
            // Whatever happened, nothing more is queued.
            recording.stop("stopped");
            let state = match end {
                Ok(reason) => {
                    tracing::info!(path = %recording.options.path.display(), %reason, messages = counts.messages, "recording finished");
                    RecordState::Stopped { reason }
                }
                Err(error) => {
                    let error = format!(
                        "recording to {} failed: {error}",
                        recording.options.path.display()
                    );
                    tracing::error!("{error}");
                    RecordState::Failed { error }
                }
            };
            events.push(NetEvent::Event(Event::RecordStatus(RecordStatus {
                user_id: recording.user_id,
                path: recording.options.path.clone(),
                state,
                messages: counts.messages,
                bytes: counts.bytes,
                skipped_messages: counts.skipped_messages,
                skipped_bytes: counts.skipped_bytes,
            })));
        })
}

/// What the writer wrote and skipped.
#[derive(Debug, Default)]
struct Counts {
    messages: u64,
    bytes: u64,
    skipped_messages: u64,
    skipped_bytes: u64,
}

/// Waits for the writer's next batch: queued records once they are
/// [`BATCH_INTERVAL`] old or fill a quarter of the budget, the stop, the
/// duration limit, or (with records written since `flushed`) the next
/// flush. Returns the records and, at the end, why and what was skipped
/// last.
fn next_batch(
    recording: &Recording,
    deadline: Option<Instant>,
    flushed: Option<Instant>,
) -> (Vec<Record>, Option<(String, Option<Gap>)>) {
    let mut queue = recording.lock();
    let mut batch_due = None;
    loop {
        let now = Instant::now();
        if queue.stop.is_some() {
            break;
        }
        if deadline.is_some_and(|deadline| now >= deadline) {
            queue.stop = Some("duration limit".to_owned());
            break;
        }
        if !queue.records.is_empty() {
            let due = *batch_due.get_or_insert(now + BATCH_INTERVAL);
            if now >= due || queue.bytes >= recording.options.budget / 4 {
                break;
            }
        }
        let flush_due = flushed.map(|flushed| flushed + FLUSH_INTERVAL);
        if flush_due.is_some_and(|due| now >= due) {
            break;
        }
        let wake_at = [
            batch_due.filter(|_| !queue.records.is_empty()),
            flush_due,
            deadline,
        ]
        .into_iter()
        .flatten()
        .min();
        // Idle: the next record wakes the writer. Otherwise only a
        // quarter-full queue does (one wake-up a batch, not a message).
        queue.waiting = queue.records.is_empty();
        queue = match wake_at {
            Some(at) => {
                recording
                    .wake
                    .wait_timeout(queue, at.saturating_duration_since(now))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            }
            None => recording
                .wake
                .wait(queue)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        };
    }
    queue.waiting = false;
    queue.urged = false;
    let batch = std::mem::take(&mut queue.records);
    let stop = queue.stop.clone();
    // What was skipped last is in no record yet: it goes with the end of
    // the file.
    let tail = stop.is_some().then(|| std::mem::take(&mut queue.gap));
    (batch, stop.map(|stop| (stop, tail)))
}

/// Writes until the recording stops; returns why it stopped.
fn write_file(file: File, recording: &Recording, counts: &mut Counts) -> mcap::McapResult<String> {
    let options = &recording.options;
    let started = Instant::now();
    let deadline = options.max_duration.map(|duration| started + duration);
    let mut out = Mcap::new(file, recording)?;
    let mut dirty = false;
    let mut last_flush = Instant::now();
    let reason = loop {
        let (batch, stop) = next_batch(recording, deadline, dirty.then_some(last_flush));
        let mut released = 0;
        let mut full = false;
        for record in batch {
            released += record.size();
            if full {
                continue;
            }
            match out.write(record, counts) {
                Err(mcap::McapError::TooManyChannels) => full = true,
                written => written?,
            }
            dirty = true;
        }
        {
            let mut queue = recording.lock();
            queue.bytes = queue.bytes.saturating_sub(released);
        }
        if full {
            break "channel limit (65535 MCAP channels)".to_owned();
        }
        if let Some((reason, tail)) = stop {
            if let Some(gap) = tail.filter(|gap| *gap != Gap::default()) {
                out.write(Record::Gap(gap), counts)?;
            }
            break reason;
        }
        if options.max_bytes > 0 && out.written() >= options.max_bytes {
            break "size limit".to_owned();
        }
        if dirty && last_flush.elapsed() >= FLUSH_INTERVAL {
            out.writer.flush()?;
            dirty = false;
            last_flush = Instant::now();
        }
    };
    // Stop taking records before the (possibly slow) end of the file.
    recording.stop(&reason);
    out.writer.finish()?;
    out.writer.into_inner().flush()?;
    Ok(reason)
}

/// The MCAP writer and the channels it made so far.
struct Mcap {
    writer: mcap::Writer<Counting<BufWriter<File>>>,
    /// How far the file reaches, kept by the writer inside `writer`.
    written: Rc<Cell<u64>>,
    events: u16,
    gaps: u16,
    /// MCAP channel and next sequence per (IPC channel, sent, kind).
    channels: HashMap<(u64, bool, MessageKind), (u16, u32)>,
    /// IPC channels whose opened record is written.
    opened: HashSet<u64>,
    event_sequence: u32,
}

impl Mcap {
    fn new(file: File, recording: &Recording) -> mcap::McapResult<Self> {
        let options = &recording.options;
        let written = Rc::new(Cell::new(0));
        let mut writer = mcap::WriteOptions::new()
            .compression(Some(mcap::Compression::Zstd))
            // zstd's fastest level, in this thread only: the recorder is
            // one thread, never a pool competing with the game's.
            .compression_level(1)
            .compression_threads(0)
            .chunk_size(Some(CHUNK_SIZE))
            .profile(format::PROFILE)
            .library(concat!("fiasco-ipc ", env!("CARGO_PKG_VERSION")))
            .create(Counting::new(BufWriter::new(file), Rc::clone(&written)))?;
        let start = std::time::SystemTime::now();
        let ports = if options.ports.is_empty() {
            "all".to_owned()
        } else {
            let ports: Vec<String> = options.ports.iter().map(u16::to_string).collect();
            ports.join(",")
        };
        writer.write_metadata(&mcap::records::Metadata {
            name: format::METADATA.to_owned(),
            metadata: BTreeMap::from([
                ("game".to_owned(), options.game.clone()),
                ("start_time".to_owned(), httpdate::fmt_http_date(start)),
                (
                    "start_time_ns".to_owned(),
                    crate::recorder::now_ns().to_string(),
                ),
                (
                    "host_version".to_owned(),
                    env!("CARGO_PKG_VERSION").to_owned(),
                ),
                ("ports".to_owned(), ports),
            ]),
        })?;
        let no_metadata = BTreeMap::new();
        let schema = writer.add_schema(format::SCHEMA_EVENT, "jsonschema", EVENT_SCHEMA)?;
        let events = writer.add_channel(schema, format::TOPIC_EVENTS, "json", &no_metadata)?;
        let schema = writer.add_schema(format::SCHEMA_GAP, "jsonschema", GAP_SCHEMA)?;
        let gaps = writer.add_channel(schema, format::TOPIC_GAPS, "json", &no_metadata)?;
        writer.flush()?;
        Ok(Self {
            writer,
            written,
            events,
            gaps,
            channels: HashMap::new(),
            opened: HashSet::new(),
            event_sequence: 0,
        })
    }

    /// The file's size so far (an unfinished chunk is still in memory).
    fn written(&self) -> u64 {
        self.written.get()
    }

    fn write(&mut self, record: Record, counts: &mut Counts) -> mcap::McapResult<()> {
        match record {
            Record::Opened(info) => self.opened(&info),
            Record::Message {
                info,
                sent,
                kind,
                data,
                time,
            } => {
                let (id, sequence) = match self.channels.get_mut(&(info.channel.0, sent, kind)) {
                    Some(entry) => {
                        entry.1 += 1;
                        *entry
                    }
                    None => {
                        // The channel's opening goes before its first message.
                        self.opened(&info)?;
                        let id = self.add_channel(&info, sent, kind, &data)?;
                        self.channels.insert((info.channel.0, sent, kind), (id, 0));
                        (id, 0)
                    }
                };
                counts.messages += 1;
                counts.bytes += data.len() as u64;
                self.writer.write_to_known_channel(
                    &mcap::records::MessageHeader {
                        channel_id: id,
                        sequence,
                        log_time: time,
                        publish_time: time,
                    },
                    &data,
                )
            }
            Record::Closed {
                info,
                closed_by,
                code,
                reason,
                time,
            } => {
                self.opened(&info)?;
                let event = json!({
                    "event": "closed",
                    "channel": info.channel.0,
                    "closed_by": closed_by_name(closed_by),
                    "code": code,
                    "reason": reason,
                });
                self.event(self.events, time, &event)
            }
            Record::Gap(gap) => {
                counts.skipped_messages += gap.messages;
                counts.skipped_bytes += gap.bytes;
                let channels: Vec<_> = gap
                    .channels
                    .iter()
                    .map(|(channel, (messages, bytes))| {
                        json!({"channel": channel, "messages": messages, "bytes": bytes})
                    })
                    .collect();
                let event = json!({
                    "skipped_messages": gap.messages,
                    "skipped_bytes": gap.bytes,
                    "skipped_events": gap.events,
                    "first_ns": gap.first_ns,
                    "last_ns": gap.last_ns,
                    "channels": channels,
                });
                self.event(self.gaps, gap.last_ns, &event)
            }
        }
    }

    /// Writes a channel's opened record, once.
    fn opened(&mut self, info: &ChannelInfo) -> mcap::McapResult<()> {
        if !self.opened.insert(info.channel.0) {
            return Ok(());
        }
        let event = json!({
            "event": "opened",
            "channel": info.channel.0,
            "user_id": info.user_id,
            "port": info.port,
            "path": info.path,
            "origin": info.origin,
            "role": info.role,
            "peer": info.peer.to_string(),
            "link": link_name(info.link),
            "opened_ns": info.opened_ns,
        });
        self.event(self.events, info.opened_ns, &event)
    }

    fn event(
        &mut self,
        channel: u16,
        time: u64,
        event: &serde_json::Value,
    ) -> mcap::McapResult<()> {
        let sequence = self.event_sequence;
        self.event_sequence = self.event_sequence.wrapping_add(1);
        let data = serde_json::to_vec(event).unwrap_or_default();
        self.writer.write_to_known_channel(
            &mcap::records::MessageHeader {
                channel_id: channel,
                sequence,
                log_time: time,
                publish_time: time,
            },
            &data,
        )
    }

    /// A message channel, named and described for any MCAP tool.
    fn add_channel(
        &mut self,
        info: &ChannelInfo,
        sent: bool,
        kind: MessageKind,
        first: &[u8],
    ) -> mcap::McapResult<u16> {
        let direction = if sent { format::SENT } else { format::RECEIVED };
        let encoding = match kind {
            MessageKind::Text if serde_json::from_slice::<serde_json::Value>(first).is_ok() => {
                format::ENCODING_JSON
            }
            MessageKind::Text => format::ENCODING_TEXT,
            MessageKind::Binary => format::ENCODING_BINARY,
        };
        let mut metadata = BTreeMap::from([
            (format::META_CHANNEL.to_owned(), info.channel.0.to_string()),
            (format::META_PORT.to_owned(), info.port.to_string()),
            (format::META_PATH.to_owned(), info.path.clone()),
            (format::META_DIRECTION.to_owned(), direction.to_owned()),
            (format::META_KIND.to_owned(), kind_name(kind).to_owned()),
            (
                format::META_LINK.to_owned(),
                link_name(info.link).to_owned(),
            ),
        ]);
        if let Some(role) = &info.role {
            metadata.insert(format::META_ROLE.to_owned(), role.clone());
        }
        let topic = format::message_topic(info.channel.0, direction, kind_name(kind));
        self.writer.add_channel(0, &topic, encoding, &metadata)
    }
}

const EVENT_SCHEMA: &[u8] = br#"{"type":"object","properties":{"event":{"type":"string","enum":["opened","closed"]},"channel":{"type":"integer"},"user_id":{"type":"integer"},"port":{"type":"integer"},"path":{"type":"string"},"origin":{"type":["string","null"]},"role":{"type":["string","null"]},"peer":{"type":"string"},"link":{"type":"string","enum":["inbound","outbound"]},"opened_ns":{"type":"integer"},"closed_by":{"type":"string"},"code":{"type":"integer"},"reason":{"type":"string"}},"required":["event","channel"]}"#;

const GAP_SCHEMA: &[u8] = br#"{"type":"object","properties":{"skipped_messages":{"type":"integer"},"skipped_bytes":{"type":"integer"},"skipped_events":{"type":"integer"},"first_ns":{"type":"integer"},"last_ns":{"type":"integer"},"channels":{"type":"array","items":{"type":"object","properties":{"channel":{"type":"integer"},"messages":{"type":"integer"},"bytes":{"type":"integer"}}}}}}"#;

/// A writer that knows how far the file reaches.
#[derive(Debug)]
struct Counting<W> {
    inner: W,
    position: u64,
    /// The furthest position written.
    written: Rc<Cell<u64>>,
}

impl<W> Counting<W> {
    fn new(inner: W, written: Rc<Cell<u64>>) -> Self {
        Self {
            inner,
            position: 0,
            written,
        }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.position += written as u64;
        self.written.set(self.written.get().max(self.position));
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Seek> Seek for Counting<W> {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.position = self.inner.seek(position)?;
        Ok(self.position)
    }
}
