//! Project automation, run as `cargo xtask <task>`. Nothing here ships in the
//! `rollgate` binary, and CI does not run it: it is for people measuring things.
//!
//! Tasks:
//! - `bench-lint`: times `rollgate lint` against squawk on a generated corpus of
//!   migration files and prints the numbers recorded in BENCHMARKS.md.
//! - `bench-migrate`: times `rollgate migrate` on PostgreSQL against `psql -1`
//!   and dbmate, a no-op re-run and a fan-out to many databases
//!   (`bench_migrate.rs`).
//! - `bench-server`: start-up time, idle RSS and the latency of concurrent
//!   `releases:check` calls against a running `rollgate server`
//!   (`bench_server.rs`).

mod bench_migrate;
mod bench_server;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
Usage: cargo xtask <task>

Tasks:
  bench-lint [--files N] [--seed S] [--runs R]
      Build rollgate (release), generate N migration files with ../shared/gen_corpus.py
      (default 2000, seed 42), install squawk from npm into target/bench/squawk, then run
      each linter R times (default 5) in round-robin order and print median wall time,
      peak RSS and finding counts. Everything it creates lives in target/bench/.
  bench-migrate [--files N] [--runs R] [--fanout-dbs D] [--fanout-files F] [--concurrency C]
                [--rollgate PATH]
      Build rollgate (release), generate N small PostgreSQL migration files (default 500) in
      target/bench/migrate, install dbmate from npm into target/bench/dbmate, then apply the
      files to a fresh database on 127.0.0.1:5432 (user postgres) with psql -1 (the floor),
      rollgate, dbmate and rollgate without TLS, R times each (default 5) in round-robin
      order. Also times a no-op re-run of rollgate (R times, with and without TLS) and
      rollgate applying the first F files (default 50) to D databases (default 20) with
      --concurrency C (default 4), against --concurrency 1 and D separate runs. Prints
      medians, ratios and the rows recorded in BENCHMARKS.md. Every database it creates is
      named rgbench_<pid>_* and dropped afterwards. --rollgate PATH times that binary
      instead of building the workspace's.
  bench-server [--requests C] [--files F] [--runs R] [--seed S]
      Build rollgate (release), generate F files (default 50) with gen_corpus.py, create two
      PostgreSQL databases on 127.0.0.1:5432, start `rollgate server` on embedded storage
      (start-up time to /readyz, first start and restart), set up a project with both
      databases, read the idle RSS, then send C (default 200) concurrent releases:check
      calls of the F files against both targets, R times (default 3): p50/p99/max latency,
      errors, peak RSS. Peer in the same run: `rollgate lint` of the same files.
";

/// The smaller corpus of the memory-growth check: peak RSS on this many files
/// is compared with peak RSS on the main corpus.
const MEMORY_CHECK_FILES: usize = 500;

