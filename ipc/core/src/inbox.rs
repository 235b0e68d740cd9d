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

/// Where an event waits its turn. Lanes are served round robin; within a
/// lane, events go in the order the network thread wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// An inbound channel: its `ConnectionOpened`, messages and
    /// `ChannelClosed`.
    Channel(ChannelId),
    /// A connect request: its `ConnectStatus` reports and every event of
    /// each channel it opened, so `Connected` follows its channel's
    /// `ConnectionOpened`, and the `Failed` of a dropped link follows that
    /// channel's `ChannelClosed`.
    Link { user_id: u64, connect_id: u64 },
}

impl std::hash::Hash for Lane {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // One u64 for the ChannelHasher (ids are ours or an agent's, never
        // a peer's); the low bit keeps the two kinds apart.
        state.write_u64(match *self {
            Self::Channel(channel) => channel.0 << 1,
            Self::Link {
                user_id,
                connect_id,
            } => (user_id.rotate_left(32) ^ connect_id) << 1 | 1,
        });
    }
}

type LaneMap<V> =
    std::collections::HashMap<Lane, V, std::hash::BuildHasherDefault<crate::types::ChannelHasher>>;

/// Events waiting for the game: host events in order, then the lanes (a
/// channel, or an outbound link with its channels) round robin, each lane
/// in order.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    general: VecDeque<Event>,
    lanes: LaneMap<VecDeque<Event>>,
    /// Lanes with events waiting, each once, in serving order.
    ready: VecDeque<Lane>,
    /// The link lane of each open outbound channel.
    outbound: ChannelMap<Lane>,
}

impl Inbox {
    pub(crate) fn is_empty(&self) -> bool {
        self.general.is_empty() && self.ready.is_empty()
    }

    /// The lane of `event`; `None` for a host event. An outbound
    /// channel's events go in its link's lane, from its `ConnectionOpened`
    /// to its `ChannelClosed`.
    fn lane_of(&mut self, event: &Event) -> Option<Lane> {
        let lane = match event {
            Event::ConnectStatus(crate::ConnectStatus {
                user_id,
                connect_id,
                ..
            }) => Lane::Link {
                user_id: *user_id,
                connect_id: *connect_id,
            },
            Event::ConnectionOpened(crate::ConnectionOpened {
                channel,
                user_id,
                direction,
                ..
            }) => match direction {
                crate::Direction::Inbound => Lane::Channel(*channel),
                crate::Direction::Outbound { connect_id } => {
                    let lane = Lane::Link {
                        user_id: *user_id,
                        connect_id: *connect_id,
                    };
                    self.outbound.insert(*channel, lane);
                    lane
                }
            },
            Event::Message(crate::Message { channel, .. }) => self
                .outbound
                .get(channel)
                .copied()
                .unwrap_or(Lane::Channel(*channel)),
            // Nothing of the channel follows its end.
            Event::ChannelClosed(crate::ChannelClosed { channel, .. }) => self
                .outbound
                .remove(channel)
                .unwrap_or(Lane::Channel(*channel)),
            _ => return None,
        };
        Some(lane)
    }

    pub(crate) fn push(&mut self, event: Event) {
        match self.lane_of(&event) {
            None => self.general.push_back(event),
            Some(lane) => {
                let queue = self.lanes.entry(lane).or_default();
                if queue.is_empty() {
                    self.ready.push_back(lane);
                }
                queue.push_back(event);
            }
        }
    }

