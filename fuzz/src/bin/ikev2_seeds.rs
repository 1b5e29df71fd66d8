//! Writes the seed corpus for the `ikev2_decode` target: a few IKEv2 messages built with the
//! codec, to the directory given as the first argument. Each seed is a datagram; the target
//! also reads it (minus its first byte) as a bare payload chain.

use std::net::IpAddr;
use std::path::PathBuf;

use ikev2d::codec::numbers::*;
use ikev2d::codec::*;

fn header(exchange: ExchangeType, flags: Flags, message_id: u32) -> Header {
    Header { spi_i: 0x0102_0304_0506_0708, spi_r: 0x1112_1314_1516_1718, exchange, flags, message_id }
}

fn notify(kind: NotifyType, data: &[u8]) -> Payload {
    Payload::Notify(Notify { protocol: ProtocolId::NONE, spi: vec![], kind, data: data.to_vec() })
}

fn ts(start: &str, end: &str) -> TrafficSelector {
    let (start, end): (IpAddr, IpAddr) = (start.parse().unwrap(), end.parse().unwrap());
    TrafficSelector { ip_protocol: 0, start_port: 0, end_port: 65535, start, end }
}

fn messages() -> Vec<(&'static str, Message)> {
    let t = |kind, id, key_length| Transform { kind, id, key_length };
    let ike_sa_init = Message {
        header: Header { spi_r: 0, ..header(ExchangeType::IkeSaInit, Flags::INITIATOR, 0) },
        payloads: vec![
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: ProtocolId::Ike,
                spi: vec![],
                transforms: vec![
                    t(TransformType::Encr, ENCR_AES_GCM_16, Some(256)),
                    t(TransformType::Prf, PRF_HMAC_SHA2_256, None),
                    t(TransformType::Ke, DH_ECP_256, None),
                ],
            }]),
            Payload::Ke { group: DH_ECP_256, data: vec![0x42; 64] },
            Payload::Nonce(vec![0x17; 32]),
            notify(NotifyType::NatDetectionSourceIp, &[0xaa; 20]),
            notify(NotifyType::NatDetectionDestinationIp, &[0xbb; 20]),
        ],
    };
    // The decrypted content of an IKE_AUTH request, sent here in the clear so that the target
    // sees every payload type in a datagram too.
    let ike_auth_inner = Message {
        header: header(ExchangeType::IkeAuth, Flags::INITIATOR, 1),
        payloads: vec![
            Payload::IdI(Identification { kind: IdType::Fqdn, data: b"moon.example".to_vec() }),
            Payload::Auth { method: AuthMethod::SharedKey, data: vec![0x33; 32] },
            notify(NotifyType::MobikeSupported, &[]),
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: ProtocolId::Esp,
                spi: vec![0xc0, 0xff, 0xee, 0x01],
                transforms: vec![
                    t(TransformType::Encr, ENCR_AES_CBC, Some(128)),
                    t(TransformType::Integ, AUTH_HMAC_SHA2_256_128, None),
                    t(TransformType::Esn, ESN_NO, None),
                ],
            }]),
            Payload::TsI(vec![ts("10.0.0.0", "10.0.255.255")]),
            Payload::TsR(vec![ts("2001:db8::", "2001:db8::ffff")]),
            Payload::Delete { protocol: ProtocolId::Esp, spis: vec![vec![1, 2, 3, 4]] },
        ],
    };
    let ike_auth = Message {
        header: header(ExchangeType::IkeAuth, Flags::INITIATOR, 1),
        payloads: vec![Payload::Sk { first_inner: PayloadType::IdI, body: vec![0x5a; 56] }],
    };
    let update = Message {
        header: header(ExchangeType::Informational, Flags::RESPONSE, 7),
        payloads: vec![
            notify(NotifyType::UpdateSaAddresses, &[]),
            notify(NotifyType::Cookie2, &[0x77; 16]),
            Payload::Unknown { kind: 200, critical: false, body: vec![1, 2] },
        ],
    };
    vec![("ike-sa-init", ike_sa_init), ("ike-auth-inner", ike_auth_inner), ("ike-auth", ike_auth), ("update", update)]
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus/ikev2_decode".into()));
    std::fs::create_dir_all(&dir).unwrap();
    let all = messages();
    for (name, m) in &all {
        let b = m.encode();
        assert_eq!(Message::decode(&b).as_ref(), Ok(m), "{name}");
        std::fs::write(dir.join(name), &b).unwrap();
    }
    println!("wrote {} seeds to {}", all.len(), dir.display());
}
