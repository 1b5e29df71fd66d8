//! The SK (Encrypted and Authenticated) payload's protection: RFC 7296 §3.14, RFC 5282.

use aes::{Aes128, Aes256};
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, KeyInit};
use cbc::cipher::{
    Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, consts::U16,
};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::{Zeroize, Zeroizing};

use super::alg::{AES_BLOCK, GCM_ICV_LEN, GCM_IV_LEN, GCM_SALT_LEN};
use super::{CryptoError, EncrAlg, IntegAlg};

/// The SK payload's protection, one direction.
///
/// An IKE SA has two: the initiator's messages use `SK_ei`/`SK_ai`, the responder's
/// `SK_er`/`SK_ar`. The keyed cipher and MAC state is wiped on drop.
///
/// The layout of the SK payload body is `IV | ciphertext | ICV`, the ciphertext covering
/// `plaintext | padding | pad length (1 byte)` (RFC 7296 §3.14). Padding bytes are zero.
/// - AES-GCM (RFC 5282): 8-byte IV, nonce = salt (last 4 bytes of the key material) | IV,
///   AAD = the IKE header and the SK generic payload header, 16-byte ICV = the GCM tag.
///   There is no padding beyond the pad length byte (pad length 0).
/// - AES-CBC: 16-byte IV, plaintext padded to a whole number of blocks, ICV = the integrity
///   algorithm's truncated HMAC over `aad | IV | ciphertext` (RFC 7296 §3.14: the ICV covers
///   the whole message from the IKE header up to the ICV).
pub struct SkCipher {
    encr: EncrAlg,
    integ: Option<IntegAlg>,
    inner: Inner,
}

enum Inner {
    Gcm { aead: Gcm, salt: Zeroizing<[u8; GCM_SALT_LEN]> },
    Cbc { aes: CbcAes, mac: Box<IntegMac> },
}

