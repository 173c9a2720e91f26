//! Facts about PostgreSQL that several rules share.

/// Volatile functions commonly used in defaults: their value changes per
/// row, so a default calling one cannot be stored once in the catalog and
/// adding such a column rewrites the table.
pub(crate) const VOLATILE_FUNCTIONS: &[&str] = &[
    "random",
    "random_normal",
    "setseed",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setval",
    "txid_current",
    "pg_current_xact_id",
];

pub(crate) fn is_volatile_function(name: &str) -> bool {
    VOLATILE_FUNCTIONS.contains(&name)
}
