//! Shutdown closes every connection with 1001 within a bounded time and
//! joins the network thread.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{connect, read_close, Game, Mode};
use fiasco_ipc_core::{ClosedBy, Event, IpcHost, ListenOptions};

#[test]
fn every_client_gets_1001_and_the_agents_are_told() {
    let mut game = Game::start(Mode::Echo);
    let address = game.listen(1, 0, ListenOptions::default());
    let mut clients: Vec<_> = (0..5).map(|_| connect(address, "/")).collect();
    game.opened(4);
    let readers: Vec<_> = clients
        .drain(..)
        .map(|mut client| std::thread::spawn(move || read_close(&mut client)))
        .collect();
    game.stop();
    for reader in readers {
        assert_eq!(
            reader.join().unwrap(),
            (1001, "game shutting down".to_owned())
        );
    }
    let closed = game.count(|event| {
        matches!(
            event,
            Event::ChannelClosed(fiasco_ipc_core::ChannelClosed {
                closed_by: ClosedBy::HostShutdown,
                code: 1001,
                ..
            })
        )
    });
    assert_eq!(closed, 5);
}

#[test]
fn a_client_that_does_not_answer_cannot_hold_up_shutdown() {
    let mut host = IpcHost::start().unwrap();
    let address = common::listen_directly(&mut host, ListenOptions::default());
    let deadline = Instant::now() + common::WAIT;
    // Clients that never read: the close handshake cannot complete.
    let silent: Vec<_> = (0..3).map(|_| connect(address, "/")).collect();
    while host.channel_count() < 3 {
        let _ = host.poll_event();
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let started = Instant::now();
    host.shutdown(Duration::from_millis(300));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    let mut closed = 0;
    while let Some(event) = host.poll_event() {
        if let Event::ChannelClosed(fiasco_ipc_core::ChannelClosed { closed_by, .. }) = event {
            assert_eq!(closed_by, ClosedBy::HostShutdown);
            closed += 1;
        }
    }
    assert_eq!(closed, 3, "every channel reported closed");
    assert!(
        !std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(Result::ok)
            .any(|task| std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim() == "fiasco-ipc")),
        "the network thread is joined"
    );
    drop(silent);
}
