//! Runs one scenario: builds the topology, installs the tunnel, starts the captures and the
//! traffic, performs the moves on schedule, stops everything, and judges each check of the
//! contract from what was measured.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::HarnessError;
use super::capture::{Capture, LinkCapture, SpiSequence, spi_sequence};
use super::report::{CheckResult, Verdict};
use super::scenario::{Peer, Scenario, Step, Uplink};
use super::topology::{self, EndpointRoute, GW_INNER, GW_NS, MOBILE_INNER, MOBILE_NS, links, uplink};
use super::traffic::{Clock, FlowStats, Receiver, RecvLog, SendLog, Sender};
use super::tunnel::{Flow, PeerState, Peers, SaSnapshot};

/// A datagram sent this long before a move started counts as sent during it (it may still be in
/// flight when the SAs change).
const MOVE_MARGIN_BEFORE_MS: f64 = 50.0;
/// And this long after it ended.
const MOVE_MARGIN_AFTER_MS: f64 = 50.0;

/// One move as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct MoveRecord {
    /// Which move (from 0).
    pub index: usize,
    /// To which uplink.
    pub to: Uplink,
    /// When it started (ms since the traffic started).
    pub start_ms: f64,
    /// When its last step returned.
    pub end_ms: f64,
    /// Each step and how long it took (ms).
    pub steps: Vec<(String, f64)>,
}

/// Everything one scenario measured, and the verdicts.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// The scenario.
    pub scenario: String,
    /// Its description.
    pub description: String,
    /// `uname -r`.
    pub kernel: String,
    /// Wall time of the whole scenario (setup included), s.
    pub duration_s: f64,
    /// What stopped the scenario early, if anything.
    pub error: Option<String>,
    /// The uplinks brought up before the first move: (uplink, start ms, end ms).
    pub uplinks_up: Vec<(Uplink, f64, f64)>,
    /// The moves.
    pub moves: Vec<MoveRecord>,
    /// Per direction.
    pub flows: Vec<(Flow, FlowStats)>,
    /// ESP sequence numbers per SPI (sender side).
    pub esp: Vec<SpiSequence>,
    /// Every link's capture summary.
    pub links: Vec<LinkCapture>,
    /// `SADB_GET` of every SA before the first move.
    pub sa_before: Vec<SaSnapshot>,
    /// And after the last one (after the traffic drained).
    pub sa_after: Vec<SaSnapshot>,
    /// SAD/SPD of both peers afterwards.
    pub state_after: Vec<PeerState>,
    /// The verdicts.
    pub checks: Vec<CheckResult>,
}

fn sleep_until(clock: Clock, ms: u64) {
    let target = clock.0 + Duration::from_millis(ms);
    let now = Instant::now();
    if target > now {
        std::thread::sleep(target - now);
    }
}

fn ms_since(clock: Clock) -> f64 {
    clock.us() as f64 / 1000.0
}

/// What the run produced before the checks are judged.
#[derive(Default)]
struct Measured {
    moves: Vec<MoveRecord>,
    send: Vec<(Flow, SendLog)>,
    recv: Vec<(Flow, RecvLog)>,
    links: Vec<LinkCapture>,
    sa_before: Vec<SaSnapshot>,
    sa_after: Vec<SaSnapshot>,
    state_after: Vec<PeerState>,
    last_move_done_ms: f64,
    uplinks_up: Vec<(Uplink, f64, f64)>,
}

/// Runs `s` and judges it. Never panics on a kernel or system failure: that becomes the report's
/// `error` and a failed `scenario_ran` check. The namespaces are removed afterwards.
pub fn run(s: &Scenario) -> ScenarioReport {
    let start = Instant::now();
    tracing::info!(scenario = %s.name, "scenario starts");
    let mut m = Measured::default();
    let result = measure(s, &mut m);
    topology::teardown();
    let mut report = ScenarioReport {
        scenario: s.name.clone(),
        description: s.description.clone(),
        kernel: crate::guest::kernel_release(),
        duration_s: 0.0,
        error: result.as_ref().err().map(ToString::to_string),
        uplinks_up: m.uplinks_up.clone(),
        moves: m.moves.clone(),
        flows: Vec::new(),
        esp: Vec::new(),
        links: m.links.clone(),
        sa_before: m.sa_before.clone(),
        sa_after: m.sa_after.clone(),
        state_after: m.state_after.clone(),
        checks: Vec::new(),
    };
    match result {
        Ok(()) => judge(s, &m, &mut report),
        Err(e) => {
            tracing::error!(scenario = %s.name, error = %e, "scenario stopped");
            report.checks.push(CheckResult::new(&s.name, "scenario_ran", false, None, e.to_string()));
        }
    }
    report.duration_s = start.elapsed().as_secs_f64();
    tracing::info!(scenario = %s.name, secs = report.duration_s, "scenario done");
    report
}

