//! The content cache: what a request path resolved to, kept ready to send.
//!
//! A hash map (`kernel::rcu::RcuMap`) from the request's resolved path to an [`Entry`]:
//! the open file and its attributes (and, for small files, the body bytes; compressed
//! variants once made), or a directory's rendered listing. Lookups take no lock; writers
//! replace whole entries, which readers hold through `Arc`s until their response is
//! sent, so an entry's bytes never change under a response.
//!
//! Freshness: an entry is used as is for `ttl_ms` after it was made or last checked.
//! After that, the next request checks it: the path is looked up again (with the
//! serving credentials) and the attributes compared (type, size, mtime, ctime, inode,
//! permissions); unchanged, it is used for another `ttl_ms`, else it is rebuilt, or
//! gone when the path is. Listings are rebuilt every `ttl_ms` (their entries' sizes and
//! times can change without the directory changing). So nothing is served stale past
//! the ttl.
//!
//! Memory: entries are charged their bytes (body, variants, listing, key and a fixed
//! overhead); above `max_bytes` the inserting request evicts with a CLOCK hand (an
//! entry used since the hand last passed gets a second chance). A maintenance thread
//! drops entries nobody asked for within two ttls (they would need a check anyway, and
//! their open files pin deleted files' space) and frees unlinked map nodes after an RCU
//! grace period.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use kernel::cpu::Counters;
use kernel::fs::{File, Stat};
use kernel::page::Pages;
use kernel::prelude::*;
use kernel::rcu::RcuMap;
use kernel::sync::OnceBox;

/// Fixed charge per entry (the map node, the `Entry`, an open `struct file`).
const ENTRY_OVERHEAD: usize = 768;
/// One entry may use at most this share of the budget (1/8).
const MAX_SHARE: usize = 8;
/// Entries evicted per pass of the hand at most (bounds one insert's work).
const EVICT_BATCH: usize = 16;

/// Cache parameters.
#[derive(Clone, Copy)]
pub struct Settings {
    pub ttl_ms: u32,
    pub max_bytes: usize,
    /// Bodies of files smaller than this are kept in memory (see [`Held`]).
    pub body_max: usize,
}

/// Which bytes of a cache entry a body sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The file, from the entry's open file (streamed: spliced or copied in chunks).
    File,
    /// The file's body held in memory.
    Body,
    /// The file's body held in pages, sent by reference.
    Pages,
    Gzip,
    Zlib,
    /// A rendered directory listing.
    Listing,
}

/// A file's whole body kept in memory.
pub enum Held {
    /// Bytes, copied into the send with the head: small bodies, or any with `sendfile=0`.
    Bytes(Vec<u8>),
    /// Pages of the cache's own that the socket references instead of copying them:
    /// bodies from `SPLICE_FROM` up, with `sendfile` on. Cheaper to send than a splice
    /// from the page cache (no page-cache lookup, no pipe, one send per 64 KiB).
    Pages(Pages),
}

impl Held {
    fn len(&self) -> usize {
        match self {
            Held::Bytes(b) => b.len(),
            Held::Pages(p) => p.len(),
        }
    }
}

/// A compressed variant of a file's body, framed (gzip or zlib) and ready to send.
pub struct Variant(pub Vec<u8>);

/// What a path resolved to.
pub enum Content {
    /// A regular file (the target itself, or a directory's `index.html`).
    File {
        file: File,
        content_type: &'static str,
        /// The whole body, for files under the size threshold.
        body: Option<Held>,
        gzip: OnceBox<Variant>,
        zlib: OnceBox<Variant>,
    },
    /// A directory's listing, rendered (HTML, not framed).
    Listing { html: Vec<u8> },
}

/// One cached answer. Immutable once published, except its freshness stamp, its
/// CLOCK bit and compressed variants added once each.
pub struct Entry {
    key: Vec<u8>,
    /// Attributes of the file (or directory, for a listing) when the entry was made.
    pub stat: Stat,
    pub content: Content,
    validated_ms: AtomicU64,
    referenced: AtomicBool,
    cost: AtomicUsize,
}

