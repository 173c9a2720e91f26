//! `rollgate schema dump` and `rollgate drift`.

use std::io::Write;

use anyhow::Result;
use rollgate_engine::Engine;
use rollgate_engine::drift::{self, DriftError};
use rollgate_migration::FileState;

use crate::cli::{DriftArgs, DumpFormat, SchemaDumpArgs};
use crate::db::{self, engine_error, refused};
use crate::{EXIT_FINDINGS, EXIT_OK};

pub fn dump(args: SchemaDumpArgs) -> Result<u8> {
    let url = db::parse_url(&args.database_url)?;
    db::runtime()?.block_on(async {
        let mut engine = db::connect(&url, args.history_schema.as_deref()).await?;
        let snapshot = engine.dump_schema().await.map_err(engine_error)?;
        let mut out = std::io::stdout();
        match args.format {
            DumpFormat::Text => out.write_all(snapshot.to_text().as_bytes())?,
            DumpFormat::Json => {
                // Serialize first, so a closed pipe surfaces as the
                // io::Error main treats as a normal exit.
                let text = serde_json::to_string_pretty(&snapshot)?;
                writeln!(out, "{text}")?;
            }
        }
        Ok(EXIT_OK)
    })
}

/// Replays the files the target's history says were applied into a scratch
/// database, then compares the two schemas.
pub fn drift(args: DriftArgs) -> Result<u8> {
    let url = db::single_url(&args.db.database_url)?;
    let files = db::load_files(&std::env::current_dir()?, &args.db.file_pattern)?;
    db::runtime()?.block_on(async {
        let mut live = db::connect(&url, args.db.history_schema.as_deref()).await?;
        let history = live.history().await.map_err(engine_error)?;
        let statuses = rollgate_migration::status(&files, &db::applied_records(&history));
        if let Some(missing) = statuses.iter().find(|s| matches!(s.state, FileState::Missing)) {
            return Err(refused(format!(
                "{} applied version {} ({}), but no file has that version; drift needs every applied file",
                url.redacted(),
                missing.version.as_str(),
                missing.file_name
            )));
        }
        let applied: Vec<_> = files
            .into_iter()
            .filter(|file| {
                statuses.iter().any(|s| {
                    Some(&s.version) == file.version.as_ref()
                        && matches!(s.state, FileState::Applied | FileState::Baseline | FileState::Modified { .. })
                })
            })
            .collect();
        drop(live);
        let report = match drift::detect(&url, args.db.history_schema.as_deref(), &applied).await {
            Ok(report) => report,
            Err(DriftError::Live(e) | DriftError::Scratch(e)) => return Err(engine_error(e)),
            Err(error @ DriftError::Replay { .. }) => return Err(refused(error.to_string())),
        };
        let Some(diff) = report.diff else {
            println!("{}: no drift: the live schema matches its {} applied file(s)", url.redacted(), applied.len());
            return Ok(EXIT_OK);
        };
        print!("{diff}");
        eprintln!("{}: drift: the live schema differs from what its history says it should be", url.redacted());
        Ok(EXIT_FINDINGS)
    })
}
