//! `Gc<T>`: the strong handle (CPython's owned `PyObject*`).

use std::alloc::Layout;
use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::{self, NonNull};

use crate::collector::{destroy, state};
use crate::header::{flags, BoxHeader, GcBox, GcLinks, ListNode, VTable, LINKS_SIZE};
use crate::memory;
use crate::trace::{Trace, Visitor};
use crate::weak::Weak;

/// A reference-counted pointer whose cycles the collector frees.
///
/// Cloning increments a non-atomic count (`Py_INCREF`), dropping decrements
/// it (`Py_DECREF`) and frees the object when it reaches zero; objects in
/// unreachable cycles are freed by [`collect`](crate::collect) or by the
/// automatic collections. `Gc` is `!Send` and `!Sync`: each thread has its
/// own objects and its own collector.
///
/// Reading through a `Gc` whose object a collection has already dropped
/// (possible only from a `Drop` impl of an object collected in the same
/// batch, see the [crate docs](crate#drop-of-collected-objects)) panics.
pub struct Gc<T: Trace + 'static> {
    ptr: NonNull<GcBox<T>>,
    _owns: PhantomData<GcBox<T>>,
}

/// Memory layout of an object of type `T`, and the offset of its box.
#[inline]
pub(crate) const fn layout_of<T>(tracked: bool) -> (Layout, usize) {
    let boxed = Layout::new::<GcBox<T>>();
    if !tracked {
        return (boxed, 0);
    }
    // The box starts at a multiple of its alignment with GcLinks right
    // before it; GcLinks' size (24) is a multiple of its own alignment.
    let offset = (LINKS_SIZE + boxed.align() - 1) & !(boxed.align() - 1);
    let align = if boxed.align() > 8 { boxed.align() } else { 8 };
    match Layout::from_size_align(offset + boxed.size(), align) {
        Ok(layout) => (layout, offset),
        Err(_) => panic!("object too large"),
    }
}

struct VTableOf<T>(PhantomData<T>);

impl<T: Trace + 'static> VTableOf<T> {
    const VTABLE: VTable = VTable {
        trace: trace_erased::<T>,
        finalize: if T::FINALIZE {
            Some(finalize_erased::<T>)
        } else {
            None
        },
        drop_value: drop_value_erased::<T>,
        release: release_erased::<T>,
        type_name: std::any::type_name::<T>,
        type_id: TypeId::of::<T>,
    };
}

/// The box of the tracked object at `links`.
#[inline]
fn box_of<T>(links: *const GcLinks) -> *mut GcBox<T> {
    links
        .cast::<u8>()
        .wrapping_add(LINKS_SIZE)
        .cast::<GcBox<T>>()
        .cast_mut()
}

unsafe fn trace_erased<T: Trace>(links: *const GcLinks, visitor: &mut Visitor<'_>) {
    // SAFETY: the vtable of T is only installed on objects of type T, and the
    // collector traces only objects whose value is not dropped.
    unsafe { (*box_of::<T>(links)).value.trace(visitor) }
}

unsafe fn finalize_erased<T: Trace>(links: *const GcLinks) {
    // SAFETY: as trace_erased.
    unsafe { (*box_of::<T>(links)).value.run_finalizer() }
}

unsafe fn release_erased<T: Trace + 'static>(links: *const GcLinks) {
    // SAFETY: the box of a tracked object is never null; the caller's
    // precondition is release_as's.
    unsafe { destroy::release_as::<T>(NonNull::new_unchecked(box_of::<T>(links))) }
}

unsafe fn drop_value_erased<T>(links: *const GcLinks) {
    // SAFETY: the caller drops each value once, having set DROPPED so that
    // nothing reads it afterwards.
    unsafe { ptr::drop_in_place(ptr::addr_of_mut!((*box_of::<T>(links)).value)) }
}

