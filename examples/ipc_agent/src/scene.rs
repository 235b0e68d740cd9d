//! The demo's game, whatever the engine: a box that moves, the commands a
//! page sends it and the messages it sends back, in `demo.fbs`. The
//! Fiasco module (this crate) and the Bevy demo (`examples/bevy_demo`)
//! both run it, so the page cannot tell them apart.

use std::collections::BTreeSet;

use crate::demo_generated::demo::{
    Action, BoxState, BoxStateArgs, CommandAck, CommandAckArgs, CommandMessage, GameMessage,
    GameMessageArgs,
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
    /// Channels of connected pages, in opening order.
    pub viewers: BTreeSet<u64>,
}

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
            viewers: BTreeSet::new(),
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
        content: &[u8],
        builder: &'b mut FlatBufferBuilder<'_>,
    ) -> &'b [u8] {
        let (id, ok, text) = match flatbuffers::root::<CommandMessage>(content) {
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
                state: None,
                ack: Some(ack),
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
                ack: None,
            },
        );
        builder.finish_minimal(message);
        builder.finished_data()
    }
}
