//! `cargo xtask bench-migrate`: times `rollgate migrate` on PostgreSQL against
//! `psql -1 -f` of the same files concatenated (the floor: one session, one
//! transaction, no bookkeeping) and against dbmate, then times a no-op re-run
//! and a fan-out of one set of files to many databases.
//!
//! Every database it creates on the server is named `rgbench_<pid>_…` and is
//! dropped after use, also when a step fails. Files live in
//! target/bench/migrate/ and are regenerated on every run (it takes
//! milliseconds and is deterministic).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{
    git_revision, machine_info, median, run_to_completion, shell_words, target_dir, utc_date,
    workspace_root,
};

/// The server every database is created on; trust authentication.
const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// Targets from the issue (#3, "Benchmarks").
const TARGET_RATIO_TO_PSQL: f64 = 1.3;
const TARGET_NO_OP_SECONDS: f64 = 0.100;

pub(crate) struct MigrateBenchArgs {
    files: usize,
    runs: usize,
    fanout_dbs: usize,
    fanout_files: usize,
    concurrency: usize,
    /// A rollgate binary to time instead of building the workspace's.
    rollgate: Option<PathBuf>,
}

impl MigrateBenchArgs {
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<MigrateBenchArgs> {
        let mut parsed = MigrateBenchArgs {
            files: 500,
            runs: 5,
            fanout_dbs: 20,
            fanout_files: 50,
            concurrency: 4,
            rollgate: None,
        };
        while let Some(arg) = args.next() {
            // Accept both `--files 500` and `--files=500`.
            let (flag, inline_value) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let mut value = || -> Result<String> {
                inline_value
                    .clone()
                    .or_else(|| args.next())
                    .with_context(|| format!("{flag} needs a value\n\n{}", crate::USAGE))
            };
            let mut number = || -> Result<usize> {
                let text = value()?;
                let number: usize = text
                    .parse()
                    .with_context(|| format!("{flag} must be a positive integer, not `{text}`"))?;
                if number == 0 {
                    bail!("{flag} must be at least 1");
                }
                Ok(number)
            };
            match flag.as_str() {
                "--files" => parsed.files = number()?,
                "--runs" => parsed.runs = number()?,
                "--fanout-dbs" => parsed.fanout_dbs = number()?,
                "--fanout-files" => parsed.fanout_files = number()?,
                "--concurrency" => parsed.concurrency = number()?,
                // Not built here: for comparing builds, e.g. an experiment
                // built from a copy of the workspace.
                "--rollgate" => parsed.rollgate = Some(PathBuf::from(value()?)),
                _ => bail!(
                    "unknown bench-migrate argument `{flag}`\n\n{}",
                    crate::USAGE
                ),
            }
        }
        if parsed.fanout_files > parsed.files {
            bail!(
                "--fanout-files ({}) cannot exceed --files ({}): the fan-out uses the first files of the corpus",
                parsed.fanout_files,
                parsed.files
            );
        }
        Ok(parsed)
    }
}

