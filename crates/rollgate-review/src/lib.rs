//! The SQL review engine: rules with stable names, policies built from
//! templates and `rollgate.toml`, and the engine that turns migration files
//! into [`Advice`].
//!
//! This crate is pure: it does no I/O, has no async, and never panics on
//! input. The caller reads files (see `rollgate-migration`) and renders the
//! result (see `rollgate-report`).

pub mod advice;
pub mod engine;
pub mod policy;
pub mod risk;
pub mod rule;
pub mod rules;

pub use advice::{Advice, FileReport, Level, Summary};
pub use engine::{Reviewer, review_text};
pub use policy::{ConfigError, Policy, ReviewConfig, Template, parse_config};
pub use risk::{Risk, RiskLevel};
pub use rule::{Category, RuleDef};
