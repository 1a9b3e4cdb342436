//! `std::rc::Rc`: reference counting without cycle collection, the baseline
//! for acyclic workloads.

use std::rc::Rc;

super::gc_heap_adapter!(Heap, Rc, ());
