//! The access matrix: for every entry of `ENDPOINT_PERMISSIONS` and every
//! way of holding each role (workspace-wide; bound in the request's project;
//! bound in another project; as a user or a service account), the response
//! is 403 exactly when that grant lacks the endpoint's permission, the
//! fixture's success status otherwise, and 401 without a valid token.
//!
//! Each case runs on a fresh [`support::World`], so a DELETE or a create
//! never changes what the next case sees. To cover a new endpoint, add one
//! line to [`CASES`] (and, if it needs more data, to `World::with_rollout`); the
//! matrix fails while an endpoint has no case.

mod support;

use axum::http::StatusCode;
use rollgate_auth::{Permission, Role, has_permission};
use rollgate_server::ENDPOINT_PERMISSIONS;
use rollgate_store::Store as _;
use serde_json::Value;
use support::{OTHER_RELEASE, SHOP_RUN_ERROR, World};

/// Where an endpoint checks its permission, from its path
/// (`rollgate_server::endpoint_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Workspace-wide roles only.
    Workspace,
    /// In project `shop` (the project every `Project` case's URI names):
    /// workspace-wide roles plus `shop`'s bindings.
    Project,
    /// `GET /projects`: workspace-wide roles, or bindings in any project.
    AnyProject,
}

impl Scope {
    fn of(method: &str, path: &str) -> Scope {
        match rollgate_server::endpoint_scope(method, path) {
            "project" => Scope::Project,
            "any project" => Scope::AnyProject,
            "workspace" => Scope::Workspace,
            other => panic!("unknown endpoint scope {other}"),
        }
    }
}

/// One request per endpoint. `path` is the `ENDPOINT_PERMISSIONS` template;
/// `uri` a concrete request against the world (project-scoped ones in
/// project `shop`); `ok` its status when allowed.
struct Case {
    method: &'static str,
    path: &'static str,
    uri: &'static str,
    body: Option<&'static str>,
    ok: u16,
}

