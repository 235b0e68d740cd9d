//! Benchmarks live in `benches/`; see `scripts/bench`.
