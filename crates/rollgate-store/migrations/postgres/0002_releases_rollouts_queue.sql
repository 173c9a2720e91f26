-- Releases (immutable), rollouts (stages and tasks) and the task run queue.

CREATE TABLE releases (
    project TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    commit_url TEXT NOT NULL,
    merge_request_url TEXT NOT NULL,
    author TEXT NOT NULL,
    PRIMARY KEY (project, id)
);

CREATE TABLE release_files (
    project TEXT NOT NULL,
    release_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    path TEXT NOT NULL,
    version TEXT NOT NULL,
    change_type TEXT NOT NULL,
    checksum TEXT NOT NULL,
    statement TEXT NOT NULL,
    PRIMARY KEY (project, release_id, position),
    FOREIGN KEY (project, release_id) REFERENCES releases (project, id) ON DELETE CASCADE
);

CREATE TABLE rollouts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project TEXT NOT NULL,
    release_id TEXT NOT NULL,
    UNIQUE (project, release_id),
    FOREIGN KEY (project, release_id) REFERENCES releases (project, id) ON DELETE CASCADE
);

CREATE TABLE rollout_stages (
    rollout BIGINT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    stage_id TEXT NOT NULL,
    PRIMARY KEY (rollout, position),
    UNIQUE (rollout, stage_id)
);

CREATE TABLE tasks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rollout BIGINT NOT NULL,
    stage_position BIGINT NOT NULL,
    instance TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'NOT_STARTED',
    UNIQUE (rollout, instance, name),
    FOREIGN KEY (rollout, stage_position) REFERENCES rollout_stages (rollout, position) ON DELETE CASCADE
);

CREATE TABLE task_runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    worker TEXT,
    lease_expires_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT
);

-- What claimers scan: only runs that may be claimed.
CREATE INDEX task_runs_claimable ON task_runs (id) WHERE status IN ('AVAILABLE', 'RUNNING');
-- At most one queued or running run per task.
CREATE UNIQUE INDEX task_runs_one_active ON task_runs (task) WHERE status IN ('AVAILABLE', 'RUNNING');

CREATE TABLE task_run_logs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run BIGINT NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    entry_json TEXT NOT NULL
);

CREATE INDEX task_run_logs_run ON task_run_logs (run, id);
