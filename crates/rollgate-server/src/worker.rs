//! Workers: claim task runs from the metadata store and apply a release's
//! pending files to the task's database through the engine library.
//!
//! One run: claim (within the [`WorkerConfig`] parallelism limits) →
//! rollout, release, database and instance from the store → decrypt the
//! instance URL envelope (AAD [`instance_url_aad`]) → connect → take the
//! migration lock ([`LOCK_TIMEOUT`]) → read the target's history → plan
//! (`rollgate_migration::plan`, as `rollgate migrate` does) → apply each
//! pending file, heartbeating before each file and on a timer while a file
//! runs → finish `DONE` or `FAILED`.
//!
//! The target's own history decides what is pending, so a run re-claimed
//! after its worker died (or after a graceful shutdown released it) resumes
//! safely. A run whose lease is lost (expired, canceled, released) is
//! abandoned at once: the in-flight statement's connection is dropped, which
//! rolls back its transaction and frees the target's session lock. The task log gets one JSON entry
//! per event (`run_started`, `file_started`, `statement`, `lock_retry`,
//! `file_finished`, `file_failed`, `run_finished`); see [`run_one`].
//!
//! Secrets: the decrypted URL lives only in a [`TargetUrl`] and is never
//! logged; engine errors name the redacted target only.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rollgate_engine::any::AnyEngine;
use rollgate_engine::{ApplyOptions, Engine, EngineError, Progress};
use rollgate_migration::{MigrationFile, PlanOptions};
use rollgate_store::{ClaimLimits, ClaimedRun, RunOutcome, StoreError};
use serde_json::{Value, json};

use crate::AppState;
use crate::store::store_call;
use crate::time::now_unix;

/// How long a worker waits for a target's migration lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The lease runs are claimed with by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How the server's workers run. [`WorkerConfig::from_env`] reads it from
/// `ROLLGATE_WORKERS`, `ROLLGATE_MAX_RUNNING_PER_ROLLOUT`,
/// `ROLLGATE_MAX_RUNNING_PER_INSTANCE`, `ROLLGATE_LEASE_SECONDS` and
/// `ROLLGATE_SHUTDOWN_GRACE_SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Worker loops per server process (0: this replica runs no tasks).
    pub count: usize,
    /// Lease of a claimed run; a live worker renews it every `lease / 3`.
    pub lease: Duration,
    /// Parallelism limits, enforced by the claim across replicas.
    pub limits: ClaimLimits,
    /// On shutdown, how long running tasks may go on before their runs are
    /// released back to `AVAILABLE`.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            count: 4,
            lease: DEFAULT_LEASE,
            limits: ClaimLimits {
                per_rollout: Some(4),
                per_instance: Some(2),
            },
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl WorkerConfig {
    /// The defaults, overridden by the environment variables named above.
    /// A limit of 0 means unlimited.
    pub fn from_env() -> anyhow::Result<WorkerConfig> {
        fn var(name: &str) -> anyhow::Result<Option<u64>> {
            match std::env::var(name) {
                Ok(text) if !text.trim().is_empty() => text
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| anyhow::anyhow!("{name} must be a whole number, not `{text}`")),
                _ => Ok(None),
            }
        }
        let limit = |n: u64| u32::try_from(n).ok().filter(|&n| n > 0);
        let mut config = WorkerConfig::default();
        if let Some(n) = var("ROLLGATE_WORKERS")? {
            config.count = usize::try_from(n).unwrap_or(usize::MAX).min(256);
        }
        if let Some(n) = var("ROLLGATE_MAX_RUNNING_PER_ROLLOUT")? {
            config.limits.per_rollout = limit(n);
        }
        if let Some(n) = var("ROLLGATE_MAX_RUNNING_PER_INSTANCE")? {
            config.limits.per_instance = limit(n);
        }
        if let Some(n) = var("ROLLGATE_LEASE_SECONDS")? {
            config.lease = Duration::from_secs(n.max(3));
        }
        if let Some(n) = var("ROLLGATE_SHUTDOWN_GRACE_SECONDS")? {
            config.shutdown_grace = Duration::from_secs(n);
        }
        Ok(config)
    }

    /// How often a running task renews its lease.
    pub fn heartbeat_interval(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(100))
    }
}

