//! Thread heaps: creating one on a thread's first allocation, handing its pools
//! over when the thread exits, and the orphanage that holds them until some
//! thread adopts them.
//!
//! A heap is found through one word of thread-local storage (see `slot`): on
//! x86-64 Linux a single initial-exec TLS load, elsewhere a `thread_local!`
//! cell with a constant initialiser; neither has a destructor or ever
//! allocates. Thread exit is observed through a pthread key destructor
//! (`pthread_key_create` and `pthread_setspecific` on a low key allocate
//! nothing), which runs after Rust's own thread-local destructors, so blocks
//! those free are still freed through the heap.
//!
//! On exit a heap gives its empty pools back to their arenas and the rest to
//! the orphanage, a heap owned by nobody and guarded by a lock. Blocks later
//! freed into orphaned pools go to their remote lists as usual and queue the
//! pool on the orphanage; a thread that needs a pool first adopts an orphaned
//! one of that class (taking its free blocks, remote ones included), so memory
//! of dead threads is reused, and orphaned pools that empty go back to their
//! arenas. The dead heap itself waits on a list for the next new thread.
//!
//! Lock order: orphanage, then heap list, then arena lock.

use crate::arena;
use crate::heap::{ThreadHeap, EMPTY_HEAP, EMPTY_POOL};
use crate::os;
use crate::pool::{Pool, PoolState};
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The thread's heap pointer on x86-64 Linux: one word of static TLS reached
/// with the initial-exec model, a single `%fs`-relative load.
///
/// Rust's `thread_local!` compiles to the general-dynamic model inside a
/// shared object, a call to `__tls_get_addr` on every access; under
/// `LD_PRELOAD` that call was about a fifth of each `malloc`/`free` pair.
/// The slot is declared in assembly so the access can name the model itself,
/// as C's `__attribute__((tls_model("initial-exec")))` does. Initial-exec
/// TLS is static TLS, which a preloaded or linked library always gets and a
/// `dlopen`ed one gets from glibc's surplus (this is 8 bytes of it). The
/// slot starts as the address of [`EMPTY_HEAP`] (the TLS image is relocated
/// before any thread copies it), so reading it needs no test.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
mod slot {
    use super::ThreadHeap;
    use core::arch::{asm, global_asm};

    global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".p2align 3",
        ".globl strata_thread_heap_slot",
        ".hidden strata_thread_heap_slot",
        ".type strata_thread_heap_slot,@object",
        ".size strata_thread_heap_slot,8",
        "strata_thread_heap_slot:",
        ".quad {empty}",
        ".popsection",
        empty = sym crate::heap::EMPTY_HEAP,
    );

    #[inline(always)]
    pub fn get() -> *mut ThreadHeap {
        let value: *mut ThreadHeap;
        // SAFETY: reads this thread's own TLS word through its offset from
        // the thread pointer (`%fs`), which the loader fills in at start-up.
        unsafe {
            asm!(
                "mov {value}, qword ptr [rip + strata_thread_heap_slot@GOTTPOFF]",
                "mov {value}, qword ptr fs:[{value}]",
                value = out(reg) value,
                options(nostack, readonly, preserves_flags, pure),
            );
        }
        value
    }

    #[inline]
    pub fn set(heap: *mut ThreadHeap) {
        // SAFETY: writes this thread's own TLS word, as `get` reads it.
        unsafe {
            asm!(
                "mov {offset}, qword ptr [rip + strata_thread_heap_slot@GOTTPOFF]",
                "mov qword ptr fs:[{offset}], {heap}",
                offset = out(reg) _,
                heap = in(reg) heap,
                options(nostack, preserves_flags),
            );
        }
    }
}

/// Elsewhere (other targets, Miri): a `thread_local!` cell with a constant
/// initialiser, which needs no destructor and never allocates.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(miri))))]
mod slot {
    use super::ThreadHeap;
    use core::cell::Cell;

    thread_local! {
        static HEAP: Cell<*mut ThreadHeap> =
            const { Cell::new(&raw const crate::heap::EMPTY_HEAP as *mut ThreadHeap) };
    }

    #[inline(always)]
    pub fn get() -> *mut ThreadHeap {
        HEAP.with(Cell::get)
    }

