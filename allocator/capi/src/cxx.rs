//! The replaceable C++ allocation functions, under their Itanium ABI names.
//!
//! `operator new` cannot throw `std::bad_alloc` from Rust: when memory runs
//! out it reports the failure and aborts, as a program built with
//! `-fno-exceptions` does. The `nothrow` forms return null. Sized and aligned
//! `operator delete` forms pass the size on to debug mode, which checks it.

use crate::{allocate, free_family};
use allocator::debug::fatal;
use allocator::debug::Family;
use core::ffi::c_void;

/// `operator new` without an alignment argument: the default new alignment.
const NEW_ALIGN: usize = 16;

#[cold]
fn out_of_memory(size: usize) -> ! {
    fatal(format_args!("out of memory in operator new ({size} bytes)"))
}

#[inline(always)]
fn new_or_abort(size: usize, align: usize, family: Family) -> *mut c_void {
    let block = allocate(size, align, family, false);
    if block.is_null() {
        out_of_memory(size);
    }
    block.cast()
}

/// Defines C++ allocation functions: the name, its parameters, and the
/// expression that allocates or frees with them.
macro_rules! operators {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block)*) => {$(
        $(#[$doc])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? $body
    )*};
}

operators! {
    /// `operator new(size_t)`.
    /// # Safety
    /// None.
    _Znwm(size: usize) -> *mut c_void { new_or_abort(size, NEW_ALIGN, Family::New) }
    /// `operator new[](size_t)`.
    /// # Safety
    /// None.
    _Znam(size: usize) -> *mut c_void { new_or_abort(size, NEW_ALIGN, Family::NewArray) }
    /// `operator new(size_t, const std::nothrow_t&)`.
    /// # Safety
    /// None.
    _ZnwmRKSt9nothrow_t(size: usize, _tag: *const c_void) -> *mut c_void {
        allocate(size, NEW_ALIGN, Family::New, false).cast()
    }
    /// `operator new[](size_t, const std::nothrow_t&)`.
    /// # Safety
    /// None.
    _ZnamRKSt9nothrow_t(size: usize, _tag: *const c_void) -> *mut c_void {
        allocate(size, NEW_ALIGN, Family::NewArray, false).cast()
    }
    /// `operator new(size_t, std::align_val_t)`.
    /// # Safety
    /// `align` is a power of two.
    _ZnwmSt11align_val_t(size: usize, align: usize) -> *mut c_void {
        new_or_abort(size, aligned(align), Family::New)
    }
    /// `operator new[](size_t, std::align_val_t)`.
    /// # Safety
    /// `align` is a power of two.
    _ZnamSt11align_val_t(size: usize, align: usize) -> *mut c_void {
        new_or_abort(size, aligned(align), Family::NewArray)
    }
    /// `operator new(size_t, std::align_val_t, const std::nothrow_t&)`.
    /// # Safety
    /// `align` is a power of two.
    _ZnwmSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, _tag: *const c_void) -> *mut c_void {
        allocate(size, aligned(align), Family::New, false).cast()
    }
    /// `operator new[](size_t, std::align_val_t, const std::nothrow_t&)`.
    /// # Safety
    /// `align` is a power of two.
    _ZnamSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, _tag: *const c_void) -> *mut c_void {
        allocate(size, aligned(align), Family::NewArray, false).cast()
    }
}

operators! {
    /// `operator delete(void*)`.
    /// # Safety
    /// `ptr` is null or a live block from `operator new`.
    _ZdlPv(ptr: *mut c_void) { delete(ptr, Family::New, None) }
    /// `operator delete[](void*)`.
    /// # Safety
    /// `ptr` is null or a live block from `operator new[]`.
    _ZdaPv(ptr: *mut c_void) { delete(ptr, Family::NewArray, None) }
    /// `operator delete(void*, size_t)`.
    /// # Safety
    /// `ptr` is null or a live block of `size` bytes from `operator new`.
    _ZdlPvm(ptr: *mut c_void, size: usize) { delete(ptr, Family::New, Some(size)) }
    /// `operator delete[](void*, size_t)`.
    /// # Safety
    /// `ptr` is null or a live block of `size` bytes from `operator new[]`.
    _ZdaPvm(ptr: *mut c_void, size: usize) { delete(ptr, Family::NewArray, Some(size)) }
    /// `operator delete(void*, const std::nothrow_t&)`.
    /// # Safety
    /// `ptr` is null or a live block from `operator new`.
    _ZdlPvRKSt9nothrow_t(ptr: *mut c_void, _tag: *const c_void) { delete(ptr, Family::New, None) }
    /// `operator delete[](void*, const std::nothrow_t&)`.
    /// # Safety
    /// `ptr` is null or a live block from `operator new[]`.
    _ZdaPvRKSt9nothrow_t(ptr: *mut c_void, _tag: *const c_void) { delete(ptr, Family::NewArray, None) }
    /// `operator delete(void*, std::align_val_t)`.
    /// # Safety
    /// `ptr` is null or a live block from aligned `operator new`.
    _ZdlPvSt11align_val_t(ptr: *mut c_void, _align: usize) { delete(ptr, Family::New, None) }
    /// `operator delete[](void*, std::align_val_t)`.
    /// # Safety
    /// `ptr` is null or a live block from aligned `operator new[]`.
    _ZdaPvSt11align_val_t(ptr: *mut c_void, _align: usize) { delete(ptr, Family::NewArray, None) }
    /// `operator delete(void*, size_t, std::align_val_t)`.
    /// # Safety
    /// `ptr` is null or a live block of `size` bytes from aligned `operator new`.
    _ZdlPvmSt11align_val_t(ptr: *mut c_void, size: usize, _align: usize) {
        delete(ptr, Family::New, Some(size))
    }
    /// `operator delete[](void*, size_t, std::align_val_t)`.
    /// # Safety
    /// `ptr` is null or a live block of `size` bytes from aligned `operator new[]`.
    _ZdaPvmSt11align_val_t(ptr: *mut c_void, size: usize, _align: usize) {
        delete(ptr, Family::NewArray, Some(size))
    }
    /// `operator delete(void*, std::align_val_t, const std::nothrow_t&)`.
    /// # Safety
    /// `ptr` is null or a live block from aligned `operator new`.
    _ZdlPvSt11align_val_tRKSt9nothrow_t(ptr: *mut c_void, _align: usize, _tag: *const c_void) {
        delete(ptr, Family::New, None)
    }
    /// `operator delete[](void*, std::align_val_t, const std::nothrow_t&)`.
    /// # Safety
    /// `ptr` is null or a live block from aligned `operator new[]`.
    _ZdaPvSt11align_val_tRKSt9nothrow_t(ptr: *mut c_void, _align: usize, _tag: *const c_void) {
        delete(ptr, Family::NewArray, None)
    }
}

/// The alignment of an aligned `operator new`, at least the default one.
fn aligned(align: usize) -> usize {
    align.max(NEW_ALIGN)
}

fn delete(ptr: *mut c_void, family: Family, size: Option<usize>) {
    // SAFETY: the operator's caller guarantees ptr is null or a live block
    // of this family (debug mode checks it).
    unsafe { free_family(ptr.cast(), family, size) }
}
