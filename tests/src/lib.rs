//! The kernel lab: boot a Linux kernel built by `scripts/build-kernel.sh` in QEMU, run this
//! workspace's test binaries inside it against the real PF_KEY socket, and capture the kernel's
//! messages as test vectors.
//!
//! - [`vm`]: the QEMU runner (host side);
//! - [`artifacts`]: finds the test and tool binaries cargo built, to run them inside;
//! - [`vectors`]: the `.hex` vector file format (one message per line, a comment naming it);
//! - [`guest`]: what runs inside the VM (the af_key checks and the message capture);
//! - [`differential`]: the same operations on `af_key`, the XFRM shim and the model, compared;
//! - [`failmig`]: the guest check that a MIGRATE the kernel refuses changes nothing;
//! - [`scale`]: the scale benchmark (N tunnels moved per mechanism, in the VM);
//! - [`harness`]: the atomicity harness (ESP traffic through a tunnel whose endpoints move);
//! - [`interop`]: ikev2d with ikev2d and with strongSwan's charon on the real kernel.
#![deny(missing_docs)]

pub mod artifacts;
pub mod badinput;
pub mod differential;
pub mod failmig;
pub mod guest;
pub mod harness;
pub mod interop;
pub mod scale;
pub mod vectors;
pub mod vm;

/// Sets up `tracing` to stderr (`RUST_LOG`, default `info`), for the lab's binaries.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).with_target(false).try_init();
}
