//! Read-copy-update: readers that take no lock, and a hash map built on it.
//!
//! [`RcuMap`] maps byte-string keys to `Arc<V>`. [`RcuMap::get`] runs inside
//! `rcu_read_lock()` and takes no lock and writes no shared memory other than the found
//! value's reference count. Writers (insert, remove) are serialised by a spinlock;
//! a node they unlink is *retired*, not freed: [`RcuMap::reclaim`] frees retired nodes
//! only after an RCU grace period (`synchronize_rcu`), when no reader can still be
//! looking at them. Until then a retired node keeps its `Arc<V>`, so a value a reader
//! found stays valid as long as the reader holds its clone.
//!
//! Chains are capped ([`RcuMap::MAX_CHAIN`]): an insert into a full bucket is refused,
//! so a lookup costs a bounded number of comparisons whatever keys clients choose.

use crate::allocator::{try_box, VecExt};
use crate::error::{code::*, Result};
use crate::sync::{LockClassKey, SpinLock};
use core::ffi::CStr;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// An RCU read-side critical section (`rcu_read_lock`); ends when dropped. Code inside
/// must not sleep. Not `Send`: it must end on the CPU/task that began it.
pub struct ReadGuard {
    _not_send: PhantomData<*mut ()>,
}

impl ReadGuard {
    /// Enters a read-side critical section.
    pub fn new() -> Self {
        // SAFETY: no preconditions; paired with the unlock in Drop on this same task.
        unsafe { bindings::rust_helper_rcu_read_lock() };
        ReadGuard { _not_send: PhantomData }
    }
}

impl Default for ReadGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        // SAFETY: pairs with the lock taken in `new` (the guard is !Send).
        unsafe { bindings::rust_helper_rcu_read_unlock() };
    }
}

/// Waits for an RCU grace period: every read-side critical section that began before
/// the call has ended. Sleeps: process context only, never inside a [`ReadGuard`].
pub fn synchronize() {
    // SAFETY: no memory preconditions; the context rules are the caller's (documented).
    unsafe { bindings::synchronize_rcu() };
}

struct Node<V> {
    /// Next node of the chain (read by RCU readers), null at the end.
    next: AtomicPtr<Node<V>>,
    /// Next node on the retired list (writers only, under the lock).
    retired_next: *mut Node<V>,
    hash: u64,
    key: Vec<u8>,
    value: Arc<V>,
}

/// What the writer lock protects (the chains themselves are atomics readers follow).
struct Writer<V> {
    /// Unlinked nodes waiting for a grace period (linked through `retired_next`).
    retired: *mut Node<V>,
}

// SAFETY: the raw pointer is a list of nodes owned by the map; it is touched only under
// the lock, and the nodes hold `Send + Sync` data (bounds on RcuMap's impls).
unsafe impl<V> Send for Writer<V> {}

/// A fixed-size hash map read under RCU. See the module docs.
///
/// # Invariants
/// Every non-null pointer reachable from `buckets` or from `Writer::retired` is a node
/// allocated by `Box` and owned by this map; a node is on exactly one of: a chain, the
/// retired list. A node leaves the retired list (and is freed) only after a grace
/// period that began after it was unlinked from its chain.
pub struct RcuMap<V> {
    buckets: Vec<AtomicPtr<Node<V>>>,
    mask: usize,
    seed: u64,
    len: AtomicUsize,
    writer: SpinLock<Writer<V>>,
    _owns: PhantomData<Box<Node<V>>>,
}

// SAFETY: values are shared between threads through `Arc<V>` (needs V: Send + Sync);
// the structure itself is made of atomics and a lock.
unsafe impl<V: Send + Sync> Send for RcuMap<V> {}
// SAFETY: as above.
unsafe impl<V: Send + Sync> Sync for RcuMap<V> {}

impl<V: Send + Sync> RcuMap<V> {
    /// Longest chain an insert extends; past it the insert fails with `ENOSPC`.
    pub const MAX_CHAIN: usize = 8;

    /// A map with `2^bits` buckets (`bits` at most 24), hashing keys with `seed` (use a
    /// random one, so clients cannot choose colliding keys). The writers' lock gets the
    /// lockdep class `key`: use [`new_rcu_map!`](crate::new_rcu_map), which declares one
    /// per call site.
    pub fn try_new(bits: u32, seed: u64, name: &'static CStr, key: &'static LockClassKey) -> Result<Self> {
        if bits > 24 {
            return Err(EINVAL);
        }
        let n = 1usize << bits;
        let mut v: Vec<AtomicPtr<Node<V>>> = Vec::new();
        v.try_reserve_exact(n)?;
        for _ in 0..n {
            v.try_push(AtomicPtr::new(ptr::null_mut()))?;
        }
        Ok(RcuMap {
            buckets: v,
            mask: n - 1,
            seed,
            len: AtomicUsize::new(0),
            writer: SpinLock::new(Writer { retired: ptr::null_mut() }, name, key),
            _owns: PhantomData,
        })
    }

