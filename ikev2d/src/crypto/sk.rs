//! The SK (Encrypted and Authenticated) payload's protection: RFC 7296 §3.14, RFC 5282.

use aes::{Aes128, Aes256};
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, KeyInit};
use cbc::cipher::{
    Array, BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, consts::U16,
};
use hmac::{Hmac, Mac};
use sha1::Sha1;
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
    /// `aad` is everything from the start of the IKE header up to the IV: the IKE header and
    /// the SK generic payload header (28 + 4 bytes), with the final lengths already in them.
    /// It is the AAD for GCM (RFC 5282 §5.1) and the start of the HMAC input for CBC. `iv` comes from the caller's
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

/// A keyed integrity algorithm: HMAC-SHA-1 truncated per RFC 2404, HMAC-SHA-2 per RFC 4868.
pub(crate) struct IntegMac {
    alg: IntegAlg,
    mac: KeyedHmac,
}

enum KeyedHmac {
    S1(Hmac<Sha1>),
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
            IntegAlg::HmacSha1_96 => KeyedHmac::S1(keyed(key)),
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
            KeyedHmac::S1(m) => run(m, parts).finalize().into_bytes()[..n].to_vec(),
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
            KeyedHmac::S1(m) => run(m, parts).verify_truncated_left(icv).is_ok(),
            KeyedHmac::S256(m) => run(m, parts).verify_truncated_left(icv).is_ok(),
            KeyedHmac::S384(m) => run(m, parts).verify_truncated_left(icv).is_ok(),
            KeyedHmac::S512(m) => run(m, parts).verify_truncated_left(icv).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::h;
    use proptest::prelude::*;

    const GCM128: EncrAlg = EncrAlg::AesGcm16 { key_bits: 128 };
    const GCM256: EncrAlg = EncrAlg::AesGcm16 { key_bits: 256 };
    const CBC128: EncrAlg = EncrAlg::AesCbc { key_bits: 128 };
    const CBC256: EncrAlg = EncrAlg::AesCbc { key_bits: 256 };