impl SkCipher {
    /// The protection for one direction.
    ///
    /// - AES-GCM: `encr_key` is key | salt (`encr.key_material_len()` bytes), `integ` is
    ///   `None` and `integ_key` empty.
    /// - AES-CBC: `encr_key` is the AES key, `integ` is `Some` and `integ_key` has its length.
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] for a key of the wrong length, [`CryptoError::IntegWithAead`]
    /// or [`CryptoError::IntegRequired`] for a wrong combination of algorithms.
    pub fn new(
        encr: EncrAlg,
        integ: Option<IntegAlg>,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<SkCipher, CryptoError> {
        check_len("encryption", encr.key_material_len(), encr_key.len())?;
        let inner = match (encr, integ) {
            (EncrAlg::AesGcm16 { .. }, Some(_)) => return Err(CryptoError::IntegWithAead),
            (EncrAlg::AesCbc { .. }, None) => return Err(CryptoError::IntegRequired),
            (EncrAlg::AesGcm16 { .. }, None) => {
                check_len("integrity", 0, integ_key.len())?;
                let (key, salt_bytes) = encr_key.split_at(encr.key_len());
                let mut salt = Zeroizing::new([0u8; GCM_SALT_LEN]);
                salt.copy_from_slice(salt_bytes);
                Inner::Gcm { aead: Gcm::new(key)?, salt }
            }
            (EncrAlg::AesCbc { .. }, Some(integ)) => {
                check_len("integrity", integ.key_len(), integ_key.len())?;
                Inner::Cbc { aes: CbcAes::new(encr_key)?, mac: Box::new(IntegMac::new(integ, integ_key)) }
            }
        };
        Ok(SkCipher { encr, integ, inner })
    }

    /// The encryption algorithm.
    pub fn encr(&self) -> EncrAlg {
        self.encr
    }

    /// The integrity algorithm (`None` for AES-GCM).
    pub fn integ(&self) -> Option<IntegAlg> {
        self.integ
    }

    /// The IV length [`SkCipher::seal`] expects: 8 for GCM, 16 for CBC.
    pub fn iv_len(&self) -> usize {
        self.encr.iv_len()
    }

    /// The ICV length: 16 for GCM, the integrity algorithm's truncated length for CBC.
    pub fn icv_len(&self) -> usize {
        match &self.inner {
            Inner::Gcm { .. } => GCM_ICV_LEN,
            Inner::Cbc { mac, .. } => mac.alg.icv_len(),
        }
    }

    /// The length of [`SkCipher::seal`]'s output for a plaintext of `plaintext_len` bytes:
    /// IV + padded ciphertext (the pad length byte included) + ICV. It lets the caller write
    /// the final lengths into the IKE and SK payload headers (which are the AAD) before sealing.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        let encrypted = match self.inner {
            Inner::Gcm { .. } => plaintext_len.saturating_add(1),
            Inner::Cbc { .. } => plaintext_len.saturating_add(1).div_ceil(AES_BLOCK).saturating_mul(AES_BLOCK),
        };
        encrypted.saturating_add(self.iv_len()).saturating_add(self.icv_len())
    }

    /// Encrypts and authenticates `plaintext` (the inner payloads), returning
    /// `IV | ciphertext | ICV`, exactly [`SkCipher::sealed_len`] bytes.
    ///
    /// `aad` is the IKE header and the SK generic payload header (the 28 + 4 bytes before the
    /// IV) with the final lengths already in them. `iv` comes from the caller's
    /// [`Random`](super::Random) and must be [`SkCipher::iv_len`] bytes; with GCM it must
    /// never repeat under one key (8 random bytes make a repeat unlikely before 2^32
    /// messages, far beyond an IKE SA's life).
    ///
    /// # Errors
    /// [`CryptoError::IvLength`], or [`CryptoError::PlaintextTooLong`] past AES-GCM's limit.
    pub fn seal(&self, aad: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if iv.len() != self.iv_len() {
            return Err(CryptoError::IvLength { expected: self.iv_len(), actual: iv.len() });
        }
        let total = self.sealed_len(plaintext.len());
        let icv_len = self.icv_len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(iv);
        out.extend_from_slice(plaintext);
        // Zero padding bytes, then the pad length byte; the encrypted part ends at
        // `total - icv_len`.
        let pad_len = total - icv_len - iv.len() - plaintext.len() - 1;
        out.resize(out.len() + pad_len, 0);
        // pad_len < 16 (CBC) or 0 (GCM).
        out.push(pad_len as u8);
        match &self.inner {
            Inner::Gcm { aead, salt } => {
                let nonce = gcm_nonce(salt, iv);
                match aead.seal(&nonce, aad, &mut out[GCM_IV_LEN..]) {
                    Ok(tag) => out.extend_from_slice(&tag),
                    Err(e) => {
                        out.zeroize();
                        return Err(e);
                    }
                }
            }
            Inner::Cbc { aes, mac } => {
                let (iv, body) = out.split_at_mut(AES_BLOCK);
                aes.encrypt(iv, body)?;
                let icv = mac.icv(&[aad, &out]);
                out.extend_from_slice(&icv);
            }
        }
        debug_assert_eq!(out.len(), total);
        Ok(out)
    }

    /// Verifies and decrypts an SK payload body (`IV | ciphertext | ICV`), returning the
    /// plaintext without its padding.
    ///
    /// The ICV is checked first and in constant time (HMAC's `verify_truncated_left` or the
    /// AEAD's tag check); nothing is decrypted (CBC) or returned (GCM) before it verifies.
    ///
    /// # Errors
    /// [`CryptoError::BodyTooShort`], [`CryptoError::NotBlockMultiple`] (CBC),
    /// [`CryptoError::IcvMismatch`], or [`CryptoError::BadPadding`] if the pad length byte
    /// claims more bytes than precede it.
    pub fn open(&self, aad: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        let min = match self.inner {
            Inner::Gcm { .. } => iv_len + 1 + icv_len,
            Inner::Cbc { .. } => iv_len + AES_BLOCK + icv_len,
        };
        if body.len() < min {
            return Err(CryptoError::BodyTooShort { len: body.len(), min });
        }
        let (iv, rest) = body.split_at(iv_len);
        let (ciphertext, icv) = rest.split_at(rest.len() - icv_len);
        let mut plain = match &self.inner {
            Inner::Gcm { aead, salt } => {
                let nonce = gcm_nonce(salt, iv);
                let mut buf = Zeroizing::new(ciphertext.to_vec());
                aead.open(&nonce, aad, &mut buf, icv)?;
                buf
            }
            Inner::Cbc { aes, mac } => {
                if !ciphertext.len().is_multiple_of(AES_BLOCK) {
                    return Err(CryptoError::NotBlockMultiple { len: ciphertext.len(), block: AES_BLOCK });
                }
                if !mac.verify(&[aad, &body[..body.len() - icv_len]], icv) {
                    return Err(CryptoError::IcvMismatch);
                }
                let mut buf = Zeroizing::new(ciphertext.to_vec());
                aes.decrypt(iv, &mut buf)?;
                buf
            }
        };
        strip_padding(&mut plain)?;
        Ok(plain)
    }
}

