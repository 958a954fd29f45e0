//! Return probes (`kretprobe`) that time a kernel function: calls, total and longest
//! duration.
//!
//! Unlike kprobe *events* (tracefs, perf, BPF), which refuse functions without an ftrace
//! location unless the kernel has `CONFIG_KPROBE_EVENTS_ON_NOTRACE`, `register_kretprobe`
//! accepts any function that is not on the kprobe blacklist: in particular the Rust
//! functions of our modules, which have no `__fentry__` call.

use crate::allocator::VecExt;
use crate::error::{code::*, to_result, Result};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

/// What a [`FunctionTimer`] has measured so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimerStats {
    /// Calls that returned while the probe was registered.
    pub calls: u64,
    /// Sum of their durations (entry to return, wall clock), nanoseconds.
    pub total_ns: u64,
    /// The longest of them, nanoseconds.
    pub max_ns: u64,
    /// Calls not timed because more were in flight than the probe's `maxactive`.
    pub missed: u64,
}

/// The registered probe and its counters. `rp` must stay the first field: the return
/// handler gets a pointer to it and casts it back to `Inner`. The kernel writes into `rp`
/// (hit and miss counts, its lists) while it is registered, so it sits in an `UnsafeCell`
/// and Rust only ever holds shared references to an `Inner`.
#[repr(C)]
struct Inner {
    rp: UnsafeCell<bindings::kretprobe>,
    calls: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
    /// NUL-terminated symbol name; `rp.kp.symbol_name` points into it.
    symbol: Vec<u8>,
}

/// Times every call of one function with a `kretprobe`; unregisters on drop.
///
/// # Invariants
/// `inner` is a live `Inner` allocated by `Box` and owned by this timer (freed in Drop).
/// It is held as a raw pointer, never as a `Box` or `&mut`, because the kernel keeps a
/// pointer into it and writes through it while it is registered. While `registered`,
/// `inner.rp` is registered.
pub struct FunctionTimer {
    inner: NonNull<Inner>,
    registered: bool,
}

// SAFETY: the counters are atomics; the kretprobe is only touched by register and
// unregister, which the kernel serialises, and by the kernel itself.
unsafe impl Send for FunctionTimer {}
// SAFETY: `&FunctionTimer` only reads atomics and `nmissed` (a volatile read).
unsafe impl Sync for FunctionTimer {}

impl FunctionTimer {
    /// Probes `symbol` (a name as in /proc/kallsyms, optionally `module:name`).
    /// `maxactive` bounds the calls timed at once (0: the kernel's default); calls
    /// beyond it are counted as missed. `ENOENT` if there is no such symbol, `EINVAL` if
    /// it cannot be probed.
    pub fn register(symbol: &[u8], maxactive: i32) -> Result<FunctionTimer> {
        if symbol.is_empty() || symbol.contains(&0) {
            return Err(EINVAL);
        }
        let mut name = Vec::new();
        name.try_extend_from_slice(symbol)?;
        name.try_push(0)?;
        let inner = Box::try_new(Inner {
            // SAFETY: kretprobe is plain C data; all-zero is its documented initial state.
            rp: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            calls: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
            symbol: name,
        })?;
        // INVARIANT: from here on the allocation is only reached through this pointer.
        let inner = NonNull::from(Box::leak(inner));
        let rp = inner.as_ptr().cast::<bindings::kretprobe>();
        // SAFETY: `rp` is the first field of a live Inner (repr(C); UnsafeCell is
        // transparent) that stays at this address until Drop; nobody else uses it yet.
        // The symbol name lives in the same allocation's Vec. The handlers are this
        // module's functions, valid while the probe is registered.
        let ret = unsafe {
            (*rp).kp.symbol_name = (*inner.as_ptr()).symbol.as_ptr().cast();
            (*rp).handler = Some(on_return);
            (*rp).entry_handler = Some(on_entry);
            (*rp).data_size = core::mem::size_of::<u64>();
            (*rp).maxactive = maxactive;
            bindings::register_kretprobe(rp)
        };
        // Constructed before the check so that Drop frees the allocation on failure.
        let mut timer = FunctionTimer { inner, registered: false };
        to_result(ret)?;
        // INVARIANT: registered now.
        timer.registered = true;
        Ok(timer)
    }

