//! The background purger: gives back free arena pages and cached huge
//! mappings once their purge delay has passed, even when the program makes no
//! further allocator calls (a program that frees most of its heap and then
//! waits still sees its resident memory fall).
//!
//! It only touches state guarded by the arena and huge-cache locks; the free
//! pages inside pools still in use belong to their owner threads and are
//! purged by them (see `purge.rs`). The thread is started, outside every lock,
//! the first time a pool goes back to its arena, with `pthread_create`
//! directly (std's `thread::spawn` would allocate through us), and again in a
//! forked child. It never allocates. `STRATA_PURGE_DELAY_MS` sets its pace.

use crate::os;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// The process that started the purger (a forked child has none running).
static STARTED_IN: AtomicI32 = AtomicI32::new(0);
/// When the purger last woke (ms): while recent, it is running and
/// `ensure_running` needs no system call.
static HEARTBEAT: AtomicU64 = AtomicU64::new(0);
/// A heartbeat older than this means no purger runs here (a forked child).
const STALE_MS: u64 = 1000;

/// Starts the purger thread unless this process already has one.
pub fn ensure_running() {
    let beat = HEARTBEAT.load(Ordering::Relaxed);
    if beat != 0 && os::now_ms() < beat + STALE_MS {
        return;
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let started = STARTED_IN.load(Ordering::Relaxed);
    if started == pid
        || STARTED_IN
            .compare_exchange(started, pid, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    // SAFETY: a zeroed pthread_t is a valid out-parameter; the attribute
    // object is initialised before use and destroyed after; the start routine
    // is an extern "C" fn that takes no ownership of its argument.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        // The loop needs little stack; 64 KiB keeps the mapping small.
        libc::pthread_attr_setstacksize(&mut attr, 64 * 1024);
        let mut thread: libc::pthread_t = core::mem::zeroed();
        if libc::pthread_create(&mut thread, &attr, run, core::ptr::null_mut()) != 0 {
            // Could not start: slow paths keep purging as before.
            STARTED_IN.store(0, Ordering::Relaxed);
        }
        libc::pthread_attr_destroy(&mut attr);
    }
}

extern "C" fn run(_: *mut libc::c_void) -> *mut libc::c_void {
    loop {
        HEARTBEAT.store(os::now_ms(), Ordering::Relaxed);
        let delay = crate::arena::purge_delay_ms().max(1);
        // Wake a few times per delay so nothing waits much past its deadline.
        let pause_ms = (delay / 2).clamp(1, 250);
        let pause = libc::timespec {
            tv_sec: (pause_ms / 1000) as libc::time_t,
            tv_nsec: (pause_ms % 1000 * 1_000_000) as libc::c_long,
        };
        // SAFETY: a valid timespec; an early wake-up is harmless.
        unsafe { libc::nanosleep(&pause, core::ptr::null_mut()) };
        crate::arena::purge_if_due();
        crate::large::expire(os::now_ms());
    }
}