impl std::fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkCipher").field("encr", &self.encr).field("integ", &self.integ).finish_non_exhaustive()
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), CryptoError> {
    if expected == actual { Ok(()) } else { Err(CryptoError::KeyLength { what, expected, actual }) }
}

/// RFC 5282 §4 / RFC 4106 §4: the 12-byte nonce is salt | explicit IV.
fn gcm_nonce(salt: &[u8; GCM_SALT_LEN], iv: &[u8]) -> Zeroizing<[u8; 12]> {
    let mut nonce = Zeroizing::new([0u8; 12]);
    nonce[..GCM_SALT_LEN].copy_from_slice(salt);
    nonce[GCM_SALT_LEN..].copy_from_slice(iv);
    nonce
}

/// Removes the padding and the pad length byte (RFC 7296 §3.14).
fn strip_padding(plain: &mut Zeroizing<Vec<u8>>) -> Result<(), CryptoError> {
    let Some(&pad_len) = plain.last() else {
        return Err(CryptoError::BadPadding { pad_len: 0, available: 0 });
    };
    let available = plain.len() - 1;
    let Some(keep) = available.checked_sub(usize::from(pad_len)) else {
        return Err(CryptoError::BadPadding { pad_len, available });
    };
    plain.truncate(keep);
    Ok(())
}

/// AES-GCM with a 16-byte tag and a 12-byte nonce, keyed once.
pub(crate) enum Gcm {
    A128(Box<Aes128Gcm>),
    A256(Box<Aes256Gcm>),
}

