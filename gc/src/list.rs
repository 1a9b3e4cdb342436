//! Intrusive circular doubly linked lists of tracked objects (CPython's
//! `gc_list_*`). A list is a sentinel [`ListNode`]; its members are the
//! `node` fields of their `GcLinks`. Every operation is O(1) except
//! [`len`].

use crate::header::{GcLinks, ListNode};

/// Makes `head` an empty list.
pub(crate) fn init(head: &ListNode) {
    let this = head as *const ListNode as *mut ListNode;
    head.next.set(this);
    head.prev.set(this);
}

#[inline]
pub(crate) fn is_empty(head: &ListNode) -> bool {
    std::ptr::eq(head.next.get(), head)
}

/// Appends `node` at the tail of `head`.
///
/// # Safety
/// `head` is an initialised list; `node` is a live node in no list.
#[inline]
pub(crate) unsafe fn push_back(head: &ListNode, node: *mut ListNode) {
    let head_ptr = head as *const ListNode as *mut ListNode;
    let last = head.prev.get();
    // SAFETY: `last` is a member (or the head) of a well-formed list and
    // `node` is live; the caller guarantees both.
    unsafe {
        (*node).prev.set(last);
        (*node).next.set(head_ptr);
        (*last).next.set(node);
    }
    head.prev.set(node);
}

/// Takes `node` out of whatever list holds it.
///
/// # Safety
/// `node` is a member of a well-formed list.
#[inline]
pub(crate) unsafe fn unlink(node: *mut ListNode) {
    // SAFETY: members of a well-formed list have live neighbours.
    unsafe {
        let prev = (*node).prev.get();
        let next = (*node).next.get();
        (*prev).next.set(next);
        (*next).prev.set(prev);
    }
}

/// Moves `node` from its list to the tail of `head`.
///
/// # Safety
/// As [`unlink`] and [`push_back`].
#[inline]
pub(crate) unsafe fn move_to(node: *mut ListNode, head: &ListNode) {
    // SAFETY: forwarded from the caller.
    unsafe {
        unlink(node);
        push_back(head, node);
    }
}

/// Appends every member of `from` to `to`, leaving `from` empty.
///
/// # Safety
/// Both are initialised, distinct lists.
pub(crate) unsafe fn merge(from: &ListNode, to: &ListNode) {
    if is_empty(from) {
        return;
    }
    let to_ptr = to as *const ListNode as *mut ListNode;
    let first = from.next.get();
    let last = from.prev.get();
    let to_last = to.prev.get();
    // SAFETY: all nodes named are members or heads of well-formed lists.
    unsafe {
        (*to_last).next.set(first);
        (*first).prev.set(to_last);
        (*last).next.set(to_ptr);
    }
    to.prev.set(last);
    init(from);
}

/// Number of members (walks the list).
pub(crate) fn len(head: &ListNode) -> usize {
    let mut count = 0;
    let head_ptr = head as *const ListNode as *mut ListNode;
    let mut node = head.next.get();
    while node != head_ptr {
        count += 1;
        // SAFETY: members of a well-formed list are live.
        node = unsafe { (*node).next.get() };
    }
    count
}

/// The `GcLinks` a list node belongs to (the node is its first field).
#[inline]
pub(crate) fn as_links(node: *mut ListNode) -> *const GcLinks {
    node.cast::<GcLinks>()
}

/// Calls `f` on each member; `f` must not unlink any member other than the
/// one it is given.
///
/// # Safety
/// `head` is a well-formed list of tracked objects.
pub(crate) unsafe fn for_each(head: &ListNode, mut f: impl FnMut(*const GcLinks)) {
    let head_ptr = head as *const ListNode as *mut ListNode;
    let mut node = head.next.get();
    while node != head_ptr {
        // SAFETY: node is a live member; read its successor before `f` may move it.
        let next = unsafe { (*node).next.get() };
        f(as_links(node));
        node = next;
    }
}
