//! The VM runner: boots a built kernel in QEMU with the host's root file system shared read-only
//! over 9p, runs one command inside with a hard timeout, and brings back its exit status, output,
//! the kernel log and the files it wrote.
//!
//! The guest's PID 1 is a shell script the runner writes into a fresh host directory, which is
//! also the writable results share (`/run/lab` in the guest): it mounts proc, sysfs, devtmpfs and
//! tmpfs (`/tmp`, `/run`), brings up `lo`, runs the command under `timeout`, writes `status`,
//! `stdout`, `stderr` and `dmesg` to the share and ends with `reboot -f`; QEMU runs with
//! `-no-reboot`, so the reboot (or a kernel panic, with `panic=-1`) ends it. On the host side a
//! deadline kills QEMU whatever the guest does, so a run never hangs.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the results share is mounted in the guest.
pub const GUEST_RESULTS: &str = "/run/lab";

/// The 9p mount tag of the results share.
const RESULTS_TAG: &str = "labresults";

/// The QEMU binary the runner starts unless told otherwise.
pub const QEMU: &str = "qemu-system-x86_64";

/// How a kernel image is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelImage {
    /// A flavour built by `scripts/build-kernel.sh` (`stock` or `patched`), found in the cache.
    Flavour(String),
    /// An explicit `bzImage`.
    Path(PathBuf),
}

impl KernelImage {
    /// Parses `stock`, `patched` or a path.
    pub fn parse(s: &str) -> KernelImage {
        match s {
            "stock" | "patched" | "patched-kasan" => KernelImage::Flavour(s.to_string()),
            p => KernelImage::Path(PathBuf::from(p)),
        }
    }

    /// The `bzImage` path, checked to exist.
    pub fn resolve(&self) -> Result<PathBuf, VmError> {
        let (path, flavour) = match self {
            KernelImage::Flavour(f) => (cache_dir().join(format!("kernel-{f}")).join("bzImage"), Some(f.clone())),
            KernelImage::Path(p) => (p.clone(), None),
        };
        if path.is_file() { Ok(path) } else { Err(VmError::KernelMissing { path, flavour }) }
    }
}

/// `${XDG_CACHE_HOME:-~/.cache}/pfkey-mobike`, where `scripts/build-kernel.sh` keeps kernels.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache"));
    base.join("pfkey-mobike")
}

/// A failed VM run (not a failed command: that is a [`VmOutput`] with a non-zero status).
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// QEMU is not installed.
    #[error("{qemu} not found: install QEMU with `scripts/ensure-deps.sh` (Debian package qemu-system-x86)")]
    QemuMissing {
        /// The binary looked for.
        qemu: String,
    },
    /// The kernel image does not exist.
    #[error("kernel image {} not found: build it with {}", path.display(), build_hint(flavour))]
    KernelMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// The flavour, when one was asked for.
        flavour: Option<String>,
    },
    /// Setting up or reading the run's files, or starting QEMU, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// The host-side deadline passed; QEMU was killed.
    #[error("the VM did not finish within {timeout:?} and was killed; console tail:\n{console_tail}")]
    Timeout {
        /// The deadline.
        timeout: Duration,
        /// The last lines of the serial console.
        console_tail: String,
    },
    /// QEMU ended without the guest writing a status (a kernel panic, a failed init).
    #[error("the VM ended ({qemu_status}) without a result from the guest; console tail:\n{console_tail}")]
    NoResult {
        /// QEMU's exit status.
        qemu_status: String,
        /// The last lines of the serial console.
        console_tail: String,
    },
}

