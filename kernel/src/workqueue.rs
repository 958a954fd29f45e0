//! Workqueues (CMWQ) and work items whose ownership travels through the queue.
//!
//! A work item is a struct that embeds a [`Work`] field and implements [`WorkItem`].
//! Queuing consumes an `Arc` reference; the queue hands it back to [`WorkItem::run`].
//! If the item is already pending, the reference is returned to the caller instead, so
//! nothing leaks and nothing is freed twice.

use crate::error::{code::ENOMEM, Result};
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::marker::PhantomData;

/// Flags for [`Queue::try_new`].
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueFlags(u32);

impl QueueFlags {
    /// Per-CPU (bound) workers, like the system workqueue: work runs on the CPU that
    /// queued it, which keeps a connection's data in that CPU's cache.
    pub const BOUND: QueueFlags = QueueFlags(0);
    /// `WQ_UNBOUND`: workers not tied to a CPU, managed by the scheduler.
    pub const UNBOUND: QueueFlags = QueueFlags(bindings::KMODS_WQ_UNBOUND);
    /// `WQ_HIGHPRI`.
    pub const HIGHPRI: QueueFlags = QueueFlags(bindings::KMODS_WQ_HIGHPRI);

    /// Both sets of flags.
    pub const fn union(self, other: QueueFlags) -> QueueFlags {
        QueueFlags(self.0 | other.0)
    }
}

/// An owned workqueue; dropping it drains and destroys it (`destroy_workqueue`), which
/// waits for every queued and running item.
///
/// # Invariants
/// `ptr` is a live workqueue created by `alloc_workqueue`.
pub struct Queue {
    ptr: *mut bindings::workqueue_struct,
}

// SAFETY: workqueue functions may be called from any thread.
unsafe impl Send for Queue {}
// SAFETY: as above.
unsafe impl Sync for Queue {}

impl Queue {
    /// Creates a workqueue named `name` (shown in `ps` as `kworker` pool users and in
    /// /sys/devices/virtual/workqueue when WQ_SYSFS). `max_active` 0 = the default (256).
    pub fn try_new(name: &CStr, flags: QueueFlags, max_active: i32) -> Result<Queue> {
        // SAFETY: `name` is NUL-terminated; alloc_workqueue copies it.
        let ptr = unsafe { bindings::rust_helper_alloc_workqueue(name.as_ptr(), flags.0, max_active) };
        if ptr.is_null() {
            return Err(ENOMEM);
        }
        Ok(Queue { ptr })
    }

    /// Queues `item`; if it is already pending (or was not made by [`new_work_item`]),
    /// returns the reference back.
    pub fn enqueue<T: WorkItem>(&self, item: Arc<T>) -> core::result::Result<(), Arc<T>> {
        let raw = Arc::into_raw(item);
        // SAFETY: `raw` points to a live T (we hold its reference).
        let work = unsafe { T::work_ptr(raw) };
        // SAFETY: `work` is the live T's Work field; `initialised` is written only before
        // the Arc was shared (`new_work_item`).
        if !unsafe { (*work).is_initialised() } {
            // An Arc made without `new_work_item`: queueing its zeroed work_struct would
            // corrupt the queue, so refuse (a bug in the caller, reported once per call).
            crate::pr_err!("work item queued before initialisation (not made by new_work_item): not queued");
            // SAFETY: the reference was not given to the queue; reclaim it.
            return Err(unsafe { Arc::from_raw(raw) });
        }
        // SAFETY: the Work field was initialised by `new_work_item`. The queue now owns
        // the reference until `run_work` runs.
        let queued = unsafe { bindings::rust_helper_queue_work(self.ptr, (*work).work.get()) };
        if queued {
            Ok(())
        } else {
            // SAFETY: the queue did not take the reference; reclaim it.
            Err(unsafe { Arc::from_raw(raw) })
        }
    }

    /// Waits until every item queued so far has finished running.
    pub fn flush(&self) {
        // SAFETY: `ptr` is live (type invariant); flushing may sleep, and this is never
        // called from a work item of this same queue by the users of this crate.
        unsafe { bindings::rust_helper_flush_workqueue(self.ptr) };
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: `ptr` is live and dropped once; destroy_workqueue drains pending work.
        unsafe { bindings::destroy_workqueue(self.ptr) };
    }
}

/// A `work_struct` embedded in a `T`.
///
/// # Invariants
/// `initialised` is true once `INIT_WORK` ran on `work` with `run_work::<T>` as function,
/// which happens in [`new_work_item`] before the containing `Arc` is shared.
pub struct Work<T> {
    work: UnsafeCell<bindings::work_struct>,
    initialised: UnsafeCell<bool>,
    _p: PhantomData<T>,
}

