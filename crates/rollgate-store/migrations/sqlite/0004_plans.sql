-- Plans (a release and its targets), rollouts keyed by plan, skip reasons,
-- run timestamps, and the columns the claim's parallelism limits read.
--
-- 0002's rollout tables were keyed by release and were never part of a
-- release build; they are dropped and recreated (children first, so no
-- cascade fires) rather than rebuilt in place.

DROP TABLE task_run_logs;
DROP TABLE task_runs;
DROP TABLE tasks;
DROP TABLE rollout_stages;
DROP TABLE rollouts;

CREATE TABLE plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    release_id TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (project, release_id) REFERENCES releases (project, id) ON DELETE CASCADE
);

CREATE INDEX plans_project ON plans (project, id);

-- Targets as given; no foreign key to databases: a plan is a record of what was asked.
CREATE TABLE plan_targets (
    plan INTEGER NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    instance TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (plan, position)
);

CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    plan INTEGER NOT NULL UNIQUE REFERENCES plans (id) ON DELETE CASCADE,
    release_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    FOREIGN KEY (project, release_id) REFERENCES releases (project, id) ON DELETE CASCADE
);

CREATE INDEX rollouts_project ON rollouts (project, id);

CREATE TABLE rollout_stages (
    rollout INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    stage_id TEXT NOT NULL,
    PRIMARY KEY (rollout, position),
    UNIQUE (rollout, stage_id)
);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout INTEGER NOT NULL,
    stage_position INTEGER NOT NULL,
    instance TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'NOT_STARTED',
    skipped_reason TEXT,
    UNIQUE (rollout, instance, name),
    FOREIGN KEY (rollout, stage_position) REFERENCES rollout_stages (rollout, position) ON DELETE CASCADE
);

-- Stage-order overrides by workspace admins, kept with the rollout.
CREATE TABLE rollout_overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    stage_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    blocking_json TEXT NOT NULL,
    at INTEGER NOT NULL
);

-- `rollout` and `instance` copy the task's, so the claim can count running
-- runs per rollout and per instance without joins.
CREATE TABLE task_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    rollout INTEGER NOT NULL,
    instance TEXT NOT NULL,
    status TEXT NOT NULL,
    worker TEXT,
    lease_expires_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);

CREATE INDEX task_runs_claimable ON task_runs (id) WHERE status IN ('AVAILABLE', 'RUNNING');
CREATE UNIQUE INDEX task_runs_one_active ON task_runs (task) WHERE status IN ('AVAILABLE', 'RUNNING');
CREATE INDEX task_runs_running_rollout ON task_runs (rollout) WHERE status = 'RUNNING';
CREATE INDEX task_runs_running_instance ON task_runs (instance) WHERE status = 'RUNNING';
CREATE INDEX task_runs_task ON task_runs (task, id);

CREATE TABLE task_run_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run INTEGER NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    entry_json TEXT NOT NULL
);

CREATE INDEX task_run_logs_run ON task_run_logs (run, id);
