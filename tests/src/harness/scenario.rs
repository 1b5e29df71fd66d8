//! Scenarios as data: `tests/scenarios/<name>/` holds `description.txt` (what the scenario proves,
//! for people) and `scenario.json` (what the runner does and expects).
//!
//! ```json
//! {
//!   "topology": "two-uplinks",
//!   "traffic": { "rate_pps": 200, "warmup_ms": 2000, "cooldown_ms": 3000, "drain_ms": 1000,
//!                "after_delete_ms": 1000 },
//!   "moves": { "to": ["lte"], "count": 1, "interval_ms": 0 },
//!   "steps": ["mobile:out", "mobile:route", "mobile:in", "mobile:fwd", "pause:500",
//!             "gateway:out", "gateway:in", "gateway:fwd"],
//!   "known_gaps": { "loss_gateway_to_mobile": "issue 7: ..." },
//!   "outer": { "wifi": "ipv4", "lte": "ipv6" },
//!   "mode": "tunnel",
//!   "sas": 1
//! }
//! ```
//!
//! `outer` (default IPv4 on both) is the outer address family the tunnel uses while the mobile is
//! on each uplink: a move between uplinks of different families is an outer-family move (the
//! inner traffic is IPv4, 10.1.0.0/16 ↔ 10.2.0.0/16, in every scenario). `mode` (default
//! `tunnel`) is the SAs' and templates' mode (`beet`: PF_KEY `IPSEC_MODE_BEET`, 3, which af_key
//! maps to `XFRM_MODE_BEET`, 4). `sas` (default 1) is the number of SAs per direction: 2 is a
//! bundle, one policy with two templates (ESP inside ESP, reqids 1 and 2), and every move
//! migrates both with one `SADB_X_MIGRATE` carrying two ipsecrequest pairs.
//!
//! `udp_encap` (default: none on both uplinks) is the UDP encapsulation of every SA (RFC 3948
//! ESP-in-UDP, `UDP_ENCAP_ESPINUDP`) while the mobile is on each uplink, as the mobile's and the
//! gateway's UDP ports, e.g. `{"wifi": null, "lte": {"mobile": 4500, "gateway": 4500}}`: a move
//! between uplinks whose encapsulations differ switches it on, off or to new ports. Each peer
//! then keeps a UDP socket with `UDP_ENCAP` open on each of its ports for the whole scenario (the
//! kernel decapsulates only what arrives on such a socket). IPv4 outer addresses only.
//!
//! `requires` lists the kernel capabilities of the mobility extensions the scenario needs
//! (`update_addresses`: the per-SA update; `migrate_natt`: NAT-T inside `SADB_X_MIGRATE`); it must
//! be exactly what the steps and `udp_encap` use. The runner asks the kernel
//! (`Kernel::capabilities`) and, when one is missing, reports the scenario as not applicable with
//! the probe's answer instead of running it (see [`crate::harness::runner`]).
//!
//! Move `i` (from 0) starts `warmup_ms + i * interval_ms` after the traffic started and takes the
//! mobile peer to uplink `to[i % to.len()]`: the uplink is brought up first if it is not (the old
//! one stays up: make-before-break), then the steps run in order. A step is `PEER:DIR` (a
//! `SADB_X_MIGRATE` of that peer's policy in direction `out`, `in` or `fwd`, and of the SA it
//! names), `PEER:DIR:update` (the per-SA update: `SADB_UPDATE` with
//! `SADB_X_EXT_NEW_ADDRESS_SRC/DST`, and the NAT-T extensions when the encapsulation changes, of
//! each SA the direction names, then `SADB_X_SPDUPDATE` of the policy with the new template
//! endpoints; `fwd:update` only updates the policy, its SA is the inbound one),
//! `mobile:route` (the mobile's route to the gateway's tunnel endpoint switches to the new
//! uplink) or `pause:MS`. Each direction of each peer moves exactly once per move, by either kind.
//!
//! Every check of [`CHECKS`] runs in every scenario and must pass, except those listed under
//! `known_gaps` with the reason: their failure is reported as a known gap, with its numbers.
//!
//! `movable_closes` lists known gaps that a movable inbound SA closes (issue 7,
//! `spec/movable-inbound-sa.md`): where the kernel has movable SAs (the probe's
//! `movable_inbound`), the mobile's inbound SAs are added with `SADB_SAFLAGS_MOVABLE` and these
//! checks are held to the full contract; elsewhere they stay known gaps.
//!
//! `beet_inner_gaps` (BEET mode only) are the known gaps where the kernel has BEET through PF_KEY
//! (the probe's `beet_inner`: template endpoints kept, `SADB_X_EXT_INNER_ADDRESS_DST`): there the
//! SAs carry both inner hosts, and every check is held to the full contract except these, each
//! with its reason; elsewhere `known_gaps` apply. Each must also be a known gap of `known_gaps`
//! (the kernel without the extension does no better).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The checks every scenario runs (the atomicity contract), by the names `known_gaps` uses.
pub const CHECKS: &[(&str, &str)] = &[
    ("loss_mobile_to_gateway", "no inner datagram from the mobile to the gateway is lost (make-before-break)"),
    ("loss_gateway_to_mobile", "no inner datagram from the gateway to the mobile is lost (make-before-break)"),
    ("accepted_after_move", "after the last move every datagram, both directions, passes the new SAs' replay check"),
    ("no_clear_text", "no inner packet appears unencrypted on any link"),
    ("esp_sequence", "ESP SPIs unchanged and sequence numbers continue (strictly increasing) across the moves"),
    (
        "sa_counters_carried",
        "the SAs' packet counters carry over the moves (SADB_GET before and after) and equal what they processed (ESP on the wire, packets decapsulated, datagrams sent or delivered)",
    ),
    ("no_old_address", "afterwards no SA and no policy template refers to an old address (PF_KEY and XFRM dumps)"),
    ("tunnel_up", "before the first move the tunnel carries the traffic both ways and reads back as installed"),
    (
        "migrate_accepted",
        "the kernel accepts every move request: SADB_X_MIGRATE, or the per-SA SADB_UPDATE and SADB_X_SPDUPDATE (else: the errno)",
    ),
    (
        "udp_encap",
        "every SA ends with the final uplink's UDP encapsulation (SADB_GET), and each SPI leaves its sender with the first uplink's before the moves and the final one's after (ESP-in-UDP ports, or plain ESP)",
    ),
    (
        "no_cached_route",
        "after the moves the old address is deleted: no cached route or bundle refers to it, traffic (also on sockets connected before the moves) flows on, no packet names it (neighbour probes counted apart), no ESP on the old uplink",
    ),
];

