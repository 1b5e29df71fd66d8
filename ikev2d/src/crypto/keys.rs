//! Key derivation: SKEYSEED and the IKE SA keys (RFC 7296 §2.14, §2.18), Child SA keying
//! material (§2.17).

use zeroize::Zeroizing;

use super::{CryptoError, EncrAlg, IntegAlg, PrfAlg};

/// The seven secrets of an IKE SA (RFC 7296 §2.14), in the order prf+ produces them.
///
/// For an AEAD cipher `sk_ai` and `sk_ar` are empty and `sk_ei`/`sk_er` end with the 4-byte
/// salt. All fields are wiped on drop; `Debug` prints lengths only.
#[derive(Clone)]
pub struct IkeKeys {
    /// SK_d: the key from which Child SA keys and a rekeyed IKE SA's SKEYSEED are derived.
    pub sk_d: Zeroizing<Vec<u8>>,
    /// SK_ai: integrity key for the initiator's messages (empty for AEAD).
    pub sk_ai: Zeroizing<Vec<u8>>,
    /// SK_ar: integrity key for the responder's messages (empty for AEAD).
    pub sk_ar: Zeroizing<Vec<u8>>,
    /// SK_ei: encryption key material for the initiator's messages.
    pub sk_ei: Zeroizing<Vec<u8>>,
    /// SK_er: encryption key material for the responder's messages.
    pub sk_er: Zeroizing<Vec<u8>>,
    /// SK_pi: the key for the initiator's AUTH payload (RFC 7296 §2.15).
    pub sk_pi: Zeroizing<Vec<u8>>,
    /// SK_pr: the key for the responder's AUTH payload.
    pub sk_pr: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeKeys")
            .field("sk_d_len", &self.sk_d.len())
            .field("sk_ai_len", &self.sk_ai.len())
            .field("sk_ar_len", &self.sk_ar.len())
            .field("sk_ei_len", &self.sk_ei.len())
            .field("sk_er_len", &self.sk_er.len())
            .field("sk_pi_len", &self.sk_pi.len())
            .field("sk_pr_len", &self.sk_pr.len())
            .finish()
    }
}

/// The keys of one Child SA pair (RFC 7296 §2.17), in KEYMAT order: initiator-to-responder
/// keys first, encryption before integrity.
///
/// For AES-GCM `encr_*` end with the 4-byte salt, which is the key format of the Linux
/// kernel's `rfc4106(gcm(aes))`, and `integ_*` are empty. All fields are wiped on drop.
#[derive(Clone)]
pub struct ChildKeys {
    /// Encryption key (material) of the SA carrying initiator-to-responder traffic.
    pub encr_i: Zeroizing<Vec<u8>>,
    /// Integrity key of the SA carrying initiator-to-responder traffic (empty for AEAD).
    pub integ_i: Zeroizing<Vec<u8>>,
    /// Encryption key (material) of the SA carrying responder-to-initiator traffic.
    pub encr_r: Zeroizing<Vec<u8>>,
    /// Integrity key of the SA carrying responder-to-initiator traffic (empty for AEAD).
    pub integ_r: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ChildKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildKeys")
            .field("encr_i_len", &self.encr_i.len())
            .field("integ_i_len", &self.integ_i.len())
            .field("encr_r_len", &self.encr_r.len())
            .field("integ_r_len", &self.integ_r.len())
            .finish()
    }
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 §2.14).
///
/// The PRF key is the full `Ni | Nr`: that is the rule for PRFs such as HMAC that take keys of
/// any length. (Only PRFs with a fixed key size take half of the key from each nonce; none is
/// supported here.)
pub fn skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], shared: &[u8]) -> Zeroizing<Vec<u8>> {
    let key = Zeroizing::new([ni, nr].concat());
    prf.prf_parts(&key, &[shared])
}

