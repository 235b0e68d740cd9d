//! Events of the runtime's tests, generated from `test_events.fbs`.

fiasco::generated_module!(test_events_generated);

pub use test_events_generated::fiasco::test::*;

fiasco::event_kinds! {
    Request => "fiasco.test.Request",
    Reply => "fiasco.test.Reply",
}

/// Appends a line to the file named by the module's `out` configuration.
pub fn record(path: &str, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}
