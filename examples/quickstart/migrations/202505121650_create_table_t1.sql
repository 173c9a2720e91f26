-- The table from Bytebase's GitOps tutorial: `name` can be NULL, which the
-- review flags (COLUMN_NO_NULL). `rollgate quickstart` checks this first.
CREATE TABLE t1 (
    id integer PRIMARY KEY,
    name text
);
