//! The `pfkey` binary's kernel commands on the model, persisted in a state file between
//! invocations: a tunnel is set up, moved by MIGRATE and by the per-SA address update, and torn
//! down; errors are one line with the errno name (exit 1), bad arguments exit 2; `--json` output
//! parses; `--trace` shows the messages; the state file is private. And the real backend on a
//! kernel without PF_KEY says so.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const MOBILE: &str = "192.0.2.10";
const GATEWAY: &str = "198.51.100.1";
const LTE: &str = "203.0.113.7";
const CGNAT: &str = "100.64.0.5";
const ENC: &str = "aes-cbc:000102030405060708090a0b0c0d0e0f";
const AUTH: &str = "hmac-sha256:0x808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";

/// A scratch directory and a model state file in it, removed on drop.
struct Scratch {
    dir: PathBuf,
    state: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("pfkey-cli-kernel-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("model.json");
        Scratch { dir, state }
    }

    /// `pfkey <args>` with no model options added, in a clean environment.
    fn raw(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pfkey"))
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("PFKEY_MODEL_STATE")
            .env("XDG_RUNTIME_DIR", &self.dir)
            .output()
            .expect("the pfkey binary runs")
    }

    /// `pfkey --model --model-state <state> <args>`.
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--model", "--model-state", self.state.to_str().unwrap()];
        all.extend_from_slice(args);
        self.raw(&all)
    }

    /// Runs and expects exit 0 and an empty stderr; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}: nothing on stderr");
        stdout(&out)
    }

    /// Runs and expects exit `code`; returns stderr, which must be one line.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: stdout {} stderr {}", stdout(&out), stderr(&out));
        let err = stderr(&out);
        if code == 1 {
            assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        }
        err
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is text")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is text")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn add_args<'a>(spi: &'a str, src: &'a str, dst: &'a str) -> Vec<&'a str> {
    vec![
        "add", "esp", "--spi", spi, "--src", src, "--dst", dst, "--mode", "tunnel", "--reqid", "1", "--enc", ENC,
        "--auth", AUTH,
    ]
}

fn spdadd_args<'a>(dir: &'a str, src: &'a str, dst: &'a str, tunnel: &'a str) -> Vec<&'a str> {
    vec!["spdadd", "--src", src, "--dst", dst, "--dir", dir, "--tunnel", tunnel, "--reqid", "1"]
}