    fn hash(&self, key: &[u8]) -> u64 {
        hash_bytes(self.seed, key)
    }

    fn bucket(&self, hash: u64) -> Option<&AtomicPtr<Node<V>>> {
        // `mask` is len - 1 of a power-of-two slice, so this is always `Some`.
        self.buckets.get(hash as usize & self.mask)
    }

    /// Entries in the map.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True if the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for `key`, if any. Takes no lock.
    pub fn get(&self, key: &[u8]) -> Option<Arc<V>> {
        let hash = self.hash(key);
        let _g = ReadGuard::new();
        let mut p = self.bucket(hash)?.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: `p` was read from a chain inside our read-side section; a node is
            // freed only after a grace period that began after its unlinking (type
            // invariant), which cannot end while we are inside the section.
            let node = unsafe { &*p };
            if node.hash == hash && *node.key == *key {
                // The node holds a reference until it is freed, so the count is >= 1.
                return Some(node.value.clone());
            }
            p = node.next.load(Ordering::Acquire);
        }
        None
    }

    /// Calls `f` on entries, starting at bucket `start` and going on (wrapping) until
    /// `f` returns false or every bucket was seen; returns the bucket after the last one
    /// visited (a cursor for the next call). Runs inside one read-side section: `f` must
    /// not sleep.
    pub fn scan(&self, start: usize, mut f: impl FnMut(&[u8], &Arc<V>) -> bool) -> usize {
        let _g = ReadGuard::new();
        let n = self.buckets.len();
        for i in 0..n {
            let b = (start.wrapping_add(i)) & self.mask;
            let Some(head) = self.buckets.get(b) else { break };
            let mut p = head.load(Ordering::Acquire);
            let mut go_on = true;
            while !p.is_null() {
                // SAFETY: as in `get`.
                let node = unsafe { &*p };
                if !f(&node.key, &node.value) {
                    go_on = false;
                }
                p = node.next.load(Ordering::Acquire);
            }
            if !go_on {
                return (b + 1) & self.mask;
            }
        }
        start & self.mask
    }

    /// Inserts `value` for `key`, replacing (and returning) the value there was. The node
    /// is allocated before the lock is taken. `ENOSPC` if the key's bucket is full.
    pub fn insert(&self, key: &[u8], value: Arc<V>) -> Result<Option<Arc<V>>> {
        let hash = self.hash(key);
        let mut k: Vec<u8> = Vec::new();
        k.try_reserve_exact(key.len())?;
        k.try_extend_from_slice(key)?;
        let node = Box::into_raw(try_box(Node {
            next: AtomicPtr::new(ptr::null_mut()),
            retired_next: ptr::null_mut(),
            hash,
            key: k,
            value,
        })?);
        let Some(head) = self.bucket(hash) else {
            // SAFETY: `node` was never published; we still own it.
            drop(unsafe { Box::from_raw(node) });
            return Err(EINVAL);
        };
        let mut w = self.writer.lock();
        // Find the old node (and its predecessor link) and count the chain.
        let mut link: &AtomicPtr<Node<V>> = head;
        let mut old: Option<(&AtomicPtr<Node<V>>, *mut Node<V>)> = None;
        let mut chain = 0;
        let mut p = head.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: chains hold live nodes; writers are excluded by the lock, so no
            // node of this chain is unlinked or freed while we walk it.
            let n = unsafe { &*p };
            if old.is_none() && n.hash == hash && *n.key == *key {
                old = Some((link, p));
            }
            chain += 1;
            link = &n.next;
            p = n.next.load(Ordering::Acquire);
        }
        match old {
            Some((link, o)) => {
                // Replace in place: the new node takes the old one's successor, then is
                // published where the old one was (readers see one or the other).
                // SAFETY: `o` is a live chain node (see above); `node` is ours.
                unsafe {
                    (*node).next.store((*o).next.load(Ordering::Acquire), Ordering::Relaxed);
                }
                link.store(node, Ordering::Release);
                // SAFETY: `o` is unlinked now; it goes to the retired list (invariant).
                let prev = unsafe {
                    (*o).retired_next = w.retired;
                    (*o).value.clone()
                };
                w.retired = o;
                Ok(Some(prev))
            }
            None => {
                if chain >= Self::MAX_CHAIN {
                    drop(w);
                    // SAFETY: `node` was never published; we still own it.
                    drop(unsafe { Box::from_raw(node) });
                    return Err(ENOSPC);
                }
                // SAFETY: `node` is ours until published by the store below.
                unsafe { (*node).next.store(head.load(Ordering::Acquire), Ordering::Relaxed) };
                head.store(node, Ordering::Release);
                self.len.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    /// Removes `key` if `pred` accepts its value (e.g. "is still the entry I looked
    /// at": `Arc::ptr_eq`); returns the removed value.
    pub fn remove_if(&self, key: &[u8], pred: impl FnOnce(&Arc<V>) -> bool) -> Option<Arc<V>> {
        let hash = self.hash(key);
        let mut link: &AtomicPtr<Node<V>> = self.bucket(hash)?;
        let mut w = self.writer.lock();
        let mut p = link.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: as in `insert`.
            let n = unsafe { &*p };
            if n.hash == hash && *n.key == *key {
                if !pred(&n.value) {
                    return None;
                }
                link.store(n.next.load(Ordering::Acquire), Ordering::Release);
                let value = n.value.clone();
                // SAFETY: `p` is unlinked now; to the retired list (invariant). Its
                // `next` stays as it was, so a reader standing on it can go on.
                unsafe { (*p).retired_next = w.retired };
                w.retired = p;
                self.len.fetch_sub(1, Ordering::Relaxed);
                return Some(value);
            }
            link = &n.next;
            p = n.next.load(Ordering::Acquire);
        }
        None
    }

    /// Removes `key`; returns its value.
    pub fn remove(&self, key: &[u8]) -> Option<Arc<V>> {
        self.remove_if(key, |_| true)
    }

    /// Frees the nodes retired so far, after a grace period; their values' references
    /// are dropped here. Sleeps: process context, outside any [`ReadGuard`]. Returns how
    /// many nodes were freed.
    pub fn reclaim(&self) -> usize {
        let batch = {
            let mut w = self.writer.lock();
            core::mem::replace(&mut w.retired, ptr::null_mut())
        };
        if batch.is_null() {
            return 0;
        }
        // Every node of the batch was unlinked before the lock above was released.
        synchronize();
        // SAFETY: the batch is ours (taken off the list under the lock) and a grace
        // period passed since each node was unlinked (invariant satisfied).
        unsafe { free_list(batch, |n| n.retired_next) }
    }
}

