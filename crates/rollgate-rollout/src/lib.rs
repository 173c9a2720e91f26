//! Rollout state machines: the pure core of Rollgate's releases, plans and
//! rollouts.
//!
//! - `task`: task and task-run status machines (`Task::run`, `skip`,
//!   `cancel`, `claim`, `finish`, `lease_expired`), each transition a
//!   function from a value to the next value or a `TransitionError`.
//! - `access`: environments with their `RolloutPolicy`, built-in `Role`s
//!   (named like Bytebase's) and the `Actor` asking.
//! - `rollout`: `build_rollout` groups plan targets into stages in
//!   environment order; stage and rollout status are derived from tasks.
//! - `gate`: `can_run_stage` and `can_skip_stage`, the server-side stage-order and rollout-policy
//!   check, whose admin override must be recorded.
//! - `release`: `release_id`, the `release_{YYYYMMDD}-RC{n}` template.
//!
//! Nothing here does I/O, reads a clock, or runs async code; workers and
//! handlers are plain loops elsewhere that call these functions and store
//! the values they return. No function panics on any input.

mod access;
mod gate;
mod release;
mod rollout;
mod task;

pub use access::{Actor, Environment, Role, RolloutPolicy, UnknownRole};
pub use gate::{BlockingTask, Permit, Refusal, can_run_stage, can_skip_stage};
pub use release::release_id;
pub use rollout::{PlanError, ProgressStatus, Rollout, Stage, Target, build_rollout};
pub use task::{
    Action, Outcome, StatusList, TASK_EDGES, TASK_RUN_EDGES, Task, TaskRun, TaskRunStatus,
    TaskStatus, TransitionError, task_status_from_run,
};
