//! Data-driven rule tests.
//!
//! Every rule has a folder `tests/fixtures/RULE_NAME/` with SQL fixtures:
//! `fire*.sql` must produce at least one advice of that rule, `ok*.sql` must
//! produce none. The advice of each fixture is snapshot-tested with insta.
//!
//! A fixture is reviewed with only its rule enabled. Header lines tune that:
//! - `-- options: number = 2, list = ["a"]` sets the rule's payload (TOML);
//! - `-- catalog: incomplete` reviews without assuming the history is
//!   complete (by default a missing object is known not to exist);
//! - `-- pad-to-bytes: N` pads the file with a comment to N bytes (for the
//!   size limit);
//! - `-- file: NAME.sql` starts another file, reviewed after the previous
//!   ones (so a table can come from an earlier migration). The first file is
//!   `0001_fixture.sql` unless a `-- file:` line opens the fixture.

use std::fmt::Write;
use std::path::Path;

use rollgate_review::policy::{Policy, ReviewConfig, RuleOverride, Template};
use rollgate_review::{Reviewer, rules};
use rollgate_sql::catalog::Catalog;

#[dir_test::dir_test(dir: "$CARGO_MANIFEST_DIR/tests/fixtures", glob: "**/*.sql")]
fn rule_fixture(fixture: dir_test::Fixture<&str>) {
    let path = Path::new(fixture.path());
    let rule_name = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .expect("fixture in a rule folder");
    let file_stem = path
        .file_stem()
        .and_then(|n| n.to_str())
        .expect("fixture name");
    let rule = rules::find(rule_name).unwrap_or_else(|| panic!("{rule_name} is not a rule"));
    let output = check(rule.name, fixture.content());
    let fired = output
        .lines()
        .any(|l| l.contains(&format!(" {}(", rule.name)));
    if file_stem.starts_with("fire") {
        assert!(
            fired,
            "{rule_name}/{file_stem}.sql must fire {rule_name}, got:\n{output}"
        );
    } else if file_stem.starts_with("ok") {
        assert!(
            !fired,
            "{rule_name}/{file_stem}.sql must not fire {rule_name}, got:\n{output}"
        );
    } else {
        panic!(
            "fixture names start with `fire` or `ok`: {}",
            path.display()
        );
    }
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(format!("{rule_name}__{file_stem}"), output);
    });
}

/// Reviews a fixture with only `rule` enabled; renders every advice as one
/// line plus the first line of the text it points at.
fn check(rule: &str, fixture: &str) -> String {
    let mut options = RuleOverride::default();
    let mut complete = true;
    for line in fixture.lines() {
        if let Some(toml_text) = line.strip_prefix("-- options:") {
            #[derive(serde::Deserialize)]
            struct Header {
                options: RuleOverride,
            }
            let header: Header = toml::from_str(&format!("options = {{ {toml_text} }}"))
                .expect("options header is TOML");
            options = header.options;
        }
        if line.trim() == "-- catalog: incomplete" {
            complete = false;
        }
    }
    options.level = Some("WARNING".into());
    let config = ReviewConfig {
        engine: None,
        template: Some(Template::None),
        rules: [(rule.to_string(), options)].into_iter().collect(),
    };
    let mut policy = Policy::resolve(&config).expect("fixture policy resolves");
    policy.rules.retain(|r| r.rule.name == rule);

    let mut files: Vec<(String, String)> = Vec::new();
    for line in fixture.split_inclusive('\n') {
        if let Some(name) = line.trim().strip_prefix("-- file:") {
            files.push((name.trim().to_string(), String::new()));
            continue;
        }
        if files.is_empty() {
            files.push(("0001_fixture.sql".into(), String::new()));
        }
        files.last_mut().unwrap().1.push_str(line);
    }
    if let Some(size) = fixture
        .lines()
        .find_map(|l| l.strip_prefix("-- pad-to-bytes:"))
    {
        let size: usize = size.trim().parse().expect("pad-to-bytes takes a number");
        let last = files.last_mut().unwrap();
        let padding = size.saturating_sub(last.1.len() + 4);
        last.1.push_str(&format!("/* {} */", "x".repeat(padding)));
    }
    let mut reviewer = Reviewer::new(
        &policy,
        Catalog {
            complete,
            ..Catalog::default()
        },
    );
    let mut output = String::new();
    for (name, text) in files {
        let loaded = rollgate_migration::Loaded::File(
            rollgate_migration::MigrationFile::from_text(&name, &text),
        );
        let report = reviewer.review_batch(vec![loaded]).pop().unwrap();
        for advice in &report.advices {
            let line_text = text
                .lines()
                .nth(advice.line as usize - 1)
                .unwrap_or("")
                .trim();
            writeln!(
                output,
                "{name}:{}:{}-{}:{} {} {}({}): {}\n    | {line_text}",
                advice.line,
                advice.column,
                advice.end_line,
                advice.end_column,
                advice.level.as_str(),
                advice.rule,
                advice.code,
                advice.content
            )
            .unwrap();
        }
    }
    if output.is_empty() {
        output.push_str("(no advice)\n");
    }
    output
}

/// Every rule has fixtures that fire and fixtures that must not fire.
#[test]
fn every_rule_has_fire_and_ok_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut missing = Vec::new();
    for rule in rules::all() {
        let dir = root.join(rule.name);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if !names.iter().any(|n| n.starts_with("fire"))
            || !names.iter().any(|n| n.starts_with("ok"))
        {
            missing.push(rule.name);
        }
    }
    assert!(
        missing.is_empty(),
        "rules without fire*.sql and ok*.sql fixtures: {missing:?}"
    );
}
