//! A listening port serves a folder over plain HTTP GET, and nothing outside it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::{connect_with, Game, Mode};
use fiasco_ipc_core::ListenOptions;

fn get(address: SocketAddr, path: &str, host: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn pages_are_served_and_the_page_origin_may_connect() {
    let base = std::env::temp_dir().join(format!("fiasco-web-{}", std::process::id()));
    let root = base.join("web_root");
    std::fs::create_dir_all(root.join("js")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>game</h1>").unwrap();
    std::fs::write(root.join("js/app.js"), "console.log(1)").unwrap();
    std::fs::write(base.join("secret.txt"), "top secret").unwrap();

    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.web_root = Some(root.clone());
    let address = game.listen(1, 0, options);
    let host = format!("127.0.0.1:{}", address.port());
    assert_eq!(get(address, "/", &host), (200, "<h1>game</h1>".to_owned()));
    assert_eq!(
        get(address, "/js/app.js", &host),
        (200, "console.log(1)".to_owned())
    );
    for escape in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/js/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
    ] {
        let (status, body) = get(address, escape, &host);
        assert_eq!(status, 404, "{escape}");
        assert!(!body.contains("top secret"), "{escape} escaped the root");
    }
    assert_eq!(
        get(address, "/", "evil.example").0,
        403,
        "DNS rebinding is refused for files too"
    );
    let origin = format!("http://127.0.0.1:{}", address.port());
    assert!(connect_with(address, "/ws", &[("origin", origin.as_str())]).is_ok());
    std::fs::remove_dir_all(&base).ok();
}

/// The raw answer to `request` on a new connection.
fn answer(address: SocketAddr, request: &str) -> String {
    String::from_utf8_lossy(&common::raw_exchange(address, request.as_bytes())).into_owned()
}

#[test]
fn dotfiles_are_never_served_and_answers_carry_the_security_headers() {
    let root = std::env::temp_dir().join(format!("fiasco-dot-{}", std::process::id()));
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>game</h1>").unwrap();
    std::fs::write(root.join(".env"), "SECRET=1").unwrap();
    std::fs::write(root.join(".git/config"), "[core]").unwrap();
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.web_root = Some(root.clone());
    let address = game.listen(1, 0, options);
    let host = format!("127.0.0.1:{}", address.port());
    for dotfile in ["/.env", "/.git/config", "/%2eenv", "/.git/"] {
        let (status, body) = get(address, dotfile, &host);
        assert_eq!(status, 404, "{dotfile}");
        assert!(
            !body.contains("SECRET") && !body.contains("[core]"),
            "{dotfile}"
        );
    }
    let page = answer(
        address,
        &format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .to_ascii_lowercase();
    for header in [
        "x-content-type-options: nosniff",
        "content-security-policy: frame-ancestors 'self'",
        "x-frame-options: sameorigin",
        "referrer-policy: no-referrer",
        "cross-origin-resource-policy: same-origin",
    ] {
        assert!(page.contains(header), "{header} missing: {page}");
    }
    let missing = answer(
        address,
        &format!("GET /nothing HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .to_ascii_lowercase();
    assert!(missing.starts_with("http/1.1 404"), "{missing}");
    assert!(missing.contains("content-type: text/plain"), "{missing}");
    assert!(
        missing.contains("x-content-type-options: nosniff"),
        "{missing}"
    );
    // HEAD: the length, no body.
    let head = answer(
        address,
        &format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    assert!(head.contains("content-length: 13"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "no body: {head}");
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn a_large_file_to_clients_that_do_not_read_costs_chunks_not_copies() {
    let root = std::env::temp_dir().join(format!("fiasco-big-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let size = 32 << 20;
    std::fs::write(root.join("big.bin"), vec![7u8; size]).unwrap();
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.web_root = Some(root.clone());
    let address = game.listen(1, 0, options);
    let before = common::rss_bytes();
    // 12 clients ask for 32 MiB each and read nothing: the host held 12
    // copies (384 MiB) when it read files whole.
    let clients: Vec<TcpStream> = (0..12)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            write!(
                stream,
                "GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
                address.port()
            )
            .unwrap();
            stream
        })
        .collect();
    // Until every answer has begun: a client that reads its first bytes
    // knows its file is open and streaming.
    for mut stream in clients.iter() {
        stream.set_read_timeout(Some(common::WAIT)).unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let grown = common::rss_bytes().saturating_sub(before);
    eprintln!(
        "12 non-reading clients of a 32 MiB file: +{} KiB",
        grown >> 10
    );
    assert!(grown < 48 << 20, "the host grew by {} MiB", grown >> 20);
    // A reader gets the whole file.
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        address.port()
    )
    .unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    let body = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(all.len() - body, size);
    drop(clients);
    std::fs::remove_dir_all(&root).ok();
}
