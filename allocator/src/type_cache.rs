//! Layer +3: per-type free lists, CPython's object-specific allocators.
//!
//! CPython keeps up to 80 freed `dict` objects (and lists, floats, tuples...)
//! on per-type free lists, so the next object of that type skips the general
//! allocator. [`TypeCache`] is the same idea for any Rust type: a bounded,
//! per-thread stack of freed blocks of `T`'s size. `alloc` pops from it
//! (a hit) or takes a block from the pools (a miss); `free` pushes onto it
//! unless it already holds `N` blocks, in which case the block goes back to
//! its pool. A thread's cached blocks return to the pools when the thread
//! exits, on [`TypeCache::trim`], and on `strata::trim()`.
//!
//! ```
//! use strata::TypeCache;
//!
//! struct Node { key: u64, next: Option<Box<Node>> }
//! static NODES: TypeCache<Node, 80> = TypeCache::new("Node");
//!
//! let p = NODES.alloc();
//! assert!(!p.is_null());
//! // SAFETY: `p` is a fresh, suitably aligned block for one `Node`.
//! unsafe {
//!     p.write(Node { key: 7, next: None });
//!     assert_eq!((*p).key, 7);
//!     p.drop_in_place();
//!     NODES.free(p);
//! }
//! let again = NODES.alloc(); // a hit: the block just freed
//! assert_eq!(again, p);
//! // SAFETY: a block from this cache, not used any more.
//! unsafe { NODES.free(again) };
//! assert!(NODES.stats().hits >= 1);
//! ```

use crate::heap::{self, ThreadHeap, EMPTY_HEAP};
use crate::pool::Block;
use crate::size_class;
use crate::thread;
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// At most this many `TypeCache`s can be active in a program; further ones
/// pass every request straight to the pools (and say so in their stats).
pub const MAX_TYPE_CACHES: usize = 32;

/// Counters of one type cache, summed over all threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeCacheStats {
    /// The name given to [`TypeCache::new`].
    pub name: &'static str,
    /// Allocations served from the cache.
    pub hits: u64,
    /// Allocations that went to the pools.
    pub misses: u64,
    /// Frees that found the cache full and went to the pools.
    pub overflows: u64,
}

/// A bounded stack of cached free blocks, linked through their first word.
pub struct CachedBlocks {
    head: Cell<*mut Block>,
    len: Cell<usize>,
}

impl CachedBlocks {
    #[allow(clippy::declare_interior_mutable_const)] // a template for array initialisers
    pub const EMPTY: CachedBlocks = CachedBlocks {
        head: Cell::new(ptr::null_mut()),
        len: Cell::new(0),
    };

    /// Owner only: the most recently cached block, or null.
    #[inline]
    fn pop(&self) -> *mut u8 {
        let block = self.head.get();
        if !block.is_null() {
            // SAFETY: cached blocks are free strata blocks linked by their first word.
            self.head.set(unsafe { (*block).next });
            self.len.set(self.len.get() - 1);
        }
        block.cast()
    }

    /// Owner only: caches `block` unless `bound` blocks are cached already.
    ///
    /// # Safety
    /// `block` is a dead strata block of at least 8 bytes.
    #[inline]
    unsafe fn push_bounded(&self, block: *mut u8, bound: usize) -> bool {
        if self.len.get() >= bound {
            return false;
        }
        let block = block.cast::<Block>();
        // SAFETY: the caller hands over a dead block of at least 8 bytes.
        unsafe { (*block).next = self.head.get() };
        self.head.set(block);
        self.len.set(self.len.get() + 1);
        true
    }

    /// Owner only: returns every cached block to its pool.
    pub fn flush(&self) {
        let mut block = self.head.replace(ptr::null_mut());
        self.len.set(0);
        while !block.is_null() {
            // SAFETY: cached blocks are live strata blocks owned by the cache.
            unsafe {
                let next = (*block).next;
                heap::free(block.cast());
                block = next;
            }
        }
    }
}

/// One size class's cached blocks in one heap (see [`ClassCache`]).
pub type ClassList = CachedBlocks;

/// One cache's state in one thread heap.
pub struct TypeSlot {
    blocks: CachedBlocks,
    /// Owner-written counters (plain load and store), read by `stats()`.
    hits: AtomicU64,
    misses: AtomicU64,
    overflows: AtomicU64,
}

impl TypeSlot {
    #[allow(clippy::declare_interior_mutable_const)] // a template for array initialisers
    pub const EMPTY: TypeSlot = TypeSlot {
        blocks: CachedBlocks::EMPTY,
        hits: AtomicU64::new(0),
        misses: AtomicU64::new(0),
        overflows: AtomicU64::new(0),
    };

    fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Owner only: returns every cached block to its pool.
    pub fn flush(&self) {
        self.blocks.flush();
    }
}

