//! `Weak<T>`: a handle that does not keep its object alive (CPython's
//! weak references, without callbacks).

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::gc::{deallocate_box, Gc};
use crate::header::{flags, BoxHeader, GcBox};
use crate::trace::{Trace, Visitor};

/// A weak handle, made by [`Gc::downgrade`].
///
/// [`upgrade`](Weak::upgrade) answers `None` once the object was destroyed,
/// and also once a collection found it unreachable: as in CPython, weak
/// references to cyclic garbage are cleared before any finalizer runs, so
/// that no finalizer or `Drop` can reach a half-destroyed object through
/// one. This stays so even if a finalizer resurrects the object.
pub struct Weak<T: Trace + 'static> {
    ptr: NonNull<GcBox<T>>,
    _marker: PhantomData<GcBox<T>>,
}

impl<T: Trace + 'static> Weak<T> {
    /// # Safety
    /// The weak count of the live box `ptr` already includes this handle.
    pub(crate) unsafe fn from_box(ptr: NonNull<GcBox<T>>) -> Weak<T> {
        Weak {
            ptr,
            _marker: PhantomData,
        }
    }

    fn header(&self) -> &BoxHeader {
        // SAFETY: a weak handle keeps the memory (not the value) live.
        unsafe { &(*self.ptr.as_ptr()).header }
    }

    /// A strong handle, if the object is still alive and was not found
    /// unreachable.
    pub fn upgrade(&self) -> Option<Gc<T>> {
        let header = self.header();
        if header.strong.get() == 0 || header.has(flags::WEAK_CLEARED | flags::DROPPED) {
            return None;
        }
        header.increment_strong();
        // SAFETY: the strong count now includes the new handle.
        Some(unsafe { Gc::from_box(self.ptr) })
    }

    /// Number of strong handles (0 once the object is gone).
    pub fn strong_count(&self) -> usize {
        let header = self.header();
        if header.has(flags::DROPPED) {
            0
        } else {
            header.strong.get() as usize
        }
    }

    /// Number of weak handles, this one included.
    pub fn weak_count(&self) -> usize {
        self.header().weak.get() as usize
    }

    /// Whether both handles point to the same object.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<T: Trace + 'static> Clone for Weak<T> {
    fn clone(&self) -> Self {
        self.header().increment_weak();
        Weak {
            ptr: self.ptr,
            _marker: PhantomData,
        }
    }
}

impl<T: Trace + 'static> Drop for Weak<T> {
    fn drop(&mut self) {
        let header = self.header();
        let count = header.weak.get() - 1;
        header.weak.set(count);
        if count == 0 && header.strong.get() == 0 && header.has(flags::DROPPED) {
            // SAFETY: no handle of any kind is left and the value is gone.
            unsafe { deallocate_box(self.ptr) };
        }
    }
}

// SAFETY: a weak handle owns no strong reference; reporting none is exact.
unsafe impl<T: Trace + 'static> Trace for Weak<T> {
    const MAY_CONTAIN_GC: bool = false;
    const REFERENCES_FIXED: bool = true;
    fn trace(&self, _: &mut Visitor<'_>) {}
}

impl<T: Trace + 'static> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(Weak)")
    }
}
