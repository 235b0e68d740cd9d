//! The network thread's side of a recording: the switch every channel's
//! [`Tap`] looks at, and the byte-budgeted queue to the writer thread
//! (`record_writer`). A tap costs one atomic load while nothing records;
//! while something does, a message costs two uncontended locks and a
//! reference to its bytes, never a copy.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::SystemTime;

use bytes::Bytes;

use crate::bridge::{EventQueue, NetEvent};
use crate::recording::{format::RECORD_OVERHEAD, RecordOptions, RecordState, RecordStatus};
use crate::types::{ChannelId, ClosedBy, Direction, Event, MessageKind};

/// Nanoseconds since the Unix epoch: a record's log time.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// What the file says of a channel, shared by all its records.
#[derive(Debug)]
pub(crate) struct ChannelInfo {
    pub(crate) channel: ChannelId,
    pub(crate) user_id: u64,
    pub(crate) port: u16,
    pub(crate) peer: SocketAddr,
    /// Path and query, without a token.
    pub(crate) path: String,
    pub(crate) origin: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) link: Direction,
    pub(crate) opened_ns: u64,
}

/// One thing to write.
#[derive(Debug)]
pub(crate) enum Record {
    Opened(Arc<ChannelInfo>),
    Message {
        info: Arc<ChannelInfo>,
        /// Sent by the host (else received).
        sent: bool,
        kind: MessageKind,
        data: Bytes,
        time: u64,
    },
    Closed {
        info: Arc<ChannelInfo>,
        closed_by: ClosedBy,
        code: u16,
        reason: String,
        time: u64,
    },
    Gap(Gap),
}

impl Record {
    /// What the record counts against the budget.
    pub(crate) fn size(&self) -> usize {
        RECORD_OVERHEAD
            + match self {
                Record::Message { data, .. } => data.len(),
                Record::Closed { reason, .. } => reason.len(),
                Record::Opened(_) | Record::Gap(_) => 0,
            }
    }
}

/// What the queue skipped since the last record that fit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Gap {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    /// Opened and closed records skipped.
    pub(crate) events: u64,
    pub(crate) first_ns: u64,
    pub(crate) last_ns: u64,
    /// Per channel: messages and bytes skipped.
    pub(crate) channels: BTreeMap<u64, (u64, u64)>,
}

impl Gap {
    fn is_empty(&self) -> bool {
        self.messages == 0 && self.events == 0
    }

    fn add(&mut self, record: &Record) {
        let time = match record {
            Record::Message { time, .. } | Record::Closed { time, .. } => *time,
            Record::Opened(info) => info.opened_ns,
            Record::Gap(_) => return,
        };
        if self.is_empty() {
            self.first_ns = time;
        }
        self.last_ns = time;
        match record {
            Record::Message { info, data, .. } => {
                self.messages += 1;
                self.bytes += data.len() as u64;
                let counts = self.channels.entry(info.channel.0).or_default();
                counts.0 += 1;
                counts.1 += data.len() as u64;
            }
            _ => self.events += 1,
        }
    }
}

/// The queue between the network thread and the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(crate) records: Vec<Record>,
    /// What `records` counts against the budget.
    pub(crate) bytes: usize,
    /// Skipped since the last record that fit.
    pub(crate) gap: Gap,
    /// The writer is idle (the queue was empty): the next record wakes it.
    pub(crate) waiting: bool,
    /// The queue reached a quarter of its budget and the writer was woken
    /// for it (once a batch).
    pub(crate) urged: bool,
    /// Set when the recording ends: nothing more is queued.
    pub(crate) stop: Option<String>,
}

/// One recording: its options, the queue and the writer's wake-up.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) user_id: u64,
    pub(crate) options: RecordOptions,
    pub(crate) queue: Mutex<Queue>,
    pub(crate) wake: Condvar,
    /// The recorders' flag: cleared when this recording stops, however it
    /// stops (a request, a limit, an error), so the taps stop at once.
    active: Arc<AtomicBool>,
}

impl Recording {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a record, or counts it in the gap when the budget has no
    /// room for it.
    fn push(&self, record: Record) {
        let size = record.size();
        let mut queue = self.lock();
        if queue.stop.is_some() {
            return;
        }
        if queue.bytes + size > self.options.budget {
            queue.gap.add(&record);
            return;
        }
        if !queue.gap.is_empty() {
            let gap = Record::Gap(std::mem::take(&mut queue.gap));
            queue.bytes += gap.size();
            queue.records.push(gap);
        }
        queue.bytes += size;
        queue.records.push(record);
        // At most two wake-ups a batch: when the writer is idle, and when
        // the queue is a quarter full.
        let urge = queue.bytes >= self.options.budget / 4 && !queue.urged;
        if std::mem::take(&mut queue.waiting) || urge {
            queue.urged |= urge;
            self.wake.notify_one();
        }
    }

