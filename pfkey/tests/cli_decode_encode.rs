//! The `pfkey` binary's `decode` and `encode` commands on the reference messages: the JSON round
//! trip reproduces hex input byte for byte in both dialects, the readable output carries the
//! values, raw streams of concatenated messages decode, and bad input exits 2 with one line that
//! names where and what.

#[path = "render_reference.rs"]
mod reference;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use pfkey::message::hex;
use pfkey::wire::Dialect;

/// Runs `pfkey args...` with `stdin`, without RUST_LOG so that stderr holds only errors.
fn pfkey(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pfkey"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the pfkey binary runs");
    // The binary reads all of stdin before it writes, so this cannot deadlock.
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is text")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is text")
}

fn dialect_arg(d: Dialect) -> &'static str {
    match d {
        Dialect::Linux => "linux",
        Dialect::FreeBsd => "freebsd",
    }
}

/// One hex line per reference message that `d` can carry.
fn hex_lines(d: Dialect) -> String {
    reference::all().iter().filter(|r| r.encodes_in(d)).map(|r| hex::encode(&r.bytes(d)) + "\n").collect()
}

/// A scratch file under Cargo's per-target temporary directory.
fn scratch(name: &str, bytes: &[u8]) -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli_decode_encode-{name}"));
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn decode_json_then_encode_reproduces_the_hex_input_byte_for_byte_in_both_dialects() {
    for d in [Dialect::Linux, Dialect::FreeBsd] {
        let input = hex_lines(d);
        let n = input.lines().count();
        assert!(n >= 17, "{d}: {n} reference messages");
        let decoded = pfkey(&["decode", "--hex", "--json", "--dialect", dialect_arg(d)], input.as_bytes());
        assert_eq!(decoded.status.code(), Some(0), "{d}: {}", stderr(&decoded));
        let json = stdout(&decoded);
        assert_eq!(json.lines().count(), n, "{d}: one JSON object per message per line");
        let encoded = pfkey(&["encode", "--hex", "--dialect", dialect_arg(d)], json.as_bytes());
        assert_eq!(encoded.status.code(), Some(0), "{d}: {}", stderr(&encoded));
        for (i, (want, got)) in input.lines().zip(stdout(&encoded).lines()).enumerate() {
            assert_eq!(got, want, "{d}: message {} changed through JSON:\n{}", i + 1, json.lines().nth(i).unwrap());
        }
        assert_eq!(stdout(&encoded), input, "{d}: the whole output equals the input");
    }
}

#[test]
fn json_lines_name_types_and_errno_and_carry_addresses_as_text() {
    let r = reference::get("error_reply_esrch");
    let out = pfkey(&["decode", "--hex", "--json"], (hex::encode(&r.bytes(Dialect::Linux)) + "\n").as_bytes());
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["type"], "SADB_DELETE");
    assert_eq!(v["satype"], "SADB_SATYPE_ESP");
    assert_eq!(v["errno"], 3);
    assert_eq!(v["errno_name"], "ESRCH");
    assert_eq!(v["pid"], 4242);

    let r = reference::get("migrate_v4_kmaddress");
    let out = pfkey(&["decode", "--hex", "--json"], hex::encode(&r.bytes(Dialect::Linux)).as_bytes());
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["type"], "SADB_X_MIGRATE");
    let km = &v["extensions"][0];
    assert_eq!(km["type"], "SADB_X_EXT_KMADDRESS");
    assert_eq!(km["local"]["addr"], "203.0.113.7");
    assert_eq!(km["remote"]["addr"], "198.51.100.1");
    let new = &v["extensions"][3]["requests"][1];
    assert_eq!(new["mode"], "IPSEC_MODE_TUNNEL");
    assert_eq!(new["endpoints"]["src"]["addr"], "203.0.113.7");
}