/// A scenario that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `scenario.json` does not parse.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
    /// The scenario parses but says something impossible.
    #[error("scenario {name}: {problem}")]
    Invalid {
        /// The scenario.
        name: String,
        /// What is wrong.
        problem: String,
    },
}

/// The network the scenario runs on. There is one so far; the addresses are in
/// [`crate::harness::topology`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TopologyKind {
    /// A mobile host with two uplinks (`wifi`, `lte`) to one gateway, one ESP tunnel.
    TwoUplinks,
}

/// One of the mobile's uplinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Uplink {
    /// Uplink A, 192.0.2.0/24 (the initial one).
    Wifi,
    /// Uplink B, 203.0.113.0/24.
    Lte,
}

/// An outer address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// The outer family the tunnel uses on each uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outer {
    /// On uplink A.
    pub wifi: Family,
    /// On uplink B.
    pub lte: Family,
}

impl Default for Outer {
    fn default() -> Outer {
        Outer { wifi: Family::Ipv4, lte: Family::Ipv4 }
    }
}

impl Outer {
    /// The family on `u`.
    pub fn on(&self, u: Uplink) -> Family {
        match u {
            Uplink::Wifi => self.wifi,
            Uplink::Lte => self.lte,
        }
    }
}

/// The mode of the SAs and policy templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelMode {
    /// Tunnel mode.
    #[default]
    Tunnel,
    /// BEET mode (RFC 7402): the inner addresses are the SAs' selectors.
    Beet,
}

/// The UDP ports of ESP-in-UDP (RFC 3948) between the peers: each SA's source port is its
/// sender's, its destination port its receiver's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncapPorts {
    /// The mobile's port.
    pub mobile: u16,
    /// The gateway's port.
    pub gateway: u16,
}

/// The UDP encapsulation of the tunnel while the mobile is on each uplink (`None`: plain ESP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpEncap {
    /// On uplink A.
    #[serde(default)]
    pub wifi: Option<EncapPorts>,
    /// On uplink B.
    #[serde(default)]
    pub lte: Option<EncapPorts>,
}

