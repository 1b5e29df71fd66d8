//! `PfKeyKernel`: the [`Kernel`](super::Kernel) operations over any PF_KEY [`Channel`](super::Channel).
//! (Being written.)

/// The typed kernel operations over a PF_KEY channel.
pub struct PfKeyKernel<C> {
    /// The channel.
    pub channel: C,
}