pub(crate) fn bench_migrate(args: &MigrateBenchArgs) -> Result<()> {
    let workspace = workspace_root();
    let target = target_dir(&workspace);
    let bench_dir = target.join("bench");
    let work_dir = bench_dir.join("migrate");
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;

    let server = Server::check()?;

    let rollgate = match &args.rollgate {
        Some(path) => std::fs::canonicalize(path)
            .with_context(|| format!("--rollgate {}: no such file", path.display()))?,
        None => {
            step("building rollgate (release)");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            run_to_completion(Command::new(cargo).current_dir(&workspace).args([
                "build",
                "--release",
                "-p",
                "rollgate",
            ]))?;
            target.join("release/rollgate")
        }
    };

    step(&format!(
        "generating {} migration files in {}",
        args.files,
        work_dir.display()
    ));
    let corpus = Corpus::generate(&work_dir, args.files, args.fanout_files)?;
    let dbmate = ensure_dbmate(&bench_dir)?;
    let psql_version = command_version(Command::new("psql").arg("--version"))?;

    let tools = [
        Tool::Psql,
        Tool::Rollgate {
            program: rollgate.clone(),
            tls: true,
        },
        Tool::Dbmate(dbmate.program.clone()),
        // Not one of the commands: dbmate runs without TLS while psql
        // and rollgate negotiate it (the server has ssl=on), so this is the
        // like-for-like comparison with dbmate and shows what TLS costs.
        Tool::Rollgate {
            program: rollgate.clone(),
            tls: false,
        },
    ];
    let (rollgate_tool, rollgate_without_tls) = (&tools[1], &tools[3]);
    let mut databases = Databases::new();

    // One untimed apply each warms the page cache (binaries, the files, the
    // server's catalog) and shows that every tool works before timing starts.
    step("warm-up: one untimed apply per tool");
    let out_dir = work_dir.join("out");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    for tool in &tools {
        let database = databases.create_one(&format!("warm_{}", tool.key().replace('-', "_")))?;
        let output = tool
            .command(&work_dir, &database_url(&database))
            .output_checked()?;
        std::fs::write(
            out_dir.join(format!("{}.stdout", tool.key())),
            &output.stdout,
        )
        .context("cannot keep the warm-up output")?;
        tool.verify(&database, args.files)?;
        databases.drop_all()?;
    }

    step(&format!(
        "timed applies: {} x {} tools, round-robin, a fresh database each",
        args.runs,
        tools.len()
    ));
    let mut apply_samples: Vec<Vec<f64>> = tools.iter().map(|_| Vec::new()).collect();
    // rollgate's own "N file(s) applied in T" line: the apply loop without
    // process start, file loading, connecting and the history read.
    let mut rollgate_loop_samples = Vec::new();
    for run in 0..args.runs {
        for offset in 0..tools.len() {
            let index = (run + offset) % tools.len();
            let tool = &tools[index];
            let database =
                databases.create_one(&format!("{}_{run}", tool.key().replace('-', "_")))?;
            let mut command = tool.command(&work_dir, &database_url(&database));
            let start = Instant::now();
            let output = command.output_checked()?;
            apply_samples[index].push(start.elapsed().as_secs_f64());
            tool.verify(&database, args.files)?;
            if let Tool::Rollgate { tls: true, .. } = tool {
                rollgate_loop_samples.push(applied_in_seconds(&output.stdout)?);
            }
            databases.drop_all()?;
        }
    }

    step(&format!(
        "no-op re-runs: {} x rollgate migrate with all {} files applied",
        args.runs, args.files
    ));
    // The same re-run without TLS, alternating with it, shows what the
    // connection's TLS handshake costs.
    let no_op_tools = [rollgate_tool, rollgate_without_tls];
    let mut no_op_samples: Vec<Vec<f64>> = no_op_tools.iter().map(|_| Vec::new()).collect();
    {
        let database = databases.create_one("noop")?;
        let url = database_url(&database);
        rollgate_tool.command(&work_dir, &url).output_checked()?;
        // One untimed no-op each first, like the applies' warm-up.
        for tool in no_op_tools {
            tool.command(&work_dir, &url).output_checked()?;
        }
        for run in 0..args.runs {
            for offset in 0..no_op_tools.len() {
                let index = (run + offset) % no_op_tools.len();
                let mut command = no_op_tools[index].command(&work_dir, &url);
                let start = Instant::now();
                let output = command.output_checked()?;
                no_op_samples[index].push(start.elapsed().as_secs_f64());
                let stdout = String::from_utf8_lossy(&output.stdout);
                if !stdout.contains("up to date") {
                    bail!("the no-op re-run applied something:\n{stdout}");
                }
            }
        }
        rollgate_tool.verify(&database, args.files)?;
        databases.drop_all()?;
    }

    let fanout_modes = [
        FanOut::Concurrent(args.concurrency),
        FanOut::Concurrent(1),
        FanOut::SeparateRuns,
    ];
    step(&format!(
        "fan-out: {} files to {} databases, {} x {} modes, round-robin",
        args.fanout_files,
        args.fanout_dbs,
        args.runs,
        fanout_modes.len()
    ));
    let mut fanout_samples: Vec<Vec<f64>> = fanout_modes.iter().map(|_| Vec::new()).collect();
    for run in 0..args.runs {
        for offset in 0..fanout_modes.len() {
            let index = (run + offset) % fanout_modes.len();
            let names: Vec<String> = (0..args.fanout_dbs)
                .map(|db| format!("fan{index}_{run}_{db:02}"))
                .collect();
            let created = databases.create_many(&names)?;
            let urls: Vec<String> = created.iter().map(|name| database_url(name)).collect();
            let start = Instant::now();
            for mut command in fanout_modes[index].commands(&rollgate, &work_dir, &urls) {
                command.output_checked()?;
            }
            fanout_samples[index].push(start.elapsed().as_secs_f64());
            for name in &created {
                rollgate_tool.verify(name, args.fanout_files)?;
            }
            databases.drop_all()?;
        }
    }

    let report = Report {
        args,
        workspace: &workspace,
        work_dir: &work_dir,
        corpus: &corpus,
        server: &server,
        psql_version: &psql_version,
        dbmate: &dbmate,
        rollgate: &rollgate,
        tools: &tools,
        apply: apply_samples.iter().map(|s| Stats::of(s)).collect(),
        rollgate_loop: Stats::of(&rollgate_loop_samples),
        no_op: Stats::of(&no_op_samples[0]),
        no_op_without_tls: Stats::of(&no_op_samples[1]),
        fanout_modes: &fanout_modes,
        fanout: fanout_samples.iter().map(|s| Stats::of(s)).collect(),
    };
    report.print();
    Ok(())
}

