//! The binaries cargo builds, by name, from `cargo ... --message-format=json`: the VM runs them
//! from the shared root by their absolute paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A failed build or an artifact that was not built.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// cargo could not be started.
    #[error("running cargo: {0}")]
    Spawn(#[from] std::io::Error),
    /// cargo failed.
    #[error("`cargo {args}` failed ({status})")]
    Failed {
        /// The arguments.
        args: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// The build did not produce the binary asked for.
    #[error("cargo built no {kind} named {name:?} (built: {built})")]
    Missing {
        /// `test` or `bin`.
        kind: &'static str,
        /// The target name.
        name: String,
        /// What it did build.
        built: String,
    },
}

/// Executables built by one cargo invocation, by (target kind, target name).
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    by_target: BTreeMap<(String, String), PathBuf>,
}

impl Artifacts {
    /// Runs `cargo <args> --message-format=json` in `workspace` (the build's human output goes to
    /// stderr) and records every executable it reports.
    pub fn build(workspace: &Path, args: &[&str]) -> Result<Artifacts, ArtifactError> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        tracing::info!(?args, "cargo build of the binaries the VM runs");
        let out = Command::new(cargo)
            .args(args)
            .arg("--message-format=json-render-diagnostics")
            .current_dir(workspace)
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            return Err(ArtifactError::Failed { args: args.join(" "), status: out.status });
        }
        Ok(Artifacts::from_json_lines(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Reads cargo's JSON messages (`compiler-artifact` with an `executable`).
    pub fn from_json_lines(text: &str) -> Artifacts {
        let mut a = Artifacts::default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if v["reason"] != "compiler-artifact" {
                continue;
            }
            let Some(exe) = v["executable"].as_str() else { continue };
            let name = v["target"]["name"].as_str().unwrap_or_default().to_string();
            let test = v["profile"]["test"].as_bool().unwrap_or(false);
            let kinds: Vec<&str> =
                v["target"]["kind"].as_array().into_iter().flatten().filter_map(|k| k.as_str()).collect();
            let kind = if test && kinds.contains(&"bin") {
                "bin-test"
            } else if test && kinds.contains(&"lib") {
                "lib-test"
            } else if kinds.contains(&"test") {
                "test"
            } else if kinds.contains(&"bin") {
                "bin"
            } else {
                continue;
            };
            a.by_target.insert((kind.to_string(), name), PathBuf::from(exe));
        }
        a
    }

    /// Merges another build's artifacts into these.
    pub fn extend(&mut self, other: Artifacts) {
        self.by_target.extend(other.by_target);
    }

    fn get(&self, kind: &'static str, name: &str) -> Result<PathBuf, ArtifactError> {
        self.by_target.get(&(kind.to_string(), name.to_string())).cloned().ok_or_else(|| ArtifactError::Missing {
            kind,
            name: name.to_string(),
            built: self.by_target.keys().map(|(k, n)| format!("{k}:{n}")).collect::<Vec<_>>().join(", "),
        })
    }

    /// The integration-test executable `tests/<name>.rs`.
    pub fn test(&self, name: &str) -> Result<PathBuf, ArtifactError> {
        self.get("test", name)
    }

    /// The binary `name`.
    pub fn bin(&self, name: &str) -> Result<PathBuf, ArtifactError> {
        self.get("bin", name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_found_by_kind_and_name() {
        let json = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"socket_pfkey"},"profile":{"test":true},"executable":"/t/socket_pfkey-abc"}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"pfkey"},"profile":{"test":false},"executable":"/t/pfkey"}
{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"pfkey"},"profile":{"test":false},"executable":null}
{"reason":"build-finished","success":true}"#;
        let a = Artifacts::from_json_lines(json);
        assert_eq!(a.test("socket_pfkey").unwrap(), PathBuf::from("/t/socket_pfkey-abc"));
        assert_eq!(a.bin("pfkey").unwrap(), PathBuf::from("/t/pfkey"));
        let err = a.test("nope").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("test:socket_pfkey"), "{err}");
    }
}
