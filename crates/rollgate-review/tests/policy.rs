//! Policies: templates, overrides, and configuration errors.

use rollgate_review::policy::{Policy, Template, parse_config};
use rollgate_review::{Level, rules};

fn resolve(toml: &str) -> Result<Policy, String> {
    let config = parse_config(toml).map_err(|e| e.to_string())?;
    Policy::resolve(&config).map_err(|e| e.to_string())
}

#[test]
fn sample_is_bytebases_two_postgres_rules_plus_builtins() {
    let policy = Policy::from_template(Template::Sample);
    let mut names: Vec<_> = policy
        .rules
        .iter()
        .filter(|r| !rules::is_builtin(r.rule))
        .map(|r| (r.rule.name, r.level))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("COLUMN_NO_NULL", Level::Warning),
            ("TABLE_DROP_NAMING_CONVENTION", Level::Error)
        ]
    );
}

#[test]
fn none_runs_only_builtins_and_listed_rules() {
    let policy = resolve(
        "[review]\ntemplate = \"none\"\n[review.rules.\"column.no-null\"]\nlevel = \"ERROR\"\n",
    )
    .unwrap();
    let names: Vec<_> = policy
        .rules
        .iter()
        .filter(|r| !rules::is_builtin(r.rule))
        .map(|r| r.rule.name)
        .collect();
    assert_eq!(names, ["COLUMN_NO_NULL"]);
    assert_eq!(
        policy.enabled("COLUMN_NO_NULL").unwrap().level,
        Level::Error
    );
}

#[test]
fn overrides_change_levels_payloads_and_can_disable() {
    let policy = resolve(
        "[review]\ntemplate = \"basic\"\n[review.rules.COLUMN_NO_NULL]\nlevel = \"DISABLED\"\n\
         [review.rules.BUILTIN_STATEMENT_MAXIMUM_SQL_SIZE]\nnumber = 1\n",
    )
    .unwrap();
    assert!(policy.enabled("COLUMN_NO_NULL").is_none());
    assert_eq!(
        policy
            .enabled("BUILTIN_STATEMENT_MAXIMUM_SQL_SIZE")
            .unwrap()
            .options
            .number,
        1
    );
}

#[test]
fn configuration_errors_name_the_setting_and_list_what_is_valid() {
    let unknown_rule = resolve("[review.rules.COLUMN_NO_NUL]\nlevel = \"ERROR\"\n").unwrap_err();
    assert!(
        unknown_rule.starts_with("review.rules.COLUMN_NO_NUL: unknown rule"),
        "{unknown_rule}"
    );
    assert!(
        unknown_rule.contains("did you mean COLUMN_NO_NULL?"),
        "{unknown_rule}"
    );
    assert!(
        unknown_rule.contains("TABLE_DROP_NAMING_CONVENTION"),
        "{unknown_rule}"
    );

    let unknown_key = resolve("[review.rules.COLUMN_NO_NULL]\nnumber = 3\n").unwrap_err();
    assert!(
        unknown_key.contains("review.rules.COLUMN_NO_NULL.number")
            && unknown_key.contains("takes no payload keys"),
        "{unknown_key}"
    );

    let size_key =
        resolve("[review.rules.BUILTIN_STATEMENT_MAXIMUM_SQL_SIZE]\nformat = \"x\"\n").unwrap_err();
    assert!(size_key.contains("takes: number"), "{size_key}");

    let level = resolve("[review.rules.COLUMN_NO_NULL]\nlevel = \"LOUD\"\n").unwrap_err();
    assert!(
        level.contains("valid levels: ERROR, WARNING, DISABLED"),
        "{level}"
    );

    let template = resolve("[review]\ntemplate = \"strict\"\n").unwrap_err();
    assert!(template.contains("strict"), "{template}");

    let field = resolve("[review]\ntemplat = \"basic\"\n").unwrap_err();
    assert!(field.contains("templat"), "{field}");

    let engine = resolve("[review]\nengine = \"oracle\"\n").unwrap_err();
    assert!(engine.contains("valid engines: postgres"), "{engine}");
}

#[test]
fn every_rule_has_a_unique_name_code_and_a_description() {
    let mut names = std::collections::HashSet::new();
    let mut codes = std::collections::HashMap::new();
    for rule in rules::all() {
        assert!(names.insert(rule.name), "duplicate rule name {}", rule.name);
        assert!(
            !rule.description.is_empty() && !rule.title.is_empty(),
            "{} needs a title and description",
            rule.name
        );
        assert!(
            rule.name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_'),
            "{} is not in enum style",
            rule.name
        );
        if let Some(other) = codes.insert(rule.code, rule.name) {
            // Bytebase shares a few codes between rules (e.g. 213 for both
            // CASCADE rules); ours must not collide.
            assert!(
                rule.code < 3000,
                "{} and {other} share code {}",
                rule.name,
                rule.code
            );
        }
    }
}
