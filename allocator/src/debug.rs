//! Debug mode (`STRATA_DEBUG=1`): guard bytes, fill patterns and checks that
//! catch memory errors where they happen, after CPython's `PYTHONMALLOC=debug`.
//!
//! ```text
//!   underlying block (any strata block, aligned to max(align, 16))
//!   +-- padding --+------------------ header, 32 bytes ---------------+------ size bytes -----+- 16 bytes -+
//!   | (align > 32)| size | prefix family state | tag | FD FD .. FD x8 | user data (CD.. new,  | FD .. FD    |
//!   |             |      |                     |     |  front guard   |  DD.. once freed)     | back guard  |
//!   +-------------+------+---------------------+-----+----------------+-----------------------+-------------+
//!                                                                     ^ pointer the caller gets
//! ```
//!
//! * `size` is the requested size, `prefix` the distance from the underlying
//!   block to the caller's pointer, `family` the API that allocated it
//!   (malloc, new, new[], Rust), `state` live or freed.
//! * `tag` is a constant mixed with the address and size: a header whose tag
//!   does not match was not written by us, so the pointer is not a block
//!   strata returned.
//! * A freed block is filled with 0xDD, marked freed and kept in a quarantine
//!   of recently freed blocks, so a second free of it is still recognised as a
//!   double free and a write to it is caught when it leaves the quarantine.
//!
//! A fault stops the process with one line naming the address, the block's
//! size and the fault (see `check::fatal`; nothing is allocated to print it).
//!
//! The mode is decided once, on the first allocation, from the environment,
//! and never changes: a block is always freed by the path that allocated it.

pub use crate::check::fatal;
use crate::{heap, raw, settings, ARENA_SIZE};
use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The API a block was allocated through; it must be freed through the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Family {
    /// `malloc`, `calloc`, `realloc`, `posix_memalign`, ... / `free`.
    Malloc = 1,
    /// C++ `operator new` / `operator delete`.
    New = 2,
    /// C++ `operator new[]` / `operator delete[]`.
    NewArray = 3,
    /// Rust's `GlobalAlloc::alloc` / `dealloc`.
    Rust = 4,
}

impl Family {
    fn from_byte(byte: u8) -> Option<Family> {
        match byte {
            1 => Some(Family::Malloc),
            2 => Some(Family::New),
            3 => Some(Family::NewArray),
            4 => Some(Family::Rust),
            _ => None,
        }
    }

    /// The allocating call, as reports name it.
    pub fn allocator(self) -> &'static str {
        match self {
            Family::Malloc => "malloc",
            Family::New => "new",
            Family::NewArray => "new[]",
            Family::Rust => "Rust alloc",
        }
    }

    /// The releasing call, as reports name it.
    pub fn deallocator(self) -> &'static str {
        match self {
            Family::Malloc => "free",
            Family::New => "delete",
            Family::NewArray => "delete[]",
            Family::Rust => "Rust dealloc",
        }
    }
}

/// Guard bytes around every block.
pub const GUARD_BYTE: u8 = 0xFD;
/// Fill of newly allocated (not zeroed) memory.
pub const NEW_BYTE: u8 = 0xCD;
/// Fill of freed memory.
pub const FREED_BYTE: u8 = 0xDD;

/// Header before each block: 32 bytes keeps the caller's pointer 16-aligned.
#[repr(C)]
struct Header {
    size: usize,
    prefix: u32,
    family: u8,
    state: u8,
    _reserved: u16,
    tag: usize,
    front_guard: [u8; FRONT_GUARD],
}

const HEADER: usize = core::mem::size_of::<Header>();
const FRONT_GUARD: usize = 8;
const BACK_GUARD: usize = 16;
/// The alignment every debug block gets at least (what `malloc` promises).
const MIN_ALIGN: usize = 16;
const _: () = assert!(HEADER == 32 && HEADER % MIN_ALIGN == 0);

const LIVE: u8 = 0x4C;
const FREED: u8 = 0x46;
const TAG: usize = 0x5354_5241_5441_4442;

fn tag_for(user: *const u8, size: usize) -> usize {
    TAG ^ user as usize ^ size.rotate_left(17)
}

// OFF is zero so that the common case is a single compare with zero.
const OFF: u8 = 0;
const UNKNOWN: u8 = 1;
const ON: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Called on a checked path that found debug mode off: the calling thread's
/// heap (or the shared empty heap of threads without one) takes the fast
/// paths from now on (`raw::Here::checked` reads the flag). The mode never
/// changes once known, so this is final.
#[cold]
pub fn leave_checked_path() {
    debug_assert_eq!(MODE.load(Ordering::Relaxed), OFF);
    // SAFETY: current() is this thread's heap or EMPTY_HEAP, both live for
    // the whole process.
    unsafe {
        (*crate::thread::current())
            .checked
            .store(false, Ordering::Relaxed)
    };
}

