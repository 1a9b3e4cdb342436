//! `strata::stats()`: what the allocator holds, like `sys._debugmallocstats()`.
//!
//! Block counts come from the pool descriptors themselves (walked under the
//! arena lock) rather than from counters on the fast paths, so they cost
//! nothing until asked for and always add up across threads. The per-type
//! cache counters are per-thread and summed here.

use crate::arena::{self, ArenaCounters, HEADER_PAGES, PAGE_SIZE};
use crate::os::OS_PAGE;
use crate::pool::LARGE_CLASS;
use crate::size_class::{CLASS_SIZE, NUM_CLASSES};
use crate::{large, purge, thread, type_cache};
use core::fmt;

/// One size class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Block size in bytes.
    pub block_size: usize,
    /// Pools of this class.
    pub pools: usize,
    /// Blocks handed out (including those freed by another thread and not yet
    /// collected by the pool's owner).
    pub blocks_in_use: usize,
    /// Blocks free in these pools (free lists, purged pages and never-used tails).
    pub blocks_free: usize,
    /// Bytes of these pools' pages that may be resident (pages given back to
    /// the OS excluded).
    pub bytes_resident: usize,
}

impl ClassStats {
    /// Bytes in blocks handed out.
    pub fn bytes_in_use(&self) -> usize {
        self.blocks_in_use * self.block_size
    }

    /// Bytes in use per byte resident, in percent (100 when nothing is resident).
    pub fn efficiency_percent(&self) -> f64 {
        if self.bytes_resident == 0 {
            100.0
        } else {
            100.0 * self.bytes_in_use() as f64 / self.bytes_resident as f64
        }
    }
}

/// A snapshot of the allocator. Taking it allocates nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Bytes mapped from the OS for arenas and huge blocks.
    pub bytes_mapped: usize,
    /// Bytes in blocks handed out (block sizes, not request sizes), huge
    /// blocks included.
    pub bytes_in_use: usize,
    /// Bytes that may be resident: mapped minus everything known to have been
    /// given back (purged pages, never-touched pool tails are still counted).
    pub bytes_resident: usize,
    /// Arena counters.
    pub arenas: ArenaCounters,
    /// Pools in use.
    pub pools: usize,
    /// Free arena pages that may still be resident (waiting for the purge delay).
    pub free_pages_resident: usize,
    /// Free arena pages already given back to the OS.
    pub free_pages_purged: usize,
    /// Blocks freed by other threads, waiting for their pool's owner.
    pub remote_pending: usize,
    /// Pools of exited threads not yet adopted by another thread.
    pub orphaned_pools: usize,
    /// Threads with a heap.
    pub thread_heaps: usize,
    /// Huge blocks, the bytes mapped for them, and freed ones cached for reuse.
    pub huge_blocks: usize,
    pub huge_bytes: usize,
    pub huge_cached_bytes: usize,
    /// Large blocks (above the medium classes, up to
    /// [`LARGE_MAX`](crate::arena::LARGE_MAX): runs of arena pages) and the
    /// bytes their pages hold. Counted in `bytes_in_use`, not in `classes`.
    pub large_blocks: usize,
    pub large_bytes: usize,
    /// Bytes lost to pool headers: arena header pages (pool descriptors).
    pub header_bytes: usize,
    /// Bytes lost to quantization: the end of each pool too small for a block.
    pub quantization_bytes: usize,
    /// Bytes lost to arena alignment: always 0, arenas are mapped with slack
    /// that is unmapped again.
    pub alignment_bytes: usize,
    /// Per size class.
    pub classes: [ClassStats; NUM_CLASSES],
    /// Per-type caches (`TypeCache`), in registration order.
    pub type_caches: [type_cache::TypeCacheStats; type_cache::MAX_TYPE_CACHES],
    /// How many entries of `type_caches` are in use.
    pub type_cache_count: usize,
}

