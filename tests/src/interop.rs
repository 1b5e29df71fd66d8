//! ikev2d's interop in the VM, on a real kernel: ikev2d with ikev2d, and ikev2d with strongSwan's
//! charon in both roles, over two network namespaces joined by a veth pair ([`Link::Ipv4`],
//! [`Link::Ipv6`]), or with the initiator behind a NAT: a third namespace that routes between the
//! two and masquerades the initiator with nftables, source ports randomised ([`Link::Ipv4Nat`]).
//! Behind the NAT both sides must detect it, float to port 4500 and encapsulate ESP in UDP: the
//! kernels' SAs must carry the encapsulation with the NAT's port, and the capture must show no
//! plain ESP.
//!
//! Each case: the responder starts, then the initiator brings the tunnel up; UDP datagrams go both
//! ways between the inner hosts through the real ESP SAs (their kernel packet counters must
//! grow); the initiator rekeys the Child SA (new SPIs on both sides, the old SAs gone), then the
//! IKE SA (new IKE SPIs, the Child SA kept), with traffic after each; then it deletes everything
//! (no SA left on either side). dumpcap records the IKE packets on the link, and tshark must
//! decode every one ikev2d sent without a malformed-packet mark; charon's log must not complain
//! about any message it received.
//!
//! Inside the VM the host's root file system is shared read-only: charon, swanctl, dumpcap and
//! tshark are the host's (`scripts/ensure-deps.sh` installs them); their writable state goes to
//! `/tmp` and `/run` (tmpfs in the guest).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::harness::HarnessError;
use crate::harness::topology::{in_netns, ip};

const NS_A: &str = "ia";
const NS_B: &str = "ib";
/// The router between them in [`Link::Ipv4Nat`].
const NS_R: &str = "ir";
const PSK: &str = "interop shared secret 2026";
const DATAGRAMS: usize = 20;
const CHARON: &str = "/usr/lib/ipsec/charon";

/// The path between the initiator (`ia`) and the responder (`ib`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Link {
    /// One veth pair, IPv4 outer and inner addresses.
    Ipv4,
    /// The initiator at 10.99.0.2 behind router `ir`, which masquerades it as 192.0.2.1 with
    /// random source ports (`nft ... masquerade random`).
    Ipv4Nat,
    /// One veth pair, IPv6 outer and inner addresses.
    Ipv6,
}

/// The addresses of one [`Link`].
struct Addrs {
    /// The initiator's own outer address.
    a_local: &'static str,
    /// The initiator's outer address as the responder sees it (the NAT's, behind one).
    a_seen: &'static str,
    /// The responder's outer address.
    b: &'static str,
    /// Prefix length of the outer addresses.
    outer_len: u8,
    /// Inner hosts and their networks (the traffic selectors).
    inner_a: &'static str,
    inner_b: &'static str,
    ts_a: &'static str,
    ts_b: &'static str,
    /// Where the garbage comes from (namespace, address): not an address any IKE implementation
    /// speaks from, on the responder's side of any NAT.
    garbage_ns: &'static str,
    garbage_src: &'static str,
}

impl Link {
    fn addrs(self) -> Addrs {
        match self {
            Link::Ipv4 | Link::Ipv4Nat => Addrs {
                a_local: if self == Link::Ipv4Nat { "10.99.0.2" } else { "192.0.2.1" },
                a_seen: "192.0.2.1",
                b: "192.0.2.2",
                outer_len: 24,
                inner_a: "10.1.0.1",
                inner_b: "10.2.0.1",
                ts_a: "10.1.0.0/24",
                ts_b: "10.2.0.0/24",
                garbage_ns: if self == Link::Ipv4Nat { NS_R } else { NS_A },
                garbage_src: "192.0.2.66",
            },
            Link::Ipv6 => Addrs {
                a_local: "2001:db8::1",
                a_seen: "2001:db8::1",
                b: "2001:db8::2",
                outer_len: 64,
                inner_a: "fd00:1::1",
                inner_b: "fd00:2::1",
                ts_a: "fd00:1::/64",
                ts_b: "fd00:2::/64",
                garbage_ns: NS_A,
                garbage_src: "2001:db8::66",
            },
        }
    }
}

/// An IKEv2 implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Impl {
    /// This project's daemon.
    Ikev2d,
    /// strongSwan's charon (driven with swanctl).
    Charon,
}

/// One interop case.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// Its name.
    pub name: &'static str,
    /// Who initiates (in namespace `ia`).
    pub initiator: Impl,
    /// Who responds (in namespace `ib`).
    pub responder: Impl,
    /// The IKE proposal (strongSwan syntax, which ikev2d also reads).
    pub ike: &'static str,
    /// The ESP proposal.
    pub esp: &'static str,
    /// ikev2d's kernel backend. `auto` is PF_KEY on these kernels; HMAC-SHA-256 ESP goes through
    /// XFRM (`xfrm`), because Linux's `af_key` truncates it to 96 bits where RFC 4868 (and
    /// strongSwan) use 128: PF_KEY has no field for the truncation. `afkey` is PF_KEY on every
    /// kernel, for proposals stock `af_key` installs as the RFCs say (AES-CBC, HMAC-SHA-1-96).
    pub backend: &'static str,
    /// The path between the two.
    pub link: Link,
}

