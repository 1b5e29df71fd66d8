//! Test-vector files: one PF_KEY message per hex line, each preceded by a `#` comment line that
//! names it (`# <step>: <origin> <TYPE> ...`). Blank lines are ignored. The plain `cargo test`
//! tier reads them (`pfkey/tests/vectors_kernel.rs`), so the format stays this simple.

use std::fmt::Write as _;

/// One captured message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// The comment naming it (without the leading `# `).
    pub comment: String,
    /// The message bytes.
    pub bytes: Vec<u8>,
}

/// A malformed vector file.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {detail}")]
pub struct VectorFileError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub detail: String,
}

/// Renders vectors: for each, its comment line and its hex line; a header comment first.
pub fn render(header: &str, vectors: &[Vector]) -> String {
    let mut s = String::new();
    for line in header.lines() {
        let _ = writeln!(s, "## {line}");
    }
    for v in vectors {
        let _ = writeln!(s, "\n# {}", v.comment);
        let _ = writeln!(s, "{}", pfkey::message::hex::encode(&v.bytes));
    }
    s
}

/// Parses a vector file (`##` lines are file comments; each hex line takes the `#` comment
/// before it).
pub fn parse(text: &str) -> Result<Vec<Vector>, VectorFileError> {
    let mut out = Vec::new();
    let mut comment: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("##") {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            comment = Some(c.trim().to_string());
            continue;
        }
        let bytes = pfkey::message::hex::decode(line).map_err(|detail| VectorFileError { line: i + 1, detail })?;
        let comment = comment
            .take()
            .ok_or_else(|| VectorFileError { line: i + 1, detail: "hex line without a comment".into() })?;
        out.push(Vector { comment, bytes });
    }
    Ok(out)
}

