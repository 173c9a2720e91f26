//! The engine never panics, whatever the input: arbitrary bytes (decoded
//! lossily, as a reader would refuse non-UTF-8 first) and SQL-like token
//! soup, reviewed with every rule enabled.

use proptest::prelude::*;
use rollgate_review::policy::{Policy, ReviewConfig, RuleOverride, Template};
use rollgate_review::{review_text, rules};
use rollgate_sql::catalog::Catalog;

fn all_rules() -> Policy {
    let config = ReviewConfig {
        engine: None,
        template: Some(Template::Advanced),
        rules: rules::all()
            .iter()
            .map(|r| {
                (
                    r.name.to_string(),
                    RuleOverride {
                        level: Some("WARNING".into()),
                        ..RuleOverride::default()
                    },
                )
            })
            .collect(),
    };
    Policy::resolve(&config).unwrap()
}

const WORDS: &[&str] = &[
    "CREATE",
    "TABLE",
    "ALTER",
    "ADD",
    "COLUMN",
    "INDEX",
    "CONCURRENTLY",
    "UNIQUE",
    "ON",
    "t",
    "s.t",
    "\"Q\"",
    "(",
    ")",
    ",",
    ";",
    "NOT",
    "NULL",
    "DEFAULT",
    "now()",
    "'x'",
    "1",
    "PRIMARY",
    "KEY",
    "REFERENCES",
    "DROP",
    "SELECT",
    "*",
    "FROM",
    "WHERE",
    "=",
    "LIKE",
    "'%a'",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "CONSTRAINT",
    "CHECK",
    "TYPE",
    "int",
    "varchar(10)",
    "timestamp",
    "BEGIN",
    "COMMIT",
    "TRUNCATE",
    "CASCADE",
    "RENAME",
    "TO",
    "COMMENT",
    "IS",
    "PARTITION",
    "BY",
    "RANGE",
    "USING",
    "VALID",
    "VALIDATE",
    "lock_timeout",
    "$$",
    "--",
    "/*",
    "*/",
    "\n",
    "-- rollgate:ignore",
    "-- rollgate:no-transaction",
    "ENUM",
    "AS",
    "VIEW",
    "SCHEMA",
    "DATABASE",
    "IF",
    "EXISTS",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = review_text(&all_rules(), Catalog::default(), "0001_fuzz.sql", &text);
    }

    #[test]
    fn sql_like_soup(words in proptest::collection::vec(proptest::sample::select(WORDS), 0..80), complete in any::<bool>()) {
        let text = words.join(" ");
        let _ = review_text(&all_rules(), Catalog { complete, ..Catalog::default() }, "0001_fuzz.sql", &text);
    }
}
