//! Command-line arguments ("low" arguments: parsed and validated by clap,
//! turned into working values by each command).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rollgate",
    version,
    about = "Database schema changes through git, review and CI",
    after_help = "Exit codes:\n  0  success\n  1  lint findings at or above --fail-on; a refused or failed migration; drift found\n  2  usage, configuration, I/O or connection error"
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
    /// Apply pending migration files to a database, each exactly once.
    #[command(after_help = DB_HELP)]
    Migrate(MigrateArgs),
    /// Show applied, pending, modified, out-of-order and failed files.
    #[command(after_help = DB_HELP)]
    Status(StatusArgs),
    /// Mark every file up to a version as applied without running it.
    #[command(after_help = DB_HELP)]
    Baseline(BaselineArgs),
    /// Inspect or repair the history table.
    #[command(subcommand)]
    History(HistoryCommand),
    /// Work with the live schema.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Compare the live schema with what its applied files say it should be.
    #[command(after_help = DB_HELP)]
    Drift(DriftArgs),
    /// Run the Rollgate server (API; embedded SQLite metadata by default).
    #[command(after_help = SERVER_HELP)]
    Server(ServerArgs),
    /// Declare the server's environments, instances, databases, projects,
    /// review policies and accounts in workspace.toml, or export them.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Start a server with two target databases (Test, Prod) and run the whole
    /// check → release → rollout flow against them, narrated.
    #[command(after_help = QUICKSTART_HELP)]
    Quickstart(QuickstartArgs),
}

const QUICKSTART_HELP: &str = "\
Everything lives in a fresh directory (or --data-dir): the server's embedded store and, unless
--postgres is given, the two SQLite target databases. With --postgres URL, two databases named
rollgate_quickstart_* are created on that server (and dropped again with --once).

Exit codes:
  0  the flow completed
  1  a step of the flow failed (the message says which)
  2  usage error, or the address or database server is unavailable";

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Exit after the flow instead of keeping the server running.
    #[arg(long)]
    pub once: bool,

    /// Address for the server (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,

    /// Directory for the server's store and the SQLite targets (default: a fresh temporary one).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,

    /// Use this PostgreSQL server for the two target databases instead of SQLite files.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub postgres: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Converge the server to workspace.toml: create, update and (with --prune) delete.
    #[command(after_help = WORKSPACE_HELP)]
    Apply(WorkspaceApplyArgs),
    /// Print the server's current workspace in the workspace.toml format.
    #[command(after_help = WORKSPACE_HELP)]
    Export(ServerConnection),
}

const WORKSPACE_HELP: &str = "\
`${VAR}` in instance URLs expands from the environment when applying, so passwords stay out of git.
A user's initial password comes from the variable its `password_env` names; a service account's key
from its `key_env`, otherwise the server generates one and it is printed once.

Exit codes:
  0  success (or, with --dry-run, the changes were listed)
  1  the server refused or failed a change (the changes before it were applied; re-run to continue)
  2  usage, file or connection error (nothing was applied)";

/// How to reach and log in to a Rollgate server.
#[derive(Debug, Args)]
pub struct ServerConnection {
    /// The server's URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "ROLLGATE_URL")]
    pub url: String,

    /// Service account (name@service.rollgate.local) or user email to log in as.
    #[arg(long, env = "ROLLGATE_SERVICE_ACCOUNT")]
    pub service_account: String,

    /// The service account's key (or the user's password).
    #[arg(long, env = "ROLLGATE_SERVICE_ACCOUNT_SECRET", hide_env_values = true)]
    pub service_account_secret: String,
}

#[derive(Debug, Args)]
pub struct WorkspaceApplyArgs {
    #[command(flatten)]
    pub connection: ServerConnection,

    /// The workspace file.
    #[arg(long, short, default_value = "workspace.toml")]
    pub file: std::path::PathBuf,

    /// List the changes without applying them.
    #[arg(long)]
    pub dry_run: bool,

    /// Also delete what the file does not declare.
    #[arg(long)]
    pub prune: bool,
}

