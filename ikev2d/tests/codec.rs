//! The IKEv2 codec against hand-assembled RFC 7296 layouts, one test per decode rule, and
//! round-trip / no-panic properties.

use std::net::IpAddr;

use ikev2d::codec::numbers::*;
use ikev2d::codec::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Bytes of a hex string; whitespace ignored.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex");
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).expect("hex digit")).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn range(lo: u8, hi: u8) -> Vec<u8> {
    (lo..hi).collect()
}

// =============================================================================================
// Hand-assembled vectors (RFC 7296 §3.1–3.14 layouts, one field per line)

#[test]
fn ike_sa_init_request_vector() {
    let wire = hex(concat!(
        // IKE header (§3.1)
        "0102030405060708", // IKE SA Initiator's SPI
        "0000000000000000", // IKE SA Responder's SPI: 0 in the first message
        "21",               // Next Payload: SA (33)
        "20",               // MjVer 2 | MnVer 0
        "22",               // Exchange Type: IKE_SA_INIT (34)
        "08",               // Flags: I
        "00000000",         // Message ID 0
        "000000e8",         // Length 232 = 28 + 40 + 72 + 36 + 28 + 28
        // SA payload (§3.3)
        "22",   // Next Payload: KE (34)
        "00",   // C = 0, RESERVED
        "0028", // Payload Length 40 = 4 + 36
        //   Proposal substructure (§3.3.1)
        "00",   // Last Substruc: last proposal
        "00",   // RESERVED
        "0024", // Proposal Length 36 = 8 + 12 + 8 + 8
        "01",   // Proposal Num 1
        "01",   // Protocol ID: IKE
        "00",   // SPI Size 0 (IKE_SA_INIT)
        "03",   // Num Transforms 3
        //     Transform substructure (§3.3.2): ENCR_AES_GCM_16, key length 256
        "03",   // Last Substruc: more transforms
        "00",   // RESERVED
        "000c", // Transform Length 12 = 8 + 4
        "01",   // Transform Type: ENCR
        "00",   // RESERVED
        "0014", // Transform ID: ENCR_AES_GCM_16 (20)
        "800e", // AF = 1 (TV) | Attribute Type 14 (Key Length)
        "0100", // Attribute Value: 256
        //     Transform: PRF_HMAC_SHA2_256
        "03",   // Last Substruc: more transforms
        "00",   // RESERVED
        "0008", // Transform Length 8
        "02",   // Transform Type: PRF
        "00",   // RESERVED
        "0005", // Transform ID: PRF_HMAC_SHA2_256 (5)
        //     Transform: DH group 19
        "00",   // Last Substruc: last transform
        "00",   // RESERVED
        "0008", // Transform Length 8
        "04",   // Transform Type: DH
        "00",   // RESERVED
        "0013", // Transform ID: 19 (256-bit random ECP)
        // KE payload (§3.4)
        "28",   // Next Payload: Nonce (40)
        "00",   // C = 0, RESERVED
        "0048", // Payload Length 72 = 4 + 4 + 64
        "0013", // Diffie-Hellman Group Num 19
        "0000", // RESERVED
        // Key Exchange Data: 64 bytes (x || y of P-256)
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
        // Nonce payload (§3.9)
        "29",                                                               // Next Payload: Notify (41)
        "00",                                                               // C = 0, RESERVED
        "0024",                                                             // Payload Length 36 = 4 + 32
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf", // Nonce Data
        // Notify payload (§3.10): NAT_DETECTION_SOURCE_IP
        "29",                                       // Next Payload: Notify (41)
        "00",                                       // C = 0, RESERVED
        "001c",                                     // Payload Length 28 = 4 + 4 + 20
        "00",                                       // Protocol ID 0
        "00",                                       // SPI Size 0
        "4004",                                     // Notify Message Type 16388
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3", // Notification Data: SHA-1
        // Notify payload: NAT_DETECTION_DESTINATION_IP
        "00",                                       // Next Payload: none
        "00",                                       // C = 0, RESERVED
        "001c",                                     // Payload Length 28
        "00",                                       // Protocol ID 0
        "00",                                       // SPI Size 0
        "4005",                                     // Notify Message Type 16389
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3", // Notification Data: SHA-1
    ));
    assert_eq!(wire.len(), 232);
    let msg = Message {
        header: Header {
            spi_i: 0x0102_0304_0506_0708,
            spi_r: 0,
            exchange: ExchangeType::IkeSaInit,
            flags: Flags::INITIATOR,
            message_id: 0,
        },
        payloads: vec![
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: ProtocolId::Ike,
                spi: vec![],
                transforms: vec![
                    Transform { kind: TransformType::Encr, id: ENCR_AES_GCM_16, key_length: Some(256) },
                    Transform { kind: TransformType::Prf, id: PRF_HMAC_SHA2_256, key_length: None },
                    Transform { kind: TransformType::Ke, id: DH_ECP_256, key_length: None },
                ],
            }]),
            Payload::Ke { group: 19, data: range(0, 64) },
            Payload::Nonce(range(0xa0, 0xc0)),
            Payload::Notify(Notify {
                protocol: ProtocolId::NONE,
                spi: vec![],
                kind: NotifyType::NatDetectionSourceIp,
                data: range(0xc0, 0xd4),
            }),
            Payload::Notify(Notify {
                protocol: ProtocolId::Unknown(0),
                spi: vec![],
                kind: NotifyType::NatDetectionDestinationIp,
                data: range(0xe0, 0xf4),
            }),
        ],
    };
    assert_eq!(Message::decode(&wire).as_ref(), Ok(&msg));
    assert_eq!(msg.encode(), wire);
    let json = serde_json::to_string(&msg).unwrap();
    assert!(json.contains("\"NAT_DETECTION_SOURCE_IP\""), "{json}");
    assert!(json.contains("\"spi_i\":\"0102030405060708\""), "{json}");
    assert!(json.contains("\"flags\":\"I\""), "{json}");
}

