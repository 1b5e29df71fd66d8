//! Fuzz target: the IKEv2 codec's `Message::decode` and `decode_payloads`.
//!
//! The input is decoded as a whole datagram, and (its first byte naming the first payload
//! type) the rest as a bare payload chain. On success the value must re-encode to the input up
//! to the reserved bits decoding ignores (re-encoding may only clear bits, never set one, and
//! keeps the length), decode back to the same value, re-encode to a fixed point, and
//! serialize to JSON.
#![no_main]

use ikev2d::codec::{Message, PayloadType, decode_payloads, encode_payloads};
use libfuzzer_sys::fuzz_target;

/// `y` is `x` with at most some bits cleared.
fn only_cleared(x: &[u8], y: &[u8]) {
    assert_eq!(x.len(), y.len(), "re-encoding changed the length");
    for (i, (a, b)) in x.iter().zip(y).enumerate() {
        assert_eq!(b & !a, 0, "byte {i}: re-encoding set bits ({a:#04x} -> {b:#04x})");
    }
}

fn check_message(data: &[u8]) {
    match Message::decode(data) {
        Ok(m) => {
            let y = m.encode();
            only_cleared(data, &y);
            let again = Message::decode(&y).expect("a re-encoded message decodes");
            assert_eq!(again, m);
            assert_eq!(again.encode(), y, "re-encoding is not a fixed point");
            serde_json::to_string(&m).expect("JSON");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn check_chain(first: PayloadType, data: &[u8]) {
    match decode_payloads(first, data) {
        Ok(p) => {
            let (f, y) = encode_payloads(&p);
            only_cleared(data, &y);
            let again = decode_payloads(f, &y).expect("a re-encoded chain decodes");
            assert_eq!(again, p);
            assert_eq!(encode_payloads(&again).1, y, "re-encoding is not a fixed point");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_message(data);
    if let Some((&first, rest)) = data.split_first() {
        check_chain(PayloadType::from(first), rest);
    }
});