fn build_hint(flavour: &Option<String>) -> String {
    match flavour.as_deref() {
        Some("patched") => "`scripts/build-kernel.sh patched`".into(),
        _ => "`make kernel` (scripts/build-kernel.sh stock)".into(),
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> VmError {
    let what = what.into();
    move |source| VmError::Io { what, source }
}

/// One VM run: which kernel, what to run inside, and the limits.
#[derive(Debug, Clone)]
pub struct VmRun {
    /// The kernel to boot.
    pub kernel: KernelImage,
    /// The command and its arguments, run inside by `/bin/sh` after the guest is set up.
    pub command: Vec<OsString>,
    /// Environment variables for the command (besides `PATH`, `HOME=/tmp`, `LAB_RESULTS`).
    pub env: Vec<(String, String)>,
    /// The working directory inside (the host's path: the root is shared).
    pub cwd: PathBuf,
    /// The guest-side limit for the command (`timeout -k 5`).
    pub guest_timeout: Duration,
    /// The host-side limit for the whole VM, boot included; QEMU is killed after it.
    pub host_timeout: Duration,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// The QEMU binary.
    pub qemu: String,
    /// Where the run's directory (init script, results share, console log) is created; a fresh
    /// temporary directory by default.
    pub work_dir: Option<PathBuf>,
}

impl VmRun {
    /// A run of `command` on `kernel` with the defaults: 120 s for the command, 60 s more for
    /// boot and shutdown, 1 GiB, the current directory.
    pub fn new<I, S>(kernel: KernelImage, command: I) -> VmRun
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        VmRun {
            kernel,
            command: command.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            guest_timeout: Duration::from_secs(120),
            host_timeout: Duration::from_secs(180),
            memory_mib: 1024,
            qemu: QEMU.to_string(),
            work_dir: None,
        }
    }

    /// Sets the command's limit inside the guest; the host limit becomes that plus 60 s.
    pub fn with_timeout(mut self, t: Duration) -> VmRun {
        self.guest_timeout = t;
        self.host_timeout = t + Duration::from_secs(60);
        self
    }

    /// Adds an environment variable for the command.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> VmRun {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Boots the VM, runs the command and collects what it left.
    pub fn run(&self) -> Result<VmOutput, VmError> {
        let kernel = self.kernel.resolve()?;
        let qemu = find_in_path(&self.qemu).ok_or_else(|| VmError::QemuMissing { qemu: self.qemu.clone() })?;
        let dir = match &self.work_dir {
            Some(d) => d.clone(),
            None => fresh_dir()?,
        };
        let results = dir.join("results");
        fs::create_dir_all(&results).map_err(io_err(format!("creating {}", results.display())))?;
        let init = dir.join("init.sh");
        fs::write(&init, self.init_script()).map_err(io_err(format!("writing {}", init.display())))?;
        set_mode(&init, 0o755)?;
        let console = dir.join("console.log");
        let args = self.qemu_args(&kernel, &init, &results, &console);
        tracing::info!(kernel = %kernel.display(), dir = %dir.display(), command = ?self.command, "booting VM");
        tracing::debug!(?args, "qemu command line");
        let start = Instant::now();
        let child = Command::new(&qemu)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err(format!("starting {}", qemu.display())))?;
        let qemu_status = wait_with_deadline(child, self.host_timeout, &console)?;
        let elapsed = start.elapsed();
        let console_text = fs::read_to_string(&console).unwrap_or_default();
        let status = match fs::read_to_string(results.join("status")) {
            Ok(s) => s.trim().parse::<i32>().ok(),
            Err(_) => None,
        };
        let Some(status) = status else {
            return Err(VmError::NoResult { qemu_status, console_tail: tail(&console_text, 40) });
        };
        let mut files = BTreeMap::new();
        collect_files(&results, &results, &mut files)?;
        let take = |files: &mut BTreeMap<String, Vec<u8>>, name: &str| {
            String::from_utf8_lossy(&files.remove(name).unwrap_or_default()).into_owned()
        };
        let stdout = take(&mut files, "stdout");
        let stderr = take(&mut files, "stderr");
        let dmesg = take(&mut files, "dmesg");
        files.remove("status");
        let boot_secs = files.remove("boot-uptime").and_then(|b| String::from_utf8_lossy(&b).trim().parse().ok());
        tracing::info!(status, elapsed = ?elapsed, boot_secs, "VM run finished");
        Ok(VmOutput {
            status,
            timed_out: status == 124 || status == 137,
            stdout,
            stderr,
            dmesg,
            console: console_text,
            files,
            results_dir: results,
            elapsed,
            guest_boot_secs: boot_secs,
        })
    }

    fn qemu_args(&self, kernel: &Path, init: &Path, results: &Path, console: &Path) -> Vec<OsString> {
        let cmdline = format!(
            "console=ttyS0 root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144 ro \
             init={} panic=-1 oops=panic",
            init.display()
        );
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        for s in ["-machine", "pc,accel=tcg", "-cpu", "max", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none"] {
            push(s);
        }
        push("-m");
        push(&self.memory_mib.to_string());
        push("-monitor");
        push("none");
        push("-serial");
        push(&format!("file:{}", console.display()));
        push("-kernel");
        push(&kernel.display().to_string());
        push("-append");
        push(&cmdline);
        push("-fsdev");
        push("local,id=root,path=/,security_model=none,readonly=on,multidevs=remap");
        push("-device");
        push("virtio-9p-pci,fsdev=root,mount_tag=/dev/root");
        push("-fsdev");
        push(&format!("local,id=results,path={},security_model=none", results.display()));
        push("-device");
        push(&format!("virtio-9p-pci,fsdev=results,mount_tag={RESULTS_TAG}"));
        a
    }

    /// The guest's PID 1.
    fn init_script(&self) -> String {
        let mut s = String::new();
        let r = GUEST_RESULTS;
        s.push_str("#!/bin/sh\n# Generated by the lab VM runner: the guest's PID 1.\n");
        s.push_str("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp\n");
        s.push_str(
            "mount -t proc proc /proc\nmount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev 2>/dev/null\n\
             mount -t tmpfs tmpfs /run\n",
        );
        // A writable /tmp for the guest that still shows the host's /tmp (read-only): a checkout
        // or target directory under /tmp (as CI's clone may be) must stay reachable.
        s.push_str(
            "mkdir -p /run/host-tmp\nmount --bind /tmp /run/host-tmp\nmount -t tmpfs tmpfs /tmp\n\
             for e in /run/host-tmp/* /run/host-tmp/.[!.]*; do [ -e \"$e\" ] && ln -s \"$e\" /tmp/; done\n",
        );
        let _ = writeln!(s, "mkdir -p {r}");
        let _ = writeln!(s, "mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 {RESULTS_TAG} {r}");
        let _ = writeln!(s, "cut -d' ' -f1 /proc/uptime > {r}/boot-uptime");
        s.push_str("ip link set lo up\n");
        let _ = writeln!(s, "export LAB_RESULTS={r} LAB_IN_VM=1");
        for (k, v) in &self.env {
            let _ = writeln!(s, "export {}={}", k, shell_quote(v));
        }
        let _ = writeln!(s, "cd {} || cd /", shell_quote(&self.cwd.to_string_lossy()));
        let cmd: Vec<String> = self.command.iter().map(|a| shell_quote(&a.to_string_lossy())).collect();
        let _ = writeln!(
            s,
            "timeout -k 5 {} {} </dev/null >{r}/stdout 2>{r}/stderr",
            self.guest_timeout.as_secs().max(1),
            cmd.join(" ")
        );
        let _ = writeln!(s, "echo $? > {r}/status.tmp");
        let _ = writeln!(s, "dmesg > {r}/dmesg 2>&1");
        let _ = writeln!(s, "mv {r}/status.tmp {r}/status");
        let _ = writeln!(s, "sync\numount {r}");
        // systemd's `reboot -f` calls reboot(2) at once; should it return, PID 1 exits and the
        // kernel panics, which panic=-1 turns into the reset that ends QEMU too.
        s.push_str("reboot -f\nsleep 2\nexit 0\n");
        s
    }
}