impl UdpEncap {
    /// The encapsulation on `u`.
    pub fn on(&self, u: Uplink) -> Option<EncapPorts> {
        match u {
            Uplink::Wifi => self.wifi,
            Uplink::Lte => self.lte,
        }
    }

    /// The ports `peer` receives ESP-in-UDP on, on any uplink (sorted, no duplicates).
    pub fn ports(&self, peer: Peer) -> Vec<u16> {
        let mut v: Vec<u16> = [self.wifi, self.lte]
            .into_iter()
            .flatten()
            .map(|p| if peer == Peer::Mobile { p.mobile } else { p.gateway })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A capability of the mobility extensions a scenario needs, as [`pfkey::kernel::Capabilities`]
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// The per-SA address update (`SADB_UPDATE` + `SADB_X_EXT_NEW_ADDRESS_SRC/DST`, and NAT-T in
    /// it).
    UpdateAddresses,
    /// NAT-T extensions inside `SADB_X_MIGRATE`.
    MigrateNatt,
}

impl Capability {
    /// The name `requires` uses.
    pub fn name(self) -> &'static str {
        match self {
            Capability::UpdateAddresses => "update_addresses",
            Capability::MigrateNatt => "migrate_natt",
        }
    }
}

/// One of the tunnel's peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    /// The mobile host (its addresses move).
    Mobile,
    /// The gateway (its endpoint stays, its view of the mobile moves).
    Gateway,
}

/// A policy direction as the steps name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Outbound policy and SA.
    Out,
    /// Inbound policy and SA.
    In,
    /// Forward policy (its SA is the inbound one, moved by `in`).
    Fwd,
}

/// One step of a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `SADB_X_MIGRATE` of `peer`'s policy in `dir` (and the SA its template names).
    Migrate(Peer, Dir),
    /// The per-SA update of the SAs `peer`'s policy in `dir` names (none for `fwd`), then
    /// `SADB_X_SPDUPDATE` of that policy.
    Update(Peer, Dir),
    /// The mobile's route to the gateway's endpoint moves to the new uplink.
    Route,
    /// Wait this many milliseconds.
    Pause(u64),
}

impl FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Step, String> {
        let (a, b) = s
            .split_once(':')
            .ok_or_else(|| format!("step {s:?}: want PEER:DIR, PEER:DIR:update, mobile:route or pause:MS"))?;
        let peer = match a {
            "mobile" => Peer::Mobile,
            "gateway" => Peer::Gateway,
            "pause" => return b.parse().map(Step::Pause).map_err(|e| format!("step {s:?}: {e}")),
            _ => return Err(format!("step {s:?}: unknown peer {a:?}")),
        };
        let (b, update) = match b.split_once(':') {
            Some((d, "update")) => (d, true),
            Some((_, k)) => return Err(format!("step {s:?}: unknown kind {k:?} (want update)")),
            None => (b, false),
        };
        let dir = match b {
            "out" => Some(Dir::Out),
            "in" => Some(Dir::In),
            "fwd" => Some(Dir::Fwd),
            _ => None,
        };
        match dir {
            Some(d) if update => return Ok(Step::Update(peer, d)),
            None if update => return Err(format!("step {s:?}: only a direction can be updated")),
            _ => {}
        }
        match (peer, b) {
            (_, "out") => Ok(Step::Migrate(peer, Dir::Out)),
            (_, "in") => Ok(Step::Migrate(peer, Dir::In)),
            (_, "fwd") => Ok(Step::Migrate(peer, Dir::Fwd)),
            (Peer::Mobile, "route") => Ok(Step::Route),
            _ => Err(format!("step {s:?}: unknown action {b:?}")),
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |p: &Peer, d: &Dir| {
            let p = if *p == Peer::Mobile { "mobile" } else { "gateway" };
            let d = match d {
                Dir::Out => "out",
                Dir::In => "in",
                Dir::Fwd => "fwd",
            };
            format!("{p}:{d}")
        };
        match self {
            Step::Migrate(p, d) => f.write_str(&name(p, d)),
            Step::Update(p, d) => write!(f, "{}:update", name(p, d)),
            Step::Route => f.write_str("mobile:route"),
            Step::Pause(ms) => write!(f, "pause:{ms}"),
        }
    }
}