/// The cases: every role pairing, and the three DH groups and both cipher families.
pub fn cases() -> Vec<Case> {
    use Impl::*;
    vec![
        Case {
            name: "ikev2d-ikev2d-gcm-ecp256",
            initiator: Ikev2d,
            responder: Ikev2d,
            ike: "aes256gcm16-prfsha256-ecp256",
            esp: "aes256gcm16",
            backend: "auto",
            link: Link::Ipv4,
        },
        Case {
            name: "ikev2d-charon-gcm-ecp256",
            initiator: Ikev2d,
            responder: Charon,
            ike: "aes256gcm16-prfsha256-ecp256",
            esp: "aes256gcm16",
            backend: "auto",
            link: Link::Ipv4,
        },
        Case {
            name: "charon-ikev2d-gcm-ecp256",
            initiator: Charon,
            responder: Ikev2d,
            ike: "aes256gcm16-prfsha256-ecp256",
            esp: "aes256gcm16",
            backend: "auto",
            link: Link::Ipv4,
        },
        Case {
            name: "ikev2d-charon-cbc-modp2048-pfs",
            initiator: Ikev2d,
            responder: Charon,
            ike: "aes128-sha256-prfsha256-modp2048",
            esp: "aes128-sha256-modp2048",
            backend: "xfrm",
            link: Link::Ipv4,
        },
        Case {
            name: "charon-ikev2d-cbc-modp2048-pfs",
            initiator: Charon,
            responder: Ikev2d,
            ike: "aes128-sha256-prfsha256-modp2048",
            esp: "aes128-sha256-modp2048",
            backend: "xfrm",
            link: Link::Ipv4,
        },
        Case {
            name: "ikev2d-charon-gcm-x25519",
            initiator: Ikev2d,
            responder: Charon,
            ike: "aes128gcm16-prfsha256-curve25519",
            esp: "aes128gcm16",
            backend: "auto",
            link: Link::Ipv4,
        },
        Case {
            name: "charon-ikev2d-gcm-x25519",
            initiator: Charon,
            responder: Ikev2d,
            ike: "aes128gcm16-prfsha256-curve25519",
            esp: "aes128gcm16",
            backend: "auto",
            link: Link::Ipv4,
        },
        // ikev2d on PF_KEY on every kernel, stock included: AES-CBC with HMAC-SHA-1-96, which
        // af_key truncates as RFC 2404 says.
        Case {
            name: "ikev2d-charon-cbc-sha1-afkey",
            initiator: Ikev2d,
            responder: Charon,
            ike: "aes128-sha256-prfsha256-modp2048",
            esp: "aes128-sha1-modp2048",
            backend: "afkey",
            link: Link::Ipv4,
        },
        Case {
            name: "charon-ikev2d-cbc-sha1-afkey",
            initiator: Charon,
            responder: Ikev2d,
            ike: "aes128-sha256-prfsha256-modp2048",
            esp: "aes128-sha1-modp2048",
            backend: "afkey",
            link: Link::Ipv4,
        },
        // NAT-T between real kernels: the initiator behind a masquerading router.
        Case {
            name: "ikev2d-ikev2d-nat",
            initiator: Ikev2d,
            responder: Ikev2d,
            ike: "aes256gcm16-prfsha256-ecp256",
            esp: "aes256gcm16",
            backend: "auto",
            link: Link::Ipv4Nat,
        },
        Case {
            name: "ikev2d-charon-nat",
            initiator: Ikev2d,
            responder: Charon,
            ike: "aes256gcm16-prfsha256-ecp256",
            esp: "aes256gcm16",
            backend: "auto",
            link: Link::Ipv4Nat,
        },
        Case {
            name: "charon-ikev2d-nat",
            initiator: Charon,
            responder: Ikev2d,
            ike: "aes256gcm16-prfsha256-ecp256",
            esp: "aes256gcm16",
            backend: "auto",
            link: Link::Ipv4Nat,
        },
        // IPv6 outer and inner addresses.
        Case {
            name: "ikev2d-charon-v6",
            initiator: Ikev2d,
            responder: Charon,
            ike: "aes256gcm16-prfsha256-ecp256",
            esp: "aes256gcm16",
            backend: "auto",
            link: Link::Ipv6,
        },
        Case {
            name: "charon-ikev2d-v6",
            initiator: Charon,
            responder: Ikev2d,
            ike: "aes256gcm16-prfsha256-ecp256",
            esp: "aes256gcm16",
            backend: "auto",
            link: Link::Ipv6,
        },
    ]
}

/// One step of a case and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// What was done.
    pub step: String,
    /// Whether it did what it must.
    pub ok: bool,
    /// How long it took (ms).
    pub ms: u64,
    /// The evidence.
    pub detail: String,
}

/// A case's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The case.
    pub case: Case,
    /// Every step.
    pub steps: Vec<StepReport>,
    /// All steps passed.
    pub passed: bool,
    /// From the initiate command to both kernels holding the Child SA (ms).
    pub establish_ms: Option<u64>,
    /// ikev2d's own setup time (`setup_ms` of its IKE SA, from its first IKE_SA_INIT).
    pub ikev2d_setup_ms: Option<u64>,
    /// IKE packets ikev2d sent that tshark decoded.
    pub ikev2d_packets: usize,
    /// Of those, how many tshark marked malformed.
    pub malformed: usize,
    /// tshark's expert infos of warning or error severity on ikev2d's packets.
    pub expert_warnings: Vec<String>,
    /// charon's log lines about messages it could not accept.
    pub charon_complaints: Vec<String>,
    /// charon's log lines about ikev2d's messages it processed (a sample, for the note).
    pub charon_sample: Vec<String>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

fn run(cmd: &mut Command, what: &str) -> Result<String, HarnessError> {
    let out = cmd.output().map_err(io(what))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HarnessError::Command {
            command: what.to_string(),
            stderr: format!(
                "{} {}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// One captured frame as tshark decoded it.
#[derive(Debug, PartialEq)]
struct Frame {
    number: String,
    /// The outer source address (IPv4 or IPv6).
    src: String,
    sport: Option<u16>,
    dport: Option<u16>,
    /// An IKE message (with or without the non-ESP marker).
    ike: bool,
    /// ESP, plain or in UDP.
    esp: bool,
    malformed: bool,
    /// An expert info of warning or error severity.
    warning: bool,
    /// The expert infos' messages.
    expert: String,
}

/// The fields [`tshark_rows`] asks for, in its order.
const TSHARK_FIELDS: [&str; 10] = [
    "frame.number",
    "ip.src",
    "ipv6.src",
    "udp.srcport",
    "udp.dstport",
    "isakmp.exchangetype",
    "esp.spi",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.message",
];

/// The IKE and ESP frames of a capture, and any frame tshark marks malformed.
fn tshark_rows(pcap: &Path) -> Result<Vec<Frame>, HarnessError> {
    let mut cmd = Command::new("tshark");
    cmd.args([
        "-r",
        &pcap.to_string_lossy(),
        "-Y",
        "isakmp || esp || _ws.malformed",
        "-T",
        "fields",
        "-E",
        "separator=|",
    ]);
    for f in TSHARK_FIELDS {
        cmd.args(["-e", f]);
    }
    Ok(parse_tshark(&run(&mut cmd, "tshark")?))
}

fn parse_tshark(out: &str) -> Vec<Frame> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            let col = |i: usize| c.get(i).copied().unwrap_or("");
            // Multi-valued fields (an ICMP error quoting a packet) come comma-separated: the first
            // value is the outer header's.
            let first = |i: usize| col(i).split(',').next().unwrap_or("").to_string();
            Frame {
                number: col(0).to_string(),
                src: if col(1).is_empty() { first(2) } else { first(1) },
                sport: first(3).parse().ok(),
                dport: first(4).parse().ok(),
                ike: !col(5).is_empty(),
                esp: !col(6).is_empty(),
                malformed: !col(7).is_empty(),
                warning: col(8).split(',').any(expert_is_warning),
                expert: col(9).to_string(),
            }
        })
        .collect()
}

/// Whether one `_ws.expert.severity` value is a warning or an error: tshark prints it as the
/// number (`0x00600000` is PI_WARN, `0x00800000` PI_ERROR) or as its name.
fn expert_is_warning(v: &str) -> bool {
    let v = v.trim();
    let n = v.strip_prefix("0x").map_or_else(|| v.parse::<u64>().ok(), |h| u64::from_str_radix(h, 16).ok());
    match n {
        Some(n) => n >= 0x0060_0000,
        None => {
            let l = v.to_ascii_lowercase();
            l.contains("warn") || l.contains("error")
        }
    }
}

