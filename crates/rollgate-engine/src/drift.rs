//! Drift detection: the live schema of a target against the schema its
//! applied files produce when replayed into an empty scratch database on the
//! same server (a temporary file for SQLite). `rollgate drift` and the
//! server's drift checks both run [`detect`]; which files count as applied
//! is the caller's decision.

use rollgate_migration::MigrationFile;

use crate::any::AnyEngine;
use crate::schema::SchemaSnapshot;
use crate::scratch::Scratch;
use crate::{ApplyOptions, Engine, EngineError, TargetUrl};

/// Headers of the unified diff: the old side is the replayed history.
pub const EXPECTED_HEADER: &str = "expected (replayed history)";
pub const LIVE_HEADER: &str = "live database";

/// What [`detect`] found.
#[derive(Debug, Clone)]
pub struct DriftReport {
    /// The schema the applied files produce.
    pub expected: SchemaSnapshot,
    /// The target's live schema.
    pub live: SchemaSnapshot,
    /// A unified diff (expected → live, two lines of context) of the two
    /// schemas' text forms; `None` when they are the same.
    pub diff: Option<String>,
}

impl DriftReport {
    pub fn drifted(&self) -> bool {
        self.diff.is_some()
    }
}

/// Why [`detect`] could not compare.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// Connecting to the target or dumping its schema failed.
    #[error("{0}")]
    Live(EngineError),
    /// Creating, connecting to or dumping the scratch database failed.
    #[error("{0}")]
    Scratch(EngineError),
    /// An applied file failed when replayed into the scratch database.
    #[error("replaying the applied files into a scratch database failed: {error}")]
    Replay {
        file_name: String,
        error: EngineError,
    },
}

/// Dumps the live schema of `target` (its history table in
/// `history_schema`), replays `applied` (in version order) into a scratch
/// database next to it, dumps that, drops the scratch database whatever
/// happened, and compares the two.
pub async fn detect(
    target: &TargetUrl,
    history_schema: Option<&str>,
    applied: &[MigrationFile],
) -> Result<DriftReport, DriftError> {
    let live = {
        let mut engine = AnyEngine::connect(target, history_schema)
            .await
            .map_err(DriftError::Live)?;
        engine.dump_schema().await.map_err(DriftError::Live)?
    };
    let scratch = Scratch::create(target).await.map_err(DriftError::Scratch)?;
    let expected = replay(&scratch.url, applied).await;
    let _ = scratch.drop_database().await;
    let expected = expected?;
    let diff = diff_text(&expected, &live);
    Ok(DriftReport {
        expected,
        live,
        diff,
    })
}

async fn replay(url: &TargetUrl, applied: &[MigrationFile]) -> Result<SchemaSnapshot, DriftError> {
    let mut engine = AnyEngine::connect(url, None)
        .await
        .map_err(DriftError::Scratch)?;
    for file in applied {
        let apply = crate::prepare::apply_file(engine.kind(), file, 0);
        engine
            .apply(&apply, &ApplyOptions::default(), &mut |_| {})
            .await
            .map_err(|error| DriftError::Replay {
                file_name: file.path.clone(),
                error,
            })?;
    }
    engine.dump_schema().await.map_err(DriftError::Scratch)
}

/// The unified diff of two schemas' text forms, `None` when equal.
pub fn diff_text(expected: &SchemaSnapshot, live: &SchemaSnapshot) -> Option<String> {
    let (expected_text, live_text) = (expected.to_text(), live.to_text());
    if expected_text == live_text {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&expected_text, &live_text);
    Some(
        diff.unified_diff()
            .context_radius(2)
            .header(EXPECTED_HEADER, LIVE_HEADER)
            .to_string(),
    )
}
