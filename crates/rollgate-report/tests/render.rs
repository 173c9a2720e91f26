//! Every format rendered from one small fixture, plus the properties that a
//! snapshot does not show at a glance.

use std::sync::Arc;

use rollgate_report::{Format, RenderOptions, Renderer, render};
use rollgate_review::{Advice, FileReport, Level, Summary};

/// The only caller of `render`, so a change to its signature touches one place.
fn check(format: Format, files: &[FileReport], color: bool) -> String {
    let mut out = Vec::new();
    render(format, files, &options(color), &mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("renderers write UTF-8")
}

/// The only caller of `Renderer`: feeds it one clone at a time and drops
/// each before the next, as a streaming caller would.
fn check_streamed(format: Format, files: &[FileReport], color: bool) -> (String, Summary) {
    let options = options(color);
    let mut out = Vec::new();
    let mut renderer = Renderer::new(format, &options, &mut out).expect("writing to a Vec");
    for file in files {
        let report = file.clone();
        renderer.file(&report).expect("writing to a Vec");
    }
    let summary = renderer.finish().expect("writing to a Vec");
    let text = String::from_utf8(out).expect("renderers write UTF-8");
    (text, summary)
}

fn options(color: bool) -> RenderOptions {
    RenderOptions {
        color,
        tool_version: "0.0.0-test",
    }
}

fn advice(rule: &str, level: Level, content: &str, span: (u32, u32, u32, u32)) -> Advice {
    let (code, title) = match rule {
        "COLUMN_NO_NULL" => (402, r#"Enforce "NOT NULL" constraints on columns"#),
        "CREATE_INDEX_CONCURRENTLY" => (1801, "Create indexes concurrently"),
        _ => (202, "Require WHERE in UPDATE and DELETE"),
    };
    Advice {
        rule: rule.to_owned(),
        level,
        code,
        title: title.to_owned(),
        content: content.to_owned(),
        line: span.0,
        column: span.1,
        end_line: span.2,
        end_column: span.3,
    }
}

/// Three files: a clean one; one with a warning, an error over a long
/// multi-line span and an error after a tab and a two-byte character, under
/// a path full of characters that need escaping; and one without a version
/// or source text.
fn fixture() -> Vec<FileReport> {
    let clean = FileReport {
        path: "migrations/202505121650_create_table_t1.sql".to_owned(),
        version: Some("202505121650".to_owned()),
        change_type: "DDL".to_owned(),
        checksum: "sha256-v1:1111".to_owned(),
        statements: 2,
        advices: vec![],
        source: Some(Arc::from(
            "CREATE TABLE t1 (\n    id BIGINT PRIMARY KEY,\n    name TEXT NOT NULL\n);\nCOMMENT ON TABLE t1 IS 'x';\n",
        )),
    };
    let source = "\
-- Add a note column and index it.
ALTER TABLE t1 ADD COLUMN note TEXT;

-- The partial index skips empty notes:
-- most rows have none.


CREATE INDEX idx_t1_note
    ON t1
    USING btree (note)
    WHERE note <> '';
CREATE INDEX\tidx_é ON t1 (name);
";
    let findings = FileReport {
        path: "migrations/202505131200_note t1,50%:fast.sql".to_owned(),
        version: Some("202505131200".to_owned()),
        change_type: "DDL".to_owned(),
        checksum: "sha256-v1:2222".to_owned(),
        statements: 3,
        advices: vec![
            advice(
                "COLUMN_NO_NULL",
                Level::Warning,
                r#"Column "note" of table "t1" can be NULL; add NOT NULL, or a DEFAULT: 100% of rows start NULL."#,
                (2, 27, 2, 36),
            ),
            advice(
                "CREATE_INDEX_CONCURRENTLY",
                Level::Error,
                "Index \"idx_t1_note\" blocks writes to \"t1\" while it builds.\nUse CREATE INDEX CONCURRENTLY <name> ON t1 (...) & run it outside a transaction.",
                (8, 1, 11, 22),
            ),
            advice(
                "CREATE_INDEX_CONCURRENTLY",
                Level::Error,
                r#"Index 'idx_é' blocks writes to "t1" while it builds."#,
                (12, 14, 12, 19),
            ),
        ],
        source: Some(Arc::from(source)),
    };
    let no_source = FileReport {
        path: "adhoc/fix_t1.sql".to_owned(),
        version: None,
        change_type: "DML".to_owned(),
        checksum: "sha256-v1:3333".to_owned(),
        statements: 1,
        advices: vec![advice(
            "STATEMENT_REQUIRE_WHERE",
            Level::Warning,
            r#"UPDATE of "t1" has no WHERE clause; it changes every row."#,
            (1, 1, 1, 24),
        )],
        source: None,
    };
    vec![clean, findings, no_source]
}

#[test]
fn human() {
    insta::assert_snapshot!(check(Format::Human, &fixture(), false));
}

#[test]
fn human_in_color() {
    // The escape character made visible, so the snapshot shows which
    // styles wrap which text.
    let colored = check(Format::Human, &fixture()[1..2], true).replace('\x1b', "␛");
    insta::assert_snapshot!(colored);
}

#[test]
fn human_summary_counts_and_plurals() {
    let mut one_warning = fixture()[2].clone();
    one_warning.advices[0].line = 0;
    let text = check(Format::Human, &[one_warning], false);
    assert!(
        text.ends_with("\nFound 1 warning in 1 file (1 statement).\n"),
        "{text}"
    );

    let text = check(Format::Human, &fixture()[..1], false);
    assert_eq!(text, "No issues found in 1 file (2 statements).\n");

    let text = check(Format::Human, &[], false);
    assert_eq!(text, "No issues found in 0 files (0 statements).\n");
}

#[test]
fn human_frames_only_what_the_advice_points_at() {
    let mut file = fixture()[1].clone();
    file.advices = vec![
        // A span that ends at the start of the next line frames one line.
        advice(
            "COLUMN_NO_NULL",
            Level::Warning,
            "to the line break",
            (2, 27, 3, 1),
        ),
        // Positions outside the text, as after an edit, lose their frame
        // but not their finding.
        advice(
            "COLUMN_NO_NULL",
            Level::Warning,
            "past the end",
            (40, 1, 40, 2),
        ),
        advice("COLUMN_NO_NULL", Level::Warning, "line zero", (0, 0, 0, 0)),
        advice(
            "COLUMN_NO_NULL",
            Level::Warning,
            "ends before it starts",
            (2, 30, 1, 1),
        ),
    ];
    insta::assert_snapshot!(check(Format::Human, &[file], false));
}

#[test]
fn json() {
    insta::assert_snapshot!(check(Format::Json, &fixture(), false));
}

#[test]
fn json_parses_back_with_the_documented_keys() {
    let text = check(Format::Json, &fixture(), false);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = |value: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&value), ["files", "summary"]);
    assert_eq!(
        keys(&value["summary"]),
        ["errors", "files", "statements", "warnings"]
    );
    let files = value["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for file in files {
        assert_eq!(
            keys(file),
            [
                "advices",
                "change_type",
                "checksum",
                "path",
                "statements",
                "version"
            ]
        );
    }
    assert_eq!(files[0]["advices"], serde_json::json!([]));
    assert_eq!(files[2]["version"], serde_json::Value::Null);
    assert_eq!(
        keys(&files[1]["advices"][0]),
        [
            "code",
            "column",
            "content",
            "end_column",
            "end_line",
            "level",
            "line",
            "rule",
            "title"
        ]
    );
    assert_eq!(files[1]["advices"][1]["level"], "ERROR");
    assert_eq!(
        value["summary"],
        serde_json::json!({"files": 3, "statements": 6, "errors": 2, "warnings": 2})
    );
}