/// The SKEYSEED of a rekeyed IKE SA (RFC 7296 §2.18):
/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`, with the old SA's PRF and SK_d and the
/// nonces of the CREATE_CHILD_SA exchange.
pub fn skeyseed_rekey(prf: PrfAlg, old_sk_d: &[u8], shared: &[u8], ni: &[u8], nr: &[u8]) -> Zeroizing<Vec<u8>> {
    prf.prf_parts(old_sk_d, &[shared, ni, nr])
}

fn check_combination(encr: EncrAlg, integ: Option<IntegAlg>) -> Result<usize, CryptoError> {
    match (encr.is_aead(), integ) {
        (true, Some(_)) => Err(CryptoError::IntegWithAead),
        (false, None) => Err(CryptoError::IntegRequired),
        (_, integ) => Ok(integ.map_or(0, IntegAlg::key_len)),
    }
}

/// Splits `material` into consecutive pieces of the given lengths.
fn split<const N: usize>(material: &[u8], lens: [usize; N]) -> [Zeroizing<Vec<u8>>; N] {
    let mut at = 0;
    lens.map(|len| {
        let piece = Zeroizing::new(material[at..at + len].to_vec());
        at += len;
        piece
    })
}

/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`
/// (RFC 7296 §2.14), the SPIs as 8 big-endian bytes each.
///
/// Lengths: SK_d, SK_pi and SK_pr have the PRF's key length; SK_a* the integrity key length
/// (none for AEAD); SK_e* [`EncrAlg::key_material_len`] (for GCM key | salt).
///
/// # Errors
/// [`CryptoError::IntegWithAead`] / [`CryptoError::IntegRequired`] for a wrong combination
/// of algorithms; [`CryptoError::PrfPlusTooLong`] cannot happen with the supported ones.
#[allow(clippy::too_many_arguments)]
pub fn derive_ike_keys(
    prf: PrfAlg,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
    encr: EncrAlg,
    integ: Option<IntegAlg>,
) -> Result<IkeKeys, CryptoError> {
    let integ_len = check_combination(encr, integ)?;
    let prf_len = prf.key_len();
    let encr_len = encr.key_material_len();
    let lens = [prf_len, integ_len, integ_len, encr_len, encr_len, prf_len, prf_len];
    let seed = [ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()].concat();
    let material = prf.prf_plus(skeyseed, &seed, lens.iter().sum())?;
    let [sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr] = split(&material, lens);
    Ok(IkeKeys { sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr })
}