#[test]
fn ike_auth_request_with_sk_vector() {
    let wire = hex(concat!(
        // IKE header
        "0102030405060708", // SPIi
        "1112131415161718", // SPIr
        "2e",               // Next Payload: SK (46)
        "20",               // Version 2.0
        "23",               // Exchange Type: IKE_AUTH (35)
        "08",               // Flags: I
        "00000001",         // Message ID 1
        "00000048",         // Length 72 = 28 + 44
        // SK payload (§3.14)
        "23",                               // Next Payload: first inner payload IDi (35)
        "00",                               // C = 0, RESERVED
        "002c",                             // Payload Length 44 = 4 + 8 + 16 + 16
        "1011121314151617",                 // IV (8 bytes, AES-GCM)
        "606162636465666768696a6b6c6d6e6f", // ciphertext
        "707172737475767778797a7b7c7d7e7f", // ICV (16 bytes)
    ));
    let msg = Message {
        header: Header {
            spi_i: 0x0102_0304_0506_0708,
            spi_r: 0x1112_1314_1516_1718,
            exchange: ExchangeType::IkeAuth,
            flags: Flags::INITIATOR,
            message_id: 1,
        },
        payloads: vec![Payload::Sk {
            first_inner: PayloadType::IdI,
            body: range(0x10, 0x18).into_iter().chain(range(0x60, 0x80)).collect(),
        }],
    };
    assert_eq!(Message::decode(&wire).as_ref(), Ok(&msg));
    assert_eq!(msg.encode(), wire);
}

/// The content of the SK payload above once decrypted: IDi, AUTH, N(MOBIKE_SUPPORTED), SA,
/// TSi, TSr.
#[test]
fn ike_auth_inner_chain_vector() {
    let wire = hex(concat!(
        // IDi (§3.5)
        "27",                 // Next Payload: AUTH (39)
        "00",                 // C = 0, RESERVED
        "0011",               // Payload Length 17 = 4 + 4 + 9
        "02",                 // ID Type: ID_FQDN
        "000000",             // RESERVED
        "612e6578616d706c65", // "a.example"
        // AUTH (§3.8)
        "29",                                                               // Next Payload: Notify (41)
        "00",                                                               // C = 0, RESERVED
        "0028",                                                             // Payload Length 40 = 4 + 4 + 32
        "02",                                                               // Auth Method: Shared Key MIC
        "000000",                                                           // RESERVED
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f", // Authentication Data
        // Notify: MOBIKE_SUPPORTED (RFC 4555 §4.2.1)
        "21",   // Next Payload: SA (33)
        "00",   // C = 0, RESERVED
        "0008", // Payload Length 8
        "00",   // Protocol ID 0
        "00",   // SPI Size 0
        "400c", // Notify Message Type 16396
        // SA (§3.3) with one ESP proposal
        "2c",       // Next Payload: TSi (44)
        "00",       // C = 0, RESERVED
        "002c",     // Payload Length 44 = 4 + 40
        "00",       // Last Substruc: last proposal
        "00",       // RESERVED
        "0028",     // Proposal Length 40 = 8 + 4 + 12 + 8 + 8
        "01",       // Proposal Num 1
        "03",       // Protocol ID: ESP
        "04",       // SPI Size 4
        "03",       // Num Transforms 3
        "c0ffee01", // SPI
        "03",
        "00",
        "000c",
        "01",
        "00",
        "000c",
        "800e",
        "0100", // ENCR_AES_CBC (12), key length 256
        "03",
        "00",
        "0008",
        "03",
        "00",
        "000c", // INTEG AUTH_HMAC_SHA2_256_128 (12)
        "00",
        "00",
        "0008",
        "05",
        "00",
        "0000", // ESN: no (0), last transform
        // TSi (§3.13)
        "2d",       // Next Payload: TSr (45)
        "00",       // C = 0, RESERVED
        "0018",     // Payload Length 24 = 4 + 4 + 16
        "01",       // Number of TSs 1
        "000000",   // RESERVED
        "07",       // TS Type: TS_IPV4_ADDR_RANGE
        "00",       // IP Protocol ID: any
        "0010",     // Selector Length 16
        "0000",     // Start Port 0
        "ffff",     // End Port 65535
        "0a000000", // Starting Address 10.0.0.0
        "0a00ffff", // Ending Address 10.0.255.255
        // TSr
        "00",                               // Next Payload: none
        "00",                               // C = 0, RESERVED
        "0030",                             // Payload Length 48 = 4 + 4 + 40
        "01",                               // Number of TSs 1
        "000000",                           // RESERVED
        "08",                               // TS Type: TS_IPV6_ADDR_RANGE
        "06",                               // IP Protocol ID: TCP
        "0028",                             // Selector Length 40
        "01bb",                             // Start Port 443
        "01bb",                             // End Port 443
        "20010db8000000000000000000000000", // Starting Address 2001:db8::
        "20010db800000000000000000000ffff", // Ending Address 2001:db8::ffff
    ));
    assert_eq!(wire.len(), 17 + 40 + 8 + 44 + 24 + 48);
    let idi = Identification { kind: IdType::Fqdn, data: b"a.example".to_vec() };
    let payloads = vec![
        Payload::IdI(idi.clone()),
        Payload::Auth { method: AuthMethod::SharedKey, data: range(0x40, 0x60) },
        Payload::Notify(Notify {
            protocol: ProtocolId::NONE,
            spi: vec![],
            kind: NotifyType::MobikeSupported,
            data: vec![],
        }),
        Payload::Sa(vec![Proposal {
            number: 1,
            protocol: ProtocolId::Esp,
            spi: vec![0xc0, 0xff, 0xee, 0x01],
            transforms: vec![
                Transform { kind: TransformType::Encr, id: ENCR_AES_CBC, key_length: Some(256) },
                Transform { kind: TransformType::Integ, id: AUTH_HMAC_SHA2_256_128, key_length: None },
                Transform { kind: TransformType::Esn, id: ESN_NO, key_length: None },
            ],
        }]),
        Payload::TsI(vec![TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: ip("10.0.0.0"),
            end: ip("10.0.255.255"),
        }]),
        Payload::TsR(vec![TrafficSelector {
            ip_protocol: 6,
            start_port: 443,
            end_port: 443,
            start: ip("2001:db8::"),
            end: ip("2001:db8::ffff"),
        }]),
    ];
    assert_eq!(decode_payloads(PayloadType::IdI, &wire).as_ref(), Ok(&payloads));
    assert_eq!(encode_payloads(&payloads), (PayloadType::IdI, wire.clone()));
    // RestOfInitIDPayload: the IDi payload after its generic header.
    assert_eq!(idi.body(), wire[4..17]);
}

