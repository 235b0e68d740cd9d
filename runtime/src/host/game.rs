//! The game: modules, the frame loop, pacing and shutdown.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::abi::{FiascoHostApi, FiascoModuleApi, FiascoStr, STATUS_OK, STATUS_PANIC};
use crate::host::config::Config;
use crate::host::loader::{self, LoadError, LoadedLibrary};
use crate::host::state::HostState;
use crate::system::Stage;

/// The longest an idle unthrottled game waits between frames.
const IDLE_WAIT: Duration = Duration::from_millis(1);

/// Where a module comes from.
enum Source {
    Static(&'static FiascoModuleApi),
    Library(PathBuf),
}

/// Builds a [`Game`]: modules, configuration, frame rate.
///
/// ```
/// use fiasco::{GameBuilder, Module, system, Stage};
///
/// #[system]
/// fn tick() {}
/// fn build() -> Module { Module::new("ticker").with_system(Stage::Update, tick()) }
///
/// let mut game = GameBuilder::new()
///     .add_static(fiasco::module_api!("ticker", build))
///     .build();
/// game.run_frames(3);
/// assert_eq!(game.frame(), 3);
/// ```
#[must_use = "a GameBuilder does nothing until built"]
pub struct GameBuilder {
    sources: Vec<Source>,
    config: Config,
    fps: u32,
    profile: bool,
}

impl std::fmt::Debug for GameBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameBuilder")
            .field("fps", &self.fps)
            .finish_non_exhaustive()
    }
}

impl Default for GameBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl GameBuilder {
    /// No modules, configuration from the environment only, 60 frames per
    /// second.
    pub fn new() -> Self {
        Self {
            sources: Vec::new(),
            config: Config::from_env(),
            fps: 60,
            profile: false,
        }
    }

    /// Adds a module linked into the executable (see
    /// [`module_api!`](crate::module_api)).
    pub fn add_static(mut self, api: &'static FiascoModuleApi) -> Self {
        self.sources.push(Source::Static(api));
        self
    }

    /// Adds a module from a dynamic library file.
    pub fn add_library(mut self, path: impl Into<PathBuf>) -> Self {
        self.sources.push(Source::Library(path.into()));
        self
    }

    /// Adds every dynamic library in `folder`, in file name order. An
    /// unreadable folder is an error; a bad file in it is reported when the
    /// game is built, and the rest load.
    pub fn add_folder(mut self, folder: impl AsRef<Path>) -> Result<Self, LoadError> {
        for path in loader::library_files(folder.as_ref())? {
            self.sources.push(Source::Library(path));
        }
        Ok(self)
    }

    /// Replaces the module configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Frames per second for [`Game::run`]. 0 is unthrottled: a frame that
    /// wrote events is followed at once by the next; after a frame that
    /// wrote none, the game sleeps until a module's thread wakes it
    /// ([`InitContext::waker`](crate::InitContext::waker)) or 1 ms passes,
    /// so an idle unthrottled game costs almost no CPU.
    pub fn fps(mut self, fps: u32) -> Self {
        self.fps = fps;
        self
    }

    /// Measures the time of every system run (two clock reads per system
    /// per frame), for [`Game::timings`]. Off by default.
    pub fn profile(mut self, profile: bool) -> Self {
        self.profile = profile;
        self
    }

    /// Loads and initialises every module, in the order added. A module
    /// that fails to load or init is reported (see [`Game::reports`]) and
    /// left out; the others run.
    pub fn build(self) -> Game {
        let state = Box::new(HostState::new(self.config));
        let api = Box::new(state.api());
        let mut game = Game {
            modules: Vec::new(),
            schedule: Vec::new(),
            reports: Vec::new(),
            fps: self.fps,
            profile: self.profile,
            api,
            state,
        };
        for source in self.sources {
            game.start_module(source);
        }
        game.build_schedule();
        game
    }
}

/// A problem with a module, as the game reported it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ModuleReport {
    /// A library could not be loaded; the rest loaded. Fix or remove the
    /// file (the error says which and why) and start the game again.
    LoadFailed {
        /// The file.
        path: PathBuf,
        /// Why, as the loader said it.
        error: Arc<LoadError>,
    },
    /// A module's init failed; it does not run.
    InitFailed {
        /// The module.
        module: String,
    },
    /// A system panicked; its module was disabled.
    Disabled {
        /// The module.
        module: String,
        /// The system that panicked.
        system: String,
    },
}