/// What a VM run brought back.
#[derive(Debug, Clone)]
pub struct VmOutput {
    /// The command's exit status (124: it hit the guest-side timeout, 137: killed after it).
    pub status: i32,
    /// Whether the command hit the guest-side timeout.
    pub timed_out: bool,
    /// The command's standard output.
    pub stdout: String,
    /// The command's standard error.
    pub stderr: String,
    /// The kernel log after the command (`dmesg`).
    pub dmesg: String,
    /// The serial console (kernel messages from boot on).
    pub console: String,
    /// Every other file the command left in the results share (`$LAB_RESULTS`), by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The results directory on the host.
    pub results_dir: PathBuf,
    /// Wall time of the whole run, boot and shutdown included.
    pub elapsed: Duration,
    /// The guest's uptime when its init script started: how long the kernel took to boot.
    pub guest_boot_secs: Option<f64>,
}

impl VmOutput {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// Waits for QEMU until `timeout`, then kills it. Returns QEMU's exit status as text.
fn wait_with_deadline(mut child: Child, timeout: Duration, console: &Path) -> Result<String, VmError> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().map_err(io_err("waiting for QEMU"))? {
            Some(st) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = io::Read::read_to_string(&mut e, &mut err);
                }
                if !err.trim().is_empty() {
                    tracing::warn!(stderr = %err.trim(), "QEMU wrote to stderr");
                }
                return Ok(if err.trim().is_empty() { st.to_string() } else { format!("{st}: {}", err.trim()) });
            }
            None if Instant::now() >= deadline => {
                tracing::warn!(?timeout, "VM deadline passed, killing QEMU");
                let _ = child.kill();
                let _ = child.wait();
                let text = fs::read_to_string(console).unwrap_or_default();
                return Err(VmError::Timeout { timeout, console_tail: tail(&text, 40) });
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> Result<(), VmError> {
    for entry in fs::read_dir(dir).map_err(io_err(format!("reading {}", dir.display())))? {
        let entry = entry.map_err(io_err(format!("reading {}", dir.display())))?;
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            let bytes = fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
            out.insert(rel, bytes);
        }
    }
    Ok(())
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Single-quotes `s` for `/bin/sh`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The first executable `name` on `PATH` (or `name` itself when it contains a slash).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// A new directory under the system temporary directory for one run.
fn fresh_dir() -> Result<PathBuf, VmError> {
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = base.join(format!("lab-vm-{}-{stamp}", std::process::id()));
    fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    Ok(dir)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), VmError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(format!("chmod {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("/usr/bin/ip"), "/usr/bin/ip");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn init_script_runs_the_command_under_timeout_and_reboots() {
        let run = VmRun::new(KernelImage::parse("stock"), ["/bin/echo", "hi there"])
            .with_timeout(Duration::from_secs(30))
            .with_env("RUST_LOG", "debug");
        let s = run.init_script();
        assert!(
            s.contains("timeout -k 5 30 /bin/echo 'hi there' </dev/null >/run/lab/stdout 2>/run/lab/stderr"),
            "{s}"
        );
        assert!(s.contains("export RUST_LOG=debug"));
        assert!(s.contains("mount --bind /tmp /run/host-tmp\nmount -t tmpfs tmpfs /tmp\n"), "{s}");
        assert!(s.trim_end().ends_with("exit 0"));
        assert_eq!(run.host_timeout, Duration::from_secs(90));
    }

    #[test]
    fn a_missing_kernel_image_names_the_path_and_how_to_build_it() {
        let err = KernelImage::Path("/nonexistent/bzImage".into()).resolve().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/bzImage") && text.contains("make kernel"), "{text}");
        let err = VmRun::new(KernelImage::Path("/nonexistent/bzImage".into()), ["true"]).run().unwrap_err();
        assert!(matches!(err, VmError::KernelMissing { .. }), "{err}");
    }

    #[test]
    fn a_missing_qemu_says_how_to_install_it() {
        let exe = std::env::current_exe().unwrap();
        let mut run = VmRun::new(KernelImage::Path(exe), ["true"]);
        run.qemu = "qemu-system-does-not-exist".into();
        let text = run.run().unwrap_err().to_string();
        assert!(text.contains("qemu-system-does-not-exist") && text.contains("scripts/ensure-deps.sh"), "{text}");
    }
}
