//! End-to-end tests of the `rollgate` binary: output and exit code.
//!
//! Each test gets a fresh temporary directory; `command` is the only code
//! that sets up the binary, and `run` what nearly every test uses.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1");
    command
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let output = command(dir, args).output().expect("rollgate runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn project(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn lint_of_the_bundled_examples_prints_a_finding_and_passes() {
    let run = run(&examples(), &["lint"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("warning[COLUMN_NO_NULL]"),
        "{}",
        run.stdout
    );
    insta::assert_snapshot!("examples_human", run.stdout);
}

#[test]
fn json_lists_every_file_even_clean_ones() {
    let dir = project(&[
        (
            "migrations/0001_init.sql",
            b"CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL);\n",
        ),
        (
            "migrations/0002_more.sql",
            b"ALTER TABLE t ADD COLUMN note text;\n",
        ),
    ]);
    let run = run(
        dir.path(),
        &["lint", "--template", "sample", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["advices"].as_array().unwrap().len(), 0);
    assert_eq!(files[1]["advices"][0]["rule"], "COLUMN_NO_NULL");
    assert_eq!(json["summary"]["files"], 2);
    assert_eq!(json["summary"]["warnings"], 1);
}

#[test]
fn fail_on_decides_the_exit_code() {
    let dir = project(&[(
        "migrations/0001_init.sql",
        b"CREATE TABLE t (id bigint PRIMARY KEY, name text);\n",
    )]);
    assert_eq!(run(dir.path(), &["lint", "--template", "sample"]).code, 0);
    assert_eq!(
        run(
            dir.path(),
            &["lint", "--template", "sample", "--fail-on", "warning"]
        )
        .code,
        1
    );
    let config =
        "[review]\ntemplate = \"sample\"\n[review.rules.COLUMN_NO_NULL]\nlevel = \"ERROR\"\n";
    std::fs::write(dir.path().join("rollgate.toml"), config).unwrap();
    assert_eq!(run(dir.path(), &["lint"]).code, 1);
    assert_eq!(run(dir.path(), &["lint", "--fail-on", "never"]).code, 0);
}

#[test]
fn a_syntax_error_is_an_error_advice_and_later_statements_are_still_reviewed() {
    let dir = project(&[(
        "migrations/0001_bad.sql",
        b"CREATE TABLE (;\nCREATE TABLE ok (id bigint PRIMARY KEY, name text);\n",
    )]);
    let run = run(
        dir.path(),
        &["lint", "--template", "sample", "--format", "json"],
    );
    assert_eq!(run.code, 1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rules: Vec<&str> = json["files"][0]["advices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"SYNTAX_ERROR"), "{rules:?}");
    assert!(rules.contains(&"COLUMN_NO_NULL"), "{rules:?}");
}

#[test]
fn bad_input_exits_2_with_a_message_naming_the_culprit() {
    let dir = project(&[
        ("migrations/0001_a.sql", b"SELECT 1;\n"),
        ("migrations/1_b.sql", b"SELECT 1;\n"),
    ]);
    let duplicate = run(dir.path(), &["lint"]);
    assert_eq!(duplicate.code, 2);
    assert!(
        duplicate.stderr.contains("0001_a.sql") && duplicate.stderr.contains("1_b.sql"),
        "{}",
        duplicate.stderr
    );

    let no_match = run(dir.path(), &["lint", "--file-pattern", "db/**/*.sql"]);
    assert_eq!(no_match.code, 2);
    assert!(
        no_match.stderr.contains("db/**/*.sql"),
        "{}",
        no_match.stderr
    );

    let missing = run(dir.path(), &["lint", "nowhere.sql"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nowhere.sql"), "{}", missing.stderr);

    std::fs::write(
        dir.path().join("rollgate.toml"),
        "[review.rules.NAMING_TABL]\nlevel = \"ERROR\"\n",
    )
    .unwrap();
    let config = run(dir.path(), &["lint", "migrations/0001_a.sql"]);
    assert_eq!(config.code, 2);
    assert!(
        config.stderr.contains("NAMING_TABL") && config.stderr.contains("rollgate.toml"),
        "{}",
        config.stderr
    );
}

#[test]
fn non_utf8_and_empty_files_are_reported_without_a_panic() {
    let dir = project(&[
        ("migrations/0001_latin1.sql", b"SELECT 'caf\xe9';\n"),
        ("migrations/0002_empty.sql", b""),
        ("migrations/0003_ok.sql", b"SELECT 1;\n"),
    ]);
    let run = run(dir.path(), &["lint", "--format", "json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("0001_latin1.sql") && run.stderr.contains("UTF-8"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["files"].as_array().unwrap().len(), 2);
}

#[test]
fn unversioned_files_are_skipped_with_a_warning() {
    let dir = project(&[
        ("migrations/0001_a.sql", b"SELECT 1;\n"),
        ("migrations/notes.sql", b"SELECT 1;\n"),
    ]);
    let run = run(dir.path(), &["lint"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("notes.sql"), "{}", run.stderr);
}

#[test]
fn github_format_escapes_workflow_commands() {
    let dir = project(&[(
        "migrations/0001_init.sql",
        b"CREATE TABLE t (id bigint PRIMARY KEY, name text);\n",
    )]);
    let run = run(
        dir.path(),
        &["lint", "--template", "sample", "--format", "github"],
    );
    assert!(
        run.stdout
            .starts_with("::warning file=migrations/0001_init.sql,line=1,"),
        "{}",
        run.stdout
    );
}

#[test]
fn rules_lists_and_explains() {
    let dir = project(&[]);
    let list = run(dir.path(), &["rules"]);
    assert_eq!(list.code, 0);
    assert!(list.stdout.contains("COLUMN_NO_NULL"));
    let one = run(dir.path(), &["rules", "column.no-null"]);
    assert_eq!(one.code, 0);
    assert!(one.stdout.starts_with("COLUMN_NO_NULL"), "{}", one.stdout);
    assert_eq!(run(dir.path(), &["rules", "NOPE"]).code, 2);
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_not_an_error() {
    // Far more output than a pipe buffers, so rollgate is still writing
    // when the reader goes away, as with `rollgate lint | head`.
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    for number in 1..=1000 {
        let sql = format!("ALTER TABLE t ADD COLUMN note_{number} text;\n");
        std::fs::write(migrations.join(format!("{number:04}_note.sql")), sql).unwrap();
    }
    let mut child = command(
        dir.path(),
        &["lint", "--template", "sample", "--format", "json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("rollgate runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut start = [0; 100];
    stdout.read_exact(&mut start).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}
