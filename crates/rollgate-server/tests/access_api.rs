//! Instances, databases, users, service accounts, project IAM, project and
//! environment edits, and the audit trail of them, driven through the API.

mod support;

use std::net::SocketAddr;

use axum::http::StatusCode;
use rollgate_auth::Role;
use rollgate_server::worker::instance_url_aad;
use rollgate_store::{PageRequest, Store};
use serde_json::{Value, json};
use support::{PG_URL, World, call};

fn assert_field_error(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "INVALID_ARGUMENT", "{body}");
    assert_eq!(body["details"]["field"], field, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(field),
        "the message names the field: {body}"
    );
}

async fn admin(world: &World) -> String {
    world
        .principal("admin@example.com", &[Role::WorkspaceAdmin])
        .await
}

#[tokio::test]
async fn instance_urls_are_encrypted_redacted_and_matchable() {
    let world = World::new().await;
    let t = admin(&world).await;
    let t = Some(t.as_str());
    let url = "mysql://root:hunter2-secret@127.0.0.1:3306/shop?password=also-secret";
    let body = json!({ "id": "my", "engine": "mysql", "url": url, "environment": "prod" });
    let (status, created) = world
        .call("POST", "/api/v1/instances", t, Some(&body.to_string()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({ "name": "instances/my", "id": "my", "engine": "mysql", "environment": "prod",
                "url": "mysql://root@127.0.0.1:3306/shop" })
    );
    let (_, listed) = world.call("GET", "/api/v1/instances", t, None).await;
    let (_, got) = world.call("GET", "/api/v1/instances/pg", t, None).await;
    assert_eq!(got["url"], "postgres://app@db.example:5432/app");
    for text in [listed.to_string(), got.to_string()] {
        assert!(
            !text.contains("secret") && !text.contains("s3cret"),
            "{text}"
        );
    }
    // At rest: only an envelope bound to the instance, which the worker opens.
    let stored = world.store.get_instance("my").await.unwrap();
    assert!(!stored.url_envelope.contains("hunter2"));
    let opened = world
        .state
        .key_ring()
        .decrypt(&stored.url_envelope, &instance_url_aad("my"))
        .unwrap();
    assert_eq!(opened.as_str(), url);
    assert!(
        world
            .state
            .key_ring()
            .decrypt(&stored.url_envelope, &instance_url_aad("pg"))
            .is_err()
    );
    // matchUrl says yes only for the exact URL.
    for (candidate, expected) in [
        (url.to_string(), true),
        (format!("  {url}\n"), true),
        (url.replace("hunter2", "hunter3"), false),
        ("mysql://root@127.0.0.1:3306/shop".to_string(), false),
    ] {
        let body = json!({ "url": candidate }).to_string();
        let (status, answer) = world
            .call("POST", "/api/v1/instances/my:matchUrl", t, Some(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer, json!({ "matches": expected }), "{candidate}");
    }
    let (status, _) = world
        .call("POST", "/api/v1/instances/my:explode", t, Some("{}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // PATCH: a new URL re-encrypts; an engine that no longer fits is refused.
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/instances/my",
            t,
            Some(r#"{"engine":"postgres"}"#),
        )
        .await;
    assert_field_error(status, &body, "engine");
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/instances/my",
            t,
            Some(r#"{"engine":"postgres","url":"postgres://u:newpw@h/db","environment":"test"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["url"], "postgres://u@h/db");
    assert_eq!(body["environment"], "test");
    let (_, answer) = world
        .call(
            "POST",
            "/api/v1/instances/my:matchUrl",
            t,
            Some(r#"{"url":"postgres://u:newpw@h/db"}"#),
        )
        .await;
    assert_eq!(answer["matches"], true);
    let _ = PG_URL;
}

#[tokio::test]
async fn instance_and_database_inputs_are_validated_by_field() {
    let world = World::new().await;
    let t = admin(&world).await;
    let t = Some(t.as_str());
    for (body, field) in [
        (
            json!({"id":"Bad","engine":"postgres","url":"postgres://h/d","environment":"test"}),
            "id",
        ),
        (
            json!({"id":"x","engine":"oracle","url":"postgres://h/d","environment":"test"}),
            "engine",
        ),
        (
            json!({"id":"x","engine":"postgres","url":"mysql://u:pw@h/d","environment":"test"}),
            "url",
        ),
        (
            json!({"id":"x","engine":"postgres","url":"no scheme:pw","environment":"test"}),
            "url",
        ),
        (
            json!({"id":"x","engine":"postgres","url":"postgres://h/d","environment":"nope"}),
            "environment",
        ),
    ] {
        let (status, response) = world
            .call("POST", "/api/v1/instances", t, Some(&body.to_string()))
            .await;
        assert_field_error(status, &response, field);
        assert!(!response.to_string().contains(":pw"), "{response}");
    }
    let (status, body) = world
        .call(
            "POST",
            "/api/v1/instances",
            t,
            Some(r#"{"id":"x","engine":"postgres","url":"postgres://h/d","environment":"test","extra":1}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Databases default to their instance's environment.
    let (status, body) = world
        .call(
            "POST",
            "/api/v1/instances/pg/databases",
            t,
            Some(r#"{"name":"orders"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body,
        json!({"name":"instances/pg/databases/orders","instance":"pg","database":"orders","environment":"test"})
    );
    let (status, body) = world
        .call(
            "POST",
            "/api/v1/instances/pg/databases",
            t,
            Some(r#"{"name":"billing","environment":"prod"}"#),
        )
        .await;
    assert_eq!(
        (status, &body["environment"]),
        (StatusCode::CREATED, &json!("prod"))
    );
    for (body, field) in [
        (r#"{"name":"a/b"}"#, "name"),
        (r#"{"name":""}"#, "name"),
        (r#"{"name":"ok","environment":"nope"}"#, "environment"),
    ] {
        let (status, response) = world
            .call("POST", "/api/v1/instances/pg/databases", t, Some(body))
            .await;
        assert_field_error(status, &response, field);
    }
    let (status, _) = world
        .call(
            "POST",
            "/api/v1/instances/ghost/databases",
            t,
            Some(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Listing one instance's databases, a page at a time.
    let mut seen = Vec::new();
    let mut uri = "/api/v1/instances/pg/databases?pageSize=2".to_string();
    loop {
        let (status, page) = world.call("GET", &uri, t, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["databases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["database"].as_str().unwrap().to_string()),
        );
        match page["nextPageToken"].as_str() {
            Some(token) => {
                uri = format!("/api/v1/instances/pg/databases?pageSize=2&pageToken={token}")
            }
            None => break,
        }
    }
    assert_eq!(seen, ["app", "billing", "orders", "spare"]);
    let (_, all) = world.call("GET", "/api/v1/databases", t, None).await;
    assert_eq!(all["databases"].as_array().unwrap().len(), 4);
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/instances/pg/databases/app",
            t,
            Some(r#"{"environment":"staging"}"#),
        )
        .await;
    assert_field_error(status, &body, "environment");
    // An environment in use cannot be deleted; an unused one can.
    let (status, body) = world
        .call("DELETE", "/api/v1/environments/test", t, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "FAILED_PRECONDITION");
    let (status, _) = world.call("DELETE", "/api/v1/instances/pg", t, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = world.call("GET", "/api/v1/databases", t, None).await;
    assert!(all["databases"].as_array().unwrap().is_empty(), "{all}");
    let (status, body) = world
        .call("DELETE", "/api/v1/environments/test", t, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn environment_patch_validates_the_policy() {
    let world = World::new().await;
    let t = admin(&world).await;
    let t = Some(t.as_str());
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/environments/prod",
            t,
            Some(r#"{"title":"Production","order":7,"policy":{"rollout":"manual","roles":["projectReleaser","roles/projectReleaser"]}}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"name":"environments/prod","id":"prod","title":"Production","order":7,
               "policy":{"rollout":"manual","roles":["roles/projectReleaser"]}})
    );
    for (policy, field) in [
        (json!("manual"), "policy"),
        (json!({"rollout":"sometimes"}), "policy.rollout"),
        (
            json!({"rollout":"manual","roles":["roles/king"]}),
            "policy.roles[0]",
        ),
        (json!({"rollout":"automatic","roles":[]}), "policy.roles"),
        (
            json!({"rollout":"manual","approvers":[]}),
            "policy.approvers",
        ),
    ] {
        let body = json!({ "policy": policy }).to_string();
        let (status, response) = world
            .call("PATCH", "/api/v1/environments/prod", t, Some(&body))
            .await;
        assert_field_error(status, &response, field);
    }
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/environments/prod",
            t,
            Some(r#"{"title":""}"#),
        )
        .await;
    assert_field_error(status, &body, "title");
    let (status, _) = world
        .call(
            "PATCH",
            "/api/v1/environments/nope",
            t,
            Some(r#"{"order":1}"#),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn users_are_managed_without_ever_showing_a_hash() {
    let world = World::new().await;
    let t = admin(&world).await;
    let t = Some(t.as_str());
    let (status, body) = world
        .call(
            "POST",
            "/api/v1/users",
            t,
            Some(r#"{"email":"ada@example.com","roles":["workspaceMember"]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body,
        json!({"name":"users/ada@example.com","email":"ada@example.com","roles":["roles/workspaceMember"]})
    );
    // No password yet: cannot log in.
    let login = json!({"email":"ada@example.com","password":"long enough password"}).to_string();
    let (status, _) = world
        .call("POST", "/api/v1/auth/login", None, Some(&login))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/users/ada@example.com",
            t,
            Some(r#"{"password":"long enough password","roles":["roles/workspaceDBA"]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["roles"], json!(["roles/workspaceDBA"]));
    let (status, session) = world
        .call("POST", "/api/v1/auth/login", None, Some(&login))
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let (_, users) = world.call("GET", "/api/v1/users", t, None).await;
    let text = users.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("long enough"),
        "{text}"
    );
    assert_eq!(users["users"].as_array().unwrap().len(), 3);
    for (body, field) in [
        (r#"{"email":"not-an-email","roles":[]}"#, "email"),
        (
            r#"{"email":"x@service.rollgate.local","roles":[]}"#,
            "email",
        ),
        (
            r#"{"email":"x@example.com","roles":["roles/root"]}"#,
            "roles[0]",
        ),
        (
            r#"{"email":"x@example.com","password":"short","roles":[]}"#,
            "password",
        ),
    ] {
        let (status, response) = world.call("POST", "/api/v1/users", t, Some(body)).await;
        assert_field_error(status, &response, field);
    }
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/users/admin@example.com",
            t,
            Some(r#"{"roles":["roles/workspaceDBA"]}"#),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("FAILED_PRECONDITION"))
    );
    let (status, body) = world
        .call("DELETE", "/api/v1/users/admin@example.com", t, None)
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::CONFLICT, &json!("FAILED_PRECONDITION"))
    );
    let (status, _) = world
        .call("DELETE", "/api/v1/users/ada@example.com", t, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = world
        .call("GET", "/api/v1/users/ada@example.com", t, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn login_status(world: &World, email: &str, key: &str) -> StatusCode {
    let body = json!({ "email": email, "password": key }).to_string();
    world
        .call("POST", "/api/v1/auth/login", None, Some(&body))
        .await
        .0
}

#[tokio::test]
async fn service_account_keys_are_shown_once_or_chosen_and_rotate() {
    let world = World::new().await;
    let t = admin(&world).await;
    let t = Some(t.as_str());
    let email = "deploy@service.rollgate.local";
    let (status, created) = world
        .call(
            "POST",
            "/api/v1/serviceAccounts",
            t,
            Some(r#"{"name":"deploy","roles":["roles/gitopsServiceAgent"]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "serviceAccounts/deploy");
    assert_eq!(created["email"], email);
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("rgs_"));
    assert_eq!(login_status(&world, email, &key).await, StatusCode::OK);
    let session = world.session(email).await;
    let (status, _) = world
        .call("GET", "/api/v1/serviceAccounts", Some(&session), None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "logged in, lacking the permission"
    );
    let (_, got) = world
        .call("GET", "/api/v1/serviceAccounts/deploy", t, None)
        .await;
    assert!(got.get("key").is_none(), "{got}");
    let (_, listed) = world.call("GET", "/api/v1/serviceAccounts", t, None).await;
    assert!(!listed.to_string().contains(&key));

    // Rotation: the old key stops working, the new one works.
    let (status, rotated) = world
        .call("POST", "/api/v1/serviceAccounts/deploy:rotateKey", t, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    assert_eq!(
        login_status(&world, email, &key).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login_status(&world, email, &new_key).await, StatusCode::OK);
    // Sessions opened with the old key ended with it.
    let (status, _) = world
        .call("GET", "/api/v1/serviceAccounts", Some(&session), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A caller-chosen key: stored as a hash, never echoed, accepted exactly.
    let chosen = "a-very-long-ci-secret-from-the-vault-0123456789";
    let body = json!({ "key": chosen }).to_string();
    let (status, rotated) = world
        .call(
            "POST",
            "/api/v1/serviceAccounts/deploy:rotateKey",
            t,
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert!(rotated.get("key").is_none(), "{rotated}");
    assert_eq!(login_status(&world, email, chosen).await, StatusCode::OK);
    assert_eq!(
        login_status(&world, email, &chosen[..chosen.len() - 1]).await,
        StatusCode::UNAUTHORIZED
    );
    let stored = world.store.get_service_account(email).await.unwrap();
    assert!(!stored.key_hash.contains("vault"));
    // A generated-format key of the caller's own.
    let (their_key, _) = rollgate_auth::token::generate(rollgate_auth::TokenKind::ServiceAccount);
    let body = json!({ "name": "ext", "roles": [], "key": their_key.expose() }).to_string();
    let (status, created) = world
        .call("POST", "/api/v1/serviceAccounts", t, Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("key").is_none());
    assert_eq!(
        login_status(&world, "ext@service.rollgate.local", their_key.expose()).await,
        StatusCode::OK
    );
    for key in [
        "too-short",
        "rgs_looks-like-a-key-but-the-checksum-is-wrong-000000",
        "rgt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "a key with spaces in it that is long enough, really",
    ] {
        let body = json!({ "name": "bad", "roles": [], "key": key }).to_string();
        let (status, response) = world
            .call("POST", "/api/v1/serviceAccounts", t, Some(&body))
            .await;
        assert_field_error(status, &response, "key");
        assert!(!response.to_string().contains(key), "{response}");
    }
    let (status, response) = world
        .call(
            "POST",
            "/api/v1/serviceAccounts",
            t,
            Some(r#"{"name":"Bad_Name","roles":[]}"#),
        )
        .await;
    assert_field_error(status, &response, "name");
    let (status, _) = world
        .call("DELETE", "/api/v1/serviceAccounts/deploy", t, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        login_status(&world, email, chosen).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn project_patch_replaces_databases_and_iam_policy_is_validated() {
    let world = World::new().await;
    let t = admin(&world).await;
    let t = Some(t.as_str());
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/projects/shop",
            t,
            Some(r#"{"title":"The Shop","databases":["instances/pg/databases/spare","instances/pg/databases/app"]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"name":"projects/shop","id":"shop","title":"The Shop",
               "databases":["instances/pg/databases/app","instances/pg/databases/spare"]})
    );
    let (_, body) = world
        .call(
            "PATCH",
            "/api/v1/projects/shop",
            t,
            Some(r#"{"databases":["instances/pg/databases/spare"]}"#),
        )
        .await;
    assert_eq!(body["databases"], json!(["instances/pg/databases/spare"]));
    assert_eq!(body["title"], "The Shop");
    for (databases, field) in [
        (json!(["pg/app"]), "databases[0]"),
        (
            json!([
                "instances/pg/databases/spare",
                "instances/pg/databases/nope"
            ]),
            "databases[1]",
        ),
        (
            json!(["instances/pg/databases/app", "instances/pg/databases/app"]),
            "databases[1]",
        ),
    ] {
        let body = json!({ "databases": databases }).to_string();
        let (status, response) = world
            .call("PATCH", "/api/v1/projects/shop", t, Some(&body))
            .await;
        assert_field_error(status, &response, field);
    }

    let policy = json!({"bindings":[
        {"role":"projectReleaser","members":["user:bob@example.com","serviceAccount:ci@service.rollgate.local"]},
        {"role":"roles/projectDeveloper","members":["user:bob@example.com"]}
    ]});
    let (status, body) = world
        .call(
            "POST",
            "/api/v1/projects/shop:setIamPolicy",
            t,
            Some(&policy.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = json!({"bindings":[
        {"role":"roles/projectDeveloper","members":["user:bob@example.com"]},
        {"role":"roles/projectReleaser","members":["serviceAccount:ci@service.rollgate.local","user:bob@example.com"]}
    ]});
    assert_eq!(body, expected);
    let (_, got) = world
        .call("GET", "/api/v1/projects/shop:getIamPolicy", t, None)
        .await;
    assert_eq!(got, expected);
    for (bindings, field) in [
        (
            json!([{"role":"roles/workspaceAdmin","members":[]}]),
            "bindings[0].role",
        ),
        (
            json!([{"role":"roles/nobody","members":[]}]),
            "bindings[0].role",
        ),
        (
            json!([{"role":"roles/projectOwner","members":["bob@example.com"]}]),
            "bindings[0].members[0]",
        ),
        (
            json!([{"role":"roles/projectOwner","members":["user:eve@example.com"]}]),
            "bindings[0].members[0]",
        ),
        (
            json!([{"role":"roles/projectOwner","members":["user:ci@service.rollgate.local"]}]),
            "bindings[0].members[0]",
        ),
    ] {
        let body = json!({ "bindings": bindings }).to_string();
        let (status, response) = world
            .call("POST", "/api/v1/projects/shop:setIamPolicy", t, Some(&body))
            .await;
        assert_field_error(status, &response, field);
    }
    // A refused policy changed nothing.
    let (_, got) = world
        .call("GET", "/api/v1/projects/shop:getIamPolicy", t, None)
        .await;
    assert_eq!(got, expected);
    // Deleting an account removes its bindings.
    let (status, _) = world
        .call("DELETE", "/api/v1/users/bob@example.com", t, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = world
        .call("GET", "/api/v1/projects/shop:getIamPolicy", t, None)
        .await;
    assert_eq!(
        got,
        json!({"bindings":[{"role":"roles/projectReleaser","members":["serviceAccount:ci@service.rollgate.local"]}]})
    );
    let (status, _) = world.call("DELETE", "/api/v1/projects/shop", t, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = world.call("GET", "/api/v1/projects/shop", t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        world
            .store
            .member_project_roles("serviceAccount:ci@service.rollgate.local")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Who, what, when, from where, outcome: for successes, failures and
/// denials, logins included, and never a secret.
#[tokio::test]
async fn audit_entries_record_the_client_address_and_every_outcome() {
    let world = World::new().await;
    let admin_token = admin(&world).await;
    let member = world
        .principal("member@example.com", &[Role::WorkspaceMember])
        .await;
    let from: SocketAddr = "192.0.2.7:50123".parse().unwrap();
    let app = &world.app;
    let instance = json!({"id":"my","engine":"postgres","url":"postgres://u:topsecret@h/d","environment":"test"}).to_string();
    let (status, _) = call(
        app,
        "POST",
        "/api/v1/instances",
        Some(&admin_token),
        Some(&instance),
        Some(from),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        app,
        "POST",
        "/api/v1/instances",
        Some(&admin_token),
        Some(&instance),
        Some(from),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        app,
        "DELETE",
        "/api/v1/instances/my",
        Some(&member),
        None,
        Some(from),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let login = json!({"email":"member@example.com","password":"wrong password"}).to_string();
    let (status, _) = call(
        app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&login),
        Some(from),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let log = world
        .store
        .list_audit(&PageRequest::first(100))
        .await
        .unwrap()
        .items;
    let rows: Vec<(&str, &str, &str, &str, Option<&str>)> = log
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.resource.as_str(),
                e.outcome.as_str(),
                e.address.as_deref(),
            )
        })
        .collect();
    let ip = Some("192.0.2.7");
    assert_eq!(
        rows,
        [
            (
                "admin@example.com",
                "rg.instances.create",
                "instances/my",
                "OK",
                ip
            ),
            (
                "admin@example.com",
                "rg.instances.create",
                "instances/my",
                "ERROR: ALREADY_EXISTS",
                ip
            ),
            (
                "member@example.com",
                "rg.instances.delete",
                "instances/my",
                "DENIED: PERMISSION_DENIED",
                ip
            ),
            (
                "member@example.com",
                "rg.auth.login",
                "member@example.com",
                "DENIED: bad credentials",
                ip
            ),
        ]
    );
    let (_, listed) = world
        .call("GET", "/api/v1/auditLogs", Some(&admin_token), None)
        .await;
    assert_eq!(listed["auditLogs"][0]["address"], "192.0.2.7");
    assert!(!listed.to_string().contains("topsecret"));
}

/// A project owner cannot pull a database it does not manage into its
/// project (and so roll out to it); it can drop its own, and move one
/// between projects it owns.
#[tokio::test]
async fn adding_a_database_to_a_project_needs_rights_on_the_database() {
    let world = World::new().await;
    let owner = world.principal("owner@example.com", &[]).await;
    world
        .bind("shop", Role::ProjectOwner, "user:owner@example.com")
        .await;
    let t = Some(owner.as_str());
    let add_spare = r#"{"title":"Grabbed","databases":["instances/pg/databases/app","instances/pg/databases/spare"]}"#;
    let (status, body) = world
        .call("PATCH", "/api/v1/projects/shop", t, Some(add_spare))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["details"]["permission"], "rg.databases.update");
    assert_eq!(body["details"]["field"], "databases[1]");
    // Nothing changed, not even a title sent along.
    let (_, shop) = world.call("GET", "/api/v1/projects/shop", t, None).await;
    assert_eq!(shop["databases"], json!(["instances/pg/databases/app"]));
    assert_eq!(shop["title"], "shop");
    // Owning the project that holds it is enough.
    world
        .store
        .add_project_database("other", &rollgate_store::DatabaseRef::new("pg", "spare"))
        .await
        .unwrap();
    world
        .bind("other", Role::ProjectOwner, "user:owner@example.com")
        .await;
    let (status, body) = world
        .call("PATCH", "/api/v1/projects/shop", t, Some(add_spare))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = world
        .call(
            "PATCH",
            "/api/v1/projects/shop",
            t,
            Some(r#"{"title":"Shop","databases":[]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["databases"], json!([]));
}
