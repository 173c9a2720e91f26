//! Pure planning: from the migration files and a target's history, what
//! state each version is in (`status`) and what to run next (`plan`,
//! `baseline_versions`).
//!
//! Nothing here does I/O, is async or panics, and it does not know about
//! engines, connections or URLs. The caller converts the target's history
//! rows into [`AppliedRecord`]s (this crate must not depend on the engine
//! crate, which depends on it) and runs the [`PlanStep`]s it gets back.
//!
//! The history rule: rows are read in insertion (id) order and the
//! effective state of a version is its latest row. `SUCCEEDED` means
//! applied with the checksum that row carries, whatever its kind: a
//! migration that ran, a baseline, or a repair that re-blessed a changed
//! file. `CLEARED` (a repair) makes the version pending again. `FAILED` and
//! `RUNNING` mean it stopped after `statements_done` statements. Checksums
//! are always compared, baselines included, through [`Checksum::matches`],
//! so line-ending and BOM changes never count as edits.
//!
//! Refusals come back all at once as [`PlanError`]s; each names the file,
//! what is wrong and the command that fixes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sha2::{Digest, Sha256};

use crate::checksum::{Checksum, SHA256_V1};
use crate::file::MigrationFile;
use crate::version::Version;

/// What wrote a history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppliedKind {
    /// The file was run.
    Migration,
    /// `rollgate baseline`: marked applied without running it.
    Baseline,
    /// `rollgate history repair`: an audit entry that re-blesses a checksum
    /// (`Succeeded`) or clears a failed file (`Cleared`).
    Repair,
}

/// The status column of a history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppliedStatus {
    Running,
    Succeeded,
    Failed,
    Cleared,
}

/// One history row, as far as planning needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRecord {
    pub version: Version,
    pub file_name: String,
    pub kind: AppliedKind,
    /// Algorithm-tagged, as stored (`sha256-v1:…`).
    pub checksum: String,
    pub status: AppliedStatus,
    pub statements_done: u32,
    pub statements_total: u32,
    /// [`statements_checksum`] of the first `statements_done` statements.
    pub statements_checksum: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Apply pending files whose version is below the latest applied one.
    pub allow_out_of_order: bool,
    /// Plan nothing above this version.
    pub target_version: Option<Version>,
}

/// The state of one version, for `rollgate status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    pub version: Version,
    /// The file's path, or for a version whose file is gone, the name its
    /// latest history row recorded.
    pub file_name: String,
    pub state: FileState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Applied,
    Pending,
    /// Applied, but the file's text changed since (or the recorded checksum
    /// cannot be checked by this build).
    Modified {
        stored: String,
        current: String,
    },
    /// Pending, with a version below the latest applied one.
    OutOfOrder {
        latest_applied: Version,
    },
    Failed {
        statements_done: u32,
        statements_total: u32,
        error: String,
    },
    /// A runner is applying it now, or died while applying it.
    Running {
        statements_done: u32,
        statements_total: u32,
    },
    /// Applied, but the file is gone.
    Missing,
    /// Marked applied by `rollgate baseline`, and the file is unchanged.
    Baseline,
}

/// What to run, in order. The runner stops at the first step that fails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<PlanStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanStep {
    /// Index into the `files` given to [`plan`].
    pub file_index: usize,
    /// 0-based statement to start at: statements before it already ran in
    /// an earlier, failed or interrupted run.
    pub resume_from: usize,
}

/// Why `plan` refuses to run anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// An applied file whose text changed.
    Modified {
        version: Version,
        file_name: String,
        stored: String,
        current: String,
    },
    /// The recorded checksum of an applied file is malformed or uses an
    /// algorithm this build cannot compute.
    UncheckableChecksum {
        version: Version,
        file_name: String,
        stored: String,
        current: String,
        /// Completes "the recorded checksum …", e.g. "is malformed (…)".
        reason: String,
    },
    /// A pending file below the latest applied version.
    OutOfOrder {
        version: Version,
        file_name: String,
        latest_applied: Version,
    },
    /// A failed or interrupted file whose already-run statements changed.
    ResumeEdited {
        version: Version,
        file_name: String,
        statements_done: u32,
        statements_total: u32,
        problem: ResumeProblem,
    },
    /// A file that partly ran before failing, and whose file is gone.
    FailedFileMissing {
        version: Version,
        file_name: String,
        statements_done: u32,
        statements_total: u32,
        error: Option<String>,
    },
    DuplicateVersion {
        version: Version,
        file_names: Vec<String>,
    },
    /// A file without a version cannot be ordered or recorded.
    Unversioned { file_name: String },
}

/// How the already-run part of a failed file differs from what ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeProblem {
    /// The file now has fewer statements than had already run.
    FewerStatements { now: usize },
    /// The history row has no checksum of the statements that ran.
    NotRecorded,
    /// The recorded checksum is malformed or of an unknown algorithm.
    Uncheckable { stored: String },
    /// Their text differs (beyond line endings and a BOM).
    Changed,
}

/// What `Display` shows in place of the database URL; use
/// [`PlanError::message`] to put the real (redacted) URL in the command.
pub const URL_PLACEHOLDER: &str = "<URL>";

impl PlanError {
    /// The version the error is about, when it has one.
    pub fn version(&self) -> Option<&Version> {
        match self {
            PlanError::Modified { version, .. }
            | PlanError::UncheckableChecksum { version, .. }
            | PlanError::OutOfOrder { version, .. }
            | PlanError::ResumeEdited { version, .. }
            | PlanError::FailedFileMissing { version, .. }
            | PlanError::DuplicateVersion { version, .. } => Some(version),
            PlanError::Unversioned { .. } => None,
        }
    }

