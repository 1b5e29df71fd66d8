//! Pseudorandom functions (RFC 7296 §3.3.2 transform type 2, RFC 4868) and prf+ (§2.13).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::CryptoError;

/// An IKEv2 pseudorandom function (transform type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PrfAlg {
    /// PRF_HMAC_SHA2_256, transform ID 5 (RFC 4868).
    HmacSha256,
    /// PRF_HMAC_SHA2_384, transform ID 6 (RFC 4868).
    HmacSha384,
    /// PRF_HMAC_SHA2_512, transform ID 7 (RFC 4868).
    HmacSha512,
}

/// The most blocks prf+ may produce: its counter is one octet (RFC 7296 §2.13).
pub const PRF_PLUS_MAX_BLOCKS: usize = 255;

impl PrfAlg {
    /// The PRF with IKEv2 transform ID `id`, if supported.
    pub fn from_id(id: u16) -> Option<PrfAlg> {
        match id {
            5 => Some(PrfAlg::HmacSha256),
            6 => Some(PrfAlg::HmacSha384),
            7 => Some(PrfAlg::HmacSha512),
            _ => None,
        }
    }

    /// The IKEv2 transform ID.
    pub fn id(self) -> u16 {
        match self {
            PrfAlg::HmacSha256 => 5,
            PrfAlg::HmacSha384 => 6,
            PrfAlg::HmacSha512 => 7,
        }
    }

    /// The output length in bytes (32, 48 or 64).
    pub fn output_len(self) -> usize {
        match self {
            PrfAlg::HmacSha256 => 32,
            PrfAlg::HmacSha384 => 48,
            PrfAlg::HmacSha512 => 64,
        }
    }

    /// The preferred key length in bytes: the output length (RFC 4868 §2.1.2, RFC 7296 §2.13),
    /// which is the length of SK_d, SK_pi and SK_pr.
    pub fn key_len(self) -> usize {
        self.output_len()
    }

    /// `prf(key, data)`: HMAC with the PRF's hash. HMAC takes keys of any length.
    ///
    /// The result is a plain `Vec`; when it is key material (as inside
    /// [`skeyseed`](super::skeyseed)), the crate's own callers use a zeroizing variant.
    pub fn prf(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = self.prf_parts(key, &[data]);
        std::mem::take(&mut *out)
    }

    /// `prf(key, parts[0] | parts[1] | ...)`, without building the concatenation, into a
    /// buffer that is wiped on drop.
    pub(crate) fn prf_parts(self, key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
        match self {
            PrfAlg::HmacSha256 => hmac_parts::<Hmac<Sha256>>(key, parts),
            PrfAlg::HmacSha384 => hmac_parts::<Hmac<Sha384>>(key, parts),
            PrfAlg::HmacSha512 => hmac_parts::<Hmac<Sha512>>(key, parts),
        }
    }

    /// prf+ (RFC 7296 §2.13): the first `len` bytes of `T1 | T2 | ...` where
    /// `T1 = prf(K, S | 0x01)` and `Tn = prf(K, Tn-1 | S | n)`.
    ///
    /// # Errors
    /// [`CryptoError::PrfPlusTooLong`] if `len` needs more than 255 blocks.
    pub fn prf_plus(self, key: &[u8], seed: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let block = self.output_len();
        let max = PRF_PLUS_MAX_BLOCKS * block;
        if len > max {
            return Err(CryptoError::PrfPlusTooLong { requested: len, max });
        }
        let blocks = len.div_ceil(block);
        let mut out = Zeroizing::new(Vec::with_capacity(blocks * block));
        for n in 1..=blocks {
            // n <= 255 was checked above.
            let counter = [n as u8];
            let t = if n == 1 {
                self.prf_parts(key, &[seed, &counter])
            } else {
                let prev = &out[(n - 2) * block..(n - 1) * block];
                self.prf_parts(key, &[prev, seed, &counter])
            };
            out.extend_from_slice(&t);
        }
        out.truncate(len);
        Ok(out)
    }
}

