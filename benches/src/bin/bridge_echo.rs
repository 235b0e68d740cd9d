//! The bridge a game developer would hand-write to get WebSocket messages
//! into a game loop: tokio-tungstenite on a current-thread runtime, each
//! message over a crossbeam channel to a game thread that runs frames back
//! to back, each echo back over a tokio channel. `bridge_echo PORT`.

use std::collections::HashMap;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// What the network thread tells the game.
enum ToGame {
    Opened(u64, mpsc::UnboundedSender<Message>),
    Message(u64, Message),
    Closed(u64),
}

/// The game: frames back to back; each frame takes what arrived and echoes
/// every message to its connection.
fn game(inbox: crossbeam_channel::Receiver<ToGame>) {
    let mut clients = HashMap::new();
    // Blocks only while there is nothing at all (an idle game would sleep
    // between frames instead); then takes everything queued, as a frame.
    while let Ok(first) = inbox.recv() {
        for event in std::iter::once(first).chain(inbox.try_iter()) {
            match event {
                ToGame::Opened(id, sender) => {
                    clients.insert(id, sender);
                }
                ToGame::Message(id, message) => {
                    if let Some(sender) = clients.get(&id) {
                        let _ = sender.send(message);
                    }
                }
                ToGame::Closed(id) => {
                    clients.remove(&id);
                }
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|port| port.parse().ok())
        .unwrap_or(9003);
    let (to_game, inbox) = crossbeam_channel::unbounded();
    std::thread::spawn(move || game(inbox));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!("bridge echo listening on 127.0.0.1:{port}");
        let mut next_id = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            next_id += 1;
            let id = next_id;
            let to_game = to_game.clone();
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut sink, mut stream) = ws.split();
                let (echo, mut echoes) = mpsc::unbounded_channel();
                let _ = to_game.send(ToGame::Opened(id, echo));
                let writer = tokio::spawn(async move {
                    while let Some(message) = echoes.recv().await {
                        if sink.send(message).await.is_err() {
                            break;
                        }
                    }
                });
                while let Some(Ok(message)) = stream.next().await {
                    if message.is_text() || message.is_binary() {
                        let _ = to_game.send(ToGame::Message(id, message));
                    }
                }
                let _ = to_game.send(ToGame::Closed(id));
                writer.abort();
            });
        }
    })
}
