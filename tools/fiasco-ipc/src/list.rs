//! `fiasco-ipc list`: the running games and their URLs, for people.

use fiasco_ipc_core::discovery::GameEntry;

/// `text` with every control character escaped (`\u{1b}`, `\n`...): a
/// hostile discovery file cannot forge rows or drive the terminal.
pub(crate) fn printable(text: &str) -> String {
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
pub(crate) fn table(games: &[GameEntry]) -> String {
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
