//! Allowing a page on another origin without code: `ipc.allowed_origins`
//! (here as `--set` would give it), loopback names alike, and a refusal that
//! says how to allow it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use fiasco::Config;
use support::EchoGame;
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

fn connect(port: u16, origin: &str) -> Result<(), (u16, String)> {
    let mut request = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    match tungstenite::connect(request) {
        Ok((mut client, _)) => {
            client.send(Message::text("hi")).unwrap();
            assert_eq!(client.read().unwrap(), Message::text("hi"));
            Ok(())
        }
        Err(tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn configured_origins_are_allowed_and_a_refusal_says_how() {
    let mut config = Config::default();
    config.set(
        "ipc",
        "allowed_origins",
        "http://localhost:5173, https://tools.example",
    );
    let (game, port) = EchoGame::listening(config);
    for allowed in [
        "http://localhost:5173",
        "http://127.0.0.1:5173",
        "http://[::1]:5173",
        "https://tools.example",
    ] {
        assert_eq!(connect(port, allowed), Ok(()), "{allowed}");
    }
    let (status, body) = connect(port, "http://localhost:3000").unwrap_err();
    assert_eq!(status, 403);
    assert!(
        body.contains("--set ipc.allowed_origins=") && body.contains("FIASCO_IPC_ALLOWED_ORIGINS"),
        "{body}"
    );
    assert_eq!(body.matches("http://localhost:3000").count(), 1, "{body}");
    game.stop();
}
