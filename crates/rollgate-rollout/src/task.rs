//! Task and task-run state machines.
//!
//! A task is one (target database, release) pair of a rollout; a task run is
//! one attempt at executing it, claimed by a worker. Both are values: every
//! transition is a method that takes `&self` and returns the next value or a
//! `TransitionError` naming the state it came from and the state it wanted to
//! reach. The allowed edges live in one table per machine (`TASK_EDGES`,
//! `TASK_RUN_EDGES`) so that error messages and tests read the same source.
//!
//! This module does not know about stages, environments or who may run a
//! task; that is `gate`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Status of a task, as users see it (`NOT_STARTED`, `PENDING`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    NotStarted,
    Pending,
    Running,
    Done,
    Failed,
    Canceled,
    Skipped,
}

/// Status of a task run. `Available` means a worker may claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskRunStatus {
    Pending,
    Available,
    Running,
    Done,
    Failed,
    Canceled,
}

/// How a running task or task run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Done,
    Failed,
}

/// The transitions of both machines, named like the API verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A user or the server asks for the task to run (`tasks:run`).
    Run,
    /// The scheduler makes a pending run claimable.
    MakeAvailable,
    /// A worker claims an available run and starts executing the task.
    Claim,
    /// The worker reports the outcome.
    Finish,
    /// A user cancels (`taskRuns:cancel`).
    Cancel,
    /// A user skips the task with a reason (`tasks:skip`).
    Skip,
    /// The worker holding the run stopped heartbeating.
    LeaseExpired,
}

/// A transition that the state machine does not allow, or a skip without a
/// reason. The message says what state the value is in and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error(
        "a task that is {from} cannot {passive} (to {to}); only a task that is {allowed} can",
        passive = action.passive()
    )]
    Task {
        action: Action,
        from: TaskStatus,
        to: TaskStatus,
        allowed: StatusList<TaskStatus>,
    },
    #[error(
        "a task run that is {from} cannot {passive} (to {to}); only a task run that is {allowed} can",
        passive = action.passive()
    )]
    TaskRun {
        action: Action,
        from: TaskRunStatus,
        to: TaskRunStatus,
        allowed: StatusList<TaskRunStatus>,
    },
    #[error(
        "a task is skipped only with a reason: give a non-empty reason saying why it is skipped"
    )]
    EmptySkipReason,
}

/// A list of statuses, displayed as `NOT_STARTED, FAILED or CANCELED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList<S>(pub Vec<S>);

/// Every allowed task edge: (action, from, to). `Finish` appears once per
/// outcome.
pub const TASK_EDGES: &[(Action, TaskStatus, TaskStatus)] = {
    use Action::*;
    use TaskStatus::*;
    &[
        (Run, NotStarted, Pending),
        (Run, Failed, Pending),
        (Run, Canceled, Pending),
        (Claim, Pending, Running),
        (Finish, Running, Done),
        (Finish, Running, Failed),
        (Cancel, Pending, Canceled),
        (Cancel, Running, Canceled),
        (Skip, NotStarted, Skipped),
        (Skip, Failed, Skipped),
        (Skip, Canceled, Skipped),
        (LeaseExpired, Running, Pending),
    ]
};

/// Every allowed task-run edge: (action, from, to).
pub const TASK_RUN_EDGES: &[(Action, TaskRunStatus, TaskRunStatus)] = {
    use Action::*;
    use TaskRunStatus::*;
    &[
        (MakeAvailable, Pending, Available),
        (Claim, Available, Running),
        (Finish, Running, Done),
        (Finish, Running, Failed),
        (Cancel, Pending, Canceled),
        (Cancel, Available, Canceled),
        (Cancel, Running, Canceled),
        (LeaseExpired, Running, Available),
    ]
};

/// One task of a rollout: a target database and its status. A `SKIPPED`
/// task always carries a non-empty reason; no other status carries one.
/// Deserializing checks that, so a stored task cannot break it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TaskWire", rename_all = "camelCase")]
pub struct Task {
    database: String,
    status: TaskStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_reason: Option<String>,
}

/// One attempt at executing a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRun {
    status: TaskRunStatus,
}