/// Frees a list of nodes linked by `next_of`.
///
/// # Safety
/// The nodes are Box-allocated, owned by the caller and unreachable by anyone else.
unsafe fn free_list<V>(mut p: *mut Node<V>, next_of: impl Fn(&Node<V>) -> *mut Node<V>) -> usize {
    let mut freed = 0;
    while !p.is_null() {
        // SAFETY: caller's contract.
        let node = unsafe { Box::from_raw(p) };
        p = next_of(&node);
        drop(node);
        freed += 1;
    }
    freed
}

impl<V> Drop for RcuMap<V> {
    fn drop(&mut self) {
        // `&mut self`: no reader or writer can be inside the map (readers borrow it), so
        // every node can go now.
        for b in self.buckets.iter() {
            let p = b.swap(ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: chain nodes are ours and no longer reachable.
            unsafe { free_list(p, |n| n.next.load(Ordering::Relaxed)) };
        }
        let retired = core::mem::replace(&mut self.writer.get_mut().retired, ptr::null_mut());
        // SAFETY: retired nodes are ours and on no chain.
        unsafe { free_list(retired, |n| n.retired_next) };
    }
}

/// Creates an [`RcuMap`] whose writer lock has its own lockdep class:
/// `new_rcu_map!(bits, seed, "name")`.
#[macro_export]
macro_rules! new_rcu_map {
    ($bits:expr, $seed:expr, $name:expr $(,)?) => {{
        static CLASS: $crate::sync::LockClassKey = $crate::sync::LockClassKey::new();
        const NAME: &core::ffi::CStr = $crate::sync::lock_name(concat!($name, "\0"));
        $crate::rcu::RcuMap::try_new($bits, $seed, NAME, &CLASS)
    }};
}

/// A keyed 64-bit hash of `bytes` (FNV-1a over the bytes, seeded, with a final mix so
/// that the low bits, which pick the bucket, depend on every input bit).
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A random 64-bit number from the kernel's generator (`get_random_bytes`).
pub fn random_u64() -> u64 {
    let mut v = 0u64;
    // SAFETY: writes exactly 8 bytes into `v`.
    unsafe { bindings::get_random_bytes((&raw mut v).cast(), 8) };
    v
}