#[test]
fn readable_output_shows_the_values_and_skips_comments_and_blank_lines() {
    let add = reference::get("add_esp_tunnel_gcm_natt").bytes(Dialect::Linux);
    let mig = reference::get("migrate_v4_kmaddress").bytes(Dialect::Linux);
    let input = format!("# an ADD and a MIGRATE\n\n{}\n   \n{}\n", hex::encode(&add), hex::encode(&mig));
    let out = pfkey(&["decode", "--hex"], input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "SADB_ADD (3) satype=SADB_SATYPE_ESP (3) errno=0 (OK) seq=2 pid=4242 len=27 words (216 bytes)\n",
        "  SADB_EXT_SA (1): spi=0xc0010001 (3221291009) replay=32 state=SADB_SASTATE_MATURE auth=SADB_AALG_NONE encrypt=SADB_X_EALG_AES_GCM_ICV16 flags=0x00000000\n",
        "  SADB_EXT_KEY_ENCRYPT (9): bits=160 key=0102030405060708090a0b0c0d0e0f1011121314\n",
        "  SADB_X_EXT_NAT_T_TYPE (20): type=UDP_ENCAP_ESPINUDP (2)\n",
        "  SADB_X_EXT_NAT_T_DPORT (22): port=4500\n",
        "\nSADB_X_MIGRATE (24) satype=SADB_SATYPE_ESP (3) errno=0 (OK) seq=7 pid=4242 len=27 words (216 bytes)\n",
        "  SADB_X_EXT_KMADDRESS (25): local=203.0.113.7 remote=198.51.100.1\n",
        "  SADB_EXT_ADDRESS_SRC (5): 10.1.0.0/16 port=0 proto=any\n",
        "    request[0] (old): esp(50) mode=IPSEC_MODE_TUNNEL level=IPSEC_LEVEL_UNIQUE reqid=1 192.0.2.1->198.51.100.1\n",
        "    request[1] (new): esp(50) mode=IPSEC_MODE_TUNNEL level=IPSEC_LEVEL_UNIQUE reqid=1 203.0.113.7->198.51.100.1\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn freebsd_update_with_new_addresses_decodes_with_freebsd_numbers() {
    let r = reference::get("update_new_addresses_v6");
    let out = pfkey(&["decode", "--hex", "--dialect", "freebsd"], hex::encode(&r.bytes(Dialect::FreeBsd)).as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("  SADB_X_EXT_NEW_ADDRESS_SRC (27): 2001:db8:c::1/128 port=0 proto=any\n"), "{text}");
    assert!(text.contains("  SADB_X_EXT_NEW_ADDRESS_DST (28): 2001:db8:d::1/128 port=0 proto=any\n"), "{text}");
    // The same bytes are not a Linux message: FreeBSD sockaddrs start with sa_len.
    let linux = pfkey(&["decode", "--hex"], hex::encode(&r.bytes(Dialect::FreeBsd)).as_bytes());
    assert_eq!(linux.status.code(), Some(2));
    assert!(stderr(&linux).contains("address family 7196 is neither AF_INET nor AF_INET6"), "{}", stderr(&linux));
}

#[test]
fn a_malformed_line_exits_2_with_one_line_naming_the_line_and_the_rule() {
    let good = hex::encode(&reference::get("delete").bytes(Dialect::Linux));
    // sadb_msg_len says 11 words; the message is 10.
    let mut long = reference::get("delete").bytes(Dialect::Linux);
    long[4] = 11;
    let input = format!("# header\n{good}\n\n{}\n{good}\n", hex::encode(&long));
    let out = pfkey(&["decode", "--hex"], input.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.trim_end(),
        "pfkey decode: <stdin>, line 4: invalid linux message: byte 4: sadb_msg_len is 11 words (88 bytes) but the message is 80 bytes"
    );
    // What came before the bad line was decoded; nothing after it.
    assert_eq!(stdout(&out).matches("SADB_DELETE (4)").count(), 1);

    // A destination sockaddr of family 7, named by extension and offset.
    let mut bad_family = reference::get("delete").bytes(Dialect::Linux);
    let dst_at = 16 + 16 + 24;
    assert_eq!(bad_family[dst_at + 2], 6, "SADB_EXT_ADDRESS_DST header");
    bad_family[dst_at + 8] = 7;
    let out = pfkey(&["decode", "--hex", "--json"], hex::encode(&bad_family).as_bytes());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "pfkey decode: <stdin>, line 1: invalid linux message: byte 64 (SADB_EXT_ADDRESS_DST [6]): address family 7 is neither AF_INET nor AF_INET6"
    );

    // Not hex at all.
    let out = pfkey(&["decode", "--hex"], b"02010003zz\n");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).trim_end(), "pfkey decode: <stdin>, line 1: invalid hex: 'z' is not a hex digit");
}

