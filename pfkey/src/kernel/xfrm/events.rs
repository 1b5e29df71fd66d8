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
