//! `pfkey decode` and `pfkey encode`: PF_KEY messages to and from readable text and JSON lines.

use std::fmt;
use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use pfkey::message::{Message, hex, split_stream};
use pfkey::wire::Dialect;

use crate::error::{CliError, out_err};

/// The PF_KEY flavour of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DialectArg {
    /// Linux `af_key` (KAME numbering of extensions 23-26, 16-byte ipsecrequests).
    Linux,
    /// FreeBSD `key.c` (sockaddrs with sa_len, 8-byte ipsecrequests, NEW_ADDRESS_SRC/DST).
    Freebsd,
}

impl From<DialectArg> for Dialect {
    fn from(d: DialectArg) -> Dialect {
        match d {
            DialectArg::Linux => Dialect::Linux,
            DialectArg::Freebsd => Dialect::FreeBsd,
        }
    }
}

/// Input, hex switch and dialect shared by decode and encode.
#[derive(Debug, Args)]
struct CodecArgs {
    /// Input file ('-' or absent: stdin).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,

    /// Messages are hex text, one message per line (instead of raw bytes).
    #[arg(long)]
    hex: bool,

    /// Dialect of the messages.
    #[arg(long, value_enum, default_value_t = DialectArg::Linux)]
    dialect: DialectArg,
}

/// `pfkey decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    #[command(flatten)]
    io: CodecArgs,

    /// Print one JSON object per message per line instead of the readable rendering.
    #[arg(long)]
    json: bool,
}

/// `pfkey encode`.
#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    /// JSON lines input file ('-' or absent: stdin); blank lines and '#' lines are skipped.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,

    /// Write one hex line per message instead of raw bytes.
    #[arg(long)]
    hex: bool,

    /// Dialect to encode in.
    #[arg(long, value_enum, default_value_t = DialectArg::Linux)]
    dialect: DialectArg,
}

