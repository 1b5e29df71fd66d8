//! Hex text for byte fields (keys, opaque bodies) in the JSON rendering.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serializer};

/// Lower-case hex of `b`.
pub fn encode(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

/// Bytes of a hex string (upper or lower case; whitespace and `:` separators ignored).
pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b':').collect();
    let digits = digits.strip_prefix(b"0x").unwrap_or(&digits);
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    let val = |c: u8| -> Result<u8, String> {
        (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| format!("{:?} is not a hex digit", c as char))
    };
    digits.chunks(2).map(|p| Ok(val(p[0])? << 4 | val(p[1])?)).collect()
}

/// `serde(with)` for `Cow<[u8]>` as a hex string.
pub mod cow {
    use super::*;

    /// Serializes as hex.
    #[allow(clippy::ptr_arg, reason = "serde(with) passes the field as &Cow<[u8]>")]
    pub fn serialize<S: Serializer>(b: &Cow<'_, [u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(b))
    }

    /// Deserializes from hex.
    pub fn deserialize<'de, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, [u8]>, D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).map(Cow::Owned).map_err(serde::de::Error::custom)
    }
}

/// `serde(with)` for `Option<Cow<[u8]>>` as an optional hex string.
pub mod opt {
    use super::*;

    /// Serializes as hex or null.
    pub fn serialize<S: Serializer>(b: &Option<Cow<'_, [u8]>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_str(&encode(b)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes from hex or null.
    pub fn deserialize<'de, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, [u8]>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => decode(&s).map(|v| Some(Cow::Owned(v))).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// `serde(with)` for fixed arrays as hex.
pub mod array {
    use super::*;

    /// Serializes as hex.
    pub fn serialize<S: Serializer, const N: usize>(b: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(b))
    }

    /// Deserializes from hex of exactly N bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let v = decode(&s).map_err(serde::de::Error::custom)?;
        v.try_into().map_err(|v: Vec<u8>| serde::de::Error::custom(format!("{} bytes, expected {N}", v.len())))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_round_trip_and_errors() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(super::encode(&b), "0001abff");
        assert_eq!(super::decode("0001ABFF").unwrap(), b);
        assert_eq!(super::decode("00 01:ab ff").unwrap(), b);
        assert!(super::decode("abc").is_err());
        assert!(super::decode("zz").is_err());
    }
}
