CREATE TABLE environments (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    sort_order INTEGER NOT NULL,
    policy_json TEXT NOT NULL
);

CREATE TABLE instances (
    id TEXT PRIMARY KEY NOT NULL,
    engine TEXT NOT NULL,
    url_envelope TEXT NOT NULL
);

CREATE TABLE databases (
    instance TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    environment TEXT NOT NULL REFERENCES environments (id),
    PRIMARY KEY (instance, name)
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL
);

CREATE TABLE project_databases (
    project TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    instance TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (project, instance, name),
    FOREIGN KEY (instance, name) REFERENCES databases (instance, name) ON DELETE CASCADE
);

CREATE TABLE users (
    email TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    roles_json TEXT NOT NULL
);

CREATE TABLE service_accounts (
    email TEXT PRIMARY KEY NOT NULL,
    key_hash TEXT NOT NULL,
    roles_json TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    principal TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at INTEGER NOT NULL
);