/// The running threads; stopped whatever happens.
struct Running {
    captures: Vec<Capture>,
    receivers: Vec<(Flow, Receiver)>,
    senders: Vec<(Flow, Sender)>,
}

fn endpoints(flow: Flow) -> (&'static str, SocketAddrV4, &'static str, SocketAddrV4) {
    match flow {
        Flow::MobileToGateway => {
            (MOBILE_NS, SocketAddrV4::new(MOBILE_INNER, 5001), GW_NS, SocketAddrV4::new(GW_INNER, 5001))
        }
        Flow::GatewayToMobile => {
            (GW_NS, SocketAddrV4::new(GW_INNER, 5002), MOBILE_NS, SocketAddrV4::new(MOBILE_INNER, 5002))
        }
    }
}

fn flow_id(flow: Flow) -> u8 {
    match flow {
        Flow::MobileToGateway => 1,
        Flow::GatewayToMobile => 2,
    }
}

fn measure(s: &Scenario, m: &mut Measured) -> Result<(), HarnessError> {
    topology::build()?;
    let mut peers = Peers::open()?;
    peers.install(Uplink::Wifi)?;
    let clock = Clock(Instant::now());
    let mut run = Running { captures: Vec::new(), receivers: Vec::new(), senders: Vec::new() };
    let started = start_threads(s, clock, &mut run);
    // Starting eight threads takes seconds under TCG: the schedule counts from when the traffic
    // actually flows.
    let traffic_ms = clock.us() / 1000;
    let moved = started.and_then(|()| do_moves(s, clock, traffic_ms, &mut peers, m));
    // Stop in order: senders, let the tunnel drain, read the counters, then receivers, captures.
    for (flow, sender) in run.senders.drain(..) {
        match sender.finish() {
            Ok(log) => m.send.push((flow, log)),
            Err(e) => tracing::error!(error = %e, "sender"),
        }
    }
    std::thread::sleep(Duration::from_millis(s.traffic.drain_ms));
    let after = match &moved {
        Ok(()) => peers.snapshot(s.final_uplink()),
        Err(_) => Ok(Vec::new()),
    };
    for (flow, r) in run.receivers.drain(..) {
        match r.finish() {
            Ok(log) => m.recv.push((flow, log)),
            Err(e) => tracing::error!(error = %e, "receiver"),
        }
    }
    let mut capture_error = None;
    for c in run.captures.drain(..) {
        match c.finish() {
            Ok(l) => m.links.push(l),
            Err(e) => capture_error = Some(e),
        }
    }
    moved?;
    m.sa_after = after?;
    if let Some(e) = capture_error {
        return Err(e);
    }
    if m.send.len() != 2 || m.recv.len() != 2 {
        return Err(HarnessError::Thread("a traffic thread failed (see the log)".into()));
    }
    m.state_after = peers.state()?;
    Ok(())
}

fn start_threads(s: &Scenario, clock: Clock, run: &mut Running) -> Result<(), HarnessError> {
    for (ns, ifname) in links() {
        run.captures.push(Capture::start(ns, ifname)?);
    }
    for flow in Flow::BOTH {
        let (_, _, rns, raddr) = endpoints(flow);
        run.receivers.push((flow, Receiver::start(rns, raddr, flow_id(flow), clock)?));
    }
    for flow in Flow::BOTH {
        let (sns, saddr, _, daddr) = endpoints(flow);
        run.senders.push((flow, Sender::start(sns, saddr, daddr, flow_id(flow), s.traffic.rate_pps, clock)?));
    }
    Ok(())
}

