//! `fork()` support: the child of a multi-threaded program must find every
//! allocator lock free, even if another thread held one when `fork()` ran.
//!
//! [`install_handlers`] registers `pthread_atfork` handlers. Before the fork,
//! the forking thread takes every lock of the allocator in lock order (debug
//! quarantine, type-cache registry, orphanage, heap list, arena manager,
//! huge-mapping cache), so no other
//! thread is inside a critical section when the address space is copied.
//! After the fork, parent and child each release them. The child keeps only
//! the forking thread: the heaps of the other threads stay as they were and
//! their pools are never adopted (the same trade as glibc and mimalloc).
//!
//! The guards are parked in [`HeldGuard`] slots between the two halves. The
//! std mutex on Linux is a futex word without an owner, so unlocking in the
//! child (a copy of the forking thread) is sound.

use core::cell::UnsafeCell;
use std::sync::MutexGuard;
use std::sync::OnceLock;

/// A lock guard held across `fork()`, from the prepare handler to the parent
/// or child handler.
pub struct HeldGuard<T: 'static> {
    slot: UnsafeCell<Option<MutexGuard<'static, T>>>,
}

// SAFETY: the slot is written only by the thread that holds the lock the
// guard belongs to (prepare stores it after locking; parent/child take it out
// before unlocking), so the lock itself serialises every access.
unsafe impl<T> Sync for HeldGuard<T> {}

impl<T> HeldGuard<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        HeldGuard {
            slot: UnsafeCell::new(None),
        }
    }

    /// Parks a guard until [`release`](Self::release).
    pub fn hold(&self, guard: MutexGuard<'static, T>) {
        // SAFETY: we hold the lock, so nobody else touches the slot.
        unsafe { *self.slot.get() = Some(guard) };
    }

    /// Drops the parked guard, unlocking its mutex.
    pub fn release(&self) {
        // SAFETY: called by the thread that parked the guard (the forking
        // thread, or its copy in the child) while it still holds the lock.
        drop(unsafe { (*self.slot.get()).take() });
    }
}

impl<T> Default for HeldGuard<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Defines a module's `lock_for_fork` and `unlock_after_fork`: the first
/// takes the listed mutexes in order and parks their guards, the second
/// drops them.
macro_rules! fork_hooks {
    ($what:literal: $($slot:ident: $guarded:ty = $lock:expr),+ $(,)?) => {
        $(static $slot: $crate::fork::HeldGuard<$guarded> = $crate::fork::HeldGuard::new();)+

        #[doc = concat!("Takes ", $what, " before `fork()` (see `fork.rs`).")]
        pub fn lock_for_fork() {
            $($slot.hold($lock);)+
        }

        #[doc = concat!("Releases ", $what, " after `fork()`, in the parent and in the child.")]
        pub fn unlock_after_fork() {
            $($slot.release();)+
        }
    };
}
pub(crate) use fork_hooks;

extern "C" fn prepare() {
    crate::debug::lock_for_fork();
    crate::type_cache::lock_for_fork();
    crate::thread::lock_for_fork();
    crate::arena::lock_for_fork();
    crate::large::lock_for_fork();
}

extern "C" fn after_fork() {
    crate::large::unlock_after_fork();
    crate::arena::unlock_after_fork();
    crate::thread::unlock_after_fork();
    crate::type_cache::unlock_after_fork();
    crate::debug::unlock_after_fork();
}

static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Registers the `pthread_atfork` handlers (once; later calls do nothing).
/// Returns whether they are in place. The C API calls this from a library
/// constructor; a Rust program that forks while other threads allocate should
/// call it at start-up.
pub fn install_handlers() -> bool {
    *INSTALLED.get_or_init(|| {
        // SAFETY: the handlers are extern "C" functions that live as long as
        // the program (this code is never unloaded while in use).
        unsafe { libc::pthread_atfork(Some(prepare), Some(after_fork), Some(after_fork)) == 0 }
    })
}
