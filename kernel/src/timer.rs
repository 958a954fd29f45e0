//! Kernel timers (`timer_list`, the timer wheel) whose callback owns an `Arc`.
//!
//! A timer is a [`Timer`] field embedded in a `T` that implements [`TimerItem`]. Arming
//! a timer that is not pending gives it one `Arc` reference; the callback receives that
//! reference ([`TimerItem::expired`]), and cancelling a pending timer takes it back. So
//! a pending timer always keeps its item alive, and nothing is freed while the kernel
//! may still fire it. Arming and cancelling cost O(1) whatever the number of timers.
//!
//! The callback runs in softirq context: it must not sleep, and must not drop the last
//! reference to an item whose `Drop` may sleep (hand it to a work item instead, whose
//! enqueue fails only while another reference is queued).
//!
//! Module code is still running while a callback runs: before the module goes away,
//! every timer must be cancelled with [`cancel_sync`] (no item left with a pending timer).

use crate::error::{code::EBUSY, Result};
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::marker::PhantomData;

/// A `timer_list` embedded in a `T`.
///
/// # Invariants
/// `initialised` is true once `timer_setup` ran on `timer` with `run_timer::<T>` as the
/// callback, which [`init`] does while it holds the only reference to the item.
pub struct Timer<T> {
    timer: UnsafeCell<bindings::timer_list>,
    initialised: UnsafeCell<bool>,
    _p: PhantomData<T>,
}

// SAFETY: after initialisation the timer_list is touched only by the timer core, which
// serialises access with its base lock.
unsafe impl<T> Sync for Timer<T> {}
// SAFETY: as above.
unsafe impl<T> Send for Timer<T> {}

impl<T> Timer<T> {
    /// A timer field not set up yet; [`init`] sets it up.
    pub const fn new() -> Self {
        // SAFETY: all-zero is a valid (not yet set up) timer_list bit pattern.
        let timer = unsafe { core::mem::zeroed() };
        Self { timer: UnsafeCell::new(timer), initialised: UnsafeCell::new(false), _p: PhantomData }
    }

    fn is_initialised(&self) -> bool {
        // SAFETY: `initialised` is written only through `init`, which holds the only
        // reference to the item, so no one can read it concurrently.
        unsafe { *self.initialised.get() }
    }
}

impl<T> Default for Timer<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A type with an embedded [`Timer`].
///
/// # Safety
/// `timer_ptr` must return a pointer to a `Timer<Self>` field of `*ptr`, and `OFFSET`
/// must be that field's offset; use [`impl_timer_item!`](crate::impl_timer_item).
pub unsafe trait HasTimer: Sized {
    /// Offset of the `Timer<Self>` field.
    const OFFSET: usize;

    /// The embedded timer field of the item at `ptr`.
    ///
    /// # Safety
    /// `ptr` must point to a live `Self`.
    unsafe fn timer_ptr(ptr: *const Self) -> *const Timer<Self>;
}

/// The code a timer runs.
pub trait TimerItem: HasTimer + Send + Sync + 'static {
    /// Runs in softirq context (must not sleep) with the reference the timer held.
    fn expired(this: Arc<Self>);
}

/// Implements [`HasTimer`] for a struct with a `Timer<Self>` field:
/// `impl_timer_item!(Item, timer)` or `impl_timer_item!(impl<H: Handler> Conn<H>, timer)`.
/// A field of any other type does not compile:
///
/// ```compile_fail,E0308
/// struct Item { timer: u64 }
/// kernel::impl_timer_item!(Item, timer);
/// ```
#[macro_export]
macro_rules! impl_timer_item {
    (impl<$($gp:ident : $bound:path),*> $ty:ty, $field:ident) => {
        // SAFETY: OFFSET and timer_ptr name the same field; timer_ptr's return type
        // makes the compiler check that it is a `Timer<Self>`.
        unsafe impl<$($gp: $bound),*> $crate::timer::HasTimer for $ty {
            const OFFSET: usize = core::mem::offset_of!($ty, $field);
            unsafe fn timer_ptr(ptr: *const Self) -> *const $crate::timer::Timer<Self> {
                // SAFETY: the caller passes a pointer to a live Self.
                unsafe { &raw const (*ptr).$field }
            }
        }
    };
    ($ty:ty, $field:ident) => {
        // SAFETY: as above.
        unsafe impl $crate::timer::HasTimer for $ty {
            const OFFSET: usize = core::mem::offset_of!($ty, $field);
            unsafe fn timer_ptr(ptr: *const Self) -> *const $crate::timer::Timer<Self> {
                // SAFETY: the caller passes a pointer to a live Self.
                unsafe { &raw const (*ptr).$field }
            }
        }
    };
}