fn step(message: &str) {
    eprintln!("bench-migrate: {message}");
}

fn database_url(database: &str) -> String {
    format!("{SERVER}/{database}")
}

/// A tool that applies the corpus to one database.
enum Tool {
    Psql,
    /// `tls: false` adds `?sslmode=disable` to the URL.
    Rollgate {
        program: PathBuf,
        tls: bool,
    },
    Dbmate(PathBuf),
}

impl Tool {
    fn key(&self) -> &'static str {
        match self {
            Tool::Psql => "psql",
            Tool::Rollgate { tls: true, .. } => "rollgate",
            Tool::Rollgate { tls: false, .. } => "rollgate-no-tls",
            Tool::Dbmate(_) => "dbmate",
        }
    }

    /// The command that applies the whole corpus to `url`, run from the
    /// work directory (target/bench/migrate).
    fn command(&self, work_dir: &Path, url: &str) -> Command {
        let (program, args, env) = self.parts(url);
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(work_dir)
            .stdin(Stdio::null());
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        command
    }

    fn parts(&self, url: &str) -> (PathBuf, Vec<String>, Option<(&'static str, String)>) {
        let strings = |args: &[&str]| args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
        match self {
            Tool::Psql => (
                PathBuf::from("psql"),
                strings(&[
                    "-X",
                    "-q",
                    "-1",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-f",
                    ALL_SQL,
                    url,
                ]),
                None,
            ),
            Tool::Rollgate { program, tls } => {
                let url = if *tls {
                    url.to_string()
                } else {
                    format!("{url}?sslmode=disable")
                };
                (
                    program.clone(),
                    rollgate_migrate_args(&[url], MIGRATIONS_GLOB, None),
                    None,
                )
            }
            Tool::Dbmate(program) => (
                program.clone(),
                strings(&["--no-dump-schema", "--migrations-dir", DBMATE_DIR, "up"]),
                // dbmate's Go driver does not negotiate TLS: it needs sslmode spelled out.
                Some(("DATABASE_URL", format!("{url}?sslmode=disable"))),
            ),
        }
    }

    /// The command line as printed in the report, `relative` shortening paths.
    fn display(&self, relative: &dyn Fn(&Path) -> String) -> String {
        let (program, args, env) = self.parts(&database_url("<db>"));
        let env = env.map_or_else(String::new, |(key, value)| format!("{key}={value} "));
        format!("{env}{}", shell_words(&relative(&program), &args))
    }

    /// Checks that the run really applied `files` files: every tool must have
    /// created one table per file; rollgate and dbmate must also have
    /// recorded each file in their history table.
    fn verify(&self, database: &str, files: usize) -> Result<()> {
        let tables = query_count(
            database,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t[0-9]+$'",
        )?;
        let recorded = match self {
            Tool::Psql => None,
            Tool::Rollgate { .. } => Some(query_count(
                database,
                "SELECT count(DISTINCT version) FROM public.rollgate_history \
                 WHERE status = 'SUCCEEDED' AND kind = 'MIGRATION'",
            )?),
            Tool::Dbmate(_) => Some(query_count(
                database,
                "SELECT count(*) FROM public.schema_migrations",
            )?),
        };
        if tables != files || recorded.is_some_and(|recorded| recorded != files) {
            bail!(
                "{} did not apply all {files} files to {database}: {tables} tables{}",
                self.key(),
                recorded.map_or_else(String::new, |r| format!(", {r} history rows"))
            );
        }
        Ok(())
    }
}

