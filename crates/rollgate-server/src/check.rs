//! `POST /api/v1/projects/{project}/releases:check`: review a release's files
//! against each target database as it is now, before anything is created.
//!
//! For each target: the review policy ([`crate::policies::resolve_for`]),
//! a short-lived connection (decrypted instance URL, [`CONNECT_TIMEOUT`]),
//! the target's history read through the engine and planned with
//! `rollgate_migration` (applied files are skipped, an edited applied file
//! or an out-of-order version is an ERROR advice), the live schema as a
//! complete review catalog (cached per target for [`SCHEMA_CACHE_TTL`],
//! refreshed on `refreshSchema`), the review of the pending files against
//! it, the planner's affected-rows estimate for data changes and a risk
//! level (`rollgate_review::risk`).
//!
//! This is the one handler that connects to target databases; it only
//! reads them: the history (`Engine::read_history`, which never creates the
//! table), catalogs and statistics, and `EXPLAIN` without running the
//! statement.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use rollgate_auth::Permission;
use rollgate_engine::Engine;
use rollgate_engine::any::AnyEngine;
use rollgate_migration::{
    ChangeType, FileState, Loaded, MigrationFile, PlanError, PlanOptions, Version,
};
use rollgate_review::risk::{self, Risk, RiskLevel, TableRows};
use rollgate_review::{Advice, Level, Policy, Reviewer};
use rollgate_sql::ast::{InsertSource, Statement, StatementKind};
use rollgate_sql::catalog::{Catalog, key};
use rollgate_store::{Database, DatabaseRef, PageRequest, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::error::AppError;
use crate::extract::{ApiJson, Principal};
use crate::store::store_call;

/// Most files one check accepts.
pub const MAX_FILES: usize = 200;
/// Most targets one check accepts.
pub const MAX_TARGETS: usize = 20;
/// Largest accepted `statement`, in bytes: the review's own limit (2 MiB).
pub const MAX_FILE_BYTES: usize = rollgate_migration::MAX_REVIEW_SIZE as usize;
/// How long a check waits for a target to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an introspected schema is reused for a target.
pub const SCHEMA_CACHE_TTL: Duration = Duration::from_secs(300);

/// Rule name and code of the advice for a history problem (an applied file
/// that changed, an out-of-order version, an unsafe resume).
pub const MIGRATION_HISTORY: &str = "MIGRATION_HISTORY";
pub const MIGRATION_HISTORY_CODE: u32 = 3902;
/// Rule name and code of the advice for a target that could not be checked.
pub const TARGET_UNREACHABLE: &str = "TARGET_UNREACHABLE";
pub const TARGET_UNREACHABLE_CODE: u32 = 3903;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CheckRequest {
    files: Vec<CheckFile>,
    targets: Vec<String>,
    #[serde(default)]
    refresh_schema: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CheckFile {
    path: String,
    version: String,
    /// `DDL` or `DML`; without it, from the file name as in a release
    /// (`…_dml.sql` is DML, anything else DDL).
    #[serde(default)]
    change_type: Option<String>,
    statement: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckResult {
    file: String,
    version: String,
    target: String,
    /// `PENDING` (reviewed: it would be applied), `SKIPPED` (already
    /// applied with this content) or `ERROR` (see the advices).
    status: &'static str,
    advices: Vec<Advice>,
    affected_rows: Option<u64>,
    risk_level: Option<RiskLevel>,
    risk_reasons: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetResult {
    target: String,
    environment: String,
    policy: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Live schemas by target, reused for [`SCHEMA_CACHE_TTL`]. Keyed by the
/// target and its instance's URL envelope, so a changed URL is a miss.
#[derive(Default)]
pub(crate) struct SchemaCache {
    entries: Mutex<HashMap<String, CachedSchema>>,
    /// Per instance: how many checks may hold a connection to it at once.
    /// Without it, a burst of checks opens a connection per check and
    /// target and runs the database server out of connections
    /// (`max_connections`), turning every excess check into an error.
    connections: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// Connections the checks of one server process hold to one instance at
/// once (`ROLLGATE_CHECK_CONNECTIONS_PER_INSTANCE`, default 8); further
/// checks wait their turn, up to [`CONNECTION_WAIT`].
fn connections_per_instance() -> usize {
    std::env::var("ROLLGATE_CHECK_CONNECTIONS_PER_INSTANCE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(8)
}

/// How long a check waits for a connection slot before the target counts
/// as unreachable.
const CONNECTION_WAIT: Duration = Duration::from_secs(60);

struct CachedSchema {
    envelope: String,
    fetched: Instant,
    live: Arc<LiveSchema>,
}

/// What a check needs of a target's schema.
struct LiveSchema {
    catalog: Catalog,
    rows: TableRows,
}

impl SchemaCache {
    /// A slot to connect to `instance`, waiting while others hold them all.
    async fn connection_slot(&self, instance: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let semaphore = {
            let mut slots = self.connections.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .entry(instance.to_string())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Semaphore::new(connections_per_instance()))
                })
                .clone()
        };
        tokio::time::timeout(CONNECTION_WAIT, semaphore.acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    fn get(&self, target: &str, envelope: &str) -> Option<Arc<LiveSchema>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(target)
            .filter(|c| c.envelope == envelope && c.fetched.elapsed() < SCHEMA_CACHE_TTL)
            .map(|c| c.live.clone())
    }

    fn put(&self, target: &str, envelope: &str, live: Arc<LiveSchema>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, c| c.fetched.elapsed() < SCHEMA_CACHE_TTL);
        entries.insert(
            target.to_string(),
            CachedSchema {
                envelope: envelope.to_string(),
                fetched: Instant::now(),
                live,
            },
        );
    }
}

/// `POST /api/v1/projects/{project}/releases:check` (permission
/// `rg.releases.check`).
///
/// Request: `{"files": [{"path", "version", "changeType": "DDL"|"DML",
/// "statement"}], "targets": ["instances/{i}/databases/{d}", …],
/// "refreshSchema": false}`. At most [`MAX_FILES`] files of at most
/// [`MAX_FILE_BYTES`] each, at most [`MAX_TARGETS`] targets, every target a
/// database of the project; anything else is a 4xx naming the field.
///
/// Response (200 even when a target is unreachable):
///
/// ```json
/// {
///   "results": [{"file": "migrations/2_add.sql", "version": "2",
///                "target": "instances/pg/databases/app",
///                "status": "PENDING" | "SKIPPED" | "ERROR",
///                "advices": [{"rule", "level", "code", "title", "content",
///                             "line", "column", "end_line", "end_column"}],
///                "affectedRows": 1200 | null,
///                "riskLevel": "LOW" | "MODERATE" | "HIGH" | null,
///                "riskReasons": ["CREATE INDEX on \"t\" (about …)"]}],
///   "targets": [{"target", "environment", "policy":
///                "environments/prod/reviewPolicy" | "projects/p/reviewPolicy" | "templates/basic",
///                "reachable": true, "error": "…"}],
///   "summary": {"error": 1, "warning": 3},
///   "affectedRows": 1200 | null,
///   "riskLevel": "HIGH" | null
/// }
/// ```
///
/// Advices have the shape of `rollgate lint --format json`. Results are
/// grouped by target (request order), files by version. `affectedRows` is
/// the planner's estimate for the file's `UPDATE`/`DELETE`/`INSERT … SELECT`
/// statements (null without any, or on SQLite); `riskLevel` is null for
/// skipped and unchecked files. The top-level `affectedRows` sums the
/// results' estimates and `riskLevel` is the highest of their levels.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/releases:check",
    tag = "releases",
    operation_id = "checkRelease",
    summary = "Review migration files against the live schemas of target databases",
    params(("project" = String, Path, description = "The project id")),
    request_body = CheckRequest,
    responses((status = 200, description = "Review results per file and target", body = crate::openapi::CheckResponseSchema))
)]
pub(crate) async fn check_release(
    State(state): State<AppState>,
    principal: Principal,
    Path(project): Path<String>,
    request: Result<ApiJson<CheckRequest>, AppError>,
) -> Result<Json<serde_json::Value>, AppError> {
    // The permission is checked before the body is looked at.
    principal
        .require_in_project(&state, Permission::ReleasesCheck, &project)
        .await?;
    let ApiJson(request) = request?;
    let files = validate_files(&request.files)?;
    let targets = validate_targets(&request.targets)?;
    let store = &state.inner.store;
    store_call!(store, s => s.get_project(&project).await)?;
    let members = project_databases(&state, &project).await?;
    let mut databases = Vec::with_capacity(targets.len());
    for (index, target) in targets.iter().enumerate() {
        let database = match store_call!(store, s => s.get_database(target).await) {
            Ok(database) => database,
            Err(StoreError::NotFound { .. }) => {
                return Err(AppError::not_found(format!(
                    "`targets[{index}]`: database `{target}` does not exist; register it or fix the name"
                ))
                .with_details(json!({ "field": format!("targets[{index}]"), "target": target.to_string() })));
            }
            Err(error) => return Err(error.into()),
        };
        if !members.contains(target) {
            return Err(AppError::invalid_argument(format!(
                "`targets[{index}]`: database `{target}` is not part of projects/{project}; add it to the project or remove it from `targets`"
            ))
            .with_details(json!({ "field": format!("targets[{index}]"), "target": target.to_string() })));
        }
        databases.push(database);
    }

    // Targets are checked concurrently, each on its own connection, and
    // reported in request order.
    let files = Arc::new(files);
    let handles: Vec<_> = databases
        .into_iter()
        .map(|database| {
            let (state, project, files) = (state.clone(), project.clone(), files.clone());
            tokio::spawn(async move {
                check_target(&state, &project, &database, &files, request.refresh_schema).await
            })
        })
        .collect();
    let mut results = Vec::new();
    let mut target_results = Vec::new();
    for handle in handles {
        let (target, mut file_results) = handle.await.map_err(|error| {
            tracing::error!(%error, "check: a target's task failed");
            AppError::internal()
        })??;
        target_results.push(target);
        results.append(&mut file_results);
    }
    let (mut errors, mut warnings) = (0, 0);
    for advice in results.iter().flat_map(|r| &r.advices) {
        match advice.level {
            Level::Error => errors += 1,
            Level::Warning => warnings += 1,
        }
    }
    // Overall figures, as Bytebase's CheckReleaseResponse has them for the
    // CI's pull request comment.
    let affected_rows = results
        .iter()
        .filter_map(|r| r.affected_rows)
        .reduce(u64::saturating_add);
    let risk_level = results.iter().filter_map(|r| r.risk_level).max();
    Ok(Json(json!({
        "results": results,
        "targets": target_results,
        "summary": { "error": errors, "warning": warnings },
        "affectedRows": affected_rows,
        "riskLevel": risk_level,
    })))
}

/// Files as the migration model, in version order; each problem is a 400
/// naming the field.
fn validate_files(files: &[CheckFile]) -> Result<Vec<MigrationFile>, AppError> {
    let invalid = |field: String, message: String| {
        AppError::invalid_argument(format!("`{field}`: {message}"))
            .with_details(json!({ "field": field }))
    };
    if files.is_empty() {
        return Err(invalid(
            "files".into(),
            "is empty; send at least one migration file".into(),
        ));
    }
    if files.len() > MAX_FILES {
        return Err(invalid(
            "files".into(),
            format!(
                "has {} files, over the limit of {MAX_FILES} per check; check the release in several requests",
                files.len()
            ),
        ));
    }
    let mut models = Vec::with_capacity(files.len());
    let mut seen: HashMap<Version, usize> = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        if file.path.trim().is_empty() {
            return Err(invalid(
                format!("files[{index}].path"),
                "is empty; give the file's path in the repository".into(),
            ));
        }
        if file.statement.len() > MAX_FILE_BYTES {
            return Err(AppError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "`files[{index}].statement` ({}) is {} bytes, over the limit of {MAX_FILE_BYTES} bytes (2 MiB); split the migration into smaller files",
                    file.path,
                    file.statement.len()
                ),
            )
            .with_details(json!({ "field": format!("files[{index}].statement") })));
        }
        let version = Version::parse(file.version.trim()).map_err(|error| {
            invalid(
                format!("files[{index}].version"),
                format!(
                    "\"{}\" is not a migration version ({error}); use the file name's numeric prefix, e.g. 202501011200",
                    file.version
                ),
            )
        })?;
        if let Some(first) = seen.insert(version.clone(), index) {
            return Err(invalid(
                format!("files[{index}].version"),
                format!(
                    "version {version} is also used by files[{first}]; give each migration its own version"
                ),
            ));
        }
        let mut model = MigrationFile::from_text(&file.path, &file.statement);
        if let Some(given) = &file.change_type {
            model.change_type = match given.to_ascii_uppercase().as_str() {
                "DDL" => ChangeType::Ddl,
                "DML" => ChangeType::Dml,
                _ => {
                    return Err(invalid(
                        format!("files[{index}].changeType"),
                        format!("\"{given}\" is not a change type; use DDL or DML"),
                    ));
                }
            };
        }
        model.version = Some(version);
        models.push(model);
    }
    models.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(models)
}

