//! The game side of the inbound queue: events per channel, served in turn
//! within a per-frame allowance. No I/O, no clock.

use std::collections::VecDeque;

use crate::options::FrameBudget;
use crate::types::{ChannelId, ChannelMap, Event};

/// What is left of a frame's [`FrameBudget`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowance {
    budget: FrameBudget,
    messages: usize,
    bytes: usize,
}

impl Allowance {
    pub(crate) fn new(budget: FrameBudget) -> Self {
        Self {
            budget,
            messages: 0,
            bytes: 0,
        }
    }

    /// A new frame: the whole budget again.
    pub(crate) fn reset(&mut self) {
        self.messages = 0;
        self.bytes = 0;
    }

    /// Whether a message of `size` bytes fits (the frame's first always does,
    /// so a message larger than the budget still goes).
    fn fits(&self, size: usize) -> bool {
        self.messages < self.budget.max_messages
            && (self.messages == 0 || self.bytes.saturating_add(size) <= self.budget.max_bytes)
    }

    fn messages_left(&self) -> usize {
        self.budget.max_messages.saturating_sub(self.messages)
    }

    fn spend(&mut self, size: usize) {
        self.messages += 1;
        self.bytes = self.bytes.saturating_add(size);
    }
}

/// Events waiting for the game: host events in order, channel events per
/// channel (in order for each), channels served round robin.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    general: VecDeque<Event>,
    channels: ChannelMap<VecDeque<Event>>,
    /// Channels with events waiting, each once, in serving order.
    ready: VecDeque<ChannelId>,
}

fn channel_of(event: &Event) -> Option<ChannelId> {
    match event {
        Event::ConnectionOpened(crate::ConnectionOpened { channel, .. })
        | Event::Message(crate::Message { channel, .. })
        | Event::ChannelClosed(crate::ChannelClosed { channel, .. }) => Some(*channel),
        _ => None,
    }
}

impl Inbox {
    pub(crate) fn is_empty(&self) -> bool {
        self.general.is_empty() && self.ready.is_empty()
    }

    pub(crate) fn push(&mut self, event: Event) {
        match channel_of(&event) {
            None => self.general.push_back(event),
            Some(channel) => {
                let queue = self.channels.entry(channel).or_default();
                if queue.is_empty() {
                    self.ready.push_back(channel);
                }
                queue.push_back(event);
            }
        }
    }

