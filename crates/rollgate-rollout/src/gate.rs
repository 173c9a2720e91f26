//! Stage gating: may this actor run the tasks of this stage now?
//!
//! The server asks this before creating task runs, so stage order holds no
//! matter which client calls. Checks, in order: the stage exists; the actor
//! may run tasks in the stage's environment (its rollout policy); every task
//! of every earlier stage is DONE or SKIPPED, unless a workspace admin
//! overrides, in which case the answer says the override must be recorded.

use crate::access::{Actor, Role, RolloutPolicy};
use crate::rollout::Rollout;
use crate::task::TaskStatus;

/// Permission to run a stage. `#[must_use]`: an override that is not
/// recorded breaks an invariant of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an admin override must be recorded in the audit log"]
pub enum Permit {
    /// Every earlier stage is finished (or there is none).
    InOrder,
    /// A workspace admin overrode stage order; record who, and these tasks
    /// that were not DONE or SKIPPED.
    Override { blocking: Vec<BlockingTask> },
}

/// A task of an earlier stage that is not DONE or SKIPPED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingTask {
    pub stage: String,
    pub database: String,
    pub status: TaskStatus,
}

/// Why a stage may not run; the message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the rollout has no stage `{stage}`; its stages are: {known}")]
    UnknownStage { stage: String, known: String },
    #[error(
        "running tasks needs one of the roles roles/workspaceAdmin, roles/workspaceDBA, \
         roles/projectOwner, roles/projectReleaser or roles/gitopsServiceAgent; \
         ask a project owner to grant you one"
    )]
    NoRunPermission,
    #[error(
        "environment `{stage}` has a manual rollout policy and the GitOps Service Agent role \
         runs automatic environments only; ask a user with one of {roles} to run stage \
         `{stage}`"
    )]
    ServiceAgentOnManual { stage: String, roles: String },
    #[error(
        "environment `{stage}` has a manual rollout policy: only {roles} may run it; \
         ask one of them, or ask a project owner to grant you one of those roles"
    )]
    ManualRoleMissing { stage: String, roles: String },
    #[error(
        "stage `{stage}` cannot run yet: {count} task(s) of earlier stages are not DONE or \
         SKIPPED ({list}); finish or skip them first, or ask a workspace admin to run \
         `{stage}` with override (the override is recorded)",
        count = blocking.len(),
        list = describe(blocking)
    )]
    EarlierStageUnfinished {
        stage: String,
        blocking: Vec<BlockingTask>,
    },
    #[error(
        "stage `{stage}` cannot run yet: {count} task(s) of earlier stages are not DONE or \
         SKIPPED ({list}), and only a workspace admin (roles/workspaceAdmin) may override \
         stage order; finish or skip them first, or ask a workspace admin",
        count = blocking.len(),
        list = describe(blocking)
    )]
    OverrideNeedsAdmin {
        stage: String,
        blocking: Vec<BlockingTask>,
    },
}

/// Whether `actor` may run the tasks of stage `stage_id` now; `override_`
/// asks to ignore unfinished earlier stages (workspace admins only).
pub fn can_run_stage(
    rollout: &Rollout,
    stage_id: &str,
    actor: &Actor,
    override_: bool,
) -> Result<Permit, Refusal> {
    let Some(index) = rollout.stages.iter().position(|s| s.id == stage_id) else {
        let known: Vec<&str> = rollout.stages.iter().map(|s| s.id.as_str()).collect();
        return Err(Refusal::UnknownStage {
            stage: stage_id.to_owned(),
            known: if known.is_empty() {
                "(none)".to_owned()
            } else {
                known.join(", ")
            },
        });
    };
    let stage = &rollout.stages[index];
    check_policy(stage_id, &stage.policy, actor)?;

    let blocking: Vec<BlockingTask> = rollout.stages[..index]
        .iter()
        .flat_map(|s| {
            s.unfinished_tasks().map(|t| BlockingTask {
                stage: s.id.clone(),
                database: t.database().to_owned(),
                status: t.status(),
            })
        })
        .collect();
    let stage = stage_id.to_owned();
    match (blocking.is_empty(), override_, actor.is_workspace_admin()) {
        (true, _, _) => Ok(Permit::InOrder),
        (false, true, true) => Ok(Permit::Override { blocking }),
        (false, true, false) => Err(Refusal::OverrideNeedsAdmin { stage, blocking }),
        (false, false, _) => Err(Refusal::EarlierStageUnfinished { stage, blocking }),
    }
}