impl Task {
    /// A task that has not started, for `database`
    /// (`instances/{instance}/databases/{database}`).
    pub fn new(database: impl Into<String>) -> Task {
        Task {
            database: database.into(),
            status: TaskStatus::NotStarted,
            skipped_reason: None,
        }
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn status(&self) -> TaskStatus {
        self.status
    }

    /// The reason given when the task was skipped; `Some` exactly when the
    /// status is `SKIPPED`.
    pub fn skipped_reason(&self) -> Option<&str> {
        self.skipped_reason.as_deref()
    }

    /// `DONE` or `SKIPPED`: what a later stage waits for.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, TaskStatus::Done | TaskStatus::Skipped)
    }

    /// `NOT_STARTED`, `FAILED` or `CANCELED` → `PENDING`.
    pub fn run(&self) -> Result<Task, TransitionError> {
        self.step(Action::Run, TaskStatus::Pending)
    }

    /// `PENDING` → `RUNNING`, when a worker claims the task's run.
    pub fn claim(&self) -> Result<Task, TransitionError> {
        self.step(Action::Claim, TaskStatus::Running)
    }

    /// `RUNNING` → `DONE` or `FAILED`.
    pub fn finish(&self, outcome: Outcome) -> Result<Task, TransitionError> {
        let to = match outcome {
            Outcome::Done => TaskStatus::Done,
            Outcome::Failed => TaskStatus::Failed,
        };
        self.step(Action::Finish, to)
    }

    /// `PENDING` or `RUNNING` → `CANCELED`.
    pub fn cancel(&self) -> Result<Task, TransitionError> {
        self.step(Action::Cancel, TaskStatus::Canceled)
    }

    /// `NOT_STARTED`, `FAILED` or `CANCELED` → `SKIPPED` with `reason`
    /// (trimmed, must not be empty).
    pub fn skip(&self, reason: &str) -> Result<Task, TransitionError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(TransitionError::EmptySkipReason);
        }
        let mut next = self.step(Action::Skip, TaskStatus::Skipped)?;
        next.skipped_reason = Some(reason.to_owned());
        Ok(next)
    }

    /// `RUNNING` → `PENDING`: the worker died; its run becomes claimable
    /// again and the next worker resumes from the target's history.
    pub fn lease_expired(&self) -> Result<Task, TransitionError> {
        self.step(Action::LeaseExpired, TaskStatus::Pending)
    }

    fn step(&self, action: Action, to: TaskStatus) -> Result<Task, TransitionError> {
        if TASK_EDGES.contains(&(action, self.status, to)) {
            Ok(Task {
                database: self.database.clone(),
                status: to,
                skipped_reason: None,
            })
        } else {
            Err(TransitionError::Task {
                action,
                from: self.status,
                to,
                allowed: task_sources(action),
            })
        }
    }
}

impl TaskRun {
    /// A run that was just requested: `PENDING`.
    pub fn new() -> TaskRun {
        TaskRun {
            status: TaskRunStatus::Pending,
        }
    }

    pub fn status(&self) -> TaskRunStatus {
        self.status
    }

    /// `PENDING` → `AVAILABLE`: the scheduler lets workers claim it.
    pub fn make_available(&self) -> Result<TaskRun, TransitionError> {
        self.step(Action::MakeAvailable, TaskRunStatus::Available)
    }

    /// `AVAILABLE` → `RUNNING`: a worker took it (with a lease).
    pub fn claim(&self) -> Result<TaskRun, TransitionError> {
        self.step(Action::Claim, TaskRunStatus::Running)
    }

    /// `RUNNING` → `DONE` or `FAILED`.
    pub fn finish(&self, outcome: Outcome) -> Result<TaskRun, TransitionError> {
        let to = match outcome {
            Outcome::Done => TaskRunStatus::Done,
            Outcome::Failed => TaskRunStatus::Failed,
        };
        self.step(Action::Finish, to)
    }

    /// `PENDING`, `AVAILABLE` or `RUNNING` → `CANCELED`.
    pub fn cancel(&self) -> Result<TaskRun, TransitionError> {
        self.step(Action::Cancel, TaskRunStatus::Canceled)
    }

    /// `RUNNING` → `AVAILABLE`: the lease ran out, another worker may claim it.
    pub fn lease_expired(&self) -> Result<TaskRun, TransitionError> {
        self.step(Action::LeaseExpired, TaskRunStatus::Available)
    }

    fn step(&self, action: Action, to: TaskRunStatus) -> Result<TaskRun, TransitionError> {
        if TASK_RUN_EDGES.contains(&(action, self.status, to)) {
            Ok(TaskRun { status: to })
        } else {
            Err(TransitionError::TaskRun {
                action,
                from: self.status,
                to,
                allowed: task_run_sources(action),
            })
        }
    }
}