fn validate_targets(targets: &[String]) -> Result<Vec<DatabaseRef>, AppError> {
    let invalid = |field: String, message: String| {
        AppError::invalid_argument(format!("`{field}`: {message}"))
            .with_details(json!({ "field": field }))
    };
    if targets.is_empty() {
        return Err(invalid(
            "targets".into(),
            "is empty; name at least one database, e.g. instances/pg/databases/app".into(),
        ));
    }
    if targets.len() > MAX_TARGETS {
        return Err(invalid(
            "targets".into(),
            format!(
                "has {} targets, over the limit of {MAX_TARGETS} per check; check them in several requests",
                targets.len()
            ),
        ));
    }
    let mut refs = Vec::with_capacity(targets.len());
    let mut seen = BTreeSet::new();
    for (index, target) in targets.iter().enumerate() {
        let parsed = target
            .strip_prefix("instances/")
            .and_then(|rest| rest.split_once("/databases/"))
            .filter(|(instance, name)| {
                !instance.is_empty()
                    && !name.is_empty()
                    && !instance.contains('/')
                    && !name.contains('/')
            })
            .map(|(instance, name)| DatabaseRef::new(instance, name));
        let Some(database) = parsed else {
            return Err(invalid(
                format!("targets[{index}]"),
                format!(
                    "\"{target}\" is not a database name; use instances/{{instance}}/databases/{{database}}"
                ),
            ));
        };
        if !seen.insert(database.clone()) {
            return Err(invalid(
                format!("targets[{index}]"),
                format!("{database} is listed twice; list each target once"),
            ));
        }
        refs.push(database);
    }
    Ok(refs)
}

