//! An intrusive, spinlock-protected list of `Arc<T>`: insertion and removal without
//! allocating, so they may happen anywhere a spinlock may be taken.

use crate::sync::{LockClassKey, SpinLock};
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

/// Ids for lists: never reused (a 64-bit counter), so an item's `owner` can name only the
/// list it was pushed on, even after that list was moved or freed and another list took
/// its address.
static NEXT_LIST_ID: AtomicU64 = AtomicU64::new(1);

/// The links an item embeds to be on an [`ArcList`].
///
/// # Invariants
/// `owner` is 0 or the id of the list the item is on; it changes from 0 to a list's id
/// only by compare-and-swap, and back to 0 only under that list's lock. `inner` is read
/// or written only while holding the lock of the list whose id is in `owner`.
pub struct Links<T> {
    owner: AtomicU64,
    inner: UnsafeCell<LinksInner<T>>,
}

struct LinksInner<T> {
    prev: *const T,
    next: *const T,
}

// SAFETY: see the invariants: access is serialised by the owning list's lock.
unsafe impl<T> Sync for Links<T> {}
// SAFETY: as above.
unsafe impl<T> Send for Links<T> {}

impl<T> Links<T> {
    /// Links of an item that is on no list.
    pub const fn new() -> Self {
        Self {
            owner: AtomicU64::new(0),
            inner: UnsafeCell::new(LinksInner { prev: ptr::null(), next: ptr::null() }),
        }
    }
}

impl<T> Default for Links<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Types that embed [`Links`]. Implement it with [`impl_has_links!`](crate::impl_has_links),
/// which needs no `unsafe` in the caller and makes the compiler check the field's type.
///
/// # Safety
/// `links` must always return the same field of `self`.
pub unsafe trait HasLinks: Sized {
    /// The embedded links.
    fn links(&self) -> &Links<Self>;
}

/// Implements [`HasLinks`] for a struct with a `Links<Self>` field:
/// `impl_has_links!(Conn, links)` or `impl_has_links!(impl<H: Handler> Conn<H>, links)`.
///
/// ```compile_fail,E0308
/// struct Item { links: u32 }
/// kernel::impl_has_links!(Item, links);
/// ```
#[macro_export]
macro_rules! impl_has_links {
    (impl<$($gp:ident : $bound:path),*> $ty:ty, $field:ident) => {
        // SAFETY: `links` always returns the same field, whose type the compiler checked.
        unsafe impl<$($gp: $bound),*> $crate::list::HasLinks for $ty {
            fn links(&self) -> &$crate::list::Links<Self> {
                &self.$field
            }
        }
    };
    ($ty:ty, $field:ident) => {
        // SAFETY: `links` always returns the same field, whose type the compiler checked.
        unsafe impl $crate::list::HasLinks for $ty {
            fn links(&self) -> &$crate::list::Links<Self> {
                &self.$field
            }
        }
    };
}

/// Creates an empty [`ArcList`] whose lock has its own lockdep class (one per call site).
#[macro_export]
macro_rules! new_arc_list {
    () => {
        $crate::new_arc_list!(concat!(file!(), ":", line!()))
    };
    ($name:expr) => {{
        static CLASS: $crate::sync::LockClassKey = $crate::sync::LockClassKey::new();
        const NAME: &core::ffi::CStr = $crate::sync::lock_name(concat!($name, "\0"));
        $crate::list::ArcList::new(NAME, &CLASS)
    }};
}

struct Head<T> {
    first: *const T,
    last: *const T,
    len: usize,
}

/// A list that owns one reference (`Arc`) to each of its items.
///
/// Items know their list by an id that no other list ever gets, so a list may move, and
/// `remove` with an item of another list (or of a list that is gone) finds nothing.
pub struct ArcList<T: HasLinks> {
    id: u64,
    head: SpinLock<Head<T>>,
}

// SAFETY: the list hands out `Arc<T>` across threads, so T must be Send + Sync.
unsafe impl<T: HasLinks + Send + Sync> Sync for ArcList<T> {}
// SAFETY: as above.
unsafe impl<T: HasLinks + Send + Sync> Send for ArcList<T> {}

impl<T: HasLinks> ArcList<T> {
    /// An empty list whose lock is in lockdep class `key`; use [`new_arc_list!`](crate::new_arc_list).
    pub fn new(name: &'static CStr, key: &'static LockClassKey) -> Self {
        // Relaxed: only uniqueness matters. 2^64 lists cannot be made in a machine's life.
        let id = NEXT_LIST_ID.fetch_add(1, Ordering::Relaxed);
        let head = SpinLock::new(Head { first: ptr::null(), last: ptr::null(), len: 0 }, name, key);
        Self { id, head }
    }

    fn id(&self) -> u64 {
        self.id
    }

    /// Appends `item`; gives it back if it is already on a list.
    pub fn push(&self, item: Arc<T>) -> core::result::Result<(), Arc<T>> {
        let mut head = self.head.lock();
        // INVARIANT: claiming the item by CAS makes us the only list touching its links.
        if item.links().owner.compare_exchange(0, self.id(), Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(item);
        }
        let links = item.links().inner.get();
        // SAFETY: we own the item's links (owner is us) and hold our lock; `head.last` is
        // an item on this list, alive because the list holds a reference to it.
        unsafe {
            let raw = Arc::into_raw(item);
            (*links).prev = head.last;
            (*links).next = ptr::null();
            if let Some(last) = head.last.as_ref() {
                (*last.links().inner.get()).next = raw;
            } else {
                head.first = raw;
            }
            head.last = raw;
        }
        head.len += 1;
        Ok(())
    }

    /// Unlinks `item` if it is on this list and returns the list's reference to it.
    pub fn remove(&self, item: &T) -> Option<Arc<T>> {
        let mut head = self.head.lock();
        // SAFETY: we hold our lock; we only touch links of items whose owner is us.
        unsafe { Self::unlink(&mut head, self.id(), item) }
    }

    /// Unlinks and returns the first item.
    pub fn pop(&self) -> Option<Arc<T>> {
        let mut head = self.head.lock();
        // SAFETY: `first` is an item on this list, kept alive by the list's reference.
        let first = unsafe { head.first.as_ref()? };
        // SAFETY: we hold our lock.
        unsafe { Self::unlink(&mut head, self.id(), first) }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.head.lock().len
    }

    /// True if the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// # Safety
    /// The caller holds this list's lock (`head` is its guard's content).
    unsafe fn unlink(head: &mut Head<T>, id: u64, item: &T) -> Option<Arc<T>> {
        // Only this list (under the lock we hold) can change the owner away from us.
        if item.links().owner.load(Ordering::Acquire) != id {
            return None;
        }
        let links = item.links().inner.get();
        // SAFETY: the caller holds the lock of the list that owns the item; items on this
        // list are alive because the list holds a reference to each.
        unsafe {
            let (prev, next) = ((*links).prev, (*links).next);
            match prev.as_ref() {
                Some(p) => (*p.links().inner.get()).next = next,
                None => head.first = next,
            }
            match next.as_ref() {
                Some(n) => (*n.links().inner.get()).prev = prev,
                None => head.last = prev,
            }
            (*links).prev = ptr::null();
            (*links).next = ptr::null();
            head.len -= 1;
            item.links().owner.store(0, Ordering::Release);
            // The list's reference, created by `Arc::into_raw` in `push`.
            Some(Arc::from_raw(item as *const T))
        }
    }
}

impl<T: HasLinks> Drop for ArcList<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

