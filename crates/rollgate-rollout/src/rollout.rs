//! Building a rollout from a plan's targets, and deriving stage and rollout
//! status from task status.
//!
//! A rollout is one stage per environment that has targets, in environment
//! order (stage id = environment id), with one task per target database,
//! sorted by database name so that the same plan always gives the same
//! rollout. Which files a task applies is not decided here: the task's
//! worker reads the target's own history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::access::{Environment, RolloutPolicy};
use crate::task::{Task, TaskStatus};

/// A plan target: a database and the environment it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// `instances/{instance}/databases/{database}`.
    pub database: String,
    /// The environment id, or its name `environments/{id}`.
    pub environment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// The environment id.
    pub id: String,
    /// `environments/{id}`.
    pub environment: String,
    pub title: String,
    pub policy: RolloutPolicy,
    pub tasks: Vec<Task>,
}

/// Status of a stage or a whole rollout, derived from its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProgressStatus {
    /// No task has been asked to run yet.
    NotStarted,
    /// Some task is pending, running, or finished while others are not.
    InProgress,
    /// Every task is DONE or SKIPPED.
    Done,
    /// Some task FAILED.
    Failed,
    /// No task failed, but some task was CANCELED.
    Canceled,
}

/// A plan that cannot become a rollout; the message names the target or
/// environment at fault and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the plan has no targets: list at least one `instances/{{instance}}/databases/{{database}}`"
    )]
    NoTargets,
    #[error(
        "target `{database}` is not a database name: write it as \
         `instances/{{instance}}/databases/{{database}}`"
    )]
    BadDatabaseName { database: String },
    #[error(
        "target `{database}` is in environment `{environment}`, which does not exist; \
         known environments are: {known}"
    )]
    UnknownEnvironment {
        database: String,
        environment: String,
        known: String,
    },
    #[error(
        "target `{database}` is listed in environments `{first}` and `{second}`: \
         a database belongs to one environment, list it once"
    )]
    ConflictingEnvironments {
        database: String,
        first: String,
        second: String,
    },
    #[error("environment `{id}` is declared twice: environment ids must be unique")]
    DuplicateEnvironment { id: String },
}

/// Groups `targets` into stages by environment, in environment order. A
/// target listed twice with the same environment counts once.
pub fn build_rollout(
    targets: &[Target],
    environments: &[Environment],
) -> Result<Rollout, PlanError> {
    if targets.is_empty() {
        return Err(PlanError::NoTargets);
    }
    let mut ordered: Vec<&Environment> = Vec::with_capacity(environments.len());
    for env in environments {
        if ordered.iter().any(|e| e.id == env.id) {
            return Err(PlanError::DuplicateEnvironment { id: env.id.clone() });
        }
        ordered.push(env);
    }
    // Stable: environments with the same order keep their declared order.
    ordered.sort_by_key(|env| env.order);

    // database → environment id; a BTreeMap gives the stable task order.
    let mut placed: BTreeMap<&str, &str> = BTreeMap::new();
    for target in targets {
        if !is_database_name(&target.database) {
            return Err(PlanError::BadDatabaseName {
                database: target.database.clone(),
            });
        }
        let env_id = target
            .environment
            .strip_prefix("environments/")
            .unwrap_or(&target.environment);
        if !ordered.iter().any(|e| e.id == env_id) {
            return Err(PlanError::UnknownEnvironment {
                database: target.database.clone(),
                environment: target.environment.clone(),
                known: known_environments(&ordered),
            });
        }
        match placed.insert(&target.database, env_id) {
            Some(previous) if previous != env_id => {
                return Err(PlanError::ConflictingEnvironments {
                    database: target.database.clone(),
                    first: previous.to_owned(),
                    second: env_id.to_owned(),
                });
            }
            _ => {}
        }
    }

    let stages = ordered
        .iter()
        .filter_map(|env| {
            let tasks: Vec<Task> = placed
                .iter()
                .filter(|&(_, &e)| e == env.id)
                .map(|(&database, _)| Task::new(database))
                .collect();
            (!tasks.is_empty()).then(|| Stage {
                id: env.id.clone(),
                environment: format!("environments/{}", env.id),
                title: env.title.clone(),
                policy: env.policy.clone(),
                tasks,
            })
        })
        .collect();
    Ok(Rollout { stages })
}

