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

#[cfg(test)]
mod tests {
    use super::*;

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