/// Names and counters of exited threads, per cache index.
struct Registry {
    names: [&'static str; MAX_TYPE_CACHES],
    count: usize,
    retired: [(u64, u64, u64); MAX_TYPE_CACHES],
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    names: [""; MAX_TYPE_CACHES],
    count: 0,
    retired: [(0, 0, 0); MAX_TYPE_CACHES],
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A per-thread, bounded cache of freed blocks of `T`: see the module docs.
pub struct TypeCache<T, const N: usize> {
    name: &'static str,
    /// 0 until first use, then the slot index + 1; `usize::MAX` if no slot
    /// was left.
    slot: AtomicUsize,
    _type: PhantomData<fn() -> T>,
}

const NO_SLOT: usize = usize::MAX;

impl<T, const N: usize> TypeCache<T, N> {
    /// A cache named `name` (shown by `strata::stats()`).
    pub const fn new(name: &'static str) -> Self {
        TypeCache {
            name,
            slot: AtomicUsize::new(0),
            _type: PhantomData,
        }
    }

    fn class() -> Option<usize> {
        size_class::class_for(core::mem::size_of::<T>().max(1), core::mem::align_of::<T>())
    }

    /// This cache's slot index, assigned on first use.
    #[inline]
    fn index(&self) -> Option<usize> {
        let slot = self.slot.load(Ordering::Acquire);
        match slot {
            0 => self.register(),
            NO_SLOT => None,
            n => Some(n - 1),
        }
    }

    #[cold]
    fn register(&self) -> Option<usize> {
        let mut registry = registry();
        let slot = self.slot.load(Ordering::Acquire);
        if slot != 0 {
            return (slot != NO_SLOT).then(|| slot - 1);
        }
        if registry.count == MAX_TYPE_CACHES || Self::class().is_none() {
            self.slot.store(NO_SLOT, Ordering::Release);
            return None;
        }
        let index = registry.count;
        registry.names[index] = self.name;
        registry.count += 1;
        // Release: a thread that sees the index sees the registered name.
        self.slot.store(index + 1, Ordering::Release);
        Some(index)
    }

    fn slot_of(heap: *mut ThreadHeap, index: usize) -> &'static TypeSlot {
        // SAFETY: heaps are never unmapped and this is the calling thread's.
        unsafe { &(*heap).type_slots[index] }
    }

    /// A block for one `T` (uninitialised), or null when out of memory.
    #[inline]
    pub fn alloc(&self) -> *mut T {
        let Some(class) = Self::class() else {
            let layout = core::alloc::Layout::new::<T>();
            return crate::raw::alloc(layout.size().max(1), layout.align()).cast();
        };
        let index = self.index();
        let heap = thread::current();
        if let (Some(index), false) = (index, ptr::eq(heap, &EMPTY_HEAP)) {
            let slot = Self::slot_of(heap, index);
            let block = slot.blocks.pop();
            if !block.is_null() {
                TypeSlot::bump(&slot.hits);
                return block.cast();
            }
        }
        let block = heap::alloc(class);
        // The thread has a heap now, even if it had none before.
        let heap = thread::current();
        if let (Some(index), false) = (index, ptr::eq(heap, &EMPTY_HEAP)) {
            TypeSlot::bump(&Self::slot_of(heap, index).misses);
        }
        block.cast()
    }

    /// Returns a block to the cache (or to its pool when the cache is full).
    /// The value in it is not dropped.
    ///
    /// # Safety
    /// `ptr` came from `alloc` of a cache of the same `T` and is not used
    /// any more.
    #[inline]
    pub unsafe fn free(&self, ptr: *mut T) {
        let heap = thread::current();
        if Self::class().is_some() && N > 0 && !ptr::eq(heap, &EMPTY_HEAP) {
            if let Some(index) = self.index() {
                let slot = Self::slot_of(heap, index);
                // SAFETY: the caller hands over a dead block of this class.
                if unsafe { slot.blocks.push_bounded(ptr.cast(), N) } {
                    return;
                }
                TypeSlot::bump(&slot.overflows);
            }
        }
        // SAFETY: a live strata block the caller gives up.
        unsafe { crate::raw::free(ptr.cast()) }
    }

    /// Returns the calling thread's cached blocks of this type to the pools.
    pub fn trim(&self) {
        let heap = thread::current();
        if let (Some(index), false) = (self.index(), ptr::eq(heap, &EMPTY_HEAP)) {
            Self::slot_of(heap, index).flush();
        }
    }

    /// Blocks the calling thread holds in this cache.
    pub fn cached(&self) -> usize {
        let heap = thread::current();
        match (self.index(), ptr::eq(heap, &EMPTY_HEAP)) {
            (Some(index), false) => Self::slot_of(heap, index).blocks.len.get(),
            _ => 0,
        }
    }

    /// This cache's counters over all threads.
    pub fn stats(&self) -> TypeCacheStats {
        match self.index() {
            Some(index) => all_stats().0[index],
            None => TypeCacheStats {
                name: self.name,
                ..TypeCacheStats::default()
            },
        }
    }
}

/// A per-thread, bounded free list for every size class, for code that
/// allocates many types through one path (a garbage collector's objects,
/// generic over the object type, cannot name a `static` per type). Blocks are
/// cached by the size class of their `Layout`; all `ClassCache`s of a program
/// share the lists, each bounding them by its own `N`.
///
/// ```
/// use std::alloc::Layout;
/// static OBJECTS: strata::ClassCache<64> = strata::ClassCache::new("objects");
///
/// let layout = Layout::new::<[u64; 3]>();
/// let p = OBJECTS.alloc(layout);
/// assert!(!p.is_null());
/// // SAFETY: `p` came from `alloc(layout)` and is not used any more.
/// unsafe { OBJECTS.free(p, layout) };
/// assert_eq!(OBJECTS.alloc(layout), p); // served from the cache
/// # unsafe { OBJECTS.free(p, layout) };
/// ```
pub struct ClassCache<const N: usize> {
    /// Registration and counters, shared with the type caches' machinery.
    counters: TypeCache<u8, 0>,
}

impl<const N: usize> ClassCache<N> {
    /// A cache named `name` (shown by `strata::stats()`).
    pub const fn new(name: &'static str) -> Self {
        ClassCache {
            counters: TypeCache::new(name),
        }
    }