#[test]
fn a_tunnel_is_set_up_moved_twice_and_torn_down() {
    let s = Scratch::new("sequence");
    assert_eq!(s.ok(&["dump"]), "No SAD entries.\n");
    assert!(!s.state.exists(), "a listing of a fresh model saves nothing");

    s.ok(&add_args("0x1000", MOBILE, GATEWAY));
    s.ok(&add_args("8192", GATEWAY, MOBILE));
    let mode = std::fs::metadata(&s.state).expect("add saved the model").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the state file holds keys: {mode:o}");

    let dump = s.ok(&["dump"]);
    assert!(
        dump.contains(&format!("{MOBILE} {GATEWAY}\n\tesp mode=tunnel spi=4096(0x00001000) reqid=1(0x00000001)\n")),
        "{dump}"
    );
    assert!(dump.contains(&format!("{GATEWAY} {MOBILE}\n\tesp mode=tunnel spi=8192(0x00002000) reqid=1")), "{dump}");
    assert!(dump.contains("\tE: aes-cbc  00010203 04050607 08090a0b 0c0d0e0f\n"), "{dump}");
    assert!(dump.contains("\tA: hmac-sha256  80818283 84858687"), "{dump}");
    assert!(s.ok(&["dump", "--satype", "ah"]).starts_with("No SAD entries."));

    let get = s.ok(&["get", "esp", "--spi", "0x1000", "--src", MOBILE, "--dst", GATEWAY]);
    assert!(get.starts_with(&format!("{MOBILE} {GATEWAY}\n\tesp mode=tunnel spi=4096")), "{get}");

    assert_eq!(s.ok(&spdadd_args("out", "10.1.0.0/16", "10.2.0.0/16", &format!("{MOBILE}-{GATEWAY}"))), "spid=1\n");
    assert_eq!(s.ok(&spdadd_args("in", "10.2.0.0/16", "10.1.0.0/16", &format!("{GATEWAY}-{MOBILE}"))), "spid=8\n");
    let spd = s.ok(&["spddump"]);
    assert!(
        spd.contains(&format!(
            "10.1.0.0/16[any] 10.2.0.0/16[any] any\n\tout prio 0 ipsec\n\tesp/tunnel/{MOBILE}-{GATEWAY}/unique#1\n\tspid=1\n"
        )),
        "{spd}"
    );
    assert!(spd.contains(&format!("\tin prio 0 ipsec\n\tesp/tunnel/{GATEWAY}-{MOBILE}/unique#1\n\tspid=8\n")), "{spd}");

    // Move 1: MIGRATE of the outbound policy moves its template and the outbound SA.
    let km = format!("{LTE}-{GATEWAY}");
    let (old, new) = (format!("{MOBILE}-{GATEWAY}"), format!("{LTE}-{GATEWAY}"));
    let out = s.ok(&[
        "migrate",
        "--src",
        "10.1.0.0/16",
        "--dst",
        "10.2.0.0/16",
        "--dir",
        "out",
        "--old",
        &old,
        "--new",
        &new,
        "--reqid",
        "1",
        "--km",
        &km,
    ]);
    assert_eq!(
        out,
        "moved by SADB_X_MIGRATE: no reply to this socket; success seen in the kernel's seq-0 broadcast (stock Linux)\n"
    );
    let dump = s.ok(&["dump"]);
    assert!(dump.contains(&format!("{LTE} {GATEWAY}\n\tesp mode=tunnel spi=4096(0x00001000)")), "{dump}");
    assert!(!dump.contains(&format!("{MOBILE} {GATEWAY}")), "{dump}");
    assert!(dump.contains("\tE: aes-cbc  00010203 04050607 08090a0b 0c0d0e0f\n"), "keys kept: {dump}");
    assert!(s.ok(&["spddump"]).contains(&format!("\tesp/tunnel/{LTE}-{GATEWAY}/unique#1\n\tspid=1\n")));

    // Move 2: the per-SA address update of the same SA.
    let out = s.ok(&["update-addresses", "--spi", "0x1000", "--src", LTE, "--dst", GATEWAY, "--new-src", CGNAT]);
    assert_eq!(out, "moved by SADB_UPDATE + SADB_X_EXT_NEW_ADDRESS_SRC/DST: acknowledged by a reply to this socket\n");
    let dump = s.ok(&["dump"]);
    assert!(dump.contains(&format!("{CGNAT} {GATEWAY}\n\tesp mode=tunnel spi=4096(0x00001000)")), "{dump}");
    assert!(
        s.ok(&["spddump"]).contains(&format!("\tesp/tunnel/{LTE}-{GATEWAY}/unique#1\n\tspid=1\n")),
        "the address update leaves policies alone"
    );

    // SPDUPDATE follows the SA; then the teardown.
    assert_eq!(
        s.ok(&[
            "spdupdate",
            "--src",
            "10.1.0.0/16",
            "--dst",
            "10.2.0.0/16",
            "--dir",
            "out",
            "--tunnel",
            &format!("{CGNAT}-{GATEWAY}"),
            "--reqid",
            "1"
        ]),
        "spid=1\n"
    );
    s.ok(&["delete", "esp", "--spi", "0x1000", "--src", CGNAT, "--dst", GATEWAY]);
    let dump = s.ok(&["dump"]);
    assert!(!dump.contains("spi=4096"), "{dump}");
    assert!(dump.contains("spi=8192"), "{dump}");
    s.ok(&["spddelete", "--src", "10.1.0.0/16", "--dst", "10.2.0.0/16", "--dir", "out"]);
    s.ok(&["spddelete", "--id", "8", "--dir", "in"]);
    assert_eq!(s.ok(&["spddump"]), "No SPD entries.\n");
    s.ok(&["flush"]);
    assert_eq!(s.ok(&["dump"]), "No SAD entries.\n");
}

