//! FlatBuffers built around a payload with one copy of it and no zeroing.
//!
//! A `FlatBufferBuilder` writes into zeroed memory (its padding and
//! vtables count on it), so a big event built in one costs a zeroing of its
//! buffer besides the copy, and `create_vector` copies bytes one by one.
//! For the common case of a table whose one large field is a `[ubyte]`
//! vector (a message's content), [`build_with_bytes`] builds the table with
//! an *empty* vector in a small builder kept by the thread: a builder
//! writes back to front, so that vector, made first, ends the buffer with
//! its 4-byte length last. The event is that head with the length set and
//! the payload appended: a valid FlatBuffer (offsets point forward, nothing
//! before the payload moves, every field keeps its alignment), checked by
//! the verifier in the tests. Large events' buffers are recycled.

use std::cell::RefCell;

use bytes::Bytes;
use flatbuffers::{FlatBufferBuilder, Vector, WIPOffset};

use crate::recycle;

thread_local! {
    static HEAD: RefCell<FlatBufferBuilder<'static>> =
        RefCell::new(FlatBufferBuilder::with_capacity(1024));
}

/// Builds a finished FlatBuffer whose root table `build` makes, given the
/// offset of a `[ubyte]` vector holding `payload`, with one copy of the
/// payload. `build` must use that vector for exactly one field and should
/// make nothing else large. `None` when the payload is over 4 GiB, or when
/// called from inside another `build_with_bytes` on the same thread.
///
/// ```
/// use fiasco::flatbuffers::Vector;
///
/// // A bare vector as the root, for the example; agents build a table.
/// let event = fiasco::build_with_bytes(b"hello", |_, content| content);
/// let event = event.unwrap_or_default();
/// let read = fiasco::flatbuffers::root::<Vector<'_, u8>>(&event);
/// assert_eq!(read.map(|vector| vector.bytes()).ok(), Some(&b"hello"[..]));
/// ```
pub fn build_with_bytes<U>(
    payload: &[u8],
    build: impl FnOnce(&mut FlatBufferBuilder<'static>, WIPOffset<Vector<'static, u8>>) -> WIPOffset<U>,
) -> Option<Bytes> {
    let len = u32::try_from(payload.len()).ok()?;
    HEAD.with(|builder| {
        let mut builder = builder.try_borrow_mut().ok()?;
        builder.reset();
        let vector = builder.create_vector::<u8>(&[]);
        let root = build(&mut builder, vector);
        builder.finish_minimal(root);
        let head = builder.finished_data();
        // The empty vector must be the last 4 bytes (its offset counts from
        // the buffer's end): anything else is not this layout.
        let length_at = head.len().checked_sub(4)?;
        if vector.value() != 4 || head[length_at..] != [0; 4] {
            return None;
        }
        let mut event = recycle::buffer(head.len() + payload.len());
        event.extend_from_slice(&head[..length_at]);
        event.extend_from_slice(&len.to_le_bytes());
        event.extend_from_slice(payload);
        Some(recycle::into_bytes(event))
    })
}

/// Where the payload starts in an event [`build_with_bytes`] made of a
/// payload of `len` bytes: it ends the event.
pub fn payload_range(event: &Bytes, len: usize) -> Option<std::ops::Range<usize>> {
    let start = event.len().checked_sub(len)?;
    Some(start..event.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verified_vector_is_the_payload_whatever_its_length() {
        for len in [0usize, 1, 3, 4, 5, 63, 4096, 65_536, 1 << 20] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let event = build_with_bytes(&payload, |_, content| content)
                .unwrap_or_else(|| panic!("{len}: not built"));
            let read = flatbuffers::root::<Vector<'_, u8>>(&event).map(|v| v.bytes());
            assert_eq!(read.ok(), Some(&payload[..]), "{len}");
            let range = payload_range(&event, len).unwrap_or_default();
            assert_eq!(&event[range], &payload[..], "{len}");
        }
    }

    #[test]
    fn a_nested_call_is_refused_not_a_panic() {
        let inner = build_with_bytes(b"x", |builder, content| {
            assert!(build_with_bytes(b"y", |_, c| c).is_none());
            let _ = builder;
            content
        });
        assert!(inner.is_some());
    }
}
