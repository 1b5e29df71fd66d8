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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::TestRandom;
    use crate::crypto::test_util::h;

    #[test]
    fn group_ids_and_lengths() {
        for (g, id, len) in [(DhGroup::Modp2048, 14, 256), (DhGroup::Ecp256, 19, 64), (DhGroup::Curve25519, 31, 32)] {
            assert_eq!(DhGroup::from_id(id), Some(g));
            assert_eq!((g.id(), g.public_len()), (id, len));
        }
        assert_eq!(DhGroup::from_id(2), None);
        assert_eq!(DhGroup::from_id(20), None);
    }

    #[test]
    fn generated_values_agree_in_every_group() {
        let mut rng = TestRandom::new(1);
        for g in [DhGroup::Modp2048, DhGroup::Ecp256, DhGroup::Curve25519] {
            let a = g.generate(&mut rng).unwrap();
            let b = g.generate(&mut rng).unwrap();
            assert_eq!(a.group(), g);
            assert_eq!(a.public().len(), g.public_len());
            assert_ne!(a.public(), b.public());
            let ab = a.shared(&b.public()).unwrap();
            let ba = b.shared(&a.public()).unwrap();
            assert_eq!(ab, ba, "{g:?}");
            assert_eq!(ab.len(), g.shared_len());
            // Reproducible from the same seed.
            let again = g.generate(&mut TestRandom::new(1)).unwrap();
            let first = g.generate(&mut TestRandom::new(1)).unwrap();
            assert_eq!(again.public(), first.public());
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let x = DhPrivate::from_secret(DhGroup::Curve25519, &[0x42; 32]).unwrap();
        let s = format!("{x:?}");
        assert_eq!(s, "DhPrivate { group: Curve25519, public_len: 32, .. }");
    }

    // ---- MODP-2048 (RFC 3526 group 14) ----

    fn modp_p() -> Vec<u8> {
        h(MODP2048_P_HEX)
    }

    fn be_u(len: usize, set: &[(usize, u8)]) -> Vec<u8> {
        let mut v = vec![0u8; len];
        for &(i, b) in set {
            v[i] = b;
        }
        v
    }

    #[test]
    fn modp_small_exponents() {
        // 2^2 = 4 and 2^255, left-padded to 256 bytes: checkable by hand.
        let x = DhPrivate::from_secret(DhGroup::Modp2048, &[2]).unwrap();
        assert_eq!(x.public(), be_u(256, &[(255, 4)]));
        let x = DhPrivate::from_secret(DhGroup::Modp2048, &[0xff]).unwrap();
        assert_eq!(x.public(), be_u(256, &[(256 - 32, 0x80)]));
        // Peer value 2 with exponent 2: the shared secret 4 is left-padded too.
        let x = DhPrivate::from_secret(DhGroup::Modp2048, &[2]).unwrap();
        assert_eq!(&x.shared(&be_u(256, &[(255, 2)])).unwrap()[..], &be_u(256, &[(255, 4)]));
    }

    /// 384-bit exponents a and b; g^a, g^b and g^ab were computed independently at authoring
    /// time with python3: `pow(2, a, p)`, `pow(2, b, p)`, `pow(pow(2, b, p), a, p)` with p the
    /// RFC 3526 prime, as 256-byte big-endian strings.
    #[test]
    fn modp_known_answer() {
        let a = h("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\
                   2122232425262728292a2b2c2d2e2f30");
        let b = h("a5a4a7a6a1a0a3a2adacafaea9a8abaab5b4b7b6b1b0b3b2bdbcbfbeb9b8bbba\
                   85848786818083828d8c8f8e89888b8a");
        let ga = h("9cfc875d28c50e49c8b19ce7ee7e4d56c75229955bdb2a8a83f1d24153ed7271
                    b34bd3ed791b27eb60ee0f5be49ef7422f363cbb713f2e86b6febe29e55376e6
                    0ed446bd5e45f9618c1e4f2c179d6c9b16e7fc7169de7a10e68cd36bfe0d654e
                    21b123d11dba85184877ed46654fcc7036f56b084def2b993328535e3f384447
                    77c6ce90fd69afe5258f801183403c57989d277e32ad4c50530221d37ef921cb
                    6a3d3f76d73b51f25eee77ed7a6b82a11d9e8d0d3e8139790b8973ba42caf496
                    be818af4cd79c6ab1c7a722c0be115916d5c55dc4b46ea1200a801685c3d9346
                    ba4b94e3b7fa755e7f120b75250017614d9a5d85d3a6f9bcb9d532f58560091e");
        let gb = h("15da72d557a349dbd9a071bd4afbad692e7c199a7088f1428d2ba26a62752479
                    3801d85aa658652b015a404fab78ec40194da15cfcde5dd6b9d12799f3162ff3
                    aea0bb2ccfc17295c8b66ba821c6ea7b2a4dc2f26fed709e0d087854b17dc25f
                    3ee80642dd1680ebe19798ec3ec043bbce576a9a6d09cfedf5e905bdc12d846c
                    24d70de771eb5a318aa92d531c6d9b722ffd787ed460809702e5a2159bf15187
                    703e6dd3b402c1afe3bde36811ad4d506a7905c1d8911077c9b3b9e633aa7062
                    0c5897c8237f76d7a4b6a589eee69d84a9178e14fcee1ff7c7d501c5ed6117d9
                    26652f83e0e95299cbab43472ae501000dc3627e818aa6d4e2f665a113b4d4c7");
        let gab = h("e31083b7a172c2699cd493b2feac2b41e631a92286c1bbc3603d9af8beed7c15
                     7e5b9e8641781c8a078878bd94e4d741244571479b6f0b0e242e463e9ca101dc
                     d1fd6b18fab808bbf7e12f08c33116558acbd24ef7a8eac5437d46af5cd4e93b
                     3920daf2129063d9cc8fa7dd9bfc254b2b30621a93b30eb3affbd6c1e5f8bd73
                     7ecfb65613a1bb94a8b556c1ef7b993ee832762a32102cb5628432fdf12075f7
                     6c488ed32b42a32efecdf26335db29a28554ef06cc4eba56e71a24825ff55923
                     8d4c753238bf1dc428955020d04fd5ee7d535a5c04319dfd2b9da7fc800e9e44
                     fcb8e70084bc527359a11f8daa6658a205690e305fd77e2af679c0069d475d0b");
        let xa = DhPrivate::from_secret(DhGroup::Modp2048, &a).unwrap();
        let xb = DhPrivate::from_secret(DhGroup::Modp2048, &b).unwrap();
        assert_eq!(xa.public(), ga);
        assert_eq!(xb.public(), gb);
        assert_eq!(&xa.shared(&gb).unwrap()[..], &gab[..]);
        assert_eq!(&xb.shared(&ga).unwrap()[..], &gab[..]);
        // Leading zero bytes of the exponent only lengthen the exponentiation.
        let padded = [&[0u8; 16][..], &a].concat();
        let xa2 = DhPrivate::from_secret(DhGroup::Modp2048, &padded).unwrap();
        assert_eq!(xa2.public(), ga);
    }

    #[test]
    fn modp_rejects_bad_peer_values() {
        let x = DhGroup::Modp2048.generate(&mut TestRandom::new(3)).unwrap();
        let bad = Err(CryptoError::BadPublicValue { group: 14 });
        let p = modp_p();
        let mut p_minus_1 = p.clone();
        p_minus_1[255] = 0xfe;
        let mut p_minus_2 = p.clone();
        p_minus_2[255] = 0xfd;
        let mut above_p = p.clone();
        above_p[100] = above_p[100].wrapping_add(1);
        assert!(above_p > p);
        for (name, y) in [
            ("0", be_u(256, &[])),
            ("1", be_u(256, &[(255, 1)])),
            ("p-1", p_minus_1),
            ("p", p.clone()),
            ("above p", above_p),
            ("2^2048-1", vec![0xff; 256]),
        ] {
            assert_eq!(x.shared(&y), bad, "{name}");
        }
        assert!(x.shared(&be_u(256, &[(255, 2)])).is_ok());
        assert!(x.shared(&p_minus_2).is_ok());
        for len in [0, 1, 255, 257] {
            assert_eq!(
                x.shared(&vec![2; len]),
                Err(CryptoError::PublicValueLength { group: 14, expected: 256, actual: len })
            );
        }
    }

    #[test]
    fn modp_rejects_bad_private_values() {
        let bad = Err(CryptoError::BadPrivateValue { group: 14 });
        assert_eq!(DhPrivate::from_secret(DhGroup::Modp2048, &[]).map(|_| ()), bad);
        assert_eq!(DhPrivate::from_secret(DhGroup::Modp2048, &[0; 8]).map(|_| ()), bad);
        assert_eq!(DhPrivate::from_secret(DhGroup::Modp2048, &[1; 257]).map(|_| ()), bad);
    }

    // ---- ECP-256 (RFC 5903 §8.1) ----

    const ECP_I: &str = "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433";
    const ECP_GI: &str = "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180\
                          5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3";
    const ECP_R: &str = "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53";
    const ECP_GR: &str = "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63\
                          56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB";
    const ECP_GIR_X: &str = "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE";

    #[test]
    fn ecp256_rfc5903_vector() {
        let i = DhPrivate::from_secret(DhGroup::Ecp256, &h(ECP_I)).unwrap();
        let r = DhPrivate::from_secret(DhGroup::Ecp256, &h(ECP_R)).unwrap();
        assert_eq!(i.public(), h(ECP_GI));
        assert_eq!(r.public(), h(ECP_GR));
        assert_eq!(&i.shared(&h(ECP_GR)).unwrap()[..], &h(ECP_GIR_X)[..]);
        assert_eq!(&r.shared(&h(ECP_GI)).unwrap()[..], &h(ECP_GIR_X)[..]);
    }

    #[test]
    fn ecp256_rejects_points_off_the_curve() {
        let i = DhPrivate::from_secret(DhGroup::Ecp256, &h(ECP_I)).unwrap();
        let bad = Err(CryptoError::BadPublicValue { group: 19 });
        let mut off = h(ECP_GR);
        off[63] ^= 1;
        assert_eq!(i.shared(&off), bad, "y changed by one bit");
        let mut off = h(ECP_GR);
        off[0] ^= 0x80;
        assert_eq!(i.shared(&off), bad, "x changed");
        assert_eq!(i.shared(&[0; 64]), bad, "(0, 0)");
        assert_eq!(i.shared(&[0xff; 64]), bad, "coordinates above p");
        // With the SEC1 prefix the length is wrong: IKEv2 sends x | y only.
        let prefixed = [&[4u8][..], &h(ECP_GR)].concat();
        assert_eq!(i.shared(&prefixed), Err(CryptoError::PublicValueLength { group: 19, expected: 64, actual: 65 }));
    }

    #[test]
    fn ecp256_rejects_bad_private_values() {
        let bad = Err(CryptoError::BadPrivateValue { group: 19 });
        let order = h("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
        assert_eq!(DhPrivate::from_secret(DhGroup::Ecp256, &[0; 32]).map(|_| ()), bad);
        assert_eq!(DhPrivate::from_secret(DhGroup::Ecp256, &order).map(|_| ()), bad);
        assert_eq!(DhPrivate::from_secret(DhGroup::Ecp256, &[1; 31]).map(|_| ()), bad);
        let mut below = order.clone();
        below[31] -= 1;
        assert!(DhPrivate::from_secret(DhGroup::Ecp256, &below).is_ok());
    }

    // ---- X25519 (RFC 7748 §6.1) ----

    const ALICE: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const ALICE_PUB: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    const BOB: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    const BOB_PUB: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    const X_SHARED: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

    #[test]
    fn x25519_rfc7748_vector() {
        let a = DhPrivate::from_secret(DhGroup::Curve25519, &h(ALICE)).unwrap();
        let b = DhPrivate::from_secret(DhGroup::Curve25519, &h(BOB)).unwrap();
        assert_eq!(a.public(), h(ALICE_PUB));
        assert_eq!(b.public(), h(BOB_PUB));
        assert_eq!(&a.shared(&h(BOB_PUB)).unwrap()[..], &h(X_SHARED)[..]);
        assert_eq!(&b.shared(&h(ALICE_PUB)).unwrap()[..], &h(X_SHARED)[..]);
    }

    #[test]
    fn x25519_rejects_low_order_points() {
        let a = DhPrivate::from_secret(DhGroup::Curve25519, &h(ALICE)).unwrap();
        let degenerate = Err(CryptoError::DegenerateSharedSecret { group: 31 });
        let mut one = [0u8; 32];
        one[0] = 1;
        for (name, u) in [
            ("u = 0", [0u8; 32].to_vec()),
            ("u = 1", one.to_vec()),
            ("a point of order 8", h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")),
            ("u = p (= 0 mod p)", h("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")),
        ] {
            assert_eq!(a.shared(&u), degenerate, "{name}");
        }
        assert_eq!(a.shared(&[9; 31]), Err(CryptoError::PublicValueLength { group: 31, expected: 32, actual: 31 }));
        assert_eq!(
            DhPrivate::from_secret(DhGroup::Curve25519, &[1; 33]).map(|_| ()),
            Err(CryptoError::BadPrivateValue { group: 31 })
        );
    }
}
