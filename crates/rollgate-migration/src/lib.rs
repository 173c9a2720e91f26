//! The migration file model: what a migration file is, before anything is
//! reviewed or applied.
//!
//! It covers versions parsed from file names (`version`, `name`), content
//! checksums for the migration history (`checksum`), in-file
//! `-- rollgate:` directives (`directives`), and the file model itself
//! (`file`). Everything there is pure and never panics on any input; mistakes
//! in user input come back as values (`DirectiveProblem`s, errors) whose
//! messages name the file or setting at fault and say what to do.
//!
//! The only I/O is at the edge: `discover`/`expand_paths` list files and
//! `load` reads one. This crate does not parse SQL, does not know which
//! review rules exist (ignore directives carry rule names unchecked), does
//! not talk to databases, and has no async code.

mod checksum;
mod directives;
mod discover;
mod file;
mod name;
mod plan;
mod version;

pub use checksum::{Checksum, ChecksumError, SHA256_V1};
pub use directives::{
    DIRECTIVE_NAMES, DirectiveProblem, Directives, Ignore, IgnoreScope, LockTimeout, RuleRef,
    parse_directives,
};
pub use discover::{
    DEFAULT_PATTERN, DiscoverError, DiscoveredFile, Discovery, DiscoveryWarning, discover,
    expand_paths,
};
pub use file::{LoadError, Loaded, MAX_REVIEW_SIZE, MigrationFile, load, load_for_apply};
pub use name::{ChangeType, ParsedName, parse_file_name};
pub use plan::{
    AppliedKind, AppliedRecord, AppliedStatus, FileState, FileStatus, Plan, PlanError, PlanOptions,
    PlanStep, ResumeProblem, URL_PLACEHOLDER, baseline_versions, plan, statements_checksum,
    statements_checksum_prefixes, status,
};
pub use version::{Version, VersionError};
