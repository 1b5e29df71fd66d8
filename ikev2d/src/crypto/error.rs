//! The one error type of [`crate::crypto`].

/// Everything that can go wrong in [`crate::crypto`].
///
/// Errors that an attacker can provoke (bad public values, ICV mismatches, bad padding,
/// short or misaligned ciphertext) are reported here and never cause a panic. The variants
/// that concern received data say *what* was wrong, never the secret values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A peer's KE data has the wrong length for its Diffie-Hellman group
    /// (RFC 7296 §3.4: MODP values are padded to the modulus length; ECP-256 is x|y).
    #[error("DH group {group}: public value is {actual} bytes, expected {expected}")]
    PublicValueLength {
        /// The IKEv2 DH transform ID.
        group: u16,
        /// The length the group requires.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// A peer's public value is out of range (MODP: not 1 < y < p-1) or not on the curve (ECP).
    #[error("DH group {group}: bad public value")]
    BadPublicValue {
        /// The IKEv2 DH transform ID.
        group: u16,
    },
    /// The shared secret is degenerate: X25519 with a low-order point gives all zeros
    /// (RFC 7748 §6.1, RFC 8031 §2.3).
    #[error("DH group {group}: degenerate (all-zero) shared secret")]
    DegenerateSharedSecret {
        /// The IKEv2 DH transform ID.
        group: u16,
    },
    /// A private value given to [`DhPrivate::from_secret`](super::DhPrivate::from_secret) is
    /// unusable (wrong length, zero, or not below the group order).
    #[error("DH group {group}: bad private value")]
    BadPrivateValue {
        /// The IKEv2 DH transform ID.
        group: u16,
    },
    /// The integrity check value (HMAC ICV or AES-GCM tag) does not verify.
    #[error("integrity check value mismatch")]
    IcvMismatch,
    /// The decrypted pad length byte claims more padding than there is plaintext before it.
    #[error("bad padding: pad length {pad_len} but only {available} bytes precede it")]
    BadPadding {
        /// The pad length byte as received.
        pad_len: u8,
        /// The number of decrypted bytes before the pad length byte.
        available: usize,
    },
    /// A CBC ciphertext is not a whole number of cipher blocks (or is empty).
    #[error("ciphertext length {len} is not a non-zero multiple of the {block}-byte block")]
    NotBlockMultiple {
        /// The ciphertext length.
        len: usize,
        /// The block size.
        block: usize,
    },
    /// The encrypted body is too short to hold an IV, one pad length byte and an ICV.
    #[error("encrypted body of {len} bytes is shorter than the minimum {min}")]
    BodyTooShort {
        /// The body length.
        len: usize,
        /// The smallest valid body for the cipher.
        min: usize,
    },
    /// prf+ was asked for more than 255 blocks of output (RFC 7296 §2.13).
    #[error("prf+ asked for {requested} bytes; at most {max} (255 blocks)")]
    PrfPlusTooLong {
        /// The number of bytes requested.
        requested: usize,
        /// 255 times the PRF output length.
        max: usize,
    },
    /// A key has the wrong length for its algorithm.
    #[error("{what} key is {actual} bytes, expected {expected}")]
    KeyLength {
        /// Which key (e.g. "encryption", "integrity").
        what: &'static str,
        /// The length the algorithm requires.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// An IV has the wrong length for the cipher.
    #[error("IV is {actual} bytes, expected {expected}")]
    IvLength {
        /// The cipher's IV length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A non-AEAD cipher was configured without an integrity algorithm.
    #[error("a non-AEAD encryption algorithm needs an integrity algorithm")]
    IntegRequired,
    /// An AEAD cipher was configured with an integrity algorithm (RFC 5282 §8: none is allowed).
    #[error("an AEAD encryption algorithm takes no integrity algorithm")]
    IntegWithAead,
    /// The plaintext is too long for the cipher (AES-GCM limit; never reached by IKE messages).
    #[error("plaintext too long for the cipher")]
    PlaintextTooLong,
    /// The operating system's random number generator failed.
    #[error("the random number generator failed")]
    Rng,
}