#[test]
fn a_raw_stream_of_concatenated_messages_decodes_message_by_message() {
    let names = ["getspi", "add_reply", "spdadd_beet_v6", "migrate_v6_broadcast"];
    let stream: Vec<u8> = names.iter().flat_map(|n| reference::get(n).bytes(Dialect::Linux)).collect();
    let file = scratch("stream.bin", &stream);

    let out = pfkey(&["decode", "--json", &file], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let types: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["SADB_GETSPI", "SADB_ADD", "SADB_X_SPDADD", "SADB_X_MIGRATE"]);

    let text = stdout(&pfkey(&["decode"], &stream));
    assert_eq!(text.matches("\n\n").count(), 3, "a blank line between messages:\n{text}");
    assert!(text.contains("    request[3] (new): ah(51) mode=IPSEC_MODE_TUNNEL level=IPSEC_LEVEL_REQUIRE reqid=0 2001:db8:b::1->2001:db8:c::1\n"), "{text}");

    // The raw encode of the JSON lines is the stream again.
    let encoded = pfkey(&["encode"], &out.stdout);
    assert_eq!(encoded.status.code(), Some(0), "{}", stderr(&encoded));
    assert_eq!(encoded.stdout, stream);

    // A stream cut short: the last header promises more than there is.
    let cut = &stream[..stream.len() - 8];
    let last_len = reference::get("migrate_v6_broadcast").bytes(Dialect::Linux).len();
    assert_eq!(last_len, 464, "two IPv6 bundles with KMADDRESS");
    let out = pfkey(&["decode"], cut);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "pfkey decode: <stdin>, stream byte {}: invalid framing: sadb_msg_len is 58 words (464 bytes) but the message is 456 bytes",
            stream.len() - last_len + 4
        )
    );
    assert_eq!(stdout(&out).matches("errno=0 (OK)").count(), 3, "the whole messages before the cut decode");

    // A framed message that breaks a rule is named by its index and stream offset.
    let mut bad = stream.clone();
    let second = reference::get("getspi").bytes(Dialect::Linux).len();
    bad[second] = 1; // sadb_msg_version of message 2
    let out = pfkey(&["decode", "--json"], &bad);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "pfkey decode: <stdin>, message 2 (stream byte {second}): invalid linux message: byte 0: sadb_msg_version is 1, not PF_KEY_V2 (2)"
        )
    );
}

#[test]
fn encode_reports_bad_json_and_messages_the_dialect_cannot_carry() {
    let good = stdout(&pfkey(&["decode", "--hex", "--json"], hex_lines(Dialect::Linux).as_bytes()));
    let first = good.lines().next().unwrap();
    let input = format!("{first}\n{{\"type\": \"SADB_NOPE\", \"satype\": 3}}\n");
    let out = pfkey(&["encode", "--hex"], input.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("pfkey encode: <stdin>, line 2: invalid JSON message (column "), "{err}");
    assert!(err.contains("unknown MessageType name \"SADB_NOPE\""), "{err}");
    assert_eq!(stdout(&out).lines().count(), 1, "line 1 was written before line 2 failed");

    let kma = good.lines().find(|l| l.contains("SADB_X_EXT_KMADDRESS")).unwrap();
    let out = pfkey(&["encode", "--hex", "--dialect", "freebsd"], kma.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "pfkey encode: <stdin>, line 1: cannot encode in the freebsd dialect: SADB_X_EXT_KMADDRESS does not exist in the freebsd dialect"
    );
}

#[test]
fn usage_errors_exit_2_runtime_errors_exit_1_and_help_exits_0() {
    let help = pfkey(&["--help"], b"");
    assert_eq!(help.status.code(), Some(0));
    let text = stdout(&help);
    assert!(text.contains("decode") && text.contains("encode") && text.contains("--backend"), "{text}");
    let help = pfkey(&["decode", "--help"], b"");
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("--dialect <DIALECT>"));

    assert_eq!(pfkey(&["decode", "--no-such-flag"], b"").status.code(), Some(2));
    assert_eq!(pfkey(&["decode", "--dialect", "openbsd"], b"").status.code(), Some(2));
    assert_eq!(pfkey(&[], b"").status.code(), Some(2));
    assert_eq!(pfkey(&["--model", "--backend", "afkey", "decode"], b"").status.code(), Some(2));

    let missing = pfkey(&["decode", "/nonexistent/pfkey-input"], b"");
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).starts_with("pfkey decode: reading /nonexistent/pfkey-input: "), "{}", stderr(&missing));

    let empty = pfkey(&["decode", "--hex"], b"# nothing\n\n");
    assert_eq!(empty.status.code(), Some(0));
    assert!(empty.stdout.is_empty());
}

/// A fixed-size extension longer than its struct would lose its extra bytes in the typed (and
/// JSON) form, so the parser rejects it: decode says which line and which rule.
#[test]
fn decode_rejects_a_fixed_size_extension_longer_than_its_struct() {
    let input = hex::encode(&reference::delete_with_oversize_sa()) + "\n";
    let decoded = pfkey(&["decode", "--hex", "--json"], input.as_bytes());
    assert_eq!(decoded.status.code(), Some(2));
    assert!(decoded.stdout.is_empty());
    let err = stderr(&decoded);
    assert!(err.contains("line 1") && err.contains("longer than its fixed 16-byte layout"), "{err}");
}