async fn project_databases(
    state: &AppState,
    project: &str,
) -> Result<BTreeSet<DatabaseRef>, AppError> {
    let store = &state.inner.store;
    let mut page = PageRequest::first(rollgate_store::MAX_PAGE_SIZE);
    let mut members = BTreeSet::new();
    loop {
        let result = store_call!(store, s => s.list_project_databases(project, &page).await)?;
        members.extend(result.items);
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return Ok(members),
        }
    }
}

async fn check_target(
    state: &AppState,
    project: &str,
    database: &Database,
    files: &[MigrationFile],
    refresh_schema: bool,
) -> Result<(TargetResult, Vec<CheckResult>), AppError> {
    let target = DatabaseRef::new(&database.instance, &database.name).to_string();
    let (policy_name, policy) =
        crate::policies::resolve_for(state, &database.environment, project).await?;
    let mut target_result = TargetResult {
        target: target.clone(),
        environment: format!("environments/{}", database.environment),
        policy: policy_name,
        reachable: false,
        error: None,
    };
    // Held until this target's check is over.
    let slot = state
        .inner
        .schema_cache
        .connection_slot(&database.instance)
        .await;
    let connected = match &slot {
        Some(_) => connect(state, database, &target).await?,
        None => Err(format!(
            "{target}: every connection slot to instances/{} stayed busy for {} s; retry the check later",
            database.instance,
            CONNECTION_WAIT.as_secs()
        )),
    };
    let outcome = match connected {
        Ok((engine, envelope)) => {
            target_result.reachable = true;
            let mut engine = engine;
            review_target(
                state,
                &mut engine,
                &envelope,
                &target,
                &policy,
                files,
                refresh_schema,
            )
            .await
        }
        Err(message) => Err(message),
    };
    let results = match outcome {
        Ok(results) => results,
        Err(message) => {
            target_result.error = Some(message.clone());
            files
                .iter()
                .map(|file| CheckResult {
                    file: file.path.clone(),
                    version: version_text(file),
                    target: target.clone(),
                    status: "ERROR",
                    advices: vec![file_advice(
                        TARGET_UNREACHABLE,
                        TARGET_UNREACHABLE_CODE,
                        "The target could not be checked",
                        message.clone(),
                    )],
                    affected_rows: None,
                    risk_level: None,
                    risk_reasons: Vec::new(),
                })
                .collect()
        }
    };
    Ok((target_result, results))
}

