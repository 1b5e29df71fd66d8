//! The differential suite's SPD part on this machine's own kernel (XFRM netlink, no PF_KEY, no
//! ESP): the XFRM shim and the model run the same policy and MIGRATE sequences, each in a fresh
//! network namespace (the shim) or a fresh model, and must agree answer by answer and entry by
//! entry. The model stands in for af_key here; the VM tier compares all three with af_key as the
//! reference (`lab-guest suite`). Without root the test says `SKIPPED` on stderr and does nothing.

use std::io::Write;

use lab::differential::{Backend, Op, compare_with, op_strategy, policy_only, scripted_policy_only};
use pfkey::kernel::Capabilities;
use pfkey::kernel::model::ModelConfig;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

fn root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED differential_host: not root (XFRM netlink and unshare(CLONE_NEWNET) need it)"
        );
        return false;
    }
    true
}

/// The model as a patched kernel: for the SPD that is what XFRM offers (BEET templates keep their
/// endpoints, which stock af_key drops).
fn check(ops: &[Op]) -> Result<(), String> {
    let rep = compare_with(ops, &Capabilities::UNKNOWN, ModelConfig::patched(), Backend::Xfrm, &[Backend::Model]);
    if rep.failures.is_empty() && rep.documented.is_empty() { Ok(()) } else { Err(rep.failures.join("\n")) }
}

#[test]
fn the_shim_and_the_model_agree_on_the_scripted_spd_sequences() {
    if !root() {
        return;
    }
    let sequences = scripted_policy_only();
    assert!(sequences.len() >= 5, "the scripted sequences have SPD parts");
    for (name, ops) in sequences {
        if let Err(e) = check(&ops) {
            panic!("{name}:\n{e}");
        }
    }
}

#[test]
fn the_shim_and_the_model_agree_on_generated_spd_sequences() {
    if !root() {
        return;
    }
    let config = Config { cases: 64, failure_persistence: None, max_shrink_iters: 100, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let ops = prop::collection::vec(op_strategy().prop_filter("SPD operations only", policy_only), 1..12);
    let result = runner.run(&ops, |ops| check(&ops).map_err(TestCaseError::fail));
    if let Err(e) = result {
        panic!("{e}");
    }
}
