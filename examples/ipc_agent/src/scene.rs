//! The demo's game, whatever the engine: a box that moves, the commands a
//! page sends it and the messages it sends back, in `demo.fbs`. The
//! Fiasco module (this crate) and the Bevy demo (`examples/bevy_demo`)
//! both run it, so the page cannot tell them apart.

use std::collections::BTreeMap;

use crate::demo_generated::demo::{
    Action, BoxState, BoxStateArgs, ChannelInfo, ChannelInfoArgs, CommandAck, CommandAckArgs,
    CommandMessage, GameMessage, GameMessageArgs,
};
use flatbuffers::FlatBufferBuilder;

/// The world the box moves in, in pixels.
const WORLD: (f32, f32) = (640.0, 360.0);

/// The simulated box and who watches it.
#[derive(Debug)]
pub struct Scene {
    x: f32,
    y: f32,
    dx: f32,
    dy: f32,
    size: f32,
    speed: f32,
    color: u32,
    paused: bool,
    /// Channels of connected pages, in opening order, each with the role
    /// of its token when the port has tokens (`scripts/demo --roles`:
    /// `editor` or `viewer`).
    pages: BTreeMap<u64, Option<String>>,
}

/// A channel's stats as the page is shown them (from the host's
/// `ChannelStats`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelNumbers {
    /// Messages queued towards the page.
    pub queued_messages: u32,
    /// Their bytes.
    pub queued_bytes: u64,
    /// Messages sent so far.
    pub sent_messages: u64,
    /// States replaced before they left.
    pub conflated_messages: u64,
    /// The last ping's round trip, microseconds (0: none).
    pub round_trip_us: u32,
}

/// The conflation key of the box's state: each page gets the newest state
/// at its own pace.
pub const STATE_KEY: u64 = 1;

impl Default for Scene {
    fn default() -> Self {
        Self {
            x: 40.0,
            y: 60.0,
            dx: 1.0,
            dy: 0.6,
            size: 48.0,
            speed: 3.0,
            color: 0x3b82f6,
            paused: false,
            pages: BTreeMap::new(),
        }
    }
}

impl Scene {
    /// Moves the box one frame (unless paused), bouncing off the walls.
    pub fn step(&mut self) {
        if self.paused {
            return;
        }
        self.x += self.dx * self.speed;
        self.y += self.dy * self.speed;
        if self.x < 0.0 || self.x + self.size > WORLD.0 {
            self.dx = -self.dx;
            self.x = self.x.clamp(0.0, WORLD.0 - self.size);
        }
        if self.y < 0.0 || self.y + self.size > WORLD.1 {
            self.dy = -self.dy;
            self.y = self.y.clamp(0.0, WORLD.1 - self.size);
        }
    }

    /// The channels of the connected pages, in opening order.
    pub fn pages(&self) -> impl Iterator<Item = u64> + '_ {
        self.pages.keys().copied()
    }

    /// Whether a page may command the box: the demo's rule is that a
    /// `viewer` token only watches; no token, `editor` or `default` may.
    pub fn may_command(&self, channel: u64) -> bool {
        self.pages
            .get(&channel)
            .and_then(Option::as_deref)
            .is_none_or(|role| role != "viewer")
    }

    /// A page connected, with its token's role (if the port has tokens).
    pub fn page_opened(&mut self, channel: u64, role: Option<&str>) {
        self.pages.insert(channel, role.map(str::to_owned));
    }

    /// A page's channel closed.
    pub fn page_closed(&mut self, channel: u64) {
        self.pages.remove(&channel);
    }

    /// Applies a command; returns whether it was valid and what happened.
    fn apply(&mut self, command: &CommandMessage<'_>) -> (bool, String) {
        match command.action() {
            Action::Pause => {
                self.paused = true;
                (true, "paused".to_owned())
            }
            Action::Resume => {
                self.paused = false;
                (true, "resumed".to_owned())
            }
            Action::SetSpeed if (0.0..=50.0).contains(&command.speed()) => {
                self.speed = command.speed();
                (true, format!("speed set to {}", self.speed))
            }
            Action::SetSpeed => (
                false,
                format!("speed {} out of range 0..=50", command.speed()),
            ),
            Action::SetColor => {
                self.color = command.color() & 0xff_ffff;
                (true, format!("colour set to #{:06x}", self.color))
            }
            other => (false, format!("unknown action {}", other.0)),
        }
    }

    /// Applies a page's message (untrusted bytes: verified first) and
    /// returns the `GameMessage` that answers it, a `CommandAck`, built in
    /// `builder`.
    pub fn answer<'b>(
        &mut self,
        channel: u64,
        content: &[u8],
        builder: &'b mut FlatBufferBuilder<'_>,
    ) -> &'b [u8] {
        let (id, ok, text) = match flatbuffers::root::<CommandMessage>(content) {
            Ok(command) if !self.may_command(channel) => (
                command.id(),
                false,
                "refused: a viewer's page watches the box but cannot move it".to_owned(),
            ),
            Ok(command) => {
                let (ok, text) = self.apply(&command);
                (command.id(), ok, text)
            }
            Err(error) => (0, false, format!("not a CommandMessage: {error}")),
        };
        builder.reset();
        let text = builder.create_string(&text);
        let ack = CommandAck::create(
            builder,
            &CommandAckArgs {
                id,
                ok,
                text: Some(text),
            },
        );
        let message = GameMessage::create(
            builder,
            &GameMessageArgs {
                ack: Some(ack),
                ..Default::default()
            },
        );
        builder.finish_minimal(message);
        builder.finished_data()
    }

    /// The `GameMessage` carrying the box's state at `frame`, built in
    /// `builder`.
    pub fn state_message<'b>(
        &self,
        frame: u64,
        builder: &'b mut FlatBufferBuilder<'_>,
    ) -> &'b [u8] {
        builder.reset();
        let state = BoxState::create(
            builder,
            &BoxStateArgs {
                frame,
                x: self.x,
                y: self.y,
                size_: self.size,
                color: self.color,
                paused: self.paused,
                speed: self.speed,
            },
        );
        let message = GameMessage::create(
            builder,
            &GameMessageArgs {
                state: Some(state),
                ..Default::default()
            },
        );
        builder.finish_minimal(message);
        builder.finished_data()
    }

    /// The `GameMessage` telling the page on `channel` how its channel is
    /// doing, built in `builder`.
    pub fn channel_message<'b>(
        &self,
        channel: u64,
        numbers: &ChannelNumbers,
        builder: &'b mut FlatBufferBuilder<'_>,
    ) -> &'b [u8] {
        builder.reset();
        let role = self
            .pages
            .get(&channel)
            .and_then(Option::as_deref)
            .map(|role| builder.create_string(role));
        let info = ChannelInfo::create(
            builder,
            &ChannelInfoArgs {
                role,
                queued_messages: numbers.queued_messages,
                queued_bytes: numbers.queued_bytes,
                sent_messages: numbers.sent_messages,
                conflated_messages: numbers.conflated_messages,
                round_trip_us: numbers.round_trip_us,
            },
        );
        let message = GameMessage::create(
            builder,
            &GameMessageArgs {
                channel: Some(info),
                ..Default::default()
            },
        );
        builder.finish_minimal(message);
        builder.finished_data()
    }
}
