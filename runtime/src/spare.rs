//! Spare builder buffers for big events.
//!
//! A big event leaves its writer's `FlatBufferBuilder` whole: the builder's
//! buffer goes to the bus (no copy), and the writer goes on with a spare
//! buffer from this pool. When the bus (or a thread that shared the event)
//! drops the event, its buffer is zeroed, on whichever thread drops it, and
//! comes back here: a stream of big events costs no allocation and no copy
//! on the game thread.

use bytes::Bytes;

use crate::recycle::BufferPool;

/// Events at least this big are handed to the bus whole; smaller ones are
/// cheaper to copy than to hand over.
pub(crate) const OWNED_MIN_SIZE: usize = 64 * 1024;
/// At most 8 spare buffers and 64 MiB are kept.
static POOL: BufferPool = BufferPool::new(8, 64 << 20);

/// A zeroed buffer for a new builder (empty when the pool is). Buffers
/// come from builders, which write from the end down: a buffer's bytes
/// before its `head` were never written since it was last zeroed.
pub(crate) fn take() -> Vec<u8> {
    POOL.take(0).unwrap_or_default()
}

/// Returns a buffer whose bytes before `written` are still zero (a builder
/// writes from the end): only the written part is zeroed again.
fn give(mut buffer: Vec<u8>, written: usize) {
    // A builder needs zeroed memory (as after its `reset`).
    if let Some(dirty) = buffer.get_mut(written..) {
        dirty.fill(0);
    }
    POOL.give(buffer);
}

/// A finished builder buffer; its bytes start at `head`.
struct Finished {
    buffer: Vec<u8>,
    head: usize,
}

impl AsRef<[u8]> for Finished {
    fn as_ref(&self) -> &[u8] {
        self.buffer.get(self.head..).unwrap_or_default()
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.buffer), self.head);
    }
}

/// The finished event in `buffer[head..]`, as bytes whose buffer returns to
/// the pool when the last of them drops.
pub(crate) fn into_bytes(buffer: Vec<u8>, head: usize) -> Bytes {
    Bytes::from_owner(Finished { buffer, head })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_buffer_comes_back_zeroed() {
        let mut buffer = vec![0u8; 128 * 1024];
        buffer[100..].fill(5);
        let bytes = into_bytes(buffer, 100);
        assert_eq!(bytes.len(), 128 * 1024 - 100);
        drop(bytes);
        let buffer = take();
        assert_eq!(buffer.len(), 128 * 1024);
        assert!(buffer.iter().all(|&b| b == 0));
    }
}
