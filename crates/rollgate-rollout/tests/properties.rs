//! Property tests over the public API: random transition sequences never
//! reach an invalid state or panic, and stage gating never lets a later
//! stage run past an unfinished earlier one without a recorded admin
//! override.

use proptest::prelude::*;
use rollgate_rollout::{
    Action, Actor, Environment, Outcome, Permit, Role, RolloutPolicy, TASK_EDGES, TASK_RUN_EDGES,
    Target, Task, TaskRun, TaskStatus, TransitionError, build_rollout, can_run_stage,
};

#[derive(Debug, Clone)]
enum TaskOp {
    Run,
    Claim,
    Finish(Outcome),
    Cancel,
    Skip(String),
    LeaseExpired,
}

#[derive(Debug, Clone)]
enum RunOp {
    MakeAvailable,
    Claim,
    Finish(Outcome),
    Cancel,
    LeaseExpired,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![Just(Outcome::Done), Just(Outcome::Failed)]
}

fn task_op() -> impl Strategy<Value = TaskOp> {
    prop_oneof![
        Just(TaskOp::Run),
        Just(TaskOp::Claim),
        outcome().prop_map(TaskOp::Finish),
        Just(TaskOp::Cancel),
        any::<String>().prop_map(TaskOp::Skip),
        prop_oneof![Just(String::new()), Just("  ".to_owned())].prop_map(TaskOp::Skip),
        Just(TaskOp::LeaseExpired),
    ]
}

fn run_op() -> impl Strategy<Value = RunOp> {
    prop_oneof![
        Just(RunOp::MakeAvailable),
        Just(RunOp::Claim),
        outcome().prop_map(RunOp::Finish),
        Just(RunOp::Cancel),
        Just(RunOp::LeaseExpired),
    ]
}

fn apply_task(task: &Task, op: &TaskOp) -> (Action, Result<Task, TransitionError>) {
    match op {
        TaskOp::Run => (Action::Run, task.run()),
        TaskOp::Claim => (Action::Claim, task.claim()),
        TaskOp::Finish(o) => (Action::Finish, task.finish(*o)),
        TaskOp::Cancel => (Action::Cancel, task.cancel()),
        TaskOp::Skip(reason) => (Action::Skip, task.skip(reason)),
        TaskOp::LeaseExpired => (Action::LeaseExpired, task.lease_expired()),
    }
}

fn apply_run(run: &TaskRun, op: &RunOp) -> (Action, Result<TaskRun, TransitionError>) {
    match op {
        RunOp::MakeAvailable => (Action::MakeAvailable, run.make_available()),
        RunOp::Claim => (Action::Claim, run.claim()),
        RunOp::Finish(o) => (Action::Finish, run.finish(*o)),
        RunOp::Cancel => (Action::Cancel, run.cancel()),
        RunOp::LeaseExpired => (Action::LeaseExpired, run.lease_expired()),
    }
}

/// Drives a new task to `status` through the public transitions.
fn task_in(database: &str, status: TaskStatus) -> Task {
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
    r.expect("the helper only follows allowed edges")
}

fn assert_valid(task: &Task) {
    match (task.status(), task.skipped_reason()) {
        (TaskStatus::Skipped, Some(reason)) => {
            assert!(
                !reason.is_empty() && reason.trim() == reason,
                "bad reason {reason:?}"
            )
        }
        (TaskStatus::Skipped, None) => panic!("SKIPPED without a reason"),
        (status, Some(reason)) => panic!("{status} with a skip reason {reason:?}"),
        (_, None) => {}
    }
    let json = serde_json::to_string(task).unwrap();
    assert_eq!(&serde_json::from_str::<Task>(&json).unwrap(), task);
}

fn status() -> impl Strategy<Value = TaskStatus> {
    proptest::sample::select(TaskStatus::ALL.to_vec())
}

fn policy() -> impl Strategy<Value = RolloutPolicy> {
    prop_oneof![
        Just(RolloutPolicy::Automatic),
        proptest::sample::subsequence(Role::ALL.to_vec(), 0..=3).prop_map(|roles| {
            RolloutPolicy::Manual {
                roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            }
        }),
    ]
}