fn main() -> ExitCode {
    // Errors are printed here rather than returned from `main`, so a usage
    // mistake does not come with a backtrace when RUST_BACKTRACE is set.
    match run(std::env::args().skip(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut args: impl Iterator<Item = String>) -> Result<()> {
    match args.next().as_deref() {
        Some("bench-lint") => bench_lint(&BenchArgs::parse(args)?),
        Some("bench-migrate") => {
            bench_migrate::bench_migrate(&bench_migrate::MigrateBenchArgs::parse(args)?)
        }
        Some("bench-server") => {
            bench_server::bench_server(&bench_server::ServerBenchArgs::parse(args)?)
        }
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}

struct BenchArgs {
    files: usize,
    seed: u64,
    runs: usize,
}

impl BenchArgs {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<BenchArgs> {
        let mut parsed = BenchArgs {
            files: 2000,
            seed: 42,
            runs: 5,
        };
        while let Some(arg) = args.next() {
            // Accept both `--files 2000` and `--files=2000`.
            let (flag, inline_value) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let mut value = || -> Result<String> {
                inline_value
                    .clone()
                    .or_else(|| args.next())
                    .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
            };
            match flag.as_str() {
                "--files" => {
                    parsed.files = value()?
                        .parse()
                        .context("--files must be a positive integer")?
                }
                "--seed" => {
                    parsed.seed = value()?
                        .parse()
                        .context("--seed must be a non-negative integer")?
                }
                "--runs" => {
                    parsed.runs = value()?
                        .parse()
                        .context("--runs must be a positive integer")?
                }
                _ => bail!("unknown bench-lint argument `{flag}`\n\n{USAGE}"),
            }
        }
        if parsed.files == 0 || parsed.runs == 0 {
            bail!("--files and --runs must be at least 1");
        }
        Ok(parsed)
    }
}

fn bench_lint(args: &BenchArgs) -> Result<()> {
    let workspace = workspace_root();
    let target = target_dir(&workspace);
    let bench_dir = target.join("bench");
    std::fs::create_dir_all(&bench_dir)
        .with_context(|| format!("cannot create {}", bench_dir.display()))?;

    let generator = workspace.join("../shared/gen_corpus.py");
    if !generator.is_file() {
        bail!(
            "corpus generator not found at {}: bench-lint needs the shared/ directory next to the \
             workspace (the one holding gen_corpus.py)",
            generator.display()
        );
    }

    step("building rollgate (release)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_to_completion(Command::new(cargo).current_dir(&workspace).args([
        "build",
        "--release",
        "-p",
        "rollgate",
    ]))?;
    let rollgate = target.join("release/rollgate");

    let corpus = ensure_corpus(&generator, &bench_dir, "corpus", args.files, args.seed)?;
    let small_corpus = if args.files > MEMORY_CHECK_FILES {
        Some(ensure_corpus(
            &generator,
            &bench_dir,
            "corpus-500",
            MEMORY_CHECK_FILES,
            args.seed,
        )?)
    } else {
        None
    };
    let squawk = ensure_squawk(&bench_dir)?;
    let time_program = find_gnu_time();
    if time_program.is_none() {
        eprintln!("note: GNU time (/usr/bin/time) is missing or lacks -f/-o; peak RSS will be n/a");
    }

    // Every command runs from target/bench, so the globs are short and neither
    // linter picks up a configuration file from the workspace.
    let main_glob = format!("{}/*.sql", corpus.name);
    let rollgate_main = Subject::rollgate("rollgate", &rollgate, "advanced", &main_glob);
    let squawk_main = Subject {
        label: format!("squawk {}", squawk.version),
        program: squawk.program.clone(),
        args: vec!["--reporter".into(), "json".into(), main_glob.clone()],
        // squawk exits 1 when it reports violations, which on this corpus it always does.
        ok_exit_codes: &[0, 1],
    };
    // No rules at all: discovery, parsing and the schema catalog replay only. The
    // difference with `rollgate_main` is what the rules cost.
    let rollgate_no_rules =
        Subject::rollgate("rollgate --template none", &rollgate, "none", &main_glob);
    let mut subjects = vec![rollgate_main, squawk_main, rollgate_no_rules];
    if let Some(small) = &small_corpus {
        let glob = format!("{}/*.sql", small.name);
        subjects.push(Subject::rollgate(
            &format!("rollgate, {} files", small.files),
            &rollgate,
            "advanced",
            &glob,
        ));
    }

    // One untimed run each warms the page cache and gives the finding counts.
    step("warm-up runs (untimed; outputs kept in target/bench/out/)");
    let out_dir = bench_dir.join("out");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let rollgate_json = capture_stdout(&subjects[0], &bench_dir, &out_dir.join("rollgate.json"))?;
    let squawk_json = capture_stdout(&subjects[1], &bench_dir, &out_dir.join("squawk.json"))?;
    let rollgate_counts = RollgateSummary::parse(&rollgate_json)?;
    // squawk's JSON reporter prints one object per violation, each with a `rule_name`.
    let squawk_violations = squawk_json.matches("\"rule_name\":").count();
    for subject in &subjects[2..] {
        capture_stdout(subject, &bench_dir, Path::new("/dev/null"))?;
    }

    step(&format!(
        "timed runs: {} x {} commands, round-robin",
        args.runs,
        subjects.len()
    ));
    let rss_file = bench_dir.join("out/time.txt");
    let mut samples: Vec<Vec<Sample>> = subjects.iter().map(|_| Vec::new()).collect();
    for run in 0..args.runs {
        // Start each round with a different command, so on a noisy machine no
        // command is always first (or always right after the same neighbour).
        for offset in 0..subjects.len() {
            let index = (run + offset) % subjects.len();
            let sample = measure(
                &subjects[index],
                &bench_dir,
                time_program.as_deref(),
                &rss_file,
            )?;
            samples[index].push(sample);
        }
    }

    let stats: Vec<Stats> = samples.iter().map(|s| Stats::of(s)).collect();
    let report = Report {
        args,
        workspace: &workspace,
        bench_dir: &bench_dir,
        corpus: &corpus,
        small_corpus: small_corpus.as_ref(),
        squawk: &squawk,
        subjects: &subjects,
        stats: &stats,
        rollgate_counts: &rollgate_counts,
        squawk_violations,
        measured_rss: time_program.is_some(),
    };
    report.print();
    Ok(())
}

/// One command under measurement.
struct Subject {
    label: String,
    program: PathBuf,
    args: Vec<String>,
    ok_exit_codes: &'static [i32],
}

impl Subject {
    fn rollgate(label: &str, program: &Path, template: &str, glob: &str) -> Subject {
        let args = [
            "lint",
            "--template",
            template,
            "--format",
            "json",
            "--fail-on",
            "never",
            "--file-pattern",
            glob,
        ];
        Subject {
            label: label.to_string(),
            program: program.to_path_buf(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            ok_exit_codes: &[0],
        }
    }

    fn check_status(&self, status: ExitStatus, stderr: &[u8]) -> Result<()> {
        if status
            .code()
            .is_some_and(|code| self.ok_exit_codes.contains(&code))
        {
            return Ok(());
        }
        bail!(
            "`{}` failed ({status}):\n{}",
            self.label,
            String::from_utf8_lossy(stderr).trim_end()
        )
    }
}

struct Sample {
    wall: Duration,
    peak_rss_kib: Option<u64>,
}

/// Runs `subject` once with stdout discarded. Wall time is measured here (GNU
/// time's `%e` only has 10 ms resolution); peak RSS comes from GNU time's `%M`,
/// the child's `ru_maxrss`, when GNU time is available.
fn measure(
    subject: &Subject,
    cwd: &Path,
    time_program: Option<&Path>,
    rss_file: &Path,
) -> Result<Sample> {
    let mut command = match time_program {
        Some(time) => {
            let mut command = Command::new(time);
            command
                .arg("-o")
                .arg(rss_file)
                .args(["-f", "%M"])
                .arg(&subject.program);
            command
        }
        None => Command::new(&subject.program),
    };
    command
        .args(&subject.args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let start = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", subject.program.display()))?;
    let wall = start.elapsed();
    subject.check_status(output.status, &output.stderr)?;
    let peak_rss_kib = match time_program {
        Some(_) => Some(read_peak_rss(rss_file)?),
        None => None,
    };
    Ok(Sample { wall, peak_rss_kib })
}

/// GNU time writes `%M` on the last line; a line before it says "Command
/// exited with non-zero status N" when the command failed (squawk, by design).
fn read_peak_rss(path: &Path) -> Result<u64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let last = text
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    last.trim()
        .parse()
        .with_context(|| format!("unexpected GNU time output in {}: {text:?}", path.display()))
}

/// Runs `subject` once, keeps its stdout in `keep_as` and returns it.
fn capture_stdout(subject: &Subject, cwd: &Path, keep_as: &Path) -> Result<String> {
    let output = Command::new(&subject.program)
        .args(&subject.args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", subject.program.display()))?;
    subject.check_status(output.status, &output.stderr)?;
    std::fs::write(keep_as, &output.stdout)
        .with_context(|| format!("cannot write {}", keep_as.display()))?;
    String::from_utf8(output.stdout)
        .with_context(|| format!("`{}` printed non-UTF-8 output", subject.label))
}

/// The totals at the end of `rollgate lint --format json`.
struct RollgateSummary {
    statements: u64,
    errors: u64,
    warnings: u64,
}

impl RollgateSummary {
    fn parse(json: &str) -> Result<RollgateSummary> {
        let summary = json
            .rfind("\"summary\"")
            .map(|at| &json[at..])
            .context("rollgate's JSON has no summary")?;
        let field = |key: &str| {
            json_number(summary, key)
                .with_context(|| format!("rollgate's JSON summary has no `{key}`"))
        };
        Ok(RollgateSummary {
            statements: field("statements")?,
            errors: field("errors")?,
            warnings: field("warnings")?,
        })
    }
}

/// A generated corpus: a directory of `NNNNNN_<verb>_<table>.sql` files
/// directly under target/bench, plus the generator's MANIFEST.json.
pub(crate) struct Corpus {
    /// The directory's name inside target/bench, e.g. `corpus`.
    name: String,
    files: usize,
    statements: u64,
    bytes: u64,
    generate_command: String,
}

/// Generates the corpus unless the directory already holds one with the same
/// file count and seed. A directory with other parameters is deleted first:
/// the generator does not remove files, so a smaller corpus written over a
/// larger one would keep the extra files.
pub(crate) fn ensure_corpus(
    generator: &Path,
    bench_dir: &Path,
    name: &str,
    files: usize,
    seed: u64,
) -> Result<Corpus> {
    let dir = bench_dir.join(name);
    let manifest_path = dir.join("MANIFEST.json");
    let args = [
        generator.display().to_string(),
        "--out".into(),
        dir.display().to_string(),
        "--files".into(),
        files.to_string(),
        "--seed".into(),
        seed.to_string(),
    ];
    let generate_command = shell_words("python3", &args);

    let matches = |manifest: &str| {
        json_number(manifest, "files") == Some(files as u64)
            && json_number(manifest, "seed") == Some(seed)
    };
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(manifest) if matches(&manifest) => manifest,
        _ => {
            step(&format!("generating {name}: {files} files, seed {seed}"));
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove stale {}", dir.display()))?;
            }
            run_to_completion(Command::new("python3").args(&args).stdout(Stdio::null()))
                .context("cannot generate the corpus (is python3 installed?)")?;
            std::fs::read_to_string(&manifest_path)
                .with_context(|| format!("cannot read {}", manifest_path.display()))?
        }
    };
    Ok(Corpus {
        name: name.to_string(),
        files,
        statements: json_number(&manifest, "statements").unwrap_or(0),
        bytes: json_number(&manifest, "bytes").unwrap_or(0),
        generate_command,
    })
}

struct Squawk {
    program: PathBuf,
    version: String,
    /// Set when the prebuilt binary was not found and the Node wrapper is used.
    via_node_wrapper: bool,
}

/// Installs squawk-cli from npm into target/bench/squawk (once) and returns
/// its binary.
///
/// The package's `.bin/squawk` is a Node script that only spawns the prebuilt
/// binary from the platform package (`@squawk-cli/linux-x64/bin/squawk`).
/// Timing the script would add Node's startup time and memory to squawk's
/// numbers, so the binary is run directly when it can be found.
fn ensure_squawk(bench_dir: &Path) -> Result<Squawk> {
    let prefix = bench_dir.join("squawk");
    let wrapper = prefix.join("node_modules/.bin/squawk");
    if !wrapper.exists() {
        step("installing squawk-cli from npm into target/bench/squawk");
        run_to_completion(
            Command::new("npm")
                .arg("install")
                .arg("--prefix")
                .arg(&prefix)
                .arg("squawk-cli"),
        )
        .context("cannot install squawk-cli (is npm installed and the registry reachable?)")?;
    }
    let native = std::fs::read_dir(prefix.join("node_modules/@squawk-cli"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|platform| platform.path().join("bin/squawk"))
        .find(|binary| binary.is_file());
    let via_node_wrapper = native.is_none();
    let program = native.unwrap_or(wrapper);

    let output = Command::new(&program)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !output.status.success() {
        bail!(
            "`{} --version` failed ({}): {}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    // `squawk --version` prints `squawk 2.66.0`.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let version = stdout
        .trim()
        .trim_start_matches("squawk")
        .trim()
        .to_string();
    Ok(Squawk {
        program,
        version,
        via_node_wrapper,
    })
}

/// GNU time, if it is installed and understands `-o` and `-f` (busybox's does not).
fn find_gnu_time() -> Option<PathBuf> {
    let time = PathBuf::from("/usr/bin/time");
    let works = Command::new(&time)
        .args(["-o", "/dev/null", "-f", "%M", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    works.then_some(time)
}

/// Median, minimum and maximum of one command's samples.
struct Stats {
    median_wall: f64,
    min_wall: f64,
    max_wall: f64,
    median_rss_kib: Option<f64>,
}

impl Stats {
    fn of(samples: &[Sample]) -> Stats {
        let walls: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64()).collect();
        let rss: Option<Vec<f64>> = samples
            .iter()
            .map(|s| s.peak_rss_kib.map(|kib| kib as f64))
            .collect();
        Stats {
            median_wall: median(&walls),
            min_wall: walls.iter().copied().fold(f64::INFINITY, f64::min),
            max_wall: walls.iter().copied().fold(0.0, f64::max),
            median_rss_kib: rss.map(|rss| median(&rss)),
        }
    }
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

/// Everything `print` needs; the subjects are, in order: rollgate, squawk,
/// rollgate without rules, and (optional) rollgate on the small corpus.
struct Report<'a> {
    args: &'a BenchArgs,
    workspace: &'a Path,
    bench_dir: &'a Path,
    corpus: &'a Corpus,
    small_corpus: Option<&'a Corpus>,
    squawk: &'a Squawk,
    subjects: &'a [Subject],
    stats: &'a [Stats],
    rollgate_counts: &'a RollgateSummary,
    squawk_violations: usize,
    measured_rss: bool,
}

impl Report<'_> {
    fn print(&self) {
        let (rollgate, squawk, no_rules) = (&self.stats[0], &self.stats[1], &self.stats[2]);
        let corpus = self.corpus;
        let relative = |path: &Path| {
            path.strip_prefix(self.workspace)
                .unwrap_or(path)
                .display()
                .to_string()
        };

        println!();
        println!("== bench-lint: rollgate vs squawk ==");
        println!("date:     {}", utc_date());
        println!("machine:  {}", machine_info());
        let revision = git_revision(self.workspace);
        let dirty_note = if revision.ends_with("+dirty") {
            " (built with uncommitted changes)"
        } else {
            ""
        };
        println!("rollgate: commit {revision}{dirty_note}");
        println!(
            "corpus:   {} files, {} statements, {} bytes (seed {}), in {}/{}",
            corpus.files,
            corpus.statements,
            corpus.bytes,
            self.args.seed,
            relative(self.bench_dir),
            corpus.name
        );
        println!("          generated by: {}", corpus.generate_command);
        let wrapper_note = if self.squawk.via_node_wrapper {
            " (Node wrapper: includes Node startup)"
        } else {
            ""
        };
        println!(
            "squawk:   {} at {}{wrapper_note}",
            self.squawk.version,
            relative(&self.squawk.program)
        );
        println!(
            "runs:     {} per command, round-robin order, after one untimed warm-up; stdout to /dev/null",
            self.args.runs
        );
        println!();
        println!("commands (run from {}):", relative(self.bench_dir));
        for subject in self.subjects {
            println!(
                "  {:<26} {}",
                subject.label,
                shell_words(&relative(&subject.program), &subject.args)
            );
        }
        println!();
        println!(
            "{:<28} {:>12} {:>19} {:>14}",
            "command", "median wall", "min .. max", "peak RSS"
        );
        for (subject, stats) in self.subjects.iter().zip(self.stats) {
            println!(
                "{:<28} {:>10.3} s {:>8.3} .. {:.3} s {:>14}",
                subject.label,
                stats.median_wall,
                stats.min_wall,
                stats.max_wall,
                format_rss(stats.median_rss_kib)
            );
        }
        println!();
        let ratio = rollgate.median_wall / squawk.median_wall;
        println!(
            "ratio rollgate/squawk (median wall): {ratio:.2}x  (> 1 means rollgate is slower)"
        );
        println!(
            "rules' share of rollgate's time: {:.3} s of {:.3} s (advanced minus --template none)",
            rollgate.median_wall - no_rules.median_wall,
            rollgate.median_wall
        );
        let counts = self.rollgate_counts;
        println!(
            "findings: rollgate {} advices ({} errors, {} warnings) over {} statements; squawk {} violations",
            counts.errors + counts.warnings,
            counts.errors,
            counts.warnings,
            counts.statements,
            self.squawk_violations
        );
        if let (Some(small), Some(small_stats)) = (self.small_corpus, self.stats.get(3)) {
            let growth = match (small_stats.median_rss_kib, rollgate.median_rss_kib) {
                (Some(small_rss), Some(large_rss)) => {
                    format!("  ({:+.1} MiB)", (large_rss - small_rss) / 1024.0)
                }
                _ => String::new(),
            };
            println!(
                "memory growth (rollgate, peak RSS): {} files {} -> {} files {}{growth}",
                small.files,
                format_rss(small_stats.median_rss_kib),
                corpus.files,
                format_rss(rollgate.median_rss_kib)
            );
        }
        if !self.measured_rss {
            println!("peak RSS: n/a (GNU time not available)");
        }
        println!();
        println!(
            "BENCHMARKS.md row (date | commit | files | rollgate | squawk | ratio | RSS rollgate | RSS squawk | squawk version):"
        );
        println!(
            "| {} | {} | {} | {:.3} s | {:.3} s | {ratio:.2}x | {} | {} | {} |",
            utc_date(),
            revision,
            corpus.files,
            rollgate.median_wall,
            squawk.median_wall,
            format_rss(rollgate.median_rss_kib),
            format_rss(squawk.median_rss_kib),
            self.squawk.version,
        );
    }
}

fn format_rss(kib: Option<f64>) -> String {
    match kib {
        Some(kib) => format!("{:.1} MiB", kib / 1024.0),
        None => "n/a".to_string(),
    }
}

fn machine_info() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or_else(
            || "unknown memory".to_string(),
            |kib| format!("{:.1} GiB RAM", kib / 1024.0 / 1024.0),
        );
    format!(
        "{cpus} CPUs (nproc), {model}, {memory}, {}",
        std::env::consts::OS
    )
}

/// The commit rollgate was built from, with `+dirty` when the working tree
/// had uncommitted changes (which the release build includes).
fn git_revision(workspace: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    match (
        git(&["rev-parse", "--short", "HEAD"]),
        git(&["status", "--porcelain"]),
    ) {
        (Some(commit), Some(status)) if status.is_empty() => commit,
        (Some(commit), Some(_)) => format!("{commit}+dirty"),
        _ => "unknown".to_string(),
    }
}

fn utc_date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or_else(
            || "unknown date".to_string(),
            |output| String::from_utf8_lossy(&output.stdout).trim().to_string(),
        )
}

/// The first number after `"key":` in a JSON text; enough for the flat
/// summaries read here without pulling in a JSON parser.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let needle = format!("\"{key}\":");
    let after = &json[json.find(&needle)? + needle.len()..];
    let digits: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A command line as it would be typed in a shell, quoting what needs it.
fn shell_words(program: &str, args: &[String]) -> String {
    let quote = |word: &str| {
        let plain = word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+%@".contains(c));
        if plain && !word.is_empty() {
            word.to_string()
        } else {
            format!("'{}'", word.replace('\'', r"'\''"))
        }
    };
    std::iter::once(quote(program))
        .chain(args.iter().map(|arg| quote(arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a setup command with inherited output and fails if it fails.
pub(crate) fn run_to_completion(command: &mut Command) -> Result<()> {
    let description = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {description}"))?;
    if !status.success() {
        bail!("{description} failed ({status})");
    }
    Ok(())
}

fn step(message: &str) {
    eprintln!("bench-lint: {message}");
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub(crate) fn target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}