impl Rollout {
    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    pub fn stage_mut(&mut self, id: &str) -> Option<&mut Stage> {
        self.stages.iter_mut().find(|s| s.id == id)
    }

    /// Derived from every task of every stage: a failure anywhere fails the
    /// rollout.
    pub fn status(&self) -> ProgressStatus {
        progress(self.stages.iter().flat_map(|s| &s.tasks))
    }
}

impl Stage {
    pub fn status(&self) -> ProgressStatus {
        progress(&self.tasks)
    }

    /// The tasks a later stage waits for: not DONE and not SKIPPED.
    pub fn unfinished_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| !t.is_finished())
    }
}

/// FAILED beats CANCELED beats everything; DONE needs every task DONE or
/// SKIPPED (an empty set is DONE: nothing to wait for).
fn progress<'a>(tasks: impl IntoIterator<Item = &'a Task>) -> ProgressStatus {
    let (mut any_failed, mut any_canceled, mut all_finished, mut all_not_started) =
        (false, false, true, true);
    for task in tasks {
        let status = task.status();
        any_failed |= status == TaskStatus::Failed;
        any_canceled |= status == TaskStatus::Canceled;
        all_finished &= task.is_finished();
        all_not_started &= status == TaskStatus::NotStarted;
    }
    if any_failed {
        ProgressStatus::Failed
    } else if any_canceled {
        ProgressStatus::Canceled
    } else if all_finished {
        ProgressStatus::Done
    } else if all_not_started {
        ProgressStatus::NotStarted
    } else {
        ProgressStatus::InProgress
    }
}

fn is_database_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    matches!(parts.as_slice(), ["instances", i, "databases", d] if !i.is_empty() && !d.is_empty())
}

