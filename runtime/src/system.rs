//! Systems and the parameters they take.

use std::any::Any;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::marker::PhantomData;
use std::rc::Rc;

use bytes::Bytes;
use flatbuffers::{FlatBufferBuilder, Vector, WIPOffset};

use crate::event::{same_name, Event, EventKind};
use crate::host_ref::HostRef;
use crate::resources::Resources;

/// When in a frame a system runs. Within a stage, systems run in module load
/// order, then in the order the module added them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Stage {
    /// Before every [`Stage::Update`] system: bring in what arrived from outside.
    First,
    /// Game and agent logic.
    #[default]
    Update,
    /// After every [`Stage::Update`] system: send out what the frame produced.
    Last,
}

impl Stage {
    pub(crate) fn to_abi(self) -> u32 {
        match self {
            Stage::First => crate::abi::STAGE_FIRST,
            Stage::Update => crate::abi::STAGE_UPDATE,
            Stage::Last => crate::abi::STAGE_LAST,
        }
    }

    pub(crate) fn from_abi(stage: u32) -> Option<Self> {
        match stage {
            crate::abi::STAGE_FIRST => Some(Stage::First),
            crate::abi::STAGE_UPDATE => Some(Stage::Update),
            crate::abi::STAGE_LAST => Some(Stage::Last),
            _ => None,
        }
    }
}

/// A system: a function run once a frame, built by [`#[system]`](crate::system).
pub struct System {
    name: &'static str,
    run: Box<dyn FnMut(&SystemContext<'_>)>,
    states: RefCell<Vec<Option<Box<dyn Any>>>>,
    sink: Rc<WriteSink>,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl System {
    /// Wraps a function of a [`SystemContext`]. The [`#[system]`](crate::system)
    /// attribute generates this call; you rarely write it by hand.
    pub fn new(name: &'static str, run: impl FnMut(&SystemContext<'_>) + 'static) -> Self {
        Self {
            name,
            run: Box::new(run),
            states: RefCell::new(Vec::new()),
            sink: Rc::new(WriteSink::default()),
        }
    }

    /// The system's name (its function's name).
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn run(&mut self, host: HostRef<'_>, resources: &Resources, module: &str) {
        self.sink.host.set(Some(host.as_ptr()));
        // Clear the host pointer even if the system panics, so a writer that
        // escaped the system can never reach a stale host.
        struct ClearOnDrop<'a>(&'a WriteSink);
        impl Drop for ClearOnDrop<'_> {
            fn drop(&mut self) {
                self.0.host.set(None);
            }
        }
        let _clear = ClearOnDrop(&self.sink);
        let ctx = SystemContext {
            host,
            resources,
            states: &self.states,
            sink: &self.sink,
            module,
            system: self.name,
        };
        (self.run)(&ctx);
    }
}

/// Where a system's writers put events: the host, while the system runs.
#[derive(Default)]
pub(crate) struct WriteSink {
    host: Cell<Option<*const crate::abi::FiascoHostApi>>,
    builder: RefCell<FlatBufferBuilder<'static>>,
    /// Kind ids already interned, by kind name.
    kinds: RefCell<Vec<(&'static str, u32)>>,
}

impl WriteSink {
    pub(crate) fn for_host(host: HostRef<'_>) -> Self {
        let sink = Self::default();
        sink.host.set(Some(host.as_ptr()));
        sink
    }

    pub(crate) fn detach(&self) {
        self.host.set(None);
    }

    /// The host's id for `kind`, interned once per sink (ids are stable).
    fn kind_id(&self, host: HostRef<'_>, kind: &'static str) -> u32 {
        let mut kinds = self.kinds.borrow_mut();
        if let Some(&(_, id)) = kinds.iter().find(|(name, _)| *name == kind) {
            return id;
        }
        let id = host.intern_kind(kind);
        kinds.push((kind, id));
        id
    }