#[test]
fn kernel_errors_are_one_line_with_the_errno_name_and_exit_1() {
    let s = Scratch::new("errors");
    s.ok(&add_args("0x1000", MOBILE, GATEWAY));
    assert_eq!(s.fails(&add_args("0x1000", MOBILE, GATEWAY), 1), "pfkey add: SADB_ADD: EEXIST (17)\n");
    let spd = spdadd_args("out", "10.1.0.0/16", "10.2.0.0/16", "192.0.2.10-198.51.100.1");
    s.ok(&spd);
    assert_eq!(s.fails(&spd, 1), "pfkey spdadd: SADB_X_SPDADD: EEXIST (17)\n");
    let migrate = [
        "migrate",
        "--src",
        "10.9.0.0/16",
        "--dst",
        "10.2.0.0/16",
        "--dir",
        "out",
        "--old",
        "192.0.2.10-198.51.100.1",
        "--new",
        "203.0.113.7-198.51.100.1",
    ];
    assert_eq!(s.fails(&migrate, 1), "pfkey migrate: SADB_X_MIGRATE: ENOENT (2)\n");
    assert_eq!(
        s.fails(&["delete", "esp", "--spi", "0x9999", "--src", MOBILE, "--dst", GATEWAY], 1),
        "pfkey delete: SADB_DELETE: ESRCH (3)\n"
    );
    assert_eq!(
        s.fails(&["update-addresses", "--spi", "0x9999", "--src", MOBILE, "--dst", GATEWAY, "--new-src", LTE], 1),
        "pfkey update-addresses: SADB_UPDATE: ESRCH (3)\n"
    );
    assert_eq!(
        s.fails(&["spddelete", "--src", "10.7.0.0/16", "--dst", "10.2.0.0/16", "--dir", "in"], 1),
        "pfkey spddelete: SADB_X_SPDDELETE: ENOENT (2)\n"
    );
    // A failed command leaves the model as it was.
    let dump = s.ok(&["dump"]);
    assert_eq!(dump.matches("spi=").count(), 1, "{dump}");
}