/// Whether `actor` may skip tasks of stage `stage_id`: the stage's rollout
/// policy decides, as for running it (a manual stage is skipped only by a
/// holder of one of its roles or a workspace admin), so skipping can never
/// do what running may not. Stage order does not matter: skipping applies
/// nothing.
pub fn can_skip_stage(rollout: &Rollout, stage_id: &str, actor: &Actor) -> Result<(), Refusal> {
    let Some(stage) = rollout.stages.iter().find(|s| s.id == stage_id) else {
        let known: Vec<&str> = rollout.stages.iter().map(|s| s.id.as_str()).collect();
        return Err(Refusal::UnknownStage {
            stage: stage_id.to_owned(),
            known: if known.is_empty() {
                "(none)".to_owned()
            } else {
                known.join(", ")
            },
        });
    };
    check_policy(stage_id, &stage.policy, actor)
}

impl Permit {
    pub fn must_record_override(&self) -> bool {
        matches!(self, Permit::Override { .. })
    }
}

fn check_policy(stage: &str, policy: &RolloutPolicy, actor: &Actor) -> Result<(), Refusal> {
    if actor.is_workspace_admin() {
        return Ok(());
    }
    match policy {
        RolloutPolicy::Automatic if actor.can_run_tasks() => Ok(()),
        RolloutPolicy::Automatic => Err(Refusal::NoRunPermission),
        RolloutPolicy::Manual { roles } => {
            // Workspace Member is everyone's: a CI account whose only other
            // role is the service agent never qualifies for a manual stage,
            // even when the policy lists Workspace Member.
            let only_agent = actor
                .roles
                .iter()
                .all(|&r| matches!(r, Role::GitopsServiceAgent | Role::WorkspaceMember))
                && actor.has(Role::GitopsServiceAgent);
            if !only_agent && actor.holds_one_of(roles) {
                return Ok(());
            }
            let roles = manual_roles(roles);
            let stage = stage.to_owned();
            if only_agent {
                Err(Refusal::ServiceAgentOnManual { stage, roles })
            } else {
                Err(Refusal::ManualRoleMissing { stage, roles })
            }
        }
    }
}

/// `roles/workspaceAdmin or one of roles/projectReleaser, …`, skipping the
/// service agent role which never qualifies.
fn manual_roles(roles: &[String]) -> String {
    let listed: Vec<&str> = roles
        .iter()
        .map(|r| r.as_str())
        .filter(|r| r.parse::<Role>() != Ok(Role::GitopsServiceAgent))
        .collect();
    if listed.is_empty() {
        "roles/workspaceAdmin".to_owned()
    } else {
        format!("roles/workspaceAdmin or a holder of {}", listed.join(", "))
    }
}