/// Whether debug mode is on (`STRATA_DEBUG` set to 1, true, yes or on).
#[inline(always)]
pub fn enabled() -> bool {
    // Relaxed: every thread that reads the environment stores the same value,
    // and nothing else is published through this flag.
    MODE.load(Ordering::Relaxed) != OFF && enabled_or_unknown()
}

#[cold]
#[inline(never)]
fn enabled_or_unknown() -> bool {
    match MODE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => read_mode(),
    }
}

#[cold]
#[inline(never)]
fn read_mode() -> bool {
    // SAFETY: a valid C string; getenv returns null or a NUL-terminated string
    // and allocates nothing.
    let value = unsafe { libc::getenv(c"STRATA_DEBUG".as_ptr()) };
    let on = !value.is_null()
        // SAFETY: non-null results of getenv are NUL-terminated strings.
        && settings::parse_flag(unsafe { core::ffi::CStr::from_ptr(value) }.to_bytes())
            .unwrap_or(false);
    MODE.store(if on { ON } else { OFF }, Ordering::Relaxed);
    on
}

/// Allocates a guarded block of `size` bytes aligned to `align` (a power of
/// two), filled with 0xCD or, if `zeroed`, with zeros. Null on failure.
pub fn alloc(size: usize, align: usize, family: Family, zeroed: bool) -> *mut u8 {
    let align = align.max(MIN_ALIGN);
    // A block aligned to a chunk or more starts one chunk into its mapping
    // (see `large.rs`), so the bytes before it are mapped and unused: the
    // header goes there, and the pointer stays the block start that `owns`
    // recognises.
    let prefix = if align >= ARENA_SIZE {
        0
    } else {
        align.max(HEADER)
    };
    let Some(total) = size
        .checked_add(prefix + BACK_GUARD)
        .filter(|&t| t <= isize::MAX as usize)
    else {
        return ptr::null_mut();
    };
    let (Ok(prefix32), base) = (u32::try_from(prefix), raw::alloc(total, align)) else {
        return ptr::null_mut();
    };
    if base.is_null() {
        return base;
    }
    // SAFETY: the block holds `prefix + size + BACK_GUARD` bytes; the header
    // is the 32 bytes right before `user` (in the block, or in the unused
    // part of a chunk-aligned huge block's mapping), and `user` is 16-aligned.
    unsafe {
        let user = base.add(prefix);
        user.sub(HEADER).cast::<Header>().write(Header {
            size,
            prefix: prefix32,
            family: family as u8,
            state: LIVE,
            _reserved: 0,
            tag: tag_for(user, size),
            front_guard: [GUARD_BYTE; FRONT_GUARD],
        });
        ptr::write_bytes(user, if zeroed { 0 } else { NEW_BYTE }, size);
        ptr::write_bytes(user.add(size), GUARD_BYTE, BACK_GUARD);
        user
    }
}

/// Checks and frees a block. `layout_size` is the size the caller states
/// (a Rust layout, a C++ sized delete), checked when given.
///
/// # Safety
/// None beyond what the checks catch: any pointer is accepted; a pointer that
/// is not a live block of `family` stops the process.
pub unsafe fn free(user: *mut u8, family: Family, layout_size: Option<usize>) {
    if user.is_null() {
        return;
    }
    let header = checked_header(user, family.deallocator(), Some(family));
    // SAFETY: `checked_header` validated the header of a live block.
    let size = unsafe { (*header).size };
    if let Some(stated) = layout_size.filter(|&s| s != size) {
        fatal(format_args!(
            "wrong size in {} of {user:p} (block of {size} bytes): the caller states {stated} bytes",
            family.deallocator()
        ));
    }
    // SAFETY: as above; the block is ours until it leaves the quarantine.
    unsafe {
        ptr::write_bytes(user, FREED_BYTE, size);
        (*header).state = FREED;
    }
    quarantine(user, size);
}

