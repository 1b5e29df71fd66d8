//! The VM runner on a real kernel. These boot QEMU, so they are `#[ignore]`d in the plain
//! `cargo test` tier and run by `make vm-test` (after `make kernel`).

use std::time::{Duration, Instant};

use lab::vm::{KernelImage, VmError, VmRun};

fn stock() -> KernelImage {
    KernelImage::parse("stock")
}

#[test]
#[ignore = "boots QEMU: make vm-test"]
fn a_command_runs_inside_and_its_status_output_and_files_come_back() {
    let script = "echo out; echo err >&2; echo data > $LAB_RESULTS/f.txt; grep -c . /proc/net/pfkey; exit 3";
    let out = VmRun::new(stock(), ["/bin/sh", "-c", script]).with_timeout(Duration::from_secs(60)).run().unwrap();
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, "out\n1\n", "PF_KEY's proc file exists with only its header line");
    assert_eq!(out.stderr, "err\n");
    assert_eq!(out.files.get("f.txt").map(Vec::as_slice), Some(&b"data\n"[..]));
    assert!(out.console.contains("Linux version 6.12"), "{}", lab::vm::tail(&out.console, 5));
    assert!(out.dmesg.contains("NET: Registered PF_KEY protocol family"), "{}", out.dmesg);
    // Reported, not asserted against a time: under TCG on a loaded host the guest clock runs fast.
    let boot = out.guest_boot_secs.unwrap();
    assert!(boot > 0.0, "the guest reported its uptime: {boot}");
    eprintln!("guest boot: {boot:.1} s (guest clock)");
}

#[test]
#[ignore = "boots QEMU: make vm-test"]
fn host_files_under_tmp_stay_visible_while_the_guest_tmp_is_writable() {
    // CI's clone (and so the test binaries) may live under /tmp, which the guest covers with a tmpfs.
    let dir = std::env::temp_dir().join(format!("lab-hosttmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("marker"), "from the host\n").unwrap();
    let script = format!("cat {}/marker && echo scratch > /tmp/guest-file && cat /tmp/guest-file", dir.display());
    let out = VmRun::new(stock(), ["/bin/sh", "-c", &script]).with_timeout(Duration::from_secs(60)).run().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "from the host\nscratch\n");
}

#[test]
#[ignore = "boots QEMU: make vm-test"]
fn the_guest_timeout_stops_a_command_that_hangs() {
    let out = VmRun::new(stock(), ["/bin/sleep", "600"]).with_timeout(Duration::from_secs(3)).run().unwrap();
    assert_eq!(out.status, 124);
    assert!(out.timed_out);
}

#[test]
#[ignore = "boots QEMU: make vm-test"]
fn the_host_deadline_kills_qemu_whatever_the_guest_does() {
    let mut run = VmRun::new(stock(), ["/bin/sleep", "600"]).with_timeout(Duration::from_secs(600));
    run.host_timeout = Duration::from_secs(8);
    let t = Instant::now();
    match run.run() {
        Err(VmError::Timeout { timeout, console_tail }) => {
            assert_eq!(timeout, Duration::from_secs(8));
            assert!(!console_tail.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // Killed at the 8 s deadline, not after the guest's 600 s: generous for a loaded host.
    assert!(t.elapsed() < Duration::from_secs(60), "took {:?}", t.elapsed());
}
