//! The token over real handshakes: one per request, `Bearer` in any case,
//! wrong ones answered late per address, the right one always at once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{connect_with, raw_exchange, status_of, upgrade_request, Game, Mode};
use fiasco_ipc_core::ListenOptions;

fn game_with_token() -> (Game, std::net::SocketAddr) {
    let game = Game::start(Mode::Echo);
    let mut options = ListenOptions::default();
    options.token = Some("s3cret-token".to_owned());
    let address = game.listen(1, 0, options);
    (game, address)
}

#[test]
fn one_token_per_request_and_bearer_in_any_case() {
    let (game, address) = game_with_token();
    // 2,000 guesses in one request were 2,000 guesses: now it is refused.
    let mut many = String::from("/?");
    for n in 0..50 {
        many.push_str(&format!("token=guess{n}&"));
    }
    many.push_str("token=s3cret-token");
    assert_eq!(connect_with(address, &many, &[]).err(), Some(400));
    assert_eq!(
        connect_with(
            address,
            "/?token=guess",
            &[("authorization", "Bearer s3cret-token")]
        )
        .err(),
        Some(400),
        "a parameter and a header that disagree"
    );
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let value = format!("{scheme} s3cret-token");
        assert!(
            connect_with(address, "/", &[("authorization", value.as_str())]).is_ok(),
            "{scheme}"
        );
    }
    assert!(connect_with(
        address,
        "/?token=s3cret-token",
        &[("authorization", "Bearer s3cret-token")]
    )
    .is_ok());
    game.opened(3);
}

#[test]
fn wrong_tokens_are_answered_late_and_the_right_one_at_once() {
    let (game, address) = game_with_token();
    // One after the other, each answer comes later: the sixth waits at
    // least 640 ms (a busy machine only adds to it).
    let started = Instant::now();
    let mut last = Duration::ZERO;
    for _ in 0..6 {
        let start = Instant::now();
        assert_eq!(connect_with(address, "/?token=guess", &[]).err(), Some(401));
        last = start.elapsed();
    }
    assert!(last >= Duration::from_millis(640), "{last:?}");
    assert!(started.elapsed() >= Duration::from_millis(1200));
    // Four late answers wait at once; a fifth wrong guess is closed without
    // one; the right token opens while they wait.
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let request = upgrade_request(address, "/?token=guess", "");
                (
                    Instant::now(),
                    raw_exchange(address, &request),
                    Instant::now(),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let fifth = raw_exchange(address, &upgrade_request(address, "/?token=guess", ""));
    let mut client = connect_with(address, "/?token=s3cret-token", &[]).unwrap();
    let opened_at = Instant::now();
    client.send(tungstenite::Message::text("hi")).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::text("hi"));
    for thread in waiting {
        let (_, answer, answered_at) = thread.join().unwrap();
        assert_eq!(
            status_of(&answer),
            401,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        assert!(answered_at > opened_at, "the right token went first");
    }
    // The fifth either found four waiting (closed at once, no answer) or,
    // on a busy machine, came after one of them was answered (then late):
    // which is scheduling over real sockets, so the close at once is
    // checked exactly on the paused clock (`src/http_tests.rs`,
    // `beyond_a_few_waiting_answers_a_wrong_token_is_closed_at_once`).
    assert!(
        matches!(status_of(&fifth), 0 | 401),
        "{}",
        String::from_utf8_lossy(&fifth)
    );
    drop(game);
}
