//! Locks with RAII guards, and the lockdep classes they belong to.

use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

/// A lockdep lock class: every lock created at one place in the source shares one class,
/// so lockdep reasons about "the connection list lock" rather than each instance.
///
/// Lockdep requires class keys in static storage: create them with [`new_spinlock!`],
/// which declares one `static` key per call site. Without lockdep the key is empty.
pub struct LockClassKey(UnsafeCell<bindings::lock_class_key>);

// SAFETY: the key is only handed to the kernel, which uses its address as an identity
// and keeps its own (locked) bookkeeping inside it.
unsafe impl Sync for LockClassKey {}

impl LockClassKey {
    /// A key for a `static`. Only [`new_spinlock!`] should need this.
    pub const fn new() -> Self {
        // SAFETY: all-zero is how C declares a static `struct lock_class_key`.
        Self(UnsafeCell::new(unsafe { core::mem::zeroed() }))
    }

    fn as_ptr(&self) -> *mut bindings::lock_class_key {
        self.0.get()
    }
}

impl Default for LockClassKey {
    fn default() -> Self {
        Self::new()
    }
}

/// Creates a [`SpinLock`] with its own lockdep class, named after the call site (or the
/// given name): `new_spinlock!(data)`, `new_spinlock!(data, "conn list")`.
#[macro_export]
macro_rules! new_spinlock {
    ($data:expr $(,)?) => {
        $crate::new_spinlock!($data, concat!(file!(), ":", line!()))
    };
    ($data:expr, $name:expr $(,)?) => {{
        static CLASS: $crate::sync::LockClassKey = $crate::sync::LockClassKey::new();
        const NAME: &core::ffi::CStr = $crate::sync::lock_name(concat!($name, "\0"));
        $crate::sync::SpinLock::new($data, NAME, &CLASS)
    }};
}

/// The `CStr` for a lock name given with its NUL (used by [`new_spinlock!`] at compile
/// time; a name with an inner NUL becomes "lock").
#[doc(hidden)]
pub const fn lock_name(s: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(s.as_bytes()) {
        Ok(c) => c,
        Err(_) => c"lock",
    }
}

/// A spinlock taken with bottom halves disabled (`spin_lock_bh`), so the same data can be
/// shared with softirq code such as socket callbacks. Critical sections must not sleep
/// (no allocation with `GFP_KERNEL`, no socket I/O).
///
/// The `spinlock_t` is initialised by the kernel's own `spin_lock_init` path, so kernels
/// with spinlock debugging and lockdep see a properly registered lock. A `spinlock_t`
/// holds no pointer to itself, so an unlocked lock may move (a guard borrows the lock,
/// so a held one cannot).
///
/// # Invariants
/// `lock` was initialised by `__raw_spin_lock_init`/`spin_lock_init`; `data` is accessed
/// only through a [`SpinLockGuard`], which exists only while `lock` is held.
pub struct SpinLock<T> {
    lock: UnsafeCell<bindings::spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises all access to `data`, so sharing the lock shares `T` only
// one thread at a time.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves `T`; an unlocked spinlock_t may move (see above).
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new, unlocked lock in lockdep class `key`, shown by lockdep as `name`. Use
    /// [`new_spinlock!`], which supplies a static key per call site.
    pub fn new(data: T, name: &'static CStr, key: &'static LockClassKey) -> Self {
        // SAFETY: all-zero is a valid bit pattern for the C struct; it is initialised
        // properly just below, before the lock can be used.
        let mut lock: bindings::spinlock_t = unsafe { core::mem::zeroed() };
        // SAFETY: `lock` is a local spinlock_t; `name` and `key` are 'static, as lockdep
        // keeps pointers to both.
        unsafe { bindings::rust_helper_spin_lock_init(&mut lock, name.as_ptr(), key.as_ptr()) };
        // INVARIANT: initialised above; moving it into `Self` is fine (no self-pointers).
        Self { lock: UnsafeCell::new(lock), data: UnsafeCell::new(data) }
    }

    /// Takes the lock, disabling bottom halves until the guard is dropped.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        // SAFETY: `self.lock` is a valid, initialised spinlock (invariant).
        unsafe { bindings::rust_helper_spin_lock_bh(self.lock.get()) };
        // INVARIANT: the lock is held until the guard drops.
        SpinLockGuard { owner: self, _not_send: PhantomData }
    }

    /// Mutable access without locking, when the borrow checker proves exclusivity.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Access to a [`SpinLock`]'s data; unlocks when dropped.
///
/// Not `Send`: bottom halves were disabled on this CPU and must be enabled on the same
/// one, so the guard must be dropped by the thread that locked. `Sync` only when `T` is,
/// since a shared guard shares `&T`.
///
/// ```compile_fail,E0277
/// fn send<T: Send>(_: T) {}
/// fn f(l: &kernel::sync::SpinLock<u32>) { send(l.lock()); }
/// ```
///
/// ```compile_fail,E0277
/// fn share<T: Sync>(_: &T) {}
/// fn f(l: &kernel::sync::SpinLock<core::cell::Cell<u32>>) { share(&l.lock()); }
/// ```
///
/// ```no_run
/// fn share<T: Sync>(_: &T) {}
/// fn f(l: &kernel::sync::SpinLock<u32>) { share(&l.lock()); }
/// ```
pub struct SpinLockGuard<'a, T> {
    owner: &'a SpinLock<T>,
    _not_send: PhantomData<*mut ()>,
}