fn netns_cmd(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

/// The namespaces of `link`: `ia` (the initiator) and `ib` (the responder), each with a dummy
/// link holding its inner host and a route to the other inner network through it; for
/// [`Link::Ipv4Nat`] also the router `ir` between them, forwarding and masquerading.
fn topology(link: Link) -> Result<(), HarnessError> {
    teardown();
    let a = link.addrs();
    let nodad = |v: &mut Vec<String>| {
        if link == Link::Ipv6 {
            // No duplicate address detection: the addresses are usable at once.
            v.push("nodad".into());
        }
    };
    let addr = |ns: &str, dev: &str, cidr: String| -> Result<(), HarnessError> {
        let mut v: Vec<String> = ["addr", "add", &cidr, "dev", dev].iter().map(|s| s.to_string()).collect();
        nodad(&mut v);
        ip(Some(ns), &v.iter().map(String::as_str).collect::<Vec<_>>()).map(|_| ())
    };
    ip(None, &["netns", "add", NS_A])?;
    ip(None, &["netns", "add", NS_B])?;
    if link == Link::Ipv4Nat {
        ip(None, &["netns", "add", NS_R])?;
        ip(None, &["link", "add", "va", "netns", NS_A, "type", "veth", "peer", "name", "ra", "netns", NS_R])?;
        ip(None, &["link", "add", "rb", "netns", NS_R, "type", "veth", "peer", "name", "vb", "netns", NS_B])?;
        let r = Some(NS_R);
        ip(r, &["link", "set", "lo", "up"])?;
        addr(NS_R, "ra", "10.99.0.1/24".into())?;
        addr(NS_R, "rb", format!("{}/{}", a.a_seen, a.outer_len))?;
        addr(NS_R, "rb", format!("{}/{}", a.garbage_src, a.outer_len))?;
        ip(r, &["link", "set", "ra", "up"])?;
        ip(r, &["link", "set", "rb", "up"])?;
        in_netns(NS_R, || {
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").map_err(io("net.ipv4.ip_forward in ir"))
        })?;
        // Masquerade everything the initiator sends out towards the responder, with random source
        // ports: the responder sees neither the initiator's address nor its ports 500/4500.
        for rule in [
            "add table ip nat",
            "add chain ip nat post { type nat hook postrouting priority 100 ; }",
            "add rule ip nat post oifname rb ip saddr 10.99.0.0/24 masquerade random",
        ] {
            run(netns_cmd(NS_R, "nft").args(rule.split(' ')), &format!("nft {rule}"))?;
        }
        addr(NS_A, "va", format!("{}/24", a.a_local))?;
        addr(NS_B, "vb", format!("{}/{}", a.b, a.outer_len))?;
        ip(Some(NS_A), &["link", "set", "va", "up"])?;
        ip(Some(NS_A), &["route", "add", "default", "via", "10.99.0.1"])?;
        ip(Some(NS_B), &["link", "set", "vb", "up"])?;
    } else {
        ip(None, &["link", "add", "va", "netns", NS_A, "type", "veth", "peer", "name", "vb", "netns", NS_B])?;
        addr(NS_A, "va", format!("{}/{}", a.a_local, a.outer_len))?;
        addr(NS_A, "va", format!("{}/{}", a.garbage_src, a.outer_len))?;
        addr(NS_B, "vb", format!("{}/{}", a.b, a.outer_len))?;
        ip(Some(NS_A), &["link", "set", "va", "up"])?;
        ip(Some(NS_B), &["link", "set", "vb", "up"])?;
    }
    for (ns, inner, inner_len, other) in [
        (NS_A, a.inner_a, a.ts_a.split('/').nth(1).unwrap_or("24"), a.ts_b),
        (NS_B, a.inner_b, a.ts_b.split('/').nth(1).unwrap_or("24"), a.ts_a),
    ] {
        let n = Some(ns);
        ip(n, &["link", "set", "lo", "up"])?;
        ip(n, &["link", "add", "inner0", "type", "dummy"])?;
        addr(ns, "inner0", format!("{inner}/{inner_len}"))?;
        ip(n, &["link", "set", "inner0", "up"])?;
        ip(n, &["route", "add", other, "dev", "inner0", "src", inner])?;
    }
    Ok(())
}

fn teardown() {
    for ns in [NS_A, NS_B, NS_R] {
        let _ = ip(None, &["netns", "del", ns]);
    }
}

/// The UDP encapsulations (`sport`, `dport`) of the SAs in namespace `ns`, as `ip xfrm state`
/// shows them (`encap type espinudp sport 4500 dport 37611 addr 0.0.0.0`).
fn encaps(ns: &str) -> Result<Vec<(u16, u16)>, HarnessError> {
    Ok(parse_encaps(&ip(Some(ns), &["xfrm", "state"])?))
}

fn parse_encaps(text: &str) -> Vec<(u16, u16)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("encap type espinudp ")?;
            let w: Vec<&str> = rest.split_whitespace().collect();
            let port = |k: &str| w.iter().position(|x| *x == k).and_then(|i| w.get(i + 1)?.parse().ok());
            Some((port("sport")?, port("dport")?))
        })
        .collect()
}

/// ESP SAs as `ip -s xfrm state` shows them: (SPI, source, destination, packets).
type EspSas = Vec<(u32, String, String, u64)>;

/// The ESP SAs of namespace `ns`.
fn esp_sas(ns: &str) -> Result<EspSas, HarnessError> {
    Ok(parse_esp_sas(&ip(Some(ns), &["-s", "xfrm", "state"])?))
}

/// Reads the output of `ip -s xfrm state`.
fn parse_esp_sas(text: &str) -> EspSas {
    let mut v = Vec::new();
    let mut cur: Option<(u32, String, String, u64)> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("src ") {
            if let Some(c) = cur.take() {
                v.push(c);
            }
            let mut w = rest.split_whitespace();
            let src = w.next().unwrap_or_default().to_string();
            let dst = w.nth(1).unwrap_or_default().to_string();
            cur = Some((0, src, dst, 0));
        } else if let (Some(c), Some(rest)) = (cur.as_mut(), t.strip_prefix("proto esp spi ")) {
            // "0xe359f4ba(3814323386) reqid 1 mode tunnel" (with -s)
            let hex = rest.split(|ch: char| ch.is_whitespace() || ch == '(').next().unwrap_or_default();
            c.0 = u32::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or(0);
        } else if let Some(c) = cur.as_mut()
            && t.contains("(bytes)")
            && t.contains("(packets)")
        {
            // "123(bytes), 4(packets)"
            if let Some(p) = t.split(',').nth(1) {
                c.3 = p.trim().trim_end_matches("(packets)").parse().unwrap_or(c.3);
            }
        }
    }
    v.extend(cur);
    v.retain(|s| s.0 != 0);
    v
}

