//! The global allocator: Rust's `alloc` types on top of `kmalloc`/`kvmalloc`/`kfree`.
//!
//! `alloc` is compiled with `no_global_oom_handling`, so only fallible APIs exist
//! (`Box::try_new`, `Vec::try_reserve`, ...): running out of memory is an `ENOMEM` error,
//! never a panic. Allocations use `GFP_KERNEL` and may sleep: never allocate in atomic
//! context (socket callbacks, under a spinlock). Blocks larger than [`KVMALLOC_FROM`]
//! come from `kvmalloc` (physically contiguous if cheap, else vmalloc), so a large
//! buffer does not fail on a fragmented machine; `kvfree` frees both kinds.

use core::alloc::{GlobalAlloc, Layout};

struct KernelAllocator;

// kmalloc guarantees this alignment for every size (ARCH_KMALLOC_MINALIGN on x86_64).
const KMALLOC_MIN_ALIGN: usize = 8;
/// Blocks from this size up use kvmalloc (page-aligned when vmalloc'ed).
pub const KVMALLOC_FROM: usize = 8 * 4096;

/// The size to ask kmalloc for so that the result is aligned as `layout` requires:
/// kmalloc aligns power-of-two sizes to their size.
fn kmalloc_size(layout: Layout) -> usize {
    let size = layout.size().max(1);
    if layout.align() <= KMALLOC_MIN_ALIGN {
        size
    } else {
        size.max(layout.align()).next_power_of_two()
    }
}

fn use_kvmalloc(layout: Layout) -> bool {
    // kvmalloc memory is at least page-aligned; over-aligned types stay on the kmalloc
    // path above, whose alignment rule is known.
    layout.size() >= KVMALLOC_FROM && layout.align() <= KMALLOC_MIN_ALIGN
}

// SAFETY: kmalloc/kvmalloc return memory of at least the requested size and (see
// kmalloc_size, use_kvmalloc) alignment, or NULL; kvfree accepts both; realloc keeps
// the contents up to the smaller size.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if use_kvmalloc(layout) {
            // SAFETY: any size is acceptable; NULL on failure.
            return unsafe { bindings::rust_helper_kvmalloc(layout.size(), bindings::KMODS_GFP_KERNEL).cast() };
        }
        // SAFETY: any size is acceptable to kmalloc; it returns NULL on failure.
        unsafe { bindings::rust_helper_kmalloc(kmalloc_size(layout), bindings::KMODS_GFP_KERNEL).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the caller passes a pointer returned by `alloc`/`realloc`: kmalloc'ed
        // or kvmalloc'ed, which kvfree tells apart.
        unsafe { bindings::rust_helper_kvfree(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` with the old alignment is a valid layout (caller contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !use_kvmalloc(layout) && !use_kvmalloc(new_layout) {
            // SAFETY: `ptr` came from kmalloc (small block); krealloc returns a kmalloc
            // object of the new size, aligned like any kmalloc object of that size.
            return unsafe {
                bindings::rust_helper_krealloc(ptr.cast(), kmalloc_size(new_layout), bindings::KMODS_GFP_KERNEL)
                    .cast()
            };
        }
        // Crossing into or within kvmalloc territory: allocate, copy, free.
        // SAFETY: as for `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and do not overlap.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator;

/// How many blocks this module has asked the kernel's allocator for since it was loaded
/// (`kmalloc`, `krealloc` and `kvmalloc` calls, failed ones included; counted per CPU and
/// summed here, so a snapshot). Frees are not counted. Lets a test show that a path
/// allocates nothing.
pub fn calls() -> u64 {
    // SAFETY: reads per-CPU counters of this module's helpers; no preconditions.
    u64::from(unsafe { bindings::rust_helper_alloc_calls() })
}

/// Allocates `value` in a new `Arc`; `ENOMEM` instead of a panic when memory is short.
pub fn try_arc<T>(value: T) -> crate::error::Result<alloc::sync::Arc<T>> {
    Ok(alloc::sync::Arc::try_new(value)?)
}

/// Allocates `value` in a new `Box`; `ENOMEM` instead of a panic when memory is short.
pub fn try_box<T>(value: T) -> crate::error::Result<alloc::boxed::Box<T>> {
    Ok(alloc::boxed::Box::try_new(value)?)
}

/// A vector of `len` copies of `value`, allocated fallibly.
pub fn try_vec<T: Clone>(len: usize, value: T) -> crate::error::Result<alloc::vec::Vec<T>> {
    let mut v = alloc::vec::Vec::new();
    v.try_reserve_exact(len)?;
    fill_spare(&mut v, len, &value);
    Ok(v)
}

/// Appends clones of `value` until `v.len() == len`; capacity must already be reserved.
/// Writing the spare capacity directly (no per-element capacity check) lets the
/// compiler turn the loop into `memset` for bytes: a zeroed 32 KiB buffer element by
/// element was most of a small request's cost.
fn fill_spare<T: Clone>(v: &mut alloc::vec::Vec<T>, len: usize, value: &T) {
    let old = v.len();
    let want = len.saturating_sub(old).min(v.capacity() - old);
    for slot in v.spare_capacity_mut().iter_mut().take(want) {
        slot.write(value.clone());
    }
    // SAFETY: the first `want` spare slots were initialised just above, and
    // `old + want <= capacity`.
    unsafe { v.set_len(old + want) };
}

/// Appends clones of `items`; capacity must already be reserved (see [`fill_spare`]).
fn extend_spare<T: Clone>(v: &mut alloc::vec::Vec<T>, items: &[T]) {
    let old = v.len();
    let n = items.len().min(v.capacity() - old);
    for (slot, it) in v.spare_capacity_mut().iter_mut().zip(items.iter()).take(n) {
        slot.write(it.clone());
    }
    // SAFETY: the first `n` spare slots were initialised just above; `old + n <= capacity`.
    unsafe { v.set_len(old + n) };
}

/// Fallible growth for `Vec`, since `alloc` has no infallible allocation here.
pub trait VecExt<T> {
    /// Appends a copy of `items`, or fails with `ENOMEM` leaving the vector unchanged.
    fn try_extend_from_slice(&mut self, items: &[T]) -> crate::error::Result
    where
        T: Clone;
    /// Appends `item`, or fails with `ENOMEM`.
    fn try_push(&mut self, item: T) -> crate::error::Result;
    /// Grows (with copies of `value`) or shrinks to `len`; `ENOMEM` leaves it unchanged.
    fn try_resize(&mut self, len: usize, value: T) -> crate::error::Result
    where
        T: Clone;
}

impl<T> VecExt<T> for alloc::vec::Vec<T> {
    fn try_extend_from_slice(&mut self, items: &[T]) -> crate::error::Result
    where
        T: Clone,
    {
        self.try_reserve(items.len())?;
        extend_spare(self, items);
        Ok(())
    }

    fn try_resize(&mut self, len: usize, value: T) -> crate::error::Result
    where
        T: Clone,
    {
        if len <= self.len() {
            self.truncate(len);
            return Ok(());
        }
        self.try_reserve(len - self.len())?;
        fill_spare(self, len, &value);
        Ok(())
    }

    fn try_push(&mut self, item: T) -> crate::error::Result {
        self.try_reserve(1)?;
        self.push_within_capacity(item).map(|_| ()).map_err(|_| crate::error::code::ENOMEM)
    }
}
