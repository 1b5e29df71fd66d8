//! The kernel a command talks to: a real PF_KEY socket, or the in-memory model persisted in a
//! state file between invocations. Either way through a [`Tap`] so `--trace` can show every
//! message exchanged.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pfkey::kernel::model::{ModelConfig, ModelSnapshot};
use pfkey::kernel::tap::Tap;
use pfkey::kernel::{Kernel, KernelError, ModelKernel, ModelSocket, PfKeyKernel, XfrmKernel};
use pfkey::socket::PfKeySocket;

use crate::Backend;
use crate::error::CliError;
use crate::show::Tracer;

/// The environment variable that names the model's state file.
pub(crate) const STATE_ENV: &str = "PFKEY_MODEL_STATE";

/// What the global options say about the kernel.
#[derive(Debug, Clone, Default)]
pub(crate) struct KernelOptions {
    /// `--backend` / `--model` (`None`: a real socket if this kernel has PF_KEY).
    pub backend: Option<Backend>,
    /// `--model-state`.
    pub model_state: Option<PathBuf>,
    /// `--model-config`.
    pub model_config: Option<ModelConfig>,
    /// `--trace`.
    pub trace: bool,
}

/// The kernel operations with every datagram reported to the tracer.
pub(crate) type Traced<C> = PfKeyKernel<Tap<C, Tracer>>;

/// An open kernel.
pub(crate) enum Session {
    /// A real PF_KEY socket.
    AfKey(Traced<PfKeySocket>),
    /// XFRM netlink.
    Xfrm(XfrmKernel),
    /// The model, loaded from its state file.
    Model(ModelSession),
}

/// The model and where its state lives.
pub(crate) struct ModelSession {
    kernel: Traced<ModelSocket>,
    model: ModelKernel,
    path: PathBuf,
}

impl KernelOptions {
    /// Whether the commands use the model (chosen, or no PF_KEY needed to decide).
    pub(crate) fn wants_model(&self) -> bool {
        self.backend == Some(Backend::Model)
    }
}

/// The current user's id.
fn uid() -> u32 {
    // SAFETY: getuid takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::getuid() }
}

fn non_empty(v: Option<OsString>) -> Option<OsString> {
    v.filter(|v| !v.is_empty())
}

/// `--model-state`, else `$PFKEY_MODEL_STATE`, else `${XDG_RUNTIME_DIR:-/tmp}/pfkey-model-<uid>.json`.
pub(crate) fn state_path(opt: Option<&Path>) -> PathBuf {
    if let Some(p) = opt {
        return p.to_path_buf();
    }
    if let Some(p) = non_empty(std::env::var_os(STATE_ENV)) {
        return PathBuf::from(p);
    }
    let dir = non_empty(std::env::var_os("XDG_RUNTIME_DIR")).map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    dir.join(format!("pfkey-model-{}.json", uid()))
}

impl Session {
    /// Opens the kernel the options name.
    pub(crate) fn open(opts: &KernelOptions) -> Result<Session, CliError> {
        let tracer = Tracer { on: opts.trace };
        match opts.backend {
            Some(Backend::Model) => {
                let path = state_path(opts.model_state.as_deref());
                let model = load_model(&path, opts.model_config)?;
                let kernel = PfKeyKernel::new(Tap::new(model.socket(), tracer));
                tracing::debug!(state = %path.display(), config = ?model.config(), "model backend");
                Ok(Session::Model(ModelSession { kernel, model, path }))
            }
            Some(Backend::Xfrm) => open_xfrm(),
            Some(Backend::Auto) => match PfKeySocket::open() {
                Ok(sock) => {
                    tracing::debug!("auto backend: afkey");
                    Ok(Session::AfKey(PfKeyKernel::new(Tap::new(sock, tracer))))
                }
                Err(KernelError::NoPfKey(e)) => {
                    tracing::debug!(error = %e, "auto backend: no PF_KEY, using XFRM netlink");
                    open_xfrm()
                }
                Err(e) => Err(no_pfkey(e, false)),
            },
            Some(Backend::Afkey) | None => {
                let sock = PfKeySocket::open().map_err(|e| no_pfkey(e, opts.backend.is_none()))?;
                tracing::debug!("afkey backend");
                // `PfKeyKernel::open` gives each socket its own seq range; this socket is alone.
                Ok(Session::AfKey(PfKeyKernel::new(Tap::new(sock, tracer))))
            }
        }
    }

    /// The typed kernel operations.
    pub(crate) fn kernel(&mut self) -> &mut dyn Kernel {
        match self {
            Session::AfKey(k) => k,
            Session::Xfrm(k) => k,
            Session::Model(m) => &mut m.kernel,
        }
    }

