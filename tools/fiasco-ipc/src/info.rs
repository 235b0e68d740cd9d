//! `fiasco-ipc record-info FILE`: what a recording holds.

use std::fmt::Write as _;

use fiasco_ipc_core::recording::format;

use crate::list::printable;
use crate::recording::Recording;

/// The summary for people: the file's metadata, its duration, one line per
/// channel (messages and bytes each way, how it ended), and its gaps.
pub(crate) fn summary(recording: &Recording) -> String {
    let meta = |key: &str| printable(recording.metadata.get(key).map_or("?", String::as_str));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "game {}, started {}, host {}, ports {}",
        meta("game"),
        meta("start_time"),
        meta("host_version"),
        meta("ports"),
    );
    let skipped_messages: u64 = recording.gaps.iter().map(|gap| gap.messages).sum();
    let skipped_bytes: u64 = recording.gaps.iter().map(|gap| gap.bytes).sum();
    let skipped_events: u64 = recording.gaps.iter().map(|gap| gap.events).sum();
    let _ = writeln!(
        out,
        "duration {:.3} s, {} channels, {} gaps ({} messages, {} bytes, {} open/close events skipped)",
        recording.duration_s(),
        recording.sessions.len(),
        recording.gaps.len(),
        skipped_messages,
        skipped_bytes,
        skipped_events,
    );
    if let Some(why) = &recording.cut_short {
        let _ = writeln!(
            out,
            "the file ends early (a game killed while recording?): read up to its last complete record ({})",
            printable(why)
        );
    }
    let _ = writeln!(
        out,
        "{:<8} {:<8} {:<6} {:<24} {:<10} {:>9} {:>12} {:>9} {:>12}  CLOSED",
        "CHANNEL", "LINK", "PORT", "PATH", "ROLE", "RECEIVED", "BYTES", "SENT", "BYTES"
    );
    for session in recording.sessions.values() {
        let (received, received_bytes) = session.totals(false);
        let (sent, sent_bytes) = session.totals(true);
        let closed = session.closed.as_ref().map_or_else(
            || "-".to_owned(),
            |closed| {
                format!(
                    "{} {} by {}",
                    closed.code,
                    printable(&closed.reason),
                    closed.by_name()
                )
            },
        );
        let _ = writeln!(
            out,
            "{:<8} {:<8} {:<6} {:<24} {:<10} {:>9} {:>12} {:>9} {:>12}  {}",
            session.channel,
            if session.inbound {
                format::LINK_INBOUND
            } else {
                format::LINK_OUTBOUND
            },
            session.port,
            printable(&session.path),
            printable(session.role.as_deref().unwrap_or("-")),
            received,
            received_bytes,
            sent,
            sent_bytes,
            closed.trim(),
        );
    }
    out
}
