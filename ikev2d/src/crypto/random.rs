//! Randomness: the [`Random`] trait, the operating system's generator and a deterministic one.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::CryptoError;

/// A source of random bytes (nonces, SPIs, IVs, DH private values, cookie secrets).
///
/// The engine takes a `&mut dyn Random` so that tests and simulations can replace the
/// operating system's generator ([`OsRandom`]) with a reproducible one ([`TestRandom`]).
pub trait Random {
    /// Fills `buf` with random bytes.
    ///
    /// Implementations must not return without filling `buf`; [`OsRandom`] documents the one
    /// case where it panics instead.
    fn fill(&mut self, buf: &mut [u8]);

    /// Fills `buf` with random bytes, reporting a failing generator as [`CryptoError::Rng`]
    /// instead of panicking. The default calls [`Random::fill`], which cannot fail.
    fn try_fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.fill(buf);
        Ok(())
    }
}

impl<R: Random + ?Sized> Random for &mut R {
    fn fill(&mut self, buf: &mut [u8]) {
        (**self).fill(buf);
    }

    fn try_fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        (**self).try_fill(buf)
    }
}

/// The operating system's cryptographically secure generator (`getrandom(2)` on Linux).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OsRandom;

impl Random for OsRandom {
    /// Fills `buf` from the operating system.
    ///
    /// # Panics
    /// Only if the operating system's generator fails, which on Linux ≥ 3.17 means the
    /// `getrandom(2)` system call itself is unavailable or returns an unexpected error
    /// (interrupted calls are retried, and the call blocks until the pool is initialised).
    /// Carrying on without randomness would be far worse than stopping: nonces, SPIs and IVs
    /// would be predictable. Callers that can report an error use [`Random::try_fill`]
    /// (as [`DhGroup::generate`](super::DhGroup::generate) does).
    fn fill(&mut self, buf: &mut [u8]) {
        if let Err(e) = getrandom::fill(buf) {
            panic!("the operating system's random number generator failed: {e}");
        }
    }

    fn try_fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        getrandom::fill(buf).map_err(|_| CryptoError::Rng)
    }
}

/// A deterministic generator for tests and simulations: **never** for real keys.
///
/// Output block *n* (counting from 0) is `HMAC-SHA-256(K, n as a big-endian u64)` with
/// `K = HMAC-SHA-256("ikev2d TestRandom", seed as a big-endian u64)`; bytes are handed out
/// in order, so the stream depends only on the seed, not on how it is split into calls.
pub struct TestRandom {
    key: Zeroizing<[u8; 32]>,
    counter: u64,
    block: Zeroizing<[u8; 32]>,
    used: usize,
}

impl TestRandom {
    /// A generator whose whole output stream is determined by `seed`.
    pub fn new(seed: u64) -> TestRandom {
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&hmac_sha256(b"ikev2d TestRandom", &seed.to_be_bytes()));
        TestRandom { key, counter: 0, block: Zeroizing::new([0u8; 32]), used: 32 }
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` has no error path for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl Random for TestRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        let mut out = buf;
        while !out.is_empty() {
            if self.used == self.block.len() {
                *self.block = hmac_sha256(&self.key[..], &self.counter.to_be_bytes());
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            let n = out.len().min(self.block.len() - self.used);
            let (head, tail) = out.split_at_mut(n);
            head.copy_from_slice(&self.block[self.used..self.used + n]);
            self.used += n;
            out = tail;
        }
    }
}

impl std::fmt::Debug for TestRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRandom").field("blocks_used", &self.counter).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_random_is_deterministic_and_split_independent() {
        let mut a = TestRandom::new(7);
        let mut b = TestRandom::new(7);
        let mut whole = [0u8; 100];
        a.fill(&mut whole);
        let mut parts = [0u8; 100];
        let (x, rest) = parts.split_at_mut(3);
        let (y, z) = rest.split_at_mut(50);
        b.fill(x);
        b.fill(y);
        b.fill(z);
        assert_eq!(whole, parts);

        let mut c = TestRandom::new(8);
        let mut other = [0u8; 100];
        c.fill(&mut other);
        assert_ne!(whole, other);
    }

    #[test]
    fn test_random_matches_its_definition() {
        // Block 0 and block 1, computed from the documented construction.
        let key = hmac_sha256(b"ikev2d TestRandom", &42u64.to_be_bytes());
        let b0 = hmac_sha256(&key, &0u64.to_be_bytes());
        let b1 = hmac_sha256(&key, &1u64.to_be_bytes());
        let mut r = TestRandom::new(42);
        let mut out = [0u8; 64];
        r.fill(&mut out);
        assert_eq!(&out[..32], &b0);
        assert_eq!(&out[32..], &b1);
    }

    #[test]
    fn os_random_fills() {
        let mut buf = [0u8; 64];
        OsRandom.fill(&mut buf);
        // 2^-512 chance of a false failure.
        assert_ne!(buf, [0u8; 64]);
        assert!(OsRandom.try_fill(&mut buf).is_ok());
    }

    #[test]
    fn debug_does_not_print_state() {
        let r = TestRandom::new(1);
        let s = format!("{r:?}");
        assert!(s.starts_with("TestRandom"));
        assert!(!s.contains("key"));
    }
}
