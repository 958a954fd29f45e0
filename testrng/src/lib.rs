//! The seeded random source every host test and fuzzer uses: reproducible runs (a
//! failure names its seed and happens again), the generator itself from `fastrand`.

/// A seeded generator with the few draws the fuzzers need.
pub struct Rng(fastrand::Rng);

impl Rng {
    /// The same seed gives the same sequence (for a given `fastrand` version).
    pub fn new(seed: u64) -> Self {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// Uniform in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.0.usize(..n)
        }
    }

    /// True once in `one_in` draws on average (always for 0 or 1).
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    /// One of `items`, uniformly. Panics on an empty slice (a bug in the test).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn seeded_and_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            assert_eq!(a.next(), b.next());
        }
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = a.below(5);
            assert!(v < 5);
            seen[v] = true;
        }
        assert!(seen.iter().all(|s| *s), "every value of 0..5 drawn in 1000 tries");
        assert_eq!(a.below(0), 0);
        assert!(a.chance(1));
        assert_eq!(*a.pick(&[42]), 42);
        assert_ne!(Rng::new(1).next(), Rng::new(2).next());
    }
}
