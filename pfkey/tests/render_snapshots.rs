//! Snapshots of the readable rendering (with the wire bytes it describes) and of the JSON form of
//! the reference messages, and of the `setkey`-style SA and policy lists.

#[path = "render_reference.rs"]
mod reference;

use insta::{assert_json_snapshot, assert_snapshot};
use pfkey::message::{Message, PolicySpec, SaSpec};
use pfkey::render;
use pfkey::wire::Dialect;
use reference::Reference;

/// 16 bytes a line, offsets in hex, a gap after 8 bytes.
fn hexdump(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, row) in b.chunks(16).enumerate() {
        let cells: Vec<String> = row.iter().map(|x| format!("{x:02x}")).collect();
        let (l, r) = cells.split_at(cells.len().min(8));
        s.push_str(&format!("{:04x}  {}  {}\n", i * 16, l.join(" "), r.join(" ")).replace("  \n", "\n"));
    }
    s
}

/// The rendering of the parsed wire bytes, checked equal to the rendering of the built message,
/// followed by the bytes.
fn rendered_with_bytes(r: &Reference, d: Dialect) -> String {
    let bytes = r.bytes(d);
    let parsed = Message::parse(&bytes, d).unwrap_or_else(|e| panic!("{} ({d}): {e}", r.name));
    let text = render::message(&parsed, d);
    assert_eq!(text, render::message(&r.msg, d), "{}: rendering depends on how the message is held", r.name);
    format!("{text}--- {d} wire bytes ---\n{}", hexdump(&bytes))
}

#[test]
fn every_reference_message_round_trips_through_bytes_and_json() {
    for r in reference::all() {
        for d in [Dialect::Linux, Dialect::FreeBsd] {
            if !r.encodes_in(d) {
                let only =
                    if d == Dialect::FreeBsd { &reference::LINUX_ONLY[..] } else { &reference::FREEBSD_ONLY[..] };
                assert!(only.contains(&r.name), "{} does not encode in {d}", r.name);
                continue;
            }
            let bytes = r.bytes(d);
            let parsed = Message::parse(&bytes, d).unwrap_or_else(|e| panic!("{} ({d}): {e}", r.name));
            assert_eq!(parsed, r.msg, "{} ({d}) parses back to what was built", r.name);
            assert_eq!(parsed.to_bytes(d).unwrap(), bytes, "{} ({d}) re-emits identically", r.name);
            let json = serde_json::to_string(&parsed).unwrap();
            let back: Message<'static> =
                serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}\n{json}", r.name));
            assert_eq!(back.to_bytes(d).unwrap(), bytes, "{} ({d}) survives JSON", r.name);
        }
    }
    for name in reference::LINUX_ONLY {
        assert!(!reference::get(name).encodes_in(Dialect::FreeBsd), "{name} should need a Linux-only extension");
    }
    for name in reference::FREEBSD_ONLY {
        assert!(!reference::get(name).encodes_in(Dialect::Linux), "{name} should need a FreeBSD-only extension");
    }
}

#[test]
fn readable_rendering_of_every_reference_message() {
    for r in reference::all() {
        let d = reference::home_dialect(&r);
        let text = rendered_with_bytes(&r, d);
        insta::with_settings!({ description => format!("render::message of reference `{}` ({d})", r.name), omit_expression => true }, {
            assert_snapshot!(r.name, text);
        });
    }
}

#[test]
fn readable_rendering_in_the_freebsd_dialect() {
    for name in ["update_new_addresses_v4", "update_new_addresses_v6", "spdadd_beet_v6", "migrate_natt"] {
        let r = reference::get(name);
        let text = rendered_with_bytes(&r, Dialect::FreeBsd);
        insta::with_settings!({ description => format!("render::message of reference `{name}` (FreeBSD)"), omit_expression => true }, {
            assert_snapshot!(format!("freebsd_{name}"), text);
        });
    }
}

#[test]
fn json_of_every_reference_message() {
    for r in reference::all() {
        insta::with_settings!({ description => format!("serde JSON of reference `{}`", r.name), omit_expression => true }, {
            assert_json_snapshot!(format!("{}_json", r.name), r.msg);
        });
    }
}

#[test]
fn kmaddress_in_freebsd_renders_its_missing_number_instead_of_a_length() {
    let r = reference::get("migrate_v4_kmaddress");
    let text = render::message(&r.msg, Dialect::FreeBsd);
    assert!(
        text.starts_with("SADB_X_MIGRATE (24) satype=SADB_SATYPE_ESP (3) errno=0 (OK) seq=7 pid=4242 len=? ("),
        "{text}"
    );
    assert!(
        text.contains("  SADB_X_EXT_KMADDRESS (not in freebsd): local=203.0.113.7 remote=198.51.100.1\n"),
        "{text}"
    );
}

#[test]
fn setkey_style_sa_list() {
    let add = reference::get("add_esp_tunnel_gcm_natt");
    let sa = SaSpec::from_message(&add.msg).expect("ADD describes an SA");
    let expire = reference::get("expire_hard");
    let dead = SaSpec::from_message(&expire.msg).expect("EXPIRE describes an SA");
    let current = expire.msg.lifetime(pfkey::wire::numbers::ExtKind::LifetimeCurrent);
    let text = render::sa_list([(&sa, None), (&dead, current.as_ref())]);
    assert!(text.contains("\tesp-udp mode=tunnel spi=3221291009(0xc0010001) reqid=1(0x00000001)\n"), "{text}");
    assert!(text.contains("\tE: aes-gcm-16  01020304 05060708 090a0b0c 0d0e0f10 11121314\n"), "{text}");
    assert!(text.contains("\tcurrent: 123456789(bytes)\thard: 0(bytes)\tsoft: 0(bytes)\n"), "{text}");
    assert_snapshot!("setkey_sa_list", text);
    assert_eq!(render::sa_list(std::iter::empty()), "No SAD entries.\n");
}

#[test]
fn setkey_style_policy_list() {
    let policies: Vec<PolicySpec> = ["spdadd_tunnel_v4", "spdadd_beet_v6", "spddump_entry"]
        .into_iter()
        .map(|n| PolicySpec::from_message(&reference::get(n).msg).expect("an SPD message describes a policy"))
        .collect();
    let text = render::policy_list(&policies);
    assert!(text.contains("10.1.0.0/16[any] 10.2.0.0/16[any] any\n\tout prio 2000 ipsec\n"), "{text}");
    assert!(text.contains("\tesp/tunnel/192.0.2.1-198.51.100.1/unique#1\n"), "{text}");
    assert!(text.contains("\tesp/beet/2001:db8:b::1-2001:db8:a::1/require\n"), "{text}");
    assert!(text.contains("\tfwd prio 0 ipsec\n\tesp/tunnel/198.51.100.1-192.0.2.1/require#1\n\tspid=530\n"), "{text}");
    assert_snapshot!("setkey_policy_list", text);
    assert_eq!(render::policy_list(&[]), "No SPD entries.\n");
}

#[test]
fn a_fixed_size_extension_longer_than_its_struct_is_rejected_not_rendered_lossily() {
    let b = reference::delete_with_oversize_sa();
    let e = Message::parse(&b, Dialect::Linux).unwrap_err();
    assert_eq!(e.rule, pfkey::message::Rule::ExtTooLong { len: 24, max: 16 });
    assert_eq!(e.offset, 16);
}