    #[inline]
    pub fn set(heap: *mut ThreadHeap) {
        HEAP.with(|cell| cell.set(heap));
    }
}

/// This thread's heap, or [`EMPTY_HEAP`] before its first allocation.
#[inline(always)]
pub fn current() -> *mut ThreadHeap {
    slot::get()
}

/// The heap that owns orphaned pools; touched only under [`ORPHAN_LOCK`].
pub static ORPHANS: ThreadHeap = ThreadHeap::new();
static ORPHAN_LOCK: Mutex<()> = Mutex::new(());
/// Pools the orphanage owns: lets threads skip the lock when there are none.
static ORPHAN_POOLS: AtomicUsize = AtomicUsize::new(0);

fn orphans_ptr() -> *mut ThreadHeap {
    &ORPHANS as *const ThreadHeap as *mut ThreadHeap
}

fn lock_orphans() -> MutexGuard<'static, ()> {
    ORPHAN_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Heap storage: heaps are carved from mappings and never unmapped (a stale
/// owner pointer in a pool must always point at a heap), and dead heaps wait
/// on `recycled` for a new thread.
struct HeapStore {
    recycled: *mut ThreadHeap,
    /// Remote-free counters of exited threads.
    retired_issued: u64,
    retired_collected: u64,
    all: *mut ThreadHeap,
    cursor: *mut u8,
    end: *mut u8,
    live: usize,
}

// SAFETY: the pointers name heap memory shared under the mutex.
unsafe impl Send for HeapStore {}

static HEAPS: Mutex<HeapStore> = Mutex::new(HeapStore {
    recycled: ptr::null_mut(),
    retired_issued: 0,
    retired_collected: 0,
    all: ptr::null_mut(),
    cursor: ptr::null_mut(),
    end: ptr::null_mut(),
    live: 0,
});

fn lock_heaps() -> MutexGuard<'static, HeapStore> {
    HEAPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Heaps are carved from 256 KiB mappings, a whole number of OS pages each.
const HEAP_CHUNK: usize = 256 * 1024;
/// Bytes between heaps in a chunk: a heap rounded up to whole OS pages.
const HEAP_STRIDE: usize = core::mem::size_of::<ThreadHeap>().next_multiple_of(os::OS_PAGE);

impl HeapStore {
    fn take(&mut self) -> *mut ThreadHeap {
        let heap = self.recycled;
        if !heap.is_null() {
            // SAFETY: recycled heaps are valid heaps.
            self.recycled = unsafe { (*heap).recycle_next.get() };
            self.live += 1;
            return heap;
        }
        // Each heap starts on a page of its own, so its first page holds the
        // checked flag and the class table (see `ThreadHeap::checked`).
        let size = HEAP_STRIDE;
        let align = core::mem::align_of::<ThreadHeap>();
        if self.cursor.is_null() || (self.end as usize - self.cursor as usize) < size {
            let chunk = os::map(HEAP_CHUNK);
            if chunk.is_null() {
                return ptr::null_mut();
            }
            self.cursor = chunk;
            // SAFETY: end of the fresh mapping.
            self.end = unsafe { chunk.add(HEAP_CHUNK) };
        }
        let heap = self.cursor.cast::<ThreadHeap>();
        debug_assert!(heap as usize % os::OS_PAGE == 0 && heap as usize % align == 0);
        // SAFETY: `size` bytes at `cursor` are ours and unused; the stride keeps the
        // cursor on a page boundary.
        unsafe {
            heap.write(ThreadHeap::new());
            (*heap).all_next.set(self.all);
            self.cursor = self.cursor.add(size);
        }
        self.all = heap;
        self.live += 1;
        heap
    }
}

static EXIT_KEY: OnceLock<Option<libc::pthread_key_t>> = OnceLock::new();

fn exit_key() -> Option<libc::pthread_key_t> {
    *EXIT_KEY.get_or_init(|| {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: key is a valid out-pointer; the destructor is an extern "C" fn.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) };
        (rc == 0).then_some(key)
    })
}