/// The arguments of `rollgate migrate` for one or several databases.
fn rollgate_migrate_args(urls: &[String], glob: &str, concurrency: Option<usize>) -> Vec<String> {
    let mut args = vec!["migrate".to_string()];
    for url in urls {
        args.push("--database-url".into());
        args.push(url.clone());
    }
    args.push("--file-pattern".into());
    args.push(glob.into());
    if let Some(concurrency) = concurrency {
        args.push("--concurrency".into());
        args.push(concurrency.to_string());
    }
    args
}

/// How the fan-out is run.
enum FanOut {
    /// One `rollgate migrate` with every `--database-url` and `--concurrency N`.
    Concurrent(usize),
    /// One `rollgate migrate` per database, one after the other.
    SeparateRuns,
}

impl FanOut {
    fn label(&self) -> String {
        match self {
            FanOut::Concurrent(n) => format!("one run, --concurrency {n}"),
            FanOut::SeparateRuns => "one run per database".to_string(),
        }
    }

    fn commands(&self, rollgate: &Path, work_dir: &Path, urls: &[String]) -> Vec<Command> {
        let command = |args: Vec<String>| {
            let mut command = Command::new(rollgate);
            command
                .args(args)
                .current_dir(work_dir)
                .stdin(Stdio::null());
            command
        };
        match self {
            FanOut::Concurrent(n) => {
                vec![command(rollgate_migrate_args(urls, FANOUT_GLOB, Some(*n)))]
            }
            FanOut::SeparateRuns => urls
                .iter()
                .map(|url| {
                    command(rollgate_migrate_args(
                        std::slice::from_ref(url),
                        FANOUT_GLOB,
                        None,
                    ))
                })
                .collect(),
        }
    }

    fn display(&self, rollgate: &str, databases: usize) -> String {
        let urls: Vec<String> = (1..=databases.min(2))
            .map(|n| database_url(&format!("<db{n}>")))
            .collect();
        match self {
            FanOut::Concurrent(n) => {
                let mut line = shell_words(
                    rollgate,
                    &rollgate_migrate_args(&urls, FANOUT_GLOB, Some(*n)),
                );
                if databases > 2 {
                    line = line.replacen(
                        " --file-pattern",
                        &format!(" … (x{databases}) --file-pattern"),
                        1,
                    );
                }
                line
            }
            FanOut::SeparateRuns => format!(
                "{}   # x{databases}, one after the other",
                shell_words(
                    rollgate,
                    &rollgate_migrate_args(&urls[..1], FANOUT_GLOB, None)
                )
            ),
        }
    }
}

trait OutputChecked {
    /// Runs the command with stdout captured, failing with its stderr when it fails.
    fn output_checked(&mut self) -> Result<std::process::Output>;
}