fn do_moves(
    s: &Scenario,
    clock: Clock,
    traffic_ms: u64,
    peers: &mut Peers,
    m: &mut Measured,
) -> Result<(), HarnessError> {
    let mut route = EndpointRoute::open()?;
    let mut at = Uplink::Wifi;
    // Make-before-break: the uplinks the moves go to come up halfway through the warmup, before
    // the first move (starting `ip` takes seconds under TCG; this keeps it out of the moves).
    sleep_until(clock, traffic_ms + s.traffic.warmup_ms / 2);
    for u in s.moves.to.iter().filter(|u| **u != Uplink::Wifi) {
        let start_ms = ms_since(clock);
        topology::uplink_up(*u)?;
        m.uplinks_up.push((*u, start_ms, ms_since(clock)));
    }
    // The moves keep their spacing even when bringing the uplinks up took longer than planned.
    let first_ms = (traffic_ms + s.traffic.warmup_ms).max(ms_since(clock) as u64 + s.traffic.warmup_ms / 2);
    for i in 0..s.moves.count {
        let to = s.target(i);
        sleep_until(clock, first_ms + s.moves.interval_ms * i as u64);
        if i == 0 {
            m.sa_before = peers.snapshot(at)?;
        }
        let mut rec = MoveRecord { index: i, to, start_ms: ms_since(clock), end_ms: 0.0, steps: Vec::new() };
        for step in &s.steps {
            let t = Instant::now();
            match *step {
                Step::Migrate(peer, dir) => {
                    peers.migrate(peer, dir, at, to)?;
                }
                Step::Route => route.via(to)?,
                Step::Pause(ms) => std::thread::sleep(Duration::from_millis(ms)),
            }
            rec.steps.push((step.to_string(), t.elapsed().as_secs_f64() * 1000.0));
        }
        rec.end_ms = ms_since(clock);
        tracing::info!(move_index = i, ?to, start_ms = rec.start_ms, end_ms = rec.end_ms, "moved");
        m.last_move_done_ms = rec.end_ms;
        m.moves.push(rec);
        at = to;
    }
    // The cooldown counts from the end of the last move.
    sleep_until(clock, m.last_move_done_ms as u64 + s.traffic.cooldown_ms);
    Ok(())
}

