//! Buffers of large inbound events, used again: a stream of big messages
//! then costs no fresh memory (a fresh megabyte is a page fault per 4 KiB
//! on first touch, which costs more than the copy into it). An event's
//! buffer comes back here when the last view of it drops; the pool keeps at
//! most 4 buffers and 16 MiB, and nothing else.

use std::sync::Mutex;

use bytes::Bytes;

/// Events smaller than this are allocated as they come (cheap).
pub(crate) const RECYCLE_FROM: usize = 64 * 1024;

/// A bounded pool of byte buffers, kept for reuse (also by the builders'
/// spare buffers, `spare.rs`).
pub(crate) struct BufferPool {
    inner: Mutex<Pooled>,
    max_buffers: usize,
    max_bytes: usize,
}

struct Pooled {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl BufferPool {
    /// A pool keeping at most `max_buffers` buffers and `max_bytes` bytes
    /// of their capacity.
    pub(crate) const fn new(max_buffers: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Pooled {
                buffers: Vec::new(),
                bytes: 0,
            }),
            max_buffers,
            max_bytes,
        }
    }

    /// A kept buffer of at least `capacity`, if there is one (the most
    /// recently kept that fits).
    pub(crate) fn take(&self, capacity: usize) -> Option<Vec<u8>> {
        let mut pool = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The most recently kept first: its memory is the likeliest to be
        // in the cache still.
        let at = pool
            .buffers
            .iter()
            .rposition(|buffer| buffer.capacity() >= capacity)?;
        let buffer = pool.buffers.swap_remove(at);
        pool.bytes -= buffer.capacity();
        Some(buffer)
    }

    /// Keeps `buffer` if there is room; else frees it.
    pub(crate) fn give(&self, buffer: Vec<u8>) {
        let mut pool = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.buffers.len() < self.max_buffers && pool.bytes + buffer.capacity() <= self.max_bytes
        {
            pool.bytes += buffer.capacity();
            pool.buffers.push(buffer);
        }
    }
}

/// At most 4 buffers and 16 MiB wait for reuse.
static POOL: BufferPool = BufferPool::new(4, 16 << 20);

/// An empty buffer with room for `len` bytes: one from the pool when it
/// has one big enough, else a new one.
pub(crate) fn buffer(len: usize) -> Vec<u8> {
    if len >= RECYCLE_FROM {
        if let Some(mut buffer) = POOL.take(len) {
            buffer.clear();
            return buffer;
        }
    }
    Vec::with_capacity(len)
}

/// The event's bytes, going back to the pool when the last view of them
/// is dropped.
pub(crate) fn into_bytes(buffer: Vec<u8>) -> Bytes {
    if buffer.capacity() < RECYCLE_FROM {
        return Bytes::from(buffer);
    }
    Bytes::from_owner(Recycled(buffer))
}

struct Recycled(Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        POOL.give(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_buffer_comes_back_and_is_used_again() {
        let mut first = buffer(1 << 20);
        first.extend_from_slice(&[1; 1 << 20]);
        let address = first.as_ptr() as usize;
        let bytes = into_bytes(first);
        let view = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(&view[..], &[1; 10], "a view keeps it alive");
        drop(view);
        // Other tests may use the pool too: look for ours among a few.
        let again: Vec<_> = (0..4).map(|_| buffer(1 << 20)).collect();
        assert!(again
            .iter()
            .any(|b| b.as_ptr() as usize == address && b.is_empty()));
    }

    #[test]
    fn small_buffers_are_not_kept() {
        let bytes = into_bytes(vec![0; 100]);
        assert_eq!(bytes.len(), 100);
    }
}