impl OutputChecked for Command {
    fn output_checked(&mut self) -> Result<std::process::Output> {
        let description = format!("{:?}", self.get_program());
        let output = self
            .output()
            .with_context(|| format!("cannot run {description}"))?;
        if !output.status.success() {
            bail!(
                "{description} {:?} failed ({}):\n{}{}",
                self.get_args().collect::<Vec<_>>(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end(),
                String::from_utf8_lossy(&output.stdout)
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        Ok(output)
    }
}

/// Reads `… N file(s) applied in 1.23 s` (or `456 ms`) from rollgate's output.
fn applied_in_seconds(stdout: &[u8]) -> Result<f64> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|line| line.contains("file(s) applied in "))
        .with_context(|| format!("rollgate printed no `file(s) applied in` line:\n{text}"))?;
    let value = line.rsplit("applied in ").next().unwrap_or("").trim();
    let parsed = if let Some(ms) = value.strip_suffix(" ms") {
        ms.parse::<f64>().map(|ms| ms / 1000.0)
    } else if let Some(seconds) = value.strip_suffix(" s") {
        seconds.parse::<f64>()
    } else {
        bail!("unexpected duration in `{line}`")
    };
    parsed.with_context(|| format!("unexpected duration in `{line}`"))
}

// The corpus, relative to target/bench/migrate.
const MIGRATIONS_DIR: &str = "migrations";
const MIGRATIONS_GLOB: &str = "migrations/*.sql";
const DBMATE_DIR: &str = "dbmate-migrations";
const FANOUT_DIR: &str = "fanout";
const FANOUT_GLOB: &str = "fanout/*.sql";
const ALL_SQL: &str = "all.sql";

/// The generated files: the same SQL three ways (rollgate's files, dbmate's
/// copies with its `-- migrate:up` header, and one concatenated file for
/// psql), plus a copy of the first files for the fan-out.
struct Corpus {
    files: usize,
    statements: usize,
    bytes: usize,
}

impl Corpus {
    fn generate(work_dir: &Path, files: usize, fanout_files: usize) -> Result<Corpus> {
        for dir in [MIGRATIONS_DIR, DBMATE_DIR, FANOUT_DIR] {
            let dir = work_dir.join(dir);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove stale {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let width = files.to_string().len().max(4);
        let mut all = String::new();
        let mut statements = 0;
        for index in 1..=files {
            let (sql, count) = migration_sql(index, width);
            statements += count;
            let name = format!("{index:0width$}_create_t{index:0width$}.sql");
            let write = |dir: &str, text: &str| {
                let path = work_dir.join(dir).join(&name);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))
            };
            write(MIGRATIONS_DIR, &sql)?;
            write(
                DBMATE_DIR,
                &format!("-- migrate:up\n{sql}\n-- migrate:down\n"),
            )?;
            if index <= fanout_files {
                write(FANOUT_DIR, &sql)?;
            }
            all.push_str(&sql);
        }
        let path = work_dir.join(ALL_SQL);
        std::fs::write(&path, &all).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Corpus {
            files,
            statements,
            bytes: all.len(),
        })
    }
}

/// Migration number `index` (from 1) and its statement count: every file
/// creates a table with four columns and an index; every third file adds a
/// column to the previous file's table, every fourth adds one to its own, and
/// every fifth inserts three rows.
fn migration_sql(index: usize, width: usize) -> (String, usize) {
    let table = format!("t{index:0width$}");
    let mut sql = format!(
        "-- Migration {index:0width$}: generated by `cargo xtask bench-migrate`.\n\
         CREATE TABLE {table} (\n    \
             id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n    \
             name text NOT NULL,\n    \
             amount integer NOT NULL DEFAULT 0,\n    \
             created_at timestamptz NOT NULL DEFAULT now()\n\
         );\n\
         CREATE INDEX {table}_name_idx ON {table} (name);\n"
    );
    let mut statements = 2;
    if index.is_multiple_of(3) {
        let previous = format!("t{:0width$}", index - 1);
        writeln!(sql, "ALTER TABLE {previous} ADD COLUMN note_{index} text;").unwrap();
        statements += 1;
    }
    if index.is_multiple_of(4) {
        writeln!(
            sql,
            "ALTER TABLE {table} ADD COLUMN flags integer NOT NULL DEFAULT 0;"
        )
        .unwrap();
        statements += 1;
    }
    if index.is_multiple_of(5) {
        writeln!(
            sql,
            "INSERT INTO {table} (name, amount) VALUES ('alpha', 1), ('beta', 2), ('gamma', 3);"
        )
        .unwrap();
        statements += 1;
    }
    (sql, statements)
}

/// The databases this run has created and not yet dropped. Whatever is left
/// when it goes out of scope (a step failed) is dropped then.
struct Databases {
    prefix: String,
    live: Vec<String>,
}

impl Databases {
    fn new() -> Databases {
        Databases {
            prefix: format!("rgbench_{}_", std::process::id()),
            live: Vec::new(),
        }
    }

