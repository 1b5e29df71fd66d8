//! Check results and scenario reports: what goes into the results share as JSON and what
//! `lab-vm-test` prints as a table.

use serde::{Deserialize, Serialize};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The contract holds.
    Pass,
    /// The contract is broken and no known gap covers it: the run fails.
    Fail,
    /// The contract is broken where the scenario marks a known gap of the kernel: reported with
    /// its numbers, the run does not fail on it.
    KnownGap,
    /// The scenario needs a mobility extension the running kernel does not have (its probe said
    /// so): nothing was measured, and the line says what is missing. Neither a pass nor a failure.
    NotApplicable,
}

impl Verdict {
    /// For the table.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "ok",
            Verdict::Fail => "FAILED",
            Verdict::KnownGap => "KNOWN GAP",
            Verdict::NotApplicable => "N/A",
        }
    }
}

/// One named check of one scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    /// The scenario.
    pub scenario: String,
    /// The check (a name of [`super::scenario::CHECKS`], or `scenario_ran`).
    pub check: String,
    /// The outcome.
    pub verdict: Verdict,
    /// Whether the contract held (independent of known gaps).
    pub held: bool,
    /// The known gap the scenario names for this check, if any.
    pub known_gap: Option<String>,
    /// Datagrams sent (loss checks).
    pub sent: Option<u64>,
    /// Datagrams received (loss checks).
    pub received: Option<u64>,
    /// Datagrams lost (loss checks).
    pub lost: Option<u64>,
    /// Largest time between consecutive arrivals, ms (loss checks).
    pub largest_gap_ms: Option<f64>,
    /// The numbers behind the verdict, in words.
    pub detail: String,
}

impl CheckResult {
    /// A check's result: `held` is whether the contract held; the verdict follows from it and the
    /// scenario's known gap for this check.
    pub fn new(scenario: &str, check: &str, held: bool, known_gap: Option<&String>, detail: String) -> CheckResult {
        let verdict = match (held, known_gap) {
            (true, _) => Verdict::Pass,
            (false, Some(_)) => Verdict::KnownGap,
            (false, None) => Verdict::Fail,
        };
        CheckResult {
            scenario: scenario.to_string(),
            check: check.to_string(),
            verdict,
            held,
            known_gap: known_gap.cloned(),
            sent: None,
            received: None,
            lost: None,
            largest_gap_ms: None,
            detail,
        }
    }
}

/// Renders checks as a fixed-width table.
pub fn table(checks: &[CheckResult]) -> String {
    let num = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    let mut s = format!(
        "{:<24} {:<24} {:>9} {:>6} {:>6} {:>6} {:>8}  {}\n",
        "scenario", "check", "verdict", "sent", "recv", "lost", "gap ms", "detail"
    );
    for c in checks {
        s.push_str(&format!(
            "{:<24} {:<24} {:>9} {:>6} {:>6} {:>6} {:>8}  {}\n",
            c.scenario,
            c.check,
            c.verdict.label(),
            num(c.sent),
            num(c.received),
            num(c.lost),
            c.largest_gap_ms.map_or_else(|| "-".to_string(), |g| format!("{g:.1}")),
            c.detail
        ));
    }
    s
}

/// How many checks say "not applicable on this kernel".
pub fn not_applicable(checks: &[CheckResult]) -> usize {
    checks.iter().filter(|c| c.verdict == Verdict::NotApplicable).count()
}

/// Counts (passed, failed, known gaps).
pub fn tally(checks: &[CheckResult]) -> (usize, usize, usize) {
    let n = |v: Verdict| checks.iter().filter(|c| c.verdict == v).count();
    (n(Verdict::Pass), n(Verdict::Fail), n(Verdict::KnownGap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_contract_is_a_failure_unless_the_scenario_marks_it_a_known_gap() {
        let gap = "issue 7".to_string();
        assert_eq!(CheckResult::new("s", "c", true, Some(&gap), String::new()).verdict, Verdict::Pass);
        assert_eq!(CheckResult::new("s", "c", false, Some(&gap), String::new()).verdict, Verdict::KnownGap);
        assert_eq!(CheckResult::new("s", "c", false, None, String::new()).verdict, Verdict::Fail);
        let mut c = CheckResult::new("s", "loss", false, Some(&gap), "x".into());
        c.lost = Some(7);
        let t = table(&[c]);
        assert!(t.contains("KNOWN GAP") && t.contains(" 7 "), "{t}");
        let mut na = CheckResult::new("s", "capabilities", false, None, "needs x".into());
        na.verdict = Verdict::NotApplicable;
        assert_eq!((tally(std::slice::from_ref(&na)), not_applicable(&[na])), ((0, 0, 0), 1));
    }
}