#[test]
fn bad_arguments_exit_2_and_say_what_is_wrong() {
    let s = Scratch::new("usage");
    let cases: &[(&[&str], &str)] = &[
        (&["add", "esp", "--spi", "zz", "--src", MOBILE, "--dst", GATEWAY], "is not an SPI"),
        (&["add", "esp", "--spi", "1", "--src", "192.0.2.300", "--dst", GATEWAY], "is not an IPv4 or IPv6 address"),
        (
            &["add", "esp", "--spi", "1", "--src", MOBILE, "--dst", GATEWAY, "--enc", "aes-xyz:00"],
            "unknown encryption algorithm",
        ),
        (
            &["add", "esp", "--spi", "1", "--src", MOBILE, "--dst", GATEWAY, "--auth", "hmac-sha256:abc"],
            "odd number of hex digits",
        ),
        (&["add", "esp", "--spi", "1", "--src", MOBILE], "--dst"),
        (&["add", "bogus", "--spi", "1", "--src", MOBILE, "--dst", GATEWAY], "invalid value 'bogus'"),
        (&["add", "ah", "--spi", "1", "--src", MOBILE, "--dst", GATEWAY, "--natt", "4500:4500"], "for ESP SAs only"),
        (&["spdadd", "--src", "10.0.0.0/33", "--dst", "10.2.0.0/16", "--dir", "out"], "prefix length must be 0..=32"),
        (&["spdadd", "--src", "10.1.0.0/16", "--dst", "2001:db8::/32", "--dir", "out"], "different address families"),
        (
            &["spdadd", "--src", "10.1.0.0/16", "--dst", "10.2.0.0/16", "--dir", "out", "--mode", "tunnel"],
            "needs --tunnel",
        ),
        (&["spdadd", "--src", "10.1.0.0/16", "--dst", "10.2.0.0/16", "--dir", "sideways"], "invalid value 'sideways'"),
        (
            &[
                "migrate",
                "--src",
                "10.1.0.0/16",
                "--dst",
                "10.2.0.0/16",
                "--dir",
                "out",
                "--old",
                "192.0.2.1",
                "--new",
                "192.0.2.2-192.0.2.3",
            ],
            "SRC-DST",
        ),
        (
            &[
                "migrate",
                "--src",
                "10.1.0.0/16",
                "--dst",
                "10.2.0.0/16",
                "--dir",
                "out",
                "--old",
                "192.0.2.1-192.0.2.2",
                "--new",
                "192.0.2.2-192.0.2.3",
                "--natt",
                "4500",
            ],
            "SPORT:DPORT",
        ),
        (&["update-addresses", "--spi", "1", "--src", MOBILE, "--dst", GATEWAY], "--new-src"),
        (&["flush", "--satype", "esp", "--policies"], "cannot be used with"),
        (&["nosuchcommand"], "unrecognized subcommand"),
    ];
    for (args, want) in cases {
        let err = s.fails(args, 2);
        assert!(err.contains(want), "{args:?}: {err:?} should say {want:?}");
    }
    assert!(!s.state.exists(), "bad arguments never reach the model");
}

#[test]
fn json_outputs_parse_and_carry_the_values() {
    let s = Scratch::new("json");
    s.ok(&add_args("0x1000", MOBILE, GATEWAY));
    let sas = json_lines(&s.ok(&["dump", "--json"]));
    assert_eq!(sas.len(), 1);
    let sa = &sas[0];
    assert_eq!(sa["spec"]["spi"], 4096);
    assert_eq!(sa["spec"]["satype"], "SADB_SATYPE_ESP");
    assert_eq!(sa["spec"]["mode"], "IPSEC_MODE_TUNNEL");
    assert_eq!(sa["spec"]["src"]["addr"], MOBILE);
    assert_eq!(sa["spec"]["dst"]["addr"], GATEWAY);
    assert_eq!(sa["spec"]["encrypt"]["alg"], "SADB_X_EALG_AESCBC");
    assert_eq!(sa["spec"]["encrypt"]["key"], "000102030405060708090a0b0c0d0e0f");
    assert_eq!(sa["spec"]["auth"]["alg"], "SADB_X_AALG_SHA2_256HMAC");
    assert_eq!(sa["current"]["bytes"], 0);

    let get = json_lines(&s.ok(&["get", "esp", "--spi", "4096", "--src", MOBILE, "--dst", GATEWAY, "--json"]));
    assert_eq!(get, sas, "get and dump agree");

    let id =
        json_lines(&s.ok(
            &[&spdadd_args("out", "10.1.0.0/16", "10.2.0.0/16", "192.0.2.10-198.51.100.1")[..], &["--json"]].concat(),
        ));
    assert_eq!(id, [serde_json::json!({"id": 1})]);
    let policies = json_lines(&s.ok(&["spddump", "--json"]));
    assert_eq!(policies.len(), 1);
    let p = &policies[0];
    assert_eq!((p["id"].as_u64(), p["dir"].as_str()), (Some(1), Some("IPSEC_DIR_OUTBOUND")));
    assert_eq!(p["selector"]["src"]["addr"], "10.1.0.0");
    assert_eq!(p["selector"]["src_prefixlen"], 16);
    assert_eq!(p["templates"][0]["endpoints"]["src"]["addr"], MOBILE);
    assert_eq!(p["templates"][0]["reqid"], 1);

    let moved = json_lines(&s.ok(&[
        "migrate",
        "--src",
        "10.1.0.0/16",
        "--dst",
        "10.2.0.0/16",
        "--dir",
        "out",
        "--old",
        "192.0.2.10-198.51.100.1",
        "--new",
        "203.0.113.7-198.51.100.1",
        "--json",
    ]));
    assert_eq!(moved, [serde_json::json!({"mechanism": "migrate", "acknowledged": false})]);
    let updated = json_lines(&s.ok(&[
        "update-addresses",
        "--spi",
        "0x1000",
        "--src",
        LTE,
        "--dst",
        GATEWAY,
        "--new-src",
        CGNAT,
        "--json",
    ]));
    assert_eq!(updated, [serde_json::json!({"mechanism": "update_addresses", "acknowledged": true})]);
    let sas = json_lines(&s.ok(&["dump", "--json"]));
    assert_eq!((sas[0]["spec"]["spi"].as_u64(), sas[0]["spec"]["src"]["addr"].as_str()), (Some(4096), Some(CGNAT)));
}