/// Shortest and longest wait of [`worker_loop`] between empty polls.
const IDLE_MIN: Duration = Duration::from_millis(200);
const IDLE_MAX: Duration = Duration::from_secs(5);

/// The associated data an instance's URL envelope is encrypted with:
/// `instances/{id}:url`, binding the ciphertext to its instance row (see
/// `rollgate_auth::crypto`). Whoever stores an instance must encrypt its
/// connection URL with `key_ring.encrypt(url, &instance_url_aad(id))`.
pub fn instance_url_aad(instance_id: &str) -> String {
    format!("instances/{instance_id}:url")
}

/// Claims one task run and executes it to the end. `Ok(false)` when nothing
/// was claimable; `Ok(true)` when a run was claimed, whether it ended `DONE`,
/// `FAILED`, or was abandoned because its lease was lost (then another
/// worker picks it up). A failing migration is a `FAILED` run, not an `Err`;
/// `Err` means the metadata store itself failed.
pub async fn run_one(
    state: &AppState,
    worker_id: &str,
    config: &WorkerConfig,
) -> anyhow::Result<bool> {
    let store = state.store();
    let claimed = store_call!(store, s => s.claim_task_run(worker_id, config.lease, now_unix(), &config.limits).await)
        .context("cannot claim a task run")?;
    let Some(run) = claimed else {
        return Ok(false);
    };
    let started = Instant::now();
    let ctx = RunContext {
        state,
        worker_id,
        config,
        run: &run,
    };
    ctx.log(json!({
        "event": "run_started",
        "worker": worker_id,
        "attempt": run.attempt,
        "rollout": run.rollout_id,
        "release": run.release,
        "database": run.database.to_string(),
        "at_ms": now_ms(),
    }))
    .await?;
    let (outcome, error) = match ctx.execute().await {
        Ok(Executed::Done { applied }) => {
            ctx.log(json!({
                "event": "run_finished",
                "status": RunOutcome::Done.as_str(),
                "files_applied": applied,
                "at_ms": now_ms(),
            }))
            .await?;
            (RunOutcome::Done, None)
        }
        Ok(Executed::LeaseLost) => {
            tracing::warn!(
                run = run.run_id,
                worker_id,
                "lease lost; abandoning the run"
            );
            return Ok(true);
        }
        Err(Failure::Store(error)) => return Err(error),
        Err(Failure::Task(message)) => {
            ctx.log(json!({
                "event": "run_finished",
                "status": RunOutcome::Failed.as_str(),
                "error": message,
                "at_ms": now_ms(),
            }))
            .await?;
            (RunOutcome::Failed, Some(message))
        }
    };
    match store_call!(store, s => s.finish_task_run(run.run_id, worker_id, outcome, error.as_deref(), now_unix()).await)
    {
        Ok(()) => {
            state.record_task_run(outcome.as_str(), started.elapsed());
            Ok(true)
        }
        // Re-claimed by another worker after our lease expired: its run decides.
        Err(StoreError::Conflict { .. }) => {
            tracing::warn!(run = run.run_id, worker_id, "lease lost before finishing");
            Ok(true)
        }
        Err(error) => Err(error).context("cannot finish the task run"),
    }
}

/// Runs [`run_one`] until `shutdown` turns true: after a poll that found
/// nothing (or a store error) it waits, doubling the wait from 200 ms up to
/// 5 s, and polls again at once after a run. On shutdown it stops claiming,
/// lets a running task go on for `config.shutdown_grace`, then abandons it
/// and releases this worker's runs back to `AVAILABLE` for another worker.
pub async fn worker_loop(
    state: AppState,
    worker_id: String,
    config: WorkerConfig,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut idle = IDLE_MIN;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let run = run_one(&state, &worker_id, &config);
        tokio::pin!(run);
        let result = tokio::select! {
            biased;
            result = &mut run => result,
            () = stopped(&mut shutdown) => {
                if tokio::time::timeout(config.shutdown_grace, &mut run).await.is_err() {
                    tracing::warn!(worker_id, "shutdown grace period over; releasing the running task");
                }
                break;
            }
        };
        let wait = match result {
            Ok(true) => {
                idle = IDLE_MIN;
                continue;
            }
            Ok(false) => idle,
            Err(error) => {
                tracing::warn!(worker_id, error = %format!("{error:#}"), "worker poll failed");
                idle
            }
        };
        idle = (idle * 2).min(IDLE_MAX);
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    release_runs(&state, &worker_id).await;
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Gives every run `worker_id` still holds back to the queue.
pub async fn release_runs(state: &AppState, worker_id: &str) {
    let store = state.store();
    match store_call!(store, s => s.release_worker_runs(worker_id).await) {
        Ok(0) => {}
        Ok(n) => tracing::info!(worker_id, runs = n, "released unfinished task runs"),
        Err(error) => {
            tracing::warn!(worker_id, %error, "cannot release task runs; their leases will expire")
        }
    }
}

enum Executed {
    Done { applied: usize },
    LeaseLost,
}

enum Failure {
    /// The metadata store failed: the run stays as it is (its lease expires).
    Store(anyhow::Error),
    /// The task failed: recorded as `FAILED` with this message.
    Task(String),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error.into())
    }
}

