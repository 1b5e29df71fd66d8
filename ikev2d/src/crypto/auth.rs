//! Authentication with a pre-shared key (RFC 7296 §2.15), NAT detection hashes (§2.23) and
//! stateless cookies (§2.6).

use std::net::IpAddr;

use hmac::Hmac;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::PrfAlg;
use super::prf::hmac_parts;

/// The pad of the PSK AUTH computation: 17 ASCII bytes, no terminating NUL (RFC 7296 §2.15).
pub const KEY_PAD: &[u8; 17] = b"Key Pad for IKEv2";

/// The AUTH payload data for shared key authentication (RFC 7296 §2.15):
/// `prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)`.
///
/// `signed_octets` comes from [`signed_octets`]. Compare the result with a received AUTH
/// payload in constant time (e.g. [`ct_eq`]).
pub fn psk_auth(prf: PrfAlg, psk: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    let key = prf.prf_parts(psk, &[KEY_PAD]);
    prf.prf(&key, signed_octets)
}

/// The octets a peer signs or MACs in its AUTH payload (RFC 7296 §2.15):
/// `message | peer nonce | prf(SK_p, RestOfIDPayload)`.
///
/// - Initiator: `first_message` is its whole IKE_SA_INIT request, `peer_nonce` Nr, `sk_p`
///   SK_pi and `id_body` the IDi payload body (ID type, three reserved bytes, data).
/// - Responder: its whole IKE_SA_INIT response, Ni, SK_pr and the IDr payload body.
pub fn signed_octets(prf: PrfAlg, first_message: &[u8], peer_nonce: &[u8], sk_p: &[u8], id_body: &[u8]) -> Vec<u8> {
    let maced_id = prf.prf_parts(sk_p, &[id_body]);
    [first_message, peer_nonce, &maced_id].concat()
}

/// The address bytes hashed for `addr`: 4 for IPv4 (an IPv4-mapped IPv6 address counts as
/// IPv4, since that is what the peer sees on the wire), 16 for IPv6.
fn addr_bytes(addr: IpAddr) -> Vec<u8> {
    match addr.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The data of a NAT_DETECTION_SOURCE_IP or NAT_DETECTION_DESTINATION_IP notification
/// (RFC 7296 §2.23): `SHA-1(SPIi | SPIr | IP address | port)`, SPIs as 8 big-endian bytes
/// (SPIr is zero in the IKE_SA_INIT request), the port as 2 big-endian bytes.
///
/// An IPv4-mapped IPv6 address (from a dual-stack socket) is hashed as the IPv4 address.
pub fn nat_detection_hash(spi_i: u64, spi_r: u64, addr: IpAddr, port: u16) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(spi_i.to_be_bytes());
    h.update(spi_r.to_be_bytes());
    h.update(addr_bytes(addr));
    h.update(port.to_be_bytes());
    h.finalize().into()
}

/// The identifier of a cookie secret that [`cookie`] puts in front of the hash: the first byte
/// of `SHA-256("ikev2d cookie secret" | secret)`. It lets the responder pick the secret that
/// made a returned cookie (current or previous) without revealing anything useful about it.
pub fn cookie_secret_id(secret: &[u8]) -> u8 {
    let mut h = Sha256::new();
    h.update(b"ikev2d cookie secret");
    h.update(secret);
    h.finalize()[0]
}

/// A stateless COOKIE (RFC 7296 §2.6):
/// `<VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)`, here
/// `cookie_secret_id(secret) | HMAC-SHA-256(secret, Ni | IPi | SPIi)`: 33 bytes, within the
/// 1..64 allowed. HMAC keyed by the secret is the keyed form of the RFC's hash. IPi is the
/// initiator's address as in [`nat_detection_hash`], SPIi 8 big-endian bytes.
///
/// The responder rotates `secret` from its [`Random`](super::Random) now and then, accepts
/// cookies made with the current or the previous secret ([`cookie_secret_id`] tells which),
/// and checks a returned cookie with [`cookie_matches`].
pub fn cookie(secret: &[u8], ni: &[u8], addr: IpAddr, spi_i: u64) -> Vec<u8> {
    let mac = hmac_parts::<Hmac<Sha256>>(secret, &[ni, &addr_bytes(addr), &spi_i.to_be_bytes()]);
    let mut out = Vec::with_capacity(1 + mac.len());
    out.push(cookie_secret_id(secret));
    out.extend_from_slice(&mac);
    out
}

/// Whether `received` is the [`cookie`] for these values under `secret`, compared in constant
/// time.
pub fn cookie_matches(secret: &[u8], ni: &[u8], addr: IpAddr, spi_i: u64, received: &[u8]) -> bool {
    ct_eq(&cookie(secret, ni, addr, spi_i), received)
}

/// Constant-time equality of two byte strings (the lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