const fn case(
    method: &'static str,
    path: &'static str,
    uri: &'static str,
    body: Option<&'static str>,
    ok: u16,
) -> Case {
    Case {
        method,
        path,
        uri,
        body,
        ok,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    case("GET", "/api/v1/environments", "/api/v1/environments", None, 200),
    case("GET", "/api/v1/environments/{id}", "/api/v1/environments/test", None, 200),
    case("POST", "/api/v1/environments", "/api/v1/environments", Some(r#"{"id":"staging"}"#), 201),
    case("PATCH", "/api/v1/environments/{id}", "/api/v1/environments/test", Some(r#"{"title":"Testing"}"#), 200),
    case("DELETE", "/api/v1/environments/{id}", "/api/v1/environments/archive", None, 204),
    case("GET", "/api/v1/instances", "/api/v1/instances", None, 200),
    case("GET", "/api/v1/instances/{id}", "/api/v1/instances/pg", None, 200),
    case("POST", "/api/v1/instances", "/api/v1/instances", Some(r#"{"id":"my","engine":"mysql","url":"mysql://root:pw@127.0.0.1:3306/x","environment":"prod"}"#), 201),
    case("PATCH", "/api/v1/instances/{id}", "/api/v1/instances/pg", Some(r#"{"environment":"prod"}"#), 200),
    case("DELETE", "/api/v1/instances/{id}", "/api/v1/instances/pg", None, 204),
    case("POST", "/api/v1/instances/{id}:matchUrl", "/api/v1/instances/pg:matchUrl", Some(r#"{"url":"postgres://x@y/z"}"#), 200),
    case("GET", "/api/v1/databases", "/api/v1/databases", None, 200),
    case("GET", "/api/v1/instances/{instance}/databases", "/api/v1/instances/pg/databases", None, 200),
    case("POST", "/api/v1/instances/{instance}/databases", "/api/v1/instances/pg/databases", Some(r#"{"name":"new_db"}"#), 201),
    case("GET", "/api/v1/instances/{instance}/databases/{database}", "/api/v1/instances/pg/databases/app", None, 200),
    case("PATCH", "/api/v1/instances/{instance}/databases/{database}", "/api/v1/instances/pg/databases/app", Some(r#"{"environment":"prod"}"#), 200),
    case("DELETE", "/api/v1/instances/{instance}/databases/{database}", "/api/v1/instances/pg/databases/app", None, 204),
    case("GET", "/api/v1/projects", "/api/v1/projects", None, 200),
    case("GET", "/api/v1/projects/{project}", "/api/v1/projects/shop", None, 200),
    case("POST", "/api/v1/projects", "/api/v1/projects", Some(r#"{"id":"new"}"#), 201),
    case("PATCH", "/api/v1/projects/{project}", "/api/v1/projects/shop", Some(r#"{"title":"Shop 2","databases":[]}"#), 200),
    case("DELETE", "/api/v1/projects/{project}", "/api/v1/projects/shop", None, 204),
    case("GET", "/api/v1/projects/{project}:getIamPolicy", "/api/v1/projects/shop:getIamPolicy", None, 200),
    case("POST", "/api/v1/projects/{project}:setIamPolicy", "/api/v1/projects/shop:setIamPolicy", Some(r#"{"bindings":[{"role":"roles/projectReleaser","members":["user:bob@example.com"]}]}"#), 200),
    case("GET", "/api/v1/users", "/api/v1/users", None, 200),
    case("GET", "/api/v1/users/{email}", "/api/v1/users/bob@example.com", None, 200),
    case("POST", "/api/v1/users", "/api/v1/users", Some(r#"{"email":"new@example.com","roles":["roles/workspaceMember"]}"#), 201),
    case("PATCH", "/api/v1/users/{email}", "/api/v1/users/bob@example.com", Some(r#"{"roles":["roles/workspaceDBA"]}"#), 200),
    case("DELETE", "/api/v1/users/{email}", "/api/v1/users/bob@example.com", None, 204),
    case("GET", "/api/v1/serviceAccounts", "/api/v1/serviceAccounts", None, 200),
    case("GET", "/api/v1/serviceAccounts/{name}", "/api/v1/serviceAccounts/ci", None, 200),
    case("POST", "/api/v1/serviceAccounts", "/api/v1/serviceAccounts", Some(r#"{"name":"deploy","roles":["roles/gitopsServiceAgent"]}"#), 201),
    case("PATCH", "/api/v1/serviceAccounts/{name}", "/api/v1/serviceAccounts/ci", Some(r#"{"roles":["roles/projectReleaser"]}"#), 200),
    case("DELETE", "/api/v1/serviceAccounts/{name}", "/api/v1/serviceAccounts/ci", None, 204),
    case("POST", "/api/v1/serviceAccounts/{name}:rotateKey", "/api/v1/serviceAccounts/ci:rotateKey", None, 200),
    case("GET", "/api/v1/auditLogs", "/api/v1/auditLogs", None, 200),
    case("GET", "/api/v1/projects/{project}/releases", "/api/v1/projects/shop/releases", None, 200),
    case("POST", "/api/v1/projects/{project}/releases", "/api/v1/projects/shop/releases", Some(r#"{"files":[{"path":"migrations/2_items.sql","version":"2","statement":"CREATE TABLE items (id INTEGER PRIMARY KEY);"}],"vcs":{"commitSha":"abc123"}}"#), 201),
    case("GET", "/api/v1/projects/{project}/releases/{release}", "/api/v1/projects/shop/releases/release_20260101-RC1", None, 200),
    case("GET", "/api/v1/projects/{project}/plans", "/api/v1/projects/shop/plans", None, 200),
    case("POST", "/api/v1/projects/{project}/plans", "/api/v1/projects/shop/plans", Some(r#"{"release":"projects/shop/releases/release_20260101-RC1","targets":["instances/pg/databases/app"]}"#), 201),
    case("GET", "/api/v1/projects/{project}/plans/{plan}", "/api/v1/projects/shop/plans/1", None, 200),
    case("POST", "/api/v1/projects/{project}/plans/{plan}/rollout", "/api/v1/projects/shop/plans/2/rollout", None, 200),
    case("GET", "/api/v1/projects/{project}/rollouts", "/api/v1/projects/shop/rollouts", None, 200),
    case("GET", "/api/v1/projects/{project}/rollouts/{rollout}", "/api/v1/projects/shop/rollouts/1", None, 200),
    case("POST", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:run", "/api/v1/projects/shop/rollouts/1/stages/test/tasks:run", Some("{}"), 200),
    case("POST", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks:skip", "/api/v1/projects/shop/rollouts/1/stages/test/tasks:skip", Some(r#"{"reason":"applied by hand"}"#), 200),
    case("POST", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/taskRuns:cancel", "/api/v1/projects/shop/rollouts/1/stages/prod/taskRuns:cancel", Some("{}"), 200),
    case("GET", "/api/v1/projects/{project}/rollouts/{rollout}/stages", "/api/v1/projects/shop/rollouts/1/stages", None, 200),
    case("GET", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}", "/api/v1/projects/shop/rollouts/1/stages/test", None, 200),
    case("GET", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks", "/api/v1/projects/shop/rollouts/1/stages/test/tasks", None, 200),
    case("GET", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}", "/api/v1/projects/shop/rollouts/1/stages/test/tasks/1", None, 200),
    case("GET", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}", "/api/v1/projects/shop/rollouts/1/stages/test/tasks/1/taskRuns/1", None, 200),
    case("GET", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns", "/api/v1/projects/shop/rollouts/1/stages/test/tasks/1/taskRuns", None, 200),
    case("GET", "/api/v1/projects/{project}/rollouts/{rollout}/stages/{stage}/tasks/{task}/taskRuns/{run}/log", "/api/v1/projects/shop/rollouts/1/stages/test/tasks/1/taskRuns/1/log", None, 200),
    case("GET", "/api/v1/projects/{project}/databases/{database}/changelog", "/api/v1/projects/shop/databases/main/changelog", None, 200),
    case("GET", "/api/v1/reviewPolicies", "/api/v1/reviewPolicies", None, 200),
    case("GET", "/api/v1/environments/{id}/reviewPolicy", "/api/v1/environments/test/reviewPolicy", None, 200),
    case("PUT", "/api/v1/environments/{id}/reviewPolicy", "/api/v1/environments/test/reviewPolicy", Some(r#"{"review":{"template":"advanced"}}"#), 200),
    case("DELETE", "/api/v1/environments/{id}/reviewPolicy", "/api/v1/environments/test/reviewPolicy", None, 200),
    case("GET", "/api/v1/projects/{project}/reviewPolicy", "/api/v1/projects/shop/reviewPolicy", None, 200),
    case("PUT", "/api/v1/projects/{project}/reviewPolicy", "/api/v1/projects/shop/reviewPolicy", Some(r#"{"review":{"template":"basic","rules":{"COLUMN_NO_NULL":{"level":"ERROR"}}}}"#), 200),
    case("DELETE", "/api/v1/projects/{project}/reviewPolicy", "/api/v1/projects/shop/reviewPolicy", None, 200),
    case("POST", "/api/v1/projects/{project}/releases:check", "/api/v1/projects/shop/releases:check", Some(r#"{"files":[{"path":"migrations/2_items.sql","version":"2","changeType":"DDL","statement":"CREATE TABLE items (id INTEGER PRIMARY KEY);"}],"targets":["instances/lite/databases/main"]}"#), 200),
    case("GET", "/api/v1/instances/{instance}/databases/{database}/drift", "/api/v1/instances/lite/databases/main/drift", None, 200),
    case("POST", "/api/v1/instances/{instance}/databases/{database}/drift:check", "/api/v1/instances/lite/databases/main/drift:check", None, 200),
];

/// How the principal under test holds its one role.
#[derive(Debug, Clone, Copy)]
enum Grant {
    /// In `users.roles` / `serviceAccounts.roles`: every project.
    Workspace(Role),
    /// Only through the IAM policy of this project.
    Bound(Role, &'static str),
}

/// Every role workspace-wide, every project role bound in `shop` and in
/// `other`; as a user, and as a service account for the GitOps agent.
fn variants() -> Vec<(&'static str, Grant)> {
    let user = "subject@example.com";
    let account = "subject@service.rollgate.local";
    let mut variants: Vec<(&str, Grant)> = Role::ALL
        .iter()
        .map(|&r| (user, Grant::Workspace(r)))
        .collect();
    for role in Role::ALL
        .into_iter()
        .filter(|r| r.scope() == rollgate_auth::RoleScope::Project)
    {
        variants.push((user, Grant::Bound(role, "shop")));
        variants.push((user, Grant::Bound(role, "other")));
    }
    variants.push((account, Grant::Workspace(Role::GitopsServiceAgent)));
    variants.push((account, Grant::Bound(Role::GitopsServiceAgent, "shop")));
    variants.push((account, Grant::Bound(Role::ProjectOwner, "other")));
    variants
}

/// Whether `grant` should pass the check of an endpoint with `scope` and
/// `permission` in project `shop`.
fn allowed(grant: Grant, scope: Scope, permission: Permission) -> bool {
    match (grant, scope) {
        (Grant::Workspace(role), _) => has_permission(&[role], permission),
        (Grant::Bound(_, _), Scope::Workspace) => false,
        (Grant::Bound(role, project), Scope::Project) => {
            project == "shop" && has_permission(&[role], permission)
        }
        (Grant::Bound(role, _), Scope::AnyProject) => has_permission(&[role], permission),
    }
}

fn case_for(method: &str, path: &str) -> &'static Case {
    let found: Vec<&Case> = CASES
        .iter()
        .filter(|c| c.method == method && c.path == path)
        .collect();
    match found.as_slice() {
        [one] => one,
        [] => panic!(
            "{method} {path} is in ENDPOINT_PERMISSIONS but has no case in tests/access_matrix.rs; add one line to CASES"
        ),
        _ => panic!("{method} {path} has several cases in CASES; keep one"),
    }
}

#[test]
fn every_endpoint_has_exactly_one_case_and_every_case_an_endpoint() {
    for (method, path, _) in ENDPOINT_PERMISSIONS {
        case_for(method, path);
    }
    for case in CASES {
        assert!(
            ENDPOINT_PERMISSIONS
                .iter()
                .any(|(m, p, _)| *m == case.method && *p == case.path),
            "case {} {} names no ENDPOINT_PERMISSIONS entry; remove it or fix its path",
            case.method,
            case.path
        );
    }
    assert_eq!(CASES.len(), ENDPOINT_PERMISSIONS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_valid_token_every_endpoint_is_401() {
    let world = World::with_rollout().await;
    for (method, path, _) in ENDPOINT_PERMISSIONS {
        let case = case_for(method, path);
        for token in [None, Some("rgt_garbage"), Some("rgs_not-a-session")] {
            let (status, body) = world.call(method, case.uri, token, case.body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {} with {token:?}: {body}",
                case.uri
            );
            assert_eq!(body["code"], "UNAUTHENTICATED", "{body}");
        }
    }
}

/// Runs every case for one principal variant; returns (allowed, denied) counts.
async fn run_variant(email: &'static str, grant: Grant) -> (usize, usize) {
    let (mut allowed_count, mut denied_count) = (0, 0);
    for (method, path, permission) in ENDPOINT_PERMISSIONS {
        let case = case_for(method, path);
        let scope = Scope::of(method, path);
        if scope == Scope::Project {
            assert!(
                case.uri.starts_with("/api/v1/projects/shop"),
                "project-scoped case {method} {path} must act in project `shop`"
            );
        }
        let world = World::with_rollout().await;
        let token = match grant {
            Grant::Workspace(role) => world.principal(email, &[role]).await,
            Grant::Bound(role, project) => {
                let token = world.principal(email, &[]).await;
                world
                    .bind(project, role, &rollgate_store::iam_member(email))
                    .await;
                token
            }
        };
        let (status, body) = world.call(method, case.uri, Some(&token), case.body).await;
        let what = format!("{email} with {grant:?}: {method} {}", case.uri);
        if allowed(grant, scope, *permission) {
            assert_eq!(status.as_u16(), case.ok, "{what} should be allowed: {body}");
            allowed_count += 1;
        } else {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{what} should be denied: {body}"
            );
            assert_eq!(body["code"], "PERMISSION_DENIED", "{what}: {body}");
            assert_eq!(body["details"]["permission"], permission.as_str(), "{what}");
            denied_count += 1;
        }
    }
    (allowed_count, denied_count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_every_role_is_403_exactly_without_the_permission() {
    let mut tasks = Vec::new();
    for (email, grant) in variants() {
        tasks.push((grant, tokio::spawn(run_variant(email, grant))));
    }
    let mut totals = (0, 0);
    for (grant, task) in tasks {
        let (allowed, denied) = task.await.unwrap_or_else(|e| {
            std::panic::resume_unwind(e.into_panic());
        });
        // The admin is allowed everything; nobody but the admin is.
        if let Grant::Workspace(Role::WorkspaceAdmin) = grant {
            assert_eq!(denied, 0);
        } else {
            assert!(denied > 0, "{grant:?} was denied nothing");
        }
        totals.0 += allowed;
        totals.1 += denied;
    }
    assert!(totals.0 > 0 && totals.1 > 0);
}

/// Project data stays inside the project: a principal bound only in `shop`
/// lists and reads `shop`, never `other`.
#[tokio::test]
async fn a_project_role_sees_only_its_projects() {
    let world = World::new().await;
    let token = world.principal("dev@example.com", &[]).await;
    world
        .bind("shop", Role::ProjectDeveloper, "user:dev@example.com")
        .await;
    let (status, body) = world
        .call("GET", "/api/v1/projects", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&body["projects"]), ["projects/shop"]);
    assert_eq!(
        body["projects"][0]["databases"][0],
        "instances/pg/databases/app"
    );
    for uri in [
        "/api/v1/projects/other",
        "/api/v1/projects/other:getIamPolicy",
        "/api/v1/projects/missing",
    ] {
        let (status, body) = world.call("GET", uri, Some(&token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {body}");
    }
    let (status, _) = world
        .call(
            "GET",
            "/api/v1/projects/shop:getIamPolicy",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // A workspace-wide role granting the list sees every project.
    let dba = world
        .principal("dba@example.com", &[Role::WorkspaceDba])
        .await;
    let (_, body) = world
        .call("GET", "/api/v1/projects", Some(&dba), None)
        .await;
    assert_eq!(
        names(&body["projects"]),
        ["projects/other", "projects/shop"]
    );
    // Bound in both, paged one at a time.
    world
        .bind("other", Role::ProjectReleaser, "user:dev@example.com")
        .await;
    let (_, first) = world
        .call("GET", "/api/v1/projects?pageSize=1", Some(&token), None)
        .await;
    assert_eq!(names(&first["projects"]), ["projects/other"]);
    let next = first["nextPageToken"].as_str().unwrap();
    let (_, second) = world
        .call(
            "GET",
            &format!("/api/v1/projects?pageSize=1&pageToken={next}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(names(&second["projects"]), ["projects/shop"]);
    assert!(second["nextPageToken"].is_null());
}

/// Nothing of `shop` reaches a principal that holds every project
/// permission in `other` (Project Owner bound there): each GET of the matrix
/// as written is 403 (the project list shows `other` only), and the same GET
/// asked through `other` with `shop`'s ids (release, plan, rollout, task,
/// run, database name) is 404 or `other`'s own data. No answer through
/// `other` carries anything of `shop`: its resource names, databases,
/// statements, VCS data or task-run errors.
#[tokio::test]
async fn a_principal_bound_in_other_reads_nothing_of_shop() {
    let world = World::with_rollout().await;
    let email = "neighbour@example.com";
    let token = world.principal(email, &[]).await;
    world
        .bind(
            "other",
            Role::ProjectOwner,
            &rollgate_store::iam_member(email),
        )
        .await;
    let token = Some(token.as_str());
    let shop_marks = [
        "projects/shop",
        "instances/pg/databases/app",
        "instances/lite/databases/main",
        "orders",
        "shop0001",
        SHOP_RUN_ERROR,
    ];
    let assert_nothing_of_shop = |what: &str, body: &Value| {
        let text = body.to_string();
        for mark in shop_marks {
            assert!(
                !text.contains(mark),
                "{what} shows `{mark}` of shop: {text}"
            );
        }
    };
    // The marks are real: shop's own answers carry them.
    let admin = world
        .principal("admin@example.com", &[Role::WorkspaceAdmin])
        .await;
    for (uri, mark) in [
        (
            "/api/v1/projects/shop/releases/release_20260101-RC1",
            "shop0001",
        ),
        (
            "/api/v1/projects/shop/rollouts/1/stages/test/tasks/1/taskRuns/1/log",
            SHOP_RUN_ERROR,
        ),
    ] {
        let (status, body) = world.call("GET", uri, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(body.to_string().contains(mark), "{uri}: {body}");
    }
    let mut through_other = 0;
    for case in CASES.iter().filter(|c| c.method == "GET") {
        let (status, body) = world.call("GET", case.uri, token, None).await;
        if case.uri == "/api/v1/projects" {
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(names(&body["projects"]), ["projects/other"]);
            assert_nothing_of_shop(case.uri, &body);
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "GET {}: {body}", case.uri);
        }
        let Some(rest) = case.uri.strip_prefix("/api/v1/projects/shop") else {
            continue;
        };
        let uri = format!("/api/v1/projects/other{rest}");
        let (status, body) = world.call("GET", &uri, token, None).await;
        let permission = ENDPOINT_PERMISSIONS
            .iter()
            .find(|(m, p, _)| *m == "GET" && *p == case.path)
            .map(|(_, _, permission)| *permission)
            .unwrap();
        if has_permission(&[Role::ProjectOwner], permission) {
            assert!(
                status == StatusCode::OK || status == StatusCode::NOT_FOUND,
                "GET {uri}: {status} {body}"
            );
            through_other += 1;
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "GET {uri}: {body}");
        }
        assert_nothing_of_shop(&uri, &body);
    }
    assert!(through_other >= 10, "only {through_other} project GETs");
    // The answers through `other` are its own, not empty by accident.
    let (_, releases) = world
        .call("GET", "/api/v1/projects/other/releases", token, None)
        .await;
    assert_eq!(
        names(&releases["releases"]),
        [format!("projects/other/releases/{OTHER_RELEASE}")]
    );
    // Ids of `shop` mixed into `other`'s own rollout (2, task 3) stay unseen.
    for uri in [
        "/api/v1/projects/other/rollouts/2/stages/test/tasks/1/taskRuns",
        "/api/v1/projects/other/rollouts/2/stages/test/tasks/3/taskRuns/1/log",
        "/api/v1/projects/other/rollouts/1",
        "/api/v1/projects/other/plans/1",
    ] {
        let (status, body) = world.call("GET", uri, token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        assert_nothing_of_shop(uri, &body);
    }
    // Nor can `other` use shop's release or databases to learn about them.
    let check = r#"{"files":[{"path":"migrations/2_x.sql","version":"2","changeType":"DDL","statement":"SELECT 1;"}],"targets":["instances/pg/databases/app"]}"#;
    let (status, body) = world
        .call(
            "POST",
            "/api/v1/projects/other/releases:check",
            token,
            Some(check),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.get("results").is_none(), "{body}");
    let plan = r#"{"release":"release_20260101-RC1","targets":["instances/pg/databases/spare"]}"#;
    let (status, body) = world
        .call("POST", "/api/v1/projects/other/plans", token, Some(plan))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// The stage gate of `tasks:run` counts the roles bound in the rollout's
/// project like the permission check does: on a manual stage open to
/// Project Releasers, a releaser bound in `shop` runs it, one bound in
/// `other` does not, and a service agent bound in `shop` never does.
#[tokio::test]
async fn a_manual_stage_accepts_the_role_bound_in_the_project() {
    let world = World::with_rollout().await;
    let mut prod = world.store.get_environment("prod").await.unwrap();
    prod.policy_json = r#"{"rollout":"manual","roles":["roles/projectReleaser"]}"#.into();
    world.store.update_environment(&prod).await.unwrap();
    // Stage `test` is finished (skipped) and prod's queued run canceled, so
    // only the policy decides.
    world
        .store
        .skip_task(support::SHOP_TEST_TASK, "applied by hand")
        .await
        .unwrap();
    assert!(
        world
            .store
            .cancel_task_run(support::SHOP_PROD_TASK, 0)
            .await
            .unwrap()
    );
    let uri = "/api/v1/projects/shop/rollouts/1/stages/prod/tasks:run";
    for (email, role, project, expected) in [
        (
            "agent@service.rollgate.local",
            Role::GitopsServiceAgent,
            "shop",
            StatusCode::FORBIDDEN,
        ),
        (
            "elsewhere@example.com",
            Role::ProjectReleaser,
            "other",
            StatusCode::FORBIDDEN,
        ),
        (
            "releaser@example.com",
            Role::ProjectReleaser,
            "shop",
            StatusCode::OK,
        ),
    ] {
        let token = world.principal(email, &[]).await;
        world
            .bind(project, role, &rollgate_store::iam_member(email))
            .await;
        let (status, body) = world.call("POST", uri, Some(&token), Some("{}")).await;
        assert_eq!(
            status, expected,
            "{email} bound as {role:?} in {project}: {body}"
        );
        if status == StatusCode::OK {
            assert_eq!(
                body["taskRuns"][0]["task"],
                support::SHOP_PROD_TASK,
                "{body}"
            );
        }
    }
}

/// Removing a binding takes the access away at the next request.
#[tokio::test]
async fn a_removed_binding_stops_granting() {
    let world = World::new().await;
    let owner = world.principal("owner@example.com", &[]).await;
    world
        .bind("shop", Role::ProjectOwner, "user:owner@example.com")
        .await;
    let (status, body) = world
        .call(
            "POST",
            "/api/v1/projects/shop:setIamPolicy",
            Some(&owner),
            Some(r#"{"bindings":[]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = world
        .call("GET", "/api/v1/projects/shop", Some(&owner), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_string())
        .collect()
}