    /// The next event within `allowance`: host events first, then one event
    /// of each waiting lane in turn. A lane whose next message does not fit
    /// what is left of the frame's bytes waits its turn while smaller
    /// messages of other lanes go, so a backlog of big messages never holds
    /// up a small one. `None` when nothing waits or nothing fits.
    pub(crate) fn pop(&mut self, allowance: &mut Allowance) -> Option<Event> {
        if let Some(event) = self.general.pop_front() {
            return Some(event);
        }
        // Lanes passed over keep their place at the front.
        let mut index = 0;
        while let Some(&lane) = self.ready.get(index) {
            let Some(queue) = self.lanes.get_mut(&lane).filter(|queue| !queue.is_empty()) else {
                self.lanes.remove(&lane);
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
                self.lanes.remove(&lane);
            } else {
                self.ready.push_back(lane);
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
        inbox.push(closed(1));
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

    fn opened(channel: u64, direction: crate::Direction) -> Event {
        Event::ConnectionOpened(crate::ConnectionOpened {
            channel: ChannelId(channel),
            user_id: 0,
            port: 1,
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 2)),
            path: "/".to_owned(),
            origin: None,
            direction,
            role: None,
        })
    }

    fn closed(channel: u64) -> Event {
        Event::ChannelClosed(crate::ChannelClosed {
            channel: ChannelId(channel),
            user_id: 0,
            closed_by: crate::ClosedBy::Remote,
            code: 1000,
            reason: String::new(),
        })
    }

    fn status(connect_id: u64, state: crate::ConnectState) -> Event {
        Event::ConnectStatus(crate::ConnectStatus {
            user_id: 0,
            connect_id,
            state,
        })
    }

    fn connected(connect_id: u64, channel: u64) -> Event {
        status(
            connect_id,
            crate::ConnectState::Connected {
                channel: ChannelId(channel),
            },
        )
    }

    /// One line per event: what it is and its channel or link.
    fn describe(event: &Event) -> String {
        match event {
            Event::ConnectionOpened(crate::ConnectionOpened { channel, .. }) => {
                format!("opened {}", channel.0)
            }
            Event::Message(crate::Message { channel, data, .. }) => {
                format!("message {} {}", channel.0, data.len())
            }
            Event::ChannelClosed(crate::ChannelClosed { channel, .. }) => {
                format!("closed {}", channel.0)
            }
            Event::ConnectStatus(crate::ConnectStatus {
                connect_id, state, ..
            }) => match state {
                crate::ConnectState::Connected { channel } => {
                    format!("link {connect_id} connected {}", channel.0)
                }
                crate::ConnectState::Failed { .. } => format!("link {connect_id} failed"),
                other => format!("link {connect_id} {other:?}"),
            },
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_link_reports_in_the_order_of_its_channels_events() {
        let outbound = crate::Direction::Outbound { connect_id: 7 };
        let written = [
            status(7, crate::ConnectState::Connecting { attempt: 1 }),
            opened(1, outbound),
            connected(7, 1),
            message(1, 10),
            message(1, 11),
            closed(1),
            status(
                7,
                crate::ConnectState::Failed {
                    error: crate::ConnectError::new(crate::ConnectErrorKind::Closed, "closed"),
                    retry_in: Some(std::time::Duration::from_millis(10)),
                },
            ),
            status(7, crate::ConnectState::Connecting { attempt: 2 }),
            opened(2, outbound),
            connected(7, 2),
            message(2, 12),
        ];
        let expected: Vec<String> = written.iter().map(describe).collect();
        // Whole, in one frame; and one event a frame with an inbound
        // channel's backlog served in turn between them.
        for budget in [FrameBudget::new(100, 1 << 20), FrameBudget::new(1, 1 << 20)] {
            let mut inbox = Inbox::default();
            for len in 1..=5 {
                inbox.push(message(9, len));
            }
            for event in written.clone() {
                inbox.push(event);
            }
            let mut allowance = Allowance::new(budget);
            let mut got = Vec::new();
            while !inbox.is_empty() {
                got.extend(std::iter::from_fn(|| inbox.pop(&mut allowance)));
                allowance.reset();
            }
            let link: Vec<String> = got
                .iter()
                .map(describe)
                .filter(|line| !line.starts_with("message 9 "))
                .collect();
            assert_eq!(link, expected, "budget {budget:?}");
            assert_eq!(got.len(), written.len() + 5);
            assert!(inbox.lanes.is_empty());
            // The closed channel's entry is gone; the open one's stays.
            assert_eq!(inbox.outbound.keys().collect::<Vec<_>>(), [&ChannelId(2)]);
        }
    }

    #[test]
    fn inbound_channels_open_before_their_messages_and_close_after_them() {
        let mut inbox = Inbox::default();
        for channel in [1, 2] {
            inbox.push(opened(channel, crate::Direction::Inbound));
            inbox.push(message(channel, 5));
            inbox.push(closed(channel));
        }
        let mut allowance = Allowance::new(FrameBudget::new(100, 1 << 20));
        let got: Vec<String> = std::iter::from_fn(|| inbox.pop(&mut allowance))
            .map(|event| describe(&event))
            .collect();
        assert_eq!(
            got,
            [
                "opened 1",
                "opened 2",
                "message 1 5",
                "message 2 5",
                "closed 1",
                "closed 2"
            ]
        );
    }
}
