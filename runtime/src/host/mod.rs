//! The game process side: loading modules and running frames.

pub(crate) mod bus;
pub(crate) mod config;
pub(crate) mod game;
pub(crate) mod loader;
pub(crate) mod state;
pub(crate) mod wake;
