//! Fuzz target: `Message::parse` in both dialects.
//!
//! On success the message must re-emit exactly the input, both from its wire view and after
//! `into_owned()` (the owned copy re-encodes every extension from its typed value), iterate
//! without losing extensions, and serialize to JSON that reads back to an equal message. On
//! failure the error must point inside the input and carry a Linux errno.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pfkey::message::{Message, Migrate};
use pfkey::wire::Dialect;
use pfkey::wire::numbers::MessageType;

fn check(data: &[u8], d: Dialect) {
    match Message::parse(data, d) {
        Ok(m) => {
            assert_eq!(m.to_bytes(d).expect("a parsed message re-emits"), data);
            let owned = m.clone().into_owned();
            assert_eq!(owned.to_bytes(d).expect("an owned copy re-emits"), data, "owned re-emit in {d}");
            assert_eq!(owned, m);
            assert_eq!(m.extensions.iter().count(), m.extensions.len());
            let json = serde_json::to_string(&m).expect("JSON");
            let back: Message<'static> = serde_json::from_str(&json).expect("JSON reads back");
            assert_eq!(back, m, "JSON round trip: {json}");
            if m.msg_type() == MessageType::XMigrate {
                let _ = Migrate::from_message(&m);
            }
        }
        Err(e) => {
            assert!(e.offset <= data.len(), "{e}");
            assert!(e.errno() == EINVAL || e.errno() == EMSGSIZE, "{e}");
            let _ = e.to_string();
        }
    }
}

/// Linux `EINVAL` and `EMSGSIZE`.
const EINVAL: i32 = 22;
const EMSGSIZE: i32 = 90;

fuzz_target!(|data: &[u8]| {
    check(data, Dialect::Linux);
    check(data, Dialect::FreeBsd);
    // Streams of messages (dumps): split, then parse each piece.
    for piece in pfkey::message::split_stream(data).flatten().take(8) {
        let _ = Message::parse(piece, Dialect::Linux);
    }
});
