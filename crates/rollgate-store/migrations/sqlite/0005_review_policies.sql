-- Review policies: the `[review]` table of rollgate.toml (as JSON or TOML
-- text), attached to exactly one environment or one project and deleted
-- with it.
CREATE TABLE review_policies (
    attach TEXT PRIMARY KEY NOT NULL,
    environment TEXT REFERENCES environments (id) ON DELETE CASCADE,
    project TEXT REFERENCES projects (id) ON DELETE CASCADE,
    review TEXT NOT NULL,
    CHECK ((environment IS NULL) <> (project IS NULL))
);
