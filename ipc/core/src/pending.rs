//! The slots of connections that have not finished the WebSocket handshake
//! (silent sockets, unfinished request heads, TLS handshakes), apart from
//! open channels (`max_connections`) and from HTTP connections serving files
//! (`max_http_connections`). When the port's slots are full, a new
//! connection does not wait or get refused: the oldest unfinished one is
//! dropped for it, preferring one that never sent a byte. A real client
//! finishes its handshake within milliseconds, so a process holding many
//! silent sockets (all local processes share 127.0.0.1) churns only its
//! own. Beyond loopback each address also has a cap of its own, and a new
//! connection over it drops that address's oldest.
//!
//! [`PendingSet`] is the pure bookkeeping (which one to drop); [`Pending`]
//! is the listener's handle around it, and a [`Ticket`] is one connection's
//! place, left when it is promoted or dropped.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One unfinished connection.
#[derive(Debug)]
struct Entry {
    address: IpAddr,
    /// Set once the peer sent a byte.
    heard: Arc<AtomicBool>,
    /// Notified when the entry is dropped for a newer connection.
    evicted: Arc<Notify>,
}

/// The unfinished connections of one port, oldest first.
#[derive(Debug, Default)]
pub(crate) struct PendingSet {
    next: u64,
    entries: BTreeMap<u64, Entry>,
    per_address: HashMap<IpAddr, usize>,
}

impl PendingSet {
    /// Which entry to drop before one from `address` is added, if any:
    /// beyond `max_per_address` (when given) that address's oldest, else
    /// beyond `max_total` the oldest that never sent a byte, else the
    /// oldest. Prefers silent ones in both cases.
    pub(crate) fn victim(
        &self,
        address: IpAddr,
        max_total: usize,
        max_per_address: Option<usize>,
    ) -> Option<u64> {
        let oldest = |only: Option<IpAddr>| {
            let mut candidates = self
                .entries
                .iter()
                .filter(|(_, entry)| only.is_none_or(|address| entry.address == address));
            let first = candidates.clone().next().map(|(seq, _)| *seq);
            candidates
                .find(|(_, entry)| !entry.heard.load(Ordering::Relaxed))
                .map(|(seq, _)| *seq)
                .or(first)
        };
        if let Some(cap) = max_per_address {
            if self.per_address.get(&address).copied().unwrap_or(0) >= cap {
                return oldest(Some(address));
            }
        }
        (self.entries.len() >= max_total)
            .then(|| oldest(None))
            .flatten()
    }

    fn insert(&mut self, entry: Entry) -> u64 {
        let seq = self.next;
        self.next += 1;
        *self.per_address.entry(entry.address).or_default() += 1;
        self.entries.insert(seq, entry);
        seq
    }

    fn remove(&mut self, seq: u64) -> Option<Entry> {
        let entry = self.entries.remove(&seq)?;
        if let Some(count) = self.per_address.get_mut(&entry.address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&entry.address);
            }
        }
        Some(entry)
    }

    /// How many unfinished connections there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A port's unfinished connections and their caps.
#[derive(Debug)]
pub(crate) struct Pending {
    set: Mutex<PendingSet>,
    max_total: usize,
    max_per_address: Option<usize>,
}

/// One connection's place among the unfinished ones. Dropping it (or
/// [`Ticket::leave`]) frees the place.
#[derive(Debug)]
pub(crate) struct Ticket {
    pending: Arc<Pending>,
    seq: u64,
    heard: Arc<AtomicBool>,
    evicted: Arc<Notify>,
}

impl Pending {
    /// `max_per_address` applies when given (ports beyond loopback).
    pub(crate) fn new(max_total: usize, max_per_address: Option<usize>) -> Self {
        Self {
            set: Mutex::default(),
            max_total,
            max_per_address,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PendingSet> {
        self.set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for a new connection from `address`, dropping the oldest
    /// unfinished one first when the caps say so (it is told through its
    /// ticket's [`Ticket::evicted`]). Returns whether one was dropped.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> (Ticket, bool) {
        let mut set = self.lock();
        let mut dropped = false;
        while let Some(victim) = set.victim(address, self.max_total, self.max_per_address) {
            if let Some(entry) = set.remove(victim) {
                entry.evicted.notify_one();
                dropped = true;
            }
        }
        let heard = Arc::new(AtomicBool::new(false));
        let evicted = Arc::new(Notify::new());
        let seq = set.insert(Entry {
            address,
            heard: Arc::clone(&heard),
            evicted: Arc::clone(&evicted),
        });
        (
            Ticket {
                pending: Arc::clone(self),
                seq,
                heard,
                evicted,
            },
            dropped,
        )
    }

    /// How many unfinished connections the port has.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Ticket {
    /// Set by the connection's reader when the peer sends its first byte.
    pub(crate) fn heard(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.heard)
    }

    /// Notified when this connection is dropped for a newer one.
    pub(crate) fn evicted(&self) -> Arc<Notify> {
        Arc::clone(&self.evicted)
    }

    /// Leaves the unfinished connections (the handshake is done, or the
    /// connection serves files now). `false` when it was already dropped
    /// for a newer one: the connection must end.
    pub(crate) fn leave(self) -> bool {
        self.pending.lock().remove(self.seq).is_some()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pending.lock().remove(self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn when_full_the_oldest_silent_one_makes_room() {
        let pending = Arc::new(Pending::new(3, None));
        let (first, _) = pending.admit(A);
        let (second, _) = pending.admit(A);
        let (third, _) = pending.admit(A);
        first.heard().store(true, Ordering::Relaxed);
        let (_fourth, dropped) = pending.admit(A);
        assert!(dropped);
        assert_eq!(pending.len(), 3);
        // The second (the oldest silent one) went; the first, which spoke,
        // stays.
        assert!(!second.leave());
        assert!(first.leave());
        assert!(third.leave());
    }

    #[test]
    fn when_all_spoke_the_oldest_goes() {
        let pending = Arc::new(Pending::new(2, None));
        let (first, _) = pending.admit(A);
        let (second, _) = pending.admit(B);
        first.heard().store(true, Ordering::Relaxed);
        second.heard().store(true, Ordering::Relaxed);
        let (_third, dropped) = pending.admit(B);
        assert!(dropped);
        assert!(!first.leave());
        assert!(second.leave());
    }

    #[test]
    fn an_address_over_its_cap_drops_its_own_oldest() {
        let pending = Arc::new(Pending::new(100, Some(2)));
        let (other, _) = pending.admit(B);
        let (first, _) = pending.admit(A);
        let (_second, _) = pending.admit(A);
        let (_third, dropped) = pending.admit(A);
        assert!(dropped);
        assert!(!first.leave());
        assert!(other.leave());
    }

    #[test]
    fn a_dropped_ticket_frees_its_place() {
        let pending = Arc::new(Pending::new(1, None));
        let (first, _) = pending.admit(A);
        drop(first);
        let (_second, dropped) = pending.admit(A);
        assert!(!dropped);
        assert_eq!(pending.len(), 1);
    }
}
