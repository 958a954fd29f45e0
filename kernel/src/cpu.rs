//! CPU facts a module may size itself by.

/// Number of CPUs online now (`num_online_cpus()`); at least 1.
pub fn online_cpus() -> u32 {
    // SAFETY: reads the online CPU mask's weight; no preconditions.
    unsafe { bindings::rust_helper_num_online_cpus() }.max(1)
}
