//! Idle-connection timeouts: a fixed-capacity indexed binary min-heap.
//!
//! Design: timers are identified by a small integer id (the connection's slot number),
//! and each id has at most one deadline. The heap keeps a position index per id, so
//! re-arming a timer on activity ([`TimerHeap::set`]) and cancelling it on close
//! ([`TimerHeap::remove`]) are exact O(log n) updates. No stale entries pile up (as they
//! would with lazy deletion), so the heap can never fill: capacity equals the number of
//! ids. Every operation is O(log n) except [`TimerHeap::new`], which is O(n) once.
//!
//! Storage comes from the caller as one slice of [`Slot`]s (any `DerefMut<[Slot]>`: a
//! borrowed slice, or a kernel vector the caller owns): slot `i` holds both heap entry
//! `i` and the heap position of id `i`. 16 bytes per connection.
//!
//! Deadlines are plain `u64` instants (e.g. 64-bit jiffies or milliseconds) that do not
//! wrap. Entries are ordered by (deadline, id), so equal deadlines pop in id order.

use core::ops::DerefMut;

/// Position value meaning "this id has no timer".
const NONE: u32 = u32::MAX;

/// One unit of heap storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    deadline: u64,
    id: u32,
    pos: u32,
}

impl Slot {
    pub const EMPTY: Slot = Slot { deadline: 0, id: 0, pos: NONE };
}

impl Default for Slot {
    fn default() -> Self {
        Slot::EMPTY
    }
}

/// The id is not below the heap's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadId;

/// Min-heap of (deadline, id) over caller storage; see the module documentation.
#[derive(Debug)]
pub struct TimerHeap<S> {
    slots: S,
    len: usize,
}

impl<S: DerefMut<Target = [Slot]>> TimerHeap<S> {
    /// Takes `slots` as storage (any previous contents are reset). Ids range over
    /// `0..capacity()`, capacity being the number of slots.
    pub fn new(mut slots: S) -> Self {
        for s in slots.iter_mut() {
            *s = Slot::EMPTY;
        }
        TimerHeap { slots, len: 0 }
    }

    /// Gives the storage back.
    pub fn into_inner(self) -> S {
        self.slots
    }

    /// Number of ids (and of timers that can be armed at once).
    pub fn capacity(&self) -> usize {
        self.slots.len().min(NONE as usize)
    }

