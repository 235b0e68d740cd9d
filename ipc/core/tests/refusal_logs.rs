//! What a flood of refused handshakes costs the game's log and its answers:
//! peer values cut to 256 bytes and escaped, a few lines a second, one
//! summary line with the count of the rest; short answers that never echo a
//! header whole.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{raw_exchange, status_of, upgrade_request, Game, Mode};
use fiasco_ipc_core::ListenOptions;

/// The log, as the game would write it to a file.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn a_flood_of_refusals_costs_a_few_lines_and_one_summary() {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    // An Origin of 30 KB (as large as a request head may be) with a tab
    // and bytes beyond ASCII in it (hyper refuses other control bytes).
    let origin = format!("https://evil.example/\t\u{e9}{}", "a".repeat(30_000));
    let request = upgrade_request(address, "/", &format!("Origin: {origin}\r\n"));
    let before = log.text().len();
    let started = Instant::now();
    let mut refusals = 0;
    while refusals < 200 {
        let answer = raw_exchange(address, &request);
        assert_eq!(
            status_of(&answer),
            403,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        assert!(
            answer.len() < 1024 + 512,
            "answer of {} bytes",
            answer.len()
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(text.contains("x-content-type-options: nosniff"), "{text}");
        assert_eq!(text.matches("evil.example").count(), 1, "{text}");
        refusals += 1;
    }
    let elapsed = started.elapsed();
    // Wait for the summary line: it comes at the end of the window.
    let deadline = Instant::now() + common::WAIT;
    while !log.text().contains("without a line each") {
        assert!(Instant::now() < deadline, "no summary line: {}", log.text());
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = log.text();
    let grown = text.len() - before;
    let lines: Vec<&str> = text[before..].lines().collect();
    let refusal_lines = lines
        .iter()
        .filter(|line| line.contains("refused: Origin"))
        .count();
    let seconds = elapsed.as_secs() + 2;
    assert!(
        refusal_lines as u64 <= 3 * seconds,
        "{refusal_lines} lines in {elapsed:?}"
    );
    assert!(
        grown < 4096 * seconds as usize,
        "{grown} bytes of log for 200 refusals"
    );
    assert!(
        !text.contains('\t') && !text.contains('\u{e9}'),
        "raw bytes reached the log"
    );
    assert!(text.contains("evil.example/\\t\\xc3\\xa9aaa"), "escaped");
    assert!(
        text.contains(&format!("({} bytes)", origin.len())),
        "the full length is said"
    );
    let summary = lines
        .iter()
        .find(|line| line.contains("without a line each"))
        .unwrap();
    assert!(summary.contains("origin"), "{summary}");

    // A Host of 30 KB: cut in the log too.
    let host = "h".repeat(30_000);
    let answer = raw_exchange(
        address,
        format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&answer), 403);
    assert!(
        !log.text().contains(&"h".repeat(300)),
        "a Host logged whole"
    );

    // A head beyond max_request_head (32 KiB) is refused by the parser
    // (431) and never logged or echoed.
    let huge = upgrade_request(
        address,
        "/",
        &format!("Origin: {}\r\n", "b".repeat(300_000)),
    );
    let answer = raw_exchange(address, &huge);
    assert!(
        matches!(status_of(&answer), 431 | 0),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(!String::from_utf8_lossy(&answer).contains("bbbb"));
    assert!(!log.text().contains(&"b".repeat(300)));

    // A short token is worth a warning when its port opens; a long one not.
    let mut short = ListenOptions::default();
    short.token = Some("short".to_owned());
    let short_port = game.listen(2, 0, short).port();
    let mut long = ListenOptions::default();
    long.token = Some("0123456789abcdef0123456789abcdef".to_owned());
    let long_port = game.listen(3, 0, long).port();
    let text = log.text();
    let warned = |port: u16| {
        text.lines().any(|line| {
            line.contains("the port's token is short") && line.contains(&format!(":{port}"))
        })
    };
    assert!(warned(short_port), "no warning for a 5-byte token");
    assert!(!warned(long_port), "a warning for a 32-byte token");
}
