//! The mobility messages: `SADB_X_MIGRATE` (`pfkey_migrate` + `xfrm_migrate`) and the per-SA
//! address update (`SADB_UPDATE` + `SADB_X_EXT_NEW_ADDRESS_SRC/DST`, FreeBSD's
//! `key_updateaddresses` with Linux's lookup by destination).
//!
//! Both compute everything first and change the tables only when nothing can fail any more.

use std::collections::HashSet;

use crate::message::{Endpoints, Message, Migrate, NatT, Template};
use crate::wire::numbers::ExtKind;
use crate::wire::numbers::{Mode, NatTType, SaState, SaType};

use super::render::{MigrateEcho, MigrateSel, host, migrate_message, proto_to_xfrm};
use super::sad::{satype2proto, xfrm_mode};
use super::spd::{selector_of, xfrm_dir};
use super::state::ModelSa;
use super::{Bcast, Handled, State, src_dst};

/// `migrate_tmpl_match`.
fn tmpl_match(t: &Template, b: &MigrateEcho) -> bool {
    if t.mode != b.mode || t.proto != b.proto || (b.reqid != 0 && t.reqid != b.reqid) {
        return false;
    }
    match t.mode {
        Mode::Tunnel | Mode::Beet => {
            t.endpoints.is_some_and(|e| e.src.ip() == b.old.src.ip() && e.dst.ip() == b.old.dst.ip())
        }
        Mode::Transport => true,
        _ => false,
    }
}

/// Whether two bundles are duplicates for `xfrm_migrate_check`.
fn duplicate(a: &MigrateEcho, b: &MigrateEcho) -> bool {
    a.old.src == b.old.src && a.old.dst == b.old.dst && a.proto == b.proto && a.mode == b.mode && a.reqid == b.reqid
}

/// The NAT-T configuration an SA gets from a request: `Some(None)` removes it.
fn natt_setting(n: NatT) -> Option<NatT> {
    (n.nat_t_type != NatTType::None).then_some(n)
}

/// The NAT-T extensions of a request that moves SAs (`pfkey_natt_from_exts`): none keeps the
/// SAs' encapsulation (`Ok(None)`), type 0 without ports removes it, `UDP_ENCAP_ESPINUDP` with
/// both ports non-zero sets it. Ports without a type, a type without both ports and any other
/// type (ESP implements only `UDP_ENCAP_ESPINUDP`) are `EINVAL`.
fn natt_request(m: &Message<'_>) -> Result<Option<NatT>, i32> {
    let sport = m.nat_t_port(ExtKind::NatTSport).map(|p| p.port);
    let dport = m.nat_t_port(ExtKind::NatTDport).map(|p| p.port);
    let Some(t) = m.nat_t_type() else {
        return if sport.is_some() || dport.is_some() { Err(libc::EINVAL) } else { Ok(None) };
    };
    let (sport, dport) = (sport.unwrap_or(0), dport.unwrap_or(0));
    match t.nat_t_type {
        NatTType::None if sport == 0 && dport == 0 => Ok(Some(NatT { nat_t_type: NatTType::None, sport, dport })),
        NatTType::EspInUdp if sport != 0 && dport != 0 => Ok(Some(NatT::esp_in_udp(sport, dport))),
        _ => Err(libc::EINVAL),
    }
}

