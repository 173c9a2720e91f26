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
    for (status, response) in doc["components"]["responses"].as_object().unwrap() {
        assert_eq!(
            response["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "error response {status}"
        );
    }
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
    assert_eq!(
        in_table.len(),
        ENDPOINT_PERMISSIONS.len(),
        "duplicate entries"
    );
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
        if path != "/api/v1/openapi.json" {
            assert_eq!(
                operation["responses"]["400"]["$ref"], "#/components/responses/InvalidArgument",
                "{method} {path}: 400 must be the shared error response"
            );
        }
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

/// Calls endpoints with a Workspace Admin on the fixture world (a release,
/// plan, rollout and queued task run included) and checks each answer
/// against the schema the spec gives for its method, path and status, so
/// the schemas written next to `json!` bodies cannot drift from them.
#[tokio::test]
async fn responses_match_their_schemas() {
    let world = World::new().await;
    let admin = world
        .principal("admin@example.com", &[rollgate_auth::Role::WorkspaceAdmin])
        .await;
    let doc = document();
    let release = serde_json::json!({
        "files": [{"path": "migrations/V1__t.sql", "version": "1", "statement": "CREATE TABLE t (id int);"}],
        "vcs": {"commitSha": "abc123", "commitUrl": "https://git.example/c/abc123",
                "mergeRequestUrl": "https://git.example/mr/7", "author": "ada@example.com"},
    })
    .to_string();
    let mut calls: Vec<(&str, String, &str, Option<String>)> = vec![
        ("GET", "/api/v1/environments".into(), "/api/v1/environments", None),
        ("GET", "/api/v1/environments/test".into(), "/api/v1/environments/{id}", None),
        ("POST", "/api/v1/environments".into(), "/api/v1/environments", Some(r#"{"id":"stage"}"#.into())),
        ("PATCH", "/api/v1/environments/stage".into(), "/api/v1/environments/{id}", Some(r#"{"title":"Staging"}"#.into())),
        ("GET", "/api/v1/instances".into(), "/api/v1/instances", None),
        ("GET", "/api/v1/instances/pg".into(), "/api/v1/instances/{id}", None),
        ("POST", "/api/v1/instances/pg:matchUrl".into(), "/api/v1/instances/{id}:matchUrl", Some(r#"{"url":"postgres://x@y/z"}"#.into())),
        ("GET", "/api/v1/databases".into(), "/api/v1/databases", None),
        ("GET", "/api/v1/instances/pg/databases".into(), "/api/v1/instances/{instance}/databases", None),
        ("GET", "/api/v1/instances/pg/databases/app".into(), "/api/v1/instances/{instance}/databases/{database}", None),
        ("POST", "/api/v1/instances/pg/databases".into(), "/api/v1/instances/{instance}/databases", Some(r#"{"name":"extra"}"#.into())),
        ("GET", "/api/v1/projects".into(), "/api/v1/projects", None),
        ("GET", "/api/v1/projects/shop".into(), "/api/v1/projects/{project}", None),
        ("POST", "/api/v1/projects".into(), "/api/v1/projects", Some(r#"{"id":"blog"}"#.into())),
        ("PATCH", "/api/v1/projects/blog".into(), "/api/v1/projects/{project}", Some(r#"{"title":"Blog"}"#.into())),
        ("GET", "/api/v1/projects/shop:getIamPolicy".into(), "/api/v1/projects/{project}:getIamPolicy", None),
        ("POST", "/api/v1/projects/blog:setIamPolicy".into(), "/api/v1/projects/{project}:setIamPolicy",
            Some(r#"{"bindings":[{"role":"roles/projectDeveloper","members":["user:bob@example.com"]}]}"#.into())),
        ("GET", "/api/v1/users".into(), "/api/v1/users", None),
        ("GET", "/api/v1/users/bob@example.com".into(), "/api/v1/users/{email}", None),
        ("POST", "/api/v1/users".into(), "/api/v1/users", Some(r#"{"email":"eve@example.com","roles":[]}"#.into())),
        ("GET", "/api/v1/serviceAccounts".into(), "/api/v1/serviceAccounts", None),
        ("GET", "/api/v1/serviceAccounts/ci".into(), "/api/v1/serviceAccounts/{name}", None),
        ("POST", "/api/v1/serviceAccounts".into(), "/api/v1/serviceAccounts", Some(r#"{"name":"deploy","roles":[]}"#.into())),
        ("POST", "/api/v1/serviceAccounts/deploy:rotateKey".into(), "/api/v1/serviceAccounts/{name}:rotateKey", None),
        ("PUT", "/api/v1/projects/shop/reviewPolicy".into(), "/api/v1/projects/{project}/reviewPolicy", Some(r#"{"review":{"template":"basic"}}"#.into())),
        ("GET", "/api/v1/projects/shop/reviewPolicy".into(), "/api/v1/projects/{project}/reviewPolicy", None),
        ("GET", "/api/v1/reviewPolicies".into(), "/api/v1/reviewPolicies", None),
        ("DELETE", "/api/v1/projects/shop/reviewPolicy".into(), "/api/v1/projects/{project}/reviewPolicy", None),
        ("POST", "/api/v1/projects/shop/releases".into(), "/api/v1/projects/{project}/releases", Some(release)),
        ("GET", "/api/v1/projects/shop/releases".into(), "/api/v1/projects/{project}/releases", None),
        ("GET", "/api/v1/auditLogs".into(), "/api/v1/auditLogs", None),
        // The fixture's instance is unreachable: these answer with the
        // target's error inside a 200.
        ("GET", "/api/v1/projects/shop/databases/app/changelog".into(), "/api/v1/projects/{project}/databases/{database}/changelog", None),
        ("POST", "/api/v1/projects/shop/releases:check".into(), "/api/v1/projects/{project}/releases:check",
            Some(r#"{"files":[{"path":"migrations/V2__u.sql","version":"2","changeType":"DDL","statement":"CREATE TABLE u (id int);"}],"targets":["instances/pg/databases/app"]}"#.into())),
        ("POST", "/api/v1/auth/login".into(), "/api/v1/auth/login", Some(r#"{"email":"nobody@example.com","password":"wrong-password"}"#.into())),
        ("DELETE", "/api/v1/projects/blog".into(), "/api/v1/projects/{project}", None),
    ];
    let mut checked = 0;
    let mut index = 0;
    while index < calls.len() {
        let (method, uri, spec_path, body) = calls[index].clone();
        index += 1;
        let (status, value) = world
            .call(method, &uri, Some(&admin), body.as_deref())
            .await;
        // Success everywhere but the login with a wrong password, whose
        // error body is checked as well.
        let expected_success = spec_path != "/api/v1/auth/login";
        assert_eq!(
            status.is_success(),
            expected_success,
            "{method} {uri} answered {status}: {value}"
        );
        check_response(&doc, method, spec_path, status, &value);
        checked += 1;
        // Release → plan → rollout → queued run → its log, by the names returned.
        if spec_path == "/api/v1/projects/{project}/releases" && method == "POST" {
            let plan = serde_json::json!({ "release": value["name"], "targets": ["instances/pg/databases/app"] });
            calls.push((
                "POST",
                "/api/v1/projects/shop/plans".into(),
                "/api/v1/projects/{project}/plans",
                Some(plan.to_string()),
            ));
            calls.push((
                "GET",
                format!("/api/v1/{}", value["name"].as_str().unwrap()),
                "/api/v1/projects/{project}/releases/{release}",
                None,
            ));
        }
        if spec_path == "/api/v1/projects/{project}/plans" && method == "POST" {
            let name = value["name"].as_str().unwrap();
            calls.push((
                "GET",
                "/api/v1/projects/shop/plans".into(),
                "/api/v1/projects/{project}/plans",
                None,
            ));
            calls.push((
                "GET",
                format!("/api/v1/{name}"),
                "/api/v1/projects/{project}/plans/{plan}",
                None,
            ));
            calls.push((
                "POST",
                format!("/api/v1/{name}/rollout"),
                "/api/v1/projects/{project}/plans/{plan}/rollout",
                None,
            ));
        }
        if spec_path == "/api/v1/projects/{project}/plans/{plan}/rollout" {
            let name = value["name"].as_str().unwrap().to_string();
            let stage = value["stages"][0]["name"].as_str().unwrap().to_string();
            let task = value["stages"][0]["tasks"][0]["name"]
                .as_str()
                .unwrap()
                .to_string();
            calls.push((
                "GET",
                "/api/v1/projects/shop/rollouts".into(),
                "/api/v1/projects/{project}/rollouts",
                None,
            ));
            calls.push((
                "GET",
                format!("/api/v1/{name}"),
                "/api/v1/projects/{project}/rollouts/{rollout}",
                None,
            ));
            calls.push((
                "POST",
                format!("/api/v1/{stage}/tasks:run"),
                "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:run",
                None,
            ));
            calls.push(("GET", format!("/api/v1/{task}/taskRuns"), "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns", None));
            calls.push((
                "POST",
                format!("/api/v1/{stage}/taskRuns:cancel"),
                "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/taskRuns:cancel",
                None,
            ));
            calls.push((
                "POST",
                format!("/api/v1/{stage}/tasks:skip"),
                "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:skip",
                Some(r#"{"reason":"not needed"}"#.into()),
            ));
        }
        if spec_path.ends_with("tasks:run") {
            let run = value["taskRuns"][0]["name"].as_str().unwrap();
            calls.push(("GET", format!("/api/v1/{run}/log"), "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}/log", None));
        }
    }
    assert!(checked >= 40, "only {checked} responses checked");
}

/// Fails unless `value` matches the spec's schema for `status` of the operation.
fn check_response(doc: &Value, method: &str, path: &str, status: StatusCode, value: &Value) {
    let operation = &doc["paths"][path][method.to_lowercase()];
    assert!(operation.is_object(), "{method} {path} is not in the spec");
    let mut response = &operation["responses"][status.as_str()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which the spec does not list: {value}"
    );
    if let Some(reference) = response["$ref"].as_str() {
        response = resolve(doc, reference);
    }
    let schema = &response["content"]["application/json"]["schema"];
    if schema.is_null() {
        assert!(
            value.is_null(),
            "{method} {path} {status}: the spec says no body: {value}"
        );
        return;
    }
    if let Err(error) = validate(doc, schema, value, "$") {
        panic!("{method} {path} {status}: {error}\nbody: {value}");
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let mut node = doc;
    for part in reference.trim_start_matches("#/").split('/') {
        node = &node[part];
    }
    assert!(!node.is_null(), "dangling $ref {reference}");
    node
}

/// The subset of JSON Schema the generated document uses: `$ref`, `type`
/// (one or a list), `properties`, `required`, `additionalProperties: false`,
/// `items`, `oneOf`.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        return validate(doc, resolve(doc, reference), value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        return if options.iter().any(|o| validate(doc, o, value, at).is_ok()) {
            Ok(())
        } else {
            Err(format!("{at}: matches no oneOf option"))
        };
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let integer_as_number = actual == "integer" && types.contains(&"number");
    if !(types.contains(&actual) || integer_as_number) {
        return Err(format!("{at}: is {actual}, the spec says {types:?}"));
    }
    match value {
        Value::Object(fields) => {
            let properties = schema["properties"].as_object();
            if let Some(properties) = properties {
                for (key, field) in fields {
                    match properties.get(key) {
                        Some(property) => validate(doc, property, field, &format!("{at}.{key}"))?,
                        None => return Err(format!("{at}.{key}: not a property in the spec")),
                    }
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap_or_default();
                if !fields.contains_key(key) {
                    return Err(format!("{at}.{key}: required by the spec, missing"));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                validate(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}