impl Default for TaskRun {
    fn default() -> Self {
        TaskRun::new()
    }
}

/// The task status implied by its latest run, as Bytebase derives it: no run
/// → `NOT_STARTED`; `PENDING`/`AVAILABLE` → `PENDING`; otherwise the same
/// name. `SKIPPED` never comes from a run.
pub fn task_status_from_run(latest: Option<TaskRunStatus>) -> TaskStatus {
    match latest {
        None => TaskStatus::NotStarted,
        Some(TaskRunStatus::Pending | TaskRunStatus::Available) => TaskStatus::Pending,
        Some(TaskRunStatus::Running) => TaskStatus::Running,
        Some(TaskRunStatus::Done) => TaskStatus::Done,
        Some(TaskRunStatus::Failed) => TaskStatus::Failed,
        Some(TaskRunStatus::Canceled) => TaskStatus::Canceled,
    }
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::NotStarted,
        TaskStatus::Pending,
        TaskStatus::Running,
        TaskStatus::Done,
        TaskStatus::Failed,
        TaskStatus::Canceled,
        TaskStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::NotStarted => "NOT_STARTED",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Done => "DONE",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Canceled => "CANCELED",
            TaskStatus::Skipped => "SKIPPED",
        }
    }
}

impl TaskRunStatus {
    pub const ALL: [TaskRunStatus; 6] = [
        TaskRunStatus::Pending,
        TaskRunStatus::Available,
        TaskRunStatus::Running,
        TaskRunStatus::Done,
        TaskRunStatus::Failed,
        TaskRunStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskRunStatus::Pending => "PENDING",
            TaskRunStatus::Available => "AVAILABLE",
            TaskRunStatus::Running => "RUNNING",
            TaskRunStatus::Done => "DONE",
            TaskRunStatus::Failed => "FAILED",
            TaskRunStatus::Canceled => "CANCELED",
        }
    }
}

impl Action {
    /// The verb, as in the API (`run`, `skip`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Run => "run",
            Action::MakeAvailable => "make available",
            Action::Claim => "claim",
            Action::Finish => "finish",
            Action::Cancel => "cancel",
            Action::Skip => "skip",
            Action::LeaseExpired => "lease expired",
        }
    }

    /// How error messages say it: "a task that is DONE cannot be run".
    pub fn passive(self) -> &'static str {
        match self {
            Action::Run => "be run",
            Action::MakeAvailable => "be made available",
            Action::Claim => "be claimed",
            Action::Finish => "finish",
            Action::Cancel => "be canceled",
            Action::Skip => "be skipped",
            Action::LeaseExpired => "have its lease expire",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for TaskRunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<S: fmt::Display> fmt::Display for StatusList<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        for (i, status) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == n { " or " } else { ", " })?;
            }
            write!(f, "{status}")?;
        }
        Ok(())
    }
}

/// The source states of `action`, without duplicates, in table order.
fn task_sources(action: Action) -> StatusList<TaskStatus> {
    let mut out = Vec::new();
    for &(a, from, _) in TASK_EDGES {
        if a == action && !out.contains(&from) {
            out.push(from);
        }
    }
    StatusList(out)
}

fn task_run_sources(action: Action) -> StatusList<TaskRunStatus> {
    let mut out = Vec::new();
    for &(a, from, _) in TASK_RUN_EDGES {
        if a == action && !out.contains(&from) {
            out.push(from);
        }
    }
    StatusList(out)
}

/// The serialized shape of a task, checked before it becomes a `Task`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TaskWire {
    database: String,
    status: TaskStatus,
    #[serde(default)]
    skipped_reason: Option<String>,
}

impl TryFrom<TaskWire> for Task {
    type Error = String;

    fn try_from(wire: TaskWire) -> Result<Task, String> {
        let reason = wire.skipped_reason.map(|r| r.trim().to_owned());
        match (wire.status, reason) {
            (TaskStatus::Skipped, Some(reason)) if !reason.is_empty() => Ok(Task {
                database: wire.database,
                status: TaskStatus::Skipped,
                skipped_reason: Some(reason),
            }),
            (TaskStatus::Skipped, _) => {
                Err("a SKIPPED task needs a non-empty skippedReason".to_owned())
            }
            (status, None) => Ok(Task {
                database: wire.database,
                status,
                skipped_reason: None,
            }),
            (status, Some(_)) => Err(format!(
                "only a SKIPPED task has a skippedReason, this one is {status}"
            )),
        }
    }
}

