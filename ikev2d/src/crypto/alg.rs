//! Encryption (transform type 1) and integrity (transform type 3) algorithms.

/// An IKEv2 encryption algorithm (transform type 1) with its key length attribute.
///
/// The same values describe the SK payload's cipher and an ESP Child SA's cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum EncrAlg {
    /// ENCR_AES_GCM_16, transform ID 20 (RFC 5282 for IKEv2, RFC 4106 for ESP): 8-byte explicit
    /// IV, 16-byte ICV, 4-byte salt taken from the end of the key material.
    AesGcm16 {
        /// Key length attribute: 128 or 256.
        key_bits: u16,
    },
    /// ENCR_AES_CBC, transform ID 12 (RFC 3602): 16-byte IV, needs an integrity algorithm.
    AesCbc {
        /// Key length attribute: 128 or 256.
        key_bits: u16,
    },
}

impl EncrAlg {
    /// The algorithm for transform ID `id` with Key Length attribute `key_bits`, if supported.
    ///
    /// Both AES transforms have a variable key length, so the attribute is mandatory
    /// (RFC 7296 §3.3.5); only 128 and 256 are supported.
    pub fn from_transform(id: u16, key_bits: Option<u16>) -> Option<EncrAlg> {
        let key_bits = key_bits.filter(|b| matches!(b, 128 | 256))?;
        match id {
            20 => Some(EncrAlg::AesGcm16 { key_bits }),
            12 => Some(EncrAlg::AesCbc { key_bits }),
            _ => None,
        }
    }

    /// The IKEv2 transform ID (20 or 12).
    pub fn id(self) -> u16 {
        match self {
            EncrAlg::AesGcm16 { .. } => 20,
            EncrAlg::AesCbc { .. } => 12,
        }
    }

    /// The Key Length attribute, in bits.
    pub fn key_bits(self) -> u16 {
        match self {
            EncrAlg::AesGcm16 { key_bits } | EncrAlg::AesCbc { key_bits } => key_bits,
        }
    }

    /// Whether this is a combined-mode (AEAD) cipher, which takes no integrity transform.
    pub fn is_aead(self) -> bool {
        matches!(self, EncrAlg::AesGcm16 { .. })
    }

    /// The AES key length in bytes (16 or 32), without the GCM salt.
    pub fn key_len(self) -> usize {
        usize::from(self.key_bits() / 8)
    }

    /// The length of the key material taken from prf+ for this cipher: for AES-GCM the key
    /// followed by the 4-byte salt (RFC 5282 §7.1, RFC 4106 §8.1), for AES-CBC the key.
    pub fn key_material_len(self) -> usize {
        match self {
            EncrAlg::AesGcm16 { .. } => self.key_len() + GCM_SALT_LEN,
            EncrAlg::AesCbc { .. } => self.key_len(),
        }
    }

    /// The length of the IV in the SK payload: 8 for GCM (explicit part of the nonce),
    /// 16 for CBC.
    pub fn iv_len(self) -> usize {
        match self {
            EncrAlg::AesGcm16 { .. } => GCM_IV_LEN,
            EncrAlg::AesCbc { .. } => AES_BLOCK,
        }
    }
}

/// AES block size.
pub(crate) const AES_BLOCK: usize = 16;
/// The salt at the end of AES-GCM key material.
pub(crate) const GCM_SALT_LEN: usize = 4;
/// The explicit IV of AES-GCM in IKEv2 and ESP.
pub(crate) const GCM_IV_LEN: usize = 8;
/// The AES-GCM ICV of ENCR_AES_GCM_16.
pub(crate) const GCM_ICV_LEN: usize = 16;

/// An IKEv2 integrity algorithm (transform type 3): HMAC-SHA-2 truncated to half (RFC 4868), or
/// HMAC-SHA-1 truncated to 96 bits (RFC 2404), the one HMAC whose truncation Linux's `af_key`
/// installs as the RFCs say (it truncates HMAC-SHA-256 to 96 bits, where RFC 4868 says 128).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum IntegAlg {
    /// AUTH_HMAC_SHA1_96, transform ID 2 (RFC 2404; RFC 8221 keeps it at MUST- for ESP).
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128, transform ID 12.
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192, transform ID 13.
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256, transform ID 14.
    HmacSha512_256,
}