/// Checks a block and moves it to a new one of `new_size` bytes (always
/// moving, so stale pointers to the old one hit freed memory). Null, with the
/// old block untouched, on failure.
///
/// # Safety
/// As for [`free`].
pub unsafe fn realloc(user: *mut u8, align: usize, new_size: usize, family: Family) -> *mut u8 {
    if user.is_null() {
        return alloc(new_size, align, family, false);
    }
    let header = checked_header(user, "realloc", Some(family));
    // SAFETY: a validated live header.
    let size = unsafe { (*header).size };
    let new = alloc(new_size, align, family, false);
    if new.is_null() {
        return new;
    }
    // SAFETY: both blocks are live and distinct; copy what both hold.
    unsafe {
        ptr::copy_nonoverlapping(user, new, size.min(new_size));
        free(user, family, None);
    }
    new
}

/// The requested size of a live block (its usable size in debug mode).
pub fn usable_size(user: *mut u8) -> usize {
    let header = checked_header(user, "malloc_usable_size", None);
    // SAFETY: a validated live header.
    unsafe { (*header).size }
}

/// Stops the process: `op` was given a pointer strata never returned.
#[cold]
pub fn foreign_pointer(op: &str, user: *const u8) -> ! {
    fatal(format_args!(
        "{op} of {user:p}, a pointer strata never returned"
    ))
}

/// Validates `user` as a live block (of `family`, if given) and returns its
/// header, or stops the process naming the fault.
fn checked_header(user: *mut u8, op: &str, family: Option<Family>) -> *mut Header {
    let offset_in_chunk = user as usize & (ARENA_SIZE - 1);
    // A header within 32 bytes of a chunk start would lie in the chunk before,
    // which may be unmapped; no debug block starts there.
    if user as usize % MIN_ALIGN != 0
        || (offset_in_chunk != 0 && offset_in_chunk < HEADER)
        || !raw::owns(user)
    {
        foreign_pointer(op, user);
    }
    // SAFETY: the chunk holding the 32 bytes before `user` is mapped (it is
    // registered, or the previous chunk is when `user` is chunk-aligned).
    let header = unsafe { user.sub(HEADER).cast::<Header>() };
    // SAFETY: as above: mapped, aligned memory.
    let (size, tag, state, block_family) = unsafe {
        (
            (*header).size,
            (*header).tag,
            (*header).state,
            (*header).family,
        )
    };
    let block_family = Family::from_byte(block_family);
    if tag != tag_for(user, size) || !matches!(state, LIVE | FREED) || block_family.is_none() {
        foreign_pointer(op, user);
    }
    if state == FREED {
        fatal(format_args!(
            "double free of {user:p} (block of {size} bytes): {op} of a block already freed"
        ));
    }
    let block_family = block_family.unwrap_or(Family::Malloc);
    if let Some(family) = family.filter(|&f| f != block_family) {
        fatal(format_args!(
            "mismatched free of {user:p} (block of {size} bytes): allocated with {}, freed with {}",
            block_family.allocator(),
            family.deallocator()
        ));
    }
    // SAFETY: the header's guard and the back guard are part of the block.
    let (front, back) = unsafe {
        (
            (*header).front_guard,
            ptr::read_unaligned(user.add(size).cast::<[u8; BACK_GUARD]>()),
        )
    };
    if front.iter().any(|&b| b != GUARD_BYTE) {
        fatal(format_args!(
            "buffer underflow before {user:p} (block of {size} bytes): the {FRONT_GUARD} guard bytes before it read {}",
            Hex(&front)
        ));
    }
    if back.iter().any(|&b| b != GUARD_BYTE) {
        fatal(format_args!(
            "buffer overflow after {user:p} (block of {size} bytes): the {BACK_GUARD} guard bytes after it read {}",
            Hex(&back)
        ));
    }
    header
}

/// Bytes as `fd fd 41 ...`.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Freed blocks kept back from reuse: enough to recognise double frees and
/// late writes of recent blocks, bounded so memory use stays near the
/// program's own (at most this many blocks and [`QUARANTINE_BYTES`]).
const QUARANTINE_BLOCKS: usize = 1024;
const QUARANTINE_BYTES: usize = 16 << 20;

struct Quarantine {
    ring: [*mut u8; QUARANTINE_BLOCKS],
    next: usize,
    bytes: usize,
}

// SAFETY: the pointers name freed blocks owned by the quarantine, guarded by
// the mutex that holds it.
unsafe impl Send for Quarantine {}

static QUARANTINE: Mutex<Quarantine> = Mutex::new(Quarantine {
    ring: [ptr::null_mut(); QUARANTINE_BLOCKS],
    next: 0,
    bytes: 0,
});

