//! CPU facts a module may size itself by.

/// Number of CPUs online now (`num_online_cpus()`); at least 1.
pub fn online_cpus() -> u32 {
    // SAFETY: reads the online CPU mask's weight; no preconditions.
    unsafe { bindings::rust_helper_num_online_cpus() }.max(1)
}

/// The CPU this code runs on now. Preemptible code may move to another CPU right after
/// the call: use it as a hint (e.g. to pick a per-CPU slot), never for correctness.
pub fn current() -> usize {
    // SAFETY: reads the running CPU's number; no preconditions.
    unsafe { bindings::rust_helper_raw_smp_processor_id() as usize }
}

/// One past the highest possible CPU number (`nr_cpu_ids`).
pub fn possible_ids() -> usize {
    // SAFETY: `nr_cpu_ids` is set during boot and read-only afterwards.
    (unsafe { bindings::nr_cpu_ids } as usize).max(1)
}

/// Whether CPU `cpu` is online now (it may go offline right after: a hint for
/// placement, never for correctness).
pub fn is_online(cpu: usize) -> bool {
    match u32::try_from(cpu) {
        // SAFETY: cpu_online tests a bit of the online mask; out-of-range ids are
        // excluded first.
        Ok(c) if cpu < possible_ids() => unsafe { bindings::rust_helper_cpu_online(c) },
        _ => false,
    }
}

/// The CPUs online now, in ascending order (see [`is_online`]).
pub fn online_ids() -> impl Iterator<Item = usize> {
    (0..possible_ids()).filter(|&c| is_online(c))
}

/// A CPU's slot of [`Counters`]: on a cache line of its own, so CPUs counting at the
/// same time do not take the line from each other.
#[repr(align(64))]
struct Slot<const N: usize>([core::sync::atomic::AtomicU64; N]);

/// `N` event counters kept per CPU and summed when read: counting on a hot path costs
/// an uncontended atomic add on the running CPU's own cache line (a task that moved
/// CPUs meanwhile adds to another CPU's slot, which is still correct, only slower).
pub struct Counters<const N: usize> {
    slots: alloc::vec::Vec<Slot<N>>,
}

impl<const N: usize> Counters<N> {
    /// Zeroed counters, one slot per possible CPU.
    pub fn try_new() -> crate::error::Result<Self> {
        let n = possible_ids();
        let mut slots = alloc::vec::Vec::new();
        slots.try_reserve_exact(n)?;
        for _ in 0..n {
            crate::allocator::VecExt::try_push(&mut slots, Slot(core::array::from_fn(|_| core::sync::atomic::AtomicU64::new(0))))?;
        }
        Ok(Counters { slots })
    }

    /// Adds `v` to counter `i` (ignored if `i >= N`).
    pub fn add(&self, i: usize, v: u64) {
        let slot = self.slots.get(current()).or_else(|| self.slots.first());
        if let Some(c) = slot.and_then(|s| s.0.get(i)) {
            c.fetch_add(v, core::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Counter `i` summed over all CPUs (0 if `i >= N`).
    pub fn sum(&self, i: usize) -> u64 {
        self.slots
            .iter()
            .filter_map(|s| s.0.get(i))
            .fold(0u64, |a, c| a.wrapping_add(c.load(core::sync::atomic::Ordering::Relaxed)))
    }
}
