-- The same table with the review's advice taken: `name` is NOT NULL.
CREATE TABLE t1 (
    id integer PRIMARY KEY,
    name text NOT NULL
);
