//! Locks with RAII guards.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

/// A spinlock taken with bottom halves disabled (`spin_lock_bh`), so the same data can be
/// shared with softirq code such as socket callbacks. Critical sections must not sleep
/// (no allocation with `GFP_KERNEL`, no socket I/O).
///
/// # Invariants
/// `data` is accessed only through a [`SpinLockGuard`], which exists only while `lock`
/// is held.
pub struct SpinLock<T> {
    lock: UnsafeCell<bindings::spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises all access to `data`, so sharing the lock shares `T` only
// one thread at a time.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves `T`.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new, unlocked lock. Kernels whose spinlocks carry debug state are refused at
    /// build time (see helpers.c), so the all-zero value is the unlocked state.
    pub const fn new(data: T) -> Self {
        // SAFETY: all-zero is an unlocked `spinlock_t` on the supported configurations.
        let lock = unsafe { core::mem::zeroed() };
        Self { lock: UnsafeCell::new(lock), data: UnsafeCell::new(data) }
    }

    /// Takes the lock, disabling bottom halves until the guard is dropped.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        // SAFETY: `self.lock` is a valid, initialised spinlock.
        unsafe { bindings::rust_helper_spin_lock_bh(self.lock.get()) };
        // INVARIANT: the lock is held until the guard drops.
        SpinLockGuard { owner: self }
    }

    /// Mutable access without locking, when the borrow checker proves exclusivity.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Access to a [`SpinLock`]'s data; unlocks when dropped.
pub struct SpinLockGuard<'a, T> {
    owner: &'a SpinLock<T>,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held.
        unsafe { &*self.owner.data.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and `&mut self` that it is unique.
        unsafe { &mut *self.owner.data.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the lock is held by this guard.
        unsafe { bindings::rust_helper_spin_unlock_bh(self.owner.lock.get()) };
    }
}

/// A cell that at most one thread can borrow at a time, without waiting: a second
/// borrower gets `None`. Meant for per-connection state touched only by the connection's
/// work item (which the workqueue never runs concurrently with itself), where the check
/// costs one atomic operation and turns a broken assumption into a skipped run instead
/// of a data race.
pub struct TryLock<T> {
    busy: core::sync::atomic::AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: `busy` hands out at most one guard at a time, so `T` is only accessed by one
// thread at a time.
unsafe impl<T: Send> Sync for TryLock<T> {}
// SAFETY: moving the cell moves `T`.
unsafe impl<T: Send> Send for TryLock<T> {}

impl<T> TryLock<T> {
    /// A new, unborrowed cell.
    pub const fn new(data: T) -> Self {
        Self { busy: core::sync::atomic::AtomicBool::new(false), data: UnsafeCell::new(data) }
    }

    /// Borrows the data, or returns `None` if it is borrowed elsewhere right now.
    pub fn try_lock(&self) -> Option<TryLockGuard<'_, T>> {
        use core::sync::atomic::Ordering;
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        // INVARIANT: `busy` stays set until the guard drops.
        Some(TryLockGuard { owner: self })
    }
}

/// Exclusive access to a [`TryLock`]'s data.
pub struct TryLockGuard<'a, T> {
    owner: &'a TryLock<T>,
}

impl<T> Deref for TryLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard is the only borrower (see `try_lock`).
        unsafe { &*self.owner.data.get() }
    }
}

impl<T> DerefMut for TryLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes the reference unique.
        unsafe { &mut *self.owner.data.get() }
    }
}

impl<T> Drop for TryLockGuard<'_, T> {
    fn drop(&mut self) {
        self.owner.busy.store(false, core::sync::atomic::Ordering::Release);
    }
}
