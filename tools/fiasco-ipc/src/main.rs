//! `fiasco-ipc`: the command line around a game's IPC host.
//!
//! - `fiasco-ipc list [--json]`: the running games of this user and the
//!   URLs their IPC hosts listen on, from their discovery files
//!   (`$XDG_RUNTIME_DIR/fiasco-ipc/<pid>.json`, or `/tmp/fiasco-ipc-<uid>/`);
//!   files of games that are gone are removed on the way.
//! - `fiasco-ipc record-info FILE`: what a recording (MCAP) holds.
//! - `fiasco-ipc replay FILE ...`: plays the clients of a recording
//!   against a running game; with `--expect-same`, a regression test.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use fiasco_ipc_core::discovery;

mod info;
mod list;
mod recording;
mod replay;

/// Find running games and their IPC URLs; read and replay recordings.
#[derive(Parser, Debug)]
#[command(name = "fiasco-ipc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The running games and their URLs.
    List {
        /// JSON for tools: an array of games (pid, name, started,
        /// listeners with urls, token_required, token, roles, tokens).
        #[arg(long)]
        json: bool,
    },
    /// What a recording holds: channels, messages and bytes each way,
    /// duration, gaps.
    RecordInfo {
        /// The MCAP file.
        file: PathBuf,
    },
    /// Play the client side of every recorded inbound channel against a
    /// running game (outbound links are skipped and listed), and report
    /// per channel.
    Replay(ReplayArgs),
}

/// `fiasco-ipc replay`'s arguments.
#[derive(clap::Args, Debug)]
struct ReplayArgs {
    /// The MCAP file.
    file: PathBuf,
    /// The game's URL for every recorded port (its path is replaced by
    /// each channel's recorded one). Default: found by discovery, by the
    /// recorded port.
    #[arg(long)]
    url: Option<String>,
    /// The URL for one recorded port, e.g. `--port 9100=ws://127.0.0.1:9200/`
    /// (repeatable; wins over --url).
    #[arg(long = "port", value_name = "PORT=URL", value_parser = parse_port_url)]
    ports: Vec<(u16, String)>,
    /// The token to present (Authorization: Bearer). Default: from the
    /// discovery file, the recorded role's token.
    #[arg(long)]
    token: Option<String>,
    /// Play the recorded timing this many times faster.
    #[arg(long, default_value_t = 1.0, conflicts_with = "as_fast_as_possible")]
    speed: f64,
    /// Send each message as soon as the answers recorded before it came.
    #[arg(long)]
    as_fast_as_possible: bool,
    /// How late an answer may be, after it is due, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Do not compare the answers on channels of this recorded port
    /// (they are still played).
    #[arg(long = "exclude-port", value_name = "PORT")]
    exclude_ports: Vec<u16>,
    /// Do not compare the answers on channels whose path starts with this.
    #[arg(long = "exclude-path", value_name = "PREFIX")]
    exclude_paths: Vec<String>,
    /// Do not compare answers of this kind.
    #[arg(long = "exclude-kind", value_enum, value_name = "KIND")]
    exclude_kinds: Vec<KindArg>,
    /// Every answer must equal the recorded one, in order, each in time;
    /// the first difference per channel is printed and the exit code is 1.
    #[arg(long)]
    expect_same: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum KindArg {
    Text,
    Binary,
}

fn parse_port_url(text: &str) -> Result<(u16, String), String> {
    let (port, url) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected PORT=URL"))?;
    let port = port
        .trim()
        .parse::<u16>()
        .map_err(|error| format!("{port:?} is not a port: {error}"))?;
    Ok((port, url.trim().to_owned()))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::List { json } => list(json),
        Command::RecordInfo { file } => match recording::Recording::read(&file) {
            Ok(recording) => {
                print!("{}", info::summary(&recording));
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("fiasco-ipc: {error}");
                ExitCode::from(2)
            }
        },
        Command::Replay(args) => replay_command(args),
    }
}

fn list(json: bool) -> ExitCode {
    let dir = discovery::default_dir();
    let games = match discovery::running(&dir) {
        Ok(games) => games,
        Err(error) => {
            eprintln!("fiasco-ipc: {error}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        match serde_json::to_string_pretty(&games) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("fiasco-ipc: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", list::table(&games));
    }
    ExitCode::SUCCESS
}

fn replay_command(args: ReplayArgs) -> ExitCode {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        eprintln!("fiasco-ipc: --speed must be a positive number");
        return ExitCode::from(2);
    }
    let recording = match recording::Recording::read(&args.file) {
        Ok(recording) => recording,
        Err(error) => {
            eprintln!("fiasco-ipc: {error}");
            return ExitCode::from(2);
        }
    };
    let options = replay::Options {
        url: args.url,
        ports: args.ports.into_iter().collect(),
        token: args.token,
        speed: (!args.as_fast_as_possible).then_some(args.speed),
        timeout: Duration::from_millis(args.timeout_ms),
        exclude_ports: args.exclude_ports,
        exclude_paths: args.exclude_paths,
        exclude_kinds: args
            .exclude_kinds
            .into_iter()
            .map(|kind| match kind {
                KindArg::Text => fiasco_ipc_core::MessageKind::Text,
                KindArg::Binary => fiasco_ipc_core::MessageKind::Binary,
            })
            .collect(),
        expect_same: args.expect_same,
    };
    match replay::run(&recording, &options) {
        Ok(outcome) => {
            print!("{}", outcome.report);
            if outcome.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("fiasco-ipc: {error}");
            ExitCode::from(2)
        }
    }
}