/// Time spent in one system, for profiling the game thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemTiming {
    /// The module.
    pub module: String,
    /// The system.
    pub system: String,
    /// How many times it ran.
    pub runs: u64,
    /// Total time in it.
    pub total: Duration,
    /// Time of its last run.
    pub last: Duration,
    /// CPU time of the game thread in its last run: unlike `last`, not
    /// counting time the thread was preempted (by the network thread, on
    /// a busy machine).
    pub last_cpu: Duration,
}

/// The calling thread's CPU time (a system call: only when profiling).
fn thread_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

struct RunningModule {
    name: String,
    api: &'static FiascoModuleApi,
    state: *mut c_void,
    enabled: bool,
    systems: Vec<String>,
    /// (runs, total, last, last's thread CPU time) per system.
    timings: Vec<(u64, Duration, Duration, Duration)>,
    /// Dropped after the module shuts down.
    library: Option<LoadedLibrary>,
}

/// A running game: modules and their systems, run frame by frame.
///
/// Drop shuts every module down (see [`Game::shutdown`]).
pub struct Game {
    modules: Vec<RunningModule>,
    /// (stage, module index, system index), in run order.
    schedule: Vec<(Stage, usize, u32)>,
    reports: Vec<ModuleReport>,
    fps: u32,
    profile: bool,
    /// Points into `state`; declared first so it is dropped first.
    api: Box<FiascoHostApi>,
    state: Box<HostState>,
}

