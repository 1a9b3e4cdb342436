//! The replaceable C++ allocation functions, under their Itanium ABI names.
//!
//! When memory runs out, the throwing forms of `operator new` behave as the
//! standard says: they call the program's new-handler (`std::set_new_handler`)
//! and try again for as long as one is installed, and otherwise throw
//! `std::bad_alloc`. Rust cannot throw a C++ exception itself, so strata
//! calls the C++ runtime's own thrower (`std::__throw_bad_alloc`, in
//! libstdc++ or libc++), found through weak references that the dynamic
//! linker fills in when the program uses a C++ runtime from the start (no
//! `dlsym`, no allocation), or with `dlsym` when a runtime was loaded later
//! with `dlopen`. These functions use the `C-unwind` ABI, so the
//! exception (or one a new-handler throws) passes through them to the
//! caller. A program with no C++ runtime that calls them anyway gets a report
//! and an abort, as a program built with `-fno-exceptions` does. The
//! `nothrow` forms return null without calling the new-handler. Sized and
//! aligned `operator delete` forms pass the size on to debug mode, which
//! checks it.

use crate::{allocate, free_family};
use allocator::debug::fatal;
use allocator::debug::Family;
#[cfg(target_arch = "x86_64")]
use core::arch::{asm, global_asm};
use core::ffi::c_void;

/// `operator new` without an alignment argument: the default new alignment.
const NEW_ALIGN: usize = 16;

// Weak references into the C++ runtime: each resolves to the function when a
// loaded library defines it and to null otherwise.
//   _ZSt15get_new_handlerv          std::get_new_handler() (both runtimes)
//   _ZSt17__throw_bad_allocv        std::__throw_bad_alloc() (libstdc++)
//   _ZNSt3__117__throw_bad_allocEv  std::__1::__throw_bad_alloc() (libc++)
#[cfg(target_arch = "x86_64")]
global_asm!(
    ".weak _ZSt15get_new_handlerv",
    ".weak _ZSt17__throw_bad_allocv",
    ".weak _ZNSt3__117__throw_bad_allocEv",
);

/// The address a weak reference resolved to (0: no library defines it).
/// Elsewhere than x86-64 there are no weak references: 0, so a failed
/// throwing `operator new` reports and aborts.
#[cfg(not(target_arch = "x86_64"))]
macro_rules! weak_address {
    ($symbol:literal) => {
        0usize
    };
}

/// The address a weak reference resolved to (0: no library defines it).
#[cfg(target_arch = "x86_64")]
macro_rules! weak_address {
    ($symbol:literal) => {{
        let address: usize;
        // SAFETY: reads the symbol's GOT entry, which the dynamic linker
        // filled in (with 0 for an undefined weak symbol) before any code ran.
        unsafe {
            asm!(
                concat!("mov {address}, qword ptr [rip + ", $symbol, "@GOTPCREL]"),
                address = out(reg) address,
                options(nostack, readonly, preserves_flags, pure),
            );
        }
        address
    }};
}

/// The C++ runtimes a program may have loaded after start-up.
const RUNTIMES: [&core::ffi::CStr; 3] = [c"libstdc++.so.6", c"libc++.so.1", c"libc++abi.so.1"];

/// A C++ runtime function: the weak reference if it resolved when strata
/// was loaded, else a lookup now, for a runtime loaded later with `dlopen`
/// (a C program such as CPython loading a C++ extension, which keeps the
/// runtime out of the global scope: hence the `RTLD_NOLOAD` handles). Only
/// the failure path of `operator new` asks, when strata is long ready.
fn find_runtime_function(weak: usize, name: &core::ffi::CStr) -> usize {
    if weak != 0 {
        return weak;
    }
    // SAFETY: NUL-terminated names; RTLD_DEFAULT searches the global scope
    // and an RTLD_NOLOAD handle (released again) names a library already
    // loaded. No strata lock is held here, so the loader may allocate.
    unsafe {
        let global = libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr());
        if !global.is_null() {
            return global as usize;
        }
        for runtime in RUNTIMES {
            let handle = libc::dlopen(runtime.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD);
            if handle.is_null() {
                continue;
            }
            let found = libc::dlsym(handle, name.as_ptr());
            // The library stays loaded: the program holds it.
            libc::dlclose(handle);
            if !found.is_null() {
                return found as usize;
            }
        }
    }
    0
}