impl<T: Trace + 'static> Gc<T> {
    /// Moves `value` into a new object. Objects that may take part in a
    /// cycle are tracked (see [`Trace::REFERENCES_FIXED`]), and allocating
    /// one may run an automatic collection first.
    #[inline]
    pub fn new(value: T) -> Gc<T> {
        if T::MAY_CONTAIN_GC && (!T::REFERENCES_FIXED || reaches_tracked(&value)) {
            let state = state::state();
            state::note_allocation(state);
            // SAFETY: called once per new object.
            return unsafe { Gc::new_tracked(state, value) };
        }
        let layout = const { layout_of::<T>(false).0 };
        // SAFETY: the layout is never zero-sized (it holds a header), and
        // the fresh memory is written before a handle to it exists.
        unsafe {
            let boxed = memory::allocate(layout).cast::<GcBox<T>>();
            boxed.write(GcBox {
                header: BoxHeader::new(),
                value,
            });
            Gc::from_box(NonNull::new_unchecked(boxed))
        }
    }

    /// Allocates `value` with collector links and puts it in generation 0.
    ///
    /// # Safety
    /// `T::MAY_CONTAIN_GC`; `state` is this thread's collector.
    unsafe fn new_tracked(state: &state::State, value: T) -> Gc<T> {
        let (layout, offset) = const { layout_of::<T>(true) };
        // SAFETY: the layout is never zero-sized; `base` is fresh memory of
        // `layout`, with room for the links at `offset - LINKS_SIZE` and the
        // box at `offset`.
        unsafe {
            let base = memory::allocate(layout);
            let boxed = base.add(offset).cast::<GcBox<T>>();
            let links = base.add(offset - LINKS_SIZE).cast::<GcLinks>();
            links.write(GcLinks {
                node: ListNode::new(),
                vtable: &VTableOf::<T>::VTABLE,
            });
            boxed.write(GcBox {
                header: BoxHeader::new(),
                value,
            });
            (*boxed).header.set(flags::HAS_LINKS);
            state::track(state, links);
            Gc::from_box(NonNull::new_unchecked(boxed))
        }
    }

    /// # Safety
    /// `ptr` is a live box whose strong count already includes this handle.
    #[inline]
    pub(crate) unsafe fn from_box(ptr: NonNull<GcBox<T>>) -> Gc<T> {
        Gc {
            ptr,
            _owns: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn header(&self) -> &BoxHeader {
        // SAFETY: a strong handle keeps the memory live.
        unsafe { &(*self.ptr.as_ptr()).header }
    }

    /// The collector links, if the object has them.
    #[inline]
    pub(crate) fn links(&self) -> Option<*const GcLinks> {
        if T::MAY_CONTAIN_GC && self.header().has(flags::HAS_LINKS) {
            // SAFETY: tracked objects have links right before the header; the
            // pointer is derived from the allocation's, not from a reference.
            Some(unsafe { crate::header::links_of(self.ptr.as_ptr().cast::<BoxHeader>()) })
        } else {
            None
        }
    }

    /// The value, or `None` if a collection has already dropped it (only
    /// possible from a `Drop` of an object collected in the same batch).
    #[inline]
    pub fn try_get(this: &Self) -> Option<&T> {
        if T::MAY_CONTAIN_GC && this.header().has(flags::DROPPED) {
            return None;
        }
        // SAFETY: the value is alive (checked above).
        Some(unsafe { &(*this.ptr.as_ptr()).value })
    }

    /// Number of `Gc` handles to this object.
    #[inline]
    pub fn strong_count(this: &Self) -> usize {
        this.header().strong.get() as usize
    }

    /// Number of `Weak` handles to this object.
    #[inline]
    pub fn weak_count(this: &Self) -> usize {
        this.header().weak.get() as usize
    }

    /// Whether both handles point to the same object.
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.ptr == other.ptr
    }

    /// A weak handle: it does not keep the object alive, and
    /// [`Weak::upgrade`] answers `None` once the object is gone or was
    /// found unreachable by a collection.
    #[inline]
    pub fn downgrade(this: &Self) -> Weak<T> {
        this.header().increment_weak();
        // SAFETY: the weak count now includes the new handle.
        unsafe { Weak::from_box(this.ptr) }
    }

    /// Returns the value if this is the only strong handle (weak handles
    /// then answer `None`), or the handle back otherwise.
    pub fn try_unwrap(this: Self) -> Result<T, Self> {
        let header = this.header();
        if header.strong.get() != 1 || header.has(flags::DROPPED) {
            return Err(this);
        }
        if let Some(links) = this.links() {
            // SAFETY: the object is live and tracked.
            unsafe { state::untrack(state::state(), links) };
        }
        header.strong.set(0);
        header.set(flags::DROPPED);
        // SAFETY: the only strong handle is consumed here; DROPPED keeps
        // every other path from reading or dropping the value again.
        let value = unsafe { ptr::read(&(*this.ptr.as_ptr()).value) };
        let no_weak = header.weak.get() == 0;
        let ptr = this.ptr;
        std::mem::forget(this);
        if no_weak {
            // SAFETY: no handle of any kind is left and the value is moved out.
            unsafe { deallocate_box(ptr) };
        }
        Ok(value)
    }

    /// Gives up the handle without decrementing the count, returning a
    /// pointer to the value (a "new reference" in CPython's terms).
    pub fn into_raw(this: Self) -> *const T {
        // SAFETY: the box is live; addr_of avoids creating a reference.
        let value = unsafe { ptr::addr_of!((*this.ptr.as_ptr()).value) };
        std::mem::forget(this);
        value
    }

    /// Takes back a handle given up by [`Gc::into_raw`] ("stealing" the
    /// reference).
    ///
    /// # Safety
    /// `ptr` comes from `Gc::<T>::into_raw`, and each such pointer is passed
    /// to `from_raw` at most once (for every `into_raw`).
    pub unsafe fn from_raw(ptr: *const T) -> Gc<T> {
        let offset = std::mem::offset_of!(GcBox<T>, value);
        // SAFETY: into_raw pointed at the value field of a live GcBox<T>.
        unsafe {
            let boxed = ptr.cast::<u8>().sub(offset).cast::<GcBox<T>>().cast_mut();
            Gc::from_box(NonNull::new_unchecked(boxed))
        }
    }
}