    /// The message, with `database_url` (already redacted: it is printed)
    /// in the command it suggests.
    pub fn message(&self, database_url: &str) -> String {
        let repair = |version: &Version| {
            format!("`rollgate history repair --database-url {database_url} --version {version}`")
        };
        match self {
            PlanError::Modified {
                version,
                file_name,
                stored,
                current,
            } => format!(
                "{file_name} (version {version}) changed after it was applied: the history records \
                 checksum {stored} but the file now has {current}. Restore the file as it was \
                 applied, or accept the change with {} (recorded as an audit entry)",
                repair(version)
            ),
            PlanError::UncheckableChecksum {
                version,
                file_name,
                stored,
                current,
                reason,
            } => format!(
                "{file_name} (version {version}) cannot be checked against the history: the \
                 recorded checksum `{stored}` {reason}. If the file is the one that was applied, \
                 record its current checksum {current} with {}",
                repair(version)
            ),
            PlanError::OutOfOrder {
                version,
                file_name,
                latest_applied,
            } => format!(
                "{file_name} (version {version}) is pending, but version {latest_applied} is \
                 already applied, so running it now would apply it out of order. Pass \
                 --allow-out-of-order to apply it anyway, or renumber the file above \
                 {latest_applied}"
            ),
            PlanError::ResumeEdited {
                version,
                file_name,
                statements_done,
                statements_total,
                problem,
            } => {
                let problem = match problem {
                    ResumeProblem::FewerStatements { now } => {
                        format!("the file now has only {now} statements")
                    }
                    ResumeProblem::NotRecorded => {
                        "the history holds no checksum of them to compare with".to_string()
                    }
                    ResumeProblem::Uncheckable { stored } => {
                        format!("their recorded checksum `{stored}` cannot be checked")
                    }
                    ResumeProblem::Changed => "their text differs from what ran".to_string(),
                };
                format!(
                    "{file_name} (version {version}) stopped after {statements_done} of \
                     {statements_total} statements, and the already-run statements changed \
                     since ({problem}), so it cannot be resumed safely. Restore the first \
                     {statements_done} statements as they ran, or check the database by hand \
                     and clear the failed row with {} so the file runs again from its first \
                     statement",
                    repair(version)
                )
            }
            PlanError::FailedFileMissing {
                version,
                file_name,
                statements_done,
                statements_total,
                error,
            } => format!(
                "{file_name} (version {version}) stopped after {statements_done} of \
                 {statements_total} statements{} and its file is gone. Restore the file so the \
                 run can resume it, or check the database by hand and clear the failed row with {}",
                error
                    .as_ref()
                    .map(|error| format!(" ({error})"))
                    .unwrap_or_default(),
                repair(version)
            ),
            PlanError::DuplicateVersion {
                version,
                file_names,
            } => format!(
                "version {version} is used by more than one file ({}); give each migration its \
                 own version",
                file_names.join(", ")
            ),
            PlanError::Unversioned { file_name } => {
                let name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
                format!(
                    "{file_name} has no version prefix, so it cannot be applied; rename it to \
                     start with a version, e.g. 202501011200_{name}"
                )
            }
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(URL_PLACEHOLDER))
    }
}

impl std::error::Error for PlanError {}

impl FileState {
    /// A short lowercase label, e.g. `out-of-order`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FileState::Applied => "applied",
            FileState::Pending => "pending",
            FileState::Modified { .. } => "modified",
            FileState::OutOfOrder { .. } => "out-of-order",
            FileState::Failed { .. } => "failed",
            FileState::Running { .. } => "running",
            FileState::Missing => "missing",
            FileState::Baseline => "baseline",
        }
    }
}

/// Every versioned file and every version known only from the history, in
/// version order (files with the same version by path). Files without a
/// version are left out (discovery warns about them), and so are versions
/// whose file is gone and whose latest row cleared them.
pub fn status(files: &[MigrationFile], history: &[AppliedRecord]) -> Vec<FileStatus> {
    let latest = latest_rows(history);
    let latest_applied = latest_applied(&latest);
    let mut statuses = Vec::new();
    let mut with_file = BTreeSet::new();
    for file in files {
        let Some(version) = &file.version else {
            continue;
        };
        with_file.insert(version);
        let record = latest.get(version).copied();
        let state = match record {
            Some(record) if record.status == AppliedStatus::Succeeded => {
                match compare_checksum(&record.checksum, &file.text) {
                    ChecksumComparison::Same if record.kind == AppliedKind::Baseline => {
                        FileState::Baseline
                    }
                    ChecksumComparison::Same => FileState::Applied,
                    ChecksumComparison::Different | ChecksumComparison::Uncheckable(_) => {
                        FileState::Modified {
                            stored: record.checksum.clone(),
                            current: file.checksum.to_string(),
                        }
                    }
                }
            }
            Some(record) if record.status != AppliedStatus::Cleared => stopped_state(record),
            _ => match latest_applied {
                Some(latest_applied) if version < latest_applied => FileState::OutOfOrder {
                    latest_applied: latest_applied.clone(),
                },
                _ => FileState::Pending,
            },
        };
        statuses.push(FileStatus {
            version: version.clone(),
            file_name: file.path.clone(),
            state,
        });
    }
    for (version, record) in &latest {
        if with_file.contains(version) {
            continue;
        }
        let state = match record.status {
            AppliedStatus::Succeeded => FileState::Missing,
            AppliedStatus::Cleared => continue,
            AppliedStatus::Failed | AppliedStatus::Running => stopped_state(record),
        };
        statuses.push(FileStatus {
            version: (*version).clone(),
            file_name: record.file_name.clone(),
            state,
        });
    }
    statuses.sort_by(|a, b| {
        a.version
            .cmp(&b.version)
            .then_with(|| a.file_name.cmp(&b.file_name))
    });
    statuses
}

