//! Diffie-Hellman groups 14 (MODP-2048), 19 (ECP-256) and 31 (Curve25519).

use std::sync::LazyLock;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U2048};
use p256::elliptic_curve::sec1::ToSec1Point;
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, Random};

/// A Diffie-Hellman group (IKEv2 transform type 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DhGroup {
    /// 2048-bit MODP group, transform ID 14 (RFC 3526 §3), generator 2.
    Modp2048,
    /// 256-bit random ECP group (NIST P-256), transform ID 19 (RFC 5903).
    Ecp256,
    /// Curve25519 (X25519), transform ID 31 (RFC 8031).
    Curve25519,
}

/// The RFC 3526 §3 2048-bit MODP prime,
/// `2^2048 - 2^1984 - 1 + 2^64 * ( [2^1918 pi] + 124476 )`.
const MODP2048_P_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// The modulus length of group 14 in bytes.
const MODP2048_LEN: usize = 256;

/// Bits of a generated MODP-2048 exponent. RFC 3526 §8 estimates the group's strength at
/// 110 to 160 bits and asks for an exponent of at least twice that (220 to 320 bits); 384
/// leaves a margin and keeps the exponentiation ~5 times cheaper than a full-length one.
const MODP2048_EXP_BITS: u32 = 384;

/// Montgomery parameters for the group 14 prime, computed once.
static MODP2048: LazyLock<FixedMontyParams<{ U2048::LIMBS }>> =
    LazyLock::new(|| FixedMontyParams::new(Odd::<U2048>::from_be_hex(MODP2048_P_HEX)));

fn modp_prime() -> &'static U2048 {
    MODP2048.modulus().as_ref()
}

impl DhGroup {
    /// The group with IKEv2 transform ID `id`, if supported.
    pub fn from_id(id: u16) -> Option<DhGroup> {
        match id {
            14 => Some(DhGroup::Modp2048),
            19 => Some(DhGroup::Ecp256),
            31 => Some(DhGroup::Curve25519),
            _ => None,
        }
    }

    /// The IKEv2 transform ID (14, 19 or 31).
    pub fn id(self) -> u16 {
        match self {
            DhGroup::Modp2048 => 14,
            DhGroup::Ecp256 => 19,
            DhGroup::Curve25519 => 31,
        }
    }

    /// The length of the KE payload's data: 256 (MODP, padded to the modulus), 64 (ECP-256
    /// x | y, RFC 5903 §7) or 32 (X25519, RFC 8031 §2).
    pub fn public_len(self) -> usize {
        match self {
            DhGroup::Modp2048 => MODP2048_LEN,
            DhGroup::Ecp256 => 64,
            DhGroup::Curve25519 => 32,
        }
    }

    /// The length of the shared secret g^ir: 256 (MODP), 32 (ECP-256 x coordinate), 32
    /// (X25519).
    pub fn shared_len(self) -> usize {
        match self {
            DhGroup::Modp2048 => MODP2048_LEN,
            DhGroup::Ecp256 | DhGroup::Curve25519 => 32,
        }
    }

    /// A fresh private value (and its public value) drawn from `rng`.
    ///
    /// MODP-2048 exponents have 384 bits, the top one set; ECP-256 scalars are uniform in
    /// [1, n-1] (rejection sampling); X25519 scalars are 32 random bytes (clamped when used).
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the generator fails (see [`Random::try_fill`]).
    pub fn generate(self, rng: &mut dyn Random) -> Result<DhPrivate, CryptoError> {
        match self {
            DhGroup::Modp2048 => {
                let mut bytes = Zeroizing::new([0u8; (MODP2048_EXP_BITS / 8) as usize]);
                rng.try_fill(&mut bytes[..])?;
                bytes[0] |= 0x80;
                DhPrivate::modp(&bytes[..])
            }
            DhGroup::Ecp256 => {
                // The chance that 32 random bytes are not a valid scalar is about 2^-32, so
                // a few tries are plenty; a generator that keeps failing is broken.
                let mut bytes = Zeroizing::new([0u8; 32]);
                for _ in 0..16 {
                    rng.try_fill(&mut bytes[..])?;
                    if let Ok(private) = DhPrivate::ecp256(&bytes[..]) {
                        return Ok(private);
                    }
                }
                Err(CryptoError::Rng)
            }
            DhGroup::Curve25519 => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                rng.try_fill(&mut bytes[..])?;
                Ok(DhPrivate::x25519(&bytes))
            }
        }
    }
}

/// A Diffie-Hellman private value with its public value. The secret is wiped on drop and
/// never printed by `Debug`.
pub struct DhPrivate {
    public: Vec<u8>,
    secret: Secret,
}

enum Secret {
    Modp {
        exponent: Box<Zeroizing<U2048>>,
        /// Bits of `exponent` used by the exponentiation (a public length, not its value).
        bits: u32,
    },
    Ecp256(p256::SecretKey),
    X25519(Zeroizing<[u8; 32]>),
}

impl DhPrivate {
    /// A private value from its encoding, for known-answer tests and reproducible simulations:
    /// MODP a big-endian exponent of 1 to 256 bytes (its byte length, not its value, sets the
    /// exponentiation's length), ECP-256 a 32-byte big-endian scalar in [1, n-1], X25519 a
    /// 32-byte scalar (RFC 7748 §5 encoding).
    ///
    /// # Errors
    /// [`CryptoError::BadPrivateValue`] for a wrong length, zero, or an out-of-range scalar.
    pub fn from_secret(group: DhGroup, secret: &[u8]) -> Result<DhPrivate, CryptoError> {
        let bad = CryptoError::BadPrivateValue { group: group.id() };
        match group {
            DhGroup::Modp2048 => DhPrivate::modp(secret),
            DhGroup::Ecp256 => DhPrivate::ecp256(secret),
            DhGroup::Curve25519 => {
                let bytes: &[u8; 32] = secret.try_into().map_err(|_| bad)?;
                Ok(DhPrivate::x25519(&Zeroizing::new(*bytes)))
            }
        }
    }