impl std::fmt::Debug for Game {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Game")
            .field("frame", &self.frame())
            .field("modules", &self.module_names())
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Game::run`] from another thread or a signal handler.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks the game to stop after the current frame.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether a stop was asked.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// The flag, for `signal_hook::flag::register`.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

impl Game {
    fn start_module(&mut self, source: Source) {
        let (api, library) = match source {
            Source::Static(api) => (api, None),
            Source::Library(path) => match loader::load(&path) {
                Ok(library) => (library.api, Some(library)),
                Err(error) => {
                    tracing::error!(%error, "module not loaded");
                    self.reports.push(ModuleReport::LoadFailed {
                        path,
                        error: Arc::new(error),
                    });
                    return;
                }
            },
        };
        // SAFETY: the name is static data of the module (or its library,
        // which `library` keeps loaded).
        let name = String::from_utf8_lossy(unsafe { api.name.as_bytes() }).into_owned();
        let index = self.modules.len();
        self.state
            .module_names
            .borrow_mut()
            .push(name.clone().into());
        self.state.current.set(index as u32);
        let mut state: *mut c_void = std::ptr::null_mut();
        // SAFETY: the host table is valid; `state` is a writable local.
        let status = unsafe { (api.init)(&*self.api, &mut state) };
        let enabled = status == STATUS_OK && !state.is_null();
        let mut systems = Vec::new();
        if enabled {
            // SAFETY: init succeeded, so `state` is the module's state.
            let count = unsafe { (api.system_count)(state) };
            for system in 0..count {
                let mut raw_name = FiascoStr::empty();
                let mut stage = 0;
                // SAFETY: valid state, index in range, writable locals.
                let status = unsafe { (api.system_info)(state, system, &mut raw_name, &mut stage) };
                let stage = Stage::from_abi(stage).filter(|_| status == STATUS_OK);
                // SAFETY: system names are static data of the module.
                let system_name =
                    String::from_utf8_lossy(unsafe { raw_name.as_bytes() }).into_owned();
                match stage {
                    Some(stage) => self.schedule.push((stage, index, system)),
                    None => {
                        tracing::error!(module = %name, system = %system_name, "system with an unknown stage left out")
                    }
                }
                systems.push(system_name);
            }
            tracing::info!(module = %name, systems = count, "module started");
        } else {
            tracing::error!(module = %name, status, "module init failed; module disabled");
            self.reports.push(ModuleReport::InitFailed {
                module: name.clone(),
            });
        }
        self.modules.push(RunningModule {
            name,
            api,
            state,
            enabled,
            timings: vec![(0, Duration::ZERO, Duration::ZERO, Duration::ZERO); systems.len()],
            systems,
            library,
        });
    }

    fn build_schedule(&mut self) {
        // Stable: within a stage, load order then registration order.
        self.schedule.sort_by_key(|&(stage, _, _)| stage);
    }

    /// Runs one frame: every enabled system once, in order.
    pub fn run_frame(&mut self) {
        let frame = self.state.frame.get() + 1;
        self.state.frame.set(frame);
        self.state.bus.borrow_mut().begin_frame();
        for &(_, module_index, system) in &self.schedule {
            let Some(module) = self.modules.get_mut(module_index) else {
                continue;
            };
            if !module.enabled {
                continue;
            }
            self.state.current.set(module_index as u32);
            // SAFETY: the module is enabled, so its state is live; the host
            // table is valid.
            let started = self.profile.then(|| (Instant::now(), thread_cpu_time()));
            let status = unsafe { (module.api.run_system)(module.state, system, &*self.api) };
            if let Some((started, cpu_started)) = started {
                let took = started.elapsed();
                let cpu = thread_cpu_time().saturating_sub(cpu_started);
                if let Some(timing) = module.timings.get_mut(system as usize) {
                    *timing = (timing.0 + 1, timing.1 + took, took, cpu);
                }
            }
            if status != STATUS_OK {
                module.enabled = false;
                let system_name = module
                    .systems
                    .get(system as usize)
                    .cloned()
                    .unwrap_or_default();
                tracing::error!(
                    module = %module.name,
                    system = %system_name,
                    panicked = status == STATUS_PANIC,
                    "system failed; module disabled, the game carries on"
                );
                self.reports.push(ModuleReport::Disabled {
                    module: module.name.clone(),
                    system: system_name,
                });
            }
        }
    }

    /// Runs `count` frames back to back.
    pub fn run_frames(&mut self, count: u64) {
        for _ in 0..count {
            self.run_frame();
        }
    }

    /// Runs frames at the configured rate until `stop` is asked, sleeping
    /// between frames. With 0 fps, frames run back to back.
    pub fn run(&mut self, stop: &StopHandle) {
        self.run_limited(stop, None);
    }

    /// As [`Game::run`], but also stops after `max_frames` frames.
    pub fn run_limited(&mut self, stop: &StopHandle, max_frames: Option<u64>) {
        let last = max_frames.map(|frames| self.frame() + frames);
        let period = (self.fps > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(self.fps)));
        let mut next = Instant::now();
        while !stop.is_stopped() && last.is_none_or(|last| self.frame() < last) {
            self.run_frame();
            match period {
                // Unthrottled: a frame that wrote events is followed at once
                // by another (its events may be for systems earlier in the
                // order); after an idle frame the game sleeps until a
                // module's waker fires, or at most IDLE_WAIT. (Spinning
                // instead, measured on 2 cores: -15% to -30% messages/s, as
                // it takes the CPU the network thread needs, for at most
                // -10% round-trip time.)
                None => {
                    if self.state.bus.borrow().written_this_frame() {
                        std::thread::yield_now();
                    } else {
                        self.state.wake.sleep(IDLE_WAIT);
                    }
                }
                Some(period) => {
                    next += period;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else if now - next > period * 4 {
                        // Far behind (a debugger pause, a long frame): do not try
                        // to catch up with a burst of frames.
                        next = now;
                    }
                }
            }
        }
    }

    /// The number of the last frame run (0 before the first).
    pub fn frame(&self) -> u64 {
        self.state.frame.get()
    }

    /// The names of the modules that were started, in load order.
    pub fn module_names(&self) -> Vec<String> {
        self.modules
            .iter()
            .map(|module| module.name.clone())
            .collect()
    }

    /// Whether the module `name` is running (started and not disabled).
    pub fn is_enabled(&self, name: &str) -> bool {
        self.modules
            .iter()
            .any(|module| module.name == name && module.enabled)
    }

    /// Time spent in each system so far, in run order (all zero unless the
    /// game was built with [`GameBuilder::profile`]).
    pub fn timings(&self) -> Vec<SystemTiming> {
        self.schedule
            .iter()
            .filter_map(|&(_, module_index, system)| {
                let module = self.modules.get(module_index)?;
                let (runs, total, last, last_cpu) = *module.timings.get(system as usize)?;
                Some(SystemTiming {
                    module: module.name.clone(),
                    system: module.systems.get(system as usize)?.clone(),
                    runs,
                    total,
                    last,
                    last_cpu,
                })
            })
            .collect()
    }

    /// Every problem reported so far.
    pub fn reports(&self) -> &[ModuleReport] {
        &self.reports
    }

    /// Runs every module's shutdown, in reverse load order, and unloads
    /// libraries. Idempotent; also run on drop.
    pub fn shutdown(&mut self) {
        let mut libraries = Vec::new();
        while let Some(module) = self.modules.pop() {
            if !module.state.is_null() {
                self.state.current.set(self.modules.len() as u32);
                // SAFETY: the state came from init and is shut down once.
                unsafe { (module.api.shutdown)(module.state, &*self.api) };
                tracing::info!(module = %module.name, "module shut down");
            }
            libraries.push(module.library);
        }
        // Events a module handed over whole are released by its own code:
        // drop them all before any library is unloaded.
        self.state.bus.borrow_mut().clear();
        drop(libraries);
        self.schedule.clear();
    }
}

impl Drop for Game {
    fn drop(&mut self) {
        self.shutdown();
    }
}