impl Entry {
    pub fn new(key: &[u8], stat: Stat, content: Content, now_ms: u64) -> Result<Arc<Entry>> {
        let mut k = Vec::new();
        k.try_extend_from_slice(key)?;
        let bytes = match &content {
            Content::File { body, .. } => body.as_ref().map_or(0, |b| b.len()),
            Content::Listing { html } => html.len(),
        };
        kernel::allocator::try_arc(Entry {
            key: k,
            stat,
            content,
            validated_ms: AtomicU64::new(now_ms),
            referenced: AtomicBool::new(true),
            cost: AtomicUsize::new(ENTRY_OVERHEAD + key.len() + bytes),
        })
    }

    pub fn cost(&self) -> usize {
        self.cost.load(Ordering::Relaxed)
    }

    /// The body held in pages, if the entry holds it so.
    pub fn pages(&self) -> Option<&Pages> {
        match &self.content {
            Content::File { body: Some(Held::Pages(p)), .. } => Some(p),
            _ => None,
        }
    }

    /// The bytes of `part` this entry holds (empty if it holds none).
    pub fn bytes(&self, part: Part) -> &[u8] {
        match (&self.content, part) {
            (Content::File { body: Some(Held::Bytes(b)), .. }, Part::Body) => b,
            (Content::File { gzip, .. }, Part::Gzip) => gzip.get().map_or(&[], |v| &v.0[..]),
            (Content::File { zlib, .. }, Part::Zlib) => zlib.get().map_or(&[], |v| &v.0[..]),
            (Content::Listing { html }, Part::Listing) => html,
            _ => &[],
        }
    }
}

/// What [`Cache::lookup`] found.
pub enum Lookup {
    /// Checked within the ttl: use it.
    Fresh(Arc<Entry>),
    /// Older than the ttl: check it ([`Cache::revalidated`] or [`Cache::remove`]).
    Stale(Arc<Entry>),
    Miss,
}

/// Indices of the cache's counters (per CPU, summed when read).
pub mod stat {
    pub const HITS: usize = 0;
    pub const MISSES: usize = 1;
    pub const REVALIDATED: usize = 2;
    pub const REPLACED: usize = 3;
    pub const EVICTED: usize = 4;
    pub const EXPIRED: usize = 5;
    pub const COUNT: usize = 6;
}

pub struct Cache {
    map: RcuMap<Entry>,
    settings: Settings,
    bytes: AtomicUsize,
    hand: AtomicUsize,
    pub counters: Counters<{ stat::COUNT }>,
}

