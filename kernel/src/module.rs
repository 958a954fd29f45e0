//! Module life cycle: the [`Module`] trait and the slot that holds the module's state
//! between `init_module` and `cleanup_module`. (Which module this is: [`crate::owner`].)

use crate::error::{Error, Result};
use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::sync::atomic::{AtomicU8, Ordering};

/// A loadable module: `init` runs at `insmod`; dropping the value is the `rmmod` path.
pub trait Module: Sized + Sync + Send {
    /// Sets the module up. An error fails `insmod` with that errno.
    fn init() -> Result<Self>;
}

const EMPTY: u8 = 0;
const BUSY: u8 = 1;
const LIVE: u8 = 2;

/// Holds the module's state from a successful `init_module` to `cleanup_module`.
///
/// The `module!` macro declares one as a static and calls [`ModuleSlot::init`] and
/// [`ModuleSlot::exit`] from the entry points the kernel calls. The state machine makes
/// both calls safe: `init` succeeds once, `exit` only undoes a successful `init`.
pub struct ModuleSlot<T> {
    state: AtomicU8,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written only by the one caller that won the EMPTY->BUSY transition
// and read/dropped only by the one that won LIVE->BUSY, so there is never shared access.
unsafe impl<T: Send + Sync> Sync for ModuleSlot<T> {}

impl<T: Module> ModuleSlot<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        Self { state: AtomicU8::new(EMPTY), value: UnsafeCell::new(None) }
    }

    /// Runs the layout cross-check and `T::init`; returns 0 or a negative errno for C.
    pub fn init(&self) -> c_int {
        if self.state.compare_exchange(EMPTY, BUSY, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return crate::error::code::EBUSY.to_errno();
        }
        let result: Result<T> = crate::layout::check().and_then(|()| T::init());
        match result {
            Ok(v) => {
                // SAFETY: we own the slot (state BUSY), see the Sync impl.
                unsafe { *self.value.get() = Some(v) };
                self.state.store(LIVE, Ordering::Release);
                0
            }
            Err(e) => {
                self.state.store(EMPTY, Ordering::Release);
                Error::to_errno(e)
            }
        }
    }

    /// Drops the state created by a successful [`ModuleSlot::init`].
    pub fn exit(&self) {
        if self.state.compare_exchange(LIVE, BUSY, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        // SAFETY: we own the slot (state BUSY), see the Sync impl.
        let v = unsafe { (*self.value.get()).take() };
        drop(v);
        self.state.store(EMPTY, Ordering::Release);
    }
}

impl<T: Module> Default for ModuleSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}
