//! How often a listener logs the requests it refuses: a few lines a
//! second, then one summary line per interval with the count of what was
//! not logged, so a flood of bad handshakes cannot fill the disk. The
//! policy ([`LogLimiter`]) is pure; [`Refusals`] is the listener's handle
//! that logs through it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Lines logged per window before the rest are only counted.
pub(crate) const LINES_PER_WINDOW: u32 = 3;
/// The window: at most [`LINES_PER_WINDOW`] lines and one summary each.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// What a refused request is, for the summary's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A Host that is not this loopback listener (403).
    Host,
    /// An Origin not allowed (403).
    Origin,
    /// A missing or wrong token (401), or one answered late.
    Token,
    /// A wrong token from an address with too many answers waiting: closed
    /// at once.
    TokenThrottled,
    /// A malformed handshake or request (400, 405, 426).
    Malformed,
    /// No slot: the port's channels or HTTP connections are full (503).
    Busy,
}

const KINDS: usize = 6;

impl Refusal {
    fn index(self) -> usize {
        self as usize
    }

    fn name(index: usize) -> &'static str {
        [
            "host",
            "origin",
            "token",
            "token-throttled",
            "malformed",
            "busy",
        ][index]
    }
}

/// The pure policy: lines per window, counts of the rest.
#[derive(Debug, Default)]
pub(crate) struct LogLimiter {
    window_start: Option<Instant>,
    lines: u32,
    suppressed: [u64; KINDS],
    summary_pending: bool,
}

/// What to do with one refusal's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Log it.
    Log,
    /// Count it; the first one counted in a window asks for a summary at
    /// this time.
    Count { summary_at: Option<Instant> },
}

impl LogLimiter {
    /// Decides about one refusal at `now`.
    pub(crate) fn admit(&mut self, kind: Refusal, now: Instant) -> Admit {
        let start = match self.window_start {
            Some(start) if now.saturating_duration_since(start) < WINDOW => start,
            _ => {
                self.window_start = Some(now);
                self.lines = 0;
                now
            }
        };
        if self.lines < LINES_PER_WINDOW {
            self.lines += 1;
            return Admit::Log;
        }
        self.suppressed[kind.index()] += 1;
        let summary_at =
            (!std::mem::replace(&mut self.summary_pending, true)).then_some(start + WINDOW);
        Admit::Count { summary_at }
    }

    /// Takes the counts of what was not logged: `(total, "kind N, ...")`.
    pub(crate) fn take_summary(&mut self) -> Option<(u64, String)> {
        self.summary_pending = false;
        let counts = std::mem::take(&mut self.suppressed);
        let total: u64 = counts.iter().sum();
        (total > 0).then(|| {
            let parts: Vec<String> = counts
                .iter()
                .enumerate()
                .filter(|(_, count)| **count > 0)
                .map(|(index, count)| format!("{} {count}", Refusal::name(index)))
                .collect();
            (total, parts.join(", "))
        })
    }
}

/// A listener's refusal log: the limiter behind a lock, and the port.
#[derive(Debug)]
pub(crate) struct Refusals {
    port: u16,
    limiter: Arc<Mutex<LogLimiter>>,
}

impl Refusals {
    pub(crate) fn new(port: u16) -> Self {
        Self {
            port,
            limiter: Arc::default(),
        }
    }

    /// Logs the refusal with `log` if the limiter admits it; else counts it
    /// and, once per window, schedules the summary line (a timer task on
    /// the network thread).
    pub(crate) fn refused(&self, kind: Refusal, log: impl FnOnce()) {
        let admit = self
            .limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .admit(kind, Instant::now());
        match admit {
            Admit::Log => log(),
            Admit::Count { summary_at: None } => {}
            Admit::Count {
                summary_at: Some(at),
            } => {
                let limiter = Arc::clone(&self.limiter);
                let port = self.port;
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    let summary = limiter
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take_summary();
                    if let Some((total, counts)) = summary {
                        tracing::warn!(port, suppressed = total, %counts, "refused {total} more requests in the last second without a line each ({counts})");
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_lines_a_window_then_one_summary() {
        let mut limiter = LogLimiter::default();
        let start = Instant::now();
        for _ in 0..LINES_PER_WINDOW {
            assert_eq!(limiter.admit(Refusal::Origin, start), Admit::Log);
        }
        assert_eq!(
            limiter.admit(Refusal::Origin, start),
            Admit::Count {
                summary_at: Some(start + WINDOW)
            }
        );
        for _ in 0..1000 {
            assert_eq!(
                limiter.admit(Refusal::Token, start + Duration::from_millis(500)),
                Admit::Count { summary_at: None }
            );
        }
        assert_eq!(
            limiter.take_summary(),
            Some((1001, "origin 1, token 1000".to_owned()))
        );
        assert_eq!(limiter.take_summary(), None);
        // A new window logs again.
        assert_eq!(limiter.admit(Refusal::Host, start + WINDOW), Admit::Log);
    }

    #[test]
    fn a_summary_is_asked_for_again_after_it_was_taken() {
        let mut limiter = LogLimiter::default();
        let start = Instant::now();
        for _ in 0..LINES_PER_WINDOW {
            limiter.admit(Refusal::Busy, start);
        }
        assert!(matches!(
            limiter.admit(Refusal::Busy, start),
            Admit::Count {
                summary_at: Some(_)
            }
        ));
        assert!(limiter.take_summary().is_some());
        assert!(matches!(
            limiter.admit(Refusal::Busy, start),
            Admit::Count {
                summary_at: Some(_)
            }
        ));
    }
}