    fn create_one(&mut self, suffix: &str) -> Result<String> {
        Ok(self.create_many(&[suffix.to_string()])?.remove(0))
    }

    /// Creates the databases in one psql session (CREATE DATABASE cannot run
    /// in a transaction, so one statement per line in autocommit).
    fn create_many(&mut self, suffixes: &[String]) -> Result<Vec<String>> {
        let names: Vec<String> = suffixes
            .iter()
            .map(|suffix| format!("{}{suffix}", self.prefix))
            .collect();
        let mut script = String::new();
        for name in &names {
            writeln!(script, "DROP DATABASE IF EXISTS {name} WITH (FORCE);").unwrap();
            writeln!(script, "CREATE DATABASE {name};").unwrap();
        }
        self.live.extend(names.iter().cloned());
        psql_script("postgres", &script).context("cannot create the benchmark databases")?;
        Ok(names)
    }

    fn drop_all(&mut self) -> Result<()> {
        if self.live.is_empty() {
            return Ok(());
        }
        let mut script = String::new();
        for name in &self.live {
            writeln!(script, "DROP DATABASE IF EXISTS {name} WITH (FORCE);").unwrap();
        }
        psql_script("postgres", &script).context("cannot drop the benchmark databases")?;
        self.live.clear();
        Ok(())
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        if let Err(error) = self.drop_all() {
            eprintln!(
                "bench-migrate: could not drop {}: {error:#}",
                self.live.join(", ")
            );
        }
    }
}

