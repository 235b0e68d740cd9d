//! The discovery file: how a tool finds a running game without reading its
//! log, like a Jupyter server's runtime file.
//!
//! A listening game keeps `$XDG_RUNTIME_DIR/fiasco-ipc/<pid>.json` (or
//! `/tmp/fiasco-ipc-<uid>/<pid>.json` when `XDG_RUNTIME_DIR` is unset): its
//! pid, name, start time, and for each listener its URLs, whether a token is
//! required, and the token. The folder is 0700 and the file 0600: they are
//! the user's alone, and a folder owned by another user or open to others is
//! refused (logged, nothing written). The file is rewritten when a port
//! opens or closes, atomically, and removed at a clean stop; [`running`]
//! skips and removes the files of processes that are gone.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One running game, as its discovery file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameEntry {
    /// Its process id.
    pub pid: u32,
    /// Its name (the executable's, unless the game gave one).
    pub name: String,
    /// When it started, in seconds since the Unix epoch.
    pub started: u64,
    /// Its listening ports.
    pub listeners: Vec<ListenerEntry>,
}

/// One listening port of a game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerEntry {
    /// The listener's `user_id`.
    pub user_id: u64,
    /// The port.
    pub port: u16,
    /// The URLs to reach it, e.g. `ws://127.0.0.1:9001/`.
    pub urls: Vec<String>,
    /// Whether a client must present a token.
    pub token_required: bool,
    /// The token, when one is required (the file is the user's alone).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token: Option<String>,
    /// The names of the roles the port's tokens grant (`default` for the
    /// single `token`); empty when it needs no token.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub roles: Vec<String>,
    /// Every token and its role (the file is the user's alone).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tokens: Vec<RoleToken>,
}

/// A token of a listener and the role it grants, in a discovery file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleToken {
    /// The role's name.
    pub role: String,
    /// The token.
    pub token: String,
}

impl std::fmt::Debug for RoleToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleToken")
            .field("role", &self.role)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Why the discovery folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Creating or reading it failed.
    #[error("{path}: {source}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The OS's error.
        source: std::io::Error,
    },
    /// Another user owns it, or others may read it.
    #[error("{path} is not this user's alone (owner {owner}, mode {mode:o}): refused")]
    Unsafe {
        /// The folder.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// Its permission bits.
        mode: u32,
    },
}

/// The discovery folder of this user: `$XDG_RUNTIME_DIR/fiasco-ipc`, or
/// `/tmp/fiasco-ipc-<uid>`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("fiasco-ipc"),
        None => {
            std::env::temp_dir().join(format!("fiasco-ipc-{}", rustix::process::getuid().as_raw()))
        }
    }
}

/// Creates `dir` (0700) or checks that the existing one is this user's
/// alone.
pub fn prepare_dir(dir: &Path) -> Result<(), DiscoveryError> {
    let io = |source| DiscoveryError::Io {
        path: dir.to_owned(),
        source,
    };
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io(error)),
    }
    let metadata = std::fs::symlink_metadata(dir).map_err(io)?;
    let mode = metadata.permissions().mode() & 0o777;
    let uid = rustix::process::getuid().as_raw();
    if !metadata.is_dir() || metadata.uid() != uid || mode & 0o077 != 0 {
        return Err(DiscoveryError::Unsafe {
            path: dir.to_owned(),
            owner: metadata.uid(),
            mode,
        });
    }
    Ok(())
}

/// This process's discovery file, kept up to date by the network thread.
#[derive(Debug)]
pub(crate) struct DiscoveryFile {
    path: PathBuf,
    entry: GameEntry,
    /// False once the folder was refused: nothing is written.
    usable: bool,
}

impl DiscoveryFile {
    /// The file of this process in `dir`, for a game called `name`.
    pub(crate) fn new(dir: PathBuf, name: String) -> Self {
        let usable = match prepare_dir(&dir) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "no discovery file: tools cannot find this game by `fiasco-ipc list`");
                false
            }
        };
        let pid = std::process::id();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        Self {
            path: dir.join(format!("{pid}.json")),
            entry: GameEntry {
                pid,
                name,
                started,
                listeners: Vec::new(),
            },
            usable,
        }
    }

    /// A port opened.
    pub(crate) fn add(&mut self, listener: ListenerEntry) {
        self.entry
            .listeners
            .retain(|known| known.port != listener.port);
        self.entry.listeners.push(listener);
        self.write();
    }

    /// A port closed.
    pub(crate) fn remove(&mut self, port: u16) {
        self.entry.listeners.retain(|known| known.port != port);
        self.write();
    }

    /// Rewrites the file (0600, atomically), or removes it when no port is open.
    fn write(&self) {
        if !self.usable {
            return;
        }
        if self.entry.listeners.is_empty() {
            let _ = std::fs::remove_file(&self.path);
            return;
        }
        let temporary = self.path.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(&self.entry)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let _ = std::fs::remove_file(&temporary);
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&temporary)?;
                file.write_all(&bytes)?;
                std::fs::rename(&temporary, &self.path)
            });
        if let Err(error) = result {
            tracing::warn!(path = %self.path.display(), %error, "cannot write the discovery file");
        }
    }
}

impl Drop for DiscoveryFile {
    /// A clean stop removes the file.
    fn drop(&mut self) {
        if self.usable {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether process `pid` still runs.
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // It exists but belongs to someone else: not ours to clean.
        Err(error) => error == rustix::io::Errno::PERM,
    }
}

/// Largest discovery file read: a game with hundreds of ports fits.
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// The pid a discovery file's name stands for, when it is a name this
/// module writes: `<pid>.json` with the pid in canonical decimal (no sign,
/// no leading zero, not 0). Any other file in the folder is not ours.
pub fn pid_of_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".json")?;
    let pid: u32 = digits.parse().ok()?;
    (pid > 0 && pid.to_string() == digits).then_some(pid)
}

/// Reads a discovery file: a regular file (opened without following a link
/// and without blocking, so a FIFO or a device cannot hang or flood the
/// reader; checked with fstat) of at most [`MAX_FILE_SIZE`] bytes.
fn read_game_file(path: &Path) -> Option<GameEntry> {
    use std::io::Read;
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE_SIZE {
        tracing::debug!(path = %path.display(), "not a regular discovery file of at most 1 MiB: skipped");
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return None;
    }
    serde_json::from_slice::<GameEntry>(&bytes).ok()
}

/// The games running now whose files are in `dir`, by pid. Only the names
/// this module writes are read (see [`pid_of_file_name`]); those of
/// processes that are gone are removed; anything else is left alone.
pub fn running(dir: &Path) -> Result<Vec<GameEntry>, DiscoveryError> {
    prepare_dir(dir)?;
    let entries = std::fs::read_dir(dir).map_err(|source| DiscoveryError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut games = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Some(pid) = entry.file_name().to_str().and_then(pid_of_file_name) else {
            continue;
        };
        if !alive(pid) {
            tracing::debug!(path = %path.display(), "removing the file of a game that is gone");
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if let Some(game) = read_game_file(&path).filter(|game| game.pid == pid) {
            games.push(game);
        }
    }
    games.sort_by_key(|game| game.pid);
    Ok(games)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_pid_names_are_ours() {
        assert_eq!(pid_of_file_name("1234.json"), Some(1234));
        for other in [
            "+12.json",
            "0012.json",
            "0.json",
            "-1.json",
            "12.json.tmp",
            "12",
            ".json",
            "99999999999.json",
            " 12.json",
        ] {
            assert_eq!(pid_of_file_name(other), None, "{other}");
        }
    }
}
