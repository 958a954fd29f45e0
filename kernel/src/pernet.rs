//! Network namespaces ([`Namespace`]) and per-namespace set-up: a [`PernetSubsys`] is
//! initialised in every namespace that exists when it is registered and in every one
//! created later, and torn down when a namespace exits or the [`Registration`] is dropped
//! (`register_pernet_subsys`/`unregister_pernet_subsys`).
//!
//! ```ignore
//! struct Counter;
//! impl PernetSubsys for Counter {
//!     fn init(net: &Namespace) -> Result { Ok(()) }
//!     fn exit(net: &Namespace) {}
//! }
//! static OPS: PernetOperations = PernetOperations::new::<Counter>();
//! let reg = Registration::register(&OPS)?; // init runs for every namespace
//! drop(reg);                                 // exit runs for every namespace
//! ```

use crate::error::{code::*, to_result, Result};
use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, Ordering};

/// A network namespace (`struct net`).
///
/// Only ever seen by reference: the kernel keeps the namespace alive for as long as the
/// reference is handed out (a pernet `init`/`exit` call, a write to one of its proc
/// files).
#[repr(transparent)]
pub struct Namespace(UnsafeCell<bindings::net>);

// SAFETY: `struct net` is shared by every task and softirq of the namespace; the kernel
// functions this crate calls on it do their own locking.
unsafe impl Sync for Namespace {}

impl Namespace {
    /// Borrows the namespace behind `ptr`.
    ///
    /// # Safety
    /// `ptr` must point to a `struct net` that stays alive (not freed) for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Namespace {
        // SAFETY: `Namespace` is a transparent wrapper of `struct net`; the caller
        // guarantees it lives for `'a`. UnsafeCell allows the kernel's concurrent changes.
        unsafe { &*ptr.cast::<Namespace>() }
    }

    /// The C pointer, for kernel calls.
    pub fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// The initial network namespace (the one the host's interfaces start in).
    pub fn init_ns() -> &'static Namespace {
        // SAFETY: `init_net` is a static of the kernel image; it is never freed.
        unsafe { Namespace::from_raw(bindings::rust_helper_init_net()) }
    }

    /// The namespace's inode number: what `readlink /proc/PID/ns/net` shows as
    /// `net:[N]`, so messages can say which namespace they are about.
    pub fn inum(&self) -> u32 {
        // SAFETY: the namespace is live (borrowed); `ns.inum` is set at creation.
        unsafe { bindings::rust_helper_net_inum(self.as_ptr()) }
    }

    /// True if this is the initial namespace.
    pub fn is_init(&self) -> bool {
        core::ptr::eq(self.as_ptr(), Namespace::init_ns().as_ptr())
    }
}

/// Something set up in every network namespace.
pub trait PernetSubsys: 'static {
    /// Called for every existing namespace at registration and for every new one at its
    /// creation (process context, may sleep). An error fails the registration (which is
    /// then undone for the namespaces already set up) or the namespace's creation.
    fn init(net: &Namespace) -> Result;

    /// Called when a namespace whose `init` succeeded goes away, and for every namespace
    /// when the [`Registration`] is dropped (process context, may sleep).
    fn exit(net: &Namespace);
}

/// The kernel's `struct pernet_operations` for a [`PernetSubsys`]. Declare it as a
/// `static` (the kernel links it into its list while registered):
/// `static OPS: PernetOperations = PernetOperations::new::<T>();`
pub struct PernetOperations {
    raw: UnsafeCell<bindings::pernet_operations>,
    registered: AtomicBool,
}

// SAFETY: `raw` is only handed to the kernel, by the one `Registration` that won the
// `registered` flag; the kernel changes it (its list links) under `pernet_ops_rwsem`.
unsafe impl Sync for PernetOperations {}

impl PernetOperations {
    /// Operations whose `init`/`exit` call `T::init`/`T::exit`.
    pub const fn new<T: PernetSubsys>() -> Self {
        // SAFETY: all-zero is a valid `pernet_operations`: empty list links, no
        // callbacks, no per-namespace storage (`id` NULL, `size` 0).
        let mut raw: bindings::pernet_operations = unsafe { core::mem::zeroed() };
        raw.init = Some(init_trampoline::<T>);
        raw.exit = Some(exit_trampoline::<T>);
        Self { raw: UnsafeCell::new(raw), registered: AtomicBool::new(false) }
    }
}