/// Runs SQL through psql's standard input against `database`, in autocommit
/// mode, stopping at the first error.
fn psql_script(database: &str, script: &str) -> Result<String> {
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .arg(database_url(database))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run psql (is the PostgreSQL client installed?)")?;
    child
        .stdin
        .take()
        .context("psql has no stdin")?
        .write_all(script.as_bytes())
        .context("cannot write to psql")?;
    let output = child.wait_with_output().context("cannot wait for psql")?;
    if !output.status.success() {
        bail!(
            "psql on {} failed ({}):\n{}",
            database_url(database),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn query_count(database: &str, sql: &str) -> Result<usize> {
    let text = psql_script(database, &format!("{sql};\n"))?;
    text.parse()
        .with_context(|| format!("`{sql}` on {database} returned {text:?}"))
}

/// The PostgreSQL server the benchmark runs against.
struct Server {
    version: String,
    settings: String,
}

impl Server {
    fn check() -> Result<Server> {
        let text = psql_script(
            "postgres",
            "SELECT current_setting('server_version') || '|' || \
             string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings \
             WHERE name IN ('fsync', 'synchronous_commit', 'ssl', 'shared_buffers');\n",
        )
        .with_context(|| {
            format!(
                "bench-migrate needs PostgreSQL on {SERVER} (user postgres, trust authentication)"
            )
        })?;
        let (version, settings) = text.split_once('|').unwrap_or((&text, ""));
        Ok(Server {
            version: version.to_string(),
            settings: settings.to_string(),
        })
    }
}

struct Dbmate {
    program: PathBuf,
    version: String,
}

/// Installs dbmate from npm into target/bench/dbmate (once) and returns the
/// prebuilt binary of its platform package (`@dbmate/linux-x64/bin/dbmate`),
/// not the `.bin/dbmate` Node wrapper, so Node's start-up is not timed.
fn ensure_dbmate(bench_dir: &Path) -> Result<Dbmate> {
    let prefix = bench_dir.join("dbmate");
    let find = || {
        std::fs::read_dir(prefix.join("node_modules/@dbmate"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|platform| platform.path().join("bin/dbmate"))
            .find(|binary| binary.is_file())
    };
    if find().is_none() {
        step("installing dbmate from npm into target/bench/dbmate");
        run_to_completion(
            Command::new("npm")
                .arg("install")
                .arg("--prefix")
                .arg(&prefix)
                .arg("dbmate"),
        )
        .context("cannot install dbmate (is npm installed and the registry reachable?)")?;
    }
    let program = find().with_context(|| {
        format!(
            "no prebuilt dbmate binary under {}/node_modules/@dbmate/*/bin",
            prefix.display()
        )
    })?;
    // `dbmate --version` prints `dbmate version 2.36.0`.
    let version = command_version(Command::new(&program).arg("--version"))?
        .trim_start_matches("dbmate version")
        .trim()
        .to_string();
    Ok(Dbmate { program, version })
}

fn command_version(command: &mut Command) -> Result<String> {
    let output = command.output_checked()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Median, minimum and maximum of one command's wall times, in seconds.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Stats {
        Stats {
            median: median(samples),
            min: samples.iter().copied().fold(f64::INFINITY, f64::min),
            max: samples.iter().copied().fold(0.0, f64::max),
        }
    }
}

struct Report<'a> {
    args: &'a MigrateBenchArgs,
    workspace: &'a Path,
    work_dir: &'a Path,
    corpus: &'a Corpus,
    server: &'a Server,
    psql_version: &'a str,
    dbmate: &'a Dbmate,
    rollgate: &'a Path,
    /// psql, rollgate, dbmate, rollgate without TLS, in this order.
    tools: &'a [Tool],
    apply: Vec<Stats>,
    rollgate_loop: Stats,
    no_op: Stats,
    no_op_without_tls: Stats,
    /// `--concurrency C`, `--concurrency 1`, separate runs, in this order.
    fanout_modes: &'a [FanOut],
    fanout: Vec<Stats>,
}

impl Report<'_> {
    fn print(&self) {
        let relative = |path: &Path| {
            path.strip_prefix(self.workspace)
                .unwrap_or(path)
                .display()
                .to_string()
        };
        let (psql, rollgate, dbmate, rollgate_without_tls) = (
            &self.apply[0],
            &self.apply[1],
            &self.apply[2],
            &self.apply[3],
        );
        let args = self.args;
        // A binary given with --rollgate was not built from this tree.
        let revision = match &args.rollgate {
            Some(_) => "--rollgate".to_string(),
            None => git_revision(self.workspace),
        };

        println!();
        println!("== bench-migrate: rollgate vs psql and dbmate ==");
        println!("date:       {}", utc_date());
        println!("machine:    {}", machine_info());
        let dirty_note = if revision.ends_with("+dirty") {
            " (built with uncommitted changes)"
        } else {
            ""
        };
        match &args.rollgate {
            Some(_) => println!(
                "rollgate:   {} (given with --rollgate, not built from this tree)",
                self.rollgate.display()
            ),
            None => println!("rollgate:   commit {revision}{dirty_note}, release profile"),
        }
        println!(
            "server:     PostgreSQL {} on {SERVER} ({})",
            self.server.version, self.server.settings
        );
        println!("psql:       {}", self.psql_version);
        println!(
            "dbmate:     {} at {}",
            self.dbmate.version,
            relative(&self.dbmate.program)
        );
        println!(
            "corpus:     {} files, {} statements, {} bytes, in {}/{{{MIGRATIONS_DIR},{DBMATE_DIR},{ALL_SQL}}}",
            self.corpus.files,
            self.corpus.statements,
            self.corpus.bytes,
            relative(self.work_dir)
        );
        println!(
            "runs:       {} per tool, round-robin, after one untimed warm-up each; a fresh database per run \
             (created and dropped untimed); each run checked for {} tables and history rows",
            args.runs, self.corpus.files
        );
        println!();
        println!(
            "commands (run from {}; <db> is the fresh database):",
            relative(self.work_dir)
        );
        for tool in self.tools {
            println!("  {:<16} {}", tool.key(), tool.display(&relative));
        }
        println!(
            "  (psql and rollgate negotiate TLS, the server having ssl=on; dbmate needs sslmode=disable. \
             rollgate-no-tls is the like-for-like comparison with dbmate.)"
        );
        println!();
        println!("{:<34} {:>12} {:>20}", "apply", "median wall", "min .. max");
        for (tool, stats) in self.tools.iter().zip(&self.apply) {
            print_stats_line(tool.key(), stats);
        }
        print_stats_line("  rollgate's own apply loop", &self.rollgate_loop);
        println!(
            "  (\"file(s) applied in\": the loop over files, without process start, loading and parsing the \
             files, connecting, locking and reading the history: {:.3} s of {:.3} s)",
            self.rollgate_loop.median, rollgate.median
        );
        println!();
        let to_psql = rollgate.median / psql.median;
        let to_dbmate = rollgate.median / dbmate.median;
        let without_tls_to_dbmate = rollgate_without_tls.median / dbmate.median;
        let no_op_met = self.no_op.median < TARGET_NO_OP_SECONDS;
        println!(
            "ratio rollgate/psql:   {to_psql:.2}x  (target <= {TARGET_RATIO_TO_PSQL}x: {})",
            met(to_psql <= TARGET_RATIO_TO_PSQL)
        );
        println!(
            "ratio rollgate/dbmate: {to_dbmate:.2}x  (target < 1, faster than dbmate: {})",
            met(to_dbmate < 1.0)
        );
        println!(
            "ratio rollgate-no-tls/dbmate (both without TLS): {without_tls_to_dbmate:.2}x; \
             TLS costs rollgate {:.3} s",
            rollgate.median - rollgate_without_tls.median
        );
        println!(
            "no-op re-run ({} files applied): median {:.1} ms, {:.1} .. {:.1} ms over {} runs (target < {:.0} ms: {})",
            self.corpus.files,
            self.no_op.median * 1000.0,
            self.no_op.min * 1000.0,
            self.no_op.max * 1000.0,
            args.runs,
            TARGET_NO_OP_SECONDS * 1000.0,
            met(no_op_met)
        );
        println!(
            "no-op re-run without TLS (?sslmode=disable): median {:.1} ms, {:.1} .. {:.1} ms",
            self.no_op_without_tls.median * 1000.0,
            self.no_op_without_tls.min * 1000.0,
            self.no_op_without_tls.max * 1000.0,
        );
        println!();
        let rollgate_name = relative(self.rollgate);
        println!(
            "fan-out: the first {} files ({FANOUT_GLOB}) to {} fresh databases each run:",
            args.fanout_files, args.fanout_dbs
        );
        for mode in self.fanout_modes {
            println!("  {}", mode.display(&rollgate_name, args.fanout_dbs));
        }
        println!(
            "{:<34} {:>12} {:>20}",
            "fan-out", "median wall", "min .. max"
        );
        for (mode, stats) in self.fanout_modes.iter().zip(&self.fanout) {
            print_stats_line(&mode.label(), stats);
        }
        let (concurrent, one, separate) = (&self.fanout[0], &self.fanout[1], &self.fanout[2]);
        let speedup_in_process = one.median / concurrent.median;
        let speedup_separate = separate.median / concurrent.median;
        println!(
            "speed-up of --concurrency {}: {speedup_in_process:.2}x over --concurrency 1, \
             {speedup_separate:.2}x over {} separate runs",
            args.concurrency, args.fanout_dbs
        );
        println!();
        println!(
            "BENCHMARKS.md row, apply (date | commit | files | psql -1 | rollgate | dbmate | rollgate/psql | rollgate/dbmate | rollgate without TLS | no-op | no-op without TLS | dbmate version):"
        );
        println!(
            "| {} | {revision} | {} | {:.3} s | {:.3} s | {:.3} s | {to_psql:.2}x | {to_dbmate:.2}x | {:.3} s | {:.0} ms | {:.0} ms | {} |",
            utc_date(),
            self.corpus.files,
            psql.median,
            rollgate.median,
            dbmate.median,
            rollgate_without_tls.median,
            self.no_op.median * 1000.0,
            self.no_op_without_tls.median * 1000.0,
            self.dbmate.version,
        );
        println!(
            "BENCHMARKS.md row, fan-out (date | commit | files x databases | --concurrency C | --concurrency 1 | separate runs | speed-up vs 1 | speed-up vs separate):"
        );
        println!(
            "| {} | {revision} | {} x {} | {:.3} s (C = {}) | {:.3} s | {:.3} s | {speedup_in_process:.2}x | {speedup_separate:.2}x |",
            utc_date(),
            args.fanout_files,
            args.fanout_dbs,
            concurrent.median,
            args.concurrency,
            one.median,
            separate.median,
        );
    }
}

fn print_stats_line(label: &str, stats: &Stats) {
    println!(
        "{label:<34} {:>10.3} s {:>9.3} .. {:.3} s",
        stats.median, stats.min, stats.max
    );
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