    /// A block for `layout`, or null when out of memory.
    #[inline]
    pub fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        let Some(class) = size_class::class_for(layout.size().max(1), layout.align()) else {
            return crate::raw::alloc(layout.size(), layout.align());
        };
        let index = self.counters.index();
        let heap = thread::current();
        if !ptr::eq(heap, &EMPTY_HEAP) {
            // SAFETY: this thread's heap.
            let list = unsafe { &(*heap).class_cache[class] };
            let block = list.pop();
            if !block.is_null() {
                if let Some(index) = index {
                    TypeSlot::bump(&TypeCache::<u8, 0>::slot_of(heap, index).hits);
                }
                return block.cast();
            }
        }
        let block = heap::alloc(class);
        let heap = thread::current();
        if let (Some(index), false) = (index, ptr::eq(heap, &EMPTY_HEAP)) {
            TypeSlot::bump(&TypeCache::<u8, 0>::slot_of(heap, index).misses);
        }
        block
    }

    /// Returns a block to the cache, or to its pool when the cache is full.
    ///
    /// # Safety
    /// `ptr` came from `alloc(layout)` of a `ClassCache` with this `layout`,
    /// and is not used any more.
    #[inline]
    pub unsafe fn free(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        let heap = thread::current();
        if let (Some(class), false) = (
            size_class::class_for(layout.size().max(1), layout.align()),
            ptr::eq(heap, &EMPTY_HEAP),
        ) {
            // SAFETY: this thread's heap.
            let list = unsafe { &(*heap).class_cache[class] };
            // SAFETY: the caller hands over a dead block of this class.
            if unsafe { list.push_bounded(ptr, N) } {
                return;
            }
            if let Some(index) = self.counters.index() {
                TypeSlot::bump(&TypeCache::<u8, 0>::slot_of(heap, index).overflows);
            }
        }
        // SAFETY: a live strata block the caller gives up.
        unsafe { crate::raw::free(ptr) }
    }

    /// This cache's counters over all threads.
    pub fn stats(&self) -> TypeCacheStats {
        self.counters.stats()
    }
}

/// Owner only: returns every block cached by this heap's type and class
/// caches to the pools.
pub fn flush_all(heap: &ThreadHeap) {
    for slot in &heap.type_slots {
        slot.flush();
    }
    for list in &heap.class_cache {
        list.flush();
    }
}

/// A dying thread's slots: blocks back to the pools, counters kept.
pub fn retire(heap: &ThreadHeap) {
    flush_all(heap);
    let mut registry = registry();
    for (index, slot) in heap.type_slots.iter().enumerate() {
        let totals = &mut registry.retired[index];
        totals.0 += slot.hits.swap(0, Ordering::Relaxed);
        totals.1 += slot.misses.swap(0, Ordering::Relaxed);
        totals.2 += slot.overflows.swap(0, Ordering::Relaxed);
    }
}

/// Every registered cache's counters over all threads, and how many there are.
pub fn all_stats() -> ([TypeCacheStats; MAX_TYPE_CACHES], usize) {
    let mut out = [TypeCacheStats::default(); MAX_TYPE_CACHES];
    let registry = registry();
    for (index, entry) in out.iter_mut().enumerate().take(registry.count) {
        let (hits, misses, overflows) = registry.retired[index];
        *entry = TypeCacheStats {
            name: registry.names[index],
            hits,
            misses,
            overflows,
        };
    }
    thread::for_each_heap(|heap| {
        for (index, entry) in out.iter_mut().enumerate().take(registry.count) {
            let slot = &heap.type_slots[index];
            entry.hits += slot.hits.load(Ordering::Relaxed);
            entry.misses += slot.misses.load(Ordering::Relaxed);
            entry.overflows += slot.overflows.load(Ordering::Relaxed);
        }
    });
    (out, registry.count)
}

// Taken before the heap-list lock, which `all_stats` nests inside it.
crate::fork::fork_hooks!("the type-cache registry lock": FORK_REGISTRY: Registry = registry());
