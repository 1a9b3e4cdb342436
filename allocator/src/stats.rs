//! `strata::stats()`: what the allocator holds, like `sys._debugmallocstats()`.
//!
//! Counts come from the pool descriptors themselves (walked under the arena
//! lock) rather than from counters on the fast paths, so they cost nothing
//! until asked for and always add up.

use crate::arena::{self, ArenaCounters, ARENA_SIZE, HEADER_PAGES, PAGE_SIZE};
use crate::size_class::{CLASS_SIZE, NUM_CLASSES};
use crate::{large, thread};
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
    /// Blocks free in these pools (free lists and never-used tails).
    pub blocks_free: usize,
}

/// A snapshot of the allocator. Taking it allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Bytes mapped from the OS for arenas and huge blocks.
    pub bytes_mapped: usize,
    /// Bytes in blocks handed out (block sizes, not request sizes), huge blocks
    /// included.
    pub bytes_in_use: usize,
    /// Arena counters.
    pub arenas: ArenaCounters,
    /// Pools in use.
    pub pools: usize,
    /// Pools of exited threads not yet adopted by another thread.
    pub orphaned_pools: usize,
    /// Threads with a heap.
    pub thread_heaps: usize,
    /// Huge blocks and the bytes mapped for them.
    pub huge_blocks: usize,
    pub huge_bytes: usize,
    /// Bytes of arena headers (pool descriptors).
    pub header_bytes: usize,
    /// Bytes at the end of pools too small for another block.
    pub pool_tail_waste: usize,
    /// Per size class.
    pub classes: [ClassStats; NUM_CLASSES],
}

/// Takes a snapshot of the allocator's state.
pub fn stats() -> Stats {
    let mut classes = [ClassStats::default(); NUM_CLASSES];
    for (class, entry) in classes.iter_mut().enumerate() {
        entry.block_size = CLASS_SIZE[class] as usize;
    }
    let mut pools = 0;
    let mut tail_waste = 0;
    let counters = arena::visit_arenas(|arena| {
        // SAFETY: visit_arenas holds the arena lock.
        unsafe {
            arena.for_each_pool(|pool| {
                let entry = &mut classes[pool.class.get() as usize];
                let used = pool.used() as usize;
                let capacity = pool.capacity.get() as usize;
                entry.pools += 1;
                entry.blocks_in_use += used;
                entry.blocks_free += capacity.saturating_sub(used);
                pools += 1;
                tail_waste += pool.pages.get() as usize * PAGE_SIZE - capacity * entry.block_size;
            })
        }
    });
    let (huge_blocks, huge_bytes) = large::counters();
    let (orphaned_pools, thread_heaps) = thread::heap_counts();
    let in_pools: usize = classes.iter().map(|c| c.blocks_in_use * c.block_size).sum();
    Stats {
        bytes_mapped: counters.current * ARENA_SIZE + huge_bytes,
        bytes_in_use: in_pools + huge_bytes,
        arenas: counters,
        pools,
        orphaned_pools,
        thread_heaps,
        huge_blocks,
        huge_bytes,
        header_bytes: counters.current * HEADER_PAGES * PAGE_SIZE,
        pool_tail_waste: tail_waste,
        classes,
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
        writeln!(f, "class   size   num pools   blocks in use  avail blocks")?;
        writeln!(f, "-----   ----   ---------   -------------  ------------")?;
        for (index, class) in self.classes.iter().enumerate() {
            if class.pools == 0 {
                continue;
            }
            writeln!(
                f,
                "{index:5} {:6} {:11} {:15} {:13}",
                class.block_size, class.pools, class.blocks_in_use, class.blocks_free
            )?;
        }
        let free_bytes: usize = self
            .classes
            .iter()
            .map(|c| c.blocks_free * c.block_size)
            .sum();
        writeln!(f)?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: usize| {
            writeln!(f, "{label:<40}= {value:>15}")
        };
        row(f, "# arenas allocated total", self.arenas.allocated_total)?;
        row(f, "# arenas reclaimed", self.arenas.reclaimed)?;
        row(f, "# arenas highwater mark", self.arenas.highwater)?;
        row(f, "# arenas allocated current", self.arenas.current)?;
        row(
            f,
            &format!(
                "{} arenas * {} bytes/arena",
                self.arenas.current, ARENA_SIZE
            ),
            self.arenas.current * ARENA_SIZE,
        )?;
        writeln!(f)?;
        row(
            f,
            "# bytes in allocated blocks",
            self.bytes_in_use - self.huge_bytes,
        )?;
        row(f, "# bytes in available blocks", free_bytes)?;
        row(
            f,
            &format!("{} unused pages * {} bytes", self.unused_pages(), PAGE_SIZE),
            self.unused_pages() * PAGE_SIZE,
        )?;
        row(f, "# bytes lost to pool tails", self.pool_tail_waste)?;
        row(f, "# bytes in arena headers", self.header_bytes)?;
        row(
            f,
            &format!("# huge blocks ({})", self.huge_blocks),
            self.huge_bytes,
        )?;
        row(f, "# pools orphaned by exited threads", self.orphaned_pools)?;
        row(f, "# thread heaps", self.thread_heaps)?;
        row(f, "Total mapped", self.bytes_mapped)
    }
}

impl Stats {
    /// Arena pages not in any pool.
    pub fn unused_pages(&self) -> usize {
        let pool_pages: usize = (self.bytes_mapped - self.huge_bytes) / PAGE_SIZE;
        let used: usize = self
            .classes
            .iter()
            .enumerate()
            .map(|(class, c)| c.pools * crate::size_class::CLASS_PAGES[class] as usize)
            .sum();
        pool_pages.saturating_sub(used + self.arenas.current * HEADER_PAGES)
    }
}
