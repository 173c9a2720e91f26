//! The SQL review engine.

pub mod advice;

pub use advice::{Advice, FileReport, Level, Summary};