#[test]
fn delete_vector() {
    let wire = hex(concat!(
        // Delete (§3.11) of two ESP SAs
        "2a",       // Next Payload: Delete (42)
        "00",       // C = 0, RESERVED
        "0010",     // Payload Length 16 = 4 + 4 + 2 * 4
        "03",       // Protocol ID: ESP
        "04",       // SPI Size 4
        "0002",     // Num of SPIs 2
        "c0ffee01", // SPI 1
        "c0ffee02", // SPI 2
        // Delete of the IKE SA
        "00",   // Next Payload: none
        "00",   // C = 0, RESERVED
        "0008", // Payload Length 8
        "01",   // Protocol ID: IKE
        "00",   // SPI Size 0
        "0000", // Num of SPIs 0
    ));
    let payloads = vec![
        Payload::Delete { protocol: ProtocolId::Esp, spis: vec![hex("c0ffee01"), hex("c0ffee02")] },
        Payload::Delete { protocol: ProtocolId::Ike, spis: vec![] },
    ];
    assert_eq!(decode_payloads(PayloadType::Delete, &wire).as_ref(), Ok(&payloads));
    assert_eq!(encode_payloads(&payloads), (PayloadType::Delete, wire));
}

#[test]
fn traffic_selector_vectors_v4_and_v6() {
    let wire = hex(concat!(
        // TSi with two IPv4 selectors
        "2d",       // Next Payload: TSr (45)
        "00",       // C = 0, RESERVED
        "0028",     // Payload Length 40 = 4 + 4 + 2 * 16
        "02",       // Number of TSs 2
        "000000",   // RESERVED
        "07",       // TS Type: TS_IPV4_ADDR_RANGE
        "11",       // IP Protocol ID: UDP (17)
        "0010",     // Selector Length 16
        "01f4",     // Start Port 500
        "01f4",     // End Port 500
        "c0000201", // Starting Address 192.0.2.1
        "c0000201", // Ending Address 192.0.2.1
        "07",       // TS Type: TS_IPV4_ADDR_RANGE
        "00",       // IP Protocol ID: any
        "0010",     // Selector Length 16
        "0000",     // Start Port 0
        "ffff",     // End Port 65535
        "0a000000", // Starting Address 10.0.0.0
        "0affffff", // Ending Address 10.255.255.255
        // TSr with one IPv6 selector covering everything
        "00",                               // Next Payload: none
        "00",                               // C = 0, RESERVED
        "0030",                             // Payload Length 48 = 4 + 4 + 40
        "01",                               // Number of TSs 1
        "000000",                           // RESERVED
        "08",                               // TS Type: TS_IPV6_ADDR_RANGE
        "00",                               // IP Protocol ID: any
        "0028",                             // Selector Length 40
        "0000",                             // Start Port 0
        "ffff",                             // End Port 65535
        "00000000000000000000000000000000", // Starting Address ::
        "ffffffffffffffffffffffffffffffff", // Ending Address ffff:...:ffff
    ));
    let payloads = vec![
        Payload::TsI(vec![
            TrafficSelector {
                ip_protocol: 17,
                start_port: 500,
                end_port: 500,
                start: ip("192.0.2.1"),
                end: ip("192.0.2.1"),
            },
            TrafficSelector {
                ip_protocol: 0,
                start_port: 0,
                end_port: 65535,
                start: ip("10.0.0.0"),
                end: ip("10.255.255.255"),
            },
        ]),
        Payload::TsR(vec![TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: ip("::"),
            end: ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        }]),
    ];
    assert_eq!(decode_payloads(PayloadType::TsI, &wire).as_ref(), Ok(&payloads));
    assert_eq!(encode_payloads(&payloads), (PayloadType::TsI, wire));
}

