//! Origin allowlist, Host check, token and TLS, over real handshakes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::{connect_with, Game, Mode};
use fiasco_ipc_core::{Event, ListenOptions, TlsFiles};
use tungstenite::Message;

#[test]
fn foreign_and_null_origins_get_403_and_no_event() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let own = format!("http://localhost:{}", address.port());
    assert_eq!(
        connect_with(address, "/", &[("origin", "https://evil.example")]).err(),
        Some(403)
    );
    assert_eq!(
        connect_with(address, "/", &[("origin", "null")]).err(),
        Some(403)
    );
    assert_eq!(
        connect_with(address, "/", &[("origin", "http://localhost:1")]).err(),
        Some(403)
    );
    let mut same_origin = connect_with(address, "/", &[("origin", own.as_str())]).unwrap();
    let mut tool = connect_with(address, "/", &[]).unwrap(); // no Origin: a tool
    same_origin.send(Message::text("a")).unwrap();
    tool.send(Message::text("b")).unwrap();
    assert_eq!(same_origin.read().unwrap(), Message::text("a"));
    assert_eq!(tool.read().unwrap(), Message::text("b"));
    match game.wait_for("origin", |event| {
        matches!(
            event,
            Event::ConnectionOpened(fiasco_ipc_core::ConnectionOpened {
                origin: Some(_),
                ..
            })
        )
    }) {
        Event::ConnectionOpened(fiasco_ipc_core::ConnectionOpened { origin, .. }) => {
            assert_eq!(origin.as_deref(), Some(own.as_str()))
        }
        _ => unreachable!(),
    }
    let events = game.finish();
    assert_eq!(
        common::count_in(&events, common::is_opened),
        2,
        "refused handshakes produce no event"
    );
}

#[test]
fn agents_can_allow_more_origins() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.allowed_origins = vec!["http://localhost:5173".into()];
    let address = game.listen(1, 0, options);
    assert!(connect_with(address, "/", &[("origin", "http://localhost:5173")]).is_ok());
    assert_eq!(
        connect_with(address, "/", &[("origin", "http://localhost:5174")]).err(),
        Some(403)
    );
}

#[test]
fn a_host_header_that_is_not_loopback_gets_403() {
    let game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let rebinding = format!("attacker.example:{}", address.port());
    assert_eq!(
        connect_with(address, "/", &[("host", rebinding.as_str())]).err(),
        Some(403)
    );
    let localhost = format!("localhost:{}", address.port());
    let _client = connect_with(address, "/", &[("host", localhost.as_str())]).unwrap();
    game.opened(0);
    let events = game.finish();
    assert_eq!(
        common::count_in(&events, common::is_opened),
        1,
        "no channel for the refused one"
    );
}

#[test]
fn a_token_is_required_when_set_and_never_leaks_into_events() {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.token = Some("s3cret-token".into());
    let address = game.listen(1, 0, options);
    assert_eq!(connect_with(address, "/", &[]).err(), Some(401));
    assert_eq!(connect_with(address, "/?token=wrong", &[]).err(), Some(401));
    let mut by_query = connect_with(address, "/ws?token=s3cret-token&room=2", &[]).unwrap();
    let mut by_header =
        connect_with(address, "/ws", &[("authorization", "Bearer s3cret-token")]).unwrap();
    by_query.send(Message::text("q")).unwrap();
    by_header.send(Message::text("h")).unwrap();
    assert_eq!(by_query.read().unwrap(), Message::text("q"));
    assert_eq!(by_header.read().unwrap(), Message::text("h"));
    let events = format!("{:?}", game.events.lock().unwrap());
    assert!(
        !events.contains("s3cret-token"),
        "the token must not reach agents: {events}"
    );
    assert!(events.contains("/ws?room=2"));
}

#[test]
fn tls_serves_wss_to_a_client_that_trusts_the_test_ca() {
    // A test CA, and a certificate for 127.0.0.1/localhost signed by it.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Fiasco test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let dir = std::env::temp_dir().join(format!("fiasco-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();

    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.tls = Some(TlsFiles {
        cert_path: dir.join("cert.pem"),
        key_path: dir.join("key.pem"),
    });
    let address = game.listen(1, 0, options);

    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        let connector = tokio_tungstenite::Connector::Rustls(Arc::new(config));
        let (mut ws, _) = tokio_tungstenite::client_async_tls_with_config(
            format!("wss://localhost:{}/", address.port()),
            tcp,
            None,
            Some(connector),
        )
        .await
        .unwrap();
        ws.send(tokio_tungstenite::tungstenite::Message::text("over tls"))
            .await
            .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(
            echoed,
            tokio_tungstenite::tungstenite::Message::text("over tls")
        );
    });
    // A plain ws:// client cannot speak to the TLS port.
    assert!(tungstenite::connect(format!("ws://{address}/")).is_err());
    // A bad certificate path is a specific listen error.
    let mut options = ListenOptions::default();
    options.tls = Some(TlsFiles {
        cert_path: dir.join("missing.pem"),
        key_path: dir.join("key.pem"),
    });
    assert_eq!(
        game.listen_result(2, 0, options).unwrap_err().kind,
        fiasco_ipc_core::ListenErrorKind::Tls
    );
    std::fs::remove_dir_all(&dir).ok();
}