/// Gives the calling thread a heap. Returns null when out of memory.
#[cold]
pub fn init_current() -> *mut ThreadHeap {
    let heap = lock_heaps().take();
    if heap.is_null() {
        return heap;
    }
    // Notices that arrived while the heap was dead are for other owners.
    // SAFETY: the heap is ours now.
    unsafe { (*heap).process_remote_queue(false) };
    slot::set(heap);
    register_exit_report();
    if let Some(key) = exit_key() {
        // SAFETY: a key we created; the value is only read by our destructor.
        unsafe { libc::pthread_setspecific(key, heap.cast()) };
    }
    heap
}

/// With `STRATA_SHOW_STATS=1`, prints the statistics table when the process
/// exits. Registered from the first heap's set-up, where no lock is held, so
/// an `atexit` that allocates cannot deadlock.
fn register_exit_report() {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if crate::settings::get().show_stats && !REGISTERED.swap(true, Ordering::Relaxed) {
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(print_stats_at_exit) };
    }
}

extern "C" fn print_stats_at_exit() {
    use std::io::Write;
    let _ = write!(std::io::stderr(), "{}", crate::stats());
}

extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let heap = value.cast::<ThreadHeap>();
    if heap.is_null() {
        return;
    }
    abandon(heap);
    // Allocation after this point (other destructors) gets a fresh heap, and
    // the key is set again, so glibc calls us again for it.
    slot::set(&raw const EMPTY_HEAP as *mut ThreadHeap);
    let mut store = lock_heaps();
    // SAFETY: the heap owns nothing any more; it waits for a new thread.
    unsafe {
        store.retired_issued += (*heap).remote_issued.swap(0, Ordering::Relaxed);
        store.retired_collected += (*heap).remote_collected.swap(0, Ordering::Relaxed);
    }
    unsafe { (*heap).recycle_next.set(store.recycled) };
    store.recycled = heap;
    store.live -= 1;
}

/// Hands every pool of a dying thread's heap to the orphanage (or, if empty,
/// back to its arena).
fn abandon(heap: *mut ThreadHeap) {
    // SAFETY: called on the owning thread, which is exiting.
    let heap_ref = unsafe { &*heap };
    crate::type_cache::retire(heap_ref);
    heap_ref.process_remote_queue(false);
    let _guard = lock_orphans();
    for class in 0..heap_ref.classes.len() {
        let lists = &heap_ref.classes[class];
        let current = lists.current.replace(&raw const EMPTY_POOL as *mut Pool);
        if !ptr::eq(current, &EMPTY_POOL) {
            orphan_pool(heap_ref, current);
        }
        for list in [&lists.avail, &lists.full] {
            loop {
                let pool = list.pop();
                if pool.is_null() {
                    break;
                }
                heap_ref.remove_candidate(pool);
                orphan_pool(heap_ref, pool);
            }
        }
    }
}

/// Under the orphan lock: moves one pool of a dying heap to the orphanage.
fn orphan_pool(dying: &ThreadHeap, pool: *mut Pool) {
    // SAFETY: the dying heap owns the live pool, which is on no list now.
    let pool_ref = unsafe { &*pool };
    dying.collect_remote(pool_ref);
    if pool_ref.used() == 0 && !pool_ref.queued.load(Ordering::SeqCst) {
        // SAFETY: empty, on no list and no queue.
        unsafe { arena::release_pool(pool) };
        return;
    }
    // Release: pairs with the Acquire load in `Pool::push_remote`.
    pool_ref.owner.store(orphans_ptr(), Ordering::Release);
    ORPHAN_POOLS.fetch_add(1, Ordering::Relaxed);
    let lists = &ORPHANS.classes[pool_ref.class.get() as usize];
    // SAFETY: on no list; orphan lists are guarded by the lock we hold.
    unsafe {
        if pool_ref.has_free() {
            pool_ref.set_state(PoolState::Avail);
            lists.avail.push(pool);
        } else {
            pool_ref.set_state(PoolState::Full);
            lists.full.push(pool);
        }
    }
    ORPHANS.settle(pool);
}

