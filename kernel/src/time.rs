//! Time and sleeping.

/// Sleeps for at least `ms` milliseconds (process context only).
pub fn msleep(ms: u32) {
    // SAFETY: msleep may sleep; callers are in process context.
    unsafe { bindings::msleep(ms) }
}

/// Seconds since the Unix epoch (wall clock).
pub fn real_seconds() -> i64 {
    // SAFETY: reads the timekeeping core; callable from any context.
    unsafe { bindings::ktime_get_real_seconds() }
}

/// Monotonic milliseconds since boot, as of the last timer tick (1-10 ms old, by
/// `CONFIG_HZ`): for deadlines and ages. It reads no clock hardware, which
/// `ktime_get_ns` does: cheap on a real TSC, but an emulated HPET or ACPI PM timer
/// (a guest without a stable TSC) costs a VM exit or more per read.
pub fn monotonic_ms() -> u64 {
    // SAFETY: reads the timekeeping core; callable from any context.
    let ns = unsafe { bindings::rust_helper_ktime_get_coarse_ns() };
    ns / 1_000_000
}
