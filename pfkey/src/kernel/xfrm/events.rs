//! Asynchronous XFRM messages (from the `XFRMNLGRP_*` groups) as the [`KernelEvent`] values the
//! PF_KEY backend yields for the same kernel event (`net/key/af_key.c` and
//! `net/xfrm/xfrm_user.c` are both `xfrm_mgr`s fed by the same `km_*` calls):
//!
//! | XFRM | PF_KEY | event |
//! |---|---|---|
//! | `XFRM_MSG_ACQUIRE` | `SADB_ACQUIRE` | [`KernelEvent::Acquire`] (seq = the larval SA's `km.seq`, policy id = index) |
//! | `XFRM_MSG_EXPIRE` | `SADB_EXPIRE` | [`KernelEvent::Expire`] |
//! | `XFRM_MSG_MIGRATE` | `SADB_X_MIGRATE` | [`KernelEvent::Migrate`] (seq/pid 0 as both send it) |
//! | `XFRM_MSG_MAPPING` | `SADB_X_NAT_T_NEW_MAPPING` | [`KernelEvent::NewMapping`] |
//! | `XFRM_MSG_POLEXPIRE` | `SADB_X_SPDEXPIRE` | [`KernelEvent::SpdExpire`] |
//! | `NEWSA`/`UPDSA`/`DELSA`/`FLUSHSA`, `NEWPOLICY`/`UPDPOLICY`/`DELPOLICY`/`FLUSHPOLICY` (promiscuous only) | the broadcast of the same request | [`KernelEvent::Other`] with that PF_KEY message |

use zerocopy::network_endian::U16 as Be16;

use super::translate::{self, current, policy_from_xfrm, sa_from_xfrm, satype_of};
use super::wire::*;
use crate::kernel::{KernelEvent, SaId};
use crate::message::{self, Message, SockAddr};
use crate::wire::numbers::{MessageType, SaType};

