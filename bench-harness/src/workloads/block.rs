//! `Block`: one raw allocation from the global allocator, owned, touched on
//! allocation so that its pages are really resident, and freed on drop.
//!
//! Workloads use raw blocks rather than `Vec` so that every allocation size
//! and every `realloc` is exactly what the workload says.

use crate::metrics::Probe;
use std::alloc::Layout;
use std::ptr::NonNull;

/// Alignment of every block: what `malloc` guarantees for small sizes on
/// 64-bit targets is 16, but Rust programs mostly ask for 8.
const ALIGN: usize = 8;
const PAGE: usize = 4096;

pub struct Block {
    ptr: NonNull<u8>,
    size: usize,
}

// SAFETY: a block is a uniquely owned heap allocation, like `Box<[u8]>`;
// moving it to another thread and freeing it there is what `xthread` measures.
unsafe impl Send for Block {}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size.max(1), ALIGN).expect("block sizes are far below isize::MAX")
}

/// Writes one byte in every page of the block, so that the allocator's
/// memory is resident as it would be in use, without a full memset.
fn touch(ptr: *mut u8, size: usize) {
    let mut offset = 0;
    while offset < size {
        // SAFETY: `offset < size`, inside the allocation.
        unsafe { ptr.add(offset).write_volatile(offset as u8) };
        offset += PAGE;
    }
    // SAFETY: size >= 1 (layout), so `size - 1` is inside the allocation.
    unsafe { ptr.add(size - 1).write_volatile(1) };
}

impl Block {
    #[inline]
    pub fn new(size: usize, probe: &mut Probe) -> Block {
        let layout = layout(size);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        touch(ptr.as_ptr(), layout.size());
        probe.on_alloc(raw, layout.size());
        Block {
            ptr,
            size: layout.size(),
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Frees the block and tells the probe.
    #[inline]
    pub fn free(self, probe: &mut Probe) {
        probe.on_free(self.size);
        drop(self);
    }

    /// Resizes in place or by moving, through the global `realloc`.
    #[inline]
    pub fn resize(&mut self, new_size: usize, probe: &mut Probe) {
        let new_size = new_size.max(1);
        // SAFETY: `ptr` was allocated by the global allocator with
        // `layout(self.size)`, and `new_size` is non-zero and small.
        let raw = unsafe { std::alloc::realloc(self.ptr.as_ptr(), layout(self.size), new_size) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout(new_size))
        };
        if new_size > self.size {
            // SAFETY: the new bytes `[size, new_size)` are inside the block.
            touch(unsafe { ptr.as_ptr().add(self.size) }, new_size - self.size);
        }
        probe.on_free(self.size);
        probe.on_alloc(raw, new_size);
        self.ptr = ptr;
        self.size = new_size;
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated by the global allocator with this
        // layout and is freed once, here.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout(self.size)) };
    }
}