fn ranges_text(st: &FlowStats) -> String {
    st.lost_ranges
        .iter()
        .take(4)
        .map(|r| {
            if r.first == r.last {
                format!("#{} @{:.0}ms", r.first, r.sent_from_ms)
            } else {
                format!("#{}-{} @{:.0}-{:.0}ms", r.first, r.last, r.sent_from_ms, r.sent_to_ms)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn judge(s: &Scenario, m: &Measured, report: &mut ScenarioReport) {
    let gap = |c: &str| s.known_gaps.get(c);
    let mut checks = Vec::new();
    let mut stats = Vec::new();
    let windows: Vec<(f64, f64)> =
        m.moves.iter().map(|mv| (mv.start_ms - MOVE_MARGIN_BEFORE_MS, mv.end_ms + MOVE_MARGIN_AFTER_MS)).collect();
    for flow in Flow::BOTH {
        let send = &m.send.iter().find(|(f, _)| *f == flow).expect("both flows").1;
        let recv = &m.recv.iter().find(|(f, _)| *f == flow).expect("both flows").1;
        stats.push((flow, FlowStats::analyze(send, recv, m.last_move_done_ms, &windows)));
    }
    let moves_text = if m.moves.len() == 1 {
        format!("move {:.0}-{:.0}ms", m.moves[0].start_ms, m.moves[0].end_ms)
    } else {
        format!("{} moves {:.0}-{:.0}ms", m.moves.len(), m.moves[0].start_ms, m.last_move_done_ms)
    };
    // (a) make-before-break loss, per direction. A known gap of the kernel covers losses during
    // the moves only: a datagram lost outside every move window is a failure whatever the
    // scenario says.
    for (flow, st) in &stats {
        let name = format!("loss_{}", flow.name());
        // Where the lost ones died: ESP that reached the receiver's links but was not decapsulated
        // there was dropped by the receiving kernel (no SA for that address, replay, ...).
        let receiver_ns = if *flow == Flow::MobileToGateway { GW_NS } else { MOBILE_NS };
        let dropped_at_receiver: u64 = m
            .links
            .iter()
            .filter(|l| l.link.starts_with(&format!("{receiver_ns}/")))
            .map(|l| l.esp_in.saturating_sub(l.clear_in))
            .sum();
        let outside = st.lost - st.lost_in_windows;
        let detail = if st.lost == 0 {
            format!("{moves_text}; {} dup", st.duplicates)
        } else {
            format!(
                "{moves_text}; {} lost, {} of them during moves, {outside} outside; {dropped_at_receiver} arrived as ESP and \
                 were dropped by the receiving kernel; send errors {}; ranges: {}{}",
                st.lost,
                st.lost_in_windows,
                st.send_errors,
                ranges_text(st),
                if st.lost_ranges.len() > 4 { ", ..." } else { "" },
            )
        };
        let covered = if outside == 0 { gap(&name) } else { None };
        let mut c = CheckResult::new(&s.name, &name, st.lost == 0, covered, detail);
        c.sent = Some(st.sent);
        c.received = Some(st.received);
        c.lost = Some(st.lost);
        c.largest_gap_ms = Some(st.largest_gap_ms);
        checks.push(c);
    }
    // (c') every datagram sent after the last move passes the new SAs (replay window included).
    {
        let held = stats.iter().all(|(_, st)| st.lost_after == 0 && st.sent_after > 0);
        let detail = stats
            .iter()
            .map(|(f, st)| {
                format!("{}: {}/{} lost after {:.0}ms", f.name(), st.lost_after, st.sent_after, m.last_move_done_ms)
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut c = CheckResult::new(&s.name, "accepted_after_move", held, gap("accepted_after_move"), detail);
        c.sent = Some(stats.iter().map(|(_, st)| st.sent_after).sum());
        c.lost = Some(stats.iter().map(|(_, st)| st.lost_after).sum());
        c.received = Some(c.sent.unwrap_or(0) - c.lost.unwrap_or(0));
        checks.push(c);
    }
    // (b) no inner packet in the clear on any link: every frame on a veth link is outgoing on
    // exactly one of its ends, and all four ends are captured.
    {
        let leaks: u64 = m.links.iter().map(|l| l.clear_out).sum();
        let drops: u64 = m.links.iter().map(|l| u64::from(l.kernel_drops)).sum();
        let frames: u64 = m.links.iter().map(|l| l.frames).sum();
        let esp: u64 = m.links.iter().map(|l| l.esp_out).sum();
        let decap: u64 = m.links.iter().map(|l| l.clear_in).sum();
        let over: Vec<&str> = m.links.iter().filter(|l| l.clear_in > l.esp_in).map(|l| l.link.as_str()).collect();
        let examples: Vec<String> = m
            .links
            .iter()
            .flat_map(|l| l.clear_examples.iter().map(move |e| format!("{}: {e}", l.link)))
            .take(3)
            .collect();
        let mut detail = format!(
            "{} link ends, {frames} frames, {esp} ESP sent, {leaks} inner sent in clear, {decap} decapsulated re-injections, capture drops {drops}",
            m.links.len()
        );
        if !examples.is_empty() {
            detail.push_str(&format!(" (leaks: {})", examples.join("; ")));
        }
        if !over.is_empty() {
            detail.push_str(&format!("; more clear than ESP received on {}", over.join(", ")));
        }
        // A capture that dropped frames cannot prove the absence of a leak.
        let held = leaks == 0 && over.is_empty() && drops == 0 && m.links.len() == 4 && esp > 0;
        checks.push(CheckResult::new(&s.name, "no_clear_text", held, gap("no_clear_text"), detail));
    }
    // (c) ESP: SPIs unchanged, sequence numbers strictly increasing across links and moves.
    {
        let final_links: BTreeSet<String> = {
            let u = uplink(s.final_uplink());
            [format!("{MOBILE_NS}/{}", u.mobile_if), format!("{GW_NS}/{}", u.gw_if)].into()
        };
        let mut held = true;
        let mut parts = Vec::new();
        for flow in Flow::BOTH {
            let sender_ns = if flow == Flow::MobileToGateway { MOBILE_NS } else { GW_NS };
            let caps: Vec<&LinkCapture> =
                m.links.iter().filter(|l| l.link.starts_with(&format!("{sender_ns}/"))).collect();
            let seq = spi_sequence(flow.spi(), &caps);
            let on_final = seq.per_link.keys().any(|l| final_links.contains(l));
            let ok = seq.packets > 0 && seq.duplicates == 0 && seq.decreases == 0 && seq.link_switches >= 1 && on_final;
            held &= ok;
            parts.push(format!(
                "spi {:#x}: {} pkts seq {}..{}, {} dup, {} decreases, {} link switches{}",
                seq.spi,
                seq.packets,
                seq.first_seq,
                seq.last_seq,
                seq.duplicates,
                seq.decreases,
                seq.link_switches,
                if on_final { "" } else { ", never on the final uplink" }
            ));
            report.esp.push(seq);
        }
        let spis: BTreeSet<u32> = m.links.iter().flat_map(|l| l.esp.iter().map(|r| r.spi)).collect();
        let unexpected: Vec<String> =
            spis.iter().filter(|s| !Flow::BOTH.iter().any(|f| f.spi() == **s)).map(|s| format!("{s:#x}")).collect();
        if !unexpected.is_empty() {
            held = false;
            parts.push(format!("unexpected SPIs on the wire: {}", unexpected.join(", ")));
        }
        checks.push(CheckResult::new(&s.name, "esp_sequence", held, gap("esp_sequence"), parts.join("; ")));
    }
    // (c'') SA counters carried over: SADB_GET before and after; the out SA counted every datagram
    // sent, the in SA every datagram delivered.
    {
        let mut held = !m.sa_before.is_empty() && m.sa_after.len() == m.sa_before.len();
        let mut parts = Vec::new();
        for a in &m.sa_after {
            let b = m.sa_before.iter().find(|b| b.peer == a.peer && b.flow == a.flow);
            let (send, recv) = (
                &m.send.iter().find(|(f, _)| *f == a.flow).expect("flow").1,
                &m.recv.iter().find(|(f, _)| *f == a.flow).expect("flow").1,
            );
            let sender = (a.flow == Flow::MobileToGateway) == (a.peer == Peer::Mobile);
            let want =
                if sender { (send.times_us.len() - send.errors.len()) as u64 } else { recv.arrivals.len() as u64 };
            let spi_same = b.is_some_and(|b| b.spi == a.spi);
            let grew = b.is_some_and(|b| a.packets >= b.packets);
            let ok = spi_same && grew && a.packets == want;
            held &= ok;
            parts.push(format!(
                "{:?} {} spi {:#x}: {}→{} pkts (want {want} {}){}",
                a.peer,
                if sender { "out" } else { "in" },
                a.spi,
                b.map_or(0, |b| b.packets),
                a.packets,
                if sender { "sent" } else { "delivered" },
                if ok { "" } else { " MISMATCH" }
            ));
        }
        checks.push(CheckResult::new(
            &s.name,
            "sa_counters_carried",
            held,
            gap("sa_counters_carried"),
            parts.join("; "),
        ));
    }
    // (d) nothing refers to an old address afterwards.
    {
        let final_addr = uplink(s.final_uplink()).mobile_addr;
        let old: Vec<IpAddr> = [Uplink::Wifi, Uplink::Lte]
            .into_iter()
            .map(|u| uplink(u).mobile_addr)
            .filter(|a| *a != final_addr)
            .map(IpAddr::V4)
            .collect();
        let mut held = m.state_after.len() == 2;
        let mut parts = Vec::new();
        for st in &m.state_after {
            let sa_old = st.sas.iter().filter(|(_, s, d)| old.contains(s) || old.contains(d)).count();
            let tmpl_old = st
                .policies
                .iter()
                .flat_map(|(_, eps)| eps.iter())
                .filter(|(s, d)| old.contains(s) || old.contains(d))
                .count();
            let xfrm_old = old
                .iter()
                .map(|a| mentions(&st.xfrm_state, &a.to_string()) + mentions(&st.xfrm_policy, &a.to_string()))
                .sum::<usize>();
            let ok = sa_old == 0 && tmpl_old == 0 && xfrm_old == 0 && st.sas.len() == 2 && st.policies.len() == 3;
            held &= ok;
            parts.push(format!(
                "{:?}: {} SAs ({} old), {} policies ({} old templates), xfrm netlink mentions old {}",
                st.peer,
                st.sas.len(),
                sa_old,
                st.policies.len(),
                tmpl_old,
                xfrm_old
            ));
        }
        let detail =
            format!("old {}: {}", old.iter().map(ToString::to_string).collect::<Vec<_>>().join(","), parts.join("; "));
        checks.push(CheckResult::new(&s.name, "no_old_address", held, gap("no_old_address"), detail));
    }
    report.flows = stats;
    for c in &checks {
        match c.verdict {
            Verdict::Fail => tracing::error!(scenario = %c.scenario, check = %c.check, detail = %c.detail, "FAILED"),
            Verdict::KnownGap => {
                tracing::warn!(scenario = %c.scenario, check = %c.check, detail = %c.detail, "known gap")
            }
            Verdict::Pass => tracing::info!(scenario = %c.scenario, check = %c.check, "ok"),
        }
    }
    report.checks = checks;
}

/// How often `addr` occurs in `text` as a whole address (not as the prefix of a longer one).
fn mentions(text: &str, addr: &str) -> usize {
    text.match_indices(addr)
        .filter(|(i, _)| {
            let before = text[..*i].chars().next_back();
            let after = text[i + addr.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
                && !after.is_some_and(|c| {
                    c.is_ascii_digit()
                        || (c == '.' && text[i + addr.len() + 1..].starts_with(|d: char| d.is_ascii_digit()))
                })
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn an_address_is_found_whole_and_not_inside_a_longer_one() {
        let text = "src 192.0.2.10 dst 198.51.100.1\n\tsrc 192.0.2.100/32 192.0.2.10/24";
        assert_eq!(mentions(text, "192.0.2.10"), 2);
        assert_eq!(mentions(text, "192.0.2.1"), 0);
        assert_eq!(mentions(text, "198.51.100.1"), 1);
    }
}
