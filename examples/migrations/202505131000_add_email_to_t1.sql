-- Adding a column and an index to a table that already holds data.
ALTER TABLE t1 ADD COLUMN email text NOT NULL DEFAULT '';
CREATE INDEX idx_t1_email ON t1 (email);
