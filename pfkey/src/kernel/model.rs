//! The in-memory kernel model. (Being written.)

/// The model's state (SAD, SPD, sockets).
pub struct ModelKernel;
/// A socket into the model.
pub struct ModelSocket;