    /// Saves the model's state (nothing for a real kernel).
    pub(crate) fn save(&self) -> Result<(), CliError> {
        match self {
            Session::AfKey(_) | Session::Xfrm(_) => Ok(()),
            Session::Model(m) => save_model(&m.path, &m.model.snapshot()),
        }
    }
}

/// Opens the XFRM netlink backend.
fn open_xfrm() -> Result<Session, CliError> {
    let k = XfrmKernel::open().map_err(|e| match e {
        KernelError::Io(io) if io.kind() == io::ErrorKind::PermissionDenied => {
            CliError::Runtime(format!("cannot open a NETLINK_XFRM socket: {io}; run as root, or use --model"))
        }
        e => CliError::Runtime(format!(
            "cannot open a NETLINK_XFRM socket: {e}; use --model for the in-memory kernel model"
        )),
    })?;
    tracing::debug!(pid = k.socket().pid(), "xfrm backend");
    Ok(Session::Xfrm(k))
}

/// The error for a PF_KEY socket that cannot be opened, with what to do instead.
fn no_pfkey(e: KernelError, defaulted: bool) -> CliError {
    let how = if defaulted { "the default backend is a real PF_KEY socket" } else { "--backend afkey" };
    match e {
        KernelError::NoPfKey(_) => CliError::Runtime(format!(
            "PF_KEY is not available ({how}): {e}; use --model (or --backend model) for the in-memory kernel model"
        )),
        KernelError::Io(io) if io.kind() == io::ErrorKind::PermissionDenied => CliError::Runtime(format!(
            "cannot open a PF_KEY socket ({how}): {io}; run as root, or use --model for the in-memory kernel model"
        )),
        other => CliError::Runtime(format!("cannot open a PF_KEY socket ({how}): {other}")),
    }
}

/// The model of the state file, or a fresh one when there is none; `config` overrides the saved
/// configuration.
fn load_model(path: &Path, config: Option<ModelConfig>) -> Result<ModelKernel, CliError> {
    let shown = path.display();
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(state = %shown, "no model state yet: a fresh model");
            return Ok(ModelKernel::with_config(config.unwrap_or_default()));
        }
        Err(e) => return Err(CliError::Runtime(format!("reading the model state {shown}: {e}"))),
    };
    let meta = fs::metadata(path).map_err(|e| CliError::Runtime(format!("model state {shown}: {e}")))?;
    if meta.uid() != uid() {
        return Err(CliError::Runtime(format!(
            "model state {shown} belongs to uid {}, not to this user (uid {}): refusing to load it",
            meta.uid(),
            uid()
        )));
    }
    let snapshot: ModelSnapshot = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::Runtime(format!("model state {shown} is not a model snapshot ({e}); remove it to start afresh"))
    })?;
    tracing::debug!(state = %shown, sas = snapshot.sad.len(), policies = snapshot.spd.len(), "model state loaded");
    let model = ModelKernel::restore(snapshot);
    if let Some(c) = config {
        model.set_config(c);
    }
    Ok(model)
}

/// Writes `snapshot` to `path` (mode 0600: it holds keys) through a temporary file renamed over
/// it, so a reader never sees half a file.
fn save_model(path: &Path, snapshot: &ModelSnapshot) -> Result<(), CliError> {
    let shown = path.display();
    let fail = |what: &str, e: io::Error| CliError::Runtime(format!("saving the model state {shown}: {what}: {e}"));
    let mut json = serde_json::to_vec_pretty(snapshot)
        .map_err(|e| CliError::Runtime(format!("saving the model state {shown}: {e}")))?;
    json.push(b'\n');
    let name = path.file_name().map_or_else(|| "pfkey-model".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        // The umask may have taken bits away; set exactly 0600.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&json)?;
        f.sync_all()
    };
    if let Err(e) = write().and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(fail("writing", e));
    }
    tracing::debug!(state = %shown, sas = snapshot.sad.len(), policies = snapshot.spd.len(), "model state saved");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_path_prefers_the_option() {
        assert_eq!(state_path(Some(Path::new("/x/y.json"))), PathBuf::from("/x/y.json"));
    }

    #[test]
    fn saved_state_is_0600_and_loads_back() {
        let dir = std::env::temp_dir().join(format!("pfkey-session-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let model = ModelKernel::with_config(ModelConfig::patched());
        save_model(&path, &model.snapshot()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let back = load_model(&path, None).unwrap();
        assert_eq!(back.config(), ModelConfig::patched());
        let overridden = load_model(&path, Some(ModelConfig::stock_linux())).unwrap();
        assert_eq!(overridden.config(), ModelConfig::stock_linux());
        fs::write(&path, b"{").unwrap();
        let err = load_model(&path, None).unwrap_err().to_string();
        assert!(err.contains("is not a model snapshot"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