#[test]
fn trace_shows_every_message_on_stderr() {
    let s = Scratch::new("trace");
    let mut args = vec!["--trace"];
    args.extend(add_args("0x1000", MOBILE, GATEWAY));
    let out = s.run(&args);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "", "the trace goes to stderr");
    let err = stderr(&out);
    assert!(err.starts_with("→ SADB_ADD (3) satype=SADB_SATYPE_ESP (3) errno=0 (OK) seq=1 pid=1000"), "{err}");
    assert!(err.contains("\n    SADB_EXT_KEY_ENCRYPT (9): bits=128 key=000102030405060708090a0b0c0d0e0f\n"), "{err}");
    assert!(err.contains("\n← SADB_ADD (3) satype=SADB_SATYPE_ESP (3) errno=0 (OK) seq=1 pid=1000"), "{err}");

    // An error reply is traced too, before the error line.
    let out = s.run(&args);
    let err = stderr(&out);
    assert!(err.contains("\n← SADB_ADD (3) satype=SADB_SATYPE_ESP (3) errno=17 (EEXIST) seq=1 pid=1000"), "{err}");
    assert!(err.ends_with("pfkey add: SADB_ADD: EEXIST (17)\n"), "{err}");

    let out = s.run(&[
        "--trace",
        "migrate",
        "--src",
        "10.1.0.0/16",
        "--dst",
        "10.2.0.0/16",
        "--dir",
        "out",
        "--old",
        "192.0.2.10-198.51.100.1",
        "--new",
        "203.0.113.7-198.51.100.1",
        "--km",
        "203.0.113.7-198.51.100.1",
    ]);
    let err = stderr(&out);
    assert!(err.starts_with("→ SADB_X_MIGRATE (24)"), "{err}");
    assert!(err.contains("SADB_X_EXT_KMADDRESS (25): local=203.0.113.7 remote=198.51.100.1"), "{err}");
}