/// Takes a snapshot of the allocator's state.
pub fn stats() -> Stats {
    let mut classes = [ClassStats::default(); NUM_CLASSES];
    for (class, entry) in classes.iter_mut().enumerate() {
        entry.block_size = CLASS_SIZE[class] as usize;
    }
    let mut pools = 0;
    let mut quantization = 0;
    let mut free_resident = 0;
    let mut free_total = 0;
    let mut header_bytes = 0;
    let mut large_blocks = 0;
    let mut large_bytes = 0;
    let counters = arena::visit_arenas(|arena| {
        header_bytes += HEADER_PAGES * PAGE_SIZE;
        // SAFETY: visit_arenas holds the arena lock.
        unsafe {
            let mut pool_pages = 0;
            arena.for_each_pool(|pool| {
                pool_pages += pool.pages.get() as usize;
                if pool.class.get() == LARGE_CLASS {
                    large_blocks += 1;
                    large_bytes += pool.pages.get() as usize * PAGE_SIZE;
                    return;
                }
                let entry = &mut classes[pool.class.get() as usize];
                let used = pool.used() as usize;
                let capacity = pool.capacity.get() as usize;
                let bytes = pool.pages.get() as usize * PAGE_SIZE;
                entry.pools += 1;
                entry.blocks_in_use += used;
                entry.blocks_free += capacity.saturating_sub(used);
                entry.bytes_resident += bytes - purge::purged_pages(pool) * OS_PAGE;
                pools += 1;
                quantization += bytes - capacity * entry.block_size;
            });
            free_resident += arena.free_dirty_pages();
            free_total += arena.page_count() - HEADER_PAGES - pool_pages;
        }
    });
    let (huge_blocks, huge_bytes, huge_cached_bytes) = large::counters();
    let (orphaned_pools, thread_heaps) = thread::heap_counts();
    let in_pools: usize = classes.iter().map(ClassStats::bytes_in_use).sum();
    let pool_resident: usize = classes.iter().map(|c| c.bytes_resident).sum();
    let (type_caches, type_cache_count) = type_cache::all_stats();
    Stats {
        bytes_mapped: counters.bytes + huge_bytes + huge_cached_bytes,
        bytes_in_use: in_pools + large_bytes + huge_bytes,
        bytes_resident: header_bytes
            + pool_resident
            + large_bytes
            + free_resident * PAGE_SIZE
            + huge_bytes
            + huge_cached_bytes,
        arenas: counters,
        pools,
        free_pages_resident: free_resident,
        free_pages_purged: free_total - free_resident,
        remote_pending: thread::remote_pending() as usize,
        orphaned_pools,
        thread_heaps,
        huge_blocks,
        huge_bytes,
        huge_cached_bytes,
        large_blocks,
        large_bytes,
        header_bytes,
        quantization_bytes: quantization,
        alignment_bytes: 0,
        classes,
        type_caches,
        type_cache_count,
    }
}

impl Stats {
    /// Blocks in use across all classes.
    pub fn blocks_in_use(&self) -> usize {
        self.classes.iter().map(|c| c.blocks_in_use).sum()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Small and medium block allocator (strata):")?;
        writeln!(f)?;
        writeln!(
            f,
            "class   size   num pools   blocks in use  avail blocks   resident KiB  in use %"
        )?;
        writeln!(
            f,
            "-----   ----   ---------   -------------  ------------   ------------  --------"
        )?;
        for (index, class) in self.classes.iter().enumerate() {
            if class.pools == 0 {
                continue;
            }
            writeln!(
                f,
                "{index:5} {:6} {:11} {:15} {:13} {:14} {:9.1}",
                class.block_size,
                class.pools,
                class.blocks_in_use,
                class.blocks_free,
                class.bytes_resident / 1024,
                class.efficiency_percent()
            )?;
        }
        let free_bytes: usize = self
            .classes
            .iter()
            .map(|c| c.blocks_free * c.block_size)
            .sum();
        writeln!(f)?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: usize| {
            writeln!(f, "{label:<44}= {value:>15}")
        };
        row(f, "# arenas allocated total", self.arenas.allocated_total)?;
        row(f, "# arenas reclaimed", self.arenas.reclaimed)?;
        row(f, "# arenas highwater mark", self.arenas.highwater)?;
        row(f, "# arenas allocated current", self.arenas.current)?;
        row(f, "# bytes in arenas", self.arenas.bytes)?;
        writeln!(f)?;
        row(
            f,
            "# bytes in allocated blocks",
            self.bytes_in_use - self.large_bytes - self.huge_bytes,
        )?;
        row(f, "# bytes in available blocks", free_bytes)?;
        row(
            f,
            "# free pool pages still resident",
            self.free_pages_resident,
        )?;
        row(f, "# free pool pages given back", self.free_pages_purged)?;
        row(f, "# bytes lost to pool headers", self.header_bytes)?;
        row(f, "# bytes lost to quantization", self.quantization_bytes)?;
        row(f, "# bytes lost to arena alignment", self.alignment_bytes)?;
        row(
            f,
            &format!("# large blocks ({})", self.large_blocks),
            self.large_bytes,
        )?;
        row(
            f,
            &format!("# huge blocks ({})", self.huge_blocks),
            self.huge_bytes,
        )?;
        row(f, "# bytes in cached huge mappings", self.huge_cached_bytes)?;
        row(f, "# blocks freed remotely, pending", self.remote_pending)?;
        row(f, "# pools orphaned by exited threads", self.orphaned_pools)?;
        row(f, "# thread heaps", self.thread_heaps)?;
        for cache in &self.type_caches[..self.type_cache_count] {
            writeln!(
                f,
                "{:<44}= {:>15}",
                format!("# type cache {} hits / misses", cache.name),
                format!("{} / {}", cache.hits, cache.misses)
            )?;
        }
        row(f, "Total resident (at most)", self.bytes_resident)?;
        row(f, "Total mapped", self.bytes_mapped)
    }
}