impl State {
    /// `pfkey_migrate` → `xfrm_migrate`.
    pub(crate) fn migrate(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let (s, d) = src_dst(m)?;
        let pol = m.policy().ok_or(libc::EINVAL)?;
        let natt = if self.config.migrate_natt { natt_request(m)? } else { None };
        if u8::from(pol.dir) >= 4 {
            return Err(libc::EINVAL);
        }
        let km = m.kmaddress().map(|k| (k.reserved, k.local, k.remote));
        let req = Migrate::from_message(m).map_err(|_| libc::EINVAL)?;
        let mut bundles = Vec::with_capacity(req.bundles.len());
        for b in &req.bundles {
            let mode = xfrm_mode(b.mode).ok_or(libc::EINVAL)?;
            let clean = |e: Endpoints| Endpoints { src: host(&e.src), dst: host(&e.dst) };
            bundles.push(MigrateEcho { proto: b.proto, mode, reqid: b.reqid, old: clean(b.old), new: clean(b.new) });
        }
        // Stage 0: xfrm_migrate_check, then the direction.
        if bundles.is_empty() || bundles.len() > crate::wire::numbers::XFRM_MAX_DEPTH {
            return Err(libc::EINVAL);
        }
        for (i, b) in bundles.iter().enumerate() {
            if b.new.src.ip().is_unspecified() || b.new.dst.ip().is_unspecified() {
                return Err(libc::EINVAL);
            }
            if bundles[i + 1..].iter().any(|o| duplicate(b, o)) {
                return Err(libc::EINVAL);
            }
        }
        xfrm_dir(pol.dir).ok_or(libc::EINVAL)?;
        // Stage 1: the policy, by exact selector and direction.
        let selector = selector_of(m)?;
        let pidx = self.spd.iter().position(|p| p.dir == pol.dir && p.selector == selector).ok_or(libc::ENOENT)?;
        // Stage 2: the first (newest) matching SA of each bundle, cloned to the new endpoints.
        let mut by_age: Vec<usize> = (0..self.sad.len()).collect();
        by_age.sort_by_key(|&i| std::cmp::Reverse(self.sad[i].order));
        let mut moved: Vec<usize> = Vec::new();
        let mut clones: Vec<ModelSa> = Vec::new();
        for b in &bundles {
            let found = by_age.iter().copied().find(|&i| {
                let x = &self.sad[i];
                x.mode == b.mode
                    && x.satype.proto() == Some(b.proto)
                    && (b.reqid == 0 || x.reqid == b.reqid)
                    && x.dst.ip() == b.old.dst.ip()
                    && x.src.ip() == b.old.src.ip()
            });
            let Some(i) = found else { continue };
            let old = &self.sad[i];
            // A larval SA has no algorithms: xfrm_init_state fails on the clone.
            if old.state == SaState::Larval || moved.contains(&i) {
                return Err(libc::ENODATA);
            }
            let mut c = old.clone();
            c.src = b.new.src;
            c.dst = b.new.dst;
            if let Some(n) = natt {
                c.natt = natt_setting(n);
            }
            if c.natt.is_some() && c.satype != SaType::Esp {
                return Err(libc::ENODATA);
            }
            if c.dst.ip() != old.dst.ip() {
                let taken = |x: &ModelSa| x.spi == c.spi && x.satype == c.satype && x.dst.ip() == c.dst.ip();
                if self.sad.iter().any(taken) || clones.iter().any(taken) {
                    return Err(libc::ENODATA);
                }
            }
            moved.push(i);
            clones.push(c);
        }
        // Stage 3: the templates.
        let mut templates = self.spd[pidx].templates.clone();
        let mut matched = 0;
        for t in &mut templates {
            for b in &bundles {
                if !tmpl_match(t, b) {
                    continue;
                }
                matched += 1;
                if matches!(t.mode, Mode::Tunnel | Mode::Beet) {
                    t.endpoints = Some(b.new);
                }
            }
        }
        if matched == 0 {
            return Err(libc::ENODATA);
        }
        // Commit: new SAs in, templates rewritten, old SAs out.
        let gone: HashSet<u64> = moved.iter().map(|&i| self.sad[i].order).collect();
        self.sad.retain(|x| !gone.contains(&x.order));
        for mut c in clones {
            c.order = self.order();
            tracing::debug!(spi = c.spi, src = %c.src, dst = %c.dst, "model SA migrated");
            self.sad.push(c);
        }
        self.spd[pidx].templates = templates;
        // Stage 5: km_migrate.
        let sel = MigrateSel {
            src: s.addr.ip(),
            src_prefixlen: s.prefixlen,
            dst: d.addr.ip(),
            dst_prefixlen: d.prefixlen,
            proto: proto_to_xfrm(d.proto),
        };
        let note = migrate_message(&sel, pol.dir, &bundles, km, natt);
        self.send(&note, Bcast::All, None)?;
        // The patched kernel then answers the requester alone with its own request (errno 0,
        // its seq and pid), so that it can tell its move from another one.
        if self.config.migrate_reply {
            let mut reply = m.clone().into_owned();
            reply.header.errno = 0;
            self.send(&reply, Bcast::One, Some(pid))?;
        }
        Ok(())
    }

