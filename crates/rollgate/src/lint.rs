//! `rollgate lint`: discover, load, review and render, with no server.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use rollgate_migration::Discovery;
use rollgate_report::{Format, RenderOptions, Renderer};
use rollgate_review::policy::{Policy, ReviewConfig, Template};
use rollgate_review::{Level, Reviewer};
use rollgate_sql::catalog::Catalog;

use crate::cli::{FailOn, FormatArg, LintArgs, TemplateArg};
use crate::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};

/// Files parsed in parallel at a time; bounds the syntax trees in memory.
const BATCH: usize = 64;

pub fn run(args: LintArgs) -> Result<u8> {
    let policy = policy(&args)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;

    // Explicit paths may be any subset of the history, so objects they do
    // not create may still exist; a discovered history is complete.
    let (discovery, complete) = if args.paths.is_empty() {
        (
            rollgate_migration::discover(&cwd, &args.file_pattern)?,
            true,
        )
    } else {
        (rollgate_migration::expand_paths(&args.paths)?, false)
    };
    let Discovery { files, warnings } = discovery;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }

    let format = match args.format {
        FormatArg::Human => Format::Human,
        FormatArg::Json => Format::Json,
        FormatArg::Gitlab => Format::Gitlab,
        FormatArg::Github => Format::Github,
        FormatArg::Sarif => Format::Sarif,
        FormatArg::Junit => Format::Junit,
    };
    let options = RenderOptions {
        color: use_color(),
        tool_version: env!("CARGO_PKG_VERSION"),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut renderer = Renderer::new(format, &options, &mut out)?;

    let keep_source = format == Format::Human;
    let mut reviewer = Reviewer::new(
        &policy,
        Catalog {
            complete,
            ..Catalog::default()
        },
    );
    // The first write error; once set, nothing more is rendered or loaded.
    // An atomic because the next batch loads on another thread.
    let mut render_error: Option<std::io::Error> = None;
    let stopped = AtomicBool::new(false);
    let mut load_failed = false;
    let batches = files.chunks(BATCH).map_while(|chunk| {
        if stopped.load(Ordering::Relaxed) {
            return None;
        }
        let mut batch = Vec::with_capacity(chunk.len());
        for file in chunk {
            match rollgate_migration::load(
                &file.path,
                &display_path(&file.path, &file.display, &cwd),
            ) {
                Ok(loaded) => batch.push(loaded),
                Err(error) => {
                    eprintln!("error: {error}");
                    load_failed = true;
                }
            }
        }
        Some(batch)
    });
    // Each report is rendered as it comes and dropped, so memory does not
    // grow with the number of files.
    reviewer.review_stream(batches, |mut report| {
        if render_error.is_some() {
            return;
        }
        // Only code frames need the text, and only for files with advice.
        if !keep_source || report.advices.is_empty() {
            report.source = None;
        }
        if let Err(error) = renderer.file(&report) {
            stopped.store(true, Ordering::Relaxed);
            render_error = Some(error);
        }
    });
    if let Some(error) = render_error {
        return Err(error.into());
    }
    let summary = renderer.finish()?;
    out.flush()?;

    let worst = if summary.errors > 0 {
        Some(Level::Error)
    } else if summary.warnings > 0 {
        Some(Level::Warning)
    } else {
        None
    };
    if load_failed {
        return Ok(EXIT_USAGE);
    }
    let failed = match (args.fail_on, worst) {
        (FailOn::Never, _) | (_, None) => false,
        (FailOn::Warning, Some(_)) => true,
        (FailOn::Error, Some(level)) => level == Level::Error,
    };
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}

/// The policy from `--config` (or `./rollgate.toml`) and the flags.
fn policy(args: &LintArgs) -> Result<Policy> {
    let (path, required) = match &args.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from("rollgate.toml"), false),
    };
    let mut config = match std::fs::read_to_string(&path) {
        Ok(text) => rollgate_review::parse_config(&text)
            .with_context(|| format!("invalid configuration in {}", path.display()))?,
        Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
            ReviewConfig::default()
        }
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot read configuration file {}", path.display()));
        }
    };
    if let Some(template) = args.template {
        config.template = Some(match template {
            TemplateArg::Sample => Template::Sample,
            TemplateArg::Basic => Template::Basic,
            TemplateArg::Advanced => Template::Advanced,
            TemplateArg::None => Template::None,
        });
    }
    if args.engine.is_some() {
        config.engine = Some("postgres".into());
    }
    Policy::resolve(&config).with_context(|| format!("invalid configuration in {}", path.display()))
}

/// Paths in reports are relative to the current directory when possible.
fn display_path(path: &Path, display: &str, cwd: &Path) -> String {
    match path.strip_prefix(cwd) {
        Ok(relative) => relative.to_string_lossy().replace('\\', "/"),
        Err(_) => display.to_string(),
    }
}

/// Colour on a terminal, unless `NO_COLOR` is set; `CLICOLOR_FORCE` forces it.
fn use_color() -> bool {
    if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}
