//! `fiasco-ipc list` (and `--json`) finds a running host's URLs through its
//! discovery file under `XDG_RUNTIME_DIR`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use fiasco_ipc_core::{Discovery, Event, HostOptions, IpcHost, ListenOptions, TokenGrant};

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
    // A second port with two roles: the list names them, never the tokens.
    let mut with_roles = ListenOptions::default();
    with_roles.tokens = vec![
        TokenGrant::new("editor-s3cret-0123456789", "editor"),
        TokenGrant::new("viewer-s3cret-0123456789", "viewer"),
    ];
    host.listen(2, 0, with_roles);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ports = [0u16; 2];
    while ports.contains(&0) {
        host.flush();
        if let Some(Event::ListenResult(result)) = host.poll_event() {
            ports[(result.user_id - 1) as usize] = result.result.unwrap().port();
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let port = ports[0];
    let table = run(&["list"]);
    assert!(table.contains("list-test"), "{table}");
    assert!(
        table.contains(&format!("ws://127.0.0.1:{port}/")),
        "{table}"
    );
    let roles_row = table
        .lines()
        .find(|line| line.contains(&format!(":{}/", ports[1])))
        .unwrap_or_else(|| panic!("no row for the port with roles: {table}"));
    assert!(roles_row.contains("yes (editor,viewer)"), "{table}");
    assert!(!table.contains("s3cret"), "no token in the table: {table}");
    let json: serde_json::Value = serde_json::from_str(&run(&["list", "--json"])).unwrap();
    assert_eq!(json[0]["pid"], std::process::id());
    let listener = |user_id: u64| {
        json[0]["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|listener| listener["user_id"] == user_id)
            .unwrap()
            .clone()
    };
    assert_eq!(listener(1)["port"], port);
    assert_eq!(listener(1)["token_required"], false);
    assert_eq!(
        listener(2)["roles"],
        serde_json::json!(["editor", "viewer"])
    );

    host.shutdown(Duration::from_secs(1));
    assert_eq!(run(&["list"]), "no running game found\n");
    let _ = std::fs::remove_dir_all(&runtime);
}

/// Runs `fiasco-ipc ARGS` with `XDG_RUNTIME_DIR=runtime`, killed if it has
/// not finished within 10 s; returns its stdout.
fn run_bounded(runtime: &std::path::Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fiasco-ipc"))
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fiasco-ipc {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    out
}

#[test]
fn hostile_files_in_the_folder_cannot_hang_flood_or_forge_the_list() {
    use std::os::unix::fs::PermissionsExt;
    let runtime = std::env::temp_dir().join(format!("fiasco-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runtime);
    let dir = runtime.join("fiasco-ipc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Live processes to name files after: this test, pid 1, and a child.
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let me = std::process::id();
    // A FIFO under a live pid: reading it would block for ever.
    let fifo = dir.join(format!("{me}.json"));
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // A link to /dev/zero under a live pid: reading it would never end.
    std::os::unix::fs::symlink("/dev/zero", dir.join("1.json")).unwrap();
    // A game whose name and URL carry terminal escapes and a forged row.
    let forged = serde_json::json!({
        "pid": sleeper.id(),
        "name": "evil\u{1b}[2J\nFAKE 9999 forged",
        "started": 0,
        "listeners": [{"user_id": 1, "port": 1, "urls": ["ws://x/\u{1b}]0;title\u{7}"], "token_required": false}],
    });
    std::fs::write(
        dir.join(format!("{}.json", sleeper.id())),
        forged.to_string(),
    )
    .unwrap();
    // Names this tool never writes, for a pid that is surely gone: kept.
    let dead = 4_000_000u32; // above Linux's pid_max
    let foreign = [
        format!("+{dead}.json"),
        format!("00{dead}.json"),
        "0.json".to_owned(),
    ];
    for name in &foreign {
        std::fs::write(dir.join(name), "{}").unwrap();
    }
    // A file of ours for a dead process: removed.
    std::fs::write(dir.join(format!("{dead}.json")), "{}").unwrap();

    let table = run_bounded(&runtime, &["list"]);
    assert!(
        !table.contains('\u{1b}') && !table.contains('\u{7}'),
        "{table:?}"
    );
    assert_eq!(table.lines().count(), 2, "a header and one row: {table:?}");
    assert!(table.contains("evil\\u{1b}[2J\\nFAKE"), "{table:?}");
    let json = run_bounded(&runtime, &["list", "--json"]);
    let games: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(games.as_array().map(Vec::len), Some(1), "{json}");
    for name in &foreign {
        assert!(dir.join(name).exists(), "{name} was deleted");
    }
    assert!(
        !dir.join(format!("{dead}.json")).exists(),
        "a dead game's file stays"
    );
    assert!(
        fifo.exists() && dir.join("1.json").exists(),
        "live pids' files stay"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = std::fs::remove_dir_all(&runtime);
}