    /// The next event within `allowance`: host events first, then one event
    /// of each waiting channel in turn. A channel whose next message does not
    /// fit what is left of the frame's bytes waits its turn while smaller
    /// messages of other channels go, so a backlog of big messages never
    /// holds up a small one. `None` when nothing waits or nothing fits.
    pub(crate) fn pop(&mut self, allowance: &mut Allowance) -> Option<Event> {
        if let Some(event) = self.general.pop_front() {
            return Some(event);
        }
        // Channels passed over keep their place at the front.
        let mut index = 0;
        while let Some(&channel) = self.ready.get(index) {
            let Some(queue) = self
                .channels
                .get_mut(&channel)
                .filter(|queue| !queue.is_empty())
            else {
                self.channels.remove(&channel);
                self.ready.remove(index);
                continue;
            };
            if let Some(front) = queue
                .front()
                .filter(|front| matches!(front, Event::Message(crate::Message { .. })))
            {
                let size = front.held_bytes();
                if !allowance.fits(size) {
                    if allowance.messages_left() == 0 {
                        return None;
                    }
                    // Too big for what is left: let the others go first.
                    index += 1;
                    continue;
                }
                allowance.spend(size);
            }
            let event = queue.pop_front();
            self.ready.remove(index);
            if queue.is_empty() {
                self.channels.remove(&channel);
            } else {
                self.ready.push_back(channel);
            }
            return event;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MessageKind;

    fn message(channel: u64, len: usize) -> Event {
        Event::Message(crate::Message {
            channel: ChannelId(channel),
            user_id: 0,
            kind: MessageKind::Binary,
            data: bytes::Bytes::from(vec![0; len]),
            encoded: None,
        })
    }

    fn drain(inbox: &mut Inbox, allowance: &mut Allowance) -> Vec<(u64, usize)> {
        std::iter::from_fn(|| inbox.pop(allowance))
            .filter_map(|event| match event {
                Event::Message(crate::Message { channel, data, .. }) => {
                    Some((channel.0, data.len()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn channels_are_served_in_turn_and_each_in_order() {
        let mut inbox = Inbox::default();
        for len in 1..=4 {
            inbox.push(message(1, len));
        }
        inbox.push(message(2, 10));
        inbox.push(message(2, 11));
        let mut allowance = Allowance::new(FrameBudget::new(100, 1 << 20));
        assert_eq!(
            drain(&mut inbox, &mut allowance),
            vec![(1, 1), (2, 10), (1, 2), (2, 11), (1, 3), (1, 4)]
        );
        assert!(inbox.is_empty());
    }

    #[test]
    fn a_frame_takes_at_most_its_budget_and_the_rest_waits() {
        let mut inbox = Inbox::default();
        for _ in 0..12 {
            inbox.push(message(1, 100));
        }
        let mut allowance = Allowance::new(FrameBudget::new(4, 1 << 20));
        assert_eq!(drain(&mut inbox, &mut allowance).len(), 4);
        allowance.reset();
        let mut bytes = Allowance::new(FrameBudget::new(100, 250));
        assert_eq!(
            drain(&mut inbox, &mut bytes).len(),
            2,
            "250 bytes: two of 100"
        );
        allowance.reset();
        assert_eq!(drain(&mut inbox, &mut allowance).len(), 4);
        assert!(!inbox.is_empty());
    }

    #[test]
    fn a_message_over_the_byte_budget_still_goes_first_in_its_frame() {
        let mut inbox = Inbox::default();
        inbox.push(message(1, 1000));
        inbox.push(message(1, 1000));
        let mut allowance = Allowance::new(FrameBudget::new(100, 10));
        assert_eq!(drain(&mut inbox, &mut allowance), vec![(1, 1000)]);
        allowance.reset();
        assert_eq!(drain(&mut inbox, &mut allowance), vec![(1, 1000)]);
    }

    #[test]
    fn small_messages_pass_a_backlog_of_big_ones_within_a_frame() {
        let mut inbox = Inbox::default();
        for _ in 0..3 {
            inbox.push(message(1, 1000));
            inbox.push(message(2, 1000));
        }
        inbox.push(message(3, 10));
        let mut allowance = Allowance::new(FrameBudget::new(100, 1500));
        assert_eq!(drain(&mut inbox, &mut allowance), vec![(1, 1000), (3, 10)]);
        allowance.reset();
        assert_eq!(drain(&mut inbox, &mut allowance), vec![(2, 1000)]);
    }

    #[test]
    fn host_events_and_channel_ends_are_not_held_by_the_budget() {
        let mut inbox = Inbox::default();
        inbox.push(message(1, 10));
        inbox.push(Event::ChannelClosed(crate::ChannelClosed {
            channel: ChannelId(1),
            user_id: 0,
            closed_by: crate::ClosedBy::Remote,
            code: 1000,
            reason: String::new(),
        }));
        inbox.push(Event::StopListeningResult(crate::StopListeningResult {
            user_id: 0,
            port: 1,
            stopped: true,
        }));
        let mut allowance = Allowance::new(FrameBudget::new(1, 10));
        assert!(matches!(
            inbox.pop(&mut allowance),
            Some(Event::StopListeningResult(
                crate::StopListeningResult { .. }
            ))
        ));
        assert!(matches!(
            inbox.pop(&mut allowance),
            Some(Event::Message(crate::Message { .. }))
        ));
        assert!(matches!(
            inbox.pop(&mut allowance),
            Some(Event::ChannelClosed(crate::ChannelClosed { .. }))
        ));
        assert!(inbox.is_empty());
    }
}