fn lock_quarantine() -> MutexGuard<'static, Quarantine> {
    QUARANTINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn quarantine(user: *mut u8, size: usize) {
    let mut q = lock_quarantine();
    let slot = q.next;
    let evicted = core::mem::replace(&mut q.ring[slot], user);
    q.next = (slot + 1) % QUARANTINE_BLOCKS;
    q.bytes += size;
    if !evicted.is_null() {
        release(&mut q, evicted);
    }
    // Big blocks: release the oldest until under the byte bound.
    let mut cursor = q.next;
    while q.bytes > QUARANTINE_BYTES && cursor != slot {
        let old = core::mem::replace(&mut q.ring[cursor], ptr::null_mut());
        if !old.is_null() {
            release(&mut q, old);
        }
        cursor = (cursor + 1) % QUARANTINE_BLOCKS;
    }
}

/// Checks that a block leaving the quarantine was not written to while freed,
/// then gives it back to the allocator.
fn release(q: &mut Quarantine, user: *mut u8) {
    // SAFETY: quarantined blocks are freed debug blocks still owned by us.
    unsafe {
        let header = user.sub(HEADER).cast::<Header>();
        let size = (*header).size;
        q.bytes -= size;
        let contents = core::slice::from_raw_parts(user, size);
        if let Some(offset) = contents.iter().position(|&b| b != FREED_BYTE) {
            fatal(format_args!(
                "write after free to {user:p} (block of {size} bytes): byte {offset} reads {:02x}",
                contents[offset]
            ));
        }
        heap::free(user.sub((*header).prefix as usize));
    }
}

// The quarantine lock comes first in lock order: releasing a block from it
// takes the heap and arena locks.
crate::fork::fork_hooks!("the quarantine lock": FORK_QUARANTINE: Quarantine = lock_quarantine());

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `body` on a fresh thread with the other allocator tests kept out
    /// (they count pools and arenas), then empties the quarantine, so no
    /// block and no heap of ours outlives the test.
    fn serially(body: impl FnOnce() + Send + 'static) {
        let _serial = crate::arena::tests::ARENA_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::thread::spawn(move || {
            body();
            let mut q = lock_quarantine();
            for slot in 0..QUARANTINE_BLOCKS {
                let user = core::mem::replace(&mut q.ring[slot], ptr::null_mut());
                if !user.is_null() {
                    release(&mut q, user);
                }
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn block_is_guarded_filled_and_aligned() {
        serially(|| {
            for (size, align) in [
                (0, 8),
                (1, 8),
                (24, 16),
                (100, 64),
                (5000, 4096),
                (300_000, 16),
            ] {
                let p = alloc(size, align, Family::Rust, false);
                assert!(!p.is_null());
                assert_eq!(p as usize % align.max(MIN_ALIGN), 0);
                // SAFETY: a live debug block of `size` bytes with its guards.
                unsafe {
                    assert!(core::slice::from_raw_parts(p, size)
                        .iter()
                        .all(|&b| b == NEW_BYTE));
                    assert!(core::slice::from_raw_parts(p.add(size), BACK_GUARD)
                        .iter()
                        .all(|&b| b == GUARD_BYTE));
                    assert_eq!(usable_size(p), size);
                    free(p, Family::Rust, Some(size));
                }
            }
        });
    }

    #[test]
    fn freed_block_is_filled_and_marked_until_it_leaves_quarantine() {
        serially(|| {
            let p = alloc(40, 16, Family::Malloc, true);
            // SAFETY: live until freed; afterwards it stays in the quarantine,
            // still allocated, for at least this test's few frees.
            unsafe {
                assert!(core::slice::from_raw_parts(p, 40).iter().all(|&b| b == 0));
                free(p, Family::Malloc, None);
                assert!(core::slice::from_raw_parts(p, 40)
                    .iter()
                    .all(|&b| b == FREED_BYTE));
                assert_eq!((*p.sub(HEADER).cast::<Header>()).state, FREED);
            }
        });
    }

    #[test]
    fn realloc_moves_and_keeps_contents() {
        serially(|| {
            let p = alloc(8, 16, Family::Malloc, false);
            // SAFETY: live blocks of the stated sizes.
            unsafe {
                p.copy_from(b"abcdefgh".as_ptr(), 8);
                let q = realloc(p, 16, 1000, Family::Malloc);
                assert_ne!(p, q);
                assert_eq!(core::slice::from_raw_parts(q, 8), b"abcdefgh");
                assert_eq!(usable_size(q), 1000);
                free(q, Family::Malloc, None);
            }
        });
    }

    #[test]
    fn hex_prints_bytes() {
        let mut out = crate::check::StackMessage::new();
        fmt::Write::write_fmt(&mut out, format_args!("{}", Hex(&[0xfd, 0x41]))).unwrap();
        assert_eq!(out.as_bytes(), b"fd 41");
    }
}