/// Connects to a target. The outer error is the metadata store's; the inner
/// one a message for the target's ERROR advice, naming the target and never
/// its URL (the driver's text goes to the server log, already redacted).
async fn connect(
    state: &AppState,
    database: &Database,
    target: &str,
) -> Result<Result<(AnyEngine, String), String>, AppError> {
    let store = &state.inner.store;
    let instance = store_call!(store, s => s.get_instance(&database.instance).await)?;
    let url = match crate::target::database_url(state.key_ring(), &instance, &database.name) {
        Ok(url) => url,
        Err(message) => return Ok(Err(format!("{target}: {message}"))),
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, AnyEngine::connect(&url, None)).await {
        Ok(Ok(engine)) => Ok(Ok((engine, instance.url_envelope))),
        Ok(Err(error)) => {
            tracing::warn!(target, %error, "check: cannot connect to the target");
            Ok(Err(format!(
                "{target} is unreachable: connecting to instances/{} failed; check that the database server is running and the instance's URL and credentials are right (the server log has the driver's message)",
                instance.id
            )))
        }
        Err(_) => {
            tracing::warn!(target, "check: connecting to the target timed out");
            Ok(Err(format!(
                "{target} is unreachable: instances/{} did not accept a connection within {} s; check the host, the port and any firewall",
                instance.id,
                CONNECT_TIMEOUT.as_secs()
            )))
        }
    }
}

