//! The `two-uplinks` topology: network namespaces `mobile` and `gw`, two veth links between them,
//! the gateway's tunnel endpoint and both inner networks on dummy interfaces.
//!
//! ```text
//!  mobile                                              gw
//!  inner0 10.1.0.1/16                                  inner0 10.2.0.1/16
//!  m-wifi 192.0.2.10/24  ──── uplink A "wifi" ────     g-wifi 192.0.2.1/24
//!  m-lte  203.0.113.7/24 ──── uplink B "lte"  ────     g-lte  203.0.113.1/24
//!                                                      endpoint0 198.51.100.1/32 (tunnel endpoint)
//! ```
//!
//! The mobile reaches the endpoint through a host route via the active uplink's gateway address
//! (the lab kernel has no policy routing, so a move switches that route: step `mobile:route`).
//! Uplink B starts down and without addresses; a move to it brings it up first and the old uplink
//! stays up (make-before-break). Threads enter a namespace with `setns` ([`in_netns`]); sockets
//! opened there (PF_KEY, UDP, AF_PACKET) stay in it whichever thread uses them later.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

use super::HarnessError;
use super::scenario::Uplink;

/// The mobile's namespace.
pub const MOBILE_NS: &str = "mobile";
/// The gateway's namespace.
pub const GW_NS: &str = "gw";
/// The gateway's tunnel endpoint (on a dummy interface, reachable over both uplinks).
pub const GW_ENDPOINT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The mobile's inner address (10.1.0.0/16).
pub const MOBILE_INNER: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// The gateway's inner address (10.2.0.0/16).
pub const GW_INNER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);

/// One uplink's names and addresses.
#[derive(Debug, Clone, Copy)]
pub struct UplinkNet {
    /// The mobile's veth end.
    pub mobile_if: &'static str,
    /// The gateway's veth end.
    pub gw_if: &'static str,
    /// The mobile's address on it (the tunnel's outer address while it is active).
    pub mobile_addr: Ipv4Addr,
    /// The gateway's address on it (the next hop to the endpoint).
    pub gw_addr: Ipv4Addr,
    /// Prefix length of both.
    pub prefix: u8,
}

/// The uplink's names and addresses.
pub fn uplink(u: Uplink) -> UplinkNet {
    match u {
        Uplink::Wifi => UplinkNet {
            mobile_if: "m-wifi",
            gw_if: "g-wifi",
            mobile_addr: Ipv4Addr::new(192, 0, 2, 10),
            gw_addr: Ipv4Addr::new(192, 0, 2, 1),
            prefix: 24,
        },
        Uplink::Lte => UplinkNet {
            mobile_if: "m-lte",
            gw_if: "g-lte",
            mobile_addr: Ipv4Addr::new(203, 0, 113, 7),
            gw_addr: Ipv4Addr::new(203, 0, 113, 1),
            prefix: 24,
        },
    }
}

/// Every veth end, as (namespace, interface): where the captures listen.
pub fn links() -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    for u in [Uplink::Wifi, Uplink::Lte] {
        let n = uplink(u);
        v.push((MOBILE_NS, n.mobile_if));
        v.push((GW_NS, n.gw_if));
    }
    v
}

/// Runs `ip ARGS` (in namespace `ns` when given: `ip -n NS`), failing on a non-zero exit.
pub fn ip(ns: Option<&str>, args: &[&str]) -> Result<String, HarnessError> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let out = cmd.args(args).output().map_err(|source| HarnessError::Io { what: "running ip".into(), source })?;
    let line = format!("ip {}{}", ns.map_or(String::new(), |n| format!("-n {n} ")), args.join(" "));
    if out.status.success() {
        tracing::debug!(command = %line, "ok");
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HarnessError::Command { command: line, stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() })
    }
}

/// Runs `f` on a new thread that has entered network namespace `ns` (`/run/netns/NS`), and
/// returns its result. Sockets `f` opens belong to `ns`.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> Result<T, HarnessError> + Send) -> Result<T, HarnessError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(ns)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(HarnessError::Thread(format!("a thread in netns {ns} panicked"))))
    })
}