    /// The McGrew/Viega GCM specification's test cases 4 and 16 (NIST's published GCM
    /// examples): 96-bit IV, 20-byte AAD, 60-byte plaintext.
    const GCM_IV: &str = "cafebabefacedbaddecaf888";
    const GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const GCM_CASES: &[(&str, &str, &str, &str)] = &[
        (
            "test case 4 (AES-128)",
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            "test case 16 (AES-256)",
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];

    #[test]
    fn gcm_known_answers() {
        let nonce: [u8; 12] = h(GCM_IV).try_into().unwrap();
        for (name, key, c, t) in GCM_CASES {
            let gcm = Gcm::new(&h(key)).unwrap();
            let mut buf = h(GCM_P);
            let tag = gcm.seal(&nonce, &h(GCM_AAD), &mut buf).unwrap();
            assert_eq!(buf, h(c), "{name} ciphertext");
            assert_eq!(tag.to_vec(), h(t), "{name} tag");

            gcm.open(&nonce, &h(GCM_AAD), &mut buf, &tag).unwrap();
            assert_eq!(buf, h(GCM_P), "{name} decrypt");

            let mut bad_tag = tag;
            bad_tag[15] ^= 1;
            let mut buf = h(c);
            assert_eq!(gcm.open(&nonce, &h(GCM_AAD), &mut buf, &bad_tag), Err(CryptoError::IcvMismatch));
            assert_eq!(buf, h(c), "{name}: nothing decrypted on a bad tag");
        }
    }

    /// The same vectors framed as SK payload bodies: key material = K | salt with
    /// salt = IV[..4], body = IV[4..] | C | T. This pins the nonce construction salt | IV
    /// (RFC 5282 §4). P's last byte, 0x39, is read as a pad length of 57, so 59 - 57 = 2
    /// plaintext bytes remain.
    #[test]
    fn gcm_sk_open_of_known_answers() {
        let iv = h(GCM_IV);
        for (name, key, c, t) in GCM_CASES {
            let key = h(key);
            let encr = EncrAlg::AesGcm16 { key_bits: (key.len() * 8) as u16 };
            let material = [&key[..], &iv[..4]].concat();
            let sk = SkCipher::new(encr, None, &material, &[]).unwrap();
            let body = [&iv[4..], &h(c)[..], &h(t)[..]].concat();
            let plain = sk.open(&h(GCM_AAD), &body).unwrap();
            assert_eq!(&plain[..], &h(GCM_P)[..2], "{name}");
        }
    }

    /// NIST SP 800-38A F.2.1 (CBC-AES128.Encrypt) and F.2.5 (CBC-AES256.Encrypt).
    const CBC_IV: &str = "000102030405060708090a0b0c0d0e0f";
    const CBC_P: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                         30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
    const CBC_CASES: &[(&str, &str, &str)] = &[
        (
            "F.2.1",
            "2b7e151628aed2a6abf7158809cf4f3c",
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2\
             73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
        ),
        (
            "F.2.5",
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
            "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d\
             39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
        ),
    ];

    #[test]
    fn cbc_known_answers() {
        for (name, key, c) in CBC_CASES {
            let aes = CbcAes::new(&h(key)).unwrap();
            let mut buf = h(CBC_P);
            aes.encrypt(&h(CBC_IV), &mut buf).unwrap();
            assert_eq!(buf, h(c), "{name} encrypt");
            aes.decrypt(&h(CBC_IV), &mut buf).unwrap();
            assert_eq!(buf, h(CBC_P), "{name} decrypt");
        }
        let aes = CbcAes::new(&[0; 16]).unwrap();
        assert_eq!(aes.encrypt(&[0; 16], &mut [0; 17]), Err(CryptoError::NotBlockMultiple { len: 17, block: 16 }));
        assert_eq!(aes.decrypt(&[0; 15], &mut [0; 16]), Err(CryptoError::IvLength { expected: 16, actual: 15 }));
    }

    /// RFC 4868 §2.7.2.2 authenticator test cases AUTH256-1, AUTH256-2, AUTH384-1,
    /// AUTH512-1: keys of the full hash length, ICVs truncated to half; RFC 2202's HMAC-SHA-1
    /// cases 1 and 2 truncated to 96 bits.
    #[test]
    fn integrity_known_answers() {
        let cases: &[(IntegAlg, Vec<u8>, &[u8], &str)] = &[
            // RFC 2202 §3 test cases 1 and 2 (HMAC-SHA-1), truncated to 96 bits (RFC 2404 §2).
            (IntegAlg::HmacSha1_96, vec![0x0b; 20], b"Hi There", "b617318655057264e28bc0b6"),
            (IntegAlg::HmacSha1_96, b"Jefe".to_vec(), b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5"),
            (IntegAlg::HmacSha256_128, vec![0x0b; 32], b"Hi There", "198a607eb44bfbc69903a0f1cf2bbdc5"),
            (
                IntegAlg::HmacSha256_128,
                b"Jefe".repeat(8),
                b"what do ya want for nothing?",
                "167f928588c5cc2eef8e3093caa0e87c",
            ),
            (IntegAlg::HmacSha384_192, vec![0x0b; 48], b"Hi There", "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973"),
            (
                IntegAlg::HmacSha512_256,
                vec![0x0b; 64],
                b"Hi There",
                "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8",
            ),
        ];
        for (alg, key, data, icv) in cases {
            let mac = IntegMac::new(*alg, key);
            assert_eq!(mac.icv(&[data]), h(icv), "{alg:?}");
            // Split input: the ICV covers the concatenation.
            let (a, b) = data.split_at(3);
            assert_eq!(mac.icv(&[a, b]), h(icv), "{alg:?} split");
            assert!(mac.verify(&[data], &h(icv)));
            let mut wrong = h(icv);
            wrong[0] ^= 0x80;
            assert!(!mac.verify(&[data], &wrong));
            // The untruncated MAC, or a shorter prefix, is not an ICV.
            assert!(!mac.verify(&[data], &h(icv)[..alg.icv_len() - 1]));
        }
    }

    /// A CBC SK body built from the F.2.1 vector with an ICV computed independently with raw
    /// `hmac` calls. P's last byte, 0x10, is read as 16 bytes of padding: 63 - 16 = 47 remain.
    #[test]
    fn cbc_sk_open_of_known_answer() {
        let (_, key, c) = CBC_CASES[0];
        let integ_key = [0x5a; 32];
        let aad = [0xa0; 32];
        let signed = [&aad[..], &h(CBC_IV), &h(c)].concat();
        let mut m = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&integ_key).unwrap();
        m.update(&signed);
        let icv = m.finalize().into_bytes()[..16].to_vec();
        let body = [&signed[32..], &icv[..]].concat();

        let sk = SkCipher::new(CBC128, Some(IntegAlg::HmacSha256_128), &h(key), &integ_key).unwrap();
        let plain = sk.open(&aad, &body).unwrap();
        assert_eq!(&plain[..], &h(CBC_P)[..47]);
    }

    fn all_ciphers() -> Vec<SkCipher> {
        let mut v = Vec::new();
        for (i, encr) in [GCM128, GCM256].into_iter().enumerate() {
            let key: Vec<u8> = (0..encr.key_material_len() as u8).map(|b| b ^ i as u8).collect();
            v.push(SkCipher::new(encr, None, &key, &[]).unwrap());
        }
        for encr in [CBC128, CBC256] {
            for integ in
                [IntegAlg::HmacSha256_128, IntegAlg::HmacSha384_192, IntegAlg::HmacSha512_256, IntegAlg::HmacSha1_96]
            {
                let key = vec![0x11; encr.key_material_len()];
                let ikey = vec![0x22; integ.key_len()];
                v.push(SkCipher::new(encr, Some(integ), &key, &ikey).unwrap());
            }
        }
        v
    }

    fn iv_for(sk: &SkCipher) -> Vec<u8> {
        (0..sk.iv_len() as u8).map(|b| b.wrapping_mul(37)).collect()
    }

    #[test]
    fn sealed_lengths() {
        let gcm = &all_ciphers()[0];
        assert_eq!(gcm.sealed_len(0), 8 + 1 + 16);
        assert_eq!(gcm.sealed_len(100), 8 + 101 + 16);
        let cbc = &all_ciphers()[2]; // CBC-128 + HMAC-SHA-256-128
        assert_eq!(cbc.sealed_len(0), 16 + 16 + 16);
        assert_eq!(cbc.sealed_len(15), 16 + 16 + 16);
        assert_eq!(cbc.sealed_len(16), 16 + 32 + 16);
        assert_eq!(cbc.sealed_len(31), 16 + 32 + 16);
        // Never overflows.
        assert_eq!(cbc.sealed_len(usize::MAX), usize::MAX);
    }

    #[test]
    fn seal_layout_and_padding() {
        for sk in all_ciphers() {
            let iv = iv_for(&sk);
            for len in [0, 1, 14, 15, 16, 17, 100] {
                let plain: Vec<u8> = (0..len as u8).collect();
                let sealed = sk.seal(b"header", &iv, &plain).unwrap();
                assert_eq!(sealed.len(), sk.sealed_len(len), "{sk:?} {len}");
                assert_eq!(&sealed[..sk.iv_len()], &iv[..]);
                let opened = sk.open(b"header", &sealed).unwrap();
                assert_eq!(&opened[..], &plain[..], "{sk:?} {len}");
            }
        }
    }

    /// The padding is zeros then the pad length, and GCM uses pad length 0.
    #[test]
    fn padding_bytes_on_the_wire() {
        let key = [7u8; 16];
        let gcm_material = [&key[..], &[1, 2, 3, 4]].concat();
        let sk = SkCipher::new(GCM128, None, &gcm_material, &[]).unwrap();
        let iv = [9u8; 8];
        let sealed = sk.seal(b"aad", &iv, b"abc").unwrap();
        let gcm = Gcm::new(&key).unwrap();
        let nonce: [u8; 12] = [1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9];
        let mut ct = sealed[8..8 + 4].to_vec();
        gcm.open(&nonce, b"aad", &mut ct, &sealed[12..]).unwrap();
        assert_eq!(ct, b"abc\x00");

        let sk = SkCipher::new(CBC128, Some(IntegAlg::HmacSha256_128), &key, &[3; 32]).unwrap();
        let iv = [5u8; 16];
        let sealed = sk.seal(b"aad", &iv, b"abc").unwrap();
        let mut ct = sealed[16..32].to_vec();
        CbcAes::new(&key).unwrap().decrypt(&iv, &mut ct).unwrap();
        let mut expected = b"abc".to_vec();
        expected.extend_from_slice(&[0; 12]);
        expected.push(12);
        assert_eq!(ct, expected);
    }

    #[test]
    fn any_flipped_bit_is_rejected() {
        for sk in all_ciphers() {
            let aad = b"IKE header (28 bytes)...| SK hdr".to_vec();
            let sealed = sk.seal(&aad, &iv_for(&sk), b"inner payloads").unwrap();
            for i in 0..aad.len() {
                for bit in [0x01, 0x80] {
                    let mut a = aad.clone();
                    a[i] ^= bit;
                    assert_eq!(sk.open(&a, &sealed), Err(CryptoError::IcvMismatch));
                }
            }
            for i in 0..sealed.len() {
                for bit in [0x01, 0x80] {
                    let mut s = sealed.clone();
                    s[i] ^= bit;
                    assert_eq!(sk.open(&aad, &s), Err(CryptoError::IcvMismatch), "{sk:?} byte {i}");
                }
            }
            // Truncation or extension is rejected too.
            assert!(sk.open(&aad, &sealed[..sealed.len() - 1]).is_err());
            let mut longer = sealed.clone();
            longer.push(0);
            assert!(sk.open(&aad, &longer).is_err());
        }
    }

    #[test]
    fn short_and_misaligned_bodies() {
        let ciphers = all_ciphers();
        let gcm = &ciphers[0];
        assert_eq!(gcm.open(b"", &[0; 24]), Err(CryptoError::BodyTooShort { len: 24, min: 25 }));
        assert_eq!(gcm.open(b"", &[0; 25]), Err(CryptoError::IcvMismatch));
        let cbc = &ciphers[2];
        assert_eq!(cbc.open(b"", &[0; 47]), Err(CryptoError::BodyTooShort { len: 47, min: 48 }));
        assert_eq!(cbc.open(b"", &[0; 49]), Err(CryptoError::NotBlockMultiple { len: 17, block: 16 }));
        assert_eq!(cbc.open(b"", &[0; 48]), Err(CryptoError::IcvMismatch));
        assert_eq!(cbc.open(b"", &[]).unwrap_err(), CryptoError::BodyTooShort { len: 0, min: 48 });
    }

    /// A correctly authenticated body whose pad length byte is too large: rejected after the
    /// ICV check, without a panic.
    #[test]
    fn bad_pad_length_is_an_error() {
        let key = [1u8; 16];
        let ikey = [2u8; 32];
        let sk = SkCipher::new(CBC128, Some(IntegAlg::HmacSha256_128), &key, &ikey).unwrap();
        let iv = [3u8; 16];
        let mut block = [0u8; 16];
        block[15] = 0xff;
        CbcAes::new(&key).unwrap().encrypt(&iv, &mut block).unwrap();
        let signed = [&b"aad"[..], &iv, &block].concat();
        let icv = IntegMac::new(IntegAlg::HmacSha256_128, &ikey).icv(&[&signed]);
        let body = [&iv[..], &block, &icv].concat();
        assert_eq!(sk.open(b"aad", &body), Err(CryptoError::BadPadding { pad_len: 0xff, available: 15 }));

        let material = [&key[..], &[0; 4]].concat();
        let sk = SkCipher::new(GCM128, None, &material, &[]).unwrap();
        let mut buf = *b"ab\x03";
        let tag = Gcm::new(&key).unwrap().seal(&[0; 12], b"aad", &mut buf).unwrap();
        let body = [&[0u8; 8][..], &buf, &tag].concat();
        assert_eq!(sk.open(b"aad", &body), Err(CryptoError::BadPadding { pad_len: 3, available: 2 }));
    }

    #[test]
    fn configuration_errors() {
        assert_eq!(
            SkCipher::new(GCM256, Some(IntegAlg::HmacSha256_128), &[0; 36], &[0; 32]).unwrap_err(),
            CryptoError::IntegWithAead
        );
        assert_eq!(SkCipher::new(CBC128, None, &[0; 16], &[]).unwrap_err(), CryptoError::IntegRequired);
        assert_eq!(
            SkCipher::new(GCM256, None, &[0; 32], &[]).unwrap_err(),
            CryptoError::KeyLength { what: "encryption", expected: 36, actual: 32 }
        );
        assert_eq!(
            SkCipher::new(GCM128, None, &[0; 20], &[1]).unwrap_err(),
            CryptoError::KeyLength { what: "integrity", expected: 0, actual: 1 }
        );
        assert_eq!(
            SkCipher::new(CBC256, Some(IntegAlg::HmacSha512_256), &[0; 32], &[0; 32]).unwrap_err(),
            CryptoError::KeyLength { what: "integrity", expected: 64, actual: 32 }
        );
        let sk = SkCipher::new(GCM128, None, &[0; 20], &[]).unwrap();
        assert_eq!(sk.seal(b"", &[0; 16], b"x"), Err(CryptoError::IvLength { expected: 8, actual: 16 }));
    }

    #[test]
    fn debug_shows_no_key() {
        let sk = SkCipher::new(GCM128, None, &[0xab; 20], &[]).unwrap();
        let s = format!("{sk:?}");
        assert!(s.contains("AesGcm16"));
        assert!(!s.contains("171") && !s.contains("ab"), "{s}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip(
            plain in proptest::collection::vec(any::<u8>(), 0..600),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
            iv_seed in any::<u8>(),
        ) {
            for sk in all_ciphers() {
                let iv = vec![iv_seed; sk.iv_len()];
                let sealed = sk.seal(&aad, &iv, &plain).unwrap();
                prop_assert_eq!(sealed.len(), sk.sealed_len(plain.len()));
                let opened = sk.open(&aad, &sealed).unwrap();
                prop_assert_eq!(&opened[..], &plain[..]);
            }
        }

        #[test]
        fn open_of_garbage_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            // A forged ICV has at most a 2^-128 chance; anything else must be an error, not a
            // panic.
            for sk in all_ciphers() {
                prop_assert!(sk.open(&aad, &body).is_err());
            }
        }
    }
}