/// Decodes one asynchronous XFRM message. `Ok(None)`: a message type that maps to no event.
pub fn decode(m: &NlMessage<'_>) -> Result<Option<KernelEvent>, XfrmParseError> {
    let h = m.header;
    let p = m.payload;
    let other = |msg: Message<'static>| Ok(Some(KernelEvent::Other(msg.with_seq(h.seq).with_pid(h.pid))));
    match h.msg_type {
        msg::ACQUIRE => {
            let a: XfrmUserAcquire = read(p, "xfrm_user_acquire")?;
            let family = if a.policy.sel.family != 0 { a.policy.sel.family } else { a.sel.family };
            Ok(Some(KernelEvent::Acquire {
                seq: a.seq,
                satype: satype_of(a.id.proto)?,
                src: SockAddr::new(translate::ip_of(&a.saddr, family)?),
                dst: SockAddr::new(translate::ip_of(&a.id.daddr, family)?),
                policy_id: Some(a.policy.index),
            }))
        }
        msg::EXPIRE => {
            let e: XfrmUserExpire = read(p, "xfrm_user_expire")?;
            let s = &e.state;
            Ok(Some(KernelEvent::Expire {
                id: SaId {
                    satype: satype_of(s.id.proto)?,
                    spi: s.id.spi.get(),
                    src: SockAddr::new(translate::ip_of(&s.saddr, s.family)?),
                    dst: SockAddr::new(translate::ip_of(&s.id.daddr, s.family)?),
                },
                hard: e.hard != 0,
                current: Some(current(&s.curlft)),
            }))
        }
        msg::MIGRATE => {
            let migrate = translate::migrate_from_xfrm(p)?;
            Ok(Some(KernelEvent::Migrate { migrate, seq: h.seq, pid: h.pid }))
        }
        msg::MAPPING => {
            let mp: XfrmUserMapping = read(p, "xfrm_user_mapping")?;
            let at = |a: &XfrmAddress, port: Be16| -> Result<SockAddr, XfrmParseError> {
                Ok(SockAddr::with_port(translate::ip_of(a, mp.id.family)?, port.get()))
            };
            Ok(Some(KernelEvent::NewMapping {
                satype: satype_of(mp.id.proto)?,
                spi: mp.id.spi.get(),
                old: at(&mp.old_saddr, mp.old_sport)?,
                new: at(&mp.new_saddr, mp.new_sport)?,
            }))
        }
        msg::POLEXPIRE => {
            let e: XfrmUserPolexpire = read(p, "xfrm_user_polexpire")?;
            Ok(Some(KernelEvent::SpdExpire(policy_from_xfrm(&e.pol, Attrs::after::<XfrmUserPolexpire>(p))?)))
        }
        msg::NEWSA | msg::UPDSA => {
            let info: XfrmUsersaInfo = read(p, "xfrm_usersa_info")?;
            let sa = sa_from_xfrm(&info, Attrs::after::<XfrmUsersaInfo>(p))?.spec;
            other(if h.msg_type == msg::NEWSA { message::add(&sa) } else { message::update(&sa) })
        }
        msg::DELSA => {
            // `xfrm_usersa_id`, then the whole SA in `XFRMA_SA`.
            let Some(v) = Attrs::after::<XfrmUsersaId>(p).find(attr::SA)? else {
                return Ok(None);
            };
            let info: XfrmUsersaInfo = read(v, "xfrm_usersa_info")?;
            let sa = sa_from_xfrm(&info, Attrs::new(&[]))?.spec;
            other(message::delete(sa.satype, sa.spi, sa.src, sa.dst))
        }
        msg::FLUSHSA => {
            let f: XfrmUsersaFlush = read(p, "xfrm_usersa_flush")?;
            let satype = if f.proto == translate::IPSEC_PROTO_ANY_U8 { SaType::Unspec } else { satype_of(f.proto)? };
            other(message::flush(satype))
        }
        msg::NEWPOLICY | msg::UPDPOLICY => {
            let info: XfrmUserpolicyInfo = read(p, "xfrm_userpolicy_info")?;
            let pol = policy_from_xfrm(&info, Attrs::after::<XfrmUserpolicyInfo>(p))?;
            let t = if h.msg_type == msg::NEWPOLICY { MessageType::XSpdAdd } else { MessageType::XSpdUpdate };
            other(pol.message(t))
        }
        msg::DELPOLICY => {
            let Some(v) = Attrs::after::<XfrmUserpolicyId>(p).find(attr::POLICY)? else {
                return Ok(None);
            };
            let info: XfrmUserpolicyInfo = read(v, "xfrm_userpolicy_info")?;
            let pol = policy_from_xfrm(&info, Attrs::new(&[]))?;
            other(pol.message(MessageType::XSpdDelete))
        }
        msg::FLUSHPOLICY => other(message::spdflush()),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use zerocopy::{Immutable, IntoBytes};

    use super::*;
    use crate::message::{Lifetime, PolicySpec, Selector};
    use crate::wire::numbers::PolicyDir;

    fn ip(s: &str) -> SockAddr {
        SockAddr::new(s.parse().unwrap())
    }

    fn x(s: &str) -> XfrmAddress {
        translate::xaddr(s.parse().unwrap()).0
    }

    fn decode_bytes<T: IntoBytes + Immutable>(t: u16, body: &T) -> Result<Option<KernelEvent>, XfrmParseError> {
        let mut r = NlRequest::new(t, 0, body);
        let bytes = r.finish(0, 0).to_vec();
        decode(&NlMessages::new(&bytes).next().unwrap().unwrap())
    }

    fn v4_sel() -> XfrmSelector {
        XfrmSelector { family: 2, ..Default::default() }
    }

    #[test]
    fn acquire_is_the_event_af_key_yields() {
        let a = XfrmUserAcquire {
            id: XfrmId { daddr: x("198.51.100.1"), proto: 50, ..Default::default() },
            saddr: x("192.0.2.10"),
            sel: v4_sel(),
            policy: XfrmUserpolicyInfo { sel: v4_sel(), index: 0x11, ..Default::default() },
            seq: 7,
            ..Default::default()
        };
        let want = KernelEvent::Acquire {
            seq: 7,
            satype: SaType::Esp,
            src: ip("192.0.2.10"),
            dst: ip("198.51.100.1"),
            policy_id: Some(0x11),
        };
        assert_eq!(decode_bytes(msg::ACQUIRE, &a).unwrap(), Some(want));
    }

    #[test]
    fn expire_carries_the_sa_hardness_and_counters() {
        let e = XfrmUserExpire {
            state: XfrmUsersaInfo {
                id: XfrmId { daddr: x("198.51.100.1"), spi: 0x1000.into(), proto: 50, ..Default::default() },
                saddr: x("192.0.2.10"),
                curlft: XfrmLifetimeCur { bytes: 100, packets: 3, add_time: 5, use_time: 6 },
                family: 2,
                ..Default::default()
            },
            hard: 1,
            ..Default::default()
        };
        let want = KernelEvent::Expire {
            id: SaId { satype: SaType::Esp, spi: 0x1000, src: ip("192.0.2.10"), dst: ip("198.51.100.1") },
            hard: true,
            current: Some(Lifetime { allocations: 3, bytes: 100, addtime: 5, usetime: 6 }),
        };
        assert_eq!(decode_bytes(msg::EXPIRE, &e).unwrap(), Some(want));
    }

    #[test]
    fn mapping_gives_old_and_new_peer_with_ports() {
        let m = XfrmUserMapping {
            id: XfrmUsersaId { daddr: x("192.0.2.10"), spi: 0x2000.into(), family: 2, proto: 50, pad: 0 },
            reqid: 1,
            old_saddr: x("198.51.100.1"),
            new_saddr: x("198.51.100.9"),
            old_sport: 4500.into(),
            new_sport: 4501.into(),
        };
        let want = KernelEvent::NewMapping {
            satype: SaType::Esp,
            spi: 0x2000,
            old: SockAddr::with_port("198.51.100.1".parse().unwrap(), 4500),
            new: SockAddr::with_port("198.51.100.9".parse().unwrap(), 4501),
        };
        assert_eq!(decode_bytes(msg::MAPPING, &m).unwrap(), Some(want));
    }

    #[test]
    fn policy_expire_is_spd_expire() {
        let sel = Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16);
        let e = XfrmUserPolexpire {
            pol: XfrmUserpolicyInfo {
                sel: translate::selector_to_xfrm(&sel),
                index: 9,
                dir: XFRM_POLICY_OUT,
                action: XFRM_POLICY_BLOCK,
                ..Default::default()
            },
            hard: 1,
            ..Default::default()
        };
        let want = PolicySpec {
            selector: sel,
            dir: PolicyDir::Outbound,
            policy_type: crate::wire::numbers::PolicyType::Discard,
            priority: 0,
            id: 9,
            templates: vec![],
        };
        assert_eq!(decode_bytes(msg::POLEXPIRE, &e).unwrap(), Some(KernelEvent::SpdExpire(want)));
    }

    #[test]
    fn short_or_nonsense_events_are_typed_errors_and_unknown_types_no_event() {
        assert!(matches!(decode_bytes(msg::ACQUIRE, &[0u8; 12]), Err(XfrmParseError::Short { .. })));
        let bad_family =
            XfrmUserMapping { id: XfrmUsersaId { family: 77, proto: 50, ..Default::default() }, ..Default::default() };
        assert!(matches!(decode_bytes(msg::MAPPING, &bad_family), Err(XfrmParseError::Unsupported { .. })));
        let bad_proto =
            XfrmUserMapping { id: XfrmUsersaId { family: 2, proto: 6, ..Default::default() }, ..Default::default() };
        assert!(matches!(decode_bytes(msg::MAPPING, &bad_proto), Err(XfrmParseError::Unsupported { .. })));
        assert_eq!(decode_bytes(msg::REPORT, &[0u8; 4]).unwrap(), None);
    }
}