#[test]
fn gitlab() {
    insta::assert_snapshot!(check(Format::Gitlab, &fixture(), false));
}

#[test]
fn gitlab_fingerprints_ignore_lines_and_tell_duplicates_apart() {
    let fingerprints = |files: &[FileReport]| -> Vec<String> {
        let text = check(Format::Gitlab, files, false);
        let issues: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        issues
            .iter()
            .map(|issue| issue["fingerprint"].as_str().unwrap().to_owned())
            .collect()
    };
    let files = fixture();
    let before = fingerprints(&files);

    let mut shifted = files.clone();
    for advice in &mut shifted[1].advices {
        advice.line += 3;
        advice.end_line += 3;
    }
    assert_eq!(fingerprints(&shifted), before);

    let mut duplicated = files.clone();
    let copy = duplicated[2].advices[0].clone();
    duplicated[2].advices.push(copy);
    let after = fingerprints(&duplicated);
    assert_eq!(after[..before.len()], before[..]);
    assert_ne!(after[3], after[4]);
    assert!(after.iter().all(|fingerprint| fingerprint.len() == 64));
}

#[test]
fn github() {
    insta::assert_snapshot!(check(Format::Github, &fixture(), false));
}

#[test]
fn sarif() {
    insta::assert_snapshot!(check(Format::Sarif, &fixture(), false));
}