/// Waits until `f` holds (polling every 100 ms) or `limit` passes.
fn wait(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `n` datagrams from `from_ns`'s inner host to `to_ns`'s; how many arrived.
fn traffic(from_ns: &str, from: &str, to_ns: &str, to: &str, port: u16) -> Result<usize, HarnessError> {
    let to_addr = SocketAddr::new(to.parse::<IpAddr>().expect("literal"), port);
    let rx = in_netns(to_ns, || UdpSocket::bind(to_addr).map_err(io(format!("bind {to_addr}"))))?;
    rx.set_read_timeout(Some(Duration::from_millis(1500))).map_err(io("timeout"))?;
    let tx = in_netns(from_ns, || {
        UdpSocket::bind(SocketAddr::new(from.parse::<IpAddr>().expect("literal"), 0))
            .map_err(io(format!("bind {from}")))
    })?;
    for k in 0..DATAGRAMS {
        // A refused send (no SA yet: the policy's acquire) counts as a loss, not an error.
        let _ = tx.send_to(format!("interop {k}").as_bytes(), to_addr);
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut got = 0;
    let mut buf = [0u8; 64];
    while rx.recv(&mut buf).is_ok() {
        got += 1;
        if got == DATAGRAMS {
            break;
        }
    }
    Ok(got)
}

/// 10,000 garbage datagrams from the link's garbage address to the responder's IKE ports (500,
/// and 4500 with the non-ESP marker); half start with the IKE SA's SPIs (`ike`: SPIi, SPIr as
/// hex) and a plausible header. Returns how many were sent.
fn garbage(a: &Addrs, ike: Option<&(String, String, Option<u64>)>) -> Result<usize, HarnessError> {
    let spis = ike.and_then(|(i, r, _)| Some((u64::from_str_radix(i, 16).ok()?, u64::from_str_radix(r, 16).ok()?)));
    let to: IpAddr = a.b.parse().expect("literal");
    in_netns(a.garbage_ns, || {
        let src: IpAddr = a.garbage_src.parse().expect("literal");
        let sock = UdpSocket::bind((src, 0)).map_err(io("bind"))?;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut sent = 0;
        for k in 0..10_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 28 + (x % 200) as usize;
            let mut d: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8).collect();
            if let (true, Some((i, r))) = (k % 2 == 0, spis) {
                d[..8].copy_from_slice(&i.to_be_bytes());
                d[8..16].copy_from_slice(&r.to_be_bytes());
                d[16] = 46;
                d[17] = 0x20;
                d[18] = 37;
                d[19] = 0x08;
                d[24..28].copy_from_slice(&(len as u32).to_be_bytes());
            }
            let port = if k % 4 < 2 { 500 } else { 4500 };
            if port == 4500 {
                d.splice(0..0, [0u8; 4]);
            }
            if sock.send_to(&d, SocketAddr::new(to, port)).is_ok() {
                sent += 1;
            }
            // Paced (about 4,000 a second) so that most reach ikev2d rather than overflow its
            // socket buffers under TCG.
            if k % 100 == 99 {
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(sent)
    })
}

/// A running implementation in one namespace.
struct Running {
    which: Impl,
    ns: &'static str,
    dir: PathBuf,
    child: Child,
    /// ikev2d: its control socket; charon: its vici URI.
    control: String,
    ikev2d: PathBuf,
}

impl Running {
    fn ikev2d(&self, args: &[&str]) -> Result<String, HarnessError> {
        run(
            // A daemon busy with a flood of garbage under TCG answers late: a generous timeout.
            Command::new(&self.ikev2d).args(["ctl", "--control", &self.control, "--timeout", "20"]).args(args),
            &format!("ikev2d ctl {}", args.join(" ")),
        )
    }

    fn swanctl(&self, args: &[&str]) -> Result<String, HarnessError> {
        run(
            netns_cmd(self.ns, "swanctl").args(args).args(["--uri", &self.control]),
            &format!("swanctl {}", args.join(" ")),
        )
    }

    fn initiate(&self) -> Result<String, HarnessError> {
        match self.which {
            Impl::Ikev2d => self.ikev2d(&["initiate", "c"]),
            Impl::Charon => self.swanctl(&["--initiate", "--child", "c", "--timeout", "30"]),
        }
    }

    fn rekey_child(&self) -> Result<String, HarnessError> {
        match self.which {
            Impl::Ikev2d => self.ikev2d(&["rekey-child", "c"]),
            Impl::Charon => self.swanctl(&["--rekey", "--child", "c"]),
        }
    }

    fn rekey_ike(&self) -> Result<String, HarnessError> {
        match self.which {
            Impl::Ikev2d => self.ikev2d(&["rekey-ike", "c"]),
            Impl::Charon => self.swanctl(&["--rekey", "--ike", "c"]),
        }
    }

    fn terminate(&self) -> Result<String, HarnessError> {
        match self.which {
            Impl::Ikev2d => self.ikev2d(&["terminate", "c"]),
            Impl::Charon => self.swanctl(&["--terminate", "--ike", "c", "--timeout", "10"]),
        }
    }

    /// ikev2d's IKE SA: (SPIi, SPIr, setup ms), if established.
    fn ike_sa(&self) -> Option<(String, String, Option<u64>)> {
        if self.which != Impl::Ikev2d {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&self.ikev2d(&["--json", "status"]).ok()?).ok()?;
        let sas = v.get("ike_sas").or_else(|| v.get("status")).and_then(|s| s.as_array())?.clone();
        let sa = sas.iter().find(|s| s["state"] == "Established")?;
        Some((sa["spi_i"].as_str()?.to_string(), sa["spi_r"].as_str()?.to_string(), sa["setup_ms"].as_u64()))
    }

    /// ikev2d's established IKE SAs: (SPIi, SPIr).
    fn established_ike_sas(&self) -> Vec<(String, String)> {
        let Some(v) =
            self.ikev2d(&["--json", "status"]).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        else {
            return Vec::new();
        };
        let sas = v.get("ike_sas").and_then(|s| s.as_array()).cloned().unwrap_or_default();
        sas.iter()
            .filter(|s| s["established"] == true)
            .filter_map(|s| Some((s["spi_i"].as_str()?.to_string(), s["spi_r"].as_str()?.to_string())))
            .collect()
    }

    /// ikev2d's count of dropped datagrams.
    fn dropped(&self) -> Option<u64> {
        let v: serde_json::Value = serde_json::from_str(&self.ikev2d(&["--json", "status"]).ok()?).ok()?;
        v["stats"]["dropped"].as_u64()
    }

    fn stop(mut self) -> String {
        match self.which {
            Impl::Ikev2d => {
                let _ = self.ikev2d(&["stop"]);
            }
            Impl::Charon => {
                // SAFETY: signalling our own child process.
                unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            }
        }
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file("/run/charon.pid");
        let log = if self.which == Impl::Charon { "charon.log" } else { "ikev2d.log" };
        std::fs::read_to_string(self.dir.join(log)).unwrap_or_default()
    }
}

/// Sends `cmd` (`rekey-child` or `rekey-ike`) to both ends as close to the same instant as this
/// harness can: ikev2d's control sockets are connected first and both requests written after a
/// barrier (a `ctl` process takes long to start under TCG, long enough for one exchange to finish
/// before the other begins); charon gets its `swanctl` at the barrier.
fn at_once(a: &Running, b: &Running, cmd: &str) -> (Result<String, HarnessError>, Result<String, HarnessError>) {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    let barrier = std::sync::Barrier::new(2);
    let one = |r: &Running| -> Result<String, HarnessError> {
        match r.which {
            Impl::Ikev2d => {
                let mut stream = UnixStream::connect(&r.control).map_err(io(format!("connect {}", r.control)));
                barrier.wait();
                let stream = stream.as_mut().map_err(|e| HarnessError::Thread(e.to_string()))?;
                stream.set_read_timeout(Some(Duration::from_secs(20))).map_err(io("timeout"))?;
                writeln!(stream, "{{\"cmd\":\"{cmd}\",\"conn\":\"c\"}}").map_err(io("control request"))?;
                let mut line = String::new();
                BufReader::new(&*stream).read_line(&mut line).map_err(io("control answer"))?;
                if line.contains("\"ok\":true") {
                    Ok(line)
                } else {
                    Err(HarnessError::Command { command: format!("ikev2d {cmd}"), stderr: line })
                }
            }
            Impl::Charon => {
                barrier.wait();
                match cmd {
                    "rekey-child" => r.rekey_child(),
                    _ => r.rekey_ike(),
                }
            }
        }
    };
    std::thread::scope(|s| {
        let x = s.spawn(|| one(a));
        let y = s.spawn(|| one(b));
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<String, HarnessError>>| {
            h.join().unwrap_or_else(|_| Err(HarnessError::Thread("a rekey thread panicked".into())))
        };
        (join(x), join(y))
    })
}

fn proposal_list(s: &str) -> String {
    format!("\"{s}\"")
}

/// Starts `which` in `ns` with the case's proposals.
fn start(which: Impl, ns: &'static str, case: &Case, ikev2d: &Path, root: &Path) -> Result<Running, HarnessError> {
    let a = case.link.addrs();
    let (local, remote, lid, rid, lts, rts) = if ns == NS_A {
        (a.a_local, a.b, "a.example", "b.example", a.ts_a, a.ts_b)
    } else {
        (a.b, a.a_seen, "b.example", "a.example", a.ts_b, a.ts_a)
    };
    let dir = root.join(ns);
    std::fs::create_dir_all(&dir).map_err(io(format!("mkdir {}", dir.display())))?;
    match which {
        Impl::Ikev2d => {
            let control = dir.join("ikev2d.sock").to_string_lossy().into_owned();
            // ESP proposals for IKE_AUTH carry no DH group; ikev2d adds the group in rekeys.
            let conf = format!(
                "[daemon]\nbackend = \"{}\"\ncontrol = \"{control}\"\nretransmit_ms = 2000\n\n\
                 [[connection]]\nname = \"c\"\nlocal = \"{local}\"\nremote = \"{remote}\"\nlocal_id = \"fqdn:{lid}\"\n\
                 remote_id = \"fqdn:{rid}\"\npsk = \"{PSK}\"\nike = [{}]\nesp = [{}]\nlocal_ts = [\"{lts}\"]\n\
                 remote_ts = [\"{rts}\"]\nrekey_child_s = 0\nrekey_ike_s = 0\ndpd_s = 0\n",
                case.backend,
                proposal_list(case.ike),
                proposal_list(case.esp)
            );
            let path = dir.join("ikev2d.toml");
            std::fs::write(&path, conf).map_err(io("writing ikev2d.toml"))?;
            let log = std::fs::File::create(dir.join("ikev2d.log")).map_err(io("ikev2d.log"))?;
            let child = netns_cmd(ns, &ikev2d.to_string_lossy())
                .args(["run", "--config", &path.to_string_lossy()])
                .env("RUST_LOG", "debug")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(io("starting ikev2d"))?;
            let r = Running { which, ns, dir, child, control: control.clone(), ikev2d: ikev2d.to_path_buf() };
            if !wait(Duration::from_secs(10), || Path::new(&control).exists()) {
                return Err(HarnessError::Thread(format!("ikev2d in {ns} did not open {control}")));
            }
            Ok(r)
        }
        Impl::Charon => {
            let vici = format!("unix://{}", dir.join("charon.vici").display());
            let conf = format!(
                "charon {{\n  load_modular = yes\n  install_routes = no\n  retransmit_timeout = 2.0\n  plugins {{\n    \
                 include /etc/strongswan.d/charon/*.conf\n    vici {{\n      socket = {vici}\n    }}\n    stroke {{\n      \
                 load = no\n    }}\n  }}\n  filelog {{\n    log {{\n      path = {}\n      time_format = %T\n      \
                 default = 1\n      ike = 2\n      enc = 1\n      cfg = 1\n    }}\n  }}\n}}\n",
                dir.join("charon.log").display()
            );
            std::fs::write(dir.join("strongswan.conf"), conf).map_err(io("writing strongswan.conf"))?;
            let swanctl = format!(
                "connections {{\n  c {{\n    version = 2\n    local_addrs = {local}\n    remote_addrs = {remote}\n    \
                 proposals = {}\n    rekey_time = 0\n    local {{\n      auth = psk\n      id = {lid}\n    }}\n    \
                 remote {{\n      auth = psk\n      id = {rid}\n    }}\n    children {{\n      c {{\n        \
                 local_ts = {lts}\n        remote_ts = {rts}\n        esp_proposals = {}\n        mode = tunnel\n        \
                 rekey_time = 0\n        start_action = none\n      }}\n    }}\n  }}\n}}\nsecrets {{\n  ike-1 {{\n    \
                 id-1 = a.example\n    id-2 = b.example\n    secret = \"{PSK}\"\n  }}\n}}\n",
                case.ike, case.esp
            );
            let sw = dir.join("swanctl.conf");
            std::fs::write(&sw, swanctl).map_err(io("writing swanctl.conf"))?;
            let _ = std::fs::remove_file("/run/charon.pid");
            let child = netns_cmd(ns, CHARON)
                .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(io("starting charon"))?;
            let r = Running { which, ns, dir: dir.clone(), child, control: vici.clone(), ikev2d: ikev2d.to_path_buf() };
            let sock = dir.join("charon.vici");
            if !wait(Duration::from_secs(20), || sock.exists()) {
                return Err(HarnessError::Thread(format!("charon in {ns} did not open its vici socket")));
            }
            r.swanctl(&["--load-all", "--file", &sw.to_string_lossy()])?;
            Ok(r)
        }
    }
}

/// Runs one case; never panics; everything is torn down afterwards.
pub fn run_case(case: &Case, ikev2d: &Path) -> CaseReport {
    let mut rep = CaseReport {
        case: case.clone(),
        steps: Vec::new(),
        passed: false,
        establish_ms: None,
        ikev2d_setup_ms: None,
        ikev2d_packets: 0,
        malformed: 0,
        expert_warnings: Vec::new(),
        charon_complaints: Vec::new(),
        charon_sample: Vec::new(),
    };
    let root = PathBuf::from(format!("/tmp/interop/{}", case.name));
    let _ = std::fs::remove_dir_all(&root);
    let result = run_steps(case, ikev2d, &root, &mut rep);
    if let Err(e) = result {
        rep.steps.push(StepReport { step: "ran".into(), ok: false, ms: 0, detail: e.to_string() });
    }
    teardown();
    rep.passed = !rep.steps.is_empty() && rep.steps.iter().all(|s| s.ok);
    // The logs and the capture go to the results share (the guest's /tmp dies with it).
    if let Some(results) = std::env::var_os("LAB_RESULTS") {
        let to = PathBuf::from(results).join("interop").join(case.name);
        for (sub, name) in [
            (".", "ike.pcapng"),
            (NS_A, "ikev2d.log"),
            (NS_A, "charon.log"),
            (NS_B, "ikev2d.log"),
            (NS_B, "charon.log"),
        ] {
            let from = root.join(sub).join(name);
            if from.exists() {
                let dir = to.join(sub);
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::copy(&from, dir.join(name));
            }
        }
    }
    rep
}

fn run_steps(case: &Case, ikev2d: &Path, root: &Path, rep: &mut CaseReport) -> Result<(), HarnessError> {
    topology(case.link)?;
    let addrs = case.link.addrs();
    std::fs::create_dir_all(root).map_err(io("mkdir"))?;
    let pcap = root.join("ike.pcapng");
    // On the responder's link: behind a NAT, what the responder sees (the NAT's address and ports).
    let mut dumpcap = netns_cmd(NS_B, "dumpcap")
        .args(["-q", "-i", "vb", "-f", "udp port 500 or udp port 4500 or esp", "-w", &pcap.to_string_lossy()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("starting dumpcap"))?;
    // dumpcap needs a moment before it captures (TCG is slow).
    let capturing = wait(Duration::from_secs(10), || pcap.exists());
    let responder = start(case.responder, NS_B, case, ikev2d, root)?;
    let initiator = match start(case.initiator, NS_A, case, ikev2d, root) {
        Ok(i) => i,
        Err(e) => {
            responder.stop();
            return Err(e);
        }
    };
    let ikev2d_side = if case.initiator == Impl::Ikev2d { &initiator } else { &responder };
    let mut step = |rep: &mut CaseReport, name: &str, t: Instant, ok: bool, detail: String| {
        rep.steps.push(StepReport { step: name.into(), ok, ms: t.elapsed().as_millis() as u64, detail });
    };
    let both = || -> (EspSas, EspSas) { (esp_sas(NS_A).unwrap_or_default(), esp_sas(NS_B).unwrap_or_default()) };
    let spis = |v: &[(u32, String, String, u64)]| {
        let mut s: Vec<u32> = v.iter().map(|x| x.0).collect();
        s.sort_unstable();
        s
    };
    let exchange = |rep: &mut CaseReport,
                    label: &str,
                    step: &mut dyn FnMut(&mut CaseReport, &str, Instant, bool, String)| {
        let t = Instant::now();
        let (a0, b0) = both();
        let ab = traffic(NS_A, addrs.inner_a, NS_B, addrs.inner_b, 7000);
        let ba = traffic(NS_B, addrs.inner_b, NS_A, addrs.inner_a, 7001);
        let (a1, b1) = both();
        let pk = |v: &[(u32, String, String, u64)]| v.iter().map(|x| x.3).sum::<u64>();
        let (ab, ba) = (ab.unwrap_or(0), ba.unwrap_or(0));
        let grew = pk(&a1) >= pk(&a0) + 2 * DATAGRAMS as u64 && pk(&b1) >= pk(&b0) + 2 * DATAGRAMS as u64;
        step(
            rep,
            label,
            t,
            ab == DATAGRAMS && ba == DATAGRAMS && grew,
            format!(
                "a->b {ab}/{DATAGRAMS}, b->a {ba}/{DATAGRAMS}; ESP packets counted by the SAs: a {} -> {}, b {} -> {}",
                pk(&a0),
                pk(&a1),
                pk(&b0),
                pk(&b1)
            ),
        );
    };

    // Up.
    let t = Instant::now();
    let init = initiator.initiate();
    let up = wait(Duration::from_secs(30), || {
        let (a, b) = both();
        a.len() == 2 && b.len() == 2 && spis(&a) == spis(&b)
    });
    rep.establish_ms = up.then(|| t.elapsed().as_millis() as u64);
    let ike0 = ikev2d_side.ike_sa();
    rep.ikev2d_setup_ms = ike0.as_ref().and_then(|s| s.2);
    let (a, b) = both();
    step(
        rep,
        "established",
        t,
        up && init.is_ok(),
        format!("initiate: {:?}; SPIs a {:x?}, b {:x?}", init.as_ref().map(|_| "ok"), spis(&a), spis(&b)),
    );
    if up {
        exchange(rep, "traffic", &mut step);
        if case.link == Link::Ipv4Nat {
            // Both kernels' SAs are encapsulated in UDP (ports as the SA's source and destination
            // see them): the initiator's both ways 4500 to 4500; the responder's between its 4500
            // and the port the NAT gave the initiator's 4500 (not 4500: random ports).
            let t = Instant::now();
            let (ea, eb) = (encaps(NS_A).unwrap_or_default(), encaps(NS_B).unwrap_or_default());
            let nat_port = eb.iter().map(|&(sp, dp)| if sp == 4500 { dp } else { sp }).next().unwrap_or(4500);
            let mut eb_sorted = eb.clone();
            eb_sorted.sort_unstable();
            let mut want = vec![(nat_port, 4500), (4500, nat_port)];
            want.sort_unstable();
            let ok = ea == [(4500, 4500), (4500, 4500)] && nat_port != 4500 && eb_sorted == want;
            step(
                rep,
                "nat_t_sas",
                t,
                ok,
                format!("UDP encapsulation (sport, dport): initiator {ea:?}, responder {eb:?}"),
            );
        }
        if case.responder == Impl::Ikev2d {
            // Bad input: 10,000 garbage datagrams at the responder's IKE ports, half of them
            // behind this IKE SA's real SPIs, while traffic flows; nothing may change.
            let t = Instant::now();
            let (a0, b0) = both();
            let dropped0 = responder.dropped().unwrap_or(0);
            let sent = garbage(&addrs, ike0.as_ref());
            // Every garbage datagram ikev2d reads is dropped with its log line; wait until it has
            // read what its socket buffers kept (it is slow under TCG with debug logs; a full
            // buffer loses the rest in the kernel, which counts as sent, not as read).
            let mut dropped = 0;
            let mut last = u64::MAX;
            wait(Duration::from_secs(60), || {
                std::thread::sleep(Duration::from_millis(900));
                dropped = responder.dropped().unwrap_or(0).saturating_sub(dropped0);
                let settled = dropped > 0 && dropped == last;
                last = dropped;
                settled
            });
            let (a1, b1) = both();
            let same = spis(&a0) == spis(&a1) && spis(&b0) == spis(&b1);
            let still = responder.ike_sa().map(|s| (s.0, s.1)) == ike0.as_ref().map(|o| (o.0.clone(), o.1.clone()));
            step(
                rep,
                "garbage_ignored",
                t,
                sent.as_ref().is_ok_and(|n| *n == 10_000) && dropped > 0 && same && still,
                format!(
                    "{sent:?} datagrams sent, {dropped} dropped by ikev2d; Child SAs unchanged: {same}; IKE SA unchanged: {still}"
                ),
            );
            exchange(rep, "traffic_after_garbage", &mut step);
        }
        // Child SA rekey.
        let t = Instant::now();
        let before = spis(&a);
        let r = initiator.rekey_child();
        let ok = wait(Duration::from_secs(20), || {
            let (a, b) = both();
            a.len() == 2 && b.len() == 2 && spis(&a) == spis(&b) && spis(&a).iter().all(|s| !before.contains(s))
        });
        let (a, _) = both();
        step(
            rep,
            "child_rekey",
            t,
            ok && r.is_ok(),
            format!("{:?}; SPIs {before:x?} -> {:x?}", r.as_ref().map(|_| "ok"), spis(&a)),
        );
        exchange(rep, "traffic_after_child_rekey", &mut step);
        // Both ends rekey the Child SA at once (RFC 7296 §2.8.1): whether or not the exchanges
        // cross on the wire, one Child SA must be left on each side, with new SPIs, and carry
        // traffic. ikev2d's log says whether it saw the collision.
        let t = Instant::now();
        let before = spis(&both().0);
        let (ri, rr) = at_once(&initiator, &responder, "rekey-child");
        let ok = wait(Duration::from_secs(30), || {
            let (a, b) = both();
            a.len() == 2 && b.len() == 2 && spis(&a) == spis(&b) && spis(&a).iter().all(|s| !before.contains(s))
        });
        // Let a redundant Child SA's delete finish before judging "one left".
        std::thread::sleep(Duration::from_secs(2));
        let (a, b) = both();
        let settled = ok && a.len() == 2 && b.len() == 2 && spis(&a) == spis(&b);
        let logs: String = [&initiator, &responder]
            .iter()
            .filter(|r| r.which == Impl::Ikev2d)
            .map(|r| std::fs::read_to_string(r.dir.join("ikev2d.log")).unwrap_or_default())
            .collect();
        let collided = logs.matches("simultaneous Child SA rekey").count();
        step(
            rep,
            "simultaneous_child_rekey",
            t,
            settled && ri.is_ok() && rr.is_ok(),
            format!("SPIs {before:x?} -> a {:x?}, b {:x?}; collisions ikev2d saw: {collided}", spis(&a), spis(&b)),
        );
        exchange(rep, "traffic_after_simultaneous_rekey", &mut step);
        let (a, _) = both();
        // IKE SA rekey.
        let t = Instant::now();
        let child_spis = spis(&a);
        let r = initiator.rekey_ike();
        let ok = wait(Duration::from_secs(20), || {
            ikev2d_side
                .ike_sa()
                .is_some_and(|s| Some((s.0.clone(), s.1.clone())) != ike0.as_ref().map(|o| (o.0.clone(), o.1.clone())))
        });
        let (a, _) = both();
        step(
            rep,
            "ike_rekey",
            t,
            ok && r.is_ok() && spis(&a) == child_spis,
            format!(
                "{:?}; IKE SPIs {:?} -> {:?}; Child SA SPIs kept: {}",
                r.as_ref().map(|_| "ok"),
                ike0.as_ref().map(|s| (&s.0, &s.1)),
                ikev2d_side.ike_sa().map(|s| (s.0, s.1)),
                spis(&a) == child_spis
            ),
        );
        exchange(rep, "traffic_after_ike_rekey", &mut step);
        // Both ends rekey the IKE SA at once (RFC 7296 §2.8.2): ikev2d must be left with one
        // established IKE SA, a new one, and the Child SA untouched in both kernels.
        let t = Instant::now();
        let ike1 = ikev2d_side.ike_sa().map(|s| (s.0, s.1));
        let child_spis = spis(&both().0);
        let (ri, rr) = at_once(&initiator, &responder, "rekey-ike");
        let mut established = Vec::new();
        let ok = wait(Duration::from_secs(30), || {
            established = ikev2d_side.established_ike_sas();
            established.len() == 1 && Some(&established[0]) != ike1.as_ref()
        });
        // Let a redundant IKE SA's delete finish before judging "one left".
        std::thread::sleep(Duration::from_secs(2));
        established = ikev2d_side.established_ike_sas();
        let logs: String = [&initiator, &responder]
            .iter()
            .filter(|r| r.which == Impl::Ikev2d)
            .map(|r| std::fs::read_to_string(r.dir.join("ikev2d.log")).unwrap_or_default())
            .collect();
        let collided = logs.matches("simultaneous IKE SA rekey").count();
        let (a, b) = both();
        let kept = spis(&a) == child_spis && spis(&b) == child_spis;
        step(
            rep,
            "simultaneous_ike_rekey",
            t,
            ok && established.len() == 1 && kept && ri.is_ok() && rr.is_ok(),
            format!(
                "IKE SPIs {ike1:?} -> established {established:?}; Child SA kept: {kept}; collisions ikev2d saw: {collided}"
            ),
        );
        exchange(rep, "traffic_after_simultaneous_ike_rekey", &mut step);
        // Delete.
        let t = Instant::now();
        let r = initiator.terminate();
        let ok = wait(Duration::from_secs(20), || {
            let (a, b) = both();
            a.is_empty() && b.is_empty()
        });
        step(
            rep,
            "delete",
            t,
            ok && r.is_ok(),
            format!("{:?}; SAs left a {}, b {}", r.as_ref().map(|_| "ok"), both().0.len(), both().1.len()),
        );
    }
    let logs = [(case.initiator, initiator.stop()), (case.responder, responder.stop())];
    // SAFETY: signalling our own child process (dumpcap writes its file out on SIGINT).
    unsafe { libc::kill(dumpcap.id() as i32, libc::SIGINT) };
    let _ = wait(Duration::from_secs(5), || matches!(dumpcap.try_wait(), Ok(Some(_))));
    let _ = dumpcap.kill();
    let _ = dumpcap.wait();
    // One tshark pass (it starts slowly under TCG) over everything captured: every IKE packet
    // ikev2d sent must decode without a malformed mark or an expert warning; behind a NAT, the
    // wire must also show the encapsulation.
    let t = Instant::now();
    let srcs: Vec<&str> = [(case.initiator, addrs.a_seen), (case.responder, addrs.b)]
        .iter()
        .filter(|(w, _)| *w == Impl::Ikev2d)
        .map(|(_, a)| *a)
        .collect();
    match tshark_rows(&pcap) {
        Ok(rows) => {
            let ours: Vec<&Frame> = rows.iter().filter(|r| srcs.contains(&r.src.as_str())).collect();
            let p = ours.iter().filter(|r| r.ike).count();
            let m = ours.iter().filter(|r| r.malformed).count();
            let warnings: Vec<String> =
                ours.iter().filter(|r| r.warning).map(|r| format!("frame {}: {}", r.number, r.expert)).collect();
            rep.ikev2d_packets = p;
            rep.malformed = m;
            rep.expert_warnings = warnings.clone();
            step(
                rep,
                "tshark",
                t,
                capturing && p > 0 && m == 0 && warnings.is_empty(),
                format!(
                    "{p} IKE packets from ikev2d decoded, {m} malformed, {} with expert warnings{}",
                    warnings.len(),
                    if warnings.is_empty() { String::new() } else { format!(": {}", warnings.join(" | ")) }
                ),
            );
            if case.link == Link::Ipv4Nat {
                // Behind the NAT: no plain ESP at all, ESP in UDP both ways, and IKE moved to
                // 4500 (the initiator's packets from the NAT's ports, neither 500 nor 4500).
                let t = Instant::now();
                let plain = rows.iter().filter(|r| r.esp && r.sport.is_none()).count();
                let in_udp = rows.iter().filter(|r| r.esp && r.sport.is_some()).count();
                let from_a: std::collections::BTreeSet<u16> =
                    rows.iter().filter(|r| r.src == addrs.a_seen).filter_map(|r| r.sport).collect();
                let translated = !from_a.is_empty() && from_a.iter().all(|p| *p != 500 && *p != 4500);
                let ike4500 = rows.iter().any(|r| r.ike && (r.sport == Some(4500) || r.dport == Some(4500)));
                step(
                    rep,
                    "nat_t_wire",
                    t,
                    plain == 0 && in_udp >= 2 * DATAGRAMS && translated && ike4500,
                    format!(
                        "ESP in UDP {in_udp}, plain ESP {plain}; the initiator's source ports as seen: {from_a:?}; IKE on 4500: {ike4500}"
                    ),
                );
            }
        }
        Err(e) => step(rep, "tshark", t, false, format!("tshark failed: {e}")),
    }
    // charon's view of ikev2d's messages.
    for (which, log) in &logs {
        if *which != Impl::Charon {
            continue;
        }
        // What charon says when a message it received is wrong (its parser, its checks of
        // payloads, proposals, selectors and authentication), not its own start-up noise.
        const BAD: [&str; 13] = [
            "parsing",
            "invalid",
            "malformed",
            "unsupported",
            "verification",
            "integrity check failed",
            "could not decrypt",
            "no acceptable",
            "authentication_failed",
            "invalid_syntax",
            "no_proposal_chosen",
            "ts_unacceptable",
            "retransmit",
        ];
        rep.charon_complaints = log
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                BAD.iter().any(|b| l.contains(b)) && !l.contains("plugin") && !l.contains("opening directory")
            })
            .map(str::to_string)
            .collect();
        rep.charon_sample = log
            .lines()
            .filter(|l| l.contains("parsed ") || l.contains("generating "))
            .take(12)
            .map(str::to_string)
            .collect();
        let t = Instant::now();
        let n = rep.charon_complaints.len();
        let detail = if n == 0 {
            format!("{} log lines, no complaint", log.lines().count())
        } else {
            rep.charon_complaints.iter().take(5).cloned().collect::<Vec<_>>().join(" | ")
        };
        step(rep, "charon_log_clean", t, n == 0 && !log.is_empty(), detail);
    }
    Ok(())
}

/// Runs the cases (all, or those named in `only`) and prints a table. `backend` overrides the
/// ikev2d backend of every case that has `auto` (on stock Linux, whose af_key has no AEAD: `xfrm`);
/// a case that names its backend keeps it.
pub fn run_all(ikev2d: &Path, only: &[String], backend: Option<&'static str>) -> Vec<CaseReport> {
    let mut reports = Vec::new();
    for mut case in cases().into_iter().filter(|c| only.is_empty() || only.iter().any(|o| o == c.name)) {
        if let Some(b) = backend.filter(|_| case.backend == "auto") {
            case.backend = b;
        }
        tracing::info!(case = case.name, "interop case starts");
        let r = run_case(&case, ikev2d);
        for s in &r.steps {
            let v = if s.ok { "ok" } else { "FAILED" };
            println!("{:<34} {:<28} {:<6} {:>6} ms  {}", case.name, s.step, v, s.ms, s.detail);
        }
        reports.push(r);
    }
    let passed = reports.iter().filter(|r| r.passed).count();
    let mut summary = String::new();
    let _ = write!(summary, "interop: {passed} of {} cases passed", reports.len());
    println!("{summary}");
    reports
}

#[cfg(test)]
mod tests {
    #[test]
    fn tshark_rows_are_read_field_by_field() {
        let out = "7|192.0.2.1||4500|4500|37|||4194304|Something to note\n\
                   8||2001:db8::1|||||1||\n\
                   9|192.0.2.2|||||0x00000001|||\n\
                   10|192.0.2.1,10.0.0.1||183,500|500|34|||6291456,4194304|Bad length,Note\n";
        let rows = super::parse_tshark(out);
        assert_eq!(rows.len(), 4);
        assert!(rows[0].ike && !rows[0].esp && !rows[0].warning && rows[0].sport == Some(4500));
        assert_eq!(rows[1].src, "2001:db8::1");
        assert!(rows[1].malformed && !rows[1].ike);
        assert!(rows[2].esp && rows[2].sport.is_none(), "plain ESP has no UDP ports");
        assert_eq!((rows[3].src.as_str(), rows[3].sport), ("192.0.2.1", Some(183)));
        assert!(rows[3].warning);
    }

    #[test]
    fn expert_severities_of_warning_and_error_count() {
        for (v, w) in [
            ("6291456", true),
            ("0x00800000", true),
            ("Warning", true),
            ("4194304", false),
            ("2097152", false),
            ("Chat", false),
            ("", false),
        ] {
            assert_eq!(super::expert_is_warning(v), w, "{v}");
        }
    }

    #[test]
    fn udp_encapsulation_of_an_sa_is_read() {
        let text = "src 192.0.2.2 dst 192.0.2.1\n\tproto esp spi 0x1(1) reqid 1(0x00000001) mode tunnel\n\
                    \treplay-window 0 flag af-unspec\n\taead rfc4106(gcm(aes)) 0x00 128\n\
                    \tencap type espinudp sport 4500 dport 37611 addr 0.0.0.0\n\
                    src 192.0.2.1 dst 192.0.2.2\n\tproto esp spi 0x2(2) reqid 1(0x00000001) mode tunnel\n";
        assert_eq!(super::parse_encaps(text), vec![(4500, 37611)]);
        assert_eq!(super::parse_encaps("encap type espinudp sport x dport 1"), vec![]);
    }

    #[test]
    fn every_case_names_distinct_addresses_and_the_nat_hides_the_initiator() {
        use super::Link;
        for link in [Link::Ipv4, Link::Ipv4Nat, Link::Ipv6] {
            let a = link.addrs();
            assert_ne!(a.a_seen, a.b);
            assert_ne!(a.garbage_src, a.a_seen);
            assert_eq!(a.a_local == a.a_seen, link != Link::Ipv4Nat, "{link:?}");
        }
        let names: std::collections::BTreeSet<_> = super::cases().iter().map(|c| c.name).collect();
        assert_eq!(names.len(), super::cases().len());
    }

    #[test]
    fn ip_xfrm_state_with_statistics_is_read() {
        let text = "src 192.0.2.2 dst 192.0.2.1\n\tproto esp spi 0xe359f4ba(3814323386) reqid 1(0x00000001) mode tunnel\n\
                    \treplay-window 32 seq 0x00000000 flag  (0x00000000)\n\tlifetime current:\n\t  2960(bytes), 40(packets)\n\
                    src 192.0.2.1 dst 192.0.2.2\n\tproto esp spi 0x6567d411(1701303313) reqid 1(0x00000001) mode tunnel\n\
                    \tlifetime current:\n\t  0(bytes), 0(packets)\n";
        assert_eq!(
            super::parse_esp_sas(text),
            vec![
                (0xe359f4ba, "192.0.2.2".to_string(), "192.0.2.1".to_string(), 40),
                (0x6567d411, "192.0.2.1".to_string(), "192.0.2.2".to_string(), 0)
            ]
        );
    }
}
