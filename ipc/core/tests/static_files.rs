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
