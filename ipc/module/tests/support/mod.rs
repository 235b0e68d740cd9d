//! A game with the IPC module and the echo agent linked statically, run on
//! its own thread with the configuration a test gives (as `--set` would).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fiasco::{Config, GameBuilder, StopHandle};

/// The running echo game; [`EchoGame::stop`] ends and joins it.
pub struct EchoGame {
    stop: StopHandle,
    thread: Option<JoinHandle<()>>,
}

impl EchoGame {
    /// Starts the game at 120 fps with `config`.
    pub fn start(config: Config) -> Self {
        let stop = StopHandle::default();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut game = GameBuilder::new()
                    .config(config)
                    .fps(120)
                    .add_static(fiasco_ipc::api())
                    .add_static(echo_agent::api())
                    .build();
                game.run(&stop);
                game.shutdown();
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Starts it listening on a free `port` (with `config`'s other keys);
    /// returns once the port accepts connections.
    pub fn listening(mut config: Config) -> (Self, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap();
        config.set("echo_agent", "port", port.to_string());
        let game = Self::start(config);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the game never listened");
            std::thread::sleep(Duration::from_millis(5));
        }
        (game, port)
    }

    /// Stops the game and joins its thread.
    pub fn stop(mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for EchoGame {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