/// The traffic through the tunnel during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Datagrams per second in each direction.
    pub rate_pps: u32,
    /// Traffic before the first move.
    pub warmup_ms: u64,
    /// Traffic after the last move.
    pub cooldown_ms: u64,
    /// After the senders stop, how long the receivers and captures keep listening.
    pub drain_ms: u64,
    /// After the cooldown the mobile's old outer addresses are deleted; the traffic goes on this
    /// long after that (check `no_cached_route`).
    #[serde(default = "after_delete_default")]
    pub after_delete_ms: u64,
}

fn after_delete_default() -> u64 {
    1000
}

/// When and where the mobile moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moves {
    /// The uplinks the moves go to, cycled.
    pub to: Vec<Uplink>,
    /// How many moves.
    pub count: usize,
    /// Time between the starts of consecutive moves.
    pub interval_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    topology: TopologyKind,
    traffic: Traffic,
    moves: Moves,
    steps: Vec<String>,
    #[serde(default)]
    known_gaps: BTreeMap<String, String>,
    #[serde(default)]
    outer: Outer,
    #[serde(default)]
    mode: TunnelMode,
    #[serde(default = "one")]
    sas: usize,
    #[serde(default)]
    udp_encap: UdpEncap,
    #[serde(default)]
    requires: Vec<Capability>,
    #[serde(default)]
    movable_closes: Vec<String>,
    #[serde(default)]
    beet_inner_gaps: BTreeMap<String, String>,
}

fn one() -> usize {
    1
}

/// A scenario, read and validated.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The folder name.
    pub name: String,
    /// `description.txt`.
    pub description: String,
    /// The network.
    pub topology: TopologyKind,
    /// The traffic.
    pub traffic: Traffic,
    /// The moves.
    pub moves: Moves,
    /// What each move does, in order.
    pub steps: Vec<Step>,
    /// Checks whose failure is a known gap of the stock kernel, with the reason.
    pub known_gaps: BTreeMap<String, String>,
    /// The outer family per uplink.
    pub outer: Outer,
    /// Tunnel or BEET.
    pub mode: TunnelMode,
    /// SAs per direction (2: a bundle of two, one policy with two templates).
    pub sas: usize,
    /// UDP encapsulation per uplink.
    pub udp_encap: UdpEncap,
    /// The mobility extensions the scenario needs (sorted).
    pub requires: Vec<Capability>,
    /// The known gaps a movable inbound SA closes: on a kernel with movable SAs they are no
    /// gaps (the mobile's inbound SAs carry the flag), elsewhere they stay.
    pub movable_closes: Vec<String>,
    /// BEET mode: the known gaps that remain on a kernel with BEET through PF_KEY (the probe's
    /// `beet_inner`), with their reasons; every other check is held to the full contract there.
    pub beet_inner_gaps: BTreeMap<String, String>,
}

