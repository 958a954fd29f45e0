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

/// Monotonic nanoseconds since boot.
pub fn monotonic_ns() -> u64 {
    // SAFETY: as above.
    unsafe { bindings::rust_helper_ktime_get_ns() }
}

/// Monotonic milliseconds since boot.
pub fn monotonic_ms() -> u64 {
    monotonic_ns() / 1_000_000
}