/// HMAC of the concatenation of `parts`, into a zeroizing buffer.
pub(crate) fn hmac_parts<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    // HMAC's `new_from_slice` accepts every key length (long keys are hashed, short ones
    // padded); it has no error path, so this cannot fail on any input.
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    Zeroizing::new(tag.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::h;

    #[test]
    fn ids_round_trip() {
        for alg in [PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512] {
            assert_eq!(PrfAlg::from_id(alg.id()), Some(alg));
            assert_eq!(alg.key_len(), alg.output_len());
        }
        assert_eq!(PrfAlg::from_id(2), None); // HMAC-SHA1: not supported
        assert_eq!(PrfAlg::from_id(0), None);
        assert_eq!(PrfAlg::HmacSha256.output_len(), 32);
        assert_eq!(PrfAlg::HmacSha384.output_len(), 48);
        assert_eq!(PrfAlg::HmacSha512.output_len(), 64);
    }

    /// RFC 4231 §4: (test case, key, data, HMAC-SHA-256, HMAC-SHA-384, HMAC-SHA-512).
    const RFC4231: &[(&str, &str, &str, &str, &str, &str)] = &[
        (
            "4.2 test case 1",
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            "4869205468657265", // "Hi There"
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c\
             faea9ea9076ede7f4af152e8b2fa9cb6",
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
             daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
        (
            "4.3 test case 2",
            "4a656665", // "Jefe"
            "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
             8e2240ca5e69e2c78b3239ecfab21649",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
        (
            "4.4 test case 3",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\
             dddddddddddddddddddddddddddddddddddd",
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b\
             2a5ab39dc13814b94e3ab6e101a34f27",
            "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39\
             bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
        ),
        (
            "4.7 test case 6 (131-byte key)",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaa",
            // "Test Using Larger Than Block-Size Key - Hash Key First"
            "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a\
             65204b6579202d2048617368204b6579204669727374",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6\
             0c2ef6ab4030fe8296248df163f44952",
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352\
             6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
        ),
        (
            "4.8 test case 7 (131-byte key, long data)",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
             aaaaaa",
            // "This is a test using a larger than block-size key and a larger than block-size
            // data. The key needs to be hashed before being used by the HMAC algorithm."
            "5468697320697320612074657374207573696e672061206c6172676572207468\
             616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074\
             68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565\
             647320746f20626520686173686564206265666f7265206265696e6720757365\
             642062792074686520484d414320616c676f726974686d2e",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5\
             a678cc31e799176d3860e6110c46523e",
            "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944\
             b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
        ),
    ];

    #[test]
    fn rfc4231_vectors() {
        for (name, key, data, s256, s384, s512) in RFC4231 {
            let (key, data) = (h(key), h(data));
            assert_eq!(PrfAlg::HmacSha256.prf(&key, &data), h(s256), "{name} SHA-256");
            assert_eq!(PrfAlg::HmacSha384.prf(&key, &data), h(s384), "{name} SHA-384");
            assert_eq!(PrfAlg::HmacSha512.prf(&key, &data), h(s512), "{name} SHA-512");
        }
    }

    /// Keys of the PRF's preferred length: the untruncated HMAC values behind the
    /// RFC 4868 §2.7.2.2 authenticator test cases AUTH256-1 and AUTH384-1.
    #[test]
    fn rfc4868_prf_with_preferred_key_length() {
        // key = 0x0b x 32, "Hi There" (AUTH256-1, before truncation).
        assert_eq!(
            PrfAlg::HmacSha256.prf(&[0x0b; 32], b"Hi There"),
            h("198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7")
        );
        // key = 0x0b x 48 (AUTH384-1, before truncation).
        assert_eq!(
            PrfAlg::HmacSha384.prf(&[0x0b; 48], b"Hi There"),
            h("b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc\
               4c5df61d5b3297b4fb68dab9f1b582c2")
        );
    }

    /// prf+ checked against an independent computation with raw `hmac` calls.
    #[test]
    fn prf_plus_matches_its_definition() {
        fn raw(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        let key = b"prf+ key";
        let seed = b"some seed bytes";
        let t1 = raw(key, &[seed, &[1]]);
        let t2 = raw(key, &[&t1, seed, &[2]]);
        let t3 = raw(key, &[&t2, seed, &[3]]);
        let expected: Vec<u8> = [t1.clone(), t2, t3].concat();

        for len in [0, 1, 31, 32, 33, 64, 70, 96] {
            let got = PrfAlg::HmacSha256.prf_plus(key, seed, len).unwrap();
            assert_eq!(&got[..], &expected[..len], "len {len}");
        }
        // The first block is just prf(K, S | 0x01).
        assert_eq!(PrfAlg::HmacSha256.prf(key, b"some seed bytes\x01"), t1);
    }

    #[test]
    fn prf_plus_block_limit() {
        for alg in [PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512] {
            let max = 255 * alg.output_len();
            let full = alg.prf_plus(b"k", b"s", max).unwrap();
            assert_eq!(full.len(), max);
            assert_eq!(alg.prf_plus(b"k", b"s", max + 1), Err(CryptoError::PrfPlusTooLong { requested: max + 1, max }));
        }
        assert!(PrfAlg::HmacSha256.prf_plus(b"k", b"s", usize::MAX).is_err());
    }

    #[test]
    fn prf_plus_last_block_uses_counter_255() {
        let alg = PrfAlg::HmacSha256;
        let full = alg.prf_plus(b"k", b"s", 255 * 32).unwrap();
        let t254 = &full[253 * 32..254 * 32];
        let t255 = alg.prf_parts(b"k", &[t254, b"s", &[255]]);
        assert_eq!(&full[254 * 32..], &t255[..]);
    }
}