    /// `SADB_UPDATE` with `SADB_X_EXT_NEW_ADDRESS_SRC/DST` (and/or NAT-T, without keys): moves
    /// exactly one SA, keeping its SPI, keys, counters and replay state; policies are untouched.
    /// The checks come in `pfkey_update_addresses`'s order, so that a request with several faults
    /// gets the same errno.
    pub(crate) fn update_addresses(&mut self, m: &Message<'_>) -> Handled {
        let sa = m.sa().ok_or(libc::EINVAL)?;
        let (s, d) = src_dst(m)?;
        let satype = m.header.satype;
        let proto = satype2proto(satype);
        if proto == 0 || proto == super::sad::PROTO_ANY {
            return Err(libc::EINVAL);
        }
        if m.has(ExtKind::KeyAuth) || m.has(ExtKind::KeyEncrypt) {
            return Err(libc::EINVAL);
        }
        if m.has(ExtKind::LifetimeHard) != m.has(ExtKind::LifetimeSoft) {
            return Err(libc::EINVAL);
        }
        let natt = natt_request(m)?;
        if natt.is_some() && satype != SaType::Esp {
            return Err(libc::EINVAL);
        }
        let i = self.find_sa(d.addr.ip(), sa.spi, satype).ok_or(libc::ESRCH)?;
        let x = &self.sad[i];
        if x.src.ip() != s.addr.ip() {
            return Err(libc::ESRCH);
        }
        if let Some(sa2) = m.sa2() {
            let mode_ok = sa2.mode == Mode::Any || xfrm_mode(sa2.mode) == Some(x.mode);
            if !mode_ok || (sa2.reqid != 0 && sa2.reqid != x.reqid) {
                return Err(libc::ESRCH);
            }
        }
        if x.state == SaState::Larval {
            return Err(libc::EINVAL);
        }
        // pfkey_new_address: a present new address must not be unspecified; an omitted one is the
        // SA's own and is not checked. Then the effective pair must be of one family.
        let given_src = m.address(ExtKind::NewAddressSrc).map(|a| host(&a.addr));
        let given_dst = m.address(ExtKind::NewAddressDst).map(|a| host(&a.addr));
        if [given_src, given_dst].iter().flatten().any(|a| a.ip().is_unspecified()) {
            return Err(libc::EINVAL);
        }
        let new_src = given_src.unwrap_or(x.src);
        let new_dst = given_dst.unwrap_or(x.dst);
        if new_src.is_v6() != new_dst.is_v6() {
            return Err(libc::EINVAL);
        }
        if new_dst.ip() != x.dst.ip() && self.find_sa(new_dst.ip(), x.spi, satype).is_some() {
            return Err(libc::EEXIST);
        }
        // xfrm_state_migrate: the clone goes in (newest), the old SA goes out.
        let mut x = self.sad.remove(i);
        tracing::debug!(spi = x.spi, from = %x.dst, to = %new_dst, "model SA addresses updated");
        x.src = new_src;
        x.dst = new_dst;
        x.order = self.order();
        if let (Some(h), Some(s)) = (m.lifetime(ExtKind::LifetimeHard), m.lifetime(ExtKind::LifetimeSoft)) {
            x.hard = h;
            x.soft = s;
        }
        if let Some(n) = natt {
            x.natt = natt_setting(n);
        }
        self.sad.push(x);
        // As FreeBSD does: every listener gets the request itself (it carries no keys).
        let mut echo = m.clone().into_owned();
        echo.header.errno = 0;
        self.send(&echo, Bcast::All, None)
    }
}