/// [`find_runtime_function`] for one symbol, named once.
macro_rules! runtime_function {
    ($symbol:literal) => {
        find_runtime_function(
            weak_address!($symbol),
            const {
                match core::ffi::CStr::from_bytes_with_nul(concat!($symbol, "\0").as_bytes()) {
                    Ok(name) => name,
                    Err(_) => panic!("a symbol name must not contain NUL"),
                }
            },
        )
    };
}

/// A new-handler, as `std::set_new_handler` installs it. It may throw.
type NewHandler = unsafe extern "C-unwind" fn();

/// The program's new-handler, if it installed one, read through `get`, the
/// runtime's `std::get_new_handler` (0: no runtime).
fn new_handler(get: usize) -> Option<NewHandler> {
    if get == 0 {
        return None;
    }
    // SAFETY: `std::get_new_handler` takes nothing and returns the handler
    // or null, which `Option<fn>` represents as `None`.
    let get: unsafe extern "C" fn() -> Option<NewHandler> = unsafe { core::mem::transmute(get) };
    // SAFETY: as above; it only reads the runtime's handler slot.
    unsafe { get() }
}

/// Throws `std::bad_alloc` through the C++ runtime; without one, reports and
/// aborts.
fn throw_bad_alloc(size: usize) -> ! {
    let mut thrower = runtime_function!("_ZSt17__throw_bad_allocv");
    if thrower == 0 {
        thrower = runtime_function!("_ZNSt3__117__throw_bad_allocEv");
    }
    if thrower != 0 {
        // SAFETY: both runtimes define the function as taking nothing and
        // never returning; it throws `std::bad_alloc`, which unwinds through
        // our `C-unwind` frames to the caller of `operator new`.
        let throw: unsafe extern "C-unwind" fn() -> ! = unsafe { core::mem::transmute(thrower) };
        // SAFETY: as above.
        unsafe { throw() }
    }
    fatal(format_args!("out of memory in operator new ({size} bytes)"))
}

/// A throwing `operator new`: the block, or the standard's loop of
/// new-handler calls and retries, ending in `std::bad_alloc`.
#[inline(always)]
fn new_or_throw(size: usize, align: usize, family: Family) -> *mut c_void {
    let block = allocate(size, align, family, false);
    if block.is_null() {
        return new_failed(size, align, family);
    }
    block.cast()
}

#[cold]
#[inline(never)]
extern "C-unwind" fn new_failed(size: usize, align: usize, family: Family) -> *mut c_void {
    // Found once; the handler itself is read again on every round, since a
    // handler may install another.
    let get_handler = runtime_function!("_ZSt15get_new_handlerv");
    loop {
        let Some(handler) = new_handler(get_handler) else {
            throw_bad_alloc(size);
        };
        // SAFETY: the program's own handler, called as the standard says; it
        // frees memory, installs another handler, throws, or ends the program.
        unsafe { handler() };
        let block = allocate(size, align, family, false);
        if !block.is_null() {
            return block.cast();
        }
    }
}

/// Defines C++ allocation functions with an ABI: the name, its parameters,
/// and the expression that allocates or frees with them.
macro_rules! operators {
    ($abi:literal: $($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block)*) => {$(
        $(#[$doc])*
        #[no_mangle]
        pub unsafe extern $abi fn $name($($arg: $ty),*) $(-> $ret)? $body
    )*};
}

operators! {
    "C-unwind":
    /// `operator new(size_t)`.
    /// # Safety
    /// None.
    _Znwm(size: usize) -> *mut c_void { new_or_throw(size, NEW_ALIGN, Family::New) }
    /// `operator new[](size_t)`.
    /// # Safety
    /// None.
    _Znam(size: usize) -> *mut c_void { new_or_throw(size, NEW_ALIGN, Family::NewArray) }
    /// `operator new(size_t, std::align_val_t)`.
    /// # Safety
    /// `align` is a power of two.
    _ZnwmSt11align_val_t(size: usize, align: usize) -> *mut c_void {
        new_or_throw(size, aligned(align), Family::New)
    }
    /// `operator new[](size_t, std::align_val_t)`.
    /// # Safety
    /// `align` is a power of two.
    _ZnamSt11align_val_t(size: usize, align: usize) -> *mut c_void {
        new_or_throw(size, aligned(align), Family::NewArray)
    }
}

operators! {
    "C":
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
    "C":
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
