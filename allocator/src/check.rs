//! Misuse detection in debug builds (`debug_assertions`).
//!
//! A `GlobalAlloc` caller promises to free only live pointers it got from us;
//! release builds trust it. Debug builds check: a pointer that is not in a
//! strata chunk, not at a block boundary, in the never-used tail of a pool, or
//! already on its pool's free list stops the process with one line naming the
//! address and the fault. The check of the free list is exact but costs a walk,
//! so it runs only when a freed-block cookie in the block's second word (or,
//! for 8-byte blocks, a plausible free-list link) suggests a double free.

use crate::arena::ARENA_SIZE;
use crate::large::{HugeHeader, CACHED_MAGIC, HUGE_MAGIC};
use crate::pool::{Block, Pool};
use crate::{os, registry, thread};
use core::fmt::{self, Write};

const FREED_COOKIE: usize = 0xDEAD_F4EE_5A7A_0000;

/// A fixed buffer for composing a message without allocating.
pub struct StackMessage {
    buf: [u8; 512],
    len: usize,
}

impl StackMessage {
    pub const fn new() -> Self {
        StackMessage {
            buf: [0; 512],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for StackMessage {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for StackMessage {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let take = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Prints `strata: <fault>` and aborts.
#[cold]
#[inline(never)]
pub fn fatal(args: fmt::Arguments<'_>) -> ! {
    let mut message = StackMessage::new();
    let _ = message.write_str("strata: ");
    let _ = message.write_fmt(args);
    let _ = message.write_str("\n");
    os::write_stderr(message.as_bytes());
    os::abort()
}

/// The chunk base holding the header for `ptr` (see `large::header_of`).
fn header_chunk(ptr: *mut u8) -> usize {
    let addr = ptr as usize;
    if addr & (ARENA_SIZE - 1) == 0 {
        addr.wrapping_sub(ARENA_SIZE)
    } else {
        addr & !(ARENA_SIZE - 1)
    }
}

/// Before anything reads the header of `ptr`'s chunk.
#[inline(always)]
pub fn on_free_any(ptr: *mut u8) {
    if cfg!(debug_assertions) && !registry::is_registered(header_chunk(ptr)) {
        fatal(format_args!(
            "free of {ptr:p}, a pointer strata never handed out"
        ));
    }
}

#[inline(always)]
pub fn on_alloc(pool: &Pool, block: *mut u8) {
    if cfg!(debug_assertions) && pool.block_size.get() >= 16 {
        // SAFETY: blocks of 16 bytes or more have a second word.
        unsafe { block.cast::<usize>().add(1).write(0) };
    }
}

#[inline(always)]
pub fn on_free(pool: *mut Pool, ptr: *mut u8) {
    if cfg!(debug_assertions) {
        // SAFETY: the pointer passed `on_free_any`, so its arena is live.
        check_pool_free(unsafe { &*pool }, ptr);
    }
}

#[cold]
fn check_pool_free(pool: &Pool, ptr: *mut u8) {
    if !pool.is_block_start(ptr) {
        fatal(format_args!(
            "free of {ptr:p}, a pointer strata never handed out (not the start of a block)"
        ));
    }
    let size = pool.block_size.get();
    let owned = pool.owner.load(core::sync::atomic::Ordering::Relaxed) == thread::current();
    if !owned {
        return;
    }
    if ptr >= pool.bump.get() {
        fatal(format_args!(
            "free of {ptr:p}, a pointer strata never handed out (unused part of a pool)"
        ));
    }
    // SAFETY: ptr is a block start of a live pool, at least 8 bytes long.
    let suspicious = unsafe {
        if size >= 16 {
            ptr.cast::<usize>().add(1).read() == FREED_COOKIE ^ ptr as usize
        } else {
            let next = ptr.cast::<*mut Block>().read();
            next.is_null() || pool.is_block_start(next.cast())
        }
    };
    if suspicious && pool.free_list_contains(ptr.cast()) {
        fatal(format_args!(
            "double free of {ptr:p} (block of {size} bytes)"
        ));
    }
    if size >= 16 {
        // SAFETY: as above; the block is being freed, its contents are ours.
        unsafe {
            ptr.cast::<usize>()
                .add(1)
                .write(FREED_COOKIE ^ ptr as usize)
        };
    }
}

#[inline(always)]
pub fn on_free_huge(header: *mut HugeHeader, ptr: *mut u8) {
    if cfg!(debug_assertions) {
        check_huge_free(header, ptr);
    }
}

#[cold]
fn check_huge_free(header: *mut HugeHeader, ptr: *mut u8) {
    // SAFETY: `on_free_any` established that the header's chunk is registered.
    let (magic, start) = unsafe { ((*header).magic, (*header).block_start()) };
    if magic == CACHED_MAGIC && start == ptr {
        fatal(format_args!("double free of {ptr:p} (huge block)"));
    }
    if magic != HUGE_MAGIC || start != ptr {
        fatal(format_args!(
            "free of {ptr:p}, a pointer strata never handed out"
        ));
    }
}
