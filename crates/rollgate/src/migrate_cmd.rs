//! `rollgate migrate`, `status`, `baseline` and `history repair`.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::Result;
use rollgate_engine::any::AnyEngine;
use rollgate_engine::{
    ApplyFile, ApplyOptions, Engine, EngineKind, NewRecord, Progress, RecordKind, RecordStatus,
    TargetUrl,
};
use rollgate_migration::{FileState, MigrationFile, PlanOptions, Version};
use rollgate_sql::StatementKind;
use rollgate_sql::text::LineIndex;

use crate::cli::{BaselineArgs, MigrateArgs, RepairArgs, StatusArgs, StatusFormat};
use crate::db::{self, engine_error, refused, usage};
use crate::{EXIT_FINDINGS, EXIT_OK};

pub fn migrate(args: MigrateArgs) -> Result<u8> {
    let urls: Vec<TargetUrl> = args
        .db
        .database_url
        .iter()
        .map(|u| db::parse_url(u))
        .collect::<Result<_>>()?;
    let files = db::load_files(&std::env::current_dir()?, &args.db.file_pattern)?;
    let options = PlanOptions {
        allow_out_of_order: args.allow_out_of_order,
        target_version: args
            .target_version
            .as_deref()
            .map(parse_version)
            .transpose()?,
    };
    let runtime = db::runtime()?;
    if urls.len() == 1 {
        return runtime.block_on(migrate_one(&urls[0], &files, &args, &options, ""));
    }
    // Fan-out: databases in parallel, at most `--concurrency` at a time;
    // each one succeeds or fails on its own.
    runtime.block_on(async {
        let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
        let files = std::sync::Arc::new(files);
        let args = std::sync::Arc::new(args);
        let options = std::sync::Arc::new(options);
        let mut tasks = tokio::task::JoinSet::new();
        for url in urls {
            let (semaphore, files, args, options) = (
                semaphore.clone(),
                files.clone(),
                args.clone(),
                options.clone(),
            );
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let prefix = format!("[{}] ", url.redacted());
                let result = migrate_one(&url, &files, &args, &options, &prefix).await;
                (prefix, result)
            });
        }
        let mut worst = EXIT_OK;
        while let Some(joined) = tasks.join_next().await {
            let (prefix, result) = joined?;
            let code = match result {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("{prefix}error: {error:#}");
                    exit_code(&error)
                }
            };
            worst = worst.max(code);
        }
        Ok(worst)
    })
}

fn exit_code(error: &anyhow::Error) -> u8 {
    error
        .downcast_ref::<db::Exit>()
        .map_or(crate::EXIT_USAGE, |e| e.code)
}

fn parse_version(text: &str) -> Result<Version> {
    Version::parse(text).map_err(|e| usage(format!("--target-version {text}: {e}")))
}

async fn migrate_one(
    url: &TargetUrl,
    files: &[MigrationFile],
    args: &MigrateArgs,
    options: &PlanOptions,
    prefix: &str,
) -> Result<u8> {
    let mut engine = db::connect(url, args.db.history_schema.as_deref()).await?;
    engine.lock(args.lock_timeout).await.map_err(engine_error)?;
    let result = run_locked(&mut engine, url, files, args, options, prefix).await;
    // The lock is also released when the connection closes; unlocking
    // explicitly keeps a long-lived connection (the server's) usable.
    let _ = engine.unlock().await;
    result
}

