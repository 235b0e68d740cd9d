//! The discovery file's life: written (0600 in a 0700 folder) when a port
//! opens, updated when it closes, removed at a clean stop; a folder open to
//! others refused; a dead game's file skipped and cleaned.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fiasco_ipc_core::discovery::{self, DiscoveryError};
use fiasco_ipc_core::{Discovery, Event, HostOptions, IpcHost, ListenOptions};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fiasco-discovery-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn host_in(dir: &Path) -> IpcHost {
    let mut options = HostOptions::default();
    options.discovery = Some(Discovery::new("discovery-test", dir));
    IpcHost::with_options(options).unwrap()
}

/// Runs frames until `done` is true for an event.
fn until(host: &mut IpcHost, done: impl Fn(&Event) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        host.flush();
        while let Some(event) = host.poll_event() {
            if done(&event) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_file_follows_the_ports_and_goes_at_a_clean_stop() {
    let dir = scratch("life");
    let file = dir.join(format!("{}.json", std::process::id()));
    let mut host = host_in(&dir);
    let mut options = ListenOptions::default();
    options.token = Some("t0k".to_owned());
    options.tokens = vec![fiasco_ipc_core::TokenGrant::new("v-t0k", "viewer")];
    host.listen(3, 0, options);
    host.listen(4, 0, ListenOptions::default());
    let mut ports = Vec::new();
    while ports.len() < 2 {
        until(&mut host, |event| {
            matches!(
                event,
                Event::ListenResult(fiasco_ipc_core::ListenResult { .. })
            )
        });
        ports = discovery::running(&dir)
            .unwrap()
            .first()
            .map(|game| game.listeners.iter().map(|l| l.port).collect())
            .unwrap_or_default();
    }
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&file), 0o600);
    let games = discovery::running(&dir).unwrap();
    assert_eq!(games.len(), 1);
    let game = &games[0];
    assert_eq!(
        (game.pid, game.name.as_str()),
        (std::process::id(), "discovery-test")
    );
    let with_token = game
        .listeners
        .iter()
        .find(|listener| listener.user_id == 3)
        .unwrap();
    assert!(with_token.token_required);
    assert_eq!(with_token.token.as_deref(), Some("t0k"));
    // The roles by name, and each token with its role, in the 0600 file.
    assert_eq!(with_token.roles, ["default", "viewer"]);
    let grants: Vec<(&str, &str)> = with_token
        .tokens
        .iter()
        .map(|grant| (grant.role.as_str(), grant.token.as_str()))
        .collect();
    assert_eq!(grants, [("default", "t0k"), ("viewer", "v-t0k")]);
    assert_eq!(
        with_token.urls[0],
        format!("ws://127.0.0.1:{}/", with_token.port)
    );
    let open = game
        .listeners
        .iter()
        .find(|listener| listener.user_id == 4)
        .unwrap()
        .clone();
    assert!(!open.token_required && open.token.is_none());
    assert!(open.roles.is_empty() && open.tokens.is_empty());

    host.stop_listening(3, with_token.port);
    until(&mut host, |event| {
        matches!(
            event,
            Event::StopListeningResult(fiasco_ipc_core::StopListeningResult { stopped: true, .. })
        )
    });
    let games = discovery::running(&dir).unwrap();
    assert_eq!(games[0].listeners, [open]);

    host.shutdown(Duration::from_secs(1));
    assert!(!file.exists(), "removed at a clean stop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_folder_open_to_others_is_refused() {
    let dir = scratch("wide");
    std::fs::DirBuilder::new().mode(0o755).create(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut host = host_in(&dir);
    host.listen(3, 0, ListenOptions::default());
    until(&mut host, |event| {
        matches!(
            event,
            Event::ListenResult(fiasco_ipc_core::ListenResult { result: Ok(_), .. })
        )
    });
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written"
    );
    assert!(matches!(
        discovery::running(&dir),
        Err(DiscoveryError::Unsafe { mode: 0o755, .. })
    ));
    host.shutdown(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_gone_game_is_skipped_and_its_file_removed() {
    let dir = scratch("stale");
    discovery::prepare_dir(&dir).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = dir.join(format!("{dead}.json"));
    std::fs::write(
        &stale,
        format!(r#"{{"pid":{dead},"name":"gone","started":1,"listeners":[]}}"#),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a game").unwrap();
    assert!(discovery::running(&dir).unwrap().is_empty());
    assert!(!stale.exists(), "the dead game's file is cleaned");
    assert!(dir.join("notes.txt").exists(), "other files are left alone");
    let _ = std::fs::remove_dir_all(&dir);
}