proptest! {
    #[test]
    fn task_sequences_stay_valid(ops in proptest::collection::vec(task_op(), 0..40)) {
        let mut task = Task::new("instances/i/databases/d");
        for op in &ops {
            let (action, result) = apply_task(&task, op);
            match result {
                Ok(next) => {
                    prop_assert!(
                        TASK_EDGES.contains(&(action, task.status(), next.status())),
                        "{} {action} → {} is not an edge", task.status(), next.status()
                    );
                    assert_valid(&next);
                    task = next;
                }
                Err(TransitionError::Task { from, .. }) => prop_assert_eq!(from, task.status()),
                Err(TransitionError::EmptySkipReason) => {
                    prop_assert!(matches!(op, TaskOp::Skip(r) if r.trim().is_empty()))
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
            assert_valid(&task);
        }
    }

    #[test]
    fn task_run_sequences_stay_valid(ops in proptest::collection::vec(run_op(), 0..40)) {
        let mut run = TaskRun::new();
        for op in &ops {
            let (action, result) = apply_run(&run, op);
            match result {
                Ok(next) => {
                    prop_assert!(TASK_RUN_EDGES.contains(&(action, run.status(), next.status())));
                    run = next;
                }
                Err(TransitionError::TaskRun { from, .. }) => prop_assert_eq!(from, run.status()),
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }
    }

    #[test]
    fn stage_gating_holds(
        stages in proptest::collection::vec(
            (policy(), proptest::collection::vec(status(), 1..4)), 1..5),
        roles in proptest::sample::subsequence(Role::ALL.to_vec(), 0..=3),
        pick in 0usize..6,
        override_ in any::<bool>(),
    ) {
        let envs: Vec<Environment> = stages.iter().enumerate().map(|(i, (policy, _))| Environment {
            id: format!("env{i}"),
            title: format!("Env {i}"),
            order: u32::try_from(i).unwrap(),
            policy: policy.clone(),
        }).collect();
        let targets: Vec<Target> = stages.iter().enumerate().flat_map(|(i, (_, tasks))| {
            (0..tasks.len()).map(move |j| Target {
                database: format!("instances/i/databases/d{i}_{j}"),
                environment: format!("env{i}"),
            })
        }).collect();
        let mut rollout = build_rollout(&targets, &envs).unwrap();
        prop_assert_eq!(rollout.stages.len(), stages.len());
        for (stage, (_, statuses)) in rollout.stages.iter_mut().zip(&stages) {
            for (task, &s) in stage.tasks.iter_mut().zip(statuses) {
                *task = task_in(task.database(), s);
            }
        }
        let actor = Actor::new(roles.iter().copied());
        let stage_id = format!("env{pick}");
        let result = can_run_stage(&rollout, &stage_id, &actor, override_);

        let Some(index) = rollout.stages.iter().position(|s| s.id == stage_id) else {
            prop_assert!(result.is_err());
            return Ok(());
        };
        let earlier_unfinished = rollout.stages[..index]
            .iter()
            .flat_map(|s| &s.tasks)
            .filter(|t| !matches!(t.status(), TaskStatus::Done | TaskStatus::Skipped))
            .count();
        match &result {
            Ok(Permit::InOrder) => prop_assert_eq!(earlier_unfinished, 0),
            Ok(Permit::Override { blocking }) => {
                prop_assert!(override_ && actor.is_workspace_admin());
                prop_assert!(earlier_unfinished > 0);
                prop_assert_eq!(blocking.len(), earlier_unfinished);
            }
            Err(refusal) => prop_assert!(!refusal.to_string().is_empty()),
        }
        if earlier_unfinished > 0 && !(override_ && actor.is_workspace_admin()) {
            prop_assert!(result.is_err(), "later stage ran past unfinished tasks: {result:?}");
        }
        let only_agent = roles.contains(&Role::GitopsServiceAgent)
            && roles.iter().all(|r| matches!(r, Role::GitopsServiceAgent | Role::WorkspaceMember));
        if only_agent && matches!(rollout.stages[index].policy, RolloutPolicy::Manual { .. }) {
            prop_assert!(result.is_err(), "service agent ran a manual environment");
        }
        if let RolloutPolicy::Manual { roles: allowed } = &rollout.stages[index].policy
            && !actor.is_workspace_admin()
            && !allowed.iter().any(|r| {
                r.parse::<Role>().is_ok_and(|r| r != Role::GitopsServiceAgent && actor.has(r))
            })
        {
            prop_assert!(result.is_err(), "actor without a policy role ran a manual environment");
        }
    }
}