async fn run_locked(
    engine: &mut AnyEngine,
    url: &TargetUrl,
    files: &[MigrationFile],
    args: &MigrateArgs,
    options: &PlanOptions,
    prefix: &str,
) -> Result<u8> {
    let kind = engine.kind();
    let history = engine.history().await.map_err(engine_error)?;
    let records = db::applied_records(&history);
    let statement_texts = |file: &MigrationFile| {
        db::statements(kind, file)
            .into_iter()
            .map(|s| s.text)
            .collect()
    };
    let plan =
        rollgate_migration::plan(files, &records, &statement_texts, options).map_err(|errors| {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("{prefix}{}", e.message(url.redacted())))
                .collect();
            refused(format!(
                "refusing to migrate {}:\n{}",
                url.redacted(),
                lines.join("\n")
            ))
        })?;
    let steps: Vec<(&MigrationFile, ApplyFile)> = plan
        .steps
        .iter()
        .map(|step| {
            (
                &files[step.file_index],
                db::apply_file(kind, &files[step.file_index], step.resume_from),
            )
        })
        .collect();

    // Refuse before anything runs: a file that cannot run in a transaction
    // must say so.
    if kind == EngineKind::Postgres {
        let mut problems = Vec::new();
        for (file, _) in &steps {
            if let Some((line, what)) = needs_no_transaction(file) {
                problems.push(format!(
                    "{prefix}{}:{line}: {what} cannot run inside a transaction; add `-- rollgate:no-transaction` at the top of the file (and keep such statements in a file of their own)",
                    file.path
                ));
            }
        }
        if !problems.is_empty() {
            return Err(refused(format!(
                "refusing to migrate {}:\n{}",
                url.redacted(),
                problems.join("\n")
            )));
        }
    }

    let mut out = std::io::stdout();
    if steps.is_empty() {
        // Count what the history says is applied, not the files found: with
        // --target-version, later files are still pending.
        let applied = rollgate_migration::status(files, &records)
            .iter()
            .filter(|s| matches!(s.state, FileState::Applied | FileState::Baseline))
            .count();
        let pending = files.len().saturating_sub(applied);
        let beyond = match (&options.target_version, pending) {
            (Some(target), 1..) => format!(
                ", {pending} pending above --target-version {}",
                target.as_str()
            ),
            _ => String::new(),
        };
        writeln!(
            out,
            "{prefix}{}: up to date ({applied} applied{beyond})",
            url.redacted(),
        )?;
        return Ok(EXIT_OK);
    }
    if args.dry_run {
        writeln!(
            out,
            "{prefix}dry run on {}: {} file(s) would be applied, in this order:",
            url.redacted(),
            steps.len()
        )?;
        for (_, apply) in &steps {
            let resume = if apply.resume_from > 0 {
                format!(" (resuming at statement {})", apply.resume_from + 1)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{prefix}-- {} (version {}){resume}",
                apply.file_name, apply.version
            )?;
            for statement in apply.statements.iter().skip(apply.resume_from) {
                writeln!(out, "{}{};", prefix, statement.text)?;
            }
        }
        if kind.transactional_ddl() {
            let transactional: Vec<ApplyFile> = steps
                .iter()
                .map(|(_, a)| a.clone())
                .filter(|a| !a.no_transaction)
                .collect();
            engine.dry_run(&transactional).await.map_err(engine_error)?;
            let skipped = steps.len() - transactional.len();
            if skipped == 0 {
                writeln!(
                    out,
                    "{prefix}dry run: every statement ran and was rolled back; nothing was changed"
                )?;
            } else {
                // A no-transaction file cannot be rolled back, so it is only
                // printed; do not claim it was checked.
                writeln!(
                    out,
                    "{prefix}dry run: the statements of {} file(s) ran and were rolled back; {skipped} `-- rollgate:no-transaction` file(s) were not executed; nothing was changed",
                    transactional.len()
                )?;
            }
        } else {
            writeln!(
                out,
                "{prefix}dry run: {} cannot roll back DDL, so nothing was executed",
                kind.as_str()
            )?;
        }
        return Ok(EXIT_OK);
    }

    let apply_options = ApplyOptions {
        lock_timeout: args.ddl_lock_timeout,
        ..ApplyOptions::default()
    };
    let tty = std::io::stdout().is_terminal() && prefix.is_empty();
    let started = Instant::now();
    for (_, apply) in &steps {
        if tty {
            write!(out, "applying {} ...", apply.file_name)?;
            out.flush()?;
        }
        let name = apply.file_name.clone();
        let mut progress = |event: Progress| {
            if let Progress::LockRetry {
                index,
                attempt,
                wait,
                blocked_by,
            } = event
            {
                eprintln!(
                    "{prefix}{name}: statement {} hit the lock timeout; retry {attempt} in {}{}",
                    index + 1,
                    db::format_duration(wait),
                    blocked_by
                        .map(|b| format!(" (blocked by {b})"))
                        .unwrap_or_default()
                );
            }
        };
        match engine.apply(apply, &apply_options, &mut progress).await {
            Ok(applied) => {
                let line = format!(
                    "{prefix}applied {} ({} statement{}) in {}",
                    apply.file_name,
                    applied.statements,
                    if applied.statements == 1 { "" } else { "s" },
                    db::format_duration(applied.duration)
                );
                if tty {
                    write!(out, "\r\x1b[2K")?;
                }
                writeln!(out, "{line}")?;
            }
            Err(error) => {
                if tty {
                    writeln!(out)?;
                }
                return Err(refused(format!(
                    "{prefix}migration of {} stopped: {error}\n{prefix}files before it stay applied; fix the file and run `rollgate migrate` again",
                    url.redacted()
                )));
            }
        }
        if options
            .target_version
            .as_ref()
            .is_some_and(|t| Version::parse(&apply.version).is_ok_and(|v| &v >= t))
        {
            break;
        }
    }
    writeln!(
        out,
        "{prefix}{}: {} file(s) applied in {}",
        url.redacted(),
        steps.len(),
        db::format_duration(started.elapsed())
    )?;
    Ok(EXIT_OK)
}

