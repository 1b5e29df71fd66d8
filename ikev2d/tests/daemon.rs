//! The daemon as a process: two `ikev2d run` on 127.0.0.1 and 127.0.0.2 with the in-memory
//! kernel model (no root), driven and observed only through `ikev2d ctl --json`: the tunnel
//! comes up, both kernels hold matching SAs, a Child SA rekey and an IKE SA rekey replace what
//! they should, terminate empties both kernels, and stop exits 0. Also `ikev2d check` on a bad
//! configuration and `ikev2d ctl` without a daemon.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ikev2d");

/// A scratch directory under the system's temp dir, removed when the test passes.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ikev2d-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A running daemon; killed on drop (a failing test leaves no process behind), its log printed
/// when the test fails.
struct Daemon {
    name: &'static str,
    child: Option<Child>,
    control: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &'static str, config: &Path, control: PathBuf, log: PathBuf) -> Daemon {
        let err = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        Daemon { name, child: Some(child), control, log }
    }

    /// `ikev2d ctl --control SOCK --json ARGS`: the daemon's answer, or `None` when it failed.
    fn try_ctl(&self, args: &[&str]) -> Option<Value> {
        let out = ctl(&self.control, args);
        out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("ctl --json prints JSON"))
    }

    /// The same, which must succeed.
    fn ctl(&self, args: &[&str]) -> Value {
        let out = ctl(&self.control, args);
        assert!(out.status.success(), "{}: ctl {args:?}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn status(&self) -> Value {
        self.ctl(&["status"])
    }

    fn sas(&self) -> Value {
        self.ctl(&["sas"])
    }

    /// Waits for the process to exit by itself.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            assert!(Instant::now() < deadline, "{} did not exit within {timeout:?}", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- {} log ----\n{log}", self.name);
        }
    }
}