/// Child SA keying material (RFC 7296 §2.17):
/// `KEYMAT = prf+(SK_d, Ni | Nr)`, or `prf+(SK_d, g^ir (new) | Ni | Nr)` when the
/// CREATE_CHILD_SA exchange carried KE payloads, split as `encr_i | integ_i | encr_r | integ_r`.
///
/// `ni`/`nr` are the nonces of the exchange that created the Child SA (IKE_SA_INIT's for the
/// first one); `encr`/`integ` are the Child SA's (ESP) transforms.
///
/// # Errors
/// As for [`derive_ike_keys`].
pub fn child_keys(
    prf: PrfAlg,
    sk_d: &[u8],
    dh_shared: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    encr: EncrAlg,
    integ: Option<IntegAlg>,
) -> Result<ChildKeys, CryptoError> {
    let integ_len = check_combination(encr, integ)?;
    let encr_len = encr.key_material_len();
    let lens = [encr_len, integ_len, encr_len, integ_len];
    let seed = Zeroizing::new([dh_shared.unwrap_or_default(), ni, nr].concat());
    let material = prf.prf_plus(sk_d, &seed, lens.iter().sum())?;
    let [encr_i, integ_i, encr_r, integ_r] = split(&material, lens);
    Ok(ChildKeys { encr_i, integ_i, encr_r, integ_r })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::h;

    const GCM128: EncrAlg = EncrAlg::AesGcm16 { key_bits: 128 };
    const GCM256: EncrAlg = EncrAlg::AesGcm16 { key_bits: 256 };
    const CBC128: EncrAlg = EncrAlg::AesCbc { key_bits: 128 };
    const SHA256_128: Option<IntegAlg> = Some(IntegAlg::HmacSha256_128);
    const SPI_I: u64 = 0x0123_4567_89ab_cdef;
    const SPI_R: u64 = 0xfedc_ba98_7654_3210;

    fn ni() -> Vec<u8> {
        (0..32).collect()
    }
    fn nr() -> Vec<u8> {
        (32..64).collect()
    }
    fn g_ir() -> Vec<u8> {
        vec![0x5a; 32]
    }

    // The expected values below were computed independently at authoring time with python3's
    // `hmac`/`hashlib` (prf+ written out as T1 = HMAC(K, S|01), Tn = HMAC(K, Tn-1|S|n)) from
    // Ni = 00..1f, Nr = 20..3f, g^ir = 5a x 32, SPIi = 0123456789abcdef,
    // SPIr = fedcba9876543210.
    const SKEYSEED: &str = "0379be7a7260bb2f4a774c66f724cf2431b1c91f525b5dd0b5f64af76b74bf08";
    /// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), HMAC-SHA-256, first 192 bytes.
    const KEYMAT: &str = "b6fd03067140135889bf781366d70ee5ed52cf0748e3a748d363122c89f45dcc\
                          867e7e88e0db493ae360966b62584244de47cdc7b37106d303b47ebc9ed1d173\
                          4e40cc5976558af9a96aec0a72e2af505050086f062aa028ee7deed01233a199\
                          4a7ded55e89843a33b7b64ea2707fe098024669d33dfe1e5edb05150f493b90d\
                          87af5c816242ca20c1afa34fcb51583fe4f2d17f7d7a716f045368f631130a3b\
                          6c564a65d363ca7e66ac17403365bf1b81a99bdd9337d9340f39cefbf4139d6c";

    #[test]
    fn skeyseed_known_answer() {
        let s = skeyseed(PrfAlg::HmacSha256, &ni(), &nr(), &g_ir());
        assert_eq!(&s[..], &h(SKEYSEED)[..]);
        // The key is Ni | Nr in full (HMAC rule), not half of each.
        assert_eq!(&s[..], &PrfAlg::HmacSha256.prf(&[ni(), nr()].concat(), &g_ir())[..]);
    }

    #[test]
    fn ike_keys_gcm256() {
        let keys = derive_ike_keys(PrfAlg::HmacSha256, &h(SKEYSEED), &ni(), &nr(), SPI_I, SPI_R, GCM256, None).unwrap();
        let m = h(KEYMAT);
        // SK_d 32 | SK_ai 0 | SK_ar 0 | SK_ei 36 | SK_er 36 | SK_pi 32 | SK_pr 32.
        assert_eq!(&keys.sk_d[..], &m[0..32]);
        assert!(keys.sk_ai.is_empty() && keys.sk_ar.is_empty());
        assert_eq!(&keys.sk_ei[..], &m[32..68]);
        assert_eq!(&keys.sk_er[..], &m[68..104]);
        assert_eq!(&keys.sk_pi[..], &m[104..136]);
        assert_eq!(&keys.sk_pr[..], &m[136..168]);

        // The same split against a direct prf+ call.
        let seed = [&ni()[..], &nr(), &SPI_I.to_be_bytes(), &SPI_R.to_be_bytes()].concat();
        let direct = PrfAlg::HmacSha256.prf_plus(&h(SKEYSEED), &seed, 168).unwrap();
        assert_eq!(&direct[..], &m[..168]);
    }

    #[test]
    fn ike_keys_cbc128_hmac_sha256() {
        let keys =
            derive_ike_keys(PrfAlg::HmacSha256, &h(SKEYSEED), &ni(), &nr(), SPI_I, SPI_R, CBC128, SHA256_128).unwrap();
        let m = h(KEYMAT);
        // SK_d 32 | SK_ai 32 | SK_ar 32 | SK_ei 16 | SK_er 16 | SK_pi 32 | SK_pr 32.
        let pieces = [&keys.sk_d, &keys.sk_ai, &keys.sk_ar, &keys.sk_ei, &keys.sk_er, &keys.sk_pi, &keys.sk_pr];
        let lens = [32, 32, 32, 16, 16, 32, 32];
        let mut at = 0;
        for (piece, len) in pieces.into_iter().zip(lens) {
            assert_eq!(&piece[..], &m[at..at + len]);
            at += len;
        }
        assert_eq!(at, 192);
    }

    /// PRF-HMAC-SHA-384 with AES-GCM-128: SK_d/SK_p* are 48 bytes, SK_e* 20 (key | salt).
    #[test]
    fn ike_keys_sha384_gcm128() {
        let prf = PrfAlg::HmacSha384;
        let seed = skeyseed(prf, &ni(), &nr(), &g_ir());
        assert_eq!(
            &seed[..],
            &h("24f8e41403bf87d88dbe9e7785526fb288446f084f5c6ab9b345d6c13eb07702\
                9950ce24726dd688945a3bca69b541ca")[..]
        );
        let keys = derive_ike_keys(prf, &seed, &ni(), &nr(), SPI_I, SPI_R, GCM128, None).unwrap();
        let m = h("51f8d1a6aae5b914effab9980d0d207b771acf76f75dd53b4a3f09f1ea858732\
                   6309538c120d5c77b8a23d138ea2cc1b7888efd68b4c370848de7289974f957c\
                   5cf4fdd619c05eac806720d7bc7cd0ee4680eb2af7650b94562dcbe0487a554d\
                   3874b082da255b889ad7285dbd73ce3eb3fd11991c10e917e5e8e6b148932597\
                   995810635f7c83446baec5a9d645071521081f9a6f17b4f55cfc12fd7ef2068d\
                   68ef572ca0976f2bac031c536f6f096a73bfb46cdd7b1b4c");
        assert_eq!(&keys.sk_d[..], &m[0..48]);
        assert_eq!(&keys.sk_ei[..], &m[48..68]);
        assert_eq!(&keys.sk_er[..], &m[68..88]);
        assert_eq!(&keys.sk_pi[..], &m[88..136]);
        assert_eq!(&keys.sk_pr[..], &m[136..184]);
    }

    #[test]
    fn rekey_skeyseed_known_answer() {
        // prf(SK_d (old), g^ir (new) | Ni | Nr), python3-computed as above with
        // SK_d = KEYMAT[0..32], g^ir = 99 x 32, Ni = c1 x 24, Nr = d2 x 40.
        let sk_d = &h(KEYMAT)[..32];
        let s = skeyseed_rekey(PrfAlg::HmacSha256, sk_d, &[0x99; 32], &[0xc1; 24], &[0xd2; 40]);
        assert_eq!(&s[..], &h("2611cb2c55e01b8a6cfbb74fae43c09dc0e519a0077f33c051c16026f65a0766")[..]);
    }

    #[test]
    fn child_keys_gcm256_without_dh() {
        let sk_d = &h(KEYMAT)[..32];
        let k = child_keys(PrfAlg::HmacSha256, sk_d, None, &ni(), &nr(), GCM256, None).unwrap();
        // python3: prf+(SK_d, Ni | Nr), 72 bytes.
        let m = h("418e24cb80118af322ddc5bdd992b881c93b377a48b2a3dbc35128e0d8b1fd0b\
                   598c1ef181747e4d1e4a777e3c8d1cc327676dda691fcb2d91d97a40b7cb5d18\
                   134965014d25f11e");
        assert_eq!(&k.encr_i[..], &m[0..36]);
        assert_eq!(&k.encr_r[..], &m[36..72]);
        assert!(k.integ_i.is_empty() && k.integ_r.is_empty());
        let direct = PrfAlg::HmacSha256.prf_plus(sk_d, &[ni(), nr()].concat(), 72).unwrap();
        assert_eq!(&direct[..], &m[..]);
    }

    #[test]
    fn child_keys_cbc128_with_dh() {
        let sk_d = &h(KEYMAT)[..32];
        let g_new = [0x77; 32];
        let k = child_keys(PrfAlg::HmacSha256, sk_d, Some(&g_new), &ni(), &nr(), CBC128, SHA256_128).unwrap();
        // python3: prf+(SK_d, g^ir (new) | Ni | Nr), 96 bytes;
        // encr_i 16 | integ_i 32 | encr_r 16 | integ_r 32.
        let m = h("329c072c7c332671d3222aa76c5bc4d60620f9ef9255c2b3770806c969edd504\
                   b1896d9c5e5c1e8e3d2898dc2ae60c97997339a8d9a38b03b5d04bf977b8d933\
                   41539992b0df65e634f9d716b5ff229e49c2c94297064fd1653a098c564bc7ad");
        assert_eq!(&k.encr_i[..], &m[0..16]);
        assert_eq!(&k.integ_i[..], &m[16..48]);
        assert_eq!(&k.encr_r[..], &m[48..64]);
        assert_eq!(&k.integ_r[..], &m[64..96]);
        let direct = PrfAlg::HmacSha256.prf_plus(sk_d, &[&g_new[..], &ni(), &nr()].concat(), 96).unwrap();
        assert_eq!(&direct[..], &m[..]);
    }

    #[test]
    fn wrong_algorithm_combinations() {
        let s = h(SKEYSEED);
        assert_eq!(
            derive_ike_keys(PrfAlg::HmacSha256, &s, &[1], &[2], 1, 2, GCM256, SHA256_128).unwrap_err(),
            CryptoError::IntegWithAead
        );
        assert_eq!(
            child_keys(PrfAlg::HmacSha256, &s, None, &[1], &[2], CBC128, None).unwrap_err(),
            CryptoError::IntegRequired
        );
    }

    #[test]
    fn debug_prints_lengths_only() {
        let keys = derive_ike_keys(PrfAlg::HmacSha256, &[0xee; 32], &ni(), &nr(), SPI_I, SPI_R, GCM256, None).unwrap();
        assert_eq!(
            format!("{keys:?}"),
            "IkeKeys { sk_d_len: 32, sk_ai_len: 0, sk_ar_len: 0, sk_ei_len: 36, sk_er_len: 36, \
             sk_pi_len: 32, sk_pr_len: 32 }"
        );
        let c = child_keys(PrfAlg::HmacSha256, &keys.sk_d, None, &[1], &[2], GCM256, None).unwrap();
        assert_eq!(format!("{c:?}"), "ChildKeys { encr_i_len: 36, integ_i_len: 0, encr_r_len: 36, integ_r_len: 0 }");
    }
}