/// Moves the calling thread into network namespace `ns` (`setns(CLONE_NEWNET)` affects only the
/// calling thread).
pub fn enter_netns(ns: &str) -> Result<(), HarnessError> {
    let path = format!("/run/netns/{ns}");
    let f =
        std::fs::File::open(&path).map_err(|source| HarnessError::Io { what: format!("opening {path}"), source })?;
    // SAFETY: a valid open fd and a flag; setns changes only this thread's namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(HarnessError::Io { what: format!("setns({path})"), source: std::io::Error::last_os_error() });
    }
    Ok(())
}

/// Deletes both namespaces (their links go with them); missing ones are no error.
pub fn teardown() {
    for ns in [MOBILE_NS, GW_NS] {
        let _ = ip(None, &["netns", "del", ns]);
    }
}

/// Builds the topology with uplink A up and B down. Any earlier copy is removed first.
pub fn build() -> Result<(), HarnessError> {
    teardown();
    let m = Some(MOBILE_NS);
    let g = Some(GW_NS);
    ip(None, &["netns", "add", MOBILE_NS])?;
    ip(None, &["netns", "add", GW_NS])?;
    for ns in [m, g] {
        ip(ns, &["link", "set", "lo", "up"])?;
    }
    for u in [Uplink::Wifi, Uplink::Lte] {
        let n = uplink(u);
        ip(
            None,
            &["link", "add", n.mobile_if, "netns", MOBILE_NS, "type", "veth", "peer", "name", n.gw_if, "netns", GW_NS],
        )?;
    }
    // Inner networks and the endpoint.
    ip(m, &["link", "add", "inner0", "type", "dummy"])?;
    ip(m, &["addr", "add", &format!("{MOBILE_INNER}/16"), "dev", "inner0"])?;
    ip(m, &["link", "set", "inner0", "up"])?;
    ip(g, &["link", "add", "inner0", "type", "dummy"])?;
    ip(g, &["addr", "add", &format!("{GW_INNER}/16"), "dev", "inner0"])?;
    ip(g, &["link", "set", "inner0", "up"])?;
    ip(g, &["link", "add", "endpoint0", "type", "dummy"])?;
    ip(g, &["addr", "add", &format!("{GW_ENDPOINT}/32"), "dev", "endpoint0"])?;
    ip(g, &["link", "set", "endpoint0", "up"])?;
    uplink_up(Uplink::Wifi)?;
    let a = uplink(Uplink::Wifi);
    ip(m, &["route", "add", &format!("{GW_ENDPOINT}/32"), "via", &a.gw_addr.to_string(), "dev", a.mobile_if])?;
    // Inner routes (the xfrm bundle replaces the route with the tunnel's; the inner route only
    // has to exist). They use uplink A, which stays up in every scenario.
    ip(m, &["route", "add", "10.2.0.0/16", "via", &a.gw_addr.to_string(), "src", &MOBILE_INNER.to_string()])?;
    ip(g, &["route", "add", "10.1.0.0/16", "via", &a.mobile_addr.to_string(), "src", &GW_INNER.to_string()])?;
    Ok(())
}

/// Brings uplink `u` up on both ends with its addresses (idempotent).
pub fn uplink_up(u: Uplink) -> Result<(), HarnessError> {
    let n = uplink(u);
    let have = ip(Some(MOBILE_NS), &["-4", "-o", "addr", "show", "dev", n.mobile_if])?;
    if have.contains(&n.mobile_addr.to_string()) {
        return Ok(());
    }
    tracing::info!(uplink = ?u, "bringing the uplink up");
    ip(Some(MOBILE_NS), &["addr", "add", &format!("{}/{}", n.mobile_addr, n.prefix), "dev", n.mobile_if])?;
    ip(Some(GW_NS), &["addr", "add", &format!("{}/{}", n.gw_addr, n.prefix), "dev", n.gw_if])?;
    ip(Some(MOBILE_NS), &["link", "set", n.mobile_if, "up"])?;
    ip(Some(GW_NS), &["link", "set", n.gw_if, "up"])?;
    Ok(())
}

/// Points the mobile's route to the gateway's endpoint at uplink `u`.
pub fn route_via(u: Uplink) -> Result<(), HarnessError> {
    let n = uplink(u);
    ip(
        Some(MOBILE_NS),
        &["route", "replace", &format!("{GW_ENDPOINT}/32"), "via", &n.gw_addr.to_string(), "dev", n.mobile_if],
    )?;
    Ok(())
}
