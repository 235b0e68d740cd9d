//! `fiasco-ipc list` (and `--json`) finds a running host's URLs through its
//! discovery file under `XDG_RUNTIME_DIR`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use fiasco_ipc_core::{Discovery, Event, HostOptions, IpcHost, ListenOptions};

#[test]
fn list_shows_a_running_game_and_its_urls() {
    let runtime = std::env::temp_dir().join(format!("fiasco-list-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runtime);
    std::fs::create_dir_all(&runtime).unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_fiasco-ipc"))
            .args(args)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(run(&["list"]), "no running game found\n");

    let mut options = HostOptions::default();
    options.discovery = Some(Discovery::new("list-test", runtime.join("fiasco-ipc")));
    let mut host = IpcHost::with_options(options).unwrap();
    host.listen(1, 0, ListenOptions::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        host.flush();
        if let Some(Event::ListenResult { result, .. }) = host.poll_event() {
            break result.unwrap().port();
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    };
    let table = run(&["list"]);
    assert!(table.contains("list-test"), "{table}");
    assert!(
        table.contains(&format!("ws://127.0.0.1:{port}/")),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&["list", "--json"])).unwrap();
    assert_eq!(json[0]["pid"], std::process::id());
    assert_eq!(json[0]["listeners"][0]["port"], port);
    assert_eq!(json[0]["listeners"][0]["token_required"], false);

    host.shutdown(Duration::from_secs(1));
    assert_eq!(run(&["list"]), "no running game found\n");
    let _ = std::fs::remove_dir_all(&runtime);
}
