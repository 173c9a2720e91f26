-- Adding a column with a constant default (no table rewrite) and an index.
ALTER TABLE t1 ADD COLUMN email text NOT NULL DEFAULT '';
CREATE INDEX idx_t1_email ON t1 (email);
