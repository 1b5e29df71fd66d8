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