    fn write<U>(
        &self,
        kind: &'static str,
        build: impl FnOnce(&mut FlatBufferBuilder<'static>) -> WIPOffset<U>,
    ) -> bool {
        let Some(host) = self.current_host(kind) else {
            return false;
        };
        let mut builder = match self.builder.try_borrow_mut() {
            Ok(builder) => builder,
            Err(_) => {
                tracing::error!(
                    kind,
                    "write_builder called from inside another write_builder; dropped"
                );
                return false;
            }
        };
        builder.reset();
        let root = build(&mut builder);
        builder.finish_minimal(root);
        let id = self.kind_id(host, kind);
        if builder.finished_data().len() < crate::spare::OWNED_MIN_SIZE {
            return host.write_event(id, builder.finished_data());
        }
        // A big event: hand the builder's buffer to the bus whole, and go on
        // with a spare one (returned, zeroed, when an earlier event is freed).
        let spare = FlatBufferBuilder::from_vec(crate::spare::take());
        let full = std::mem::replace(&mut *builder, spare);
        let (buffer, head) = full.collapse();
        host.write_event_owned(id, crate::spare::into_bytes(buffer, head))
    }

    fn write_owned(&self, kind: &'static str, event: Bytes) -> bool {
        let Some(host) = self.current_host(kind) else {
            return false;
        };
        let id = self.kind_id(host, kind);
        host.write_event_owned(id, event)
    }

    /// The host, while the system that owns this sink runs; `None` (and a
    /// log line) outside of it.
    fn current_host(&self, kind: &'static str) -> Option<HostRef<'_>> {
        let Some(ptr) = self.host.get() else {
            tracing::error!(kind, "event written outside of its system's run; dropped");
            return None;
        };
        #[allow(unsafe_code)]
        // SAFETY: `host` is Some only during the host call that set it
        // (see `System::run`), while the host table is valid.
        unsafe {
            HostRef::from_ptr(ptr)
        }
    }
}

/// What a system sees while it runs. Parameters are fetched from it.
pub struct SystemContext<'w> {
    host: HostRef<'w>,
    resources: &'w Resources,
    states: &'w RefCell<Vec<Option<Box<dyn Any>>>>,
    sink: &'w Rc<WriteSink>,
    module: &'w str,
    system: &'static str,
}

impl std::fmt::Debug for SystemContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemContext")
            .field("module", &self.module)
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

impl SystemContext<'_> {
    /// Runs `f` on the per-parameter state `index`, creating it on first use.
    fn with_state<S: Default + 'static, R>(&self, index: usize, f: impl FnOnce(&mut S) -> R) -> R {
        let mut slot = {
            let mut states = self.states.borrow_mut();
            if states.len() <= index {
                states.resize_with(index + 1, || None);
            }
            states[index].take()
        };
        let state = slot
            .get_or_insert_with(|| Box::new(S::default()))
            .downcast_mut::<S>();
        let result = match state {
            Some(state) => f(state),
            None => {
                let mut fresh = S::default();
                let result = f(&mut fresh);
                slot = Some(Box::new(fresh));
                result
            }
        };
        self.states.borrow_mut()[index] = slot;
        result
    }
}

/// A value a system function can take as a parameter.
///
/// `index` is the parameter's position; parameters use it to keep state
/// from one frame to the next (a reader's cursor).
pub trait SystemParam<'w>: Sized {
    /// Fetches the parameter for one run of the system.
    fn fetch(ctx: &'w SystemContext<'w>, index: usize) -> Self;
}

/// Reads every event of kind `T` written since this reader last ran: each
/// event exactly once, including events written earlier in the same frame.
///
/// Events are verified (FlatBuffers verifier) before a reader yields them; a
/// malformed event is refused with a log line naming the module that wrote
/// it, and never reaches the system.
///
/// ```ignore
/// #[system]
/// fn log_messages(reader: EventReader<MessageFromRemote<'_>>) {
///     for event in &reader {
///         tracing::info!(channel = event.channel(), "message");
///     }
/// }
/// ```
#[derive(Debug)]
pub struct EventReader<T> {
    events: Vec<T>,
    /// Per event: its sequence number and bytes, for [`EventRef::share`].
    spans: Vec<(u64, *const u8, usize)>,
    kind: u32,
    host: *const crate::abi::FiascoHostApi,
}

/// One event's place on the bus, from [`EventReader::iter_with_refs`]: lets a
/// system keep (part of) the event's bytes beyond the frame without copying.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'r> {
    host: *const crate::abi::FiascoHostApi,
    kind: u32,
    seq: u64,
    ptr: *const u8,
    len: usize,
    _reader: PhantomData<&'r ()>,
}

