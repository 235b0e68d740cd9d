//! What every event table's C form offers the four C functions
//! (the forms themselves are generated: `generated.rs`).

use crate::convert::Invalid;
use fiasco::flatbuffers::{FlatBufferBuilder, InvalidFlatbuffer, UnionWIPOffset, WIPOffset};

/// An ipc.fbs table in its C form.
pub(crate) trait CEvent: Sized {
    /// The table's kind name on the bus.
    const NAME: &'static str;
    /// A number of its own, so a reader knows which kind it was bound to.
    const INDEX: u32;

    /// Verifies `data` as this table and fills the C form, borrowing `data`.
    fn read(data: &[u8]) -> Result<Self, InvalidFlatbuffer>;

    /// Builds the table from the C form.
    ///
    /// # Safety
    /// Every non-null pointer in `self` is valid for its length.
    unsafe fn build(
        &self,
        builder: &mut FlatBufferBuilder<'_>,
    ) -> Result<WIPOffset<UnionWIPOffset>, Invalid>;
}