// =============================================================================================
// Small cases that are not errors

#[test]
fn empty_message_and_empty_chain() {
    let msg = Message {
        header: Header {
            spi_i: 1,
            spi_r: 2,
            exchange: ExchangeType::Informational,
            flags: Flags::RESPONSE,
            message_id: 9,
        },
        payloads: vec![],
    };
    let wire = msg.encode();
    assert_eq!(wire.len(), Message::header_len());
    assert_eq!(wire[16], 0, "Next Payload: none");
    assert_eq!(Message::decode(&wire), Ok(msg));
    assert_eq!(encode_payloads(&[]), (PayloadType::None, vec![]));
    assert_eq!(decode_payloads(PayloadType::None, &[]), Ok(vec![]));
}

#[test]
fn unknown_non_critical_payload_is_kept() {
    // Payload type 100, not critical, 2-byte body.
    let wire = hex("00 00 0006 abcd");
    let p = vec![Payload::Unknown { kind: 100, critical: false, body: hex("abcd") }];
    assert_eq!(decode_payloads(PayloadType::from(100), &wire).as_ref(), Ok(&p));
    assert_eq!(encode_payloads(&p), (PayloadType::Unknown(100), wire));
}

#[test]
fn reserved_bits_are_ignored_on_decode_and_zero_on_encode() {
    let mut wire = Message {
        header: Header {
            spi_i: 1,
            spi_r: 0,
            exchange: ExchangeType::IkeSaInit,
            flags: Flags::INITIATOR,
            message_id: 0,
        },
        payloads: vec![Payload::Ke { group: 31, data: vec![1; 32] }],
    }
    .encode();
    let clean = wire.clone();
    wire[17] = 0x27; // minor version 7
    wire[19] |= 0x07; // reserved flag bits
    wire[29] = 0xff; // critical bit of a known payload and the reserved bits
    wire[34] = 0xaa; // KE RESERVED
    let msg = Message::decode(&wire).unwrap();
    assert_eq!(msg.header.flags, Flags::INITIATOR);
    assert_eq!(msg.encode(), clean);
}

#[test]
fn notify_with_spi() {
    let n = Payload::Notify(Notify {
        protocol: ProtocolId::Esp,
        spi: hex("01020304"),
        kind: NotifyType::RekeySa,
        data: vec![],
    });
    // Next 0, len 12, proto 3, spi size 4, type 16393, SPI.
    let wire = hex("00 00 000c 03 04 4009 01020304");
    assert_eq!(encode_payloads(std::slice::from_ref(&n)), (PayloadType::Notify, wire.clone()));
    assert_eq!(decode_payloads(PayloadType::Notify, &wire), Ok(vec![n]));
}

// =============================================================================================
// One test per DecodeError variant

