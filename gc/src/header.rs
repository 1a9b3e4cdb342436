//! The memory layout of a GC object: the count header every object has, the
//! collector links only tracked objects have, and the intrusive lists the
//! collector keeps them in.
//!
//! ```text
//!  tracked object (T may hold a Gc)          untracked object (T holds none)
//!  +------------------------------+
//!  | GcLinks: next, prev, vtable  |  <- generation list (CPython's PyGC_Head)
//!  +------------------------------+          +------------------------------+
//!  | BoxHeader: strong, weak,     |  <- Gc   | BoxHeader: strong, weak,     |  <- Gc
//!  |            flags, gc_refs    |          |            flags, gc_refs    |
//!  +------------------------------+          +------------------------------+
//!  | value: T                     |          | value: T                     |
//!  +------------------------------+          +------------------------------+
//! ```
//!
//! `GcLinks` always sits exactly [`LINKS_SIZE`] bytes before the `BoxHeader`,
//! so the collector goes from one to the other with a constant offset.

use std::cell::Cell;
use std::ptr;

use crate::trace::Visitor;

/// Bits of [`BoxHeader::flags`].
pub(crate) mod flags {
    /// The object sits in a generation list (or a collector's working list).
    pub const LINKED: u32 = 1 << 0;
    /// The object belongs to the set the running collection examines.
    pub const COLLECTING: u32 = 1 << 1;
    /// `move_unreachable` put the object in the tentatively unreachable list.
    pub const UNREACHABLE: u32 = 1 << 2;
    /// The finalizer ran (PEP 442: never twice).
    pub const FINALIZED: u32 = 1 << 3;
    /// Weak references were cleared when the object was found unreachable.
    pub const WEAK_CLEARED: u32 = 1 << 4;
    /// The value has been dropped (or moved out); the memory may remain
    /// because handles still point at it.
    pub const DROPPED: u32 = 1 << 5;
    /// The object was allocated with `GcLinks` in front of its box. Objects
    /// of a type that may hold a `Gc` get them unless `Gc::new` finds they
    /// can never be in a cycle (`Trace::REFERENCES_FIXED`).
    pub const HAS_LINKS: u32 = 1 << 6;
}

/// A node of a circular doubly linked list. The first field of [`GcLinks`],
/// and on its own the sentinel head of a list.
#[repr(C)]
pub(crate) struct ListNode {
    pub next: Cell<*mut ListNode>,
    pub prev: Cell<*mut ListNode>,
}

impl ListNode {
    pub const fn new() -> Self {
        ListNode {
            next: Cell::new(ptr::null_mut()),
            prev: Cell::new(ptr::null_mut()),
        }
    }
}

/// What the collector needs of a tracked object, in front of its box.
#[repr(C)]
pub(crate) struct GcLinks {
    pub node: ListNode,
    pub vtable: &'static VTable,
}

/// Distance from a tracked object's `GcLinks` to its `BoxHeader`.
pub(crate) const LINKS_SIZE: usize = std::mem::size_of::<GcLinks>();

/// The counts every object carries, right before its value.
#[repr(C)]
///
/// Counts are 32 bits so that the header stays 16 bytes with `gc_refs` in
/// it; 4 billion handles to one object abort the process (as `Rc` does at
/// its own limit) instead of overflowing.
pub(crate) struct BoxHeader {
    pub strong: Cell<u32>,
    pub weak: Cell<u32>,
    pub flags: Cell<u32>,
    /// CPython's `gc_refs`: during a collection, the strong count minus the
    /// references found inside the collected set.
    pub gc_refs: Cell<u32>,
}

impl BoxHeader {
    pub const fn new() -> Self {
        BoxHeader {
            strong: Cell::new(1),
            weak: Cell::new(0),
            flags: Cell::new(0),
            gc_refs: Cell::new(0),
        }
    }
    #[inline]
    pub fn has(&self, flag: u32) -> bool {
        self.flags.get() & flag != 0
    }
    #[inline]
    pub fn set(&self, flag: u32) {
        self.flags.set(self.flags.get() | flag);
    }
    #[inline]
    pub fn clear(&self, flag: u32) {
        self.flags.set(self.flags.get() & !flag);
    }
    #[inline]
    pub fn increment_strong(&self) {
        let count = self.strong.get();
        // Like Rc: an overflow can only come from leaking handles on purpose.
        if count == u32::MAX {
            std::process::abort();
        }
        self.strong.set(count + 1);
    }
    #[inline]
    pub fn increment_weak(&self) {
        let count = self.weak.get();
        if count == u32::MAX {
            std::process::abort();
        }
        self.weak.set(count + 1);
    }
}

/// A box: the header and the value, as `Gc<T>` points at it.
#[repr(C)]
pub(crate) struct GcBox<T> {
    pub header: BoxHeader,
    pub value: T,
}

/// Type-erased operations on a tracked object, one static table per type.
pub(crate) struct VTable {
    /// Visits the object's outgoing references.
    pub trace: unsafe fn(*const GcLinks, &mut Visitor<'_>),
    /// Runs `Finalize::finalize`; `None` for types without a finalizer.
    pub finalize: Option<unsafe fn(*const GcLinks)>,
    /// Drops the value in place (memory stays).
    pub drop_value: unsafe fn(*const GcLinks),
    /// What to do when the strong count reaches zero (`destroy::release_as`).
    pub release: unsafe fn(*const GcLinks),
    pub type_name: fn() -> &'static str,
    pub type_id: fn() -> std::any::TypeId,
}

/// The box header of a tracked object.
///
/// # Safety
/// `links` must point to the `GcLinks` of a live allocation of a tracked object.
#[inline]
pub(crate) unsafe fn header_of<'a>(links: *const GcLinks) -> &'a BoxHeader {
    // SAFETY: the BoxHeader follows GcLinks at LINKS_SIZE in every tracked
    // allocation (see `layout::tracked`), and the caller guarantees it is live.
    unsafe { &*links.cast::<u8>().add(LINKS_SIZE).cast::<BoxHeader>() }
}

/// The `GcLinks` in front of a tracked object's box header.
///
/// # Safety
/// `header` must belong to a tracked object.
#[inline]
pub(crate) unsafe fn links_of(header: *const BoxHeader) -> *const GcLinks {
    // SAFETY: the caller guarantees a tracked allocation, where GcLinks sits
    // LINKS_SIZE bytes before the header inside the same allocation.
    unsafe { header.cast::<u8>().sub(LINKS_SIZE).cast::<GcLinks>() }
}