/// The first statement that PostgreSQL refuses inside a transaction block,
/// with its line, when the file lacks `no-transaction`.
fn needs_no_transaction(file: &MigrationFile) -> Option<(u32, &'static str)> {
    if file.directives.no_transaction {
        return None;
    }
    let parsed = rollgate_sql::parse(rollgate_sql::Dialect::Postgres, &file.text);
    let lines = LineIndex::new(&file.text);
    parsed.statements.iter().find_map(|statement| {
        let what = match &statement.kind {
            StatementKind::CreateIndex(index) if index.concurrently => "CREATE INDEX CONCURRENTLY",
            StatementKind::DropIndex(index) if index.concurrently => "DROP INDEX CONCURRENTLY",
            StatementKind::Reindex {
                concurrently: true, ..
            } => "REINDEX CONCURRENTLY",
            StatementKind::Vacuum { .. } => "VACUUM",
            StatementKind::CreateDatabase { .. } => "CREATE DATABASE",
            StatementKind::DropDatabase { .. } => "DROP DATABASE",
            StatementKind::RefreshMaterializedView {
                concurrently: true, ..
            } => return None,
            StatementKind::AlterTable(alter)
                if alter.actions.iter().any(|a| {
                    matches!(
                        a.kind,
                        rollgate_sql::ast::AlterTableActionKind::DetachPartition {
                            concurrently: true,
                            ..
                        }
                    )
                }) =>
            {
                "DETACH PARTITION CONCURRENTLY"
            }
            StatementKind::Other(other) if other.keyword.starts_with("ALTER SYSTEM") => {
                "ALTER SYSTEM"
            }
            _ => return None,
        };
        Some((lines.line_col(&file.text, statement.span.start).0, what))
    })
}

pub fn status(args: StatusArgs) -> Result<u8> {
    let url = db::single_url(&args.db.database_url)?;
    let files = db::load_files(&std::env::current_dir()?, &args.db.file_pattern)?;
    let runtime = db::runtime()?;
    runtime.block_on(async {
        let mut engine = db::connect(&url, args.db.history_schema.as_deref()).await?;
        let history = engine.history().await.map_err(engine_error)?;
        let statuses = rollgate_migration::status(&files, &db::applied_records(&history));
        let mut out = std::io::stdout();
        match args.format {
            StatusFormat::Json => {
                let json: Vec<_> = statuses
                    .iter()
                    .map(|s| {
                        let (state, detail) = state_text(&s.state);
                        serde_json::json!({"version": s.version.as_str(), "file": s.file_name, "state": state, "detail": detail})
                    })
                    .collect();
                // Serialize first: an io::Error from `writeln!` is what main
                // recognises as a closed pipe (`| head`); serde_json's own
                // error would hide it.
                let text = serde_json::to_string_pretty(&serde_json::json!({"database": url.redacted(), "files": json}))?;
                writeln!(out, "{text}")?;
            }
            StatusFormat::Human => {
                writeln!(out, "{}", url.redacted())?;
                for s in &statuses {
                    let (state, detail) = state_text(&s.state);
                    writeln!(out, "  {:<12} {:<16} {}{}", state, s.version.as_str(), s.file_name, if detail.is_empty() { String::new() } else { format!("  ({detail})") })?;
                }
            }
        }
        let problem = statuses.iter().any(|s| {
            matches!(s.state, FileState::Modified { .. } | FileState::OutOfOrder { .. } | FileState::Failed { .. } | FileState::Running { .. })
        });
        Ok(if problem { EXIT_FINDINGS } else { EXIT_OK })
    })
}

