-- The table from Bytebase's GitOps tutorial: `name` can be NULL.
CREATE TABLE t1 (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text
);
