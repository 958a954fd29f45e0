//! Helpers shared by the user-space tools (each tool lives in src/bin/<tool>/).

pub mod net;
pub mod plot;
pub mod sys;
