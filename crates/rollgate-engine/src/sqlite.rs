//! The sqlite engine.