/// History, plan, live schema and review of one reachable target. An `Err`
/// is a message for the target's ERROR advice.
async fn review_target(
    state: &AppState,
    engine: &mut AnyEngine,
    envelope: &str,
    target: &str,
    policy: &Policy,
    files: &[MigrationFile],
    refresh_schema: bool,
) -> Result<Vec<CheckResult>, String> {
    let kind = engine.kind();
    let history = engine
        .read_history()
        .await
        .map_err(|e| format!("{target}: cannot read its migration history: {e}"))?;
    let records = rollgate_engine::prepare::applied_records(&history).0;
    let states: HashMap<Version, FileState> = rollgate_migration::status(files, &records)
        .into_iter()
        .map(|s| (s.version, s.state))
        .collect();
    let texts = |file: &MigrationFile| {
        rollgate_engine::prepare::statements(kind, file)
            .into_iter()
            .map(|s| s.text)
            .collect::<Vec<_>>()
    };
    let mut history_errors: HashMap<Version, Vec<PlanError>> = HashMap::new();
    if let Err(errors) = rollgate_migration::plan(files, &records, &texts, &PlanOptions::default())
    {
        for error in errors {
            if let Some(version) = error.version().cloned() {
                history_errors.entry(version).or_default().push(error);
            }
        }
    }

    let cached = if refresh_schema {
        None
    } else {
        state.inner.schema_cache.get(target, envelope)
    };
    let live = match cached {
        Some(live) => live,
        None => {
            let snapshot = engine
                .dump_schema()
                .await
                .map_err(|e| format!("{target}: cannot read its schema: {e}"))?;
            let estimates = engine
                .table_rows()
                .await
                .map_err(|e| format!("{target}: cannot read its table statistics: {e}"))?;
            let rows = estimates
                .iter()
                .map(|(name, rows)| (rollgate_engine::schema::catalog_key(name), *rows))
                .collect();
            let live = Arc::new(LiveSchema {
                catalog: snapshot.to_catalog(),
                rows,
            });
            state.inner.schema_cache.put(target, envelope, live.clone());
            live
        }
    };

    // Files the target would run (or refuses to run out of order) are
    // reviewed, in version order, against the live catalog.
    let reviewed: Vec<&MigrationFile> = files
        .iter()
        .filter(|file| {
            let state = file.version.as_ref().and_then(|v| states.get(v));
            !matches!(
                state,
                Some(FileState::Applied | FileState::Baseline | FileState::Modified { .. })
            )
        })
        .collect();
    let loaded: Vec<Loaded> = reviewed
        .iter()
        .map(|f| Loaded::File((*f).clone()))
        .collect();
    let review_policy = policy.clone();
    let catalog = live.catalog.clone();
    let reports = tokio::task::spawn_blocking(move || {
        Reviewer::new(&review_policy, catalog).review_batch(loaded)
    })
    .await
    .map_err(|_| format!("{target}: the review failed; see the server log"))?;
    // Keyed by version: versions are unique in a check, paths need not be.
    let mut reports: HashMap<Option<Version>, Vec<Advice>> = reviewed
        .iter()
        .zip(reports)
        .map(|(file, report)| (file.version.clone(), report.advices))
        .collect();

    let mut rows = live.rows.clone();
    let mut results = Vec::with_capacity(files.len());
    for file in files {
        let version = file.version.clone();
        let state = version.as_ref().and_then(|v| states.get(v));
        let mut result = CheckResult {
            file: file.path.clone(),
            version: version_text(file),
            target: target.to_string(),
            status: "PENDING",
            advices: Vec::new(),
            affected_rows: None,
            risk_level: None,
            risk_reasons: Vec::new(),
        };
        if matches!(state, Some(FileState::Applied | FileState::Baseline)) {
            result.status = "SKIPPED";
            results.push(result);
            continue;
        }
        for error in version
            .as_ref()
            .and_then(|v| history_errors.get(v))
            .into_iter()
            .flatten()
        {
            result.status = "ERROR";
            result.advices.push(file_advice(
                MIGRATION_HISTORY,
                MIGRATION_HISTORY_CODE,
                "The file conflicts with the target's migration history",
                format!("{target}: {error}"),
            ));
        }
        if let Some(FileState::Modified { stored, current }) = state
            && result.advices.is_empty()
        {
            result.status = "ERROR";
            result.advices.push(file_advice(
                MIGRATION_HISTORY,
                MIGRATION_HISTORY_CODE,
                "The file conflicts with the target's migration history",
                format!(
                    "{target}: {} changed after it was applied: the history records checksum {stored} but the file now has {current}",
                    file.path
                ),
            ));
        }
        if matches!(state, Some(FileState::Modified { .. })) {
            results.push(result);
            continue;
        }
        result
            .advices
            .extend(reports.remove(&file.version).unwrap_or_default());
        let parsed = rollgate_sql::parse(policy.dialect, &file.text);
        result.affected_rows = affected_rows(engine, &file.text, &parsed.statements).await;
        let Risk { level, reasons } = risk::assess(&parsed.statements, &rows, result.affected_rows);
        result.risk_level = Some(level);
        result.risk_reasons = reasons;
        // Tables this file creates are empty for the files after it.
        for statement in &parsed.statements {
            if let StatementKind::CreateTable(create) = &statement.kind {
                rows.entry(key(&create.name)).or_insert(0);
            }
        }
        results.push(result);
    }
    Ok(results)
}