#[test]
fn model_config_is_kept_in_the_state_file() {
    let s = Scratch::new("config");
    s.ok(&["--model-config", "stock", "spddump"]);
    let saved: Value = serde_json::from_slice(&std::fs::read(&s.state).unwrap()).unwrap();
    assert_eq!(saved["config"]["update_addresses"], false, "{saved}");
    s.ok(&add_args("0x1000", MOBILE, GATEWAY));
    let err = s.fails(&["update-addresses", "--spi", "0x1000", "--src", MOBILE, "--dst", GATEWAY, "--new-src", LTE], 1);
    assert!(
        err.starts_with("pfkey update-addresses: SADB_UPDATE: EINVAL (22) (a kernel without SADB_X_EXT_NEW_ADDRESS"),
        "stock Linux has no address update: {err}"
    );
    // AEAD: stock af_key cannot install it.
    let gcm = [
        "add",
        "esp",
        "--spi",
        "0x2000",
        "--src",
        MOBILE,
        "--dst",
        GATEWAY,
        "--enc",
        "aes-gcm-16:000102030405060708090a0b0c0d0e0f10111213",
    ];
    assert_eq!(s.fails(&gcm, 1), "pfkey add: SADB_ADD: ENOSYS (38)\n");

    s.ok(&[
        "--model-config",
        "patched",
        "spdadd",
        "--src",
        "10.1.0.0/16",
        "--dst",
        "10.2.0.0/16",
        "--dir",
        "out",
        "--tunnel",
        "192.0.2.10-198.51.100.1",
        "--reqid",
        "1",
    ]);
    let out = s.ok(&[
        "migrate",
        "--src",
        "10.1.0.0/16",
        "--dst",
        "10.2.0.0/16",
        "--dir",
        "out",
        "--old",
        "192.0.2.10-198.51.100.1",
        "--new",
        "203.0.113.7-198.51.100.1",
        "--json",
    ]);
    // A patched kernel answers the requester itself (before the seq-0 broadcast).
    let outcome = &json_lines(&out)[0];
    assert_eq!(outcome["mechanism"], "migrate", "{out}");
    assert_eq!(outcome["acknowledged"], true, "{out}");
    assert!(s.ok(&["dump"]).contains(&format!("{LTE} {GATEWAY}\n")), "the patched kernel moved the SA");
    s.ok(&gcm);
}

#[test]
fn the_state_file_defaults_to_the_environment_variable() {
    let s = Scratch::new("env");
    let path = s.dir.join("from-env.json");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pfkey"))
            .args(args)
            .env_remove("RUST_LOG")
            .env("PFKEY_MODEL_STATE", &path)
            .env("XDG_RUNTIME_DIR", &s.dir)
            .output()
            .unwrap()
    };
    let mut add = vec!["--model"];
    add.extend(add_args("0x1000", MOBILE, GATEWAY));
    assert_eq!(run(&add).status.code(), Some(0));
    assert!(path.exists());
    assert!(stdout(&run(&["--model", "dump"])).contains("spi=4096"));
    // Without the variable: ${XDG_RUNTIME_DIR}/pfkey-model-<uid>.json.
    let out = s.raw(&["--model", "flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names: Vec<String> =
        std::fs::read_dir(&s.dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n.starts_with("pfkey-model-") && n.ends_with(".json")), "{names:?}");
}

#[test]
fn monitor_on_the_model_explains_why_not() {
    let s = Scratch::new("monitor");
    let err = s.fails(&["monitor", "--count", "1"], 1);
    assert!(err.starts_with("pfkey monitor: monitor needs a real PF_KEY socket"), "{err}");
    assert!(err.contains("--trace") && err.contains("pfkey demo"), "{err}");
}