/// What to run: pending files in version order, failed or interrupted
/// files resumed where they stopped, up to `options.target_version`.
///
/// `statement_texts` splits a file into its statements the same way the
/// engine will run them; it is called only for files that partly ran, to
/// check that their already-run statements are unchanged.
///
/// Applied files are checked for edits whatever the target version. A
/// failed file that ran no statement is simply retried from the start.
pub fn plan(
    files: &[MigrationFile],
    history: &[AppliedRecord],
    statement_texts: &dyn Fn(&MigrationFile) -> Vec<String>,
    options: &PlanOptions,
) -> Result<Plan, Vec<PlanError>> {
    let latest = latest_rows(history);
    let latest_applied = latest_applied(&latest);
    let mut errors = Vec::new();
    let mut files_by_version: BTreeMap<&Version, Vec<usize>> = BTreeMap::new();
    for (index, file) in files.iter().enumerate() {
        match &file.version {
            Some(version) => files_by_version.entry(version).or_default().push(index),
            None => errors.push(PlanError::Unversioned {
                file_name: file.path.clone(),
            }),
        }
    }
    let versions: BTreeSet<&Version> = files_by_version
        .keys()
        .chain(latest.keys())
        .copied()
        .collect();

    let mut steps = Vec::new();
    for version in versions {
        let record = latest.get(version).copied();
        let indexes = files_by_version.get(version).map_or(&[][..], Vec::as_slice);
        let (file_index, file) = match indexes {
            [] => {
                if let Some(record) = record
                    && is_stopped(record)
                    && record.statements_done > 0
                {
                    errors.push(PlanError::FailedFileMissing {
                        version: version.clone(),
                        file_name: record.file_name.clone(),
                        statements_done: record.statements_done,
                        statements_total: record.statements_total,
                        error: record.error.clone(),
                    });
                }
                continue;
            }
            [index] => match files.get(*index) {
                Some(file) => (*index, file),
                None => continue,
            },
            several => {
                errors.push(PlanError::DuplicateVersion {
                    version: version.clone(),
                    file_names: several
                        .iter()
                        .filter_map(|&index| files.get(index))
                        .map(|file| file.path.clone())
                        .collect(),
                });
                continue;
            }
        };

        if let Some(record) = record
            && record.status == AppliedStatus::Succeeded
        {
            if let Some(error) = check_applied(version, file, record) {
                errors.push(error);
            }
            continue;
        }
        let within_target = options
            .target_version
            .as_ref()
            .is_none_or(|target| version <= target);
        if !within_target {
            continue;
        }
        if let Some(latest_applied) = latest_applied
            && version < latest_applied
            && !options.allow_out_of_order
        {
            errors.push(PlanError::OutOfOrder {
                version: version.clone(),
                file_name: file.path.clone(),
                latest_applied: latest_applied.clone(),
            });
            continue;
        }
        let resume_from = match record {
            Some(record) if is_stopped(record) => {
                match resume_point(file, record, statement_texts) {
                    Ok(resume_from) => resume_from,
                    Err(problem) => {
                        errors.push(PlanError::ResumeEdited {
                            version: version.clone(),
                            file_name: file.path.clone(),
                            statements_done: record.statements_done,
                            statements_total: record.statements_total,
                            problem,
                        });
                        continue;
                    }
                }
            }
            _ => 0,
        };
        steps.push(PlanStep {
            file_index,
            resume_from,
        });
    }

    if errors.is_empty() {
        Ok(Plan { steps })
    } else {
        Err(errors)
    }
}

/// The files `rollgate baseline --version up_to` marks as applied: every
/// pending versioned file up to and including `up_to`, in version order
/// (for a version used by several files, only the first).
pub fn baseline_versions(
    files: &[MigrationFile],
    history: &[AppliedRecord],
    up_to: &Version,
) -> Vec<usize> {
    let latest = latest_rows(history);
    let mut chosen: BTreeMap<&Version, usize> = BTreeMap::new();
    for (index, file) in files.iter().enumerate() {
        let Some(version) = &file.version else {
            continue;
        };
        let pending = latest
            .get(version)
            .is_none_or(|record| record.status == AppliedStatus::Cleared);
        if pending && version <= up_to {
            chosen.entry(version).or_insert(index);
        }
    }
    chosen.into_values().collect()
}

/// The `statements_checksum` of a history row: `Checksum::of` the
/// statements' texts joined with `\n`.
pub fn statements_checksum<S: AsRef<str>>(texts: &[S]) -> Checksum {
    let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
    Checksum::of(&texts.join("\n"))
}

/// For each `k` in `1..=texts.len()`, at index `k - 1`, the
/// [`statements_checksum`] of the first `k` statements, as stored text.
/// Computed in one pass, so an engine can record progress after every
/// statement of a large file without hashing its beginning again each time.
pub fn statements_checksum_prefixes<S: AsRef<str>>(texts: &[S]) -> Vec<String> {
    let mut hasher = NormalizingHasher::default();
    let mut prefixes = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let text = text.as_ref();
        if index == 0 {
            // `Checksum::of` drops one BOM at the start of the joined text.
            hasher.feed(text.strip_prefix('\u{feff}').unwrap_or(text));
        } else {
            hasher.feed("\n");
            hasher.feed(text);
        }
        prefixes.push(hasher.checksum());
    }
    prefixes
}

/// SHA-256 over text fed in pieces, with CRLF and lone CR turned into LF
/// exactly as `Checksum::of` does on the whole text, even when a CR ends
/// one piece and its LF starts the next.
#[derive(Default)]
struct NormalizingHasher {
    hasher: Sha256,
    after_carriage_return: bool,
}