    fn modp(secret: &[u8]) -> Result<DhPrivate, CryptoError> {
        let bad = CryptoError::BadPrivateValue { group: DhGroup::Modp2048.id() };
        if secret.is_empty() || secret.len() > MODP2048_LEN || secret.iter().all(|&b| b == 0) {
            return Err(bad);
        }
        let mut padded = Zeroizing::new([0u8; MODP2048_LEN]);
        padded[MODP2048_LEN - secret.len()..].copy_from_slice(secret);
        let exponent = Box::new(Zeroizing::new(U2048::from_be_slice(&padded[..])));
        let bits = 8 * secret.len() as u32;
        let two = FixedMontyForm::new(&U2048::from_u8(2), &MODP2048);
        let public = two.pow_bounded_exp(&**exponent, bits).retrieve();
        Ok(DhPrivate { public: public.to_be_bytes().as_ref().to_vec(), secret: Secret::Modp { exponent, bits } })
    }

    fn ecp256(secret: &[u8]) -> Result<DhPrivate, CryptoError> {
        let bad = CryptoError::BadPrivateValue { group: DhGroup::Ecp256.id() };
        let bytes: &[u8; 32] = secret.try_into().map_err(|_| bad.clone())?;
        let key = p256::SecretKey::from_bytes(&(*bytes).into()).map_err(|_| bad)?;
        let point = key.public_key().to_sec1_point(false);
        // Uncompressed SEC1 is 0x04 | x | y; IKEv2 sends x | y (RFC 5903 §7).
        let public = point.as_bytes()[1..].to_vec();
        Ok(DhPrivate { public, secret: Secret::Ecp256(key) })
    }

    fn x25519(secret: &Zeroizing<[u8; 32]>) -> DhPrivate {
        let public = x25519_dalek::x25519(**secret, x25519_dalek::X25519_BASEPOINT_BYTES);
        DhPrivate { public: public.to_vec(), secret: Secret::X25519(secret.clone()) }
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        match self.secret {
            Secret::Modp { .. } => DhGroup::Modp2048,
            Secret::Ecp256(_) => DhGroup::Ecp256,
            Secret::X25519(_) => DhGroup::Curve25519,
        }
    }

    /// The KE payload's Key Exchange Data ([`DhGroup::public_len`] bytes): MODP big-endian
    /// padded to 256 bytes, ECP-256 `x | y` without the 0x04 prefix, X25519 32 bytes.
    pub fn public(&self) -> Vec<u8> {
        self.public.clone()
    }

    /// The shared secret g^ir from the peer's Key Exchange Data.
    ///
    /// - MODP-2048: the peer value must be 256 bytes and 1 < y < p-1 (the partial public-key
    ///   validation of NIST SP 800-56A; p is a safe prime, so this excludes the only small
    ///   subgroups); the result is big-endian, left-padded to 256 bytes. The exponentiation is
    ///   constant time.
    /// - ECP-256: `x | y` must be a point on the curve (checked when decoding `0x04 | x | y`);
    ///   the result is the x coordinate (32 bytes, RFC 5903 §7).
    /// - X25519: the all-zero result of a low-order point is rejected (RFC 7748 §6.1,
    ///   RFC 8031 §2.3).
    ///
    /// # Errors
    /// [`CryptoError::PublicValueLength`], [`CryptoError::BadPublicValue`] or
    /// [`CryptoError::DegenerateSharedSecret`].
    pub fn shared(&self, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let group = self.group();
        if peer_public.len() != group.public_len() {
            return Err(CryptoError::PublicValueLength {
                group: group.id(),
                expected: group.public_len(),
                actual: peer_public.len(),
            });
        }
        let bad = CryptoError::BadPublicValue { group: group.id() };
        match &self.secret {
            Secret::Modp { exponent, bits } => {
                let y = U2048::from_be_slice(peer_public);
                let p_minus_1 = modp_prime().wrapping_sub(&U2048::ONE);
                // Public values, so a variable-time comparison leaks nothing.
                if y <= U2048::ONE || y >= p_minus_1 {
                    return Err(bad);
                }
                let mut base = FixedMontyForm::new(&y, &MODP2048);
                let mut power = base.pow_bounded_exp(&***exponent, *bits);
                let mut z = power.retrieve();
                let shared = Zeroizing::new(z.to_be_bytes().as_ref().to_vec());
                base.zeroize();
                power.zeroize();
                z.zeroize();
                Ok(shared)
            }
            Secret::Ecp256(key) => {
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..].copy_from_slice(peer_public);
                let peer = p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| bad)?;
                let shared = key.diffie_hellman(&peer);
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            Secret::X25519(scalar) => {
                let mut u = [0u8; 32];
                u.copy_from_slice(peer_public);
                let shared = Zeroizing::new(x25519_dalek::x25519(**scalar, u));
                // Constant-time all-zero check.
                if shared.iter().fold(0u8, |acc, &b| acc | b) == 0 {
                    return Err(CryptoError::DegenerateSharedSecret { group: group.id() });
                }
                Ok(Zeroizing::new(shared.to_vec()))
            }
        }
    }
}

impl std::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group())
            .field("public_len", &self.public.len())
            .finish_non_exhaustive()
    }
}
