//! Giving back the free pages inside pools that are still in use.
//!
//! A pool whose blocks are mostly free still pins all its pages. Once such a
//! pool has stayed sparse for the purge delay, its owner finds the OS pages
//! (4 KiB) that no live block touches and gives them back with `madvise`. The
//! free-list links of blocks inside those pages would be lost, so the blocks
//! that *start* in a purged page leave the free list and the page is recorded
//! in the pool's `purged` bitmap; when the pool runs out of blocks, a purged
//! page is restored and its blocks go back on the free list. Only the owner
//! thread does this, since the free list is owner-only.

use crate::arena::{Arena, PAGE_SIZE};
use crate::os::{self, OS_PAGE};
use crate::pool::{Block, Pool};
use core::ptr;

/// Most blocks a pool can hold (the 8-byte class in one 16 KiB page is 2048).
const MAX_BLOCKS: usize = 4096;

/// Owner only: gives back the OS pages of `pool` that hold no live block.
/// Returns how many OS pages were newly purged.
pub fn purge_pool(pool: &Pool) -> usize {
    let layout = Layout::of(pool);
    let capacity = layout.capacity;
    let carved = layout.index_of(pool.bump.get());
    let os_pages = pool.pages.get() as usize * (PAGE_SIZE / OS_PAGE);
    if capacity > MAX_BLOCKS || os_pages > 128 || pool.used() as usize == carved {
        return 0;
    }
    // Free blocks: the free list, the blocks of pages already purged, and
    // everything not yet carved.
    let mut free = [0u64; MAX_BLOCKS / 64];
    let mut mark = |index: usize| free[index / 64] |= 1 << (index % 64);
    let mut block = pool.free.get();
    while !block.is_null() {
        mark(layout.index_of(block.cast()));
        // SAFETY: the free list links free blocks of this pool.
        block = unsafe { (*block).next };
    }
    let old_purged = pool.purged.get();
    for page in 0..os_pages {
        if old_purged & (1 << page) != 0 {
            for index in layout.blocks_starting_in(page) {
                mark(index);
            }
        }
    }
    for index in carved..capacity {
        mark(index);
    }
    let is_free = |index: usize| free[index / 64] & (1 << (index % 64)) != 0;

    let mut purged = old_purged;
    let mut newly = 0;
    let decommit = |page: usize| {
        // SAFETY: a pool in use lies in a live arena.
        unsafe { (*Arena::of(pool.start.get())).forgo_huge_pages() };
        os::decommit((layout.base + page * OS_PAGE) as *mut u8, OS_PAGE);
    };
    for page in 0..os_pages {
        if purged & (1 << page) != 0 {
            continue;
        }
        if !layout.blocks_touching(page).all(is_free) {
            continue;
        }
        let starts = layout.blocks_starting_in(page);
        let in_tail = starts.start >= carved;
        if starts.is_empty() || in_tail {
            // No block starts here, or only never-carved ones: nothing on the
            // free list lives in this page, so it can go without bookkeeping.
            // A never-touched tail is not resident; skip the system call.
            if !(in_tail && pool.zeroed.get()) {
                decommit(page);
                newly += 1;
            }
            continue;
        }
        if starts.end > carved {
            continue; // mixes carved and never-carved blocks: keep it simple
        }
        purged |= 1 << page;
        decommit(page);
        newly += 1;
    }
    if purged != old_purged {
        rebuild_free_list(pool, &free, purged, carved);
        pool.purged.set(purged);
        let pages = (purged.count_ones() - old_purged.count_ones()) as usize;
        crate::arena::pool_bytes_purged(pages * OS_PAGE);
    }
    newly
}

/// Where a pool's blocks lie in its OS pages: block `i` takes the bytes
/// from `offset + i * size` to `offset + (i + 1) * size` past `base`, the
/// first byte of the pool's first page (the offset is the block offset of
/// small classes, see [`crate::settings::block_offset`]).
struct Layout {
    base: usize,
    offset: usize,
    size: usize,
    capacity: usize,
}

impl Layout {
    fn of(pool: &Pool) -> Layout {
        let base = pool.base();
        Layout {
            base,
            offset: pool.start.get() as usize - base,
            size: pool.block_size.get() as usize,
            capacity: pool.capacity.get() as usize,
        }
    }

    /// The first block whose first byte is at or past `byte` (from `base`).
    fn first_from(&self, byte: usize) -> usize {
        byte.saturating_sub(self.offset)
            .div_ceil(self.size)
            .min(self.capacity)
    }

    /// The indices of the blocks whose first byte lies in OS page `page`.
    fn blocks_starting_in(&self, page: usize) -> core::ops::Range<usize> {
        let end = self.first_from((page + 1) * OS_PAGE);
        self.first_from(page * OS_PAGE).min(end)..end
    }

    /// The indices of the blocks with any byte in OS page `page`.
    fn blocks_touching(&self, page: usize) -> core::ops::Range<usize> {
        let end = self.first_from((page + 1) * OS_PAGE);
        let first = (page * OS_PAGE).saturating_sub(self.offset) / self.size;
        first.min(end)..end
    }

    /// The OS page holding the first byte of block `index`.
    fn page_of(&self, index: usize) -> usize {
        (self.offset + index * self.size) / OS_PAGE
    }

    /// Block `index`.
    fn block(&self, index: usize) -> *mut Block {
        (self.base + self.offset + index * self.size) as *mut Block
    }

    /// The index of the block at `ptr` (or of the never-carved tail's
    /// first block, for the pool's bump pointer).
    fn index_of(&self, ptr: *mut u8) -> usize {
        (ptr as usize - self.base - self.offset) / self.size
    }
}

/// Relinks the free blocks below `carved` that start outside purged pages, in
/// address order (touching only pages that stay resident).
fn rebuild_free_list(pool: &Pool, free: &[u64], purged: u128, carved: usize) {
    let layout = Layout::of(pool);
    let mut head: *mut Block = ptr::null_mut();
    for index in (0..carved).rev() {
        let is_free = free[index / 64] & (1 << (index % 64)) != 0;
        let page = layout.page_of(index);
        if is_free && purged & (1 << page) == 0 {
            let block = layout.block(index);
            // SAFETY: a free block of this pool in a resident page.
            unsafe { (*block).next = head };
            head = block;
        }
    }
    pool.free.set(head);
}

/// Owner only: puts the blocks of one purged page back on the free list.
/// Returns whether any block was added.
pub fn restore_page(pool: &Pool) -> bool {
    let layout = Layout::of(pool);
    while pool.purged.get() != 0 {
        let bits = pool.purged.get();
        let page = bits.trailing_zeros() as usize;
        pool.purged.set(bits & !(1 << page));
        let mut added = false;
        for index in layout.blocks_starting_in(page).rev() {
            let block = layout.block(index);
            // SAFETY: blocks starting in a purged page are free and belong to
            // no list; writing the link faults the page back in.
            unsafe { (*block).next = pool.free.get() };
            pool.free.set(block);
            added = true;
        }
        if added {
            // Writing the links faulted the page back in: fresh memory.
            crate::arena::pool_bytes_restored(OS_PAGE);
            return true;
        }
    }
    false
}

/// OS pages of a pool currently given back.
pub fn purged_pages(pool: &Pool) -> usize {
    pool.purged.get().count_ones() as usize
}
