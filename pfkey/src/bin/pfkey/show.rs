//! How the tool shows one PF_KEY datagram it exchanged with a kernel: `→` sent, `←` received,
//! then the message rendered by [`pfkey::render`].

use std::io::{self, Write};

use pfkey::kernel::tap::{Direction, TapSink};
use pfkey::message::{Message, hex};
use pfkey::wire::Dialect;

/// How much of a message to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// The header line and one line per extension.
    Full,
    /// The header line only (for the many messages of a dump).
    Header,
}

/// `→ ` or `← ` and the rendered message; extension lines are indented under the header.
/// A datagram that does not parse is shown as its length, the parse error and its bytes in hex.
pub(crate) fn datagram(direction: Direction, bytes: &[u8], detail: Detail) -> String {
    let arrow = direction.arrow();
    match Message::parse(bytes, Dialect::Linux) {
        Ok(m) => {
            let text = pfkey::render::message(&m, Dialect::Linux);
            let mut lines = text.lines();
            let mut out = format!("{arrow} {}\n", lines.next().unwrap_or_default());
            if detail == Detail::Full {
                for l in lines {
                    out.push_str("  ");
                    out.push_str(l);
                    out.push('\n');
                }
            }
            out
        }
        Err(e) => format!("{arrow} unparseable {}-byte datagram: {e}\n  {}\n", bytes.len(), hex::encode(bytes)),
    }
}

/// The `--trace` sink: every datagram to stderr, or nothing when tracing is off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracer {
    pub on: bool,
}

impl TapSink for Tracer {
    fn datagram(&mut self, direction: Direction, bytes: &[u8]) {
        if !self.on {
            return;
        }
        let text = datagram(direction, bytes, Detail::Full);
        // Tracing must not fail the operation: a closed stderr only loses the trace.
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfkey::message::{SockAddr, build};
    use pfkey::wire::numbers::SaType;

    #[test]
    fn shows_arrow_header_and_indented_extensions() {
        let a = SockAddr::new("192.0.2.1".parse().unwrap());
        let bytes = build::delete(SaType::Esp, 0x1234, a, a).with_seq(3).to_bytes(Dialect::Linux).unwrap();
        let full = datagram(Direction::Sent, &bytes, Detail::Full);
        assert!(full.starts_with("→ SADB_DELETE (4) satype=SADB_SATYPE_ESP (3) errno=0 (OK) seq=3"), "{full}");
        assert!(full.contains("\n    SADB_EXT_SA (1): spi=0x00001234"), "{full}");
        let head = datagram(Direction::Received, &bytes, Detail::Header);
        assert_eq!(head.lines().count(), 1);
        assert!(head.starts_with("← SADB_DELETE"));
        let bad = datagram(Direction::Received, &[2, 3, 0], Detail::Full);
        assert!(bad.starts_with("← unparseable 3-byte datagram: "), "{bad}");
        assert!(bad.ends_with("  020300\n"), "{bad}");
    }
}
