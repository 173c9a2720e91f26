//! A small world for access-control tests: a SQLite store in a temp dir with
//! two environments, an instance with two databases, two projects, a user and
//! a service account; principals get sessions directly from the store (no
//! argon2 per test), and [`call`] is the one function that calls the API.

#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use rollgate_auth::token::{self, TokenKind};
use rollgate_auth::{KeyRing, MasterKey, Role};
use rollgate_server::worker::instance_url_aad;
use rollgate_server::{AppState, MetadataStore, app};
use rollgate_store::{
    Database, DatabaseRef, Environment, IamBinding, Instance, Project, ServiceAccount, Session,
    SqliteStore, Store, User,
};
use serde_json::Value;
use tower::ServiceExt as _;

/// The URL of instance `pg`, password included.
pub const PG_URL: &str = "postgres://app:pg-s3cret@db.example:5432/app?sslmode=require";
/// The existing user and service account the fixtures act on.
pub const BOB: &str = "bob@example.com";
pub const CI: &str = "ci@service.rollgate.local";

pub struct World {
    pub app: Router,
    pub state: AppState,
    pub store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl World {
    /// Environments `test` and `prod`; instance `pg` (PostgreSQL, in `test`)
    /// with databases `app` and `spare`; projects `shop` (holding `pg/app`)
    /// and `other`; user `bob@example.com` and service account `ci`, both
    /// without roles.
    pub async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("rollgate.db"))
            .await
            .unwrap();
        let key_ring = KeyRing::new(MasterKey::generate());
        for (order, id) in ["test", "prod"].into_iter().enumerate() {
            store
                .create_environment(&Environment {
                    id: id.into(),
                    title: id.to_uppercase(),
                    order: order as i64,
                    policy_json: r#"{"rollout":"automatic"}"#.into(),
                })
                .await
                .unwrap();
        }
        store
            .create_instance(&Instance {
                id: "pg".into(),
                engine: "postgres".into(),
                url_envelope: key_ring.encrypt(PG_URL, &instance_url_aad("pg")),
                environment: "test".into(),
            })
            .await
            .unwrap();
        for name in ["app", "spare"] {
            store
                .create_database(&Database {
                    instance: "pg".into(),
                    name: name.into(),
                    environment: "test".into(),
                })
                .await
                .unwrap();
        }
        for id in ["shop", "other"] {
            store
                .create_project(&Project {
                    id: id.into(),
                    title: id.into(),
                })
                .await
                .unwrap();
        }
        store
            .add_project_database("shop", &DatabaseRef::new("pg", "app"))
            .await
            .unwrap();
        store
            .create_user(&User {
                email: BOB.into(),
                password_hash: String::new(),
                roles: vec![],
            })
            .await
            .unwrap();
        let (_, key_hash) = token::generate(TokenKind::ServiceAccount);
        store
            .create_service_account(&ServiceAccount {
                email: CI.into(),
                key_hash: key_hash.as_str().into(),
                roles: vec![],
            })
            .await
            .unwrap();
        let state = AppState::new(MetadataStore::Sqlite(store.clone()), key_ring, 64 * 1024);
        World {
            app: app(state.clone()),
            state,
            store,
            _dir: dir,
        }
    }

    /// Creates a user (or, for an email in the service account domain, a
    /// service account) with `roles` workspace-wide and returns a session token.
    pub async fn principal(&self, email: &str, roles: &[Role]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| format!("roles/{}", r.id())).collect();
        if email.ends_with(rollgate_store::SERVICE_ACCOUNT_DOMAIN) {
            let (_, key_hash) = token::generate(TokenKind::ServiceAccount);
            self.store
                .create_service_account(&ServiceAccount {
                    email: email.into(),
                    key_hash: key_hash.as_str().into(),
                    roles,
                })
                .await
                .unwrap();
        } else {
            self.store
                .create_user(&User {
                    email: email.into(),
                    password_hash: String::new(),
                    roles,
                })
                .await
                .unwrap();
        }
        self.session(email).await
    }

    /// A session token for an existing principal.
    pub async fn session(&self, email: &str) -> String {
        let (secret, hash) = token::generate(TokenKind::Session);
        self.store
            .create_session(&Session {
                token_hash: hash.as_str().into(),
                principal: email.into(),
                expires_at: i64::MAX / 2,
            })
            .await
            .unwrap();
        secret.expose().to_string()
    }

    /// Adds `member` (an IAM member string) to `role` in `project`'s policy.
    pub async fn bind(&self, project: &str, role: Role, member: &str) {
        let mut policy = self.store.get_project_iam_policy(project).await.unwrap();
        let role = format!("roles/{}", role.id());
        match policy.iter_mut().find(|b| b.role == role) {
            Some(binding) => binding.members.push(member.into()),
            None => policy.push(IamBinding {
                role,
                members: vec![member.into()],
            }),
        }
        self.store
            .set_project_iam_policy(project, &policy)
            .await
            .unwrap();
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        call(&self.app, method, uri, token, body, None).await
    }
}

/// The one function that calls the API; `from` simulates the peer address
/// the server records when it runs with connect info.
pub async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
    from: Option<SocketAddr>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let mut request = request
        .body(Body::from(body.unwrap_or_default().to_string()))
        .unwrap();
    if let Some(from) = from {
        request.extensions_mut().insert(ConnectInfo(from));
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}
