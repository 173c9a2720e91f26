//! Architecture invariants that a test can check cheaply.

use std::path::Path;

/// The pure crates stay pure: no async runtime, no database driver, no HTTP.
#[test]
fn pure_crates_have_no_io_dependencies() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let forbidden = ["tokio", "sqlx", "axum", "reqwest", "hyper"];
    for name in [
        "rollgate-migration",
        "rollgate-sql",
        "rollgate-review",
        "rollgate-report",
    ] {
        let manifest = std::fs::read_to_string(crates.join(name).join("Cargo.toml")).unwrap();
        for dependency in forbidden {
            let declared = manifest
                .lines()
                .any(|line| line.trim_start().starts_with(dependency));
            assert!(
                !declared,
                "{name} must stay pure but depends on {dependency}"
            );
        }
    }
}

/// Every crate and module starts with a `//!` doc saying what it is.
#[test]
fn every_library_file_has_a_module_doc() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    for entry in walk(&crates) {
        let is_source = entry.extension().is_some_and(|e| e == "rs")
            && entry.components().any(|c| c.as_os_str() == "src");
        if !is_source || entry.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(&entry).unwrap();
        if !text.trim_start().starts_with("//!") {
            missing.push(entry.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc: {missing:#?}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