impl NormalizingHasher {
    fn feed(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut start = 0;
        for (index, &byte) in bytes.iter().enumerate() {
            match byte {
                b'\r' => {
                    self.hasher.update(&bytes[start..index]);
                    self.hasher.update(b"\n");
                    start = index + 1;
                    self.after_carriage_return = true;
                }
                b'\n' if self.after_carriage_return => {
                    self.hasher.update(&bytes[start..index]);
                    start = index + 1;
                    self.after_carriage_return = false;
                }
                _ => self.after_carriage_return = false,
            }
        }
        self.hasher.update(&bytes[start..]);
    }

    fn checksum(&self) -> String {
        let digest = self.hasher.clone().finalize();
        let mut tagged = String::with_capacity(SHA256_V1.len() + 1 + 64);
        tagged.push_str(SHA256_V1);
        tagged.push(':');
        for byte in digest.iter() {
            tagged.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            tagged.push(char::from(b"0123456789abcdef"[usize::from(byte & 0x0f)]));
        }
        tagged
    }
}

/// The latest row of each version, by numeric version.
fn latest_rows(history: &[AppliedRecord]) -> BTreeMap<&Version, &AppliedRecord> {
    let mut latest = BTreeMap::new();
    for record in history {
        latest.insert(&record.version, record);
    }
    latest
}

fn latest_applied<'h>(latest: &BTreeMap<&'h Version, &AppliedRecord>) -> Option<&'h Version> {
    latest
        .iter()
        .rev()
        .find(|(_, record)| record.status == AppliedStatus::Succeeded)
        .map(|(version, _)| *version)
}

fn is_stopped(record: &AppliedRecord) -> bool {
    matches!(
        record.status,
        AppliedStatus::Failed | AppliedStatus::Running
    )
}

fn stopped_state(record: &AppliedRecord) -> FileState {
    match record.status {
        AppliedStatus::Running => FileState::Running {
            statements_done: record.statements_done,
            statements_total: record.statements_total,
        },
        _ => FileState::Failed {
            statements_done: record.statements_done,
            statements_total: record.statements_total,
            error: record.error.clone().unwrap_or_default(),
        },
    }
}

enum ChecksumComparison {
    Same,
    Different,
    /// Completes "the recorded checksum …".
    Uncheckable(String),
}

fn compare_checksum(stored: &str, text: &str) -> ChecksumComparison {
    match Checksum::parse(stored) {
        Err(error) => ChecksumComparison::Uncheckable(format!("is malformed ({})", error.reason)),
        Ok(checksum) if checksum.algorithm() != SHA256_V1 => {
            ChecksumComparison::Uncheckable(format!(
                "uses the algorithm `{}`, which this rollgate cannot compute (was it recorded by \
                 a newer rollgate?)",
                checksum.algorithm()
            ))
        }
        Ok(checksum) if checksum.matches(text) => ChecksumComparison::Same,
        Ok(_) => ChecksumComparison::Different,
    }
}

fn check_applied(
    version: &Version,
    file: &MigrationFile,
    record: &AppliedRecord,
) -> Option<PlanError> {
    match compare_checksum(&record.checksum, &file.text) {
        ChecksumComparison::Same => None,
        ChecksumComparison::Different => Some(PlanError::Modified {
            version: version.clone(),
            file_name: file.path.clone(),
            stored: record.checksum.clone(),
            current: file.checksum.to_string(),
        }),
        ChecksumComparison::Uncheckable(reason) => Some(PlanError::UncheckableChecksum {
            version: version.clone(),
            file_name: file.path.clone(),
            stored: record.checksum.clone(),
            current: file.checksum.to_string(),
            reason,
        }),
    }
}

