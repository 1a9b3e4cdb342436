//! [`Trace`] for the standard types.
//!
//! Containers are tracked only if their element type may hold a `Gc`, so a
//! `Gc<Vec<u64>>` carries no collector links and is never traversed.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, LinkedList, VecDeque};
use std::marker::PhantomData;

use crate::trace::{Trace, Visitor};

macro_rules! trace_nothing {
    ($($ty:ty),* $(,)?) => {$(
        // SAFETY: the type holds no Gc; reporting none is exact.
        unsafe impl Trace for $ty {
            const MAY_CONTAIN_GC: bool = false;
            const REFERENCES_FIXED: bool = true;
            #[inline]
            fn trace(&self, _: &mut Visitor<'_>) {}
        }
    )*};
}

trace_nothing!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    std::time::Duration,
    std::time::Instant,
    std::num::NonZeroUsize,
    std::num::NonZeroU64,
    std::num::NonZeroU32,
    std::path::PathBuf,
    std::ffi::OsString,
);

// SAFETY: PhantomData owns nothing.
unsafe impl<T: ?Sized> Trace for PhantomData<T> {
    const MAY_CONTAIN_GC: bool = false;
    const REFERENCES_FIXED: bool = true;
    #[inline]
    fn trace(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: a `Copy` type cannot own a `Gc` (which is not `Copy`), so a Cell
// of one holds none; reading it is not needed.
unsafe impl<T: Copy + Trace> Trace for Cell<T> {
    const MAY_CONTAIN_GC: bool = false;
    const REFERENCES_FIXED: bool = true;
    #[inline]
    fn trace(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: reports exactly what the borrowed value reports. When the cell is
// mutably borrowed at the moment of a collection nothing is reported, which
// only makes its referents look externally held (kept), and the borrow state
// cannot change while a collection traverses (no user code runs then).
unsafe impl<T: Trace + ?Sized> Trace for RefCell<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    const REFERENCES_FIXED: bool = !T::MAY_CONTAIN_GC;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if T::MAY_CONTAIN_GC {
            // SAFETY: tracing runs no code that could borrow the cell
            // mutably (Trace's contract), so reading without a guard is
            // sound, and it spares a write to the borrow flag per object.
            if let Ok(value) = unsafe { self.try_borrow_unguarded() } {
                value.trace(visitor);
            }
        }
    }
}

// SAFETY: a Box owns its content; forwards to it.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    const REFERENCES_FIXED: bool = T::REFERENCES_FIXED;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        (**self).trace(visitor);
    }
}

// SAFETY: forwards to the owned content, if any.
unsafe impl<T: Trace> Trace for Option<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    const REFERENCES_FIXED: bool = T::REFERENCES_FIXED;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        if let Some(value) = self {
            value.trace(visitor);
        }
    }
}

// SAFETY: forwards to the owned variant.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC || E::MAY_CONTAIN_GC;
    const REFERENCES_FIXED: bool = T::REFERENCES_FIXED && E::REFERENCES_FIXED;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        match self {
            Ok(value) => value.trace(visitor),
            Err(error) => error.trace(visitor),
        }
    }
}

// SAFETY: forwards to every owned element.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    const REFERENCES_FIXED: bool = T::REFERENCES_FIXED;
    #[inline]
    fn trace(&self, visitor: &mut Visitor<'_>) {
        self.as_slice().trace(visitor);
    }
}

macro_rules! trace_sequence {
    ($([$($generics:tt)*] $ty:ty),*) => {$(
        // SAFETY: the collection owns its elements; forwards to each.
        unsafe impl<T: Trace $($generics)*> Trace for $ty {
            const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
            const REFERENCES_FIXED: bool = T::REFERENCES_FIXED;
            #[inline]
            fn trace(&self, visitor: &mut Visitor<'_>) {
                if T::MAY_CONTAIN_GC {
                    for value in self {
                        value.trace(visitor);
                    }
                }
            }
        }
    )*};
}

trace_sequence!(
    [] [T],
    [] Vec<T>,
    [] VecDeque<T>,
    [] LinkedList<T>,
    [] BTreeSet<T>,
    [, S] HashSet<T, S>
);

macro_rules! trace_map {
    ($($ty:ident<K, V $(, $hasher:ident)?>),*) => {$(
        // SAFETY: the map owns its keys and values; forwards to each.
        unsafe impl<K: Trace, V: Trace $(, $hasher)?> Trace for $ty<K, V $(, $hasher)?> {
            const MAY_CONTAIN_GC: bool = K::MAY_CONTAIN_GC || V::MAY_CONTAIN_GC;
            const REFERENCES_FIXED: bool = K::REFERENCES_FIXED && V::REFERENCES_FIXED;
            #[inline]
            fn trace(&self, visitor: &mut Visitor<'_>) {
                if Self::MAY_CONTAIN_GC {
                    for (key, value) in self {
                        key.trace(visitor);
                        value.trace(visitor);
                    }
                }
            }
        }
    )*};
}

trace_map!(HashMap<K, V, S>, BTreeMap<K, V>);

macro_rules! trace_tuple {
    ($(($($name:ident $index:tt),+))*) => {$(
        // SAFETY: a tuple owns its fields; forwards to each.
        unsafe impl<$($name: Trace),+> Trace for ($($name,)+) {
            const MAY_CONTAIN_GC: bool = false $(|| $name::MAY_CONTAIN_GC)+;
            const REFERENCES_FIXED: bool = true $(&& $name::REFERENCES_FIXED)+;
            #[inline]
            fn trace(&self, visitor: &mut Visitor<'_>) {
                $(self.$index.trace(visitor);)+
            }
        }
    )*};
}

trace_tuple! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}