const SERVER_HELP: &str = "\
First start on an empty store: set ROLLGATE_ADMIN_EMAIL and ROLLGATE_ADMIN_PASSWORD to create the
Workspace Admin, or use the one-time setup token printed on stderr with POST /setup.
Database credentials are encrypted with the master key from ROLLGATE_MASTER_KEY, or from
DATA_DIR/master.key (created with mode 0600 on first start).";

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ROLLGATE_LISTEN")]
    pub listen: std::net::SocketAddr,

    /// Directory for the embedded store and the master key.
    #[arg(long, default_value = "./rollgate-data", env = "ROLLGATE_DATA_DIR")]
    pub data_dir: std::path::PathBuf,

    /// PostgreSQL metadata store for several replicas; default: SQLite in --data-dir.
    #[arg(long, env = "ROLLGATE_METADATA_URL", hide_env_values = true)]
    pub metadata_url: Option<String>,

    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = rollgate_server::DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
}

const DB_HELP: &str = "\
Database URLs: postgres://user:pass@host:port/db, mysql://… or mariadb://…, sqlite://path (created if missing).
History is kept in the table rollgate_history inside the target database.

Exit codes:
  0  success
  1  refused or failed: a changed applied file, an out-of-order file, a failed statement, a held lock
  2  usage or connection error (bad URL, unreachable server, wrong password)";

/// Flags every database command shares.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Target database URL; `migrate` accepts several.
    #[arg(
        long,
        env = "ROLLGATE_DATABASE_URL",
        required = true,
        value_delimiter = ','
    )]
    pub database_url: Vec<String>,

    /// Glob of migration files, relative to the current directory.
    #[arg(long, default_value = rollgate_migration::DEFAULT_PATTERN, env = "ROLLGATE_FILE_PATTERN")]
    pub file_pattern: String,

    /// Schema (PostgreSQL) or database (MySQL) that holds rollgate_history.
    #[arg(long, env = "ROLLGATE_HISTORY_SCHEMA")]
    pub history_schema: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Print what would run; on PostgreSQL and SQLite also run it in a transaction that is rolled back.
    #[arg(long)]
    pub dry_run: bool,

    /// Apply pending files whose version is lower than an applied one.
    #[arg(long)]
    pub allow_out_of_order: bool,

    /// How long to wait for another runner's migration lock.
    #[arg(long, default_value = "10s", value_parser = crate::db::parse_duration)]
    pub lock_timeout: std::time::Duration,

    /// lock_timeout set before each DDL statement (PostgreSQL) or lock_wait_timeout (MySQL);
    /// a file's `-- rollgate:lock-timeout` overrides it.
    #[arg(long, default_value = "5s", value_parser = crate::db::parse_duration)]
    pub ddl_lock_timeout: std::time::Duration,

    /// Stop after this version.
    #[arg(long)]
    pub target_version: Option<String>,

    /// With several --database-url: how many databases to migrate at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DbArgs,

    #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
    pub format: StatusFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Mark every pending file up to and including this version as applied.
    #[arg(long)]
    pub version: String,

    #[arg(long, default_value = "10s", value_parser = crate::db::parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Accept a changed checksum or clear a failed run, recorded as an audit entry.
    #[command(after_help = DB_HELP)]
    Repair(RepairArgs),
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub db: DbArgs,

    #[arg(long)]
    pub version: String,

    /// Why; stored with the audit entry.
    #[arg(long)]
    pub note: Option<String>,

    #[arg(long, default_value = "10s", value_parser = crate::db::parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print the live schema as a normalized, deterministic snapshot.
    #[command(after_help = DB_HELP)]
    Dump(SchemaDumpArgs),
}

#[derive(Debug, Args)]
pub struct SchemaDumpArgs {
    #[arg(long, env = "ROLLGATE_DATABASE_URL")]
    pub database_url: String,

    #[arg(long, env = "ROLLGATE_HISTORY_SCHEMA")]
    pub history_schema: Option<String>,

    #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
    pub format: DumpFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub db: DbArgs,
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
