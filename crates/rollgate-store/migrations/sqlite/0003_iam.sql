-- Access control: an instance's default environment, project IAM bindings,
-- and the client address of audit entries.

-- Nullable only because instances created before this migration had none;
-- they get the environment of one of their databases, else the first one.
ALTER TABLE instances ADD COLUMN environment TEXT REFERENCES environments (id);

UPDATE instances SET environment = COALESCE(
    (SELECT d.environment FROM databases d WHERE d.instance = instances.id ORDER BY d.name LIMIT 1),
    (SELECT e.id FROM environments e ORDER BY e.sort_order, e.id LIMIT 1)
);

-- One row per (project, role, member); `member` is `user:EMAIL` or
-- `serviceAccount:EMAIL`. Rows of a deleted user or service account are
-- deleted with it by the store.
CREATE TABLE project_iam_bindings (
    project TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (project, role, member)
);

CREATE INDEX project_iam_bindings_member ON project_iam_bindings (member);

ALTER TABLE audit_log ADD COLUMN address TEXT;