/// Whether `value` owns a handle to a tracked object (see
/// [`Trace::REFERENCES_FIXED`]).
#[inline]
fn reaches_tracked<T: Trace>(value: &T) -> bool {
    let mut found = false;
    value.trace(&mut Visitor::find_tracked(&mut found));
    found
}

/// Frees the memory of a box whose value is dropped or moved out.
///
/// # Safety
/// No handle to the box remains.
pub(crate) unsafe fn deallocate_box<T: Trace + 'static>(ptr: NonNull<GcBox<T>>) {
    // SAFETY: the memory is live until the deallocation below.
    let has_links = T::MAY_CONTAIN_GC && unsafe { (*ptr.as_ptr()).header.has(flags::HAS_LINKS) };
    let (layout, offset) = if has_links {
        const { layout_of::<T>(true) }
    } else {
        const { layout_of::<T>(false) }
    };
    // SAFETY: Gc::new made the allocation `offset` bytes before the box.
    unsafe { memory::deallocate(ptr.as_ptr().cast::<u8>().sub(offset), layout) }
}

impl<T: Trace + 'static> Clone for Gc<T> {
    #[inline]
    fn clone(&self) -> Self {
        self.header().increment_strong();
        Gc {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T: Trace + 'static> Drop for Gc<T> {
    #[inline]
    fn drop(&mut self) {
        let header = self.header();
        let count = header.strong.get() - 1;
        header.strong.set(count);
        if count == 0 {
            // SAFETY: this was the last strong handle.
            unsafe { drop_last(self.ptr) }
        }
    }
}

/// # Safety
/// The strong count of the live box `ptr` has just reached zero.
#[cold]
#[inline(never)]
unsafe fn drop_last<T: Trace + 'static>(ptr: NonNull<GcBox<T>>) {
    // SAFETY: forwarded from the caller.
    unsafe { destroy::release_as::<T>(ptr) }
}

impl<T: Trace + 'static> Deref for Gc<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        if T::MAY_CONTAIN_GC && self.header().has(flags::DROPPED) {
            dropped_value_accessed();
        }
        // SAFETY: a strong handle keeps the value alive unless a collection
        // dropped it, which was checked above.
        unsafe { &(*self.ptr.as_ptr()).value }
    }
}

#[cold]
#[inline(never)]
fn dropped_value_accessed() -> ! {
    panic!("strata_gc: read through a Gc whose object was already collected (from a Drop impl of another object of the same collection)")
}

// SAFETY: a Gc owns one strong reference to its target; reporting it is
// exact. Untracked targets take no part in collections and are not reported.
unsafe impl<T: Trace + 'static> Trace for Gc<T> {
    const MAY_CONTAIN_GC: bool = true;
    const REFERENCES_FIXED: bool = true;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if let Some(links) = self.links() {
            // SAFETY: the handle keeps the tracked object's memory live.
            unsafe { visitor.visit(links) };
        }
    }
}

impl<T: Trace + 'static + fmt::Debug> fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Trace + 'static + fmt::Display> fmt::Display for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: Trace + 'static + PartialEq> PartialEq for Gc<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Trace + 'static + Eq> Eq for Gc<T> {}

impl<T: Trace + 'static + std::hash::Hash> std::hash::Hash for Gc<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl<T: Trace + 'static + Default> Default for Gc<T> {
    fn default() -> Self {
        Gc::new(T::default())
    }
}
