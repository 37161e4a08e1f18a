//! A re-implementation of CPython's `random.Random` (MT19937) for the three calls the official
//! dataset builder makes: `seed(int)`, `random()` and `choice(seq)`.
//!
//! The official builder draws the auxiliary-task 30% filter, `multiple` instruction choices and
//! over-sampling from Python's global generator seeded with 42 (SPEC §3.2); using the same
//! generator lets ie-bench reproduce those subsets instead of merely resembling them.

const N: usize = 624;
const M: usize = 397;

#[derive(Clone)]
pub struct PyRandom {
    state: [u32; N],
    index: usize,
}

impl PyRandom {
    /// `random.Random(seed)` for a non-negative integer seed: CPython feeds the seed's 32-bit
    /// little-endian words to `init_by_array`.
    pub fn new(seed: u64) -> Self {
        let mut key = vec![seed as u32];
        if seed >> 32 != 0 {
            key.push((seed >> 32) as u32);
        }
        let mut rng = PyRandom {
            state: [0; N],
            index: N,
        };
        rng.init_by_array(&key);
        rng
    }

    fn init_genrand(&mut self, s: u32) {
        self.state[0] = s;
        for i in 1..N {
            let prev = self.state[i - 1];
            self.state[i] = 1812433253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19650218);
        let mut i = 1usize;
        let mut j = 0usize;
        let mut k = N.max(key.len());
        while k > 0 {
            let prev = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1664525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
            k -= 1;
        }
        k = N - 1;
        while k > 0 {
            let prev = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1566083941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
            k -= 1;
        }
        self.state[0] = 0x8000_0000;
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % N] & 0x7fff_ffff);
            let mut next = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `random.random()`: 53 random bits from two draws.
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.getrandbits(k)` for 1 <= k <= 32 (all the builder ever needs).
    fn getrandbits(&mut self, k: u32) -> u32 {
        debug_assert!((1..=32).contains(&k));
        self.next_u32() >> (32 - k)
    }

    /// `random._randbelow(n)`: rejection sampling on `n.bit_length()` bits. Note that CPython
    /// draws even for `n == 1`, so `choice` on a one-element list still advances the stream.
    pub fn randbelow(&mut self, n: usize) -> usize {
        assert!(n > 0, "randbelow(0)");
        assert!(n <= u32::MAX as usize, "randbelow bound beyond 32 bits");
        let k = usize::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(k) as usize;
            if r < n {
                return r;
            }
        }
    }

    /// `random.choice(seq)` returning the chosen index.
    pub fn choice_index(&mut self, len: usize) -> usize {
        self.randbelow(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values printed by CPython 3.11:
    //   python3 -c "import random; r=random.Random(42); print([r.random() for _ in range(3)])"
    //   python3 -c "import random; r=random.Random(42); print([r.choice(range(10)) for _ in range(8)])"
    #[test]
    fn matches_cpython_random() {
        let mut r = PyRandom::new(42);
        let got: Vec<f64> = (0..3).map(|_| r.random()).collect();
        assert_eq!(
            got,
            vec![
                0.6394267984578837,
                0.025010755222666936,
                0.27502931836911926
            ]
        );
    }

    #[test]
    fn matches_cpython_choice() {
        let mut r = PyRandom::new(42);
        let got: Vec<usize> = (0..8).map(|_| r.choice_index(10)).collect();
        assert_eq!(got, vec![1, 0, 4, 3, 3, 2, 1, 8]);
    }

    #[test]
    fn choice_of_one_still_draws() {
        let mut r = PyRandom::new(42);
        assert_eq!(r.choice_index(1), 0);
        let mut fresh = PyRandom::new(42);
        assert_ne!(r.random(), fresh.random());
    }

    #[test]
    fn large_seed_uses_two_words() {
        // python3 -c "import random; print(random.Random(2**40+5).random())"
        let mut r = PyRandom::new((1u64 << 40) + 5);
        assert_eq!(r.random(), 0.5043802970418443);
    }
}
