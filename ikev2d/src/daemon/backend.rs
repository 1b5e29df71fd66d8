//! The kernel the daemon installs its SAs and policies in: PF_KEY, XFRM netlink or the
//! in-memory model (chosen as the `pfkey` tool chooses), and for the real kernels a thread that
//! listens for their events (expires, acquires).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;

use pfkey::kernel::model::ModelConfig;
use pfkey::kernel::{AfKey, Kernel, KernelError, KernelEvent, Model, ModelKernel, PfKeyKernel, XfrmKernel};
use pfkey::wire::numbers::SaType;

use super::DaemonError;

/// Which kernel backend to use (`[daemon] backend`, `ikev2d run --backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// PF_KEY when the kernel has it, else XFRM netlink.
    Auto,
    /// A real PF_KEY socket (needs CAP_NET_ADMIN and a kernel with af_key).
    AfKey,
    /// XFRM netlink (needs CAP_NET_ADMIN).
    Xfrm,
    /// The in-memory kernel model inside the daemon (no privileges; `ikev2d ctl sas` shows it).
    Model,
}

impl FromStr for BackendKind {
    type Err = DaemonError;
    fn from_str(s: &str) -> Result<BackendKind, DaemonError> {
        Ok(match s {
            "auto" => BackendKind::Auto,
            "afkey" => BackendKind::AfKey,
            "xfrm" => BackendKind::Xfrm,
            "model" => BackendKind::Model,
            other => return Err(DaemonError::UnknownBackend(other.to_string())),
        })
    }
}

/// An open kernel backend.
pub enum Backend {
    /// A PF_KEY socket.
    AfKey(AfKey),
    /// XFRM netlink.
    Xfrm(XfrmKernel),
    /// The in-memory model and the PF_KEY backend over it.
    Model {
        /// The model (it holds the SAD and SPD).
        model: ModelKernel,
        /// The `Kernel` over it.
        backend: Model,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn open_error(backend: &'static str) -> impl Fn(KernelError) -> DaemonError {
    move |source| DaemonError::Backend { backend, source }
}

impl Backend {
    /// Opens the backend `kind` names (`Auto`: PF_KEY when the kernel has it, else XFRM).
    pub fn open(kind: BackendKind) -> Result<Backend, DaemonError> {
        match kind {
            BackendKind::Model => {
                let model = ModelKernel::with_config(ModelConfig::patched());
                let backend = PfKeyKernel::new(model.socket());
                Ok(Backend::Model { model, backend })
            }
            BackendKind::AfKey => AfKey::open().map(Backend::AfKey).map_err(open_error("afkey")),
            BackendKind::Xfrm => XfrmKernel::open().map(Backend::Xfrm).map_err(open_error("xfrm")),
            BackendKind::Auto => match AfKey::open() {
                Ok(k) => {
                    tracing::debug!("auto backend: afkey");
                    Ok(Backend::AfKey(k))
                }
                Err(KernelError::NoPfKey(e)) => {
                    tracing::info!(error = %e, "no PF_KEY in this kernel: using XFRM netlink");
                    XfrmKernel::open().map(Backend::Xfrm).map_err(open_error("xfrm"))
                }
                Err(e) => Err(open_error("afkey")(e)),
            },
        }
    }

    /// The backend's name (`afkey`, `xfrm`, `model`).
    pub fn name(&self) -> &'static str {
        match self {
            Backend::AfKey(_) => "afkey",
            Backend::Xfrm(_) => "xfrm",
            Backend::Model { .. } => "model",
        }
    }

    /// Whether it is a real kernel (sockets need bypass policies, events come from it).
    pub fn is_real(&self) -> bool {
        !matches!(self, Backend::Model { .. })
    }

    /// The typed kernel operations.
    pub fn kernel(&mut self) -> &mut dyn Kernel {
        match self {
            Backend::AfKey(k) => k,
            Backend::Xfrm(k) => k,
            Backend::Model { backend, .. } => backend,
        }
    }

    /// Reads and discards what the kernel broadcast to this (unregistered) socket: other
    /// sockets' changes, and on XFRM the events the event thread reports already.
    pub fn discard_broadcasts(&mut self) {
        if !self.is_real() {
            return;
        }
        for _ in 0..64 {
            match self.kernel().next_event(Some(Duration::ZERO)) {
                Ok(Some(ev)) => tracing::trace!(?ev, "kernel broadcast ignored"),
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "reading kernel broadcasts");
                    return;
                }
            }
        }
    }

    /// For a real kernel: a second instance of the same backend, registered for ESP, whose events
    /// a thread forwards to `tx` until `stop` is set. `None` for the model (it has no events).
    pub fn spawn_events(
        &self,
        tx: Sender<KernelEvent>,
        stop: Arc<AtomicBool>,
    ) -> Result<Option<JoinHandle<()>>, DaemonError> {
        let mut k: Box<dyn Kernel + Send> = match self {
            Backend::Model { .. } => return Ok(None),
            Backend::AfKey(_) => Box::new(AfKey::open().map_err(open_error("afkey"))?),
            Backend::Xfrm(_) => Box::new(XfrmKernel::open().map_err(open_error("xfrm"))?),
        };
        let name = self.name();
        k.register(SaType::Esp).map_err(|source| DaemonError::Register { backend: name, source })?;
        let handle = std::thread::Builder::new()
            .name("kernel-events".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match k.next_event(Some(Duration::from_millis(500))) {
                        Ok(Some(ev)) => {
                            tracing::debug!(?ev, "kernel event");
                            if tx.send(ev).is_err() {
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(backend = name, error = %e, "reading kernel events");
                            std::thread::sleep(Duration::from_millis(500));
                        }
                    }
                }
            })
            .map_err(|e| DaemonError::Io { what: "starting the kernel event thread", source: e })?;
        Ok(Some(handle))
    }
}