impl EventRef<'_> {
    /// Parts smaller than this are copied by [`share`](Self::share): a copy
    /// of a few bytes costs less than keeping the event alive.
    pub const SHARE_MIN_SIZE: usize = 512;

    /// Shares `part`, a slice of this event's bytes (a vector field such as
    /// a message's content), as [`Bytes`] that stay valid for as long as they
    /// live, on any thread: no copy is made, except of parts under
    /// [`SHARE_MIN_SIZE`](Self::SHARE_MIN_SIZE) bytes, which are cheaper to
    /// copy (one allocation) than to share (three). Returns `None` when
    /// `part` is not inside this event.
    pub fn share(&self, part: &[u8]) -> Option<Bytes> {
        let start = (part.as_ptr() as usize).checked_sub(self.ptr as usize)?;
        if start.checked_add(part.len())? > self.len {
            return None;
        }
        if part.len() < Self::SHARE_MIN_SIZE {
            return Some(Bytes::copy_from_slice(part));
        }
        #[allow(unsafe_code)]
        // SAFETY: an EventRef borrows its reader, which lives only during the
        // system run whose host table `host` is.
        let host = unsafe { HostRef::from_ptr(self.host) }?;
        let whole = host.retain_event(self.kind, self.seq)?;
        // The host shares the very bytes the reader saw.
        if whole.as_ptr() != self.ptr || whole.len() != self.len {
            return None;
        }
        Some(whole.slice(start..start + part.len()))
    }
}

#[derive(Default)]
struct ReaderState {
    kind: Option<u32>,
    cursor: Option<u64>,
}

impl<'w, T: Event<'w>> SystemParam<'w> for EventReader<T> {
    fn fetch(ctx: &'w SystemContext<'w>, index: usize) -> Self {
        let host = ctx.host;
        let (events, spans, kind) = ctx.with_state(index, |state: &mut ReaderState| {
            let kind = *state.kind.get_or_insert_with(|| host.intern_kind(T::NAME));
            // A new reader starts at the beginning of what the bus holds, so
            // a system sees events written before its first run (e.g. in init).
            let mut cursor = state.cursor.unwrap_or(0);
            let mut events = Vec::new();
            let mut spans = Vec::new();
            while let Some((bytes, source, seq)) = host.next_event(kind, &mut cursor) {
                match flatbuffers::root::<T>(bytes) {
                    Ok(event) => {
                        events.push(event);
                        spans.push((seq, bytes.as_ptr(), bytes.len()));
                    }
                    Err(error) => tracing::warn!(
                        kind = T::NAME,
                        from = %host.module_name(source),
                        reader = %format_args!("{}::{}", ctx.module, ctx.system),
                        %error,
                        "refused a malformed event"
                    ),
                }
            }
            state.cursor = Some(cursor);
            (events, spans, kind)
        });
        Self {
            events,
            spans,
            kind,
            host: host.as_ptr(),
        }
    }
}

impl<T: Copy> EventReader<T> {
    /// Iterates over the events, oldest first.
    pub fn iter(&self) -> std::iter::Copied<std::slice::Iter<'_, T>> {
        self.events.iter().copied()
    }

    /// Iterates over the events with their place on the bus, to keep their
    /// bytes beyond the frame without a copy ([`EventRef::share`]).
    pub fn iter_with_refs(&self) -> impl Iterator<Item = (T, EventRef<'_>)> + '_ {
        self.events
            .iter()
            .zip(&self.spans)
            .map(|(&event, &(seq, ptr, len))| {
                (
                    event,
                    EventRef {
                        host: self.host,
                        kind: self.kind,
                        seq,
                        ptr,
                        len,
                        _reader: PhantomData,
                    },
                )
            })
    }

    /// Number of events this run sees.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are no events this run.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl<'r, T: Copy> IntoIterator for &'r EventReader<T> {
    type Item = T;
    type IntoIter = std::iter::Copied<std::slice::Iter<'r, T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Writes events of kind `T`. Every module's readers see them, in the same
/// frame for readers that run later, in the next frame for the others.
pub struct EventWriter<T> {
    sink: Rc<WriteSink>,
    _kind: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for EventWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter").finish_non_exhaustive()
    }
}

impl<'w, T: EventKind> SystemParam<'w> for EventWriter<T> {
    fn fetch(ctx: &'w SystemContext<'w>, _index: usize) -> Self {
        Self {
            sink: Rc::clone(ctx.sink),
            _kind: PhantomData,
        }
    }
}