impl IntegAlg {
    /// The algorithm with IKEv2 transform ID `id`, if supported.
    pub fn from_id(id: u16) -> Option<IntegAlg> {
        match id {
            2 => Some(IntegAlg::HmacSha1_96),
            12 => Some(IntegAlg::HmacSha256_128),
            13 => Some(IntegAlg::HmacSha384_192),
            14 => Some(IntegAlg::HmacSha512_256),
            _ => None,
        }
    }

    /// The IKEv2 transform ID.
    pub fn id(self) -> u16 {
        match self {
            IntegAlg::HmacSha1_96 => 2,
            IntegAlg::HmacSha256_128 => 12,
            IntegAlg::HmacSha384_192 => 13,
            IntegAlg::HmacSha512_256 => 14,
        }
    }

    /// The key length in bytes: the hash output length (RFC 2404 §3, RFC 4868 §2.1.1): 20, 32, 48
    /// or 64.
    pub fn key_len(self) -> usize {
        match self {
            IntegAlg::HmacSha1_96 => 20,
            IntegAlg::HmacSha256_128 => 32,
            IntegAlg::HmacSha384_192 => 48,
            IntegAlg::HmacSha512_256 => 64,
        }
    }

    /// The truncated ICV length in bytes (RFC 2404 §2, RFC 4868 §2.3): 12, 16, 24 or 32.
    pub fn icv_len(self) -> usize {
        match self {
            IntegAlg::HmacSha1_96 => 12,
            _ => self.key_len() / 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encr_from_transform() {
        assert_eq!(EncrAlg::from_transform(20, Some(256)), Some(EncrAlg::AesGcm16 { key_bits: 256 }));
        assert_eq!(EncrAlg::from_transform(12, Some(128)), Some(EncrAlg::AesCbc { key_bits: 128 }));
        assert_eq!(EncrAlg::from_transform(20, None), None);
        assert_eq!(EncrAlg::from_transform(20, Some(192)), None);
        assert_eq!(EncrAlg::from_transform(12, Some(0)), None);
        assert_eq!(EncrAlg::from_transform(3, Some(128)), None); // 3DES
        assert_eq!(EncrAlg::from_transform(19, Some(128)), None); // GCM with 12-byte ICV
        for alg in [
            EncrAlg::AesGcm16 { key_bits: 128 },
            EncrAlg::AesGcm16 { key_bits: 256 },
            EncrAlg::AesCbc { key_bits: 128 },
            EncrAlg::AesCbc { key_bits: 256 },
        ] {
            assert_eq!(EncrAlg::from_transform(alg.id(), Some(alg.key_bits())), Some(alg));
        }
    }

    #[test]
    fn encr_lengths() {
        let g128 = EncrAlg::AesGcm16 { key_bits: 128 };
        let g256 = EncrAlg::AesGcm16 { key_bits: 256 };
        let c128 = EncrAlg::AesCbc { key_bits: 128 };
        let c256 = EncrAlg::AesCbc { key_bits: 256 };
        assert_eq!(g128.key_material_len(), 20);
        assert_eq!(g256.key_material_len(), 36);
        assert_eq!(c128.key_material_len(), 16);
        assert_eq!(c256.key_material_len(), 32);
        assert!(g128.is_aead() && !c256.is_aead());
        assert_eq!((g256.iv_len(), c128.iv_len()), (8, 16));
    }

    #[test]
    fn integ_ids_and_lengths() {
        for (alg, id, key, icv) in [
            (IntegAlg::HmacSha1_96, 2, 20, 12),
            (IntegAlg::HmacSha256_128, 12, 32, 16),
            (IntegAlg::HmacSha384_192, 13, 48, 24),
            (IntegAlg::HmacSha512_256, 14, 64, 32),
        ] {
            assert_eq!(IntegAlg::from_id(id), Some(alg));
            assert_eq!((alg.id(), alg.key_len(), alg.icv_len()), (id, key, icv));
        }
        assert_eq!(IntegAlg::from_id(1), None); // HMAC-MD5-96
        assert_eq!(IntegAlg::from_id(7), None); // HMAC-SHA1-160
    }

    #[test]
    fn algorithms_serialize() {
        let s = serde_json::to_string(&EncrAlg::AesGcm16 { key_bits: 256 }).unwrap();
        assert_eq!(s, r#"{"AesGcm16":{"key_bits":256}}"#);
        assert_eq!(serde_json::to_string(&IntegAlg::HmacSha256_128).unwrap(), r#""HmacSha256_128""#);
    }
}
