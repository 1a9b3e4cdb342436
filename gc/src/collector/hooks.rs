//! What user code attaches to the collector: callbacks around collections
//! (Python's `gc.callbacks`) and the list of saved garbage (`gc.garbage`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::any::AnyGc;

/// When a callback is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before the collection.
    Start,
    /// After it.
    Stop,
}

/// What a callback is told (Python's `info` dict).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackInfo {
    pub phase: Phase,
    /// The oldest generation collected.
    pub generation: usize,
    /// Unreachable objects found (0 at `Start`).
    pub collected: usize,
    /// Unreachable objects that could not be freed (always 0, see
    /// [`GenerationStats::uncollectable`](crate::GenerationStats)).
    pub uncollectable: usize,
    /// Time the collection took (zero at `Start`).
    pub duration: Duration,
}

/// Identifies a registered callback, for [`remove_callback`](crate::remove_callback).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallbackId(u64);

type Callback = Rc<dyn Fn(&CallbackInfo)>;

#[derive(Default)]
struct Hooks {
    callbacks: Vec<(CallbackId, Callback)>,
    next_id: u64,
    garbage: Vec<AnyGc>,
}

thread_local! {
    static HOOKS: RefCell<Hooks> = RefCell::new(Hooks::default());
}

pub(crate) fn add_callback(callback: Callback) -> CallbackId {
    HOOKS.with(|hooks| {
        let mut hooks = hooks.borrow_mut();
        let id = CallbackId(hooks.next_id);
        hooks.next_id += 1;
        hooks.callbacks.push((id, callback));
        id
    })
}

pub(crate) fn remove_callback(id: CallbackId) -> bool {
    HOOKS.with(|hooks| {
        let mut hooks = hooks.borrow_mut();
        let before = hooks.callbacks.len();
        hooks.callbacks.retain(|(other, _)| *other != id);
        hooks.callbacks.len() != before
    })
}

pub(crate) fn run_callbacks(
    phase: Phase,
    generation: usize,
    collected: usize,
    uncollectable: usize,
    duration: Duration,
) {
    // Callbacks may add or remove callbacks: call a snapshot, unborrowed.
    let callbacks: Vec<Callback> = HOOKS
        .try_with(|hooks| {
            hooks
                .borrow()
                .callbacks
                .iter()
                .map(|(_, c)| c.clone())
                .collect()
        })
        .unwrap_or_default();
    if callbacks.is_empty() {
        return;
    }
    let info = CallbackInfo {
        phase,
        generation,
        collected,
        uncollectable,
        duration,
    };
    for callback in callbacks {
        callback(&info);
    }
}

pub(crate) fn save(object: AnyGc) {
    // During thread exit the list may be gone: the object is then dropped.
    let _ = HOOKS.try_with(|hooks| hooks.borrow_mut().garbage.push(object));
}

pub(crate) fn garbage() -> Vec<AnyGc> {
    HOOKS.with(|hooks| hooks.borrow().garbage.clone())
}

pub(crate) fn take_garbage() -> Vec<AnyGc> {
    HOOKS.with(|hooks| std::mem::take(&mut hooks.borrow_mut().garbage))
}
