//! The `PF_KEY` socket. (Being written.)

/// A `PF_KEY` socket.
pub struct PfKeySocket;