// SAFETY: `&SpinLockGuard` only gives out `&T`, which is safe to share when `T: Sync`.
unsafe impl<T: Sync> Sync for SpinLockGuard<'_, T> {}

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
        // SAFETY: the lock is held by this guard, on this CPU's thread (not `Send`).
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
        Some(TryLockGuard { owner: self, _not_send: PhantomData })
    }
}

/// Exclusive access to a [`TryLock`]'s data. Like [`SpinLockGuard`]: not `Send`, and
/// `Sync` only when `T` is.
///
/// ```compile_fail,E0277
/// fn send<T: Send>(_: T) {}
/// fn f(l: &kernel::sync::TryLock<u32>) { if let Some(g) = l.try_lock() { send(g) } }
/// ```
pub struct TryLockGuard<'a, T> {
    owner: &'a TryLock<T>,
    _not_send: PhantomData<*mut ()>,
}

// SAFETY: `&TryLockGuard` only gives out `&T`, which is safe to share when `T: Sync`.
unsafe impl<T: Sync> Sync for TryLockGuard<'_, T> {}

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

/// A fixed set of values lent out without waiting, each to one borrower at a time: the
/// scratch buffers (or other costly objects) a work item borrows for one run, so that a
/// run allocates nothing. [`Pool::take`] gives a free slot, or `None` when every slot is
/// lent right now (the caller then makes do on its own). The search starts at a slot
/// picked by the current CPU, so that runs on different CPUs rarely try the same slots.
pub struct Pool<T> {
    slots: alloc::vec::Vec<TryLock<T>>,
}

impl<T> Pool<T> {
    /// A pool without slots (allocates nothing).
    pub const fn empty() -> Self {
        Pool { slots: alloc::vec::Vec::new() }
    }

    /// Up to `n` slots, filled by `make` until it returns `None` (fewer slots then).
    /// `ENOMEM` if the slot table cannot be allocated.
    pub fn new(n: usize, mut make: impl FnMut() -> Option<T>) -> crate::error::Result<Self> {
        let mut slots = alloc::vec::Vec::new();
        slots.try_reserve_exact(n)?;
        for _ in 0..n {
            let Some(v) = make() else { break };
            // Within the capacity just reserved: cannot fail.
            let _ = slots.push_within_capacity(TryLock::new(v));
        }
        Ok(Pool { slots })
    }

    /// A free slot, or `None` if all are lent (or there are none).
    pub fn take(&self) -> Option<TryLockGuard<'_, T>> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let per_cpu = (n / crate::cpu::online_cpus() as usize).max(1);
        let start = crate::cpu::current().wrapping_mul(per_cpu) % n;
        (0..n).find_map(|i| self.slots.get((start + i) % n).and_then(|s| s.try_lock()))
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no slots (`take` always returns `None`).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// A value set at most once, readable without a lock by any number of threads: a box
/// that starts empty, is filled by the first [`OnceBox::set`] and stays as it is until
/// the cell is dropped (a later `set` gets its value back).
///
/// # Invariants
/// `ptr` is null or a `Box<T>` leaked by `set`, owned by the cell and never changed
/// again until `Drop` (or `&mut` access) takes it back.
pub struct OnceBox<T> {
    ptr: core::sync::atomic::AtomicPtr<T>,
    _owns: PhantomData<alloc::boxed::Box<T>>,
}

// SAFETY: the cell hands out `&T` to every thread (needs `T: Sync`) and moves `T` in from
// one thread and drops it in another (needs `T: Send`).
unsafe impl<T: Send + Sync> Sync for OnceBox<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for OnceBox<T> {}

impl<T> OnceBox<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        Self { ptr: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()), _owns: PhantomData }
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        let p = self.ptr.load(core::sync::atomic::Ordering::Acquire);
        // SAFETY: a non-null pointer is a box owned by the cell that stays in place while
        // the cell is borrowed (invariant); Acquire pairs with the Release in `set`, so
        // its contents are visible.
        unsafe { p.as_ref() }
    }

    /// Sets the value if the cell is empty; otherwise gives `value` back.
    pub fn set(&self, value: alloc::boxed::Box<T>) -> Result<(), alloc::boxed::Box<T>> {
        use core::sync::atomic::Ordering;
        let p = alloc::boxed::Box::into_raw(value);
        match self.ptr.compare_exchange(core::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire) {
            // INVARIANT: the cell owns the box from now on.
            Ok(_) => Ok(()),
            // SAFETY: the exchange failed, so `p` is still ours alone.
            Err(_) => Err(unsafe { alloc::boxed::Box::from_raw(p) }),
        }
    }
}

impl<T> Default for OnceBox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for OnceBox<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: the cell owns the box (invariant) and no borrow can be alive.
            drop(unsafe { alloc::boxed::Box::from_raw(p) });
        }
    }
}