fn describe(blocking: &[BlockingTask]) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> = blocking
        .iter()
        .take(SHOWN)
        .map(|b| format!("{} in `{}` is {}", b.database, b.stage, b.status))
        .collect();
    if blocking.len() > SHOWN {
        parts.push(format!("and {} more", blocking.len() - SHOWN));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Environment;
    use crate::rollout::{Target, build_rollout};
    use crate::task::task_in;

    /// test (automatic) → staging (automatic) → prod (manual: releaser),
    /// with the given statuses for the test and staging tasks.
    fn rollout(test: TaskStatus, staging: TaskStatus) -> Rollout {
        let envs = [
            Environment {
                id: "test".into(),
                title: "Test".into(),
                order: 1,
                policy: RolloutPolicy::Automatic,
            },
            Environment {
                id: "staging".into(),
                title: "Staging".into(),
                order: 2,
                policy: RolloutPolicy::Automatic,
            },
            Environment {
                id: "prod".into(),
                title: "Prod".into(),
                order: 3,
                policy: RolloutPolicy::Manual {
                    roles: vec!["roles/projectReleaser".into()],
                },
            },
        ];
        let targets = [
            Target {
                database: "instances/i/databases/t".into(),
                environment: "test".into(),
            },
            Target {
                database: "instances/i/databases/s".into(),
                environment: "staging".into(),
            },
            Target {
                database: "instances/i/databases/p".into(),
                environment: "prod".into(),
            },
        ];
        let mut r = build_rollout(&targets, &envs).unwrap();
        r.stages[0].tasks[0] = task_in("instances/i/databases/t", test);
        r.stages[1].tasks[0] = task_in("instances/i/databases/s", staging);
        r
    }

    #[test]
    fn skipping_obeys_the_stage_policy_but_not_the_order() {
        use Role::*;
        use TaskStatus::*;
        let r = rollout(NotStarted, NotStarted);
        // Prod is manual (releasers): an owner may neither run nor skip it.
        assert!(can_skip_stage(&r, "prod", &Actor::new([ProjectOwner])).is_err());
        assert!(can_skip_stage(&r, "prod", &Actor::new([GitopsServiceAgent])).is_err());
        // A releaser may skip it even though test has not run.
        assert!(can_skip_stage(&r, "prod", &Actor::new([ProjectReleaser])).is_ok());
        assert!(can_skip_stage(&r, "prod", &Actor::new([WorkspaceAdmin])).is_ok());
        // Automatic stages: whoever may run tasks.
        assert!(can_skip_stage(&r, "test", &Actor::new([ProjectOwner])).is_ok());
        assert!(can_skip_stage(&r, "test", &Actor::new([ProjectDeveloper])).is_err());
        assert!(matches!(
            can_skip_stage(&r, "qa", &Actor::new([WorkspaceAdmin])),
            Err(Refusal::UnknownStage { .. })
        ));
    }

    #[test]
    fn can_run_stage_table() {
        use Role::*;
        use TaskStatus::*;
        struct Case {
            test: TaskStatus,
            staging: TaskStatus,
            stage: &'static str,
            roles: &'static [Role],
            override_: bool,
            expected: Result<bool, &'static str>, // Ok(override recorded?)
        }
        let cases = [
            Case {
                test: NotStarted,
                staging: NotStarted,
                stage: "test",
                roles: &[GitopsServiceAgent],
                override_: false,
                expected: Ok(false),
            },
            Case {
                test: Done,
                staging: NotStarted,
                stage: "staging",
                roles: &[GitopsServiceAgent],
                override_: false,
                expected: Ok(false),
            },
            Case {
                test: Skipped,
                staging: Done,
                stage: "prod",
                roles: &[ProjectReleaser],
                override_: false,
                expected: Ok(false),
            },
            Case {
                test: Done,
                staging: Done,
                stage: "prod",
                roles: &[WorkspaceAdmin],
                override_: false,
                expected: Ok(false),
            },
            // Override asked but not needed: nothing to record.
            Case {
                test: Done,
                staging: Done,
                stage: "prod",
                roles: &[WorkspaceAdmin],
                override_: true,
                expected: Ok(false),
            },
            Case {
                test: Failed,
                staging: NotStarted,
                stage: "prod",
                roles: &[WorkspaceAdmin],
                override_: true,
                expected: Ok(true),
            },
            Case {
                test: Done,
                staging: Done,
                stage: "qa",
                roles: &[WorkspaceAdmin],
                override_: false,
                expected: Err("the rollout has no stage `qa`; its stages are: test, staging, prod"),
            },
            Case {
                test: Done,
                staging: Done,
                stage: "prod",
                roles: &[GitopsServiceAgent, WorkspaceMember],
                override_: false,
                expected: Err(
                    "environment `prod` has a manual rollout policy and the GitOps Service Agent role \
                               runs automatic environments only; ask a user with one of roles/workspaceAdmin or \
                               a holder of roles/projectReleaser to run stage `prod`",
                ),
            },
            Case {
                test: Done,
                staging: Done,
                stage: "prod",
                roles: &[ProjectOwner],
                override_: false,
                expected: Err(
                    "environment `prod` has a manual rollout policy: only roles/workspaceAdmin or a \
                               holder of roles/projectReleaser may run it; ask one of them, or ask a project \
                               owner to grant you one of those roles",
                ),
            },
            Case {
                test: Done,
                staging: Done,
                stage: "test",
                roles: &[ProjectDeveloper, WorkspaceMember],
                override_: false,
                expected: Err(
                    "running tasks needs one of the roles roles/workspaceAdmin, roles/workspaceDBA, \
                               roles/projectOwner, roles/projectReleaser or roles/gitopsServiceAgent; ask a \
                               project owner to grant you one",
                ),
            },
            Case {
                test: Running,
                staging: NotStarted,
                stage: "staging",
                roles: &[GitopsServiceAgent],
                override_: false,
                expected: Err(
                    "stage `staging` cannot run yet: 1 task(s) of earlier stages are not DONE or \
                               SKIPPED (instances/i/databases/t in `test` is RUNNING); finish or skip them \
                               first, or ask a workspace admin to run `staging` with override (the override \
                               is recorded)",
                ),
            },
            Case {
                test: Failed,
                staging: Canceled,
                stage: "prod",
                roles: &[ProjectReleaser],
                override_: true,
                expected: Err(
                    "stage `prod` cannot run yet: 2 task(s) of earlier stages are not DONE or \
                               SKIPPED (instances/i/databases/t in `test` is FAILED; instances/i/databases/s \
                               in `staging` is CANCELED), and only a workspace admin (roles/workspaceAdmin) \
                               may override stage order; finish or skip them first, or ask a workspace admin",
                ),
            },
            // Every earlier stage counts, not only the one just before.
            Case {
                test: Pending,
                staging: Done,
                stage: "prod",
                roles: &[ProjectReleaser],
                override_: false,
                expected: Err(
                    "stage `prod` cannot run yet: 1 task(s) of earlier stages are not DONE or \
                               SKIPPED (instances/i/databases/t in `test` is PENDING); finish or skip them \
                               first, or ask a workspace admin to run `prod` with override (the override \
                               is recorded)",
                ),
            },
        ];
        for case in cases {
            let r = rollout(case.test, case.staging);
            let got = can_run_stage(
                &r,
                case.stage,
                &Actor::new(case.roles.iter().copied()),
                case.override_,
            );
            match (got, case.expected) {
                (Ok(permit), Ok(recorded)) => {
                    assert_eq!(permit.must_record_override(), recorded, "{}", case.stage)
                }
                (Err(refusal), Err(msg)) => assert_eq!(refusal.to_string(), msg),
                (got, expected) => panic!("{}: expected {expected:?}, got {got:?}", case.stage),
            }
        }
    }

    #[test]
    fn override_lists_blocking_tasks() {
        let r = rollout(TaskStatus::Failed, TaskStatus::NotStarted);
        let permit =
            can_run_stage(&r, "staging", &Actor::new([Role::WorkspaceAdmin]), true).unwrap();
        assert_eq!(
            permit,
            Permit::Override {
                blocking: vec![BlockingTask {
                    stage: "test".into(),
                    database: "instances/i/databases/t".into(),
                    status: TaskStatus::Failed,
                }]
            }
        );
    }

    #[test]
    fn describe_truncates() {
        let blocking: Vec<BlockingTask> = (0..5)
            .map(|i| BlockingTask {
                stage: "test".into(),
                database: format!("d{i}"),
                status: TaskStatus::NotStarted,
            })
            .collect();
        assert_eq!(
            describe(&blocking),
            "d0 in `test` is NOT_STARTED; d1 in `test` is NOT_STARTED; d2 in `test` is NOT_STARTED; and 2 more"
        );
    }
}
