//! IKEv2 cryptography (RFC 7296 §2.13–2.18, RFC 5282, RFC 3526, RFC 5903, RFC 8031).
//!
//! - [`PrfAlg`]: the PRFs (HMAC-SHA-256/384/512) and prf+ (§2.13);
//! - [`skeyseed`], [`skeyseed_rekey`], [`derive_ike_keys`], [`child_keys`]: key derivation
//!   (§2.14, §2.17, §2.18);
//! - [`EncrAlg`], [`IntegAlg`], [`SkCipher`]: the SK payload's protection (§3.14, RFC 5282);
//! - [`DhGroup`], [`DhPrivate`]: Diffie-Hellman groups 14, 19 and 31;
//! - [`psk_auth`], [`signed_octets`]: PSK authentication (§2.15);
//! - [`nat_detection_hash`] (§2.23) and [`cookie`] (§2.6);
//! - [`Random`], [`OsRandom`], [`TestRandom`]: randomness, real or reproducible.
//!
//! Secrets live in [`Zeroizing`](zeroize::Zeroizing) buffers or in types that wipe
//! themselves on drop, and no `Debug` output shows them. Nothing here panics on data received
//! from a peer; every such failure is a [`CryptoError`].

mod alg;
mod auth;
mod dh;
mod error;
mod keys;
mod prf;
mod random;
mod sk;

#[cfg(test)]
mod test_util;

pub use alg::{EncrAlg, IntegAlg};
pub use auth::{KEY_PAD, cookie, cookie_matches, cookie_secret_id, ct_eq, nat_detection_hash, psk_auth, signed_octets};
pub use dh::{DhGroup, DhPrivate};
pub use error::CryptoError;
pub use keys::{ChildKeys, IkeKeys, child_keys, derive_ike_keys, skeyseed, skeyseed_rekey};
pub use prf::{PRF_PLUS_MAX_BLOCKS, PrfAlg};
pub use random::{OsRandom, Random, TestRandom};
pub use sk::SkCipher;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    /// The engine may keep these in state shared across threads.
    #[test]
    fn state_types_are_send_and_sync() {
        assert_send_sync::<SkCipher>();
        assert_send_sync::<DhPrivate>();
        assert_send_sync::<IkeKeys>();
        assert_send_sync::<ChildKeys>();
        assert_send_sync::<TestRandom>();
        assert_send_sync::<CryptoError>();
    }
}
