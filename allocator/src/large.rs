//! Layer 0: huge blocks, mapped one per allocation.
//!
//! Requests above [`MEDIUM_MAX`](crate::size_class::MEDIUM_MAX) or aligned
//! beyond a pool page get their own mapping. The mapping starts on an
//! [`ARENA_SIZE`] boundary with a [`HugeHeader`] in its first OS page, so the
//! same mask that finds an arena header finds it: the block starts one page in
//! (or at its alignment, if that is larger). A block aligned to `ARENA_SIZE`
//! or more would start on the boundary itself; its header then sits exactly
//! one chunk before the block, and `free` tells the two cases apart by the
//! pointer's offset in its chunk (pool blocks are never at offset 0: the arena
//! header is there).

use crate::arena::ARENA_SIZE;
use crate::os::{self, OS_PAGE};
use crate::registry;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Marks a chunk as a huge block (the first word of its header).
pub const HUGE_MAGIC: usize = 0x5354_5241_5441_4855;

#[repr(C)]
pub struct HugeHeader {
    pub magic: usize,
    map_len: usize,
    /// Offset of the block from the mapping's start.
    offset: usize,
}

impl HugeHeader {
    /// Where this mapping's block starts.
    pub fn block_start(&self) -> *mut u8 {
        (self as *const HugeHeader as usize + self.offset) as *mut u8
    }
}

static HUGE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
static HUGE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Live huge blocks and the bytes mapped for them.
pub fn counters() -> (usize, usize) {
    (
        HUGE_BLOCKS.load(Ordering::Relaxed),
        HUGE_BYTES.load(Ordering::Relaxed),
    )
}

/// The header of the huge block at `ptr`.
#[inline]
pub fn header_of(ptr: *mut u8) -> *mut HugeHeader {
    let addr = ptr as usize;
    if addr & (ARENA_SIZE - 1) == 0 {
        (addr - ARENA_SIZE) as *mut HugeHeader
    } else {
        (addr & !(ARENA_SIZE - 1)) as *mut HugeHeader
    }
}

fn block_offset(align: usize) -> usize {
    if align >= ARENA_SIZE {
        ARENA_SIZE
    } else {
        align.max(OS_PAGE)
    }
}

/// Maps a huge block. Null when the size overflows or the OS refuses.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    let offset = block_offset(align);
    let Some(len) = size
        .checked_add(offset)
        .and_then(|n| n.checked_next_multiple_of(OS_PAGE))
    else {
        return ptr::null_mut();
    };
    let (base_align, block_align) = if align >= ARENA_SIZE {
        (ARENA_SIZE, align)
    } else {
        (ARENA_SIZE, ARENA_SIZE)
    };
    let base = os::map_aligned(
        len,
        base_align,
        block_align,
        if align >= ARENA_SIZE { offset } else { 0 },
    );
    if base.is_null() {
        return base;
    }
    let header = base.cast::<HugeHeader>();
    // SAFETY: the first page of the fresh mapping is ours.
    unsafe {
        header.write(HugeHeader {
            magic: HUGE_MAGIC,
            map_len: len,
            offset,
        })
    };
    registry::register(base as usize);
    HUGE_BLOCKS.fetch_add(1, Ordering::Relaxed);
    HUGE_BYTES.fetch_add(len, Ordering::Relaxed);
    // SAFETY: offset < len.
    let block = unsafe { base.add(offset) };
    debug_assert!(block as usize % align == 0);
    block
}

/// Unmaps a huge block.
///
/// # Safety
/// `ptr` is a live huge block returned by [`alloc`].
pub unsafe fn free(ptr: *mut u8) {
    let header = header_of(ptr);
    crate::check::on_free_huge(header, ptr);
    // SAFETY: the caller guarantees a live huge block, so its header is mapped.
    let len = unsafe { (*header).map_len };
    HUGE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
    HUGE_BYTES.fetch_sub(len, Ordering::Relaxed);
    registry::unregister(header as usize);
    os::unmap(header.cast(), len);
}

/// Bytes usable from `ptr` to the end of its mapping.
///
/// # Safety
/// `ptr` is a live huge block.
pub unsafe fn usable_size(ptr: *mut u8) -> usize {
    // SAFETY: live huge block, header mapped.
    let header = unsafe { &*header_of(ptr) };
    header.map_len - header.offset
}

/// Resizes a huge block in place if it can: shrinking unmaps the tail pages,
/// growing extends the mapping when the address space after it is free.
/// Returns whether the block now holds `new_size` bytes.
///
/// # Safety
/// `ptr` is a live huge block.
pub unsafe fn resize_in_place(ptr: *mut u8, new_size: usize) -> bool {
    // SAFETY: live huge block, header mapped and ours to update.
    let header = unsafe { &mut *header_of(ptr) };
    let Some(new_len) = new_size
        .checked_add(header.offset)
        .and_then(|n| n.checked_next_multiple_of(OS_PAGE))
    else {
        return false;
    };
    let base = header as *mut HugeHeader as *mut u8;
    let old_len = header.map_len;
    if new_len == old_len {
        return true;
    }
    if new_len < old_len {
        // SAFETY: the tail beyond new_len is past the block's new end.
        os::unmap(unsafe { base.add(new_len) }, old_len - new_len);
    } else if !os::grow_in_place(base, old_len, new_len) {
        return false;
    }
    header.map_len = new_len;
    if new_len > old_len {
        HUGE_BYTES.fetch_add(new_len - old_len, Ordering::Relaxed);
    } else {
        HUGE_BYTES.fetch_sub(old_len - new_len, Ordering::Relaxed);
    }
    true
}