impl Gcm {
    /// AES-128-GCM or AES-256-GCM from a 16- or 32-byte key.
    pub(crate) fn new(key: &[u8]) -> Result<Gcm, CryptoError> {
        let bad = |_| CryptoError::KeyLength {
            what: "AES-GCM",
            expected: if key.len() < 32 { 16 } else { 32 },
            actual: key.len(),
        };
        match key.len() {
            16 => Ok(Gcm::A128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?))),
            _ => Ok(Gcm::A256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?))),
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<[u8; GCM_ICV_LEN], CryptoError> {
        let nonce = Array::from(*nonce);
        let tag = match self {
            Gcm::A128(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
            Gcm::A256(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
        }
        .map_err(|_| CryptoError::PlaintextTooLong)?;
        Ok(tag.into())
    }

    /// Checks `tag` and decrypts `buf` in place; on a mismatch `buf` is left encrypted.
    pub(crate) fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> Result<(), CryptoError> {
        let nonce = Array::from(*nonce);
        let tag = Array::<u8, U16>::try_from(tag).map_err(|_| CryptoError::IcvMismatch)?;
        match self {
            Gcm::A128(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag),
            Gcm::A256(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag),
        }
        .map_err(|_| CryptoError::IcvMismatch)
    }
}

/// An AES key schedule for CBC, expanded once.
pub(crate) enum CbcAes {
    A128(Box<Aes128>),
    A256(Box<Aes256>),
}

impl CbcAes {
    /// AES-128 or AES-256 from a 16- or 32-byte key.
    pub(crate) fn new(key: &[u8]) -> Result<CbcAes, CryptoError> {
        let bad = |_| CryptoError::KeyLength {
            what: "AES-CBC",
            expected: if key.len() < 32 { 16 } else { 32 },
            actual: key.len(),
        };
        match key.len() {
            16 => Ok(CbcAes::A128(Box::new(Aes128::new_from_slice(key).map_err(bad)?))),
            _ => Ok(CbcAes::A256(Box::new(Aes256::new_from_slice(key).map_err(bad)?))),
        }
    }

    /// CBC-encrypts `buf` (a whole number of blocks) in place.
    pub(crate) fn encrypt(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        match self {
            CbcAes::A128(c) => cbc_encrypt(&**c, iv, buf),
            CbcAes::A256(c) => cbc_encrypt(&**c, iv, buf),
        }
    }

    /// CBC-decrypts `buf` (a whole number of blocks) in place.
    pub(crate) fn decrypt(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
        match self {
            CbcAes::A128(c) => cbc_decrypt(&**c, iv, buf),
            CbcAes::A256(c) => cbc_decrypt(&**c, iv, buf),
        }
    }
}

fn blocks_of(buf: &mut [u8]) -> Result<&mut [Array<u8, U16>], CryptoError> {
    let len = buf.len();
    match Array::<u8, U16>::slice_as_chunks_mut(buf) {
        (blocks, []) => Ok(blocks),
        _ => Err(CryptoError::NotBlockMultiple { len, block: AES_BLOCK }),
    }
}

fn iv_error(iv: &[u8]) -> CryptoError {
    CryptoError::IvLength { expected: AES_BLOCK, actual: iv.len() }
}

fn cbc_encrypt<C>(cipher: &C, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockCipherEncrypt<BlockSize = U16> + Clone,
{
    let mut mode = cbc::Encryptor::<C>::inner_iv_slice_init(cipher.clone(), iv).map_err(|_| iv_error(iv))?;
    mode.encrypt_blocks(blocks_of(buf)?);
    Ok(())
}

fn cbc_decrypt<C>(cipher: &C, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockCipherDecrypt<BlockSize = U16> + Clone,
{
    let mut mode = cbc::Decryptor::<C>::inner_iv_slice_init(cipher.clone(), iv).map_err(|_| iv_error(iv))?;
    mode.decrypt_blocks(blocks_of(buf)?);
    Ok(())
}

/// A keyed integrity algorithm: HMAC-SHA-2 truncated per RFC 4868.
pub(crate) struct IntegMac {
    alg: IntegAlg,
    mac: KeyedHmac,
}

enum KeyedHmac {
    S256(Hmac<Sha256>),
    S384(Hmac<Sha384>),
    S512(Hmac<Sha512>),
}

fn keyed<M: Mac + hmac::KeyInit>(key: &[u8]) -> M {
    // HMAC has no error path for any key length.
    <M as hmac::KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn run<M: Mac + Clone>(mac: &M, parts: &[&[u8]]) -> M {
    let mut m = mac.clone();
    for part in parts {
        m.update(part);
    }
    m
}

impl IntegMac {
    /// The MAC keyed with `key` (any length is accepted; [`SkCipher::new`] checks it).
    pub(crate) fn new(alg: IntegAlg, key: &[u8]) -> IntegMac {
        let mac = match alg {
            IntegAlg::HmacSha256_128 => KeyedHmac::S256(keyed(key)),
            IntegAlg::HmacSha384_192 => KeyedHmac::S384(keyed(key)),
            IntegAlg::HmacSha512_256 => KeyedHmac::S512(keyed(key)),
        };
        IntegMac { alg, mac }
    }

    /// The truncated ICV over the concatenation of `parts`.
    pub(crate) fn icv(&self, parts: &[&[u8]]) -> Vec<u8> {
        let n = self.alg.icv_len();
        match &self.mac {
            KeyedHmac::S256(m) => run(m, parts).finalize().into_bytes()[..n].to_vec(),
            KeyedHmac::S384(m) => run(m, parts).finalize().into_bytes()[..n].to_vec(),
            KeyedHmac::S512(m) => run(m, parts).finalize().into_bytes()[..n].to_vec(),
        }
    }

    /// Whether `icv` is the truncated ICV of `parts`, compared in constant time.
    pub(crate) fn verify(&self, parts: &[&[u8]], icv: &[u8]) -> bool {
        if icv.len() != self.alg.icv_len() {
            return false;
        }
        match &self.mac {
            KeyedHmac::S256(m) => run(m, parts).verify_truncated_left(icv).is_ok(),
            KeyedHmac::S384(m) => run(m, parts).verify_truncated_left(icv).is_ok(),
            KeyedHmac::S512(m) => run(m, parts).verify_truncated_left(icv).is_ok(),
        }
    }
}