fn known_environments(envs: &[&Environment]) -> String {
    if envs.is_empty() {
        return "(none: declare environments first)".to_owned();
    }
    envs.iter()
        .map(|e| e.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::task_in;

    fn env(id: &str, order: u32) -> Environment {
        Environment {
            id: id.into(),
            title: id.to_uppercase(),
            order,
            policy: RolloutPolicy::Automatic,
        }
    }

    fn target(database: &str, environment: &str) -> Target {
        Target {
            database: database.into(),
            environment: environment.into(),
        }
    }

    /// Renders a rollout as `stage: db, db | stage: db`.
    fn check(targets: &[Target], envs: &[Environment], expected: Result<&str, &str>) {
        let got = build_rollout(targets, envs).map(|r| {
            r.stages
                .iter()
                .map(|s| {
                    let dbs: Vec<&str> = s.tasks.iter().map(|t| t.database()).collect();
                    format!("{}: {}", s.id, dbs.join(", "))
                })
                .collect::<Vec<_>>()
                .join(" | ")
        });
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected),
            (Err(e), Err(expected)) => assert_eq!(e.to_string(), expected),
            (got, expected) => panic!("expected {expected:?}, got {got:?}"),
        }
    }

    #[test]
    fn build_rollout_table() {
        let envs = [env("prod", 2), env("test", 1), env("staging", 1)];
        let a = "instances/pg/databases/a";
        let b = "instances/pg/databases/b";
        let c = "instances/my/databases/c";
        check(
            &[
                target(b, "prod"),
                target(a, "test"),
                target(c, "environments/prod"),
            ],
            &envs,
            Ok(
                "test: instances/pg/databases/a | prod: instances/my/databases/c, instances/pg/databases/b",
            ),
        );
        // Same order: declared order wins; duplicates count once.
        check(
            &[
                target(a, "staging"),
                target(b, "test"),
                target(a, "staging"),
            ],
            &envs,
            Ok("test: instances/pg/databases/b | staging: instances/pg/databases/a"),
        );
        check(
            &[],
            &envs,
            Err(
                "the plan has no targets: list at least one `instances/{instance}/databases/{database}`",
            ),
        );
        check(
            &[target(a, "qa")],
            &envs,
            Err(
                "target `instances/pg/databases/a` is in environment `qa`, which does not exist; \
                 known environments are: test, staging, prod",
            ),
        );
        check(
            &[target(a, "qa")],
            &[],
            Err(
                "target `instances/pg/databases/a` is in environment `qa`, which does not exist; \
                 known environments are: (none: declare environments first)",
            ),
        );
        check(
            &[target("pg/a", "test")],
            &envs,
            Err("target `pg/a` is not a database name: write it as \
                 `instances/{instance}/databases/{database}`"),
        );
        check(
            &[target(a, "test"), target(a, "prod")],
            &envs,
            Err(
                "target `instances/pg/databases/a` is listed in environments `test` and `prod`: \
                 a database belongs to one environment, list it once",
            ),
        );
        check(
            &[target(a, "test")],
            &[env("test", 1), env("test", 2)],
            Err("environment `test` is declared twice: environment ids must be unique"),
        );
    }

    #[test]
    fn stage_carries_environment() {
        let mut prod = env("prod", 1);
        prod.policy = RolloutPolicy::Manual {
            roles: vec!["roles/projectReleaser".into()],
        };
        let rollout = build_rollout(
            &[target("instances/i/databases/d", "prod")],
            &[prod.clone()],
        )
        .unwrap();
        let stage = rollout.stage("prod").unwrap();
        assert_eq!(stage.environment, "environments/prod");
        assert_eq!(stage.title, "PROD");
        assert_eq!(stage.policy, prod.policy);
        assert_eq!(stage.tasks[0].status(), TaskStatus::NotStarted);
    }

    #[test]
    fn progress_table() {
        use ProgressStatus as P;
        use TaskStatus::*;
        let cases: &[(&[TaskStatus], ProgressStatus)] = &[
            (&[], P::Done),
            (&[NotStarted, NotStarted], P::NotStarted),
            (&[Pending, NotStarted], P::InProgress),
            (&[Running], P::InProgress),
            (&[Done, NotStarted], P::InProgress),
            (&[Done, Skipped], P::Done),
            (&[Skipped], P::Done),
            (&[Done, Failed, Running], P::Failed),
            (&[Canceled, Done], P::Canceled),
            (&[Canceled, Failed], P::Failed),
        ];
        for (statuses, expected) in cases {
            let stage = Stage {
                id: "test".into(),
                environment: "environments/test".into(),
                title: "Test".into(),
                policy: RolloutPolicy::Automatic,
                tasks: statuses
                    .iter()
                    .map(|&s| task_in("instances/i/databases/d", s))
                    .collect(),
            };
            assert_eq!(stage.status(), *expected, "{statuses:?}");
            let rollout = Rollout {
                stages: vec![stage],
            };
            assert_eq!(rollout.status(), *expected, "{statuses:?}");
        }
    }

    #[test]
    fn rollout_status_spans_stages() {
        let rollout = build_rollout(
            &[
                target("instances/i/databases/a", "test"),
                target("instances/i/databases/b", "prod"),
            ],
            &[env("test", 1), env("prod", 2)],
        )
        .unwrap();
        let mut done_test = rollout.clone();
        done_test.stages[0].tasks[0] = task_in("instances/i/databases/a", TaskStatus::Done);
        let cases = [
            (rollout, ProgressStatus::NotStarted),
            (done_test.clone(), ProgressStatus::InProgress),
        ];
        for (rollout, expected) in cases {
            assert_eq!(rollout.status(), expected);
        }
        let mut all_done = done_test;
        all_done.stages[1].tasks[0] = task_in("instances/i/databases/b", TaskStatus::Skipped);
        assert_eq!(all_done.status(), ProgressStatus::Done);
    }
}
