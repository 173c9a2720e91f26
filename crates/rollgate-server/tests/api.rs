//! The HTTP API driven in-process (`oneshot`) over a SQLite store in a temp dir.

mod support;

use axum::Router;
use axum::http::StatusCode;
use rollgate_auth::token::{self, TokenKind};
use rollgate_auth::{KeyRing, MasterKey, Role};
use rollgate_server::{AppState, Bootstrap, MetadataStore, app, bootstrap};
use rollgate_store::{ServiceAccount, SqliteStore, Store};
use serde_json::{Value, json};
use support::{PASSWORD, create_environment, create_project, create_user};

struct Harness {
    app: Router,
    state: AppState,
    /// The GitOps service account's key, its password.
    ci_key: String,
    _dir: tempfile::TempDir,
}

/// An empty store.
async fn empty_harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("rollgate.db"))
        .await
        .unwrap();
    let state = AppState::new(
        MetadataStore::Sqlite(store),
        KeyRing::new(MasterKey::generate()),
        64 * 1024,
    );
    Harness {
        app: app(state.clone()),
        state,
        ci_key: String::new(),
        _dir: dir,
    }
}

/// Users for each role under test, an environment `test` and a project `shop`.
async fn harness() -> Harness {
    let mut harness = empty_harness().await;
    let MetadataStore::Sqlite(store) = harness.state.store().clone() else {
        unreachable!()
    };
    for (email, role) in USERS {
        create_user(&store, email, role.id()).await;
    }
    let (key, key_hash) = token::generate(TokenKind::ServiceAccount);
    store
        .create_service_account(&ServiceAccount {
            email: CI.to_string(),
            key_hash: key_hash.as_str().to_string(),
            roles: vec!["roles/gitopsServiceAgent".to_string()],
        })
        .await
        .unwrap();
    harness.ci_key = key.expose().to_string();
    create_environment(&store, "test", "Test", 0, r#"{"rollout":"automatic"}"#).await;
    create_project(&store, "shop", "Shop").await;
    harness
}

const ADMIN: &str = "admin@example.com";
const CI: &str = "ci@service.rollgate.local";
const USERS: [(&str, Role); 3] = [
    (ADMIN, Role::WorkspaceAdmin),
    ("member@example.com", Role::WorkspaceMember),
    ("dev@example.com", Role::ProjectDeveloper),
];

/// The one function that calls the API (see [`support::call`]).
async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    support::call(app, method, uri, token, body, None).await
}

async fn login(app: &Router, email: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({ "email": email, "password": password }).to_string();
    call(app, "POST", "/api/v1/auth/login", None, Some(&body)).await
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body.get("details").is_some(), "{body}");
}

