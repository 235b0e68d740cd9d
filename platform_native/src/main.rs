//! `platform_native`: the Fiasco game process.
//!
//! Loads every dynamic library in the `modules/` folder next to the
//! executable (or `--modules DIR`), runs their systems frame by frame, and
//! ends cleanly on SIGINT or SIGTERM (modules' shutdown runs, exit code 0).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fiasco::{Config, GameBuilder, StopHandle};

/// The Fiasco game process: hosts modules and runs frames.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Folder of module libraries to load. Default: `modules/` next to the
    /// executable.
    #[arg(long, value_name = "DIR")]
    modules: Option<PathBuf>,
    /// Frames per second; 0 runs frames back to back.
    #[arg(long, default_value_t = 60, value_name = "N")]
    fps: u32,
    /// Module configuration, `module.key=value` (repeatable). The
    /// environment variable FIASCO_MODULE_KEY works too.
    #[arg(long = "set", value_name = "MODULE.KEY=VALUE")]
    settings: Vec<String>,
    /// Stop after this many frames (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
}

fn default_modules_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join("modules"))
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    let args = Args::parse();
    let mut config = Config::from_env();
    for setting in &args.settings {
        if let Err(error) = config.set_assignment(setting) {
            tracing::error!(%error, "bad --set");
            return ExitCode::from(2);
        }
    }
    let Some(folder) = args.modules.clone().or_else(default_modules_dir) else {
        tracing::error!("cannot find the modules folder; pass --modules DIR");
        return ExitCode::from(2);
    };
    let builder = match GameBuilder::new()
        .config(config)
        .fps(args.fps)
        .add_folder(&folder)
    {
        Ok(builder) => builder,
        Err(error) => {
            tracing::error!(%error, "cannot read the modules folder");
            return ExitCode::from(2);
        }
    };
    let stop = StopHandle::default();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(error) = signal_hook::flag::register(signal, stop.flag()) {
            tracing::error!(%error, signal, "cannot handle signal");
            return ExitCode::from(2);
        }
    }
    let mut game = builder.build();
    tracing::info!(
        modules = ?game.module_names(),
        folder = %folder.display(),
        fps = args.fps,
        "game started"
    );
    game.run_limited(&stop, args.frames);
    tracing::info!(frames = game.frame(), "game stopping");
    game.shutdown();
    tracing::info!("game stopped");
    ExitCode::SUCCESS
}
