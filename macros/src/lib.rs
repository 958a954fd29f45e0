//! module! macro
