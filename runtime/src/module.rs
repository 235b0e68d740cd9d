//! Writing a module: its init, its systems, its shutdown.

use std::rc::Rc;

use crate::host_ref::HostRef;
use crate::resources::Resources;
use crate::system::{EventWriter, Stage, System, WriteSink};
use crate::EventKind;

/// Why a module's init failed. The host reports it and does not run the
/// module; the game and the other modules carry on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleError {
    /// A configuration value is missing or invalid: fix `--set` or the
    /// environment.
    #[error("configuration `{key}`: {message}")]
    Config {
        /// The key, without the module prefix.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// Any other failure, with its source.
    #[error("{0}")]
    Other(#[from] Box<dyn std::error::Error + Send + Sync>),
}

type InitFn = Box<dyn FnOnce(&mut InitContext<'_>) -> Result<(), ModuleError>>;
type ShutdownFn = Box<dyn FnOnce(&mut ShutdownContext<'_>)>;

/// A module: a name, an optional init and shutdown, and systems.
///
/// ```
/// use fiasco::{system, Module, Stage};
///
/// #[system]
/// fn tick() {}
///
/// fn build() -> Module {
///     Module::new("ticker").with_system(Stage::Update, tick())
/// }
/// # let _ = build();
/// ```
pub struct Module {
    name: &'static str,
    init: Option<InitFn>,
    shutdown: Option<ShutdownFn>,
    systems: Vec<(Stage, System)>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("systems", &self.systems)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// A module with no systems.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            init: None,
            shutdown: None,
            systems: Vec::new(),
        }
    }

    /// Sets the init function: read configuration, insert resources, write
    /// the first events. An error disables the module.
    pub fn with_init(
        mut self,
        init: impl FnOnce(&mut InitContext<'_>) -> Result<(), ModuleError> + 'static,
    ) -> Self {
        self.init = Some(Box::new(init));
        self
    }

    /// Sets the shutdown function, run once when the game ends.
    pub fn with_shutdown(
        mut self,
        shutdown: impl FnOnce(&mut ShutdownContext<'_>) + 'static,
    ) -> Self {
        self.shutdown = Some(Box::new(shutdown));
        self
    }

    /// Adds a system, run once a frame in `stage`.
    pub fn with_system(mut self, stage: Stage, system: System) -> Self {
        self.systems.push((stage, system));
        self
    }

    /// The module's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// What a module's init can do.
pub struct InitContext<'h> {
    host: HostRef<'h>,
    module: &'static str,
    resources: &'h mut Resources,
    sink: Rc<WriteSink>,
}

impl std::fmt::Debug for InitContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitContext")
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

impl InitContext<'_> {
    /// The configuration value `key` of this module: `--set MODULE.KEY=VALUE`
    /// on the command line, or the environment variable `FIASCO_MODULE_KEY`
    /// (upper case, `-` and `.` as `_`).
    pub fn config(&self, key: &str) -> Option<String> {
        self.host.config(key)
    }

    /// Parses the configuration value `key`, or returns `default` when unset.
    pub fn config_parse<T>(&self, key: &str, default: T) -> Result<T, ModuleError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.config(key) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse()
                .map_err(|error: T::Err| ModuleError::Config {
                    key: key.to_owned(),
                    message: format!("{text:?}: {error}"),
                }),
        }
    }

    /// Inserts a resource that systems take as `Res<T>` or `ResMut<T>`.
    pub fn insert_resource<T: 'static>(&mut self, value: T) {
        self.resources.insert(value);
    }

    /// A writer for events of kind `T`, read by every module in the first frame.
    pub fn writer<T: EventKind>(&self) -> EventWriter<T> {
        EventWriter::from_sink(Rc::clone(&self.sink))
    }

    /// The module's name.
    pub fn module_name(&self) -> &'static str {
        self.module
    }

    /// A handle the module's own threads use to wake an idle game when they
    /// have something for the next frame. Valid until the module's shutdown
    /// returns: join those threads in shutdown.
    pub fn waker(&self) -> Waker {
        Waker(self.host.waker())
    }
}

/// Wakes the game between frames, from any thread (see
/// [`InitContext::waker`]). Cheap while the game runs frames.
#[derive(Debug, Clone, Copy)]
pub struct Waker(crate::abi::FiascoWaker);

impl Waker {
    /// Wakes the game if it waits between frames.
    pub fn wake(&self) {
        #[allow(unsafe_code)]
        // SAFETY: the host keeps the waker valid until the module's shutdown
        // returns, and `wake` may be called from any thread.
        unsafe {
            (self.0.wake)(self.0.data)
        };
    }
}

/// What a module's shutdown can do: take back its resources.
pub struct ShutdownContext<'m> {
    resources: &'m mut Resources,
}

impl std::fmt::Debug for ShutdownContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownContext").finish_non_exhaustive()
    }
}

impl ShutdownContext<'_> {
    /// Removes and returns a resource.
    pub fn take_resource<T: 'static>(&mut self) -> Option<T> {
        self.resources.take()
    }
}

/// A running module, as its C ABI state pointer holds it.
pub(crate) struct Instance {
    pub(crate) name: &'static str,
    pub(crate) systems: Vec<(Stage, System)>,
    pub(crate) resources: Resources,
    pub(crate) shutdown: Option<ShutdownFn>,
}

impl Instance {
    pub(crate) fn start(module: Module, host: HostRef<'_>) -> Result<Self, ModuleError> {
        let mut resources = Resources::default();
        if let Some(init) = module.init {
            let sink = Rc::new(WriteSink::for_host(host));
            let mut ctx = InitContext {
                host,
                module: module.name,
                resources: &mut resources,
                sink: Rc::clone(&sink),
            };
            let result = init(&mut ctx);
            sink.detach();
            result?;
        }
        Ok(Self {
            name: module.name,
            systems: module.systems,
            resources,
            shutdown: module.shutdown,
        })
    }

    pub(crate) fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown(&mut ShutdownContext {
                resources: &mut self.resources,
            });
        }
    }
}