#[test]
fn the_real_backend_names_pf_key_when_the_kernel_has_none() {
    let s = Scratch::new("afkey");
    match pfkey::socket::PfKeySocket::open() {
        Err(e) => {
            eprintln!("no PF_KEY socket here ({e}): checking the error messages");
            for args in [
                &["--backend", "afkey", "dump"][..],
                &["dump"],
                &["spdadd", "--src", "10.1.0.0/16", "--dst", "10.2.0.0/16", "--dir", "out", "--action", "discard"],
            ] {
                let out = s.raw(args);
                assert_eq!(out.status.code(), Some(1), "{args:?}");
                let err = stderr(&out);
                assert_eq!(err.lines().count(), 1, "{err}");
                assert!(err.contains("PF_KEY"), "{args:?}: {err}");
                assert!(err.contains("--model"), "{args:?}: suggests the model: {err}");
            }
        }
        Ok(_) => {
            eprintln!("this kernel has PF_KEY: checking that a read-only dump works");
            let out = s.raw(&["--backend", "afkey", "spddump"]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        }
    }
}

#[test]
fn every_command_has_help() {
    let s = Scratch::new("help");
    for cmd in [
        "decode",
        "encode",
        "dump",
        "spddump",
        "monitor",
        "add",
        "delete",
        "get",
        "flush",
        "spdadd",
        "spdupdate",
        "spddelete",
        "migrate",
        "update-addresses",
        "demo",
    ] {
        let out = s.raw(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        let text = stdout(&out);
        assert!(text.contains(&format!("Usage: pfkey {cmd}")), "{cmd}: {text}");
        assert!(text.contains("--trace"), "{cmd}: the kernel options are global: {text}");
    }
}

#[test]
fn add_inner_gives_a_beet_sa_both_inner_hosts_and_is_refused_in_tunnel_mode() {
    let s = Scratch::new("inner");
    let mut args = add_args("0x3100", GATEWAY, MOBILE);
    args[9] = "beet";
    args.extend(["--inner", "10.2.0.1-10.1.0.1"]);
    s.ok(&args);
    let get = s.ok(&["get", "esp", "--spi", "0x3100", "--src", GATEWAY, "--dst", MOBILE]);
    assert!(get.contains("\tesp mode=beet "), "{get}");
    assert!(get.contains("\tinner: 10.2.0.1 -> 10.1.0.1\n"), "{get}");
    let json = json_lines(&s.ok(&["get", "esp", "--spi", "0x3100", "--src", GATEWAY, "--dst", MOBILE, "--json"]));
    assert_eq!(json[0]["spec"]["inner"]["dst"]["addr"], "10.1.0.1", "{json:?}");
    // A stock-configured model ignores the inner destination (extension 32), as stock af_key,
    // and keeps the inner source (ADDRESS_PROXY), as stock af_key does too (the differential
    // suite compared them in the VM).
    let stock = Scratch::new("inner-stock");
    stock.ok(&["--model-config", "stock", "flush"]);
    let mut args = add_args("0x3101", GATEWAY, MOBILE);
    args[9] = "beet";
    args.extend(["--inner", "10.2.0.1-10.1.0.1"]);
    stock.ok(&args);
    let get = stock.ok(&["get", "esp", "--spi", "0x3101", "--src", GATEWAY, "--dst", MOBILE]);
    assert!(get.contains("\tinner: 10.2.0.1\n") || get.contains("\tinner: 10.2.0.1 "), "{get}");
    assert!(!get.contains("10.1.0.1 ->") && !get.contains("-> 10.1.0.1"), "{get}");
    let mut tunnel = add_args("0x3102", GATEWAY, MOBILE);
    tunnel.extend(["--inner", "10.2.0.1-10.1.0.1"]);
    let err = s.fails(&tunnel, 2);
    assert!(err.contains("--inner 10.2.0.1-10.1.0.1 is for BEET SAs"), "{err}");
}

#[test]
fn add_movable_marks_an_inbound_tunnel_sa_and_is_refused_in_transport_mode() {
    let s = Scratch::new("movable");
    let mut args = add_args("0x3000", GATEWAY, MOBILE);
    args.push("--movable");
    s.ok(&args);
    let get = s.ok(&["get", "esp", "--spi", "0x3000", "--src", GATEWAY, "--dst", MOBILE]);
    assert!(get.contains("flags=0x10000000"), "{get}");
    let plain = add_args("0x3001", GATEWAY, MOBILE);
    s.ok(&plain);
    let get = s.ok(&["get", "esp", "--spi", "0x3001", "--src", GATEWAY, "--dst", MOBILE]);
    assert!(get.contains("flags=0x00000000"), "{get}");
    let err = s.fails(
        &[
            "add",
            "esp",
            "--spi",
            "0x3002",
            "--src",
            GATEWAY,
            "--dst",
            MOBILE,
            "--enc",
            ENC,
            "--auth",
            AUTH,
            "--movable",
        ],
        1,
    );
    assert!(err.contains("EINVAL"), "{err}");
}