/// Sets the item's timer up. Needs the only reference to the item (`EBUSY` otherwise),
/// so no one can arm the timer while it is being set up.
pub fn init<T: TimerItem>(this: &mut Arc<T>) -> Result {
    let Some(item) = Arc::get_mut(this) else { return Err(EBUSY) };
    let item: *const T = item;
    // SAFETY: `item` is live and exclusively ours (get_mut succeeded), so nobody else
    // observes the timer field while it is set up; the field is at T::OFFSET.
    unsafe {
        let t = T::timer_ptr(item);
        if !*(*t).initialised.get() {
            bindings::rust_helper_timer_setup((*t).timer.get(), Some(run_timer::<T>));
            *(*t).initialised.get() = true;
        }
    }
    Ok(())
}

/// The timer of `this`, if [`init`] set it up.
fn timer_of<T: TimerItem>(this: &Arc<T>) -> Option<*mut bindings::timer_list> {
    // SAFETY: `this` is a live T.
    let t = unsafe { &*T::timer_ptr(Arc::as_ptr(this)) };
    t.is_initialised().then(|| t.timer.get())
}

/// Makes the timer fire in `ms` milliseconds (rounded up to the next jiffy), whether it
/// was pending or not. `EBUSY` if [`init`] was not called on the item.
pub fn arm_ms<T: TimerItem>(this: &Arc<T>, ms: u32) -> Result {
    let Some(t) = timer_of(this) else { return Err(EBUSY) };
    let raw = Arc::into_raw(this.clone());
    // SAFETY: `t` was set up by `init`; mod_timer serialises with the other timer calls.
    let was_pending = unsafe { bindings::rust_helper_mod_timer_ms(t, ms) } != 0;
    if was_pending {
        // The pending timer already owned a reference and still does: ours is extra.
        // SAFETY: `raw` came from `Arc::into_raw` above and was not given away.
        drop(unsafe { Arc::from_raw(raw) });
    }
    // Otherwise the timer went from idle to pending and owns `raw` now (its callback,
    // or a cancel that deactivates it, takes it back).
    Ok(())
}

/// Cancels the timer if it is pending; its reference is dropped here (not the last one:
/// the caller holds `this`). A callback already running is not waited for. True if a
/// pending timer was cancelled.
pub fn cancel<T: TimerItem>(this: &Arc<T>) -> bool {
    let Some(t) = timer_of(this) else { return false };
    // SAFETY: `t` was set up by `init`.
    let deactivated = unsafe { bindings::rust_helper_timer_delete(t) } != 0;
    if deactivated {
        // SAFETY: a pending timer owns exactly one reference (see `arm_ms`); deactivating
        // it hands that reference to us.
        drop(unsafe { Arc::from_raw(Arc::as_ptr(this)) });
    }
    deactivated
}

/// Like [`cancel`], and also waits for a callback that is running. Process context only
/// (it may sleep), and never from the item's own callback.
pub fn cancel_sync<T: TimerItem>(this: &Arc<T>) -> bool {
    let Some(t) = timer_of(this) else { return false };
    // SAFETY: `t` was set up by `init`; the caller is not the callback (contract above;
    // the kernel warns rather than deadlocks if it were).
    let deactivated = unsafe { bindings::rust_helper_timer_delete_sync(t) } != 0;
    if deactivated {
        // SAFETY: as in `cancel`.
        drop(unsafe { Arc::from_raw(Arc::as_ptr(this)) });
    }
    deactivated
}

unsafe extern "C" fn run_timer<T: TimerItem>(timer: *mut bindings::timer_list) {
    // SAFETY: `timer` is the `timer` field of a Timer<T>, itself at T::OFFSET in a T
    // whose reference the timer owned while pending (`arm_ms`); the timer core has
    // deactivated it before calling us, so that reference is ours now.
    unsafe {
        let field = core::mem::offset_of!(Timer<T>, timer);
        let item = timer.cast::<u8>().sub(field).sub(T::OFFSET).cast::<T>();
        T::expired(Arc::from_raw(item));
    }
}