/// Bookkeeping when a pool leaves `heap` for its arena.
pub fn pool_left_heap(heap: &ThreadHeap) {
    if core::ptr::eq(heap, &ORPHANS) {
        ORPHAN_POOLS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A heap found a pool it no longer owns on its remote queue: pass the notice
/// to the pool's owner. Owners change only under the orphan lock, so the
/// owner read under it is current.
pub fn forward_queued_pool(pool: *mut Pool, orphan_lock_held: bool) {
    let _guard = (!orphan_lock_held).then(lock_orphans);
    // SAFETY: a queued pool is live.
    let owner = unsafe { (*pool).owner.load(Ordering::Relaxed) };
    if owner == orphans_ptr() {
        ORPHANS.settle_queued(pool);
    } else {
        // SAFETY: heaps are never unmapped; the pool stays queued, so its
        // queue link is still ours to set.
        unsafe { (*owner).queue_remote_pool(pool) };
    }
}

/// Under the orphan lock: collects what was freed into orphaned pools, and
/// passes on notices that reached dead heaps.
fn tidy_orphans() {
    ORPHANS.process_remote_queue(true);
    let store = lock_heaps();
    let mut heap = store.recycled;
    while !heap.is_null() {
        // SAFETY: recycled heaps are valid and owned by nobody; we hold both locks.
        let heap_ref = unsafe { &*heap };
        heap_ref.process_remote_queue(true);
        heap = heap_ref.recycle_next.get();
    }
}

/// Takes an orphaned pool of `class` with free blocks into `heap`, or null.
pub fn adopt_orphan(heap: &ThreadHeap, class: usize) -> *mut Pool {
    if ORPHAN_POOLS.load(Ordering::Relaxed) == 0 {
        return ptr::null_mut();
    }
    let Ok(_guard) = ORPHAN_LOCK.try_lock() else {
        return ptr::null_mut();
    };
    tidy_orphans();
    let pool = ORPHANS.classes[class].avail.pop();
    if !pool.is_null() {
        ORPHANS.remove_candidate(pool);
        ORPHAN_POOLS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: a live orphaned pool, now on no list; owners change only
        // under the lock we hold.
        unsafe {
            (*pool).owner.store(
                heap as *const ThreadHeap as *mut ThreadHeap,
                Ordering::Release,
            )
        };
    }
    pool
}

/// Collects remote frees into orphaned pools and returns the empty ones.
pub fn trim_orphans() {
    let _guard = lock_orphans();
    tidy_orphans();
    for lists in &ORPHANS.classes {
        lists.avail.for_each(|pool| {
            ORPHANS.remove_candidate(pool);
            // SAFETY: orphaned pools are owned by the lock holder: us.
            crate::purge::purge_pool(unsafe { &*pool });
        });
    }
}

/// Runs `visit` on every heap ever made (under the heap lock).
pub fn for_each_heap(mut visit: impl FnMut(&ThreadHeap)) {
    let store = lock_heaps();
    let mut heap = store.all;
    while !heap.is_null() {
        // SAFETY: heaps are never unmapped.
        let heap_ref = unsafe { &*heap };
        visit(heap_ref);
        heap = heap_ref.all_next.get();
    }
}

/// Blocks freed by other threads and not yet collected by their pool's owner.
pub fn remote_pending() -> u64 {
    let store = lock_heaps();
    let mut issued =
        store.retired_issued + crate::heap::HEAPLESS_REMOTE_FREES.load(Ordering::Relaxed);
    let mut collected = store.retired_collected + ORPHANS.remote_collected.load(Ordering::Relaxed);
    let mut heap = store.all;
    while !heap.is_null() {
        // SAFETY: heaps are never unmapped.
        let heap_ref = unsafe { &*heap };
        issued += heap_ref.remote_issued.load(Ordering::Relaxed);
        collected += heap_ref.remote_collected.load(Ordering::Relaxed);
        heap = heap_ref.all_next.get();
    }
    // The two sides are read at slightly different moments: never report
    // a negative backlog.
    issued.saturating_sub(collected)
}

/// Orphaned pools and live thread heaps, for statistics.
pub fn heap_counts() -> (usize, usize) {
    (ORPHAN_POOLS.load(Ordering::Relaxed), lock_heaps().live)
}

crate::fork::fork_hooks!(
    "the orphanage and heap-list locks, in lock order":
    FORK_ORPHANS: () = lock_orphans(),
    FORK_HEAPS: HeapStore = lock_heaps(),
);
