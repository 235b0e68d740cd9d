//! Waking an idle unthrottled game from other threads.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::abi::FiascoWaker;

const RUNNING: u8 = 0;
const SLEEPING: u8 = 1;
const NOTIFIED: u8 = 2;

/// The game's wake-up signal. `wake` costs one atomic swap while the game
/// runs frames; only a sleeping game is notified through the condvar.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    state: AtomicU8,
    lock: Mutex<()>,
    condvar: Condvar,
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
            let guard = self
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = self.condvar.wait_timeout_while(guard, timeout, |()| {
                self.state.load(Ordering::Acquire) == SLEEPING
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_wake_before_sleep_is_not_lost_and_a_wake_ends_sleep() {
        let wake = Arc::new(Wake::default());
        wake.wake();
        let started = Instant::now();
        wake.sleep(Duration::from_secs(5));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the earlier wake counts"
        );
        let waker = Arc::clone(&wake);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            waker.wake();
        });
        let started = Instant::now();
        wake.sleep(Duration::from_secs(5));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "woken by the other thread"
        );
        thread.join().ok();
        let started = Instant::now();
        wake.sleep(Duration::from_millis(20));
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "no wake: sleeps the timeout"
        );
    }
}