/// Where a failed or interrupted file resumes: 0 when nothing ran, else
/// after the statements that ran, if they are unchanged.
fn resume_point(
    file: &MigrationFile,
    record: &AppliedRecord,
    statement_texts: &dyn Fn(&MigrationFile) -> Vec<String>,
) -> Result<usize, ResumeProblem> {
    if record.statements_done == 0 {
        return Ok(0);
    }
    let done = usize::try_from(record.statements_done).unwrap_or(usize::MAX);
    let texts = statement_texts(file);
    let Some(already_run) = texts.get(..done) else {
        return Err(ResumeProblem::FewerStatements { now: texts.len() });
    };
    let Some(stored) = &record.statements_checksum else {
        return Err(ResumeProblem::NotRecorded);
    };
    match Checksum::parse(stored) {
        Ok(checksum) if checksum.algorithm() == SHA256_V1 => {
            if checksum.matches(&already_run.join("\n")) {
                Ok(done)
            } else {
                Err(ResumeProblem::Changed)
            }
        }
        _ => Err(ResumeProblem::Uncheckable {
            stored: stored.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture file: `path` decides the version; statements are the text
    /// split after each `;`.
    fn file(path: &str, text: &str) -> MigrationFile {
        MigrationFile::from_text(path, text)
    }

    fn split(file: &MigrationFile) -> Vec<String> {
        file.text
            .split_inclusive(';')
            .map(str::trim)
            .filter(|statement| !statement.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    /// A history row; `row("2", Migration, Succeeded, &checksum_of("…"))`.
    fn row(v: &str, kind: AppliedKind, status: AppliedStatus, checksum: &str) -> AppliedRecord {
        AppliedRecord {
            version: version(v),
            file_name: format!("{v}_old.sql"),
            kind,
            checksum: checksum.to_string(),
            status,
            statements_done: 0,
            statements_total: 0,
            statements_checksum: None,
            error: None,
        }
    }

    fn applied(v: &str, text: &str) -> AppliedRecord {
        row(
            v,
            AppliedKind::Migration,
            AppliedStatus::Succeeded,
            Checksum::of(text).as_str(),
        )
    }

    fn stopped(
        v: &str,
        status: AppliedStatus,
        done: u32,
        total: u32,
        done_part: Option<&[&str]>,
    ) -> AppliedRecord {
        AppliedRecord {
            statements_done: done,
            statements_total: total,
            statements_checksum: done_part.map(|texts| statements_checksum(texts).to_string()),
            error: Some("boom".to_string()),
            ..row(
                v,
                AppliedKind::Migration,
                status,
                Checksum::of("x").as_str(),
            )
        }
    }

    /// Renders `status` as one line per version: `version file state`.
    fn check_status(files: &[MigrationFile], history: &[AppliedRecord], expected: &str) {
        let actual: Vec<String> = status(files, history)
            .iter()
            .map(|status| {
                let detail = match &status.state {
                    FileState::Modified { stored, current } => {
                        format!(
                            " stored={} current={}",
                            stored.chars().take(14).collect::<String>(),
                            current.chars().take(14).collect::<String>()
                        )
                    }
                    FileState::OutOfOrder { latest_applied } => format!(" latest={latest_applied}"),
                    FileState::Failed {
                        statements_done,
                        statements_total,
                        error,
                    } => format!(" {statements_done}/{statements_total} {error}"),
                    FileState::Running {
                        statements_done,
                        statements_total,
                    } => format!(" {statements_done}/{statements_total}"),
                    _ => String::new(),
                };
                format!(
                    "{} {} {}{detail}",
                    status.version,
                    status.file_name,
                    status.state.as_str()
                )
            })
            .collect();
        assert_eq!(actual.join("\n"), expected.trim());
    }

    /// Renders `plan` as `file@resume` steps, or its errors one per line.
    fn check_plan(
        files: &[MigrationFile],
        history: &[AppliedRecord],
        options: &PlanOptions,
        expected: &str,
    ) {
        let actual = match plan(files, history, &split, options) {
            Ok(plan) => plan
                .steps
                .iter()
                .map(|step| format!("{}@{}", files[step.file_index].path, step.resume_from))
                .collect::<Vec<_>>()
                .join(" "),
            Err(errors) => errors
                .iter()
                .map(|error| format!("error: {}", error.message("sqlite://t.db")))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        assert_eq!(actual, expected.trim());
    }

    fn no_options() -> PlanOptions {
        PlanOptions::default()
    }

    #[test]
    fn status_table() {
        use AppliedKind::*;
        use AppliedStatus::*;
        let files = [
            file("1_a.sql", "create table a();"),
            file("2_b.sql", "create table b();"),
            file("3_c.sql", "create table c(x int);"),
            file("5_e.sql", "create table e();"),
            file("6_f.sql", "x; y;"),
            file("7_g.sql", "z;"),
            file("9_i.sql", "i;"),
            file("notes.sql", "ignored;"),
        ];
        let history = [
            applied("1", "create table a();"),
            row(
                "2",
                Baseline,
                Succeeded,
                Checksum::of("create table b();").as_str(),
            ),
            applied("3", "create table c();"),
            applied("4", "create table d();"),
            applied("8", "h;"),
            stopped("6", Failed, 1, 2, Some(&["x;"])),
            stopped("7", Running, 0, 1, None),
            applied("9", "i;"),
            row("9", Repair, Cleared, Checksum::of("i;").as_str()),
            stopped("10", Failed, 0, 3, None),
            applied("11", "gone;"),
            row("11", Repair, Cleared, Checksum::of("gone;").as_str()),
        ];
        check_status(
            &files,
            &history,
            "
1 1_a.sql applied
2 2_b.sql baseline
3 3_c.sql modified stored=sha256-v1:3bc0 current=sha256-v1:cea6
4 4_old.sql missing
5 5_e.sql out-of-order latest=8
6 6_f.sql failed 1/2 boom
7 7_g.sql running 0/1
8 8_old.sql missing
9 9_i.sql pending
10 10_old.sql failed 0/3 boom",
        );
    }

    #[test]
    fn status_orders_by_number_and_ignores_line_endings() {
        let files = [
            file("10_b.sql", "b;\r\n"),
            file("9_a.sql", "\u{feff}a;\n"),
            file("0011_c.sql", "c;"),
        ];
        let history = [applied("9", "a;\r\n"), applied("10", "b;\n")];
        check_status(
            &files,
            &history,
            "
9 9_a.sql applied
10 10_b.sql applied
0011 0011_c.sql pending",
        );
    }

    #[test]
    fn status_latest_row_wins() {
        use AppliedKind::*;
        use AppliedStatus::*;
        let files = [file("1_a.sql", "new;")];
        let cases: [(&[AppliedRecord], &str); 5] = [
            (
                &[applied("1", "old;")],
                "modified stored=sha256-v1:b1d2 current=sha256-v1:3276",
            ),
            (
                &[
                    applied("1", "old;"),
                    row("1", Repair, Succeeded, Checksum::of("new;").as_str()),
                ],
                "applied",
            ),
            (
                &[
                    stopped("1", Failed, 0, 1, None),
                    row("1", Repair, Cleared, "x"),
                ],
                "pending",
            ),
            (
                &[row("1", Repair, Cleared, "x"), applied("1", "new;")],
                "applied",
            ),
            (
                &[
                    applied("1", "new;"),
                    row("1", Migration, Succeeded, "sha256-v1:zz"),
                ],
                "modified stored=sha256-v1:zz current=sha256-v1:3276",
            ),
        ];
        for (history, expected) in cases {
            check_status(&files, history, &format!("1 1_a.sql {expected}"));
        }
    }

    #[test]
    fn plan_runs_pending_in_version_order() {
        let files = [
            file("3_c.sql", "c;"),
            file("1_a.sql", "a;"),
            file("2_b.sql", "b;"),
            file("10_d.sql", "d;"),
        ];
        check_plan(
            &files,
            &[],
            &no_options(),
            "1_a.sql@0 2_b.sql@0 3_c.sql@0 10_d.sql@0",
        );
        check_plan(
            &files,
            &[applied("1", "a;"), applied("2", "b;")],
            &no_options(),
            "3_c.sql@0 10_d.sql@0",
        );
        let all = [
            applied("1", "a;"),
            applied("2", "b;"),
            applied("3", "c;"),
            applied("10", "d;"),
        ];
        check_plan(&files, &all, &no_options(), "");
        check_plan(&[], &[], &no_options(), "");
    }

    #[test]
    fn plan_stops_at_target_version() {
        let files = [
            file("1_a.sql", "a;"),
            file("2_b.sql", "b;"),
            file("3_c.sql", "c;"),
        ];
        let up_to = |v: &str| PlanOptions {
            target_version: Some(version(v)),
            ..PlanOptions::default()
        };
        check_plan(&files, &[], &up_to("2"), "1_a.sql@0 2_b.sql@0");
        check_plan(&files, &[], &up_to("2.5"), "1_a.sql@0 2_b.sql@0");
        check_plan(&files, &[], &up_to("0"), "");
        check_plan(&files, &[applied("1", "a;")], &up_to("1"), "");
        // Integrity is checked beyond the target too.
        let history = [
            applied("1", "a;"),
            applied("2", "b;"),
            applied("3", "changed;"),
        ];
        let errors = plan(&files, &history, &split, &up_to("1")).unwrap_err();
        assert!(
            matches!(&errors[..], [PlanError::Modified { version, .. }] if version.as_str() == "3")
        );
    }

    #[test]
    fn modified_files_are_refused_with_the_repair_command() {
        let files = [
            file("1_a.sql", "create table a(x int);\n"),
            file("2_b.sql", "b;"),
        ];
        let history = [applied("1", "create table a();\n")];
        let stored = Checksum::of("create table a();\n");
        let current = Checksum::of("create table a(x int);\n");
        check_plan(
            &files,
            &history,
            &no_options(),
            &format!(
                "error: 1_a.sql (version 1) changed after it was applied: the history records \
                 checksum {stored} but the file now has {current}. Restore the file as it was \
                 applied, or accept the change with `rollgate history repair --database-url \
                 sqlite://t.db --version 1` (recorded as an audit entry)"
            ),
        );
        // Display shows a placeholder for the URL.
        let errors = plan(&files, &history, &split, &no_options()).unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .contains("--database-url <URL> --version 1")
        );
        assert_eq!(errors[0].version(), Some(&version("1")));
    }

    #[test]
    fn line_endings_and_bom_never_count_as_changes() {
        let files = [
            file("1_a.sql", "\u{feff}a;\r\nb;\r\n"),
            file("2_b.sql", "c;\rd;\r"),
        ];
        let history = [applied("1", "a;\nb;\n"), applied("2", "c;\nd;\n")];
        check_plan(&files, &history, &no_options(), "");
        // A baseline's checksum is compared too.
        let baseline = [row(
            "1",
            AppliedKind::Baseline,
            AppliedStatus::Succeeded,
            Checksum::of("a;\nb;\n").as_str(),
        )];
        check_plan(&files, &baseline, &no_options(), "2_b.sql@0");
        let edited_baseline = [row(
            "1",
            AppliedKind::Baseline,
            AppliedStatus::Succeeded,
            Checksum::of("other;").as_str(),
        )];
        let errors = plan(&files, &edited_baseline, &split, &no_options()).unwrap_err();
        assert!(
            matches!(errors[..], [PlanError::Modified { .. }]),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_or_malformed_checksums_ask_for_repair() {
        let files = [file("1_a.sql", "a;")];
        let current = Checksum::of("a;");
        check_plan(
            &files,
            &[row(
                "1",
                AppliedKind::Migration,
                AppliedStatus::Succeeded,
                "blake3-v2:abcd",
            )],
            &no_options(),
            &format!(
                "error: 1_a.sql (version 1) cannot be checked against the history: the recorded \
                 checksum `blake3-v2:abcd` uses the algorithm `blake3-v2`, which this rollgate \
                 cannot compute (was it recorded by a newer rollgate?). If the file is the one \
                 that was applied, record its current checksum {current} with `rollgate history \
                 repair --database-url sqlite://t.db --version 1`"
            ),
        );
        let errors = plan(
            &files,
            &[row(
                "1",
                AppliedKind::Migration,
                AppliedStatus::Succeeded,
                "md5",
            )],
            &split,
            &no_options(),
        )
        .unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .contains("the recorded checksum `md5` is malformed (there is no `:`)"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn out_of_order_is_refused_unless_allowed() {
        let files = [
            file("1_a.sql", "a;"),
            file("2_b.sql", "b;"),
            file("3_c.sql", "c;"),
            file("4_d.sql", "d;"),
        ];
        let history = [applied("1", "a;"), applied("3", "c;")];
        check_plan(
            &files,
            &history,
            &no_options(),
            "error: 2_b.sql (version 2) is pending, but version 3 is already applied, so running \
             it now would apply it out of order. Pass --allow-out-of-order to apply it anyway, or \
             renumber the file above 3",
        );
        let allow = PlanOptions {
            allow_out_of_order: true,
            ..PlanOptions::default()
        };
        check_plan(&files, &history, &allow, "2_b.sql@0 4_d.sql@0");
        // A target below the out-of-order file leaves it alone.
        let up_to_one = PlanOptions {
            target_version: Some(version("1")),
            ..PlanOptions::default()
        };
        check_plan(&files, &history, &up_to_one, "");
        // A cleared version below the latest applied one is out of order too.
        let cleared = [
            applied("1", "a;"),
            applied("2", "b;"),
            row("2", AppliedKind::Repair, AppliedStatus::Cleared, "x"),
            applied("3", "c;"),
        ];
        let errors = plan(&files, &cleared, &split, &no_options()).unwrap_err();
        assert!(
            matches!(&errors[..], [PlanError::OutOfOrder { version, .. }] if version.as_str() == "2")
        );
    }

    #[test]
    fn failed_files_resume_where_they_stopped() {
        use AppliedStatus::*;
        let files = [
            file("1_a.sql", "s1;\ns2;\ns3 fixed;"),
            file("2_b.sql", "b;"),
        ];
        let cases: [(AppliedRecord, &str); 6] = [
            // Nothing ran: simply retried.
            (stopped("1", Failed, 0, 3, None), "1_a.sql@0 2_b.sql@0"),
            (
                stopped("1", Failed, 2, 3, Some(&["s1;", "s2;"])),
                "1_a.sql@2 2_b.sql@0",
            ),
            // Killed after the last statement but before the row was finished.
            (
                stopped("1", Running, 3, 3, Some(&["s1;", "s2;", "s3 fixed;"])),
                "1_a.sql@3 2_b.sql@0",
            ),
            // A CRLF-only change of the already-run part is not an edit.
            (
                stopped("1", Failed, 2, 3, Some(&["s1;", "s2;"])),
                "1_a.sql@2 2_b.sql@0",
            ),
            (
                stopped("1", Failed, 2, 3, Some(&["s1;", "s2 before;"])),
                "error: 1_a.sql (version 1) stopped after 2 of 3 statements, and the already-run \
                 statements changed since (their text differs from what ran), so it cannot be \
                 resumed safely. Restore the first 2 statements as they ran, or check the \
                 database by hand and clear the failed row with `rollgate history repair \
                 --database-url sqlite://t.db --version 1` so the file runs again from its first \
                 statement",
            ),
            (
                stopped("1", Failed, 4, 5, Some(&["s1;"])),
                "error: 1_a.sql (version 1) stopped after 4 of 5 statements, and the already-run \
                 statements changed since (the file now has only 3 statements), so it cannot be \
                 resumed safely. Restore the first 4 statements as they ran, or check the \
                 database by hand and clear the failed row with `rollgate history repair \
                 --database-url sqlite://t.db --version 1` so the file runs again from its first \
                 statement",
            ),
        ];
        for (record, expected) in cases {
            check_plan(&files, &[record], &no_options(), expected);
        }
        let crlf_files = [file("1_a.sql", "s1;\r\ns2;\r\ns3;")];
        let crlf_split = |_: &MigrationFile| vec!["s1;\r\n".to_string(), "s2;".to_string()];
        let record = stopped("1", Failed, 1, 3, Some(&["s1;\n"]));
        let resumed = plan(&crlf_files, &[record], &crlf_split, &no_options()).unwrap();
        assert_eq!(
            resumed.steps,
            [PlanStep {
                file_index: 0,
                resume_from: 1
            }]
        );
    }

    #[test]
    fn failed_files_without_a_usable_checksum_are_refused() {
        use AppliedStatus::*;
        let files = [file("1_a.sql", "s1; s2;")];
        let mut missing = stopped("1", Failed, 1, 2, None);
        let errors = plan(
            &files,
            std::slice::from_ref(&missing),
            &split,
            &no_options(),
        )
        .unwrap_err();
        assert!(matches!(
            &errors[..],
            [PlanError::ResumeEdited {
                problem: ResumeProblem::NotRecorded,
                ..
            }]
        ));
        missing.statements_checksum = Some("blake3-v1:00".to_string());
        let errors = plan(&files, &[missing], &split, &no_options()).unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .contains("their recorded checksum `blake3-v1:00` cannot be checked")
        );
    }

    #[test]
    fn a_partly_run_failure_whose_file_is_gone_is_refused() {
        use AppliedStatus::*;
        let files = [file("2_b.sql", "b;")];
        check_plan(
            &files,
            &[stopped("1", Failed, 0, 3, None)],
            &no_options(),
            "2_b.sql@0",
        );
        check_plan(
            &files,
            &[stopped("1", Running, 1, 3, Some(&["a;"]))],
            &no_options(),
            "error: 1_old.sql (version 1) stopped after 1 of 3 statements (boom) and its file is \
             gone. Restore the file so the run can resume it, or check the database by hand and \
             clear the failed row with `rollgate history repair --database-url sqlite://t.db \
             --version 1`",
        );
        // Applied files that are gone are fine (old migrations get squashed).
        check_plan(&files, &[applied("1", "a;")], &no_options(), "2_b.sql@0");
    }

    #[test]
    fn duplicates_and_unversioned_files_are_refused_together() {
        let files = [
            file("db/1_a.sql", "a;"),
            file("db/notes.sql", "n;"),
            file("db/001_b.sql", "b;"),
            file("db/2_c.sql", "c;"),
        ];
        check_plan(
            &files,
            &[],
            &no_options(),
            "
error: db/notes.sql has no version prefix, so it cannot be applied; rename it to start with a version, e.g. 202501011200_notes.sql
error: version 1 is used by more than one file (db/1_a.sql, db/001_b.sql); give each migration its own version",
        );
    }

    #[test]
    fn baseline_takes_pending_files_up_to_the_version() {
        use AppliedStatus::*;
        let files = [
            file("3_c.sql", "c;"),
            file("1_a.sql", "a;"),
            file("2_b.sql", "b;"),
            file("4_d.sql", "d;"),
            file("x.sql", "x;"),
        ];
        let history = [
            applied("1", "a;"),
            applied("2", "b;"),
            row("2", AppliedKind::Repair, Cleared, "x"),
        ];
        assert_eq!(baseline_versions(&files, &history, &version("3")), [2, 0]);
        assert_eq!(baseline_versions(&files, &[], &version("1")), [1]);
        assert_eq!(
            baseline_versions(&files, &[], &version("0")),
            Vec::<usize>::new()
        );
        let failed = [stopped("1", Failed, 0, 1, None)];
        assert_eq!(baseline_versions(&files, &failed, &version("2")), [2]);
    }

    #[test]
    fn prefix_checksums_match_the_joined_text() {
        let texts = ["\u{feff}a;\r", "\nb;\r\n", "", "c;\r"];
        let prefixes = statements_checksum_prefixes(&texts);
        assert_eq!(prefixes.len(), texts.len());
        for (k, prefix) in prefixes.iter().enumerate() {
            assert_eq!(
                prefix,
                statements_checksum(&texts[..=k]).as_str(),
                "prefix {}",
                k + 1
            );
            assert_eq!(prefix, Checksum::of(&texts[..=k].join("\n")).as_str());
        }
        assert!(statements_checksum_prefixes::<&str>(&[]).is_empty());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_version() -> impl Strategy<Value = Version> {
            prop::sample::select(vec!["0", "1", "01", "1.0", "2", "3", "10", "1.2.3"])
                .prop_map(|text| Version::parse(text).unwrap())
        }

        fn any_text() -> impl Strategy<Value = String> {
            "[ab;\r\n\u{feff}]{0,12}"
        }

        fn any_file() -> impl Strategy<Value = MigrationFile> {
            (prop::option::of(any_version()), any_text()).prop_map(|(version, text)| {
                let name = version.map_or("notes.sql".to_string(), |v| format!("{v}_x.sql"));
                MigrationFile::from_text(&name, &text)
            })
        }

        fn any_checksum(text: String) -> impl Strategy<Value = String> {
            prop_oneof![
                Just(Checksum::of(&text).to_string()),
                Just("blake3-v9:00ff".to_string()),
                ".{0,8}",
            ]
        }

        fn any_record() -> impl Strategy<Value = AppliedRecord> {
            let kind = prop::sample::select(vec![
                AppliedKind::Migration,
                AppliedKind::Baseline,
                AppliedKind::Repair,
            ]);
            let status = prop::sample::select(vec![
                AppliedStatus::Running,
                AppliedStatus::Succeeded,
                AppliedStatus::Failed,
                AppliedStatus::Cleared,
            ]);
            (
                any_version(),
                kind,
                status,
                any_text(),
                0u32..6,
                0u32..6,
                prop::option::of(any_text()),
                any::<bool>(),
            )
                .prop_flat_map(
                    |(version, kind, status, text, done, total, done_text, weird_done)| {
                        let done = if weird_done { u32::MAX } else { done };
                        (
                            any_checksum(text),
                            prop::option::of(any_checksum(done_text.unwrap_or_default())),
                        )
                            .prop_map(
                                move |(checksum, statements_checksum)| AppliedRecord {
                                    version: version.clone(),
                                    file_name: "h.sql".to_string(),
                                    kind,
                                    checksum,
                                    status,
                                    statements_done: done,
                                    statements_total: total,
                                    statements_checksum,
                                    error: None,
                                },
                            )
                    },
                )
        }

        proptest! {
            #[test]
            fn status_and_plan_never_panic(
                files in prop::collection::vec(any_file(), 0..6),
                history in prop::collection::vec(any_record(), 0..8),
                allow_out_of_order in any::<bool>(),
                target_version in prop::option::of(any_version()),
            ) {
                let statuses = status(&files, &history);
                let versioned = files.iter().filter(|file| file.version.is_some()).count();
                prop_assert!(statuses.len() >= versioned);
                prop_assert!(statuses.windows(2).all(|pair| pair[0].version <= pair[1].version));
                let options = PlanOptions { allow_out_of_order, target_version: target_version.clone() };
                if let Ok(plan) = plan(&files, &history, &split, &options) {
                    let mut previous: Option<&Version> = None;
                    for step in &plan.steps {
                        let file = &files[step.file_index];
                        let version = file.version.as_ref().unwrap();
                        prop_assert!(previous.is_none_or(|p| p < version));
                        prop_assert!(target_version.as_ref().is_none_or(|t| version <= t));
                        prop_assert!(step.resume_from <= split(file).len());
                        previous = Some(version);
                    }
                }
                if let Some(up_to) = &target_version {
                    for index in baseline_versions(&files, &history, up_to) {
                        prop_assert!(files[index].version.as_ref().is_some_and(|v| v <= up_to));
                    }
                }
            }

            #[test]
            fn prefix_checksums_equal_checksum_of_joined(texts in prop::collection::vec("[ab\r\n\u{feff}]{0,6}", 0..6)) {
                let prefixes = statements_checksum_prefixes(&texts);
                prop_assert_eq!(prefixes.len(), texts.len());
                for (k, prefix) in prefixes.iter().enumerate() {
                    let joined = Checksum::of(&texts[..=k].join("\n"));
                    prop_assert_eq!(prefix.as_str(), joined.as_str());
                }
            }
        }
    }
}
