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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::h;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SPI_I: u64 = 0x0123_4567_89ab_cdef;
    const SPI_R: u64 = 0xfedc_ba98_7654_3210;

    // Expected values computed independently at authoring time with python3's
    // `hmac`/`hashlib`/`ipaddress`, from the inputs written in each test.

    #[test]
    fn signed_octets_and_psk_auth() {
        let msg = b"IKE_SA_INIT request bytes";
        let nr: Vec<u8> = (32..64).collect();
        let sk_p = [0x33; 32];
        let id_body = [&[2u8, 0, 0, 0][..], b"gw.example"].concat(); // FQDN
        let so = signed_octets(PrfAlg::HmacSha256, msg, &nr, &sk_p, &id_body);
        // msg | Nr | HMAC-SHA-256(SK_p, IDi body)
        assert_eq!(
            so,
            h("494b455f53415f494e49542072657175657374206279746573202122232425262728292a\
               2b2c2d2e2f303132333435363738393a3b3c3d3e3ff970725fdf58fb9fc08a6f6e160eba2f\
               f8ccb27d8525128458e45c5e4318d8fb")
        );
        // HMAC(HMAC(psk, "Key Pad for IKEv2"), SignedOctets)
        assert_eq!(
            psk_auth(PrfAlg::HmacSha256, b"a shared secret", &so),
            h("677b11ed943d8bbec7ed8164987d5149ca652ba40583c352ee6567abf82e2fcc")
        );
        // The same thing spelled out with the PRF.
        let prf = PrfAlg::HmacSha256;
        assert_eq!(psk_auth(prf, b"psk", b"octets"), prf.prf(&prf.prf(b"psk", b"Key Pad for IKEv2"), b"octets"));
        assert_eq!(KEY_PAD.len(), 17);
    }

    #[test]
    fn nat_detection_v4_and_v6() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        // SHA-1(SPIi | 0 x 8 | c0000201 | 01f4)
        assert_eq!(nat_detection_hash(SPI_I, 0, v4, 500).to_vec(), h("9426429034924268452f8e3ff79fb69e2a8d71eb"));
        // SHA-1(SPIi | SPIr | 2001:db8::1 | 1194)
        let v6 = IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(nat_detection_hash(SPI_I, SPI_R, v6, 4500).to_vec(), h("9de8bfefaab479f0d5a5609a6de20595c6307502"));
        // A v4-mapped address from a dual-stack socket hashes as IPv4.
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(nat_detection_hash(SPI_I, 0, mapped, 500), nat_detection_hash(SPI_I, 0, v4, 500));
        assert_ne!(nat_detection_hash(SPI_I, 0, v4, 500), nat_detection_hash(SPI_I, 0, v4, 4500));
    }

    #[test]
    fn cookies() {
        let ni: Vec<u8> = (0..32).collect();
        let addr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
        let secret = b"cookie secret 1";
        // SHA-256("ikev2d cookie secret" | secret)[0] | HMAC-SHA-256(secret, Ni | IPi | SPIi)
        let c = cookie(secret, &ni, addr, SPI_I);
        assert_eq!(c, h("f72967d04817d042d44da9a8bd3677cd23f28e38064fd89bccacc0beccb4390782"));
        assert_eq!(c[0], cookie_secret_id(secret));
        assert!(cookie_matches(secret, &ni, addr, SPI_I, &c));
        assert!(!cookie_matches(b"cookie secret 2", &ni, addr, SPI_I, &c));
        assert!(!cookie_matches(secret, &ni, addr, SPI_I + 1, &c));
        assert!(!cookie_matches(secret, &ni[1..], addr, SPI_I, &c));
        let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 8));
        assert!(!cookie_matches(secret, &ni, other, SPI_I, &c));
        assert!(!cookie_matches(secret, &ni, addr, SPI_I, &c[..32]));
        assert!(!cookie_matches(secret, &ni, addr, SPI_I, &[]));
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
