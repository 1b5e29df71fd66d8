//! The algorithms the model's kernel knows: Linux `net/xfrm/xfrm_algo.c` entries with
//! `pfkey_supported = 1`, in that file's order.

use crate::message::{Alg, Comb, DefaultNone};
use crate::wire::numbers::{AuthAlg, EncryptAlg};

/// One algorithm: `sadb_alg` id, IV length and key bit range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlgDesc {
    pub id: u8,
    pub ivlen: u8,
    pub minbits: u16,
    pub maxbits: u16,
}

const fn d(id: u8, ivlen: u8, minbits: u16, maxbits: u16) -> AlgDesc {
    AlgDesc { id, ivlen, minbits, maxbits }
}

/// `aalg_list` (index 0 is `digest_null`).
pub(crate) const AUTH: &[AlgDesc] = &[
    d(251, 0, 0, 0),    // digest_null
    d(2, 0, 128, 128),  // hmac(md5)
    d(3, 0, 160, 160),  // hmac(sha1)
    d(5, 0, 256, 256),  // hmac(sha256)
    d(6, 0, 384, 384),  // hmac(sha384)
    d(7, 0, 512, 512),  // hmac(sha512)
    d(8, 0, 160, 160),  // hmac(rmd160)
    d(9, 0, 128, 128),  // xcbc(aes)
    d(10, 0, 256, 256), // hmac(sm3)
];

/// `ealg_list`.
pub(crate) const ENCRYPT: &[AlgDesc] = &[
    d(11, 0, 0, 0),      // ecb(cipher_null)
    d(2, 8, 64, 64),     // cbc(des)
    d(3, 8, 192, 192),   // cbc(des3_ede)
    d(6, 8, 40, 128),    // cbc(cast5)
    d(7, 8, 40, 448),    // cbc(blowfish)
    d(12, 8, 128, 256),  // cbc(aes)
    d(252, 8, 128, 256), // cbc(serpent)
    d(22, 8, 128, 256),  // cbc(camellia)
    d(253, 8, 128, 256), // cbc(twofish)
    d(13, 8, 160, 288),  // rfc3686(ctr(aes))
    d(24, 16, 128, 128), // cbc(sm4)
];

/// `aead_list` (not reachable through stock `af_key`; see `ModelConfig::aead`).
pub(crate) const AEAD: &[AlgDesc] = &[
    d(18, 8, 128, 256), // rfc4106(gcm(aes)) ICV8
    d(19, 8, 128, 256), // ICV12
    d(20, 8, 128, 256), // ICV16
    d(14, 8, 128, 256), // rfc4309(ccm(aes)) ICV8
    d(15, 8, 128, 256), // ICV12
    d(16, 8, 128, 256), // ICV16
    d(23, 8, 128, 256), // rfc4543(gcm(aes))
];

/// `calg_list` (IPCOMP: deflate, lzs, lzjh).
pub(crate) const COMPRESS: &[AlgDesc] = &[d(2, 0, 0, 0), d(3, 0, 0, 0), d(4, 0, 0, 0)];

fn known(list: &[AlgDesc], id: u8) -> bool {
    list.iter().any(|a| a.id == id)
}

/// Whether `id` is an authentication algorithm `af_key` accepts.
pub(crate) fn auth_known(id: u8) -> bool {
    known(AUTH, id)
}

/// Whether `id` is an encryption algorithm accepted (AEAD ones only when `aead`).
pub(crate) fn encrypt_known(id: u8, aead: bool) -> bool {
    known(ENCRYPT, id) || (aead && known(AEAD, id))
}

/// Whether `id` is a compression algorithm.
pub(crate) fn compress_known(id: u8) -> bool {
    known(COMPRESS, id)
}

fn alg(a: &AlgDesc) -> Alg {
    Alg { id: a.id, ivlen: a.ivlen, minbits: a.minbits, maxbits: a.maxbits, reserved: 0 }
}

/// The `SADB_EXT_SUPPORTED_AUTH` list.
pub(crate) fn supported_auth() -> Vec<Alg> {
    AUTH.iter().map(alg).collect()
}

/// The `SADB_EXT_SUPPORTED_ENCRYPT` list: the ciphers only. Even a kernel that accepts AEAD
/// algorithms in `SADB_ADD` (the series' 0007) lists only the ciphers in `SADB_REGISTER`.
pub(crate) fn supported_encrypt() -> Vec<Alg> {
    ENCRYPT.iter().map(alg).collect()
}

/// The ciphers and the AEAD algorithms: what XFRM netlink can install (the XFRM backend's
/// synthesized `SADB_REGISTER` answer).
pub(crate) fn supported_encrypt_and_aead() -> Vec<Alg> {
    ENCRYPT.iter().chain(AEAD).map(alg).collect()
}

/// Whether `id` is an AEAD algorithm (`aead_list` with a SADB number).
pub(crate) fn is_aead(id: u8) -> bool {
    known(AEAD, id)
}

fn comb(auth: Option<&AlgDesc>, enc: Option<&AlgDesc>) -> Comb {
    Comb {
        auth: DefaultNone(AuthAlg::from(auth.map_or(0, |a| a.id))),
        encrypt: DefaultNone(EncryptAlg::from(enc.map_or(0, |e| e.id))),
        auth_minbits: auth.map_or(0, |a| a.minbits),
        auth_maxbits: auth.map_or(0, |a| a.maxbits),
        encrypt_minbits: enc.map_or(0, |e| e.minbits),
        encrypt_maxbits: enc.map_or(0, |e| e.maxbits),
        hard_addtime: 24 * 60 * 60,
        soft_addtime: 20 * 60 * 60,
        hard_usetime: 8 * 60 * 60,
        soft_usetime: 7 * 60 * 60,
        ..Comb::default()
    }
}

/// The ESP proposal of an ACQUIRE (`dump_esp_combs`: every cipher with every authenticator
/// except `digest_null`).
pub(crate) fn esp_combs() -> Vec<Comb> {
    ENCRYPT.iter().flat_map(|e| AUTH[1..].iter().map(move |a| comb(Some(a), Some(e)))).collect()
}

/// The AH proposal of an ACQUIRE (`dump_ah_combs`).
pub(crate) fn ah_combs() -> Vec<Comb> {
    AUTH.iter().map(|a| comb(Some(a), None)).collect()
}
