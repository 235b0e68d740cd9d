//! `fiasco-ipc list [--json]`: the running games of this user and the
//! URLs their IPC hosts listen on, from their discovery files
//! (`$XDG_RUNTIME_DIR/fiasco-ipc/<pid>.json`, or `/tmp/fiasco-ipc-<uid>/`).
//! Files of games that are gone are removed on the way.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fiasco_ipc_core::discovery::{self, GameEntry};

/// Find running games and their IPC URLs.
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
}

fn main() -> ExitCode {
    let Command::List { json } = Cli::parse().command;
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
        print!("{}", table(&games));
    }
    ExitCode::SUCCESS
}

/// `text` with every control character escaped (`\u{1b}`, `\n`...): a
/// hostile discovery file cannot forge rows or drive the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The games as lines for people: one per URL.
fn table(games: &[GameEntry]) -> String {
    if games.is_empty() {
        return "no running game found\n".to_owned();
    }
    let mut out = format!(
        "{:<8} {:<20} {:<6} {:<16} URL\n",
        "PID", "NAME", "PORT", "TOKEN (ROLES)"
    );
    for game in games {
        for listener in &game.listeners {
            // The roles a token gives, not the tokens (--json has them).
            let token = match (listener.token_required, listener.roles.is_empty()) {
                (false, _) => "no".to_owned(),
                (true, true) => "yes".to_owned(),
                (true, false) => format!("yes ({})", printable(&listener.roles.join(","))),
            };
            let url = printable(listener.urls.first().map_or("", String::as_str));
            out.push_str(&format!(
                "{:<8} {:<20} {:<6} {:<16} {url}\n",
                game.pid,
                printable(&game.name),
                listener.port,
                token
            ));
        }
    }
    out
}
