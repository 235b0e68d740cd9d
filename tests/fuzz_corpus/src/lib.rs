//! Nothing but its tests: `tests/replay.rs` feeds every input of the
//! checked-in fuzz corpora (`fuzz/corpus/TARGET/`) to its fuzz target, so
//! `cargo test` checks in seconds that no input ever found (a seed, or a
//! crash saved there once fixed) panics again. Live fuzzing, which finds
//! new inputs, is `scripts/fuzz SECONDS` (AFL++).