    /// Ends the recording: the writer drains what is queued and finishes
    /// the file. The first reason given stays.
    pub(crate) fn stop(&self, reason: &str) {
        let mut queue = self.lock();
        if queue.stop.is_none() {
            queue.stop = Some(reason.to_owned());
        }
        self.active.store(false, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Whether and where the host records; shared by every channel's tap.
#[derive(Debug, Default)]
pub(crate) struct Recorders {
    /// Set while a recording runs: the taps' one check.
    active: Arc<AtomicBool>,
    current: Mutex<Option<(Arc<Recording>, JoinHandle<()>)>>,
}

impl Recorders {
    fn current(&self) -> MutexGuard<'_, Option<(Arc<Recording>, JoinHandle<()>)>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands a record to the running recording, if it takes the port.
    fn record(&self, port: u16, record: impl FnOnce() -> Record) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        if let Some((recording, _)) = self.current().as_ref() {
            if recording.options.records_port(port) {
                recording.push(record());
            }
        }
    }

    /// Starts recording: opens the file (never over an existing one) and
    /// starts the writer thread. The answer, `Recording` or `Failed`, goes
    /// to `events`; so does the recording's end.
    pub(crate) fn start(&self, user_id: u64, options: RecordOptions, events: &Arc<EventQueue>) {
        let status = |state| RecordStatus::new(user_id, options.path.clone(), state);
        let mut current = self.current();
        if let Some((recording, thread)) = current.take() {
            if recording.lock().stop.is_none() {
                let error = format!(
                    "already recording to {}; stop that recording first",
                    recording.options.path.display()
                );
                *current = Some((recording, thread));
                events.push(NetEvent::Event(Event::RecordStatus(status(
                    RecordState::Failed { error },
                ))));
                return;
            }
            // It ended by itself (a limit, an error): its thread is done
            // or finishing.
            drop(thread.join());
        }
        if options.budget == 0 {
            let error = "cannot record with a budget of 0 bytes".to_owned();
            events.push(NetEvent::Event(Event::RecordStatus(status(
                RecordState::Failed { error },
            ))));
            return;
        }
        let started = crate::record_writer::open(&options.path).and_then(|file| {
            let recording = Arc::new(Recording {
                user_id,
                options: options.clone(),
                queue: Mutex::default(),
                wake: Condvar::new(),
                active: Arc::clone(&self.active),
            });
            let thread =
                crate::record_writer::spawn(file, Arc::clone(&recording), Arc::clone(events))?;
            Ok((recording, thread))
        });
        let state = match started {
            Ok(running) => {
                tracing::info!(path = %options.path.display(), "recording IPC sessions");
                *current = Some(running);
                self.active.store(true, Ordering::Release);
                RecordState::Recording
            }
            Err(error) => {
                let error = format!("cannot record to {}: {error}", options.path.display());
                tracing::warn!("{error}");
                RecordState::Failed { error }
            }
        };
        events.push(NetEvent::Event(Event::RecordStatus(status(state))));
    }

    /// Stops the recording (for `user_id`, or any when `None`) and, when
    /// `wait`, waits until its file is complete. Returns false when there
    /// was none to stop.
    pub(crate) fn stop(&self, user_id: Option<u64>, reason: &str, wait: bool) -> bool {
        let mut current = self.current();
        let Some((recording, _)) = current.as_ref() else {
            return false;
        };
        if user_id.is_some_and(|user_id| user_id != recording.user_id) {
            return false;
        }
        recording.stop(reason);
        if wait {
            if let Some((_, thread)) = current.take() {
                if thread.join().is_err() {
                    tracing::error!("the IPC recorder thread panicked");
                }
            }
        }
        true
    }
}

/// A channel's view of the recorders.
#[derive(Debug, Clone)]
pub(crate) struct Tap {
    recorders: Arc<Recorders>,
    info: Arc<ChannelInfo>,
}

impl Tap {
    pub(crate) fn new(recorders: Arc<Recorders>, info: ChannelInfo) -> Self {
        Self {
            recorders,
            info: Arc::new(info),
        }
    }

    /// The channel opened.
    pub(crate) fn opened(&self) {
        self.recorders
            .record(self.info.port, || Record::Opened(Arc::clone(&self.info)));
    }

    /// A message received whole, or one starting onto the socket.
    pub(crate) fn message(&self, sent: bool, kind: MessageKind, data: &Bytes) {
        self.recorders.record(self.info.port, || Record::Message {
            info: Arc::clone(&self.info),
            sent,
            kind,
            data: data.clone(),
            time: now_ns(),
        });
    }

    /// The channel ended.
    pub(crate) fn closed(&self, closed_by: ClosedBy, code: u16, reason: &str) {
        self.recorders.record(self.info.port, || Record::Closed {
            info: Arc::clone(&self.info),
            closed_by,
            code,
            reason: reason.to_owned(),
            time: now_ns(),
        });
    }
}
