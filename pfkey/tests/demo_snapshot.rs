//! `pfkey demo` (what `make demo` runs): its whole output is deterministic and reviewed as a
//! snapshot; it passes its own checks, needs no state file and writes none.

use std::process::Command;

#[test]
fn demo_output_is_stable_and_its_checks_pass() {
    let dir = std::env::temp_dir().join(format!("pfkey-demo-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let out = Command::new(env!("CARGO_BIN_EXE_pfkey"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .env("PFKEY_MODEL_STATE", &state)
        .env("XDG_RUNTIME_DIR", &dir)
        .output()
        .expect("the pfkey binary runs");
    let stdout = String::from_utf8(out.stdout).expect("stdout is text");
    let stderr = String::from_utf8(out.stderr).expect("stderr is text");
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}\nstdout:\n{stdout}");
    assert_eq!(stderr, "", "nothing on stderr");
    assert!(stdout.ends_with("All checks passed.\n"), "{stdout}");
    assert!(!stdout.contains("[FAIL]"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the demo keeps its model to itself");
    std::fs::remove_dir_all(&dir).unwrap();
    insta::assert_snapshot!("demo_output", stdout);
}

#[test]
fn demo_ignores_the_kernel_options() {
    let dir = std::env::temp_dir().join(format!("pfkey-demo-options-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pfkey")).args(args).env_remove("RUST_LOG").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let plain = run(&["demo"]);
    let with_options =
        run(&["--model", "--model-state", state.to_str().unwrap(), "--model-config", "stock", "--trace", "demo"]);
    assert_eq!(plain, with_options, "same output whatever the kernel options");
    assert!(!state.exists(), "no state file written");
    std::fs::remove_dir_all(&dir).unwrap();
}