    /// Armed timers.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn key(&self, i: usize) -> Option<(u64, u32)> {
        if i >= self.len {
            return None;
        }
        self.slots.get(i).map(|s| (s.deadline, s.id))
    }

    fn pos_of(&self, id: usize) -> Option<usize> {
        if id >= self.capacity() {
            return None;
        }
        match self.slots.get(id)?.pos {
            NONE => None,
            p => Some(p as usize),
        }
    }

    fn set_pos(&mut self, id: u32, pos: usize) {
        if let Some(s) = self.slots.get_mut(id as usize) {
            // pos < capacity ≤ u32::MAX, or NONE itself.
            s.pos = u32::try_from(pos).unwrap_or(NONE);
        }
    }

    /// Puts entry (deadline, id) at heap position i and records i for the id.
    fn place(&mut self, i: usize, (deadline, id): (u64, u32)) {
        if let Some(s) = self.slots.get_mut(i) {
            s.deadline = deadline;
            s.id = id;
        }
        self.set_pos(id, i);
    }

    fn swap(&mut self, i: usize, j: usize) {
        if let (Some(a), Some(b)) = (self.key(i), self.key(j)) {
            self.place(i, b);
            self.place(j, a);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            match (self.key(i), self.key(parent)) {
                (Some(k), Some(pk)) if k < pk => {
                    self.swap(i, parent);
                    i = parent;
                }
                _ => break,
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let left = i.saturating_mul(2).saturating_add(1);
            let right = left.saturating_add(1);
            let Some(mut smallest_key) = self.key(i) else { break };
            let mut smallest = i;
            for child in [left, right] {
                if let Some(ck) = self.key(child) {
                    if ck < smallest_key {
                        smallest = child;
                        smallest_key = ck;
                    }
                }
            }
            if smallest == i {
                break;
            }
            self.swap(i, smallest);
            i = smallest;
        }
    }

    /// Arms the timer of `id` for `deadline`, replacing any earlier deadline of it.
    pub fn set(&mut self, id: usize, deadline: u64) -> Result<(), BadId> {
        if id >= self.capacity() {
            return Err(BadId);
        }
        let id32 = u32::try_from(id).map_err(|_| BadId)?;
        match self.pos_of(id) {
            Some(p) => {
                let old = self.key(p).map_or(0, |(d, _)| d);
                self.place(p, (deadline, id32));
                if deadline < old {
                    self.sift_up(p);
                } else {
                    self.sift_down(p);
                }
            }
            None => {
                // Each id is in the heap at most once, so there is room: len < capacity.
                let i = self.len;
                if i >= self.capacity() {
                    return Err(BadId);
                }
                self.len = i.saturating_add(1);
                self.place(i, (deadline, id32));
                self.sift_up(i);
            }
        }
        Ok(())
    }

    /// Deadline of `id`, if armed.
    pub fn deadline(&self, id: usize) -> Option<u64> {
        self.pos_of(id).and_then(|p| self.key(p)).map(|(d, _)| d)
    }

    /// Disarms the timer of `id`, returning its deadline if it was armed.
    pub fn remove(&mut self, id: usize) -> Option<u64> {
        let p = self.pos_of(id)?;
        let (deadline, id32) = self.key(p)?;
        let last = self.len.checked_sub(1)?;
        if p != last {
            self.swap(p, last);
        }
        self.len = last;
        self.set_pos(id32, NONE as usize);
        if p < self.len {
            // The entry moved into p may belong either above or below it.
            self.sift_down(p);
            self.sift_up(p);
        }
        Some(deadline)
    }

    /// The earliest (deadline, id).
    pub fn peek(&self) -> Option<(u64, usize)> {
        self.key(0).map(|(d, id)| (d, id as usize))
    }

    /// Removes and returns the earliest (deadline, id).
    pub fn pop(&mut self) -> Option<(u64, usize)> {
        let (d, id) = self.peek()?;
        self.remove(id);
        Some((d, id))
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    /// Call in a loop to collect every expired connection; each call is O(log n).
    pub fn pop_expired(&mut self, now: u64) -> Option<(u64, usize)> {
        match self.peek() {
            Some((d, _)) if d <= now => self.pop(),
            _ => None,
        }
    }

    /// Checks the heap order and the position index (tests only).
    #[cfg(test)]
    fn check(&self) {
        for i in 1..self.len {
            assert!(self.key((i - 1) / 2).unwrap() <= self.key(i).unwrap(), "heap order at {i}");
        }
        let mut armed = 0;
        for id in 0..self.capacity() {
            if let Some(p) = self.pos_of(id) {
                armed += 1;
                assert_eq!(self.key(p).unwrap().1 as usize, id, "index of {id}");
            }
        }
        assert_eq!(armed, self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn basic_operations() {
        let mut storage = [Slot::EMPTY; 4];
        let mut h = TimerHeap::new(&mut storage[..]);
        assert_eq!(h.capacity(), 4);
        assert!(h.is_empty());
        assert_eq!(h.peek(), None);
        assert_eq!(h.pop(), None);
        h.set(2, 30).unwrap();
        h.set(0, 10).unwrap();
        h.set(3, 20).unwrap();
        assert_eq!(h.set(4, 1), Err(BadId));
        assert_eq!(h.set(usize::MAX, 1), Err(BadId));
        assert_eq!(h.len(), 3);
        assert_eq!(h.peek(), Some((10, 0)));
        assert_eq!(h.deadline(2), Some(30));
        assert_eq!(h.deadline(1), None);
        assert_eq!(h.deadline(99), None);
        // Re-arming moves the timer instead of adding a second one.
        h.set(0, 40).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h.peek(), Some((20, 3)));
        assert_eq!(h.pop_expired(19), None);
        assert_eq!(h.pop_expired(20), Some((20, 3)));
        assert_eq!(h.pop_expired(35), Some((30, 2)));
        assert_eq!(h.pop_expired(35), None);
        assert_eq!(h.remove(0), Some(40));
        assert_eq!(h.remove(0), None);
        assert_eq!(h.remove(77), None);
        assert!(h.is_empty());
        h.check();
    }

    #[test]
    fn heap_is_never_full() {
        let mut h = TimerHeap::new(vec![Slot::EMPTY; 8]);
        for round in 0..3u64 {
            for id in 0..8 {
                h.set(id, round * 100 + (7 - id as u64)).unwrap();
            }
            assert_eq!(h.len(), 8);
            h.check();
        }
        let order: Vec<usize> = std::iter::from_fn(|| h.pop().map(|(_, id)| id)).collect();
        assert_eq!(order, vec![7, 6, 5, 4, 3, 2, 1, 0]);
        let storage = h.into_inner();
        assert_eq!(storage.len(), 8);
        // A fresh heap over used storage starts empty.
        let h = TimerHeap::new(storage);
        assert!(h.is_empty());
        assert_eq!(h.deadline(3), None);
    }

    #[test]
    fn ties_pop_in_id_order() {
        let mut storage = vec![Slot::EMPTY; 16];
        let mut h = TimerHeap::new(&mut storage[..]);
        for id in [9, 3, 15, 0, 7] {
            h.set(id, 5).unwrap();
        }
        let order: Vec<usize> = std::iter::from_fn(|| h.pop_expired(5).map(|(_, id)| id)).collect();
        assert_eq!(order, vec![0, 3, 7, 9, 15]);
    }

    #[test]
    fn zero_capacity() {
        let mut h = TimerHeap::new(&mut [][..]);
        assert_eq!(h.set(0, 1), Err(BadId));
        assert_eq!(h.pop(), None);
        assert_eq!(h.remove(0), None);
    }

    /// Random set/remove/pop sequences against a sorted reference.
    #[test]
    fn matches_sorted_reference() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for cap in [1usize, 2, 3, 7, 64, 257] {
            let mut h = TimerHeap::new(vec![Slot::EMPTY; cap]);
            let mut set: BTreeSet<(u64, usize)> = BTreeSet::new();
            let mut by_id: HashMap<usize, u64> = HashMap::new();
            for step in 0..20_000 {
                match rng.below(10) {
                    0..=4 => {
                        let id = rng.below(cap as u64) as usize;
                        let d = rng.below(1000);
                        if let Some(old) = by_id.insert(id, d) {
                            set.remove(&(old, id));
                        }
                        set.insert((d, id));
                        h.set(id, d).unwrap();
                    }
                    5 | 6 => {
                        let id = rng.below(cap as u64) as usize;
                        let expect = by_id.remove(&id);
                        if let Some(d) = expect {
                            set.remove(&(d, id));
                        }
                        assert_eq!(h.remove(id), expect);
                    }
                    7 => {
                        let expect = set.pop_first();
                        if let Some((_, id)) = expect {
                            by_id.remove(&id);
                        }
                        assert_eq!(h.pop(), expect);
                    }
                    _ => {
                        let now = rng.below(1000);
                        loop {
                            let expect = set.first().copied().filter(|&(d, _)| d <= now);
                            if let Some(e) = expect {
                                set.remove(&e);
                                by_id.remove(&e.1);
                            }
                            assert_eq!(h.pop_expired(now), expect);
                            if expect.is_none() {
                                break;
                            }
                        }
                    }
                }
                assert_eq!(h.len(), set.len());
                assert_eq!(h.peek(), set.first().copied());
                if step % 97 == 0 {
                    h.check();
                    for (&id, &d) in &by_id {
                        assert_eq!(h.deadline(id), Some(d));
                    }
                }
            }
            // Draining gives the reference order.
            let drained: Vec<_> = std::iter::from_fn(|| h.pop()).collect();
            let expected: Vec<_> = set.into_iter().collect();
            assert_eq!(drained, expected);
        }
    }
}