/// The planner's estimate of the rows the file's data changes touch: the
/// sum over its `UPDATE`, `DELETE` and `INSERT … SELECT` statements that
/// the target could explain; `None` when there are none.
async fn affected_rows(
    engine: &mut AnyEngine,
    text: &str,
    statements: &[Statement],
) -> Option<u64> {
    let mut total: Option<u64> = None;
    for statement in statements {
        let changes_rows = match &statement.kind {
            StatementKind::Update(_) | StatementKind::Delete(_) => true,
            StatementKind::Insert(insert) => !matches!(insert.source, InsertSource::Values { .. }),
            _ => false,
        };
        if !changes_rows {
            continue;
        }
        let sql = statement
            .span
            .slice(text)
            .trim()
            .trim_end_matches(';')
            .trim();
        match engine.explain_rows(sql).await {
            Ok(Some(rows)) => total = Some(total.unwrap_or(0).saturating_add(rows)),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "check: EXPLAIN failed");
            }
        }
    }
    total
}

fn version_text(file: &MigrationFile) -> String {
    file.version
        .as_ref()
        .map(|v| v.as_str().to_string())
        .unwrap_or_default()
}

/// A file-level advice (line 1) that is not a rule finding.
fn file_advice(rule: &str, code: u32, title: &str, content: String) -> Advice {
    Advice {
        rule: rule.to_string(),
        level: Level::Error,
        code,
        title: title.to_string(),
        content,
        line: 1,
        column: 1,
        end_line: 1,
        end_column: 1,
    }
}
