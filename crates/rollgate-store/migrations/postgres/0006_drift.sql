-- Drift checks: per database, the latest finished check (status, time,
-- diff or error text, on demand or by the schedule) and the time the check
-- was last claimed, so replicas running the schedule claim each database
-- at most once per interval. Deleted with the database.
CREATE TABLE drift_checks (
    instance TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    checked_at BIGINT,
    detail TEXT,
    checked_by TEXT,
    claimed_at BIGINT,
    PRIMARY KEY (instance, name),
    FOREIGN KEY (instance, name) REFERENCES databases (instance, name) ON DELETE CASCADE
);
