//! Command-line arguments ("low" arguments: parsed and validated by clap,
//! turned into working values by each command).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rollgate",
    version,
    about = "Database schema changes through git, review and CI",
    after_help = "Exit codes:\n  0  success, no finding at or above --fail-on\n  1  findings at or above --fail-on\n  2  usage, configuration or I/O error"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Review SQL migration files offline against the SQL review policy.
    #[command(after_help = LINT_HELP)]
    Lint(LintArgs),
    /// List every review rule with its level in each template, or explain one.
    Rules(RulesArgs),
}

const LINT_HELP: &str = "\
Files are found with --file-pattern (relative to the current directory) unless PATHs are given;
a directory PATH means every .sql file under it. Versioned files are reviewed in version order,
replaying each into a schema catalog so later files see the tables earlier ones created.

Configuration: rollgate.toml in the current directory (or --config FILE), table [review]:
  template = \"sample\" | \"basic\" | \"advanced\" | \"none\"   (default basic)
  [review.rules.RULE_NAME] level = \"ERROR\" | \"WARNING\" | \"DISABLED\", plus payload keys
  (format, max_length, number, list, required, value). `rollgate rules` lists the rules.

In-file directives (SQL comments):
  -- rollgate:ignore RULE[, RULE]     suppress rules for the next statement
  -- rollgate:ignore-file RULE        suppress rules for the whole file
  -- rollgate:no-transaction          the file runs outside a transaction

Exit codes:
  0  no finding at or above --fail-on
  1  findings at or above --fail-on
  2  usage, configuration or I/O error (unreadable or non-UTF-8 file, bad glob, duplicate versions)";

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files or directories to review; default: the files matching --file-pattern.
    pub paths: Vec<PathBuf>,

    /// Glob of migration files, relative to the current directory (`**` allowed).
    #[arg(long, default_value = rollgate_migration::DEFAULT_PATTERN, env = "ROLLGATE_FILE_PATTERN")]
    pub file_pattern: String,

    /// Configuration file; default: rollgate.toml in the current directory, if present.
    #[arg(long, env = "ROLLGATE_CONFIG")]
    pub config: Option<PathBuf>,

    /// SQL dialect of the files.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,

    /// Rule template; overrides the configuration's `template`.
    #[arg(long, value_enum)]
    pub template: Option<TemplateArg>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Human)]
    pub format: FormatArg,

    /// Lowest level that makes the command exit with 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EngineArg {
    Postgres,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TemplateArg {
    Sample,
    Basic,
    Advanced,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Human,
    Json,
    Gitlab,
    Github,
    Sarif,
    Junit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Never,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// A rule to explain (stable or legacy dotted name).
    pub rule: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = RulesFormat::Human)]
    pub format: RulesFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    Human,
    Json,
}