/// Where in the input a fault is.
#[derive(Debug)]
pub(crate) enum Location {
    /// A line of a text input (1-based).
    Line(usize),
    /// A message of a raw stream (1-based) starting at a byte offset of the stream.
    Message { index: usize, start: usize },
    /// A byte offset of a raw stream (framing errors).
    StreamByte(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Message { index, start } => write!(f, "message {index} (stream byte {start})"),
            Location::StreamByte(b) => write!(f, "stream byte {b}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Input.

/// The whole input and the name errors use for it.
struct Input {
    name: String,
    bytes: Vec<u8>,
}

fn read_input(file: &Option<PathBuf>) -> Result<Input, CliError> {
    match file {
        Some(p) if p.as_os_str() != "-" => {
            let bytes = std::fs::read(p).map_err(|e| CliError::Runtime(format!("reading {}: {e}", p.display())))?;
            Ok(Input { name: p.display().to_string(), bytes })
        }
        _ => {
            let mut bytes = Vec::new();
            io::stdin().lock().read_to_end(&mut bytes).map_err(|e| CliError::Runtime(format!("reading stdin: {e}")))?;
            Ok(Input { name: "<stdin>".into(), bytes })
        }
    }
}

impl Input {
    fn bad(&self, at: Location, what: impl Into<String>) -> CliError {
        CliError::Input { source: self.name.clone(), at, what: what.into() }
    }

    /// The content lines of a text input, numbered from 1: blank lines and `#` comments skipped,
    /// surrounding whitespace (and `\r`) trimmed.
    fn lines(&self) -> impl Iterator<Item = Result<(usize, &str), CliError>> {
        self.bytes.split(|&b| b == b'\n').enumerate().filter_map(move |(i, raw)| match std::str::from_utf8(raw) {
            Err(e) => Some(Err(self.bad(Location::Line(i + 1), format!("not UTF-8 text: {e}")))),
            Ok(s) => {
                let s = s.trim();
                (!s.is_empty() && !s.starts_with('#')).then_some(Ok((i + 1, s)))
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// decode

/// How decode prints a message.
struct Printer<W: Write> {
    out: W,
    json: bool,
    dialect: Dialect,
    count: usize,
}

impl<W: Write> Printer<W> {
    /// Prints `m`, decoded from `wire` found at `at`.
    fn print(&mut self, m: &Message<'_>, wire: &[u8], at: &Location) -> Result<(), CliError> {
        if self.json {
            // The JSON carries the typed form; say so when that cannot give the bytes back.
            match m.clone().into_owned().to_bytes(self.dialect) {
                Ok(typed) if typed == wire => {}
                Ok(typed) => tracing::warn!(
                    "{at}: the JSON form of this message does not reproduce its {} bytes (re-encodes to {}): \
                     an extension holds bytes its typed form drops",
                    wire.len(),
                    typed.len()
                ),
                Err(e) => tracing::warn!("{at}: the JSON form of this message cannot be encoded again: {e}"),
            }
            let line = serde_json::to_string(m).map_err(|e| CliError::Runtime(format!("JSON rendering: {e}")))?;
            writeln!(self.out, "{line}").map_err(out_err)?;
        } else {
            if self.count > 0 {
                writeln!(self.out).map_err(out_err)?;
            }
            write!(self.out, "{}", pfkey::render::Rendered::new(m, self.dialect)).map_err(out_err)?;
        }
        self.count += 1;
        Ok(())
    }
}

pub(crate) fn decode(args: &DecodeArgs) -> Result<(), CliError> {
    let dialect = Dialect::from(args.io.dialect);
    let input = read_input(&args.io.file)?;
    let stdout = io::stdout();
    let mut p = Printer { out: io::BufWriter::new(stdout.lock()), json: args.json, dialect, count: 0 };
    if args.io.hex {
        for line in input.lines() {
            let (n, text) = line?;
            let bytes = hex::decode(text).map_err(|e| input.bad(Location::Line(n), format!("invalid hex: {e}")))?;
            let m = Message::parse(&bytes, dialect)
                .map_err(|e| input.bad(Location::Line(n), format!("invalid {dialect} message: {e}")))?;
            tracing::debug!(line = n, msg_type = %m.msg_type(), seq = m.header.seq, pid = m.header.pid, "decoded");
            p.print(&m, &bytes, &Location::Line(n))?;
        }
    } else {
        let mut start = 0usize;
        for (i, frame) in split_stream(&input.bytes).enumerate() {
            let frame =
                frame.map_err(|e| input.bad(Location::StreamByte(e.offset), format!("invalid framing: {}", e.rule)))?;
            let at = || Location::Message { index: i + 1, start };
            let m = Message::parse(frame, dialect)
                .map_err(|e| input.bad(at(), format!("invalid {dialect} message: {e}")))?;
            tracing::debug!(message = i + 1, offset = start, msg_type = %m.msg_type(), seq = m.header.seq, "decoded");
            p.print(&m, frame, &at())?;
            start += frame.len();
        }
    }
    p.out.flush().map_err(out_err)?;
    tracing::debug!(messages = p.count, "decode done");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// encode

/// A serde_json error without its "at line 1 column N" suffix (each input line is parsed alone),
/// with the column.
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let msg = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m);
    format!("invalid JSON message (column {}): {msg}", e.column())
}

pub(crate) fn encode(args: &EncodeArgs) -> Result<(), CliError> {
    let dialect = Dialect::from(args.dialect);
    if !args.hex && io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "refusing to write binary messages to a terminal: use --hex or redirect stdout".into(),
        ));
    }
    let input = read_input(&args.file)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut buf = Vec::new();
    let mut count = 0usize;
    for line in input.lines() {
        let (n, text) = line?;
        let m: Message<'static> =
            serde_json::from_str(text).map_err(|e| input.bad(Location::Line(n), json_error(&e)))?;
        buf.clear();
        m.emit_into(&mut buf, dialect)
            .map_err(|e| input.bad(Location::Line(n), format!("cannot encode in the {dialect} dialect: {e}")))?;
        if let Err(e) = Message::parse(&buf, dialect) {
            // Deliberately malformed messages are a use of this tool (test vectors); say so.
            tracing::warn!(line = n, error = %e, "the encoded message does not pass the parser");
        }
        tracing::debug!(line = n, msg_type = %m.msg_type(), len = buf.len(), "encoded");
        if args.hex {
            writeln!(out, "{}", hex::encode(&buf)).map_err(out_err)?;
        } else {
            out.write_all(&buf).map_err(out_err)?;
        }
        count += 1;
    }
    out.flush().map_err(out_err)?;
    tracing::debug!(messages = count, "encode done");
    Ok(())
}