/// Drives a new task to `status` through allowed transitions.
#[cfg(test)]
pub(crate) fn task_in(database: &str, status: TaskStatus) -> Task {
    let t = Task::new(database);
    let r = match status {
        TaskStatus::NotStarted => Ok(t),
        TaskStatus::Pending => t.run(),
        TaskStatus::Running => t.run().and_then(|t| t.claim()),
        TaskStatus::Done => t
            .run()
            .and_then(|t| t.claim())
            .and_then(|t| t.finish(Outcome::Done)),
        TaskStatus::Failed => t
            .run()
            .and_then(|t| t.claim())
            .and_then(|t| t.finish(Outcome::Failed)),
        TaskStatus::Canceled => t.run().and_then(|t| t.cancel()),
        TaskStatus::Skipped => t.skip("not needed"),
    };
    r.unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(task: &Task, action: Action) -> Result<Task, TransitionError> {
        match action {
            Action::Run => task.run(),
            Action::MakeAvailable => Err(TransitionError::EmptySkipReason),
            Action::Claim => task.claim(),
            Action::Finish => task.finish(Outcome::Done),
            Action::Cancel => task.cancel(),
            Action::Skip => task.skip("reason"),
            Action::LeaseExpired => task.lease_expired(),
        }
    }

    #[test]
    fn task_transitions_table() {
        use Action::*;
        use TaskStatus::*;
        // (from, action, expected status or None for refused)
        let cases: &[(TaskStatus, Action, Option<TaskStatus>)] = &[
            (NotStarted, Run, Some(Pending)),
            (Failed, Run, Some(Pending)),
            (Canceled, Run, Some(Pending)),
            (Pending, Run, None),
            (Running, Run, None),
            (Done, Run, None),
            (Skipped, Run, None),
            (Pending, Claim, Some(Running)),
            (NotStarted, Claim, None),
            (Running, Finish, Some(Done)),
            (Pending, Finish, None),
            (Pending, Cancel, Some(Canceled)),
            (Running, Cancel, Some(Canceled)),
            (Done, Cancel, None),
            (NotStarted, Cancel, None),
            (NotStarted, Skip, Some(Skipped)),
            (Failed, Skip, Some(Skipped)),
            (Running, Skip, None),
            (Done, Skip, None),
            (Skipped, Skip, None),
            (Running, LeaseExpired, Some(Pending)),
            (Pending, LeaseExpired, None),
        ];
        for &(from, action, expected) in cases {
            let got = apply(&task_in("instances/i/databases/d", from), action);
            match (expected, got) {
                (Some(to), Ok(task)) => assert_eq!(task.status(), to, "{from} {action}"),
                (None, Err(TransitionError::Task { from: f, .. })) => assert_eq!(f, from),
                (expected, got) => panic!("{from} {action}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn finish_failed_and_skip_reason() {
        let running = task_in("d", TaskStatus::Running);
        assert_eq!(
            running.finish(Outcome::Failed).unwrap().status(),
            TaskStatus::Failed
        );
        let skipped = task_in("d", TaskStatus::NotStarted)
            .skip("  done by hand  ")
            .unwrap();
        assert_eq!(skipped.skipped_reason(), Some("done by hand"));
        // Running it again after a failure forgets nothing but the reason.
        assert_eq!(
            task_in("d", TaskStatus::Failed)
                .run()
                .unwrap()
                .skipped_reason(),
            None
        );
    }

    #[test]
    fn transition_error_messages() {
        type Step = fn(&Task) -> Result<Task, TransitionError>;
        let cases: &[(Task, Step, &str)] = &[
            (
                task_in("d", TaskStatus::Done),
                |t| t.run(),
                "a task that is DONE cannot be run (to PENDING); \
                 only a task that is NOT_STARTED, FAILED or CANCELED can",
            ),
            (
                task_in("d", TaskStatus::Done),
                |t| t.cancel(),
                "a task that is DONE cannot be canceled (to CANCELED); \
                 only a task that is PENDING or RUNNING can",
            ),
            (
                task_in("d", TaskStatus::NotStarted),
                |t| t.skip(" "),
                "a task is skipped only with a reason: give a non-empty reason saying why it is skipped",
            ),
            (
                task_in("d", TaskStatus::Pending),
                |t| t.lease_expired(),
                "a task that is PENDING cannot have its lease expire (to PENDING); \
                 only a task that is RUNNING can",
            ),
        ];
        for (task, f, expected) in cases {
            assert_eq!(f(task).unwrap_err().to_string(), *expected);
        }
    }

    #[test]
    fn task_run_transitions_table() {
        use TaskRunStatus::*;
        type Step = fn(&TaskRun) -> Result<TaskRun, TransitionError>;
        let to_available: Step = |r| r.make_available();
        let claim: Step = |r| r.claim();
        let done: Step = |r| r.finish(Outcome::Done);
        let failed: Step = |r| r.finish(Outcome::Failed);
        let cancel: Step = |r| r.cancel();
        let expire: Step = |r| r.lease_expired();
        let cases: &[(&[Step], Result<TaskRunStatus, &str>)] = &[
            (&[], Ok(Pending)),
            (&[to_available], Ok(Available)),
            (&[to_available, claim], Ok(Running)),
            (&[to_available, claim, done], Ok(Done)),
            (&[to_available, claim, failed], Ok(Failed)),
            (&[to_available, claim, expire], Ok(Available)),
            (&[to_available, claim, expire, claim, done], Ok(Done)),
            (&[cancel], Ok(Canceled)),
            (&[to_available, cancel], Ok(Canceled)),
            (&[to_available, claim, cancel], Ok(Canceled)),
            (
                &[claim],
                Err(
                    "a task run that is PENDING cannot be claimed (to RUNNING); \
                     only a task run that is AVAILABLE can",
                ),
            ),
            (
                &[to_available, claim, done, cancel],
                Err("a task run that is DONE cannot be canceled (to CANCELED); \
                     only a task run that is PENDING, AVAILABLE or RUNNING can"),
            ),
            (
                &[to_available, expire],
                Err(
                    "a task run that is AVAILABLE cannot have its lease expire (to AVAILABLE); \
                     only a task run that is RUNNING can",
                ),
            ),
        ];
        for (steps, expected) in cases {
            let mut run = Ok(TaskRun::new());
            for step in *steps {
                run = run.and_then(|r| step(&r));
            }
            match (run, expected) {
                (Ok(r), Ok(s)) => assert_eq!(r.status(), *s),
                (Err(e), Err(msg)) => assert_eq!(e.to_string(), *msg),
                (got, expected) => panic!("expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn task_status_follows_latest_run() {
        let cases = [
            (None, TaskStatus::NotStarted),
            (Some(TaskRunStatus::Pending), TaskStatus::Pending),
            (Some(TaskRunStatus::Available), TaskStatus::Pending),
            (Some(TaskRunStatus::Running), TaskStatus::Running),
            (Some(TaskRunStatus::Done), TaskStatus::Done),
            (Some(TaskRunStatus::Failed), TaskStatus::Failed),
            (Some(TaskRunStatus::Canceled), TaskStatus::Canceled),
        ];
        for (run, task) in cases {
            assert_eq!(task_status_from_run(run), task, "{run:?}");
        }
    }

    #[test]
    fn serde_names_and_checks() {
        assert_eq!(
            serde_json::to_string(&TaskStatus::NotStarted).unwrap(),
            "\"NOT_STARTED\""
        );
        assert_eq!(
            serde_json::to_string(&TaskRunStatus::Available).unwrap(),
            "\"AVAILABLE\""
        );
        for s in TaskStatus::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for s in TaskRunStatus::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        let skipped = task_in("instances/a/databases/b", TaskStatus::Skipped);
        let json = serde_json::to_string(&skipped).unwrap();
        assert_eq!(
            json,
            r#"{"database":"instances/a/databases/b","status":"SKIPPED","skippedReason":"not needed"}"#
        );
        assert_eq!(serde_json::from_str::<Task>(&json).unwrap(), skipped);
        let bad = [
            r#"{"database":"d","status":"SKIPPED"}"#,
            r#"{"database":"d","status":"SKIPPED","skippedReason":"  "}"#,
            r#"{"database":"d","status":"DONE","skippedReason":"x"}"#,
        ];
        for json in bad {
            assert!(serde_json::from_str::<Task>(json).is_err(), "{json}");
        }
    }
}