    fn inner(&self) -> &Inner {
        // SAFETY: live and owned by us (invariant); only shared references are made, and
        // the kernel's writes go to `rp`, inside an UnsafeCell.
        unsafe { self.inner.as_ref() }
    }

    /// The symbol name this timer probes.
    pub fn symbol(&self) -> &[u8] {
        let s = &self.inner().symbol;
        s.get(..s.len().saturating_sub(1)).unwrap_or(&[])
    }

    /// The counters so far.
    pub fn stats(&self) -> TimerStats {
        let inner = self.inner();
        TimerStats {
            calls: inner.calls.load(Ordering::Relaxed),
            total_ns: inner.total_ns.load(Ordering::Relaxed),
            max_ns: inner.max_ns.load(Ordering::Relaxed),
            // SAFETY: `rp` is live (invariant); nmissed is a plain int the kernel bumps,
            // read once here through the UnsafeCell's raw pointer.
            missed: unsafe { core::ptr::read_volatile(&raw const (*inner.rp.get()).nmissed) }.max(0) as u64,
        }
    }

    /// Stops timing; [`FunctionTimer::stats`] is final afterwards. Idempotent.
    pub fn unregister(&mut self) {
        if core::mem::replace(&mut self.registered, false) {
            // SAFETY: registered until now (invariant). unregister_kretprobe waits until
            // no handler runs and detaches instances still in flight, so neither the
            // allocation nor this module's code is used by the kernel afterwards.
            unsafe { bindings::unregister_kretprobe(self.inner().rp.get()) };
        }
    }
}

impl Drop for FunctionTimer {
    fn drop(&mut self) {
        self.unregister();
        // SAFETY: unregistered, so the kernel holds no pointer into it any more; the
        // pointer came from `Box::leak` in `register` and is freed once, here.
        drop(unsafe { Box::from_raw(self.inner.as_ptr()) });
    }
}

/// Entry: remember when the call started, in the instance's private data.
///
/// Handlers run from the int3 trap, which may interrupt anything, the timekeeping
/// code's write side included: they read the clock with `ktime_get_mono_fast_ns`,
/// which is NMI-safe, not `ktime_get_ns`, whose seqcount retry loop could spin forever
/// there (lockdep reported "inconsistent {INITIAL USE} -> {IN-NMI} usage" on
/// `tk_core.seq` under make check-debug).
unsafe extern "C" fn on_entry(ri: *mut bindings::kretprobe_instance, _regs: *mut bindings::pt_regs) -> c_int {
    // SAFETY: called by the kretprobe core with a live instance whose data area holds
    // `data_size` (8) bytes, aligned for u64 (it follows pointer-sized fields).
    unsafe {
        let data = bindings::rust_helper_kretprobe_data(ri).cast::<u64>();
        data.write(bindings::ktime_get_mono_fast_ns());
    }
    0
}

/// Return: add the duration to the probe's counters.
unsafe extern "C" fn on_return(ri: *mut bindings::kretprobe_instance, _regs: *mut bindings::pt_regs) -> c_int {
    // SAFETY: as for `on_entry`; `get_kretprobe` returns the kretprobe this instance
    // belongs to, which is the first field of a live `Inner` (repr(C), UnsafeCell is
    // transparent) while registered. It can be NULL while the probe is being
    // unregistered. Only a shared reference is made, and only atomics are touched.
    unsafe {
        let now = bindings::ktime_get_mono_fast_ns();
        let rp = bindings::rust_helper_get_kretprobe(ri);
        let Some(inner) = rp.cast::<Inner>().as_ref() else { return 0 };
        let start = bindings::rust_helper_kretprobe_data(ri).cast::<u64>().read();
        let d = now.saturating_sub(start);
        inner.calls.fetch_add(1, Ordering::Relaxed);
        inner.total_ns.fetch_add(d, Ordering::Relaxed);
        inner.max_ns.fetch_max(d, Ordering::Relaxed);
    }
    0
}