struct RunContext<'a> {
    state: &'a AppState,
    worker_id: &'a str,
    config: &'a WorkerConfig,
    run: &'a ClaimedRun,
}

impl RunContext<'_> {
    async fn log(&self, entry: Value) -> anyhow::Result<()> {
        let store = self.state.store();
        let text = entry.to_string();
        store_call!(store, s => s.append_task_log(self.run.run_id, &text).await)
            .context("cannot append to the task log")?;
        Ok(())
    }

    /// Runs `work` while renewing the lease on a timer; `None` when the
    /// lease was lost, and `work` was dropped unfinished.
    async fn with_heartbeat<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> Result<Option<T>, Failure> {
        tokio::pin!(work);
        let mut ticker = tokio::time::interval(self.config.heartbeat_interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                result = &mut work => return Ok(Some(result)),
                _ = ticker.tick() => {
                    if !self.heartbeat().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    async fn heartbeat(&self) -> Result<bool, Failure> {
        let store = self.state.store();
        Ok(
            store_call!(store, s => s.heartbeat(self.run.run_id, self.worker_id, self.config.lease, now_unix()).await)?,
        )
    }

    async fn execute(&self) -> Result<Executed, Failure> {
        let store = self.state.store();
        let run = self.run;
        let release = store_call!(store, s => s.get_release(&run.project, &run.release).await)?;
        let database = store_call!(store, s => s.get_database(&run.database).await)?;
        let instance = store_call!(store, s => s.get_instance(&database.instance).await)?;
        let url = crate::target::database_url(self.state.key_ring(), &instance, &database.name)
            .map_err(Failure::Task)?;
        // Connecting and waiting for the target's migration lock (another
        // runner may hold it) renew the lease too.
        let locked = self
            .with_heartbeat(async {
                let mut engine = AnyEngine::connect(&url, None)
                    .await
                    .map_err(|e| Failure::Task(e.to_string()))?;
                engine
                    .lock(LOCK_TIMEOUT)
                    .await
                    .map_err(|e| Failure::Task(e.to_string()))?;
                Ok::<_, Failure>(engine)
            })
            .await?;
        let Some(engine) = locked else {
            return Ok(Executed::LeaseLost);
        };
        let mut engine = engine?;
        let result = self.apply_pending(&mut engine, &release).await;
        if matches!(result, Ok(Executed::LeaseLost)) {
            // A statement may have been cut off mid-flight: drop the
            // connection (rolling back, freeing the session lock) rather
            // than reuse it.
            drop(engine);
            return result;
        }
        if let Err(error) = engine.unlock().await {
            tracing::warn!(run = run.run_id, %error, "cannot release the migration lock");
        }
        result
    }

    async fn apply_pending(
        &self,
        engine: &mut AnyEngine,
        release: &rollgate_store::Release,
    ) -> Result<Executed, Failure> {
        let kind = engine.kind();
        let history = engine
            .history()
            .await
            .map_err(|e| Failure::Task(e.to_string()))?;
        let files: Vec<MigrationFile> = release
            .files
            .iter()
            .map(|f| MigrationFile::from_text(&f.path, &f.statement))
            .collect();
        let records = rollgate_engine::prepare::applied_records(&history).0;
        let texts = |file: &MigrationFile| {
            rollgate_engine::prepare::statements(kind, file)
                .into_iter()
                .map(|s| s.text)
                .collect::<Vec<_>>()
        };
        let plan = rollgate_migration::plan(&files, &records, &texts, &PlanOptions::default())
            .map_err(|errors| {
                Failure::Task(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        let options = ApplyOptions {
            release_id: Some(release.id.clone()),
            task_id: Some(self.run.task_id.to_string()),
            ..ApplyOptions::default()
        };
        let mut applied = 0;
        for step in &plan.steps {
            if !self.heartbeat().await? {
                return Ok(Executed::LeaseLost);
            }
            let Some(file) = files.get(step.file_index) else {
                continue;
            };
            let apply = rollgate_engine::prepare::apply_file(kind, file, step.resume_from);
            self.log(json!({
                "event": "file_started",
                "file": apply.file_name,
                "version": apply.version,
                "statements": apply.statements.len(),
                "resume_from": apply.resume_from,
                "at_ms": now_ms(),
            }))
            .await
            .map_err(Failure::Store)?;
            let started = Instant::now();
            let mut events = Vec::new();
            let mut open: Option<(usize, u32, u128)> = None;
            let statements = &apply.statements;
            let file_name = apply.file_name.clone();
            let mut progress = |p: Progress| match p {
                Progress::StatementStarted { index, line, .. } => {
                    open = Some((index, line, now_ms()));
                }
                Progress::StatementFinished {
                    index,
                    rows_affected,
                    duration,
                } => {
                    let line = statements.get(index).map_or(0, |s| s.line);
                    let started_ms = match open.take() {
                        Some((i, _, at)) if i == index => at,
                        _ => now_ms().saturating_sub(duration.as_millis()),
                    };
                    events.push(json!({
                        "event": "statement",
                        "file": file_name,
                        "index": index,
                        "line": line,
                        "status": "DONE",
                        "started_at_ms": started_ms,
                        "finished_at_ms": now_ms(),
                        "duration_ms": duration.as_millis(),
                        "rows_affected": rows_affected,
                    }));
                }
                Progress::LockRetry {
                    index,
                    attempt,
                    wait,
                    blocked_by,
                } => events.push(json!({
                    "event": "lock_retry",
                    "file": file_name,
                    "index": index,
                    "attempt": attempt,
                    "wait_ms": wait.as_millis(),
                    "blocked_by": blocked_by,
                })),
            };
            // A long statement does not lose the lease; a lost lease
            // abandons the file.
            let result = self
                .with_heartbeat(engine.apply(&apply, &options, &mut progress))
                .await?;
            let Some(result) = result else {
                for event in events {
                    self.log(event).await.map_err(Failure::Store)?;
                }
                return Ok(Executed::LeaseLost);
            };
            for event in events {
                self.log(event).await.map_err(Failure::Store)?;
            }
            match result {
                Ok(done) => {
                    applied += 1;
                    self.log(json!({
                        "event": "file_finished",
                        "file": apply.file_name,
                        "version": apply.version,
                        "status": "DONE",
                        "statements": done.statements,
                        "duration_ms": done.duration.as_millis(),
                        "at_ms": now_ms(),
                    }))
                    .await
                    .map_err(Failure::Store)?;
                }
                Err(error) => {
                    let message = error.to_string();
                    if let EngineError::Statement(failure) = &error {
                        let started_ms = open.map_or_else(now_ms, |(_, _, at)| at);
                        self.log(json!({
                            "event": "statement",
                            "file": failure.file_name,
                            "index": failure.index,
                            "line": failure.line,
                            "status": "FAILED",
                            "started_at_ms": started_ms,
                            "finished_at_ms": now_ms(),
                            "duration_ms": now_ms().saturating_sub(started_ms),
                            "error": message,
                        }))
                        .await
                        .map_err(Failure::Store)?;
                    }
                    self.log(json!({
                        "event": "file_failed",
                        "file": apply.file_name,
                        "version": apply.version,
                        "status": "FAILED",
                        "duration_ms": started.elapsed().as_millis(),
                        "error": message,
                        "at_ms": now_ms(),
                    }))
                    .await
                    .map_err(Failure::Store)?;
                    return Err(Failure::Task(message));
                }
            }
        }
        Ok(Executed::Done { applied })
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
