//! The mysql engine.