// SAFETY: the work_struct is only manipulated by the workqueue core (with its own
// locking) after initialisation.
unsafe impl<T> Sync for Work<T> {}
// SAFETY: as above.
unsafe impl<T> Send for Work<T> {}

impl<T: WorkItem> Work<T> {
    /// An uninitialised work field; [`new_work_item`] initialises it.
    pub const fn new() -> Self {
        // SAFETY: all-zero is a valid (not yet initialised) work_struct bit pattern.
        let work = unsafe { core::mem::zeroed() };
        Self { work: UnsafeCell::new(work), initialised: UnsafeCell::new(false), _p: PhantomData }
    }

    /// Whether `new_work_item` set this field up.
    ///
    /// # Safety
    /// Only while `initialised` is no longer written (after the Arc was shared).
    unsafe fn is_initialised(&self) -> bool {
        // SAFETY: no concurrent writer (caller contract).
        unsafe { *self.initialised.get() }
    }
}

impl<T: WorkItem> Default for Work<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A type that can run on a [`Queue`].
///
/// # Safety
/// `OFFSET` must be the byte offset of a `Work<Self>` field in `Self`, and `work_ptr`
/// must return a pointer to that same field; use [`impl_work_item!`](crate::impl_work_item),
/// which derives both from the field's name and lets the compiler check its type.
pub unsafe trait HasWork: Sized {
    /// Offset of the `Work<Self>` field.
    const OFFSET: usize;

    /// The embedded work field of the item at `ptr`.
    ///
    /// # Safety
    /// `ptr` must point to a live `Self`.
    unsafe fn work_ptr(ptr: *const Self) -> *const Work<Self>;
}

/// The code a work item runs.
pub trait WorkItem: HasWork + Send + Sync + 'static {
    /// Runs in a worker thread (process context; may sleep) with the reference that was
    /// queued.
    fn run(this: Arc<Self>);
}

/// Implements [`HasWork`] for a struct with a `Work<Self>` field:
/// `impl_work_item!(Item, work)` or `impl_work_item!(impl<H: Handler> Conn<H>, work)`.
/// A field of any other type does not compile:
///
/// ```compile_fail,E0308
/// struct Item { work: u64 }
/// kernel::impl_work_item!(Item, work);
/// ```
#[macro_export]
macro_rules! impl_work_item {
    (impl<$($gp:ident : $bound:path),*> $ty:ty, $field:ident) => {
        // SAFETY: OFFSET and work_ptr name the same field; work_ptr's return type makes
        // the compiler check that it is a `Work<Self>`.
        unsafe impl<$($gp: $bound),*> $crate::workqueue::HasWork for $ty {
            const OFFSET: usize = core::mem::offset_of!($ty, $field);
            unsafe fn work_ptr(ptr: *const Self) -> *const $crate::workqueue::Work<Self> {
                // SAFETY: the caller passes a pointer to a live Self.
                unsafe { &raw const (*ptr).$field }
            }
        }
    };
    ($ty:ty, $field:ident) => {
        // SAFETY: as above.
        unsafe impl $crate::workqueue::HasWork for $ty {
            const OFFSET: usize = core::mem::offset_of!($ty, $field);
            unsafe fn work_ptr(ptr: *const Self) -> *const $crate::workqueue::Work<Self> {
                // SAFETY: the caller passes a pointer to a live Self.
                unsafe { &raw const (*ptr).$field }
            }
        }
    };
}

/// Allocates `value` in an `Arc` and initialises its work field, ready to be queued.
pub fn new_work_item<T: WorkItem>(value: T) -> Result<Arc<T>> {
    let arc = Arc::try_new(value)?;
    let raw = Arc::as_ptr(&arc);
    // SAFETY: the Arc is not shared yet, so nobody else can observe or queue the work
    // field while it is initialised; the field lies at T::OFFSET (HasWork contract).
    unsafe {
        let work = T::work_ptr(raw);
        bindings::rust_helper_init_work((*work).work.get(), Some(run_work::<T>));
        *(*work).initialised.get() = true;
    }
    Ok(arc)
}

unsafe extern "C" fn run_work<T: WorkItem>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` field of a Work<T> (first field of a repr(Rust) struct
    // is not guaranteed to be at offset 0, so compute it), itself at T::OFFSET in a T whose
    // reference was leaked into the queue by `Queue::enqueue`.
    unsafe {
        let work_field = core::mem::offset_of!(Work<T>, work);
        let w = work.cast::<u8>().sub(work_field).sub(T::OFFSET).cast::<T>();
        T::run(Arc::from_raw(w));
    }
}