impl<T: EventKind> EventWriter<T> {
    pub(crate) fn from_sink(sink: Rc<WriteSink>) -> Self {
        Self {
            sink,
            _kind: PhantomData,
        }
    }

    /// Builds one event with a FlatBuffers builder and writes it.
    ///
    /// The closure returns the offset of the root table, which must be a
    /// `T` table (checked at compile time). Returns whether the host took the
    /// event (it refuses events written outside a system's run).
    pub fn write_builder<U, F>(&self, build: F) -> bool
    where
        U: EventKind,
        F: FnOnce(&mut FlatBufferBuilder<'static>) -> WIPOffset<U>,
    {
        const {
            assert!(
                same_name(T::NAME, U::NAME),
                "write_builder: the closure builds another table than the writer's kind"
            )
        };
        self.sink.write(T::NAME, build)
    }

    /// Writes an already finished FlatBuffer of kind `T` (built anywhere,
    /// e.g. on a thread of the module's own) without copying it: the bus
    /// keeps `event` for the event's lifetime. Readers verify it like any
    /// event. Returns whether the host took the event.
    pub fn write_owned(&self, event: Bytes) -> bool {
        self.sink.write_owned(T::NAME, event)
    }

    /// Builds one event whose one `[ubyte]` field holds `payload` and
    /// writes it: one copy of the payload, no zeroing
    /// ([`build_with_bytes`](crate::build_with_bytes)), the cheap way to
    /// send a large message. `build` gets the vector's offset for that
    /// field. Returns whether the host took the event.
    pub fn write_with_bytes<U, F>(&self, payload: &[u8], build: F) -> bool
    where
        U: EventKind,
        F: FnOnce(&mut FlatBufferBuilder<'static>, WIPOffset<Vector<'static, u8>>) -> WIPOffset<U>,
    {
        const {
            assert!(
                same_name(T::NAME, U::NAME),
                "write_with_bytes: the closure builds another table than the writer's kind"
            )
        };
        match crate::build_with_bytes(payload, build) {
            Some(event) => self.sink.write_owned(T::NAME, event),
            None => {
                tracing::error!(
                    kind = T::NAME,
                    "event not built (a payload over 4 GiB, or a nested build)"
                );
                false
            }
        }
    }
}

/// Shared access to a module resource of type `T` (inserted in init).
///
/// Panics (which disables the module) when the module never inserted it.
#[derive(Debug)]
pub struct Res<'w, T: 'static>(Ref<'w, T>);

/// Exclusive access to a module resource of type `T` (inserted in init).
///
/// Panics (which disables the module) when the module never inserted it, or
/// when the same system takes it twice.
#[derive(Debug)]
pub struct ResMut<'w, T: 'static>(RefMut<'w, T>);

impl<'w, T: 'static> SystemParam<'w> for Res<'w, T> {
    fn fetch(ctx: &'w SystemContext<'w>, _index: usize) -> Self {
        match ctx.resources.get::<T>() {
            Some(value) => Res(value),
            None => panic!(
                "system {}::{} takes Res<{}>, which the module never inserted",
                ctx.module,
                ctx.system,
                std::any::type_name::<T>()
            ),
        }
    }
}

impl<'w, T: 'static> SystemParam<'w> for ResMut<'w, T> {
    fn fetch(ctx: &'w SystemContext<'w>, _index: usize) -> Self {
        match ctx.resources.get_mut::<T>() {
            Some(value) => ResMut(value),
            None => panic!(
                "system {}::{} takes ResMut<{}>, which the module never inserted or already borrowed",
                ctx.module,
                ctx.system,
                std::any::type_name::<T>()
            ),
        }
    }
}

impl<T> std::ops::Deref for Res<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::Deref for ResMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for ResMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// The current frame number, starting at 1 for the first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Frame(pub u64);

impl<'w> SystemParam<'w> for Frame {
    fn fetch(ctx: &'w SystemContext<'w>, _index: usize) -> Self {
        Frame(ctx.host.frame())
    }
}

/// The current frame's bus position, for tests and diagnostics: how many
/// events were ever written.
#[derive(Debug, Clone, Copy)]
pub struct EventsWritten(pub u64);

impl<'w> SystemParam<'w> for EventsWritten {
    fn fetch(ctx: &'w SystemContext<'w>, _index: usize) -> Self {
        EventsWritten(ctx.host.bus_end())
    }
}