fn ctl(control: &Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("ctl").arg("--control").arg(control).arg("--json").args(args).output().unwrap()
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(control: &Path, port: u16, local: &str, remote: &str, lts: &str, rts: &str, start: bool) -> String {
    format!(
        "[daemon]\nbackend = \"model\"\ncontrol = \"{}\"\nport = {port}\nnat_port = {}\nretransmit_ms = 500\n\n\
         [[connection]]\nname = \"gw\"\nlocal = \"{local}\"\nremote = \"{remote}\"\n\
         local_id = \"fqdn:{local}.example\"\nremote_id = \"fqdn:{remote}.example\"\n\
         psk = \"a long shared secret for the test\"\nlocal_ts = [\"{lts}\"]\nremote_ts = [\"{rts}\"]\nstart = {start}\n",
        control.display(),
        port + 1
    )
}

/// The one established IKE SA of a status answer with its Child SAs' inbound SPIs, if there is
/// exactly one and it is established.
fn established(status: &Value) -> Option<(String, String, Vec<u64>, Vec<u64>)> {
    let sas = status["ike_sas"].as_array()?;
    let [sa] = sas.as_slice() else { return None };
    if sa["state"] != "Established" {
        return None;
    }
    let children = sa["children"].as_array()?;
    let ins = children.iter().map(|c| c["spi_in"].as_u64().unwrap()).collect();
    let outs = children.iter().map(|c| c["spi_out"].as_u64().unwrap()).collect();
    Some((sa["spi_i"].as_str()?.to_string(), sa["spi_r"].as_str()?.to_string(), ins, outs))
}

/// The SPIs of a `sas` answer.
fn sa_spis(sas: &Value) -> Vec<u64> {
    let mut v: Vec<u64> = sas["sas"].as_array().unwrap().iter().map(|e| e["spec"]["spi"].as_u64().unwrap()).collect();
    v.sort_unstable();
    v
}

/// Every SA one side sends with is the SA the other receives with: same SPI, addresses, keys.
fn assert_sas_agree(a: &Value, b: &Value) {
    let (a, b) = (a["sas"].as_array().unwrap(), b["sas"].as_array().unwrap());
    assert_eq!(a.len(), 2, "A: one inbound and one outbound SA: {a:?}");
    assert_eq!(b.len(), 2, "B: one inbound and one outbound SA: {b:?}");
    for x in a {
        let x = &x["spec"];
        let y = b
            .iter()
            .map(|y| &y["spec"])
            .find(|y| y["spi"] == x["spi"])
            .unwrap_or_else(|| panic!("SA {} only on A", x["spi"]));
        assert_eq!((&x["src"], &x["dst"]), (&y["src"], &y["dst"]), "SA {}: addresses", x["spi"]);
        assert_eq!(x["encrypt"], y["encrypt"], "SA {}: algorithm and key", x["spi"]);
        assert_eq!(x["auth"], y["auth"], "SA {}: integrity", x["spi"]);
        assert!(x["encrypt"]["key"].as_str().is_some_and(|k| !k.is_empty()), "SA {} has a key", x["spi"]);
    }
}

#[test]
fn two_daemons_bring_a_tunnel_up_rekey_it_and_take_it_down() {
    let dir = Scratch::new("pair");
    // Unprivileged ports from the pid, so concurrent runs do not collide; below the ephemeral range.
    let port = 15000 + (std::process::id() % 4000) as u16 * 4;
    let (a_ctl, b_ctl) = (dir.path("a.sock"), dir.path("b.sock"));
    std::fs::write(
        dir.path("a.toml"),
        config(&a_ctl, port, "127.0.0.1", "127.0.0.2", "10.1.0.0/24", "10.2.0.0/24", true),
    )
    .unwrap();
    std::fs::write(
        dir.path("b.toml"),
        config(&b_ctl, port, "127.0.0.2", "127.0.0.1", "10.2.0.0/24", "10.1.0.0/24", false),
    )
    .unwrap();
    let mut b = Daemon::spawn("B", &dir.path("b.toml"), b_ctl, dir.path("b.log"));
    let mut a = Daemon::spawn("A", &dir.path("a.toml"), a_ctl, dir.path("a.log"));

    // Up: one IKE SA with one Child SA on each side.
    let up = |d: &Daemon| d.try_ctl(&["status"]).and_then(|s| established(&s)).filter(|e| e.2.len() == 1);
    let (a_up, b_up) = wait_for("the tunnel", Duration::from_secs(10), || Some((up(&a)?, up(&b)?)));
    assert_eq!((&a_up.0, &a_up.1), (&b_up.0, &b_up.1), "the same IKE SA on both sides");
    assert_eq!((a_up.2[0], a_up.3[0]), (b_up.3[0], b_up.2[0]), "A's inbound is B's outbound and back");
    let status = a.status();
    let setup_ms = status["ike_sas"][0]["setup_ms"].as_u64().unwrap();
    println!("tunnel established {setup_ms} ms after A's IKE_SA_INIT");
    assert_eq!(status["backend"], "model");
    assert!(status["ike_sas"][0]["initiator"].as_bool().unwrap());
    assert_eq!(status["daemon"]["kernel_errors"], 0);

    let (a_sas, b_sas) = (a.sas(), b.sas());
    assert_sas_agree(&a_sas, &b_sas);
    let mut spis = vec![a_up.2[0], a_up.3[0]];
    spis.sort_unstable();
    assert_eq!(sa_spis(&a_sas), spis);
    assert_eq!(sa_spis(&b_sas), spis);
    assert_eq!(a_sas["policies"].as_array().unwrap().len(), 3, "out, in, fwd");

    let list = a.ctl(&["list"]);
    assert_eq!(list["connections"][0]["name"], "gw");
    assert_eq!(list["connections"][0]["up"], true);
    let unknown = ctl(&a.control, &["initiate", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no connection named \"nope\""));

    // Child SA rekey: new SPIs on both sides, the old SAs gone from both kernels.
    a.ctl(&["rekey-child", "gw"]);
    let new_spis = wait_for("the Child SA rekey", Duration::from_secs(10), || {
        let (sa, sb) = (established(&a.status())?, established(&b.status())?);
        let fresh = sa.2.len() == 1 && sb.2.len() == 1 && !spis.contains(&sa.2[0]) && !spis.contains(&sa.3[0]);
        let mut new = vec![sa.2[0], sa.3[0]];
        new.sort_unstable();
        (fresh && sa_spis(&a.sas()) == new && sa_spis(&b.sas()) == new).then_some(new)
    });
    assert_sas_agree(&a.sas(), &b.sas());
    assert!(new_spis.iter().all(|s| !spis.contains(s)));

    // IKE SA rekey: new IKE SPIs, the Child SA kept.
    a.ctl(&["rekey-ike", "gw"]);
    wait_for("the IKE SA rekey", Duration::from_secs(10), || {
        let (sa, sb) = (established(&a.status())?, established(&b.status())?);
        let rekeyed = sa.0 != a_up.0 && sa.1 != a_up.1 && (sa.0 == sb.0 && sa.1 == sb.1);
        (rekeyed && new_spis.contains(&sa.2[0]) && new_spis.contains(&sa.3[0])).then_some(())
    });
    assert_eq!(sa_spis(&a.sas()), new_spis, "the Child SA survives the IKE SA rekey");
    assert_eq!(sa_spis(&b.sas()), new_spis);

    // Terminate: nothing left on either side.
    a.ctl(&["terminate", "gw"]);
    wait_for("the tunnel to go", Duration::from_secs(10), || {
        let empty = |d: &Daemon| {
            let (st, sas) = (d.status(), d.sas());
            st["ike_sas"].as_array().unwrap().is_empty()
                && sas["sas"].as_array().unwrap().is_empty()
                && sas["policies"].as_array().unwrap().is_empty()
        };
        (empty(&a) && empty(&b)).then_some(())
    });
    assert_eq!(a.status()["daemon"]["kernel_errors"], 0);
    assert_eq!(b.status()["daemon"]["kernel_errors"], 0);

    // Stop: both exit 0 and take their control sockets with them.
    a.ctl(&["stop"]);
    b.ctl(&["stop"]);
    assert!(a.wait_exit(Duration::from_secs(5)).success());
    assert!(b.wait_exit(Duration::from_secs(5)).success());
    assert!(!a.control.exists() && !b.control.exists());
}

#[test]
fn check_names_the_bad_field() {
    let dir = Scratch::new("check");
    let good = config(&dir.path("x.sock"), 15000, "127.0.0.1", "127.0.0.2", "10.1.0.0/24", "10.2.0.0/24", true);
    std::fs::write(dir.path("good.toml"), &good).unwrap();
    let out = Command::new(BIN).args(["check", "--config"]).arg(dir.path("good.toml")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("gw: 127.0.0.1 -> 127.0.0.2:15000"));
    let out = Command::new(BIN).args(["check", "--json", "--config"]).arg(dir.path("good.toml")).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["connections"][0]["name"], "gw");
    assert!(v["connections"][0].get("psk").is_none(), "the key is not printed");

    let bad = good.replace("local_ts = [\"10.1.0.0/24\"]", "local_ts = [\"10.1.0.0/33\"]");
    std::fs::write(dir.path("bad.toml"), bad).unwrap();
    let out = Command::new(BIN).args(["check", "--config"]).arg(dir.path("bad.toml")).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("local_ts") && err.contains("bad prefix length"), "{err}");

    let out = Command::new(BIN).args(["check", "--config"]).arg(dir.path("missing.toml")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn ctl_without_a_daemon_says_so() {
    let dir = Scratch::new("noctl");
    let out = ctl(&dir.path("nobody.sock"), &["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the daemon") && err.contains("nobody.sock"), "{err}");
    assert!(out.stdout.is_empty());
}
