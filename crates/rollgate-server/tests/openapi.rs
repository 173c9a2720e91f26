//! The OpenAPI document: committed at `docs/openapi.json` and failing here
//! when stale (`UPDATE_OPENAPI=1 cargo test -p rollgate-server --test openapi`
//! rewrites it), in step with `ENDPOINT_PERMISSIONS` both ways, served as is
//! at `/api/v1/openapi.json`, and every operation it lists routed.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::http::StatusCode;
use rollgate_server::ENDPOINT_PERMISSIONS;
use rollgate_server::openapi::{UNAUTHENTICATED_OPERATIONS, openapi, openapi_pretty_json};
use serde_json::Value;
use support::World;

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// Every `(METHOD, path)` of the document with its operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for method in METHODS {
            if let Some(operation) = item.get(*method) {
                out.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    out
}

fn document() -> Value {
    serde_json::to_value(openapi()).unwrap()
}

#[test]
fn committed_spec_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = openapi_pretty_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale (or missing): it no longer matches the handlers' \
         #[utoipa::path] attributes and DTOs.\n\
         Regenerate it with `UPDATE_OPENAPI=1 cargo test -p rollgate-server --test openapi` \
         and commit it."
    );
}

#[test]
fn spec_is_openapi_3_1_with_title_and_version() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Rollgate API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[test]
fn spec_and_endpoint_permissions_list_the_same_endpoints() {
    let doc = document();
    let in_spec: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .filter(|(m, p)| !UNAUTHENTICATED_OPERATIONS.contains(&(m.as_str(), p.as_str())))
        .collect();
    let in_table: BTreeSet<(String, String)> = ENDPOINT_PERMISSIONS
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = in_table.difference(&in_spec).collect();
    let extra: Vec<_> = in_spec.difference(&in_table).collect();
    assert!(
        missing.is_empty(),
        "ENDPOINT_PERMISSIONS entries without an operation in the spec: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "spec operations missing from ENDPOINT_PERMISSIONS: {extra:?}"
    );
    assert_eq!(in_table.len(), ENDPOINT_PERMISSIONS.len(), "duplicate entries");
}

#[test]
fn every_operation_states_its_permission_security_and_errors() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(
            ids.insert(id.to_string()),
            "{method} {path}: operationId `{id}` is not unique"
        );
        assert!(
            operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
        let error = &operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(
            error, "#/components/schemas/ErrorBody",
            "{method} {path}: 400 must use ErrorBody"
        );
        if UNAUTHENTICATED_OPERATIONS.contains(&(method.as_str(), path.as_str())) {
            assert!(
                operation.get("security").is_none(),
                "{method} {path} needs no token but the spec asks for one"
            );
            continue;
        }
        let (_, _, permission) = ENDPOINT_PERMISSIONS
            .iter()
            .find(|(m, p, _)| *m == method && *p == path)
            .unwrap_or_else(|| panic!("{method} {path} is not in ENDPOINT_PERMISSIONS"));
        let description = operation["description"].as_str().unwrap_or_default();
        assert!(
            description.contains(&format!("Permission: `{permission}`")),
            "{method} {path}: description does not state `{permission}`: {description}"
        );
        assert_eq!(
            operation["security"],
            serde_json::json!([{ "bearerAuth": [] }]),
            "{method} {path}: bearer security"
        );
        for status in ["401", "403", "404"] {
            assert!(
                operation["responses"][status].is_object(),
                "{method} {path} lacks the {status} response"
            );
        }
        if operation.get("requestBody").is_some() {
            assert!(
                operation["responses"]["413"].is_object(),
                "{method} {path} takes a body but lacks the 413 response"
            );
        }
    }
}

#[tokio::test]
async fn served_spec_is_the_generated_one_without_a_token() {
    let world = World::new().await;
    let (status, body) = world.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, document());
}

/// Each operation of the spec is routed: without a token, an authenticated
/// one answers 401 (not the router's 404 or 405), so no path in the spec is
/// misspelled or missing from `app()`.
#[tokio::test]
async fn every_operation_in_the_spec_is_routed() {
    let world = World::new().await;
    for (method, path, _) in operations(&document()) {
        if UNAUTHENTICATED_OPERATIONS.contains(&(method.as_str(), path.as_str())) {
            continue;
        }
        let uri = fill_parameters(&path);
        let body = (method != "GET" && method != "DELETE").then_some("{}");
        let (status, value) = world.call(&method, &uri, None, body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} (spec path {path}) is not routed to an authenticated handler: {value}"
        );
    }
}

/// `/projects/{project}:getIamPolicy` → `/projects/p1:getIamPolicy`.
fn fill_parameters(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str("p1");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}
