//! The schema catalog.
