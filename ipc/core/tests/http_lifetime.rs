//! HTTP connections that never upgrade over real sockets: a keep-alive
//! connection ends at its lifetime whatever it sends, and one that does not
//! read its answers is dropped at the write timeout. (Exact timings are in
//! the paused-clock tests, `ipc/core/src/http_tests.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Game, Mode};
use fiasco_ipc_core::ListenOptions;

fn web_root(name: &str, size: usize) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("fiasco-life-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "<h1>game</h1>").unwrap();
    std::fs::write(root.join("big.bin"), vec![1u8; size]).unwrap();
    root
}

#[test]
fn a_keep_alive_connection_that_keeps_asking_ends_at_its_lifetime() {
    let root = web_root("keepalive", 1);
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.web_root = Some(root.clone());
    options.limits.http_lifetime = Duration::from_millis(1500);
    let address = game.listen(1, 0, options);
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        address.port()
    );
    let mut answers = Vec::new();
    let mut buf = [0u8; 4096];
    // A GET every 200 ms, for ever; the host ends it.
    let closed = loop {
        assert!(
            started.elapsed() < common::WAIT * 3,
            "still served after 30 s"
        );
        if stream.write_all(request.as_bytes()).is_err() {
            break started.elapsed();
        }
        let until = Instant::now() + Duration::from_millis(200);
        let mut ended = false;
        while Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => answers.extend_from_slice(&buf[..n]),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            break started.elapsed();
        }
    };
    let served = String::from_utf8_lossy(&answers)
        .matches("HTTP/1.1 200")
        .count();
    assert!(
        closed >= Duration::from_millis(1500),
        "closed early: {closed:?}"
    );
    assert!(served >= 2, "{served} answers before the end");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn a_client_that_never_reads_its_answers_is_dropped() {
    let root = web_root("pipelined", 64 * 1024);
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.web_root = Some(root.clone());
    options.limits.write_timeout = Duration::from_millis(300);
    let address = game.listen(1, 0, options);
    let mut stream = TcpStream::connect(address).unwrap();
    // 2,000 pipelined GETs of 64 KiB: 128 MiB of answers, far beyond any
    // socket buffer, of which the client reads nothing for a while.
    let request = format!(
        "GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        address.port()
    )
    .repeat(2000);
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = stream.write_all(request.as_bytes());
    std::thread::sleep(Duration::from_secs(2));
    // Now read: a connection still served would deliver all 128 MiB; a
    // dropped one ends after what the socket buffers held.
    stream.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("the connection was not dropped: {error} after {total} bytes"),
        }
    }
    assert!(
        total < 2000 * 64 * 1024 / 4,
        "{total} bytes: it was served on"
    );
    std::fs::remove_dir_all(&root).ok();
}
