//! Between C's borrowed byte strings and FlatBuffers' strings and vectors.

use fiasco::abi::FiascoStr;
use fiasco::flatbuffers::{FlatBufferBuilder, ForwardsUOffset, Vector, WIPOffset};

/// Why an event given by C cannot be built: names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) String);

impl Invalid {
    fn field(field: &str, problem: &str) -> Self {
        Self(format!("{field} {problem}"))
    }
}

/// An absent field: a null pointer and length 0.
pub(crate) const ABSENT: FiascoStr = FiascoStr {
    ptr: std::ptr::null(),
    len: 0,
};

/// A string read from a verified table, for C (absent: null).
pub(crate) fn c_str(text: Option<&str>) -> FiascoStr {
    text.map_or(ABSENT, |text| FiascoStr {
        ptr: text.as_ptr(),
        len: text.len(),
    })
}

/// A byte vector read from a verified table, for C (absent: null).
pub(crate) fn c_bytes(bytes: Option<Vector<'_, u8>>) -> FiascoStr {
    bytes.map_or(ABSENT, |bytes| {
        let bytes = bytes.bytes();
        FiascoStr {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    })
}

/// The bytes C gave for `field`: `None` when absent (null pointer).
///
/// # Safety
/// A non-null `value.ptr` must be valid for `value.len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(value: FiascoStr, field: &str) -> Result<Option<&'a [u8]>, Invalid> {
    if value.ptr.is_null() {
        return if value.len == 0 {
            Ok(None)
        } else {
            Err(Invalid::field(field, "is a null pointer with a length"))
        };
    }
    if value.len > i32::MAX as usize {
        return Err(Invalid::field(
            field,
            "is longer than a FlatBuffer can hold (2 GiB)",
        ));
    }
    // SAFETY: the caller guarantees ptr is valid for len bytes.
    Ok(Some(unsafe {
        std::slice::from_raw_parts(value.ptr, value.len)
    }))
}

/// The text C gave for `field`, checked to be UTF-8 as FlatBuffers strings are.
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn text<'a>(value: FiascoStr, field: &str) -> Result<Option<&'a str>, Invalid> {
    // SAFETY: forwarded from the caller.
    match unsafe { bytes(value, field) }? {
        None => Ok(None),
        Some(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Invalid::field(field, "is not UTF-8")),
    }
}

/// Adds C's string for `field` to `builder` (nothing when absent).
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn add_text<'b>(
    builder: &mut FlatBufferBuilder<'b>,
    value: FiascoStr,
    field: &str,
) -> Result<Option<WIPOffset<&'b str>>, Invalid> {
    // SAFETY: forwarded from the caller.
    Ok(unsafe { text(value, field) }?.map(|text| builder.create_string(text)))
}

/// Adds C's bytes for `field` to `builder` as a `[ubyte]` (nothing when absent).
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn add_bytes<'b>(
    builder: &mut FlatBufferBuilder<'b>,
    value: FiascoStr,
    field: &str,
) -> Result<Option<WIPOffset<Vector<'b, u8>>>, Invalid> {
    // SAFETY: forwarded from the caller.
    Ok(unsafe { bytes(value, field) }?.map(|bytes| fiasco::byte_vector(builder, bytes)))
}

/// C's array of `count` items at `items` for `field`: `None` when `items`
/// is null and `count` 0.
///
/// # Safety
/// A non-null `items` must be valid for `count` values for `'a`.
unsafe fn items<'a, T>(
    items: *const T,
    count: usize,
    field: &str,
) -> Result<Option<&'a [T]>, Invalid> {
    if items.is_null() {
        return if count == 0 {
            Ok(None)
        } else {
            Err(Invalid::field(field, "is a null pointer with a count"))
        };
    }
    // SAFETY: the caller guarantees items is valid for count values.
    Ok(Some(unsafe { std::slice::from_raw_parts(items, count) }))
}

/// Adds C's array of `count` strings at `items` for `field` as a
/// `[string]` (nothing when `items` is null and `count` 0).
///
/// # Safety
/// A non-null `items` must be valid for `count` values, each as for [`bytes`].
pub(crate) unsafe fn add_texts<'b>(
    builder: &mut FlatBufferBuilder<'b>,
    items: *const FiascoStr,
    count: usize,
    field: &str,
) -> Result<Option<WIPOffset<Vector<'b, ForwardsUOffset<&'b str>>>>, Invalid> {
    // SAFETY: forwarded from the caller.
    let Some(items) = (unsafe { self::items(items, count, field) })? else {
        return Ok(None);
    };
    let mut offsets = Vec::with_capacity(items.len());
    for item in items {
        // SAFETY: forwarded from the caller.
        let text = unsafe { text(*item, field) }?.unwrap_or("");
        offsets.push(builder.create_string(text));
    }
    Ok(Some(builder.create_vector(&offsets)))
}

/// Adds C's array of `count` numbers at `items` for `field` as a vector
/// (nothing when `items` is null and `count` 0).
///
/// # Safety
/// A non-null `items` must be valid for `count` values.
pub(crate) unsafe fn add_scalars<'b, T: fiasco::flatbuffers::Push + Copy>(
    builder: &mut FlatBufferBuilder<'b>,
    items: *const T,
    count: usize,
    field: &str,
) -> Result<Option<WIPOffset<Vector<'b, T::Output>>>, Invalid> {
    // SAFETY: forwarded from the caller.
    Ok(unsafe { self::items(items, count, field) }?.map(|items| builder.create_vector(items)))
}

/// Adds C's array of `count` tables at `items` for `field`, each built by
/// `build` (nothing when `items` is null and `count` 0).
///
/// # Safety
/// A non-null `items` must be valid for `count` values; `build` vouches for
/// the pointers inside each.
pub(crate) unsafe fn add_tables<'b, C, T>(
    builder: &mut FlatBufferBuilder<'b>,
    items: *const C,
    count: usize,
    field: &str,
    build: impl Fn(&mut FlatBufferBuilder<'b>, &C) -> Result<WIPOffset<T>, Invalid>,
) -> Result<Option<WIPOffset<Vector<'b, ForwardsUOffset<T>>>>, Invalid> {
    // SAFETY: forwarded from the caller.
    let Some(items) = (unsafe { self::items(items, count, field) })? else {
        return Ok(None);
    };
    let mut offsets = Vec::with_capacity(items.len());
    for item in items {
        offsets.push(build(builder, item)?);
    }
    Ok(Some(builder.create_vector(&offsets)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn absent_and_present_fields_are_told_apart() {
        // SAFETY: null with 0 is the absent field.
        assert_eq!(unsafe { bytes(ABSENT, "f") }, Ok(None));
        let empty = FiascoStr {
            ptr: b"".as_ptr(),
            len: 0,
        };
        // SAFETY: a static empty slice.
        assert_eq!(unsafe { bytes(empty, "f") }, Ok(Some(&b""[..])));
    }

    #[test]
    fn bad_fields_are_named() {
        let dangling = FiascoStr {
            ptr: std::ptr::null(),
            len: 3,
        };
        // SAFETY: a null pointer is checked before use.
        let error = unsafe { bytes(dangling, "token") }.unwrap_err();
        assert_eq!(error.0, "token is a null pointer with a length");
        let latin1 = [0xE9u8];
        let value = FiascoStr {
            ptr: latin1.as_ptr(),
            len: 1,
        };
        // SAFETY: a live one-byte array.
        let error = unsafe { text(value, "reason") }.unwrap_err();
        assert_eq!(error.0, "reason is not UTF-8");
    }
}
