//! Generated documentation is committed; this test fails when it is stale.
//! `UPDATE_DOCS=1 cargo test -p rollgate-server --test docs` rewrites it.

use std::path::PathBuf;

fn check_generated(relative: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative} is stale (or missing): it no longer matches ENDPOINT_PERMISSIONS.\n\
         Regenerate it with `UPDATE_DOCS=1 cargo test -p rollgate-server --test docs` and commit it."
    );
}

#[test]
fn api_permissions_page_is_up_to_date() {
    check_generated(
        "docs/api-permissions.md",
        &rollgate_server::endpoint_permissions_markdown(),
    );
}

#[test]
fn every_endpoint_is_in_the_page() {
    let page = rollgate_server::endpoint_permissions_markdown();
    for (method, path, permission) in rollgate_server::ENDPOINT_PERMISSIONS {
        let row = format!("| {method} | `{path}` | `{permission}` |");
        assert!(page.contains(&row), "missing row {row}");
    }
    assert_eq!(
        rollgate_server::endpoint_scope("GET", "/api/v1/projects/{project}"),
        "project"
    );
    assert_eq!(
        rollgate_server::endpoint_scope("GET", "/api/v1/projects"),
        "any project"
    );
    assert_eq!(
        rollgate_server::endpoint_scope("POST", "/api/v1/projects"),
        "workspace"
    );
    assert_eq!(
        rollgate_server::endpoint_scope("GET", "/api/v1/users"),
        "workspace"
    );
}