impl Scenario {
    /// Reads `dir/scenario.json` and `dir/description.txt`; the folder name is the scenario's.
    pub fn load(dir: &Path) -> Result<Scenario, ScenarioError> {
        let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|source| ScenarioError::Read { path, source })
        };
        let json = read("scenario.json")?;
        let description = read("description.txt")?;
        Scenario::parse(&name, &description, &json).map_err(|e| match e {
            ScenarioError::Json { source, .. } => ScenarioError::Json { path: dir.join("scenario.json"), source },
            e => e,
        })
    }

    /// Parses and validates a scenario's JSON.
    pub fn parse(name: &str, description: &str, json: &str) -> Result<Scenario, ScenarioError> {
        let f: ScenarioFile =
            serde_json::from_str(json).map_err(|source| ScenarioError::Json { path: PathBuf::from(name), source })?;
        let invalid = |problem: String| ScenarioError::Invalid { name: name.to_string(), problem };
        let steps = f.steps.iter().map(|s| s.parse::<Step>()).collect::<Result<Vec<_>, _>>().map_err(invalid)?;
        if f.traffic.rate_pps == 0 || f.traffic.rate_pps > 2000 {
            return Err(invalid(format!("rate_pps {} is not in 1..=2000", f.traffic.rate_pps)));
        }
        if f.moves.count == 0 || f.moves.to.is_empty() {
            return Err(invalid("a scenario moves at least once, to at least one uplink".into()));
        }
        if f.moves.count > 1 && f.moves.interval_ms == 0 {
            return Err(invalid("several moves need interval_ms > 0".into()));
        }
        let mut at = Uplink::Wifi;
        for i in 0..f.moves.count {
            let to = f.moves.to[i % f.moves.to.len()];
            if to == at {
                return Err(invalid(format!(
                    "move {i} goes to {to:?}, where the mobile already is (it starts on wifi)"
                )));
            }
            at = to;
        }
        for peer in [Peer::Mobile, Peer::Gateway] {
            for dir in [Dir::Out, Dir::In, Dir::Fwd] {
                let n =
                    steps.iter().filter(|s| **s == Step::Migrate(peer, dir) || **s == Step::Update(peer, dir)).count();
                if n != 1 {
                    return Err(invalid(format!(
                        "each move moves {} exactly once, by MIGRATE or :update (found {n} times)",
                        Step::Migrate(peer, dir)
                    )));
                }
            }
        }
        for u in [Uplink::Wifi, Uplink::Lte] {
            if let Some(p) = f.udp_encap.on(u) {
                if p.mobile == 0 || p.gateway == 0 {
                    return Err(invalid(format!("udp_encap on {u:?}: ports must not be 0")));
                }
                if f.outer.on(u) != Family::Ipv4 {
                    return Err(invalid(format!("udp_encap on {u:?}: the harness encapsulates IPv4 outer only")));
                }
            }
        }
        // What the scenario needs of the mobility extensions must be what it says it needs.
        let mut needs = Vec::new();
        if steps.iter().any(|s| matches!(s, Step::Update(..))) {
            needs.push(Capability::UpdateAddresses);
        }
        let mut at = Uplink::Wifi;
        let mut encap_changes = false;
        for i in 0..f.moves.count {
            let to = f.moves.to[i % f.moves.to.len()];
            encap_changes |= f.udp_encap.on(at) != f.udp_encap.on(to);
            at = to;
        }
        if encap_changes && steps.iter().any(|s| matches!(s, Step::Migrate(_, Dir::Out | Dir::In))) {
            needs.push(Capability::MigrateNatt);
        }
        needs.sort();
        let mut requires = f.requires.clone();
        requires.sort();
        requires.dedup();
        if requires != needs {
            let names = |v: &[Capability]| v.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
            return Err(invalid(format!(
                "requires [{}], but its steps and udp_encap need [{}]",
                names(&requires),
                names(&needs)
            )));
        }
        if steps.iter().filter(|s| **s == Step::Route).count() != 1 {
            return Err(invalid("each move switches the mobile's route exactly once (mobile:route)".into()));
        }
        if !(1..=2).contains(&f.sas) {
            return Err(invalid(format!("sas {} is not 1 or 2", f.sas)));
        }
        for k in f.known_gaps.keys() {
            if !CHECKS.iter().any(|(c, _)| c == k) {
                return Err(invalid(format!(
                    "known_gaps names {k:?}, which is no check (checks: {})",
                    CHECKS.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        for k in &f.movable_closes {
            if !f.known_gaps.contains_key(k) {
                return Err(invalid(format!("movable_closes names {k:?}, which is no known gap")));
            }
        }
        for k in f.beet_inner_gaps.keys() {
            if f.mode != TunnelMode::Beet {
                return Err(invalid("beet_inner_gaps: only for BEET mode".into()));
            }
            if !f.known_gaps.contains_key(k) {
                return Err(invalid(format!("beet_inner_gaps names {k:?}, which is no known gap")));
            }
        }
        Ok(Scenario {
            name: name.to_string(),
            description: description.trim().to_string(),
            topology: f.topology,
            traffic: f.traffic,
            moves: f.moves,
            steps,
            known_gaps: f.known_gaps,
            outer: f.outer,
            mode: f.mode,
            sas: f.sas,
            udp_encap: f.udp_encap,
            requires,
            movable_closes: f.movable_closes,
            beet_inner_gaps: f.beet_inner_gaps,
        })
    }

    /// The uplink move `i` goes to.
    pub fn target(&self, i: usize) -> Uplink {
        self.moves.to[i % self.moves.to.len()]
    }

    /// The known gap of check `c` on a kernel where movable inbound SAs are (`movable`) or are
    /// not in force, and where BEET through PF_KEY is (`beet_inner`) or is not: `None` when the
    /// check is held to the full contract.
    pub fn known_gap(&self, c: &str, movable: bool, beet_inner: bool) -> Option<&String> {
        if movable && self.movable_closes.iter().any(|k| k == c) {
            return None;
        }
        if beet_inner && self.mode == TunnelMode::Beet {
            return self.beet_inner_gaps.get(c);
        }
        self.known_gaps.get(c)
    }

    /// Where the mobile ends up.
    pub fn final_uplink(&self) -> Uplink {
        self.target(self.moves.count - 1)
    }

    /// Every uplink the mobile is on at some point (wifi first).
    pub fn uplinks(&self) -> Vec<Uplink> {
        let mut v = vec![Uplink::Wifi];
        for u in &self.moves.to {
            if !v.contains(u) {
                v.push(*u);
            }
        }
        v
    }
}

/// Every scenario folder under `root` (those with a `scenario.json`), sorted by name.
pub fn load_all(root: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(root).map_err(|source| ScenarioError::Read { path: root.to_path_buf(), source })?;
    let mut dirs: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("scenario.json").is_file()).collect();
    dirs.sort();
    dirs.iter().map(|d| Scenario::load(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
        "topology": "two-uplinks",
        "traffic": { "rate_pps": 200, "warmup_ms": 2000, "cooldown_ms": 3000, "drain_ms": 1000 },
        "moves": { "to": ["lte", "wifi"], "count": 3, "interval_ms": 400 },
        "steps": ["mobile:out", "mobile:route", "mobile:in", "mobile:fwd", "pause:500",
                  "gateway:out", "gateway:in", "gateway:fwd"],
        "known_gaps": { "loss_gateway_to_mobile": "issue 7" }
    }"#;

    #[test]
    fn a_scenario_reads_its_steps_moves_and_known_gaps() {
        let s = Scenario::parse("x", "d", GOOD).unwrap();
        assert_eq!(s.steps[0], Step::Migrate(Peer::Mobile, Dir::Out));
        assert_eq!(s.steps[1], Step::Route);
        assert_eq!(s.steps[4], Step::Pause(500));
        assert_eq!((s.target(0), s.target(1), s.target(2)), (Uplink::Lte, Uplink::Wifi, Uplink::Lte));
        assert_eq!(s.final_uplink(), Uplink::Lte);
        assert_eq!(s.known_gaps["loss_gateway_to_mobile"], "issue 7");
        let text: Vec<String> = s.steps.iter().map(ToString::to_string).collect();
        assert_eq!(text[7], "gateway:fwd");
    }

    #[test]
    fn family_mode_and_bundle_default_to_ipv4_tunnel_one_sa_and_are_read() {
        let s = Scenario::parse("x", "d", GOOD).unwrap();
        assert_eq!((s.outer, s.mode, s.sas), (Outer::default(), TunnelMode::Tunnel, 1));
        let j = GOOD.replace(
            "\"known_gaps\"",
            "\"outer\": {\"wifi\": \"ipv4\", \"lte\": \"ipv6\"}, \"mode\": \"beet\", \"sas\": 2, \"known_gaps\"",
        );
        let s = Scenario::parse("x", "d", &j).unwrap();
        assert_eq!((s.outer.on(Uplink::Wifi), s.outer.on(Uplink::Lte)), (Family::Ipv4, Family::Ipv6));
        assert_eq!((s.mode, s.sas), (TunnelMode::Beet, 2));
        let bad = GOOD.replace("\"known_gaps\"", "\"sas\": 3, \"known_gaps\"");
        assert!(Scenario::parse("x", "d", &bad).unwrap_err().to_string().contains("sas 3"));
    }

    #[test]
    fn a_known_gap_must_name_a_check() {
        let bad = GOOD.replace("loss_gateway_to_mobile", "loss_sideways");
        let e = Scenario::parse("x", "d", &bad).unwrap_err().to_string();
        assert!(e.contains("loss_sideways") && e.contains("no_clear_text"), "{e}");
    }

    #[test]
    fn beet_inner_gaps_are_beet_known_gaps_and_replace_them_with_the_extension() {
        let beet = GOOD.replace("\"known_gaps\"", "\"mode\": \"beet\", \"known_gaps\"");
        let with = |gaps: &str| beet.replace("\"known_gaps\"", &format!("\"beet_inner_gaps\": {gaps}, \"known_gaps\""));
        let s = Scenario::parse("x", "d", &with("{\"loss_gateway_to_mobile\": \"issue 7\"}")).unwrap();
        assert_eq!(s.known_gap("loss_gateway_to_mobile", false, true).map(String::as_str), Some("issue 7"));
        let s = Scenario::parse("x", "d", &with("{}")).unwrap();
        assert_eq!(s.known_gap("loss_gateway_to_mobile", false, true), None, "closed by the extension");
        assert!(s.known_gap("loss_gateway_to_mobile", false, false).is_some(), "open without it");
        let e = Scenario::parse("x", "d", &with("{\"tunnel_up\": \"x\"}")).unwrap_err().to_string();
        assert!(e.contains("\"tunnel_up\", which is no known gap"), "{e}");
        let tunnel =
            GOOD.replace("\"known_gaps\"", "\"beet_inner_gaps\": {\"loss_gateway_to_mobile\": \"x\"}, \"known_gaps\"");
        let e = Scenario::parse("x", "d", &tunnel).unwrap_err().to_string();
        assert!(e.contains("only for BEET mode"), "{e}");
    }

    #[test]
    fn every_direction_of_both_peers_moves_exactly_once() {
        let bad = GOOD.replace("\"gateway:fwd\"", "\"gateway:in\"");
        let e = Scenario::parse("x", "d", &bad).unwrap_err().to_string();
        assert!(e.contains("gateway:in") || e.contains("gateway:fwd"), "{e}");
        let bad = GOOD.replace("\"mobile:route\", ", "");
        assert!(Scenario::parse("x", "d", &bad).unwrap_err().to_string().contains("mobile:route"));
    }

    #[test]
    fn update_steps_encapsulation_and_requires_are_read_and_must_agree() {
        let upd = GOOD
            .replace("\"gateway:out\"", "\"gateway:out:update\"")
            .replace("\"gateway:fwd\"", "\"gateway:fwd:update\"");
        let e = Scenario::parse("x", "d", &upd).unwrap_err().to_string();
        assert!(e.contains("update_addresses"), "{e}");
        let upd = upd.replace("\"known_gaps\"", "\"requires\": [\"update_addresses\"], \"known_gaps\"");
        let s = Scenario::parse("x", "d", &upd).unwrap();
        assert_eq!(s.steps[5], Step::Update(Peer::Gateway, Dir::Out));
        assert_eq!(s.steps[7].to_string(), "gateway:fwd:update");
        assert_eq!(s.requires, [Capability::UpdateAddresses]);
        let both = GOOD.replace("\"gateway:out\"", "\"gateway:out:update\"");
        assert!(Scenario::parse("x", "d", &both.replace("\"gateway:fwd\"", "\"gateway:out\"")).is_err());
        let natt = GOOD.replace(
            "\"known_gaps\"",
            "\"udp_encap\": {\"lte\": {\"mobile\": 4501, \"gateway\": 4500}}, \"known_gaps\"",
        );
        let e = Scenario::parse("x", "d", &natt).unwrap_err().to_string();
        assert!(e.contains("migrate_natt"), "{e}");
        let natt = natt.replace("\"known_gaps\"", "\"requires\": [\"migrate_natt\"], \"known_gaps\"");
        let s = Scenario::parse("x", "d", &natt).unwrap();
        assert_eq!(s.udp_encap.on(Uplink::Lte), Some(EncapPorts { mobile: 4501, gateway: 4500 }));
        assert_eq!((s.udp_encap.ports(Peer::Mobile), s.udp_encap.ports(Peer::Gateway)), (vec![4501], vec![4500]));
        assert!(Scenario::parse("x", "d", &GOOD.replace("pause:500", "mobile:route:update")).is_err());
        assert!(Scenario::parse("x", "d", &GOOD.replace("\"mobile:out\"", "\"mobile:out:later\"")).is_err());
    }

    #[test]
    fn a_move_goes_somewhere_else() {
        let bad = GOOD.replace("[\"lte\", \"wifi\"]", "[\"wifi\"]");
        assert!(Scenario::parse("x", "d", &bad).unwrap_err().to_string().contains("already"));
    }

    #[test]
    fn unknown_fields_and_steps_are_rejected() {
        let bad = GOOD.replace("\"drain_ms\"", "\"drian_ms\"");
        assert!(matches!(Scenario::parse("x", "d", &bad), Err(ScenarioError::Json { .. })));
        let bad = GOOD.replace("pause:500", "gateway:sideways");
        assert!(Scenario::parse("x", "d", &bad).unwrap_err().to_string().contains("sideways"));
    }
}