/// A message's composition: what must be the same when two kernels answer the same request
/// (its name with the run-specific pid and policy refcount removed, type, errno, SA type, seq,
/// length and the extension types in order). Kernel-originated messages (pid 0) leave their
/// seq out: it is the kernel's own counter, which earlier activity in the VM moves.
pub fn composition(v: &Vector) -> String {
    let b = &v.bytes;
    // Linux puts the policy's reference count in sadb_msg_reserved of SPD answers
    // (`reserved=N` in the name): it depends on cached routes, not on the protocol.
    let name: Vec<&str> =
        v.comment.split_whitespace().filter(|w| !w.starts_with("pid=") && !w.starts_with("reserved=")).collect();
    let word = |i: usize| b.get(i..i + 4).map_or(0, |w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    let (seq, pid) = (word(8), word(12));
    let mut exts = Vec::new();
    let mut off = 16;
    while off + 4 <= b.len() {
        let len = usize::from(u16::from_ne_bytes([b[off], b[off + 1]])) * 8;
        exts.push(u16::from_ne_bytes([b[off + 2], b[off + 3]]));
        off += len.max(8);
    }
    let name = name.join(" ");
    let name = if pid == 0 { name.split(" seq=").next().unwrap_or_default().to_string() } else { name };
    format!(
        "{name} | type {} errno {} satype {} seq {} len {} exts {exts:?}",
        b.get(1).copied().unwrap_or(0),
        b.get(2).copied().unwrap_or(0),
        b.get(3).copied().unwrap_or(0),
        if pid == 0 { "-".to_string() } else { seq.to_string() },
        b.len()
    )
}

/// How a capture on one kernel compares with the committed capture of stock Linux.
#[derive(Debug, Default)]
pub struct Differential {
    /// Messages of the same composition on both.
    pub same: usize,
    /// Differences this project's series makes on purpose: the answer to the requester of a
    /// MIGRATE, and the answers to the per-SA update (`NEW_ADDRESS`) and to AEAD SAs, which
    /// stock refuses.
    pub intended: Vec<String>,
    /// Every other difference: a regression, or a capture that is not reproducible.
    pub unexpected: Vec<String>,
}

/// Compares the capture `got` with the committed `stock` one, file by file, message by message.
pub fn differential(stock: &[(String, Vec<Vector>)], got: &[(String, Vec<Vector>)]) -> Differential {
    let mut d = Differential::default();
    let new_protocol = |v: &Vector| v.comment.contains("NEW_ADDRESS") || v.comment.contains("AEAD");
    let migrate_answer = |v: &Vector| {
        let b = &v.bytes;
        b.len() >= 16 && b[1] == 24 && b[2] == 0 && b[8..16] != [0; 8] && v.comment.contains("kernel answer")
    };
    for (file, want) in stock {
        let Some((_, have)) = got.iter().find(|(f, _)| f == file) else {
            d.unexpected.push(format!("{file}: not captured"));
            continue;
        };
        let (mut i, mut j) = (0, 0);
        while i < want.len() || j < have.len() {
            match (want.get(i), have.get(j)) {
                (Some(a), Some(b)) if composition(a) == composition(b) => {
                    d.same += 1;
                    i += 1;
                    j += 1;
                }
                (_, Some(b)) if migrate_answer(b) && !want.get(i).is_some_and(migrate_answer) => {
                    d.intended.push(format!("{file}: added {}", composition(b)));
                    j += 1;
                }
                (Some(a), _) if new_protocol(a) => {
                    d.intended.push(format!("{file}: stock {}", composition(a)));
                    i += 1;
                    while have.get(j).is_some_and(new_protocol) {
                        d.intended.push(format!("{file}: now {}", composition(&have[j])));
                        j += 1;
                    }
                }
                (a, b) => {
                    d.unexpected.push(format!(
                        "{file}: stock {} / this kernel {}",
                        a.map_or("(none)".into(), composition),
                        b.map_or("(none)".into(), composition)
                    ));
                    i += usize::from(a.is_some());
                    j += usize::from(b.is_some());
                }
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message: base header only, or with one extension of type `ext`.
    fn msg(comment: &str, ty: u8, errno: u8, seq: u32, pid: u32, ext: Option<u16>) -> Vector {
        let mut b = vec![2, ty, errno, 3, 0, 0, 0, 0];
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&pid.to_ne_bytes());
        if let Some(e) = ext {
            b.extend_from_slice(&1u16.to_ne_bytes());
            b.extend_from_slice(&e.to_ne_bytes());
            b.extend_from_slice(&[0; 4]);
        }
        Vector { comment: comment.into(), bytes: b }
    }

    #[test]
    fn the_differential_tells_intended_differences_from_regressions() {
        let flush = msg("flush: kernel answer to the lab's socket pid=94", 9, 0, 1, 94, None);
        let migrate_bcast = msg("migrate: kernel-originated (pid 0) seq=7", 24, 0, 0, 0, Some(5));
        let stock = vec![(
            "a.hex".to_string(),
            vec![
                flush.clone(),
                migrate_bcast.clone(),
                msg("UPDATE with NEW_ADDRESS_SRC: kernel answer pid=94", 2, 22, 3, 94, None),
            ],
        )];
        let patched = vec![(
            "a.hex".to_string(),
            vec![
                msg("flush: kernel answer to the lab's socket pid=301", 9, 0, 1, 301, None),
                msg("migrate: kernel-originated (pid 0) seq=9", 24, 0, 0, 0, Some(5)),
                msg("migrate: kernel answer to the lab's socket pid=301", 24, 0, 2, 301, Some(5)),
                msg("UPDATE with NEW_ADDRESS_SRC: kernel answer pid=301", 2, 0, 3, 301, Some(27)),
            ],
        )];
        let d = differential(&stock, &patched);
        assert_eq!(d.same, 2, "pids and the kernel's own seq do not count: {d:?}");
        assert_eq!(d.intended.len(), 3, "{d:?}");
        assert!(d.unexpected.is_empty(), "{d:?}");
        // A changed errno of an old-protocol request is a regression.
        let mut regressed = patched.clone();
        regressed[0].1[0].bytes[2] = 1;
        let d = differential(&stock, &regressed);
        assert_eq!((d.same, d.unexpected.len()), (1, 1), "{d:?}");
        // A file the capture lost is one too.
        let d = differential(&stock, &[]);
        assert_eq!(d.unexpected, vec!["a.hex: not captured".to_string()]);
    }

    #[test]
    fn render_then_parse_gives_the_vectors_back() {
        let v = vec![
            Vector { comment: "a: SADB_FLUSH".into(), bytes: vec![2, 9, 0, 0, 2, 0, 0, 0] },
            Vector { comment: "b: x".into(), bytes: vec![0xff] },
        ];
        let text = render("captured\non a VM", &v);
        assert!(text.starts_with("## captured\n## on a VM\n"));
        assert_eq!(parse(&text).unwrap(), v);
        assert_eq!(parse("00\n").unwrap_err().line, 1);
    }
}
