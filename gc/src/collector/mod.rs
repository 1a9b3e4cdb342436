//! The cycle collector: per-thread state, the collection phases, the
//! destruction of objects (with the trashcan) and the user hooks.

pub(crate) mod collect;
pub(crate) mod destroy;
pub(crate) mod hooks;
pub(crate) mod state;