impl Cache {
    pub fn new(mut settings: Settings) -> Result<Cache> {
        // A body the cache could never take would be read into memory for every request
        // and dropped: hold in memory only what fits one entry's share (with room for
        // the overhead and a long key).
        let share = (settings.max_bytes / MAX_SHARE).saturating_sub(ENTRY_OVERHEAD + 4096);
        settings.body_max = settings.body_max.min(share);
        // About one bucket per 8 KiB of budget: chains stay short for typical files.
        let buckets = (settings.max_bytes / 8192).clamp(256, 1 << 20);
        let bits = usize::BITS - (buckets - 1).leading_zeros();
        let map = kernel::new_rcu_map!(bits, kernel::rcu::random_u64(), "khttpd cache writers")?;
        Ok(Cache { map, settings, bytes: AtomicUsize::new(0), hand: AtomicUsize::new(0), counters: Counters::try_new()? })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn entries(&self) -> usize {
        self.map.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn lookup(&self, key: &[u8], now_ms: u64) -> Lookup {
        let Some(e) = self.map.get(key) else {
            self.counters.add(stat::MISSES, 1);
            return Lookup::Miss;
        };
        // Written only when clear, so a hot entry's line is not written per request.
        if !e.referenced.load(Ordering::Relaxed) {
            e.referenced.store(true, Ordering::Relaxed);
        }
        let age = now_ms.saturating_sub(e.validated_ms.load(Ordering::Relaxed));
        if age < u64::from(self.settings.ttl_ms) {
            self.counters.add(stat::HITS, 1);
            Lookup::Fresh(e)
        } else {
            Lookup::Stale(e)
        }
    }

    /// The stale entry was checked and is still right.
    pub fn revalidated(&self, e: &Entry, now_ms: u64) {
        e.validated_ms.store(now_ms, Ordering::Relaxed);
        self.counters.add(stat::REVALIDATED, 1);
        self.counters.add(stat::HITS, 1);
    }

    /// Drops `e` from the map if it is still the entry for its key.
    pub fn remove(&self, e: &Arc<Entry>) {
        if let Some(old) = self.map.remove_if(&e.key, |v| Arc::ptr_eq(v, e)) {
            self.bytes.fetch_sub(old.cost().min(self.bytes()), Ordering::Relaxed);
        }
    }

    /// Whether an entry of `cost` bytes may be cached at all.
    pub fn admits(&self, cost: usize) -> bool {
        cost <= self.settings.max_bytes / MAX_SHARE
    }

    /// Publishes `e` (replacing what its key had), then evicts while over budget.
    /// Failure (no memory, a full bucket) only means the entry is not cached.
    pub fn insert(&self, e: &Arc<Entry>) {
        if !self.admits(e.cost()) {
            return;
        }
        match self.map.insert(&e.key, e.clone()) {
            Ok(old) => {
                self.bytes.fetch_add(e.cost(), Ordering::Relaxed);
                if let Some(old) = old {
                    self.bytes.fetch_sub(old.cost().min(self.bytes()), Ordering::Relaxed);
                    self.counters.add(stat::REPLACED, 1);
                }
            }
            Err(_) => return,
        }
        self.evict_to_budget();
    }

    /// Charges a compressed variant added to `e` (if `e` is still cached).
    pub fn charge_variant(&self, e: &Entry, len: usize) {
        e.cost.fetch_add(len, Ordering::Relaxed);
        self.bytes.fetch_add(len, Ordering::Relaxed);
        self.evict_to_budget();
    }

    fn evict_to_budget(&self) {
        let mut rounds = 0;
        while self.bytes() > self.settings.max_bytes && rounds < 4 {
            rounds += 1;
            let mut victims: Vec<Arc<Entry>> = Vec::new();
            if victims.try_reserve_exact(EVICT_BATCH).is_err() {
                return;
            }
            let mut need = self.bytes().saturating_sub(self.settings.max_bytes);
            let start = self.hand.load(Ordering::Relaxed);
            // Inside an RCU section: no allocation (the vector has its room).
            let next = self.map.scan(start, |_, e| {
                if e.referenced.swap(false, Ordering::Relaxed) {
                    return true;
                }
                // Within capacity: never allocates here.
                if victims.len() == victims.capacity() || victims.try_push(e.clone()).is_err() {
                    return false;
                }
                need = need.saturating_sub(e.cost());
                need > 0 && victims.len() < EVICT_BATCH
            });
            self.hand.store(next, Ordering::Relaxed);
            for v in victims.iter() {
                self.remove(v);
                self.counters.add(stat::EVICTED, 1);
            }
        }
    }

    /// Background upkeep (the maintenance thread): drops entries not used for two
    /// ttls, then frees what was unlinked once no reader can see it. Sleeps.
    pub fn maintain(&self, now_ms: u64) {
        let idle_limit = 2 * u64::from(self.settings.ttl_ms);
        let mut cursor = 0usize;
        // Bounded batches, so no RCU section is long.
        for _ in 0..64 {
            let mut old: Vec<Arc<Entry>> = Vec::new();
            if old.try_reserve_exact(64).is_err() {
                break;
            }
            let start = cursor;
            let mut full = false;
            cursor = self.map.scan(start, |_, e| {
                if now_ms.saturating_sub(e.validated_ms.load(Ordering::Relaxed)) > idle_limit
                    && (old.len() == old.capacity() || old.try_push(e.clone()).is_err())
                {
                    full = true;
                    return false;
                }
                true
            });
            for e in old.iter() {
                self.remove(e);
                self.counters.add(stat::EXPIRED, 1);
            }
            if !full || cursor == start {
                break;
            }
        }
        self.map.reclaim();
    }
}