unsafe extern "C" fn init_trampoline<T: PernetSubsys>(net: *mut bindings::net) -> c_int {
    // SAFETY: the kernel calls `init` with a live namespace, which it does not free before
    // `exit` has been called for it (or `init` failed).
    let ns = unsafe { Namespace::from_raw(net) };
    match T::init(ns) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn exit_trampoline<T: PernetSubsys>(net: *mut bindings::net) {
    // SAFETY: the kernel calls `exit` before it frees the namespace.
    let ns = unsafe { Namespace::from_raw(net) };
    T::exit(ns);
}

/// A registered [`PernetOperations`]; dropping it unregisters them, which calls
/// [`PernetSubsys::exit`] for every namespace and returns only when that is done.
pub struct Registration {
    ops: &'static PernetOperations,
}

impl Registration {
    /// Registers `ops`: [`PernetSubsys::init`] runs for every existing namespace now and
    /// for every new one later. `EBUSY` if `ops` is already registered; the first `init`
    /// error otherwise (nothing stays registered then).
    pub fn register(ops: &'static PernetOperations) -> Result<Self> {
        check_layout()?;
        if ops.registered.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(EBUSY);
        }
        // SAFETY: `ops` is a static (so it outlives the registration, which `Drop` undoes)
        // and, having won the flag, we are its only registrant.
        let ret = to_result(unsafe { bindings::register_pernet_subsys(ops.raw.get()) });
        if let Err(e) = ret {
            ops.registered.store(false, Ordering::Release);
            return Err(e);
        }
        Ok(Self { ops })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered by `register` (this value exists only then), unregistered once.
        unsafe { bindings::unregister_pernet_subsys(self.ops.raw.get()) };
        self.ops.registered.store(false, Ordering::Release);
    }
}

/// Compares the C compiler's view of the structs this file and `proc.rs` hand to the
/// kernel with bindgen's (a separate table from `layout.rs`'s, compared by the same `layout::compare`).
pub(crate) fn check_layout() -> Result {
    use bindings as b;
    use core::mem::{offset_of, size_of};
    let expected: [(u32, usize, &str); 10] = [
        (b::KMODS_NETPROC_PERNET_OPS_SIZE, size_of::<b::pernet_operations>(), "sizeof(struct pernet_operations)"),
        (b::KMODS_NETPROC_PERNET_OPS_INIT, offset_of!(b::pernet_operations, init), "offsetof(pernet_operations, init)"),
        (b::KMODS_NETPROC_PERNET_OPS_EXIT, offset_of!(b::pernet_operations, exit), "offsetof(pernet_operations, exit)"),
        (b::KMODS_NETPROC_PERNET_OPS_ID, offset_of!(b::pernet_operations, id), "offsetof(pernet_operations, id)"),
        (b::KMODS_NETPROC_PERNET_OPS_SIZE_FIELD, offset_of!(b::pernet_operations, size), "offsetof(pernet_operations, size)"),
        (b::KMODS_NETPROC_PROC_OPS_SIZE, size_of::<b::proc_ops>(), "sizeof(struct proc_ops)"),
        (b::KMODS_NETPROC_PROC_OPS_OPEN, offset_of!(b::proc_ops, proc_open), "offsetof(proc_ops, proc_open)"),
        (b::KMODS_NETPROC_PROC_OPS_WRITE, offset_of!(b::proc_ops, proc_write), "offsetof(proc_ops, proc_write)"),
        (b::KMODS_NETPROC_PROC_OPS_FLAGS, offset_of!(b::proc_ops, proc_flags), "offsetof(proc_ops, proc_flags)"),
        (b::KMODS_NETPROC_IN6_ADDR_SIZE, size_of::<b::in6_addr>(), "sizeof(struct in6_addr)"),
    ];
    crate::layout::compare(&expected, b::KMODS_NETPROC_COUNT, "netproc", b::rust_helper_layout_netproc)
}
