//! The IKEv2 codec (RFC 7296 §3, RFC 4555 §4).