#[tokio::test]
async fn login_returns_a_session_token() {
    let h = harness().await;
    let (status, body) = login(&h.app, ADMIN, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["token"].as_str().unwrap().starts_with("rgt_"));
    assert!(body["expireTime"].as_str().unwrap().ends_with('Z'));
    let token = body["token"].as_str().unwrap();
    let (status, _) = call(&h.app, "GET", "/api/v1/environments", Some(token), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn service_account_logs_in_with_its_key() {
    let h = harness().await;
    let token = support::login(&h.app, CI, &h.ci_key).await;
    assert!(token.starts_with("rgt_"));
    // The key itself is not a session token.
    let (status, body) = call(&h.app, "GET", "/api/v1/projects", Some(&h.ci_key), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "UNAUTHENTICATED");
    let (status, _) = login(&h.app, CI, "rgs_not-a-key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_with_bad_password_is_401_and_reveals_nothing() {
    let h = harness().await;
    let (status, wrong_password) = login(&h.app, ADMIN, "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&wrong_password, "UNAUTHENTICATED");
    let (status, unknown_user) = login(&h.app, "nobody@example.com", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_user);
}

#[tokio::test]
async fn login_is_rate_limited_after_repeated_failures() {
    let h = harness().await;
    for _ in 0..5 {
        let (status, _) = login(&h.app, ADMIN, "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = login(&h.app, ADMIN, "wrong password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&body, "RESOURCE_EXHAUSTED");
    // Even the right password waits out the window.
    let (status, _) = login(&h.app, ADMIN, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Other accounts are unaffected.
    let (status, _) = login(&h.app, "member@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn create_get_and_list_environments_and_projects() {
    let h = harness().await;
    let token = support::login(&h.app, ADMIN, PASSWORD).await;
    let t = Some(token.as_str());
    let (status, body) = call(
        &h.app,
        "POST",
        "/api/v1/environments",
        t,
        Some(r#"{"id":"prod","title":"Prod"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "environments/prod");
    assert_eq!(body["order"], 1);
    let (status, body) = call(&h.app, "GET", "/api/v1/environments/prod", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["title"], "Prod");
    let (status, body) = call(&h.app, "GET", "/api/v1/environments?pageSize=1", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["environments"].as_array().unwrap().len(), 1);
    assert!(body["nextPageToken"].is_string());
    let (status, body) = call(
        &h.app,
        "POST",
        "/api/v1/environments",
        t,
        Some(r#"{"id":"prod"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "ALREADY_EXISTS");
    let (status, body) = call(&h.app, "GET", "/api/v1/projects/nope", t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "NOT_FOUND");
    let (status, body) = call(
        &h.app,
        "POST",
        "/api/v1/projects",
        t,
        Some(r#"{"id":"Bad Id"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "INVALID_ARGUMENT");

    // Every mutating call is in the audit log, with its outcome.
    let (status, body) = call(&h.app, "GET", "/api/v1/auditLogs", t, None).await;
    assert_eq!(status, StatusCode::OK);
    let entries: Vec<(String, String)> = body["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        entries.contains(&("rg.environments.create".into(), "OK".into())),
        "{entries:?}"
    );
    assert!(
        entries.contains(&(
            "rg.environments.create".into(),
            "ERROR: ALREADY_EXISTS".into()
        )),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("rg.auth.login".into(), "OK".into())),
        "{entries:?}"
    );
    // No secret in the audit log.
    assert!(!body.to_string().contains(PASSWORD));
    assert!(!body.to_string().contains(&token));
}

#[tokio::test]
async fn bad_bodies_are_4xx_json_errors() {
    let h = harness().await;
    let token = support::login(&h.app, ADMIN, PASSWORD).await;
    let t = Some(token.as_str());
    let (status, body) = call(
        &h.app,
        "POST",
        "/api/v1/environments",
        t,
        Some(r#"{"id": "#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "MALFORMED_JSON");
    let (status, body) = call(
        &h.app,
        "POST",
        "/api/v1/projects",
        t,
        Some(r#"{"id":"x","colour":"red"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "INVALID_ARGUMENT");
    assert!(
        body["message"].as_str().unwrap().contains("colour"),
        "{body}"
    );
    let (status, body) = call(
        &h.app,
        "POST",
        "/api/v1/projects",
        t,
        Some(r#"{"title":"x"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("id"), "{body}");
    let (status, body) = call(
        &h.app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(r#"{"email":"a@b.c","password":"x","extra":1}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "INVALID_ARGUMENT");
    let big = format!(r#"{{"id":"x","title":"{}"}}"#, "a".repeat(100 * 1024));
    let (status, body) = call(&h.app, "POST", "/api/v1/projects", t, Some(&big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&body, "PAYLOAD_TOO_LARGE");
    let (status, body) = call(&h.app, "GET", "/api/v1/projects?color=red", t, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "INVALID_ARGUMENT");
    let (status, body) = call(&h.app, "GET", "/api/v1/nothing", t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "NOT_FOUND");
    let (status, body) = call(&h.app, "DELETE", "/api/v1/projects", t, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn setup_token_works_once() {
    let h = empty_harness().await;
    let Bootstrap::SetupToken(secret) = bootstrap(&h.state, None).await.unwrap() else {
        panic!("an empty store without admin credentials must arm a setup token");
    };
    let setup = |token: &str, email: &str| {
        json!({ "token": token, "email": email, "password": PASSWORD }).to_string()
    };
    let (status, body) = call(
        &h.app,
        "POST",
        "/setup",
        None,
        Some(&setup("rgt_wrong", ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = call(
        &h.app,
        "POST",
        "/setup",
        None,
        Some(&setup(secret.expose(), ADMIN)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["roles"], json!(["roles/workspaceAdmin"]));
    let (status, body) = call(
        &h.app,
        "POST",
        "/setup",
        None,
        Some(&setup(secret.expose(), "other@example.com")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "FAILED_PRECONDITION");
    // The new admin can log in and create things.
    let token = support::login(&h.app, ADMIN, PASSWORD).await;
    let (status, _) = call(
        &h.app,
        "POST",
        "/api/v1/projects",
        Some(&token),
        Some(r#"{"id":"p"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // A non-empty store needs no bootstrap.
    assert!(matches!(
        bootstrap(&h.state, None).await.unwrap(),
        Bootstrap::NotNeeded
    ));
}

#[tokio::test]
async fn bootstrap_creates_admin_from_credentials() {
    let h = empty_harness().await;
    let admin = rollgate_server::AdminCredentials {
        email: ADMIN.into(),
        password: PASSWORD.into(),
    };
    assert!(format!("{admin:?}").contains("<redacted>"));
    assert!(matches!(
        bootstrap(&h.state, Some(admin)).await.unwrap(),
        Bootstrap::AdminCreated
    ));
    support::login(&h.app, ADMIN, PASSWORD).await;
    let (status, _) = call(
        &h.app,
        "POST",
        "/setup",
        None,
        Some(r#"{"token":"x","email":"a@b.c","password":"12345678"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = harness().await;
    let (status, _) = call(&h.app, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&h.app, "GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    call(&h.app, "GET", "/api/v1/projects/shop", None, None).await;
    call(&h.app, "GET", "/no/such/path", None, None).await;
    let (status, body) = call(&h.app, "GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap();
    assert!(
        text.contains(r#"rollgate_http_requests_total{route="/api/v1/projects/{project}",method="GET",status="401"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched""#), "{text}");
}

#[tokio::test]
async fn master_key_file_is_created_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    if std::env::var_os("ROLLGATE_MASTER_KEY").is_some() {
        return;
    }
    let first = rollgate_server::load_master_key(dir.path()).unwrap();
    let second = rollgate_server::load_master_key(dir.path()).unwrap();
    assert_eq!(first.id(), second.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn run_serves_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let config = rollgate_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        metadata_url: None,
        body_limit: rollgate_server::DEFAULT_BODY_LIMIT,
    };
    assert!(!format!("{config:?}").contains("postgres://"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rollgate_server::run(config, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(dir.path().join("data/rollgate.db").exists());
    assert!(dir.path().join("data/master.key").exists());
}
