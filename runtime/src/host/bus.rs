//! The event bus: every event written in the last two frames.

use std::collections::VecDeque;

/// One event on the bus.
struct Record {
    kind: u32,
    source: u32,
    data: Vec<u8>,
}

/// Large event buffers are kept for reuse: a stream of big messages then
/// costs no allocation (and no page faults) per event. Small ones are cheap
/// to allocate and not pooled.
const POOL_MIN_SIZE: usize = 16 * 1024;
/// At most this many buffers...
const POOL_MAX_BUFFERS: usize = 64;
/// ...and this many bytes are kept.
const POOL_MAX_BYTES: usize = 64 << 20;

/// Events, numbered by a sequence that never goes back.
///
/// Lifetime of an event: written at any point of frame N, it is kept until
/// the start of frame N + 2. Every system runs once a frame, so every reader
/// has passed it by then: each reader sees it exactly once.
#[derive(Default)]
pub(crate) struct Bus {
    /// Sequence number of `records[0]`.
    base: u64,
    records: VecDeque<Record>,
    /// Sequence number of the first event of the current frame.
    frame_start: u64,
    /// Spare large buffers (see `POOL_MIN_SIZE`).
    pool: Vec<Vec<u8>>,
    pool_bytes: usize,
}

impl Bus {
    /// Whether any event was written since the current frame started.
    pub(crate) fn written_this_frame(&self) -> bool {
        self.end() > self.frame_start
    }

    pub(crate) fn end(&self) -> u64 {
        self.base + self.records.len() as u64
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn push(&mut self, kind: u32, source: u32, bytes: &[u8]) {
        let mut data = if bytes.len() >= POOL_MIN_SIZE {
            self.take_spare(bytes.len())
        } else {
            Vec::new()
        };
        data.extend_from_slice(bytes);
        self.records.push_back(Record { kind, source, data });
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

    fn recycle(&mut self, mut buffer: Vec<u8>) {
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
        let drop = (keep_from.saturating_sub(self.base) as usize).min(self.records.len());
        for _ in 0..drop {
            if let Some(record) = self.records.pop_front() {
                self.recycle(record.data);
            }
        }
        self.base += drop as u64;
        self.frame_start = self.end();
    }

    /// The next event of `kind` at or after `*cursor`, advancing the cursor
    /// past it (or to the end). The returned slice stays valid until the
    /// event is dropped by [`Bus::begin_frame`].
    pub(crate) fn next(&self, kind: u32, cursor: &mut u64) -> Option<(u32, *const u8, usize)> {
        let start = (*cursor).max(self.base);
        let from = (start - self.base) as usize;
        for (offset, record) in self.records.iter().enumerate().skip(from) {
            if record.kind == kind {
                *cursor = self.base + offset as u64 + 1;
                return Some((record.source, record.data.as_ptr(), record.data.len()));
            }
        }
        *cursor = self.end();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bus: &Bus, kind: u32, cursor: &mut u64) -> Vec<u8> {
        let mut seen = Vec::new();
        while let Some((_, ptr, len)) = bus.next(kind, cursor) {
            assert_eq!(len, 1);
            #[allow(unsafe_code)]
            // SAFETY: the bus is not mutated while we read.
            seen.push(unsafe { *ptr });
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
        bus.begin_frame();
        assert_eq!(bus.len(), 0);
        assert_eq!(bus.end(), 3);
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
        let (_, _, len) = bus.next(1, &mut cursor).unwrap_or((0, std::ptr::null(), 0));
        assert_eq!(len, POOL_MIN_SIZE);
        assert_eq!(bus.pool.len(), 1, "a spare buffer was taken");
    }
}
