//! `AnyGc`: an untyped strong handle to a tracked object, as the module API
//! returns them (`get_referents`, `get_referrers`, `garbage`).

use std::fmt;
use std::ptr::NonNull;

use crate::collector::destroy;
use crate::gc::Gc;
use crate::header::{flags, header_of, GcBox, GcLinks, LINKS_SIZE};
use crate::trace::Trace;

/// A strong handle to a tracked object of any type.
pub struct AnyGc {
    links: NonNull<GcLinks>,
}

impl AnyGc {
    /// A new strong handle to the tracked object at `links`.
    ///
    /// # Safety
    /// `links` belongs to a tracked object whose memory is live.
    pub(crate) unsafe fn new(links: *const GcLinks) -> AnyGc {
        // SAFETY: forwarded from the caller.
        unsafe { header_of(links).increment_strong() };
        // SAFETY: links of a live object are never null.
        AnyGc {
            links: unsafe { NonNull::new_unchecked(links.cast_mut()) },
        }
    }

    /// The Rust type of the object.
    pub fn type_name(&self) -> &'static str {
        // SAFETY: a strong handle keeps the object's memory live.
        unsafe { ((*self.links.as_ptr()).vtable.type_name)() }
    }

    /// A typed handle, if the object is a `T` (and was not destroyed).
    pub fn downcast<T: Trace + 'static>(&self) -> Option<Gc<T>> {
        // SAFETY: a strong handle keeps the object's memory live.
        let vtable = unsafe { (*self.links.as_ptr()).vtable };
        if !T::MAY_CONTAIN_GC || (vtable.type_id)() != std::any::TypeId::of::<T>() {
            return None;
        }
        // SAFETY: as above.
        let header = unsafe { header_of(self.links.as_ptr()) };
        if header.has(flags::DROPPED) {
            return None;
        }
        header.increment_strong();
        // SAFETY: the type matches, the box sits LINKS_SIZE bytes after the
        // links, and the strong count includes the new handle.
        unsafe {
            let boxed = self
                .links
                .as_ptr()
                .cast::<u8>()
                .add(LINKS_SIZE)
                .cast::<GcBox<T>>();
            Some(Gc::from_box(NonNull::new_unchecked(boxed)))
        }
    }

    /// Whether this handle and `gc` point to the same object.
    pub fn is<T: Trace + 'static>(&self, gc: &Gc<T>) -> bool {
        gc.links() == Some(self.links.as_ptr().cast_const())
    }

    /// Whether both handles point to the same object.
    pub fn ptr_eq(&self, other: &AnyGc) -> bool {
        self.links == other.links
    }

    /// The strong count of the object.
    pub fn strong_count(&self) -> usize {
        // SAFETY: a strong handle keeps the object's memory live.
        unsafe { header_of(self.links.as_ptr()).strong.get() as usize }
    }
}

impl Clone for AnyGc {
    fn clone(&self) -> Self {
        // SAFETY: the handle keeps the object live.
        unsafe { AnyGc::new(self.links.as_ptr()) }
    }
}

impl Drop for AnyGc {
    fn drop(&mut self) {
        // SAFETY: the handle keeps the object's memory live until here.
        let header = unsafe { header_of(self.links.as_ptr()) };
        let count = header.strong.get() - 1;
        header.strong.set(count);
        if count == 0 {
            // SAFETY: that was the last strong handle.
            unsafe { destroy::release(self.links.as_ptr()) };
        }
    }
}

impl fmt::Debug for AnyGc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} at {:p}>", self.type_name(), self.links.as_ptr())
    }
}
