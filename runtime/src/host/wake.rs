//! Waking an idle unthrottled game from other threads.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

// `--cfg loom`: the same code on loom's model of atomics, locks and
// condvars, whose checker runs every interleaving (see the tests).
#[cfg(loom)]
use loom::sync::{atomic::AtomicU8, Condvar, Mutex};
#[cfg(not(loom))]
use std::sync::{atomic::AtomicU8, Condvar, Mutex};

use crate::abi::FiascoWaker;

const RUNNING: u8 = 0;
const SLEEPING: u8 = 1;
const NOTIFIED: u8 = 2;

/// The game's wake-up signal. `wake` costs one atomic swap while the game
/// runs frames; only a sleeping game is notified through the condvar.
#[derive(Debug)]
pub(crate) struct Wake {
    state: AtomicU8,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl Default for Wake {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(RUNNING),
            lock: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }
}

impl Wake {
    pub(crate) fn wake(&self) {
        if self.state.swap(NOTIFIED, Ordering::AcqRel) == SLEEPING {
            // Taking the lock orders this notification after the sleeper's
            // check of the state, so it cannot be lost.
            let _guard = self
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.condvar.notify_one();
        }
    }

    /// Sleeps until woken or `timeout`; returns at once if a wake came
    /// since the last call.
    pub(crate) fn sleep(&self, timeout: Duration) {
        if self
            .state
            .compare_exchange(RUNNING, SLEEPING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let deadline = Instant::now() + timeout;
            let mut guard = self
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            while self.state.load(Ordering::Acquire) == SLEEPING {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let (next, waited) = self
                    .condvar
                    .wait_timeout(guard, left)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                guard = next;
                if waited.timed_out() {
                    break;
                }
            }
        }
        self.state.store(RUNNING, Ordering::Release);
    }

    /// The C ABI handle for this signal. `self` must outlive its users.
    pub(crate) fn handle(&self) -> FiascoWaker {
        FiascoWaker {
            data: (self as *const Self).cast(),
            wake: wake_trampoline,
        }
    }
}

unsafe extern "C" fn wake_trampoline(data: *const c_void) {
    // SAFETY: `data` comes from `Wake::handle`, and the game keeps the
    // `Wake` alive until every module has shut down.
    if let Some(wake) = unsafe { data.cast::<Wake>().as_ref() } {
        wake.wake();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Long enough to never pass in a test: a lost wake hangs the test
    /// (and nextest ends it), it cannot pass by a timer.
    const FOREVER: Duration = Duration::from_secs(3600);

    #[test]
    fn a_wake_before_sleep_is_not_lost() {
        let wake = Wake::default();
        wake.wake();
        wake.sleep(FOREVER);
    }

    #[test]
    fn two_thousand_wakes_from_another_thread_each_end_a_sleep() {
        let wake = Arc::new(Wake::default());
        let done = Arc::new(Wake::default());
        let (waker, sleeper) = (Arc::clone(&wake), Arc::clone(&done));
        let thread = std::thread::spawn(move || {
            for _ in 0..2000 {
                waker.wake();
                sleeper.sleep(FOREVER);
            }
        });
        for _ in 0..2000 {
            wake.sleep(FOREVER);
            done.wake();
        }
        thread.join().ok();
    }

    #[test]
    fn without_a_wake_sleep_ends_at_its_timeout() {
        Wake::default().sleep(Duration::from_millis(1));
    }
}

/// Every interleaving of a wake with a sleep, checked by loom:
/// `RUSTFLAGS="--cfg loom" cargo test -p fiasco --lib wake` (scripts/test).
/// loom's condvar never times out, so a lost wake is a deadlock it reports.
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::Arc;

    #[test]
    fn a_wake_is_never_lost() {
        loom::model(|| {
            let wake = Arc::new(Wake::default());
            let other = Arc::clone(&wake);
            let thread = loom::thread::spawn(move || other.wake());
            wake.sleep(Duration::from_secs(3600));
            thread.join().ok();
        });
    }

    #[test]
    fn racing_wakes_end_the_sleep_and_the_next_one_counts() {
        loom::model(|| {
            let wake = Arc::new(Wake::default());
            let (a, b) = (Arc::clone(&wake), Arc::clone(&wake));
            let first = loom::thread::spawn(move || a.wake());
            let second = loom::thread::spawn(move || b.wake());
            wake.sleep(Duration::from_secs(3600));
            first.join().ok();
            second.join().ok();
            // Wakes coalesce; one after the last sleep ended is kept.
            wake.wake();
            wake.sleep(Duration::from_secs(3600));
        });
    }
}
