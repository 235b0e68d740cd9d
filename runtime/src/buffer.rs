//! Owned buffers across the C ABI: [`Bytes`] on either side,
//! [`FiascoBuffer`] in between.
#![allow(unsafe_code)]

use std::ffi::c_void;

use bytes::Bytes;

use crate::abi::FiascoBuffer;

/// Hands `bytes` over as a [`FiascoBuffer`]; its `release` drops them.
pub(crate) fn into_abi(bytes: Bytes) -> FiascoBuffer {
    let (ptr, len) = (bytes.as_ptr(), bytes.len());
    FiascoBuffer {
        ptr,
        len,
        owner: Box::into_raw(Box::new(bytes)).cast(),
        release: Some(release_bytes),
    }
}

/// The `release` of a buffer made by [`into_abi`].
unsafe extern "C" fn release_bytes(owner: *mut c_void) {
    if !owner.is_null() {
        // SAFETY: `owner` came from `Box::into_raw` in `into_abi`, and the ABI
        // releases each buffer once.
        drop(unsafe { Box::from_raw(owner.cast::<Bytes>()) });
    }
}

/// A buffer received over the ABI; released when dropped.
pub(crate) struct Foreign(FiascoBuffer);

// SAFETY: the ABI requires a buffer's bytes to stay unchanged until released
// and its `release` to be callable from any thread.
unsafe impl Send for Foreign {}

impl AsRef<[u8]> for Foreign {
    fn as_ref(&self) -> &[u8] {
        if self.0.ptr.is_null() || self.0.len == 0 {
            return &[];
        }
        // SAFETY: the owner guarantees `len` readable bytes until release,
        // which happens only in our drop.
        unsafe { std::slice::from_raw_parts(self.0.ptr, self.0.len) }
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        if let Some(release) = self.0.release {
            // SAFETY: released once, here; callable from any thread.
            unsafe { release(self.0.owner) };
        }
    }
}

/// Takes ownership of a buffer received over the ABI.
///
/// # Safety
/// `buffer` must follow the [`FiascoBuffer`] contract: `len` readable bytes
/// at `ptr` (or null and 0) that stay unchanged until `release` is called,
/// and a `release` callable once from any thread.
pub(crate) unsafe fn from_abi(buffer: FiascoBuffer) -> Bytes {
    // SAFETY: guaranteed by the caller.
    Bytes::from_owner(unsafe { Foreign::new(buffer) })
}

impl Foreign {
    /// Takes ownership of a buffer received over the ABI.
    ///
    /// # Safety
    /// As [`from_abi`].
    pub(crate) unsafe fn new(buffer: FiascoBuffer) -> Self {
        Self(buffer)
    }

    /// Shares the buffer as [`Bytes`] (its bytes stay where they are).
    pub(crate) fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_survive_the_round_trip_without_a_copy() {
        let original = Bytes::from(vec![7u8; 1000]);
        let address = original.as_ptr();
        // SAFETY: made by into_abi, which follows the contract.
        let back = unsafe { from_abi(into_abi(original)) };
        assert_eq!(back.as_ptr(), address, "same bytes, not a copy");
        assert_eq!(back.len(), 1000);
        let other = std::thread::spawn(move || back.iter().map(|&b| u64::from(b)).sum::<u64>());
        assert_eq!(other.join().ok(), Some(7000));
    }
}
