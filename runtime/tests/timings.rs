//! Per-system timings are measured only when profiling is on.
#![allow(clippy::unwrap_used, missing_docs)]

use fiasco::{system, GameBuilder, Module, Stage};

#[system]
fn work() {
    std::hint::black_box((0..1000u64).sum::<u64>());
}

fn build() -> Module {
    Module::new("worker").with_system(Stage::Update, work())
}

#[test]
fn timings_count_runs_only_when_profiling() {
    let mut game = GameBuilder::new()
        .profile(true)
        .add_static(fiasco::module_api!("worker", build))
        .build();
    game.run_frames(5);
    let timings = game.timings();
    assert_eq!(timings.len(), 1);
    assert_eq!(
        (
            timings[0].module.as_str(),
            timings[0].system.as_str(),
            timings[0].runs
        ),
        ("worker", "work", 5)
    );
    // Five timed runs: the last took time, and the total holds more than it.
    assert!(
        timings[0].last > std::time::Duration::ZERO,
        "{:?}",
        timings[0]
    );
    assert!(timings[0].total > timings[0].last, "{:?}", timings[0]);

    let mut quiet = GameBuilder::new()
        .add_static(fiasco::module_api!("worker", build))
        .build();
    quiet.run_frames(5);
    assert_eq!(quiet.timings()[0].runs, 0);
}
