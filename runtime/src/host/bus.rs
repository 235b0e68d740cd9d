//! The event bus: every event written in the last two frames, indexed by
//! kind.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::buffer::Foreign;

/// An event's bytes: copied into a bus buffer, or owned elsewhere and
/// handed over whole (no copy).
enum Payload {
    /// Copied by `write_event`; the buffer returns to the pool when dropped.
    Copied(Vec<u8>),
    /// Handed over by `write_event_owned`, not shared yet.
    Foreign(Foreign),
    /// Shared by `retain_event` (or handed over as `Bytes`).
    Shared(Bytes),
}

impl Payload {
    fn bytes(&self) -> &[u8] {
        match self {
            Payload::Copied(data) => data,
            Payload::Foreign(data) => data.as_ref(),
            Payload::Shared(data) => data,
        }
    }
}

/// One event on the bus.
struct Record {
    seq: u64,
    source: u32,
    data: Payload,
}

/// An event as a reader sees it. `ptr` stays valid until the event is
/// dropped by [`Bus::begin_frame`] (or longer, when retained).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventRef {
    pub(crate) seq: u64,
    pub(crate) source: u32,
    pub(crate) ptr: *const u8,
    pub(crate) len: usize,
}

/// Large copied event buffers are kept for reuse: a stream of big events then
/// costs no allocation (and no page faults) per event. Small ones are cheap
/// to allocate and not pooled.
const POOL_MIN_SIZE: usize = 16 * 1024;
/// At most this many buffers...
const POOL_MAX_BUFFERS: usize = 64;
/// ...and this many bytes are kept.
const POOL_MAX_BYTES: usize = 64 << 20;

/// Events, numbered by a sequence that never goes back, kept in one queue
/// per kind: a reader finds its next event without looking at other kinds.
///
/// Lifetime of an event: written at any point of frame N, it is kept until
/// the start of frame N + 2. Every system runs once a frame, so every reader
/// has passed it by then: each reader sees it exactly once.
#[derive(Default)]
pub(crate) struct Bus {
    /// The sequence number of the next event.
    next_seq: u64,
    /// Per kind id, its events in sequence order.
    kinds: Vec<VecDeque<Record>>,
    /// Sequence number of the first event of the current frame.
    frame_start: u64,
    /// Spare large buffers (see `POOL_MIN_SIZE`).
    pool: Vec<Vec<u8>>,
    pool_bytes: usize,
}

impl Bus {
    /// Whether any event was written since the current frame started.
    pub(crate) fn written_this_frame(&self) -> bool {
        self.next_seq > self.frame_start
    }

    pub(crate) fn end(&self) -> u64 {
        self.next_seq
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kinds.iter().map(VecDeque::len).sum()
    }

    fn queue(&mut self, kind: u32) -> &mut VecDeque<Record> {
        let index = kind as usize;
        if self.kinds.len() <= index {
            self.kinds.resize_with(index + 1, VecDeque::new);
        }
        &mut self.kinds[index]
    }