fn state_text(state: &FileState) -> (&'static str, String) {
    match state {
        FileState::Applied => ("applied", String::new()),
        FileState::Baseline => ("baseline", String::new()),
        FileState::Pending => ("pending", String::new()),
        FileState::Modified { stored, current } => {
            ("modified", format!("stored {stored}, file {current}"))
        }
        FileState::OutOfOrder { latest_applied } => (
            "out-of-order",
            format!("lower than applied {}", latest_applied.as_str()),
        ),
        // Engines already record the error as "failed at statement k of
        // n: …"; say where only when the stored error does not.
        FileState::Failed { error, .. } if error.starts_with("failed at statement") => {
            ("failed", error.clone())
        }
        FileState::Failed {
            statements_done,
            statements_total,
            error,
        } => (
            "failed",
            format!(
                "failed at statement {} of {statements_total}: {error}",
                statements_done + 1
            ),
        ),
        FileState::Running {
            statements_done,
            statements_total,
        } => (
            "running",
            format!(
                "at statement {} of {statements_total}: in progress, or the runner died there",
                statements_done + 1
            ),
        ),
        FileState::Missing => ("missing", "applied, but the file is gone".to_string()),
    }
}

pub fn baseline(args: BaselineArgs) -> Result<u8> {
    let url = db::single_url(&args.db.database_url)?;
    let files = db::load_files(&std::env::current_dir()?, &args.db.file_pattern)?;
    let up_to = parse_version(&args.version)?;
    let runtime = db::runtime()?;
    runtime.block_on(async {
        let mut engine = db::connect(&url, args.db.history_schema.as_deref()).await?;
        engine.lock(args.lock_timeout).await.map_err(engine_error)?;
        let history = engine.history().await.map_err(engine_error)?;
        let indexes =
            rollgate_migration::baseline_versions(&files, &db::applied_records(&history), &up_to);
        for index in &indexes {
            let file = &files[*index];
            engine
                .record(&NewRecord {
                    version: file
                        .version
                        .as_ref()
                        .map(|v| v.as_str().to_string())
                        .unwrap_or_default(),
                    file_name: file.path.clone(),
                    change_type: file.change_type.as_str().to_string(),
                    kind: RecordKind::Baseline,
                    checksum: file.checksum.as_str().to_string(),
                    status: RecordStatus::Succeeded,
                    applied_by: None,
                    note: Some(format!("baseline up to {}", up_to.as_str())),
                })
                .await
                .map_err(engine_error)?;
            println!("baselined {}", file.path);
        }
        let _ = engine.unlock().await;
        println!(
            "{}: {} file(s) marked applied up to version {}",
            url.redacted(),
            indexes.len(),
            up_to.as_str()
        );
        Ok(EXIT_OK)
    })
}

pub fn repair(args: RepairArgs) -> Result<u8> {
    let url = db::single_url(&args.db.database_url)?;
    let files = db::load_files(&std::env::current_dir()?, &args.db.file_pattern)?;
    let version = parse_version(&args.version)?;
    let runtime = db::runtime()?;
    runtime.block_on(async {
        let mut engine = db::connect(&url, args.db.history_schema.as_deref()).await?;
        engine.lock(args.lock_timeout).await.map_err(engine_error)?;
        let history = engine.history().await.map_err(engine_error)?;
        let statuses = rollgate_migration::status(&files, &db::applied_records(&history));
        let Some(status) = statuses.iter().find(|s| s.version == version) else {
            return Err(usage(format!(
                "no migration file or history row has version {}",
                version.as_str()
            )));
        };
        let file = files.iter().find(|f| f.version.as_ref() == Some(&version));
        let (status_to_record, checksum, what) = match (&status.state, file) {
            (FileState::Modified { .. }, Some(file)) => (
                RecordStatus::Succeeded,
                file.checksum.as_str().to_string(),
                "accepted the new checksum of",
            ),
            (FileState::Failed { .. } | FileState::Running { .. }, _) => (
                RecordStatus::Cleared,
                file.map(|f| f.checksum.as_str().to_string())
                    .unwrap_or_default(),
                "cleared the failed run of",
            ),
            (state, _) => {
                let (name, _) = state_text(state);
                println!("version {} is {name}: nothing to repair", version.as_str());
                let _ = engine.unlock().await;
                return Ok(EXIT_OK);
            }
        };
        engine
            .record(&NewRecord {
                version: version.as_str().to_string(),
                file_name: status.file_name.clone(),
                change_type: file.map_or("DDL", |f| f.change_type.as_str()).to_string(),
                kind: RecordKind::Repair,
                checksum,
                status: status_to_record,
                applied_by: None,
                note: args.note.clone().or_else(|| {
                    Some(format!(
                        "rollgate history repair --version {}",
                        version.as_str()
                    ))
                }),
            })
            .await
            .map_err(engine_error)?;
        let _ = engine.unlock().await;
        println!(
            "{what} {} (version {}); the history table records this repair",
            status.file_name,
            version.as_str()
        );
        Ok(EXIT_OK)
    })
}
