//! Peer-supplied strings made safe to log or answer with: cut to a few
//! hundred bytes (saying the full length) and escaped, so a 400 KB header
//! costs a log line of a few hundred bytes and no control character reaches
//! a terminal or forges a line. Pure, no I/O.

use std::fmt;

/// Most bytes of a peer's value shown in a log line.
pub(crate) const LOG_CUT: usize = 256;
/// Most bytes of a peer's value shown in an answer's body.
pub(crate) const ANSWER_CUT: usize = 128;

/// Displays at most `cut` bytes of `bytes`, escaped (`\n`, `\x1b`, `\"`,
/// non-ASCII as `\xNN`), followed by `... (N bytes)` when it was cut.
#[derive(Clone, Copy)]
pub(crate) struct Shown<'a> {
    bytes: &'a [u8],
    cut: usize,
}

impl<'a> Shown<'a> {
    /// For a log line: at most [`LOG_CUT`] bytes.
    pub(crate) fn log(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            cut: LOG_CUT,
        }
    }

    /// For an answer's body: at most [`ANSWER_CUT`] bytes.
    pub(crate) fn answer(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            cut: ANSWER_CUT,
        }
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.bytes[..self.bytes.len().min(self.cut)];
        write!(f, "{}", shown.escape_ascii())?;
        if shown.len() < self.bytes.len() {
            write!(f, "... ({} bytes)", self.bytes.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// An optional header value, `-` when absent.
pub(crate) fn header(value: Option<&hyper::header::HeaderValue>) -> String {
    value.map_or_else(
        || "-".to_owned(),
        |value| Shown::log(value.as_bytes()).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_say_their_length() {
        let long = vec![b'a'; 400_000];
        let shown = Shown::log(&long).to_string();
        assert!(shown.len() < LOG_CUT + 32, "{}", shown.len());
        assert!(shown.ends_with("... (400000 bytes)"), "{shown}");
        assert_eq!(Shown::log(b"short").to_string(), "short");
        let answer = Shown::answer(&long).to_string();
        assert!(answer.starts_with(&"a".repeat(ANSWER_CUT)));
        assert!(answer.len() < ANSWER_CUT + 32);
    }

    #[test]
    fn control_characters_are_escaped() {
        let shown = Shown::log(b"evil\n2026-01-01 WARN forged\x1b[2J\"\xff").to_string();
        assert!(
            !shown.bytes().any(|byte| byte.is_ascii_control()),
            "{shown}"
        );
        assert_eq!(shown, "evil\\n2026-01-01 WARN forged\\x1b[2J\\\"\\xff");
    }
}