#[test]
fn junit() {
    insta::assert_snapshot!(check(Format::Junit, &fixture(), false));
}

#[test]
fn junit_replaces_characters_xml_cannot_carry() {
    let mut files = fixture();
    files[2].path = "adhoc/\u{1}bell\u{7}.sql".to_owned();
    files[2].advices[0].content = "before\u{0}after\u{1b}[31m\u{ffff}".to_owned();
    let text = check(Format::Junit, &files[2..], false);
    assert!(
        !text.contains(['\u{0}', '\u{1}', '\u{7}', '\u{1b}', '\u{ffff}']),
        "{text}"
    );
    assert!(
        text.contains("before\u{fffd}after\u{fffd}[31m\u{fffd}"),
        "{text}"
    );
    assert!(text.contains(r#"name="adhoc/�bell�.sql""#), "{text}");
}

#[test]
fn rendering_file_by_file_equals_rendering_the_whole_slice() {
    let files = fixture();
    for format in Format::ALL {
        for color in [false, true] {
            for files in [&files[..], &files[1..2], &[]] {
                let (streamed, summary) = check_streamed(format, files, color);
                assert_eq!(streamed, check(format, files, color), "{format}");
                assert_eq!(summary, Summary::of(files), "{format}");
            }
        }
    }
}

#[test]
fn streamed_json_has_the_bytes_of_serde_pretty_on_the_whole_document() {
    #[derive(serde::Serialize)]
    struct Document<'a> {
        files: &'a [FileReport],
        summary: Summary,
    }
    let files = fixture();
    for files in [&files[..], &files[..1], &[]] {
        let document = Document {
            files,
            summary: Summary::of(files),
        };
        let expected = serde_json::to_string_pretty(&document).unwrap() + "\n";
        assert_eq!(check(Format::Json, files, false), expected);
    }
}

#[test]
fn machine_formats_parse_when_nothing_was_found() {
    let clean = &fixture()[..1];
    for files in [clean, &[]] {
        assert_eq!(check(Format::Gitlab, files, false), "[]\n");
        let sarif: serde_json::Value =
            serde_json::from_str(&check(Format::Sarif, files, false)).unwrap();
        assert_eq!(sarif["runs"][0]["results"], serde_json::json!([]));
        assert_eq!(
            sarif["runs"][0]["tool"]["driver"]["rules"],
            serde_json::json!([])
        );
    }
}

#[test]
fn sarif_results_point_at_their_rules() {
    let text = check(Format::Sarif, &fixture(), false);
    let sarif: serde_json::Value = serde_json::from_str(&text).unwrap();
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
}

#[test]
fn format_names_round_trip() {
    for format in Format::ALL {
        assert_eq!(format.as_str().parse::<Format>(), Ok(format));
    }
    let error = "xml".parse::<Format>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown output format `xml`; expected one of human, json, gitlab, github, sarif, junit"
    );
}