/// A generic payload header: next payload, length from the body, then the body.
fn payload(next: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![next, 0];
    v.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// An IKE header (length = 28 + `chain.len()`) followed by `chain`.
fn datagram(first: u8, chain: &[u8]) -> Vec<u8> {
    let mut v = hex("0102030405060708 0000000000000000");
    v.extend_from_slice(&[first, 0x20, 34, 0x08, 0, 0, 0, 0]);
    v.extend_from_slice(&u32::try_from(28 + chain.len()).unwrap().to_be_bytes());
    v.extend_from_slice(chain);
    v
}

fn chain_err(first: PayloadType, bytes: &[u8]) -> DecodeError {
    decode_payloads(first, bytes).expect_err("must not decode")
}

/// An SA payload body error: the chain is one SA payload with this body.
fn sa_err(body: &str) -> DecodeError {
    chain_err(PayloadType::Sa, &payload(0, &hex(body)))
}

/// A transform list error: one ESP proposal (no SPI) around `transforms`, declaring `n`.
fn transforms_err(n: u8, transforms: &str) -> DecodeError {
    let t = hex(transforms);
    let mut prop = vec![0, 0];
    prop.extend_from_slice(&u16::try_from(8 + t.len()).unwrap().to_be_bytes());
    prop.extend_from_slice(&[1, 3, 0, n]);
    prop.extend_from_slice(&t);
    chain_err(PayloadType::Sa, &payload(0, &prop))
}

#[test]
fn err_header_too_short() {
    assert_eq!(Message::decode(&[0; 27]), Err(DecodeError::HeaderTooShort { len: 27 }));
    assert_eq!(Message::decode(&[]), Err(DecodeError::HeaderTooShort { len: 0 }));
}

#[test]
fn err_invalid_major_version() {
    let mut d = datagram(0, &[]);
    d[17] = 0x10; // IKEv1
    assert_eq!(Message::decode(&d), Err(DecodeError::InvalidMajorVersion { major: 1, minor: 0 }));
    d[17] = 0x31;
    assert_eq!(Message::decode(&d), Err(DecodeError::InvalidMajorVersion { major: 3, minor: 1 }));
}

#[test]
fn err_length_mismatch() {
    let mut d = datagram(0, &[]);
    d[27] = 29;
    assert_eq!(Message::decode(&d), Err(DecodeError::LengthMismatch { declared: 29, actual: 28 }));
    let mut d = datagram(0, &[]);
    d.push(0);
    assert_eq!(Message::decode(&d), Err(DecodeError::LengthMismatch { declared: 28, actual: 29 }));
}

#[test]
fn err_payload_header_truncated() {
    assert_eq!(
        Message::decode(&datagram(40, &[])),
        Err(DecodeError::PayloadHeaderTruncated { offset: 28, payload: PayloadType::Nonce, remaining: 0 })
    );
    assert_eq!(
        chain_err(PayloadType::Ke, &hex("000000")),
        DecodeError::PayloadHeaderTruncated { offset: 0, payload: PayloadType::Ke, remaining: 3 }
    );
}

#[test]
fn err_payload_length_too_small() {
    assert_eq!(
        chain_err(PayloadType::VendorId, &hex("00 00 0003 00")),
        DecodeError::PayloadLengthTooSmall { offset: 0, payload: PayloadType::VendorId, length: 3 }
    );
}

#[test]
fn err_payload_past_end() {
    // A vendor ID, then a Notify whose length runs past the datagram.
    let mut chain = payload(41, b"vid");
    chain.extend_from_slice(&hex("00 00 0064 00 00 4000"));
    assert_eq!(
        Message::decode(&datagram(43, &chain)),
        Err(DecodeError::PayloadPastEnd { offset: 28 + 7, payload: PayloadType::Notify, length: 100, remaining: 8 })
    );
}

#[test]
fn err_body_too_short() {
    assert_eq!(
        chain_err(PayloadType::Ke, &payload(0, &hex("0013"))),
        DecodeError::BodyTooShort { offset: 0, payload: PayloadType::Ke, need: 4, have: 2 }
    );
    // A Notify with SPI size 4 and only 2 bytes of SPI.
    assert_eq!(
        chain_err(PayloadType::Notify, &payload(0, &hex("03 04 4009 0102"))),
        DecodeError::BodyTooShort { offset: 0, payload: PayloadType::Notify, need: 8, have: 6 }
    );
    assert_eq!(
        chain_err(PayloadType::CertReq, &payload(0, &[])),
        DecodeError::BodyTooShort { offset: 0, payload: PayloadType::CertReq, need: 1, have: 0 }
    );
    for (t, name) in
        [(PayloadType::IdR, "IDr"), (PayloadType::Auth, "AUTH"), (PayloadType::Delete, "D"), (PayloadType::TsR, "TSr")]
    {
        let e = chain_err(t, &payload(0, &hex("0102")));
        assert_eq!(e, DecodeError::BodyTooShort { offset: 0, payload: t, need: 4, have: 2 });
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn err_unsupported_critical_payload() {
    // A Nonce (critical bit ignored: known type), then type 100 with the critical bit.
    let mut chain = payload(100, &[7; 16]);
    chain[1] = 0x80;
    chain.extend_from_slice(&hex("00 80 0004"));
    assert_eq!(chain_err(PayloadType::Nonce, &chain), DecodeError::UnsupportedCriticalPayload { kind: 100 });
    assert_eq!(Message::decode(&datagram(40, &chain)), Err(DecodeError::UnsupportedCriticalPayload { kind: 100 }));
}

#[test]
fn err_trailing_bytes() {
    let mut chain = payload(0, b"vid");
    chain.extend_from_slice(&[0, 0]);
    assert_eq!(chain_err(PayloadType::VendorId, &chain), DecodeError::TrailingBytes { offset: 7, count: 2 });
    assert_eq!(Message::decode(&datagram(0, &[1, 2, 3])), Err(DecodeError::TrailingBytes { offset: 28, count: 3 }));
}

#[test]
fn err_sk_not_last() {
    let mut chain = payload(35, &[0; 24]);
    chain.extend_from_slice(&payload(0, b"vid"));
    assert_eq!(Message::decode(&datagram(46, &chain)), Err(DecodeError::SkNotLast { offset: 28, count: 7 }));
}

#[test]
fn err_nonce_length() {
    assert_eq!(chain_err(PayloadType::Nonce, &payload(0, &[0; 15])), DecodeError::NonceLength { offset: 0, len: 15 });
    assert_eq!(chain_err(PayloadType::Nonce, &payload(0, &[0; 257])), DecodeError::NonceLength { offset: 0, len: 257 });
    assert!(decode_payloads(PayloadType::Nonce, &payload(0, &[0; 256])).is_ok());
    assert!(decode_payloads(PayloadType::Nonce, &payload(0, &[0; 16])).is_ok());
}

#[test]
fn err_ke_empty() {
    assert_eq!(chain_err(PayloadType::Ke, &payload(0, &hex("0013 0000"))), DecodeError::KeEmpty { offset: 0 });
}

#[test]
fn err_proposal_truncated() {
    assert_eq!(sa_err("00 00 0005 01"), DecodeError::ProposalTruncated { offset: 4, remaining: 5 });
}

#[test]
fn err_proposal_too_short() {
    // Proposal Length 8 but SPI Size 4.
    assert_eq!(sa_err("00 00 0008 01 03 04 00"), DecodeError::ProposalTooShort { offset: 4, length: 8, need: 12 });
    assert_eq!(sa_err("00 00 0000 01 03 00 00"), DecodeError::ProposalTooShort { offset: 4, length: 0, need: 8 });
}

#[test]
fn err_proposal_past_end() {
    assert_eq!(sa_err("00 00 0064 01 01 00 00"), DecodeError::ProposalPastEnd { offset: 4, length: 100, remaining: 8 });
}

#[test]
fn err_proposal_last_substruc() {
    // A single proposal that says "more".
    assert_eq!(
        sa_err("02 00 0008 01 01 00 00"),
        DecodeError::ProposalLastSubstruc { offset: 4, value: 2, expected: 0 }
    );
    // Two proposals, the first says "last".
    assert_eq!(
        sa_err("00 00 0008 01 01 00 00  00 00 0008 02 01 00 00"),
        DecodeError::ProposalLastSubstruc { offset: 4, value: 0, expected: 2 }
    );
    // Transform's "more" value (3) on a proposal.
    assert_eq!(
        sa_err("03 00 0008 01 01 00 00  00 00 0008 02 01 00 00"),
        DecodeError::ProposalLastSubstruc { offset: 4, value: 3, expected: 2 }
    );
}

#[test]
fn err_proposal_transform_count() {
    assert_eq!(
        transforms_err(2, "00 00 0008 01 00 000c"),
        DecodeError::ProposalTransformCount { offset: 4, declared: 2, found: 1 }
    );
    assert_eq!(transforms_err(1, ""), DecodeError::ProposalTransformCount { offset: 4, declared: 1, found: 0 });
}

#[test]
fn err_transform_truncated() {
    assert_eq!(transforms_err(1, "00 00 0008"), DecodeError::TransformTruncated { offset: 12, remaining: 4 });
}

#[test]
fn err_transform_too_short() {
    assert_eq!(transforms_err(1, "00 00 0004 01 00 000c"), DecodeError::TransformTooShort { offset: 12, length: 4 });
}

#[test]
fn err_transform_past_end() {
    assert_eq!(
        transforms_err(1, "00 00 0014 01 00 000c"),
        DecodeError::TransformPastEnd { offset: 12, length: 20, remaining: 8 }
    );
}

#[test]
fn err_transform_last_substruc() {
    assert_eq!(
        transforms_err(1, "03 00 0008 01 00 000c"),
        DecodeError::TransformLastSubstruc { offset: 12, value: 3, expected: 0 }
    );
    assert_eq!(
        transforms_err(2, "00 00 0008 01 00 000c  00 00 0008 03 00 000c"),
        DecodeError::TransformLastSubstruc { offset: 12, value: 0, expected: 3 }
    );
}

#[test]
fn err_attribute_truncated() {
    // Two bytes of attribute.
    assert_eq!(
        transforms_err(1, "00 00 000a 01 00 000c 800e"),
        DecodeError::AttributeTruncated { offset: 20, need: 4, have: 2 }
    );
    // A TLV attribute whose value runs past the transform.
    assert_eq!(
        transforms_err(1, "00 00 000e 01 00 000c 0001 0004 0102"),
        DecodeError::AttributeTruncated { offset: 20, need: 8, have: 6 }
    );
}

#[test]
fn err_attribute_format() {
    // Key Length in TLV format.
    assert_eq!(
        transforms_err(1, "00 00 000e 01 00 000c 000e 0002 0100"),
        DecodeError::AttributeFormat { offset: 20, attr_type: 14 }
    );
}

#[test]
fn err_unknown_attribute() {
    assert_eq!(
        transforms_err(1, "00 00 0010 01 00 000c 800e 0080 8001 0001"),
        DecodeError::UnknownAttribute { offset: 24, attr_type: 1 }
    );
}

#[test]
fn err_duplicate_attribute() {
    assert_eq!(
        transforms_err(1, "00 00 0010 01 00 000c 800e 0080 800e 0100"),
        DecodeError::DuplicateAttribute { offset: 24, attr_type: 14 }
    );
}

#[test]
fn err_delete_spi_size() {
    let del = |body: &str| chain_err(PayloadType::Delete, &payload(0, &hex(body)));
    assert_eq!(
        del("03 08 0001 0102030405060708"),
        DecodeError::DeleteSpiSize { offset: 0, protocol: ProtocolId::Esp, spi_size: 8 }
    );
    assert_eq!(
        del("01 04 0001 01020304"),
        DecodeError::DeleteSpiSize { offset: 0, protocol: ProtocolId::Ike, spi_size: 4 }
    );
    // Another protocol with an SPI size but no SPI: the size cannot be encoded back.
    assert_eq!(
        del("09 04 0000"),
        DecodeError::DeleteSpiSize { offset: 0, protocol: ProtocolId::Unknown(9), spi_size: 4 }
    );
    // ... with SPIs it is kept.
    assert_eq!(
        decode_payloads(PayloadType::Delete, &payload(0, &hex("09 02 0001 abcd"))),
        Ok(vec![Payload::Delete { protocol: ProtocolId::Unknown(9), spis: vec![hex("abcd")] }])
    );
}

#[test]
fn err_delete_empty_spis() {
    assert_eq!(
        chain_err(PayloadType::Delete, &payload(0, &hex("01 00 0003"))),
        DecodeError::DeleteEmptySpis { offset: 0, count: 3 }
    );
}

#[test]
fn err_delete_length() {
    assert_eq!(
        chain_err(PayloadType::Delete, &payload(0, &hex("03 04 0002 c0ffee01"))),
        DecodeError::DeleteLength { offset: 0, num_spis: 2, spi_size: 4, have: 4 }
    );
    assert_eq!(
        chain_err(PayloadType::Delete, &payload(0, &hex("01 00 0000 00"))),
        DecodeError::DeleteLength { offset: 0, num_spis: 0, spi_size: 0, have: 1 }
    );
}

#[test]
fn err_ts_truncated() {
    let ts = |body: &str| chain_err(PayloadType::TsI, &payload(0, &hex(body)));
    assert_eq!(
        ts("01 000000 07 00 00"),
        DecodeError::TsTruncated { offset: 8, payload: PayloadType::TsI, need: 8, have: 3 }
    );
    assert_eq!(
        ts("01 000000 07 00 0010 0000 ffff 0a000000"),
        DecodeError::TsTruncated { offset: 8, payload: PayloadType::TsI, need: 16, have: 12 }
    );
}

#[test]
fn err_unknown_ts_type() {
    // TS_FC_ADDR_RANGE (9, RFC 4595) is not supported.
    assert_eq!(
        chain_err(PayloadType::TsR, &payload(0, &hex("01 000000 09 00 0010 0000 ffff 00000000 00000000"))),
        DecodeError::UnknownTsType { offset: 8, payload: PayloadType::TsR, ts_type: 9 }
    );
}

#[test]
fn err_ts_length() {
    assert_eq!(
        chain_err(PayloadType::TsI, &payload(0, &hex("01 000000 07 00 0028 0000 ffff 00000000 00000000"))),
        DecodeError::TsLength { offset: 8, payload: PayloadType::TsI, ts_type: 7, length: 40 }
    );
    assert_eq!(
        chain_err(PayloadType::TsI, &payload(0, &hex("01 000000 08 00 0010 0000 ffff 00000000 00000000"))),
        DecodeError::TsLength { offset: 8, payload: PayloadType::TsI, ts_type: 8, length: 16 }
    );
}

#[test]
fn err_ts_count() {
    assert_eq!(
        chain_err(PayloadType::TsI, &payload(0, &hex("02 000000 07 00 0010 0000 ffff 00000000 ffffffff"))),
        DecodeError::TsCount { offset: 0, payload: PayloadType::TsI, declared: 2, found: 1 }
    );
    assert_eq!(
        chain_err(PayloadType::TsI, &payload(0, &hex("00 000000 07 00 0010 0000 ffff 00000000 ffffffff"))),
        DecodeError::TsCount { offset: 0, payload: PayloadType::TsI, declared: 0, found: 1 }
    );
}

#[test]
fn errors_render_offset_and_payload() {
    let e = DecodeError::TsLength { offset: 40, payload: PayloadType::TsR, ts_type: 7, length: 40 };
    assert_eq!(e.to_string(), "byte 40: TSr traffic selector of type 7 has length 40");
    let e = DecodeError::PayloadPastEnd { offset: 28, payload: PayloadType::Unknown(99), length: 9, remaining: 4 };
    assert_eq!(e.to_string(), "byte 28: UNKNOWN(99) payload length 9 runs past the 4 bytes left");
}

// =============================================================================================
// Properties

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn protocol() -> impl Strategy<Value = ProtocolId> {
    any::<u8>().prop_map(ProtocolId::from)
}

fn transform() -> impl Strategy<Value = Transform> {
    (any::<u8>(), any::<u16>(), any::<Option<u16>>()).prop_map(|(k, id, key_length)| Transform {
        kind: TransformType::from(k),
        id,
        key_length,
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u8>(), protocol(), bytes(8), vec(transform(), 0..6))
        .prop_map(|(number, protocol, spi, transforms)| Proposal { number, protocol, spi, transforms })
}

fn identification() -> impl Strategy<Value = Identification> {
    (any::<u8>(), bytes(40)).prop_map(|(k, data)| Identification { kind: IdType::from(k), data })
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    let v4 = (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(s, e)| (IpAddr::from(s), IpAddr::from(e)));
    let v6 = (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(s, e)| (IpAddr::from(s), IpAddr::from(e)));
    (any::<u8>(), any::<u16>(), any::<u16>(), prop_oneof![v4, v6]).prop_map(
        |(ip_protocol, start_port, end_port, (start, end))| TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        },
    )
}

fn delete() -> impl Strategy<Value = Payload> {
    prop_oneof![
        Just(Payload::Delete { protocol: ProtocolId::Ike, spis: vec![] }),
        (prop_oneof![Just(ProtocolId::Esp), Just(ProtocolId::Ah)], vec(any::<[u8; 4]>(), 0..5))
            .prop_map(|(protocol, spis)| Payload::Delete { protocol, spis: spis.into_iter().map(Vec::from).collect() }),
        // Another protocol: any SPI size from 1, at least one SPI.
        (4u8..=255, 1usize..=8, 1usize..=4).prop_flat_map(|(p, size, n)| {
            vec(vec(any::<u8>(), size), n).prop_map(move |spis| Payload::Delete { protocol: ProtocolId::from(p), spis })
        }),
        (4u8..=255).prop_map(|p| Payload::Delete { protocol: ProtocolId::from(p), spis: vec![] }),
    ]
}

/// Every payload but SK, as decoding would produce it.
fn payload_strategy() -> impl Strategy<Value = Payload> {
    prop_oneof![
        vec(proposal(), 0..4).prop_map(Payload::Sa),
        (any::<u16>(), vec(any::<u8>(), 1..80)).prop_map(|(group, data)| Payload::Ke { group, data }),
        vec(any::<u8>(), 16..=256).prop_map(Payload::Nonce),
        identification().prop_map(Payload::IdI),
        identification().prop_map(Payload::IdR),
        (any::<u8>(), bytes(64)).prop_map(|(m, data)| Payload::Auth { method: AuthMethod::from(m), data }),
        (protocol(), bytes(8), any::<u16>(), bytes(40)).prop_map(|(protocol, spi, k, data)| Payload::Notify(Notify {
            protocol,
            spi,
            kind: NotifyType::from(k),
            data
        })),
        delete(),
        bytes(32).prop_map(Payload::VendorId),
        vec(selector(), 0..4).prop_map(Payload::TsI),
        vec(selector(), 0..4).prop_map(Payload::TsR),
        (any::<u8>(), bytes(40)).prop_map(|(encoding, data)| Payload::Cert { encoding, data }),
        (any::<u8>(), bytes(40)).prop_map(|(encoding, data)| Payload::CertReq { encoding, data }),
        bytes(40).prop_map(Payload::Cp),
        bytes(40).prop_map(Payload::Eap),
        (prop_oneof![1u8..=32, 49u8..=255], bytes(20)).prop_map(|(kind, body)| Payload::Unknown {
            kind,
            critical: false,
            body
        }),
    ]
}

fn sk() -> impl Strategy<Value = Payload> {
    (any::<u8>(), bytes(64)).prop_map(|(t, body)| Payload::Sk { first_inner: PayloadType::from(t), body })
}

fn chain() -> impl Strategy<Value = Vec<Payload>> {
    (vec(payload_strategy(), 0..7), proptest::option::of(sk())).prop_map(|(mut v, sk)| {
        v.extend(sk);
        v
    })
}

fn message() -> impl Strategy<Value = Message> {
    (any::<u64>(), any::<u64>(), any::<u8>(), any::<u8>(), any::<u32>(), chain()).prop_map(
        |(spi_i, spi_r, x, f, message_id, payloads)| Message {
            header: Header {
                spi_i,
                spi_r,
                exchange: ExchangeType::from(x),
                flags: Flags::from_bits_truncate(f),
                message_id,
            },
            payloads,
        },
    )
}

/// `m`, decoded from `x`, re-encodes to `x` with at most some bits cleared (the reserved bits
/// decoding ignores), and that encoding is a fixed point.
fn assert_canonical(x: &[u8], m: &Message) {
    let y = m.encode();
    assert_eq!(y.len(), x.len());
    for (i, (a, b)) in x.iter().zip(&y).enumerate() {
        assert_eq!(b & !a, 0, "byte {i}: re-encoding set bits ({a:#04x} -> {b:#04x})");
    }
    assert_eq!(Message::decode(&y).as_ref(), Ok(m));
}

proptest! {
    #[test]
    fn message_round_trip(m in message()) {
        let wire = m.encode();
        prop_assert_eq!(Message::decode(&wire), Ok(m.clone()));
        serde_json::to_string(&m).unwrap();
    }

    #[test]
    fn chain_round_trip(p in chain()) {
        let (first, wire) = encode_payloads(&p);
        prop_assert_eq!(decode_payloads(first, &wire), Ok(p));
    }

    #[test]
    fn decode_random_bytes_never_panics(b in bytes(300), first in any::<u8>()) {
        if let Ok(m) = Message::decode(&b) {
            assert_canonical(&b, &m);
        }
        if let Ok(p) = decode_payloads(PayloadType::from(first), &b) {
            let (f, wire) = encode_payloads(&p);
            prop_assert_eq!(wire.len(), b.len());
            prop_assert_eq!(decode_payloads(f, &wire), Ok(p));
        }
    }

    #[test]
    fn decode_random_chain_behind_valid_header_never_panics(first in any::<u8>(), chain in bytes(300)) {
        let d = datagram(first, &chain);
        if let Ok(m) = Message::decode(&d) {
            assert_canonical(&d, &m);
        }
    }

    #[test]
    fn decode_mutated_encodings(
        m in message(),
        flips in vec((any::<usize>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let mut wire = m.encode();
        for (i, x) in flips {
            let i = i % wire.len();
            wire[i] ^= x;
        }
        if let Some(c) = cut {
            wire.truncate(c % (wire.len() + 1));
        }
        match Message::decode(&wire) {
            Ok(d) => assert_canonical(&wire, &d),
            Err(e) => { let _ = e.to_string(); }
        }
        // The same bytes after the header, as a bare chain.
        if wire.len() >= Message::header_len() {
            let _ = decode_payloads(PayloadType::from(wire[16]), &wire[Message::header_len()..]);
        }
    }
}