    fn append(&mut self, kind: u32, source: u32, data: Payload) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue(kind).push_back(Record { seq, source, data });
    }

    /// Writes a copy of `bytes`.
    pub(crate) fn push(&mut self, kind: u32, source: u32, bytes: &[u8]) {
        let mut data = if bytes.len() >= POOL_MIN_SIZE {
            self.take_spare(bytes.len())
        } else {
            Vec::new()
        };
        data.extend_from_slice(bytes);
        self.append(kind, source, Payload::Copied(data));
    }

    /// Writes `bytes` without a copy: the bus holds them for the event's
    /// lifetime.
    #[cfg(test)]
    pub(crate) fn push_owned(&mut self, kind: u32, source: u32, bytes: Bytes) {
        self.append(kind, source, Payload::Shared(bytes));
    }

    /// Writes a buffer a module handed over, without a copy.
    pub(crate) fn push_foreign(&mut self, kind: u32, source: u32, buffer: Foreign) {
        self.append(kind, source, Payload::Foreign(buffer));
    }

    fn take_spare(&mut self, len: usize) -> Vec<u8> {
        match self.pool.iter().position(|buffer| buffer.capacity() >= len) {
            Some(index) => {
                let buffer = self.pool.swap_remove(index);
                self.pool_bytes -= buffer.capacity();
                buffer
            }
            None => Vec::with_capacity(len),
        }
    }

    fn recycle(&mut self, data: Payload) {
        let Payload::Copied(mut buffer) = data else {
            return;
        };
        let capacity = buffer.capacity();
        if capacity >= POOL_MIN_SIZE
            && self.pool.len() < POOL_MAX_BUFFERS
            && self.pool_bytes + capacity <= POOL_MAX_BYTES
        {
            buffer.clear();
            self.pool_bytes += capacity;
            self.pool.push(buffer);
        }
    }

    /// Starts a frame: drops what the frame before the last one wrote.
    pub(crate) fn begin_frame(&mut self) {
        let keep_from = self.frame_start;
        let mut dropped = Vec::new();
        for queue in &mut self.kinds {
            while queue.front().is_some_and(|record| record.seq < keep_from) {
                if let Some(record) = queue.pop_front() {
                    dropped.push(record.data);
                }
            }
        }
        for data in dropped {
            self.recycle(data);
        }
        self.frame_start = self.next_seq;
    }

    /// Drops every event (at shutdown, before module libraries unload).
    pub(crate) fn clear(&mut self) {
        self.kinds.clear();
        self.pool.clear();
        self.pool_bytes = 0;
    }

    /// The next event of `kind` at or after `*cursor`, advancing the cursor
    /// past it (or to the end).
    pub(crate) fn next(&self, kind: u32, cursor: &mut u64) -> Option<EventRef> {
        let found = self.kinds.get(kind as usize).and_then(|queue| {
            // A reader that has seen everything (the last call of every run)
            // is answered without a search.
            if queue.back().is_none_or(|last| last.seq < *cursor) {
                return None;
            }
            let index = queue.partition_point(|record| record.seq < *cursor);
            queue.get(index)
        });
        match found {
            Some(record) => {
                *cursor = record.seq + 1;
                let bytes = record.data.bytes();
                Some(EventRef {
                    seq: record.seq,
                    source: record.source,
                    ptr: bytes.as_ptr(),
                    len: bytes.len(),
                })
            }
            None => {
                *cursor = self.end();
                None
            }
        }
    }

    /// Shares the bytes of event `seq` of `kind` (no copy): they stay valid
    /// for as long as the returned value lives. `None` when the bus no
    /// longer holds the event.
    pub(crate) fn retain(&mut self, kind: u32, seq: u64) -> Option<Bytes> {
        let queue = self.kinds.get_mut(kind as usize)?;
        let index = queue.partition_point(|record| record.seq < seq);
        let record = queue.get_mut(index).filter(|record| record.seq == seq)?;
        // Turning a buffer into `Bytes` keeps its bytes in place, so pointers
        // readers already hold stay valid.
        let shared = match std::mem::replace(&mut record.data, Payload::Copied(Vec::new())) {
            Payload::Copied(data) => Bytes::from(data),
            Payload::Foreign(data) => data.into_bytes(),
            Payload::Shared(data) => data,
        };
        record.data = Payload::Shared(shared.clone());
        Some(shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bus: &Bus, kind: u32, cursor: &mut u64) -> Vec<u8> {
        let mut seen = Vec::new();
        while let Some(event) = bus.next(kind, cursor) {
            assert_eq!(event.len, 1);
            #[allow(unsafe_code)]
            // SAFETY: the bus is not mutated while we read.
            seen.push(unsafe { *event.ptr });
        }
        seen
    }

    #[test]
    fn each_event_is_seen_once_per_cursor_and_kept_two_frames() {
        let mut bus = Bus::default();
        bus.begin_frame();
        bus.push(1, 0, &[10]);
        bus.push(2, 0, &[20]);
        let mut cursor = 0;
        assert_eq!(read_all(&bus, 1, &mut cursor), vec![10]);
        assert_eq!(read_all(&bus, 1, &mut cursor), Vec::<u8>::new());
        bus.push(1, 0, &[11]);
        bus.begin_frame();
        // a late reader still sees last frame's events
        let mut late = 0;
        assert_eq!(read_all(&bus, 1, &mut late), vec![10, 11]);
        assert_eq!(read_all(&bus, 1, &mut cursor), vec![11]);
        let mut other = 0;
        assert_eq!(read_all(&bus, 2, &mut other), vec![20]);
        bus.begin_frame();
        assert_eq!(bus.len(), 0);
        assert_eq!(bus.end(), 3);
    }

    #[test]
    fn kinds_interleave_in_sequence_order() {
        let mut bus = Bus::default();
        bus.begin_frame();
        for i in 0..10u8 {
            bus.push(u32::from(i % 3), 0, &[i]);
        }
        let mut cursor = 0;
        assert_eq!(read_all(&bus, 1, &mut cursor), vec![1, 4, 7]);
        let mut cursor = 5;
        assert_eq!(read_all(&bus, 2, &mut cursor), vec![5, 8]);
        let mut cursor = 0;
        assert_eq!(read_all(&bus, 9, &mut cursor), Vec::<u8>::new());
        assert_eq!(cursor, 10, "an unknown kind moves the cursor to the end");
    }

    #[test]
    fn owned_and_retained_bytes_are_not_copied() {
        let mut bus = Bus::default();
        bus.begin_frame();
        let owned = Bytes::from(vec![3u8; 100]);
        let address = owned.as_ptr();
        bus.push_owned(4, 0, owned);
        bus.push(4, 0, &[9; 50]);
        let mut cursor = 0;
        let first = bus.next(4, &mut cursor).map(|event| (event.seq, event.ptr));
        assert_eq!(first, Some((0, address)));
        let second = bus.next(4, &mut cursor).map(|event| (event.seq, event.ptr));
        let Some((seq, copied_address)) = second else {
            panic!("the second event is on the bus");
        };
        let retained = bus.retain(4, seq);
        assert_eq!(
            retained.as_ref().map(|bytes| bytes.as_ptr()),
            Some(copied_address)
        );
        assert_eq!(bus.retain(4, 0).map(|bytes| bytes.as_ptr()), Some(address));
        assert!(bus.retain(4, 7).is_none());
        bus.begin_frame();
        bus.begin_frame();
        assert_eq!(bus.len(), 0);
        assert_eq!(
            retained.as_deref(),
            Some(&[9u8; 50][..]),
            "outlives the bus"
        );
    }

    #[test]
    fn large_buffers_are_reused_within_the_pool_limits() {
        let mut bus = Bus::default();
        let big = vec![1u8; POOL_MIN_SIZE];
        for _ in 0..3 {
            bus.begin_frame();
            bus.push(1, 0, &big);
            bus.push(1, 0, &[1]);
        }
        // Frame 3 reused frame 1's big buffer.
        assert_eq!(bus.pool.len(), 0);
        bus.begin_frame();
        bus.begin_frame();
        assert_eq!(
            bus.pool.len(),
            2,
            "big buffers return to the pool, small ones do not"
        );
        assert!(bus.pool_bytes <= POOL_MAX_BYTES);
        let mut cursor = 0;
        bus.push(1, 0, &big);
        let len = bus.next(1, &mut cursor).map_or(0, |event| event.len);
        assert_eq!(len, POOL_MIN_SIZE);
        assert_eq!(bus.pool.len(), 1, "a spare buffer was taken");
    }
}
