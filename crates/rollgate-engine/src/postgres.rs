//! The postgres engine.
