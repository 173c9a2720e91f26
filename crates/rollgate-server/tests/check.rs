//! Review policies and `POST /api/v1/projects/{id}/releases:check`, driven
//! in-process over a SQLite metadata store, against real SQLite files and
//! real PostgreSQL databases (one per test, dropped afterwards; a missing
//! PostgreSQL server fails loudly).

mod support;

use axum::Router;
use axum::http::StatusCode;
use rollgate_auth::{KeyRing, MasterKey};
use rollgate_engine::any::AnyEngine;
use rollgate_engine::{ApplyOptions, Engine, TargetUrl};
use rollgate_migration::MigrationFile;
use rollgate_review::{Policy, Template, review_text};
use rollgate_server::{AppState, MetadataStore, app};
use rollgate_sql::catalog::Catalog;
use rollgate_store::SqliteStore;
use serde_json::{Value, json};
use sqlx::Connection as _;
use support::pg::PgTestDb;
use support::{PASSWORD, create_environment, create_project, create_target, create_user, login};

const ADMIN: &str = "admin@example.com";

struct Harness {
    app: Router,
    store: SqliteStore,
    key_ring: KeyRing,
    token: String,
    dir: tempfile::TempDir,
}

/// Environments `test` and `prod`, project `shop`, an admin logged in.
async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("rollgate.db"))
        .await
        .unwrap();
    let key = MasterKey::generate();
    let key_ring = KeyRing::new(MasterKey::from_base64(&key.to_base64()).unwrap());
    for (order, id) in ["test", "prod"].into_iter().enumerate() {
        create_environment(&store, id, id, order as i64, r#"{"rollout":"automatic"}"#).await;
    }
    create_project(&store, "shop", "Shop").await;
    create_user(&store, ADMIN, "workspaceAdmin").await;
    let state = AppState::new(
        MetadataStore::Sqlite(store.clone()),
        KeyRing::new(key),
        16 * 1024 * 1024,
    );
    let app = app(state);
    let token = login(&app, ADMIN, PASSWORD).await;
    Harness {
        app,
        store,
        key_ring,
        token,
        dir,
    }
}

impl Harness {
    /// Registers instance `id` at `url` in `environment` with the one
    /// database the URL names (`main` of a SQLite file, the PostgreSQL
    /// URL's database), a database of project `shop` when `in_project`;
    /// returns the target's name.
    async fn target(&self, id: &str, url: &str, environment: &str, in_project: bool) -> String {
        let name = if url.starts_with("sqlite:") {
            "main".to_string()
        } else {
            url.rsplit('/').next().unwrap().to_string()
        };
        let project = in_project.then_some("shop");
        create_target(
            &self.store,
            &self.key_ring,
            id,
            url,
            environment,
            &name,
            project,
        )
        .await;
        format!("instances/{id}/databases/{name}")
    }

    fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite://{}", self.dir.path().join(name).display())
    }

    async fn call(&self, method: &str, uri: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let body = body.map(Value::to_string);
        call_with(&self.app, method, uri, Some(&self.token), body.as_deref()).await
    }

    async fn check(&self, body: Value) -> (StatusCode, Value) {
        self.call("POST", "/api/v1/projects/shop/releases:check", Some(&body))
            .await
    }

    /// A check that must succeed.
    async fn check_ok(&self, files: Value, targets: &[&str]) -> Value {
        let (status, body) = self
            .check(json!({ "files": files, "targets": targets }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        body
    }
}

/// The one function that sends requests (see [`support::call`]).
async fn call_with(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    support::call(app, method, uri, token, body, None).await
}

fn file(path: &str, statement: &str) -> Value {
    let name = path.rsplit('/').next().unwrap();
    let version: String = name.chars().take_while(char::is_ascii_digit).collect();
    let change_type = if name.ends_with("_dml.sql") {
        "DML"
    } else {
        "DDL"
    };
    json!({ "path": path, "version": version, "changeType": change_type, "statement": statement })
}

/// The result for `path` on `target`.
fn result<'a>(body: &'a Value, path: &str, target: &str) -> &'a Value {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["file"] == path && r["target"] == target)
        .unwrap_or_else(|| panic!("no result for {path} on {target}: {body:#}"))
}

fn rules(result: &Value) -> Vec<String> {
    result["advices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect()
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, names: &str) {
    assert_eq!(status, expected, "{body:#}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(names),
        "the error should name `{names}`: {body:#}"
    );
}

// ---- targets ----

/// Runs setup SQL on a SQLite file.
async fn sqlite_exec(url: &str, sql: &str) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Applies files to a target through the engine, as a rollout would, so
/// its history records them.
async fn apply(url: &str, files: &[(&str, &str)]) {
    let url = TargetUrl::parse(url).unwrap();
    let mut engine = AnyEngine::connect(&url, None).await.unwrap();
    for (path, text) in files {
        let file = MigrationFile::from_text(path, text);
        let apply = rollgate_engine::prepare::apply_file(engine.kind(), &file, 0);
        engine
            .apply(&apply, &ApplyOptions::default(), &mut |_| {})
            .await
            .unwrap();
    }
}

// ---- the live schema ----

/// The files of the walk-through tests: one on an existing table, one on
/// a table that does not exist, one creating a table that exists.
fn walk_through_files() -> Value {
    json!([
        file(
            "db/1_add_note.sql",
            "ALTER TABLE orders ADD COLUMN note text NOT NULL;"
        ),
        file(
            "db/2_add_to_missing.sql",
            "ALTER TABLE customers ADD COLUMN note text;"
        ),
        file(
            "db/3_create_again.sql",
            "CREATE TABLE orders (id int PRIMARY KEY);"
        ),
    ])
}

/// The live table makes the difference: reviewed without it (a local
/// lint), none of the files gets a walk-through finding.
fn assert_walk_through(body: &Value, target: &str) {
    let add = result(body, "db/1_add_note.sql", target);
    assert_eq!(add["status"], "PENDING", "{body:#}");
    assert!(
        rules(add).contains(&"COLUMN_ADD_NOT_NULL_WITHOUT_DEFAULT".to_string()),
        "{add:#}"
    );
    assert!(
        !rules(add).contains(&"BUILTIN_WALK_THROUGH_CHECK".to_string()),
        "{add:#}"
    );
    for (path, says) in [
        ("db/2_add_to_missing.sql", "does not exist"),
        ("db/3_create_again.sql", "already exists"),
    ] {
        let found = result(body, path, target);
        let advice = found["advices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == "BUILTIN_WALK_THROUGH_CHECK")
            .unwrap_or_else(|| panic!("{path}: no walk-through finding: {found:#}"));
        assert!(
            advice["content"].as_str().unwrap().contains(says),
            "{advice:#}"
        );
        // Same shape as `rollgate lint --format json`.
        for field in [
            "rule",
            "level",
            "code",
            "title",
            "content",
            "line",
            "column",
            "end_line",
            "end_column",
        ] {
            assert!(advice.get(field).is_some(), "{field} missing: {advice:#}");
        }
    }
    let policy = Policy::from_template(Template::Basic);
    for file in walk_through_files().as_array().unwrap() {
        let local = review_text(
            &policy,
            Catalog::new(),
            file["path"].as_str().unwrap(),
            file["statement"].as_str().unwrap(),
        );
        assert!(
            local
                .advices
                .iter()
                .all(|a| a.rule != "BUILTIN_WALK_THROUGH_CHECK"),
            "{local:#?}"
        );
    }
}

#[tokio::test]
async fn walk_through_sees_live_tables_on_postgres() {
    let h = harness().await;
    let db = PgTestDb::create("check").await;
    db.exec("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1);")
        .await;
    let target = h.target("pg", &db.url, "test", true).await;
    let body = h.check_ok(walk_through_files(), &[&target]).await;
    assert_walk_through(&body, &target);
    assert_eq!(body["targets"][0]["reachable"], true);
    assert_eq!(body["targets"][0]["environment"], "environments/test");
    assert_eq!(body["targets"][0]["policy"], "templates/basic");
    assert!(
        body["summary"]["warning"].as_u64().unwrap() >= 1,
        "{body:#}"
    );
    // A check only reads: not even the history table is created.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname = 'rollgate_history'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(tables, 0);
}

#[tokio::test]
async fn walk_through_sees_live_tables_on_sqlite() {
    let h = harness().await;
    let url = h.sqlite_url("live.db");
    sqlite_exec(
        &url,
        "CREATE TABLE orders (id integer PRIMARY KEY); INSERT INTO orders VALUES (1);",
    )
    .await;
    let target = h.target("lite", &url, "test", true).await;
    let body = h.check_ok(walk_through_files(), &[&target]).await;
    assert_walk_through(&body, &target);
    // SQLite has no planner estimates.
    assert_eq!(
        result(&body, "db/1_add_note.sql", &target)["affectedRows"],
        Value::Null
    );
}

#[tokio::test]
async fn the_schema_is_cached_until_refreshed() {
    let h = harness().await;
    let url = h.sqlite_url("cache.db");
    sqlite_exec(&url, "CREATE TABLE a (id integer);").await;
    let target = h.target("lite", &url, "test", true).await;
    let files = json!([file("db/1_b.sql", "CREATE TABLE b (id int);")]);
    let first = h.check_ok(files.clone(), &[&target]).await;
    assert!(
        !rules(result(&first, "db/1_b.sql", &target))
            .contains(&"BUILTIN_WALK_THROUGH_CHECK".to_string())
    );
    // Someone creates `b` by hand: the cached schema does not know yet.
    sqlite_exec(&url, "CREATE TABLE b (id integer);").await;
    let cached = h.check_ok(files.clone(), &[&target]).await;
    assert!(
        !rules(result(&cached, "db/1_b.sql", &target))
            .contains(&"BUILTIN_WALK_THROUGH_CHECK".to_string())
    );
    let (status, refreshed) = h
        .check(json!({ "files": files, "targets": [target], "refreshSchema": true }))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed:#}");
    assert!(
        rules(result(&refreshed, "db/1_b.sql", &target))
            .contains(&"BUILTIN_WALK_THROUGH_CHECK".to_string()),
        "{refreshed:#}"
    );
}

// ---- the history ----

#[tokio::test]
async fn applied_edited_and_out_of_order_files() {
    let h = harness().await;
    let url = h.sqlite_url("history.db");
    let one = "CREATE TABLE t (id integer PRIMARY KEY);";
    let three = "CREATE TABLE u (id integer PRIMARY KEY);";
    apply(&url, &[("db/1_t.sql", one), ("db/3_u.sql", three)]).await;
    let target = h.target("lite", &url, "test", true).await;
    let edited = "CREATE TABLE u (id integer PRIMARY KEY, name text);";
    let body = h
        .check_ok(
            json!([
                file("db/1_t.sql", one),
                file("db/2_late.sql", "CREATE TABLE late (id int);"),
                file("db/3_u.sql", edited),
                file("db/4_next.sql", "CREATE TABLE next (id int);"),
            ]),
            &[&target],
        )
        .await;
    let applied = result(&body, "db/1_t.sql", &target);
    assert_eq!(applied["status"], "SKIPPED", "{body:#}");
    assert_eq!(applied["advices"], json!([]));
    assert_eq!(applied["riskLevel"], Value::Null);

    let changed = result(&body, "db/3_u.sql", &target);
    assert_eq!(changed["status"], "ERROR", "{body:#}");
    let advice = &changed["advices"][0];
    assert_eq!(advice["rule"], "MIGRATION_HISTORY");
    assert_eq!(advice["level"], "ERROR");
    let content = advice["content"].as_str().unwrap();
    let stored = rollgate_migration::Checksum::of(three).to_string();
    let current = rollgate_migration::Checksum::of(edited).to_string();
    assert!(
        content.contains(&stored) && content.contains(&current),
        "{content}"
    );

    let late = result(&body, "db/2_late.sql", &target);
    assert_eq!(late["status"], "ERROR", "{body:#}");
    assert!(rules(late).contains(&"MIGRATION_HISTORY".to_string()));
    assert!(
        late["advices"][0]["content"]
            .as_str()
            .unwrap()
            .contains("out of order"),
        "{late:#}"
    );

    let next = result(&body, "db/4_next.sql", &target);
    assert_eq!(next["status"], "PENDING", "{body:#}");
    assert_eq!(next["riskLevel"], "LOW");
    // The summary counts every advice of every result.
    let levels: Vec<&Value> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["advices"].as_array().unwrap())
        .map(|a| &a["level"])
        .collect();
    let errors = levels.iter().filter(|l| **l == "ERROR").count();
    let warnings = levels.iter().filter(|l| **l == "WARNING").count();
    assert!(errors >= 2);
    assert_eq!(
        body["summary"],
        json!({ "error": errors, "warning": warnings })
    );
}

#[tokio::test]
async fn an_unreachable_target_is_an_error_advice() {
    let h = harness().await;
    let target = h
        .target(
            "down",
            "postgres://postgres:hunter2@127.0.0.1:1/nope",
            "test",
            true,
        )
        .await;
    let body = h
        .check_ok(
            json!([file("db/1_t.sql", "CREATE TABLE t (id int);")]),
            &[&target],
        )
        .await;
    let text = body.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("127.0.0.1:1"),
        "{text}"
    );
    assert_eq!(body["targets"][0]["reachable"], false);
    assert!(
        body["targets"][0]["error"]
            .as_str()
            .unwrap()
            .contains(&target),
        "{body:#}"
    );
    let found = result(&body, "db/1_t.sql", &target);
    assert_eq!(found["status"], "ERROR");
    assert_eq!(found["advices"][0]["rule"], "TARGET_UNREACHABLE");
    assert_eq!(found["advices"][0]["level"], "ERROR");
    assert!(
        found["advices"][0]["content"]
            .as_str()
            .unwrap()
            .contains(&target)
    );
    assert_eq!(body["summary"]["error"], 1);
}

// ---- policies ----

#[tokio::test]
async fn the_environment_policy_beats_the_project_policy() {
    let h = harness().await;
    let in_test = h.target("one", &h.sqlite_url("one.db"), "test", true).await;
    let in_prod = h.target("two", &h.sqlite_url("two.db"), "prod", true).await;
    let put = |attach: &'static str, level: &'static str| {
        let h = &h;
        async move {
            let body = json!({ "review": { "template": "basic", "rules": { "COLUMN_NO_NULL": { "level": level } } } });
            let (status, policy) = h
                .call(
                    "PUT",
                    &format!("/api/v1/{attach}/reviewPolicy"),
                    Some(&body),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{policy:#}");
            assert_eq!(policy["name"], format!("{attach}/reviewPolicy"));
            assert_eq!(policy["attach"], attach);
            assert_eq!(policy["review"], body["review"]);
        }
    };
    put("environments/test", "ERROR").await;
    put("projects/shop", "DISABLED").await;
    let files = json!([file(
        "db/1_t.sql",
        "CREATE TABLE t (id int PRIMARY KEY, note text);"
    )]);
    let body = h.check_ok(files.clone(), &[&in_test, &in_prod]).await;
    let targets = body["targets"].as_array().unwrap();
    assert_eq!(targets[0]["policy"], "environments/test/reviewPolicy");
    assert_eq!(targets[1]["policy"], "projects/shop/reviewPolicy");
    let strict = result(&body, "db/1_t.sql", &in_test);
    let no_null = strict["advices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "COLUMN_NO_NULL")
        .unwrap_or_else(|| panic!("{strict:#}"));
    assert_eq!(no_null["level"], "ERROR");
    assert!(!rules(result(&body, "db/1_t.sql", &in_prod)).contains(&"COLUMN_NO_NULL".to_string()));

    // Without the environment's policy the project's applies; without
    // both, the basic template.
    let (status, _) = h
        .call("DELETE", "/api/v1/environments/test/reviewPolicy", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = h.check_ok(files.clone(), &[&in_test]).await;
    assert_eq!(body["targets"][0]["policy"], "projects/shop/reviewPolicy");
    assert!(!rules(result(&body, "db/1_t.sql", &in_test)).contains(&"COLUMN_NO_NULL".to_string()));
    let (status, list) = h.call("GET", "/api/v1/reviewPolicies", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["reviewPolicies"].as_array().unwrap().len(),
        1,
        "{list:#}"
    );
    let (status, _) = h
        .call("DELETE", "/api/v1/projects/shop/reviewPolicy", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = h.check_ok(files, &[&in_test]).await;
    assert_eq!(body["targets"][0]["policy"], "templates/basic");
}

#[tokio::test]
async fn review_policy_endpoints_validate_and_name_the_setting() {
    let h = harness().await;
    let uri = "/api/v1/environments/test/reviewPolicy";
    let (status, body) = h.call("GET", uri, None).await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "environments/test/reviewPolicy",
    );
    for (review, setting) in [
        (
            json!({ "rules": { "NO_SUCH_RULE": { "level": "ERROR" } } }),
            "review.rules.NO_SUCH_RULE",
        ),
        (
            json!({ "rules": { "COLUMN_NO_NULL": { "level": "LOUD" } } }),
            "review.rules.COLUMN_NO_NULL.level",
        ),
        (json!({ "template": "strict" }), "review.template"),
        (json!({ "templat": "basic" }), "review.templat"),
        (
            json!({ "rules": { "COLUMN_NO_NULL": { "lvl": "ERROR" } } }),
            "review.rules.COLUMN_NO_NULL",
        ),
        (json!("basic"), "review"),
    ] {
        let (status, body) = h.call("PUT", uri, Some(&json!({ "review": review }))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, setting);
        assert_eq!(body["details"]["setting"], setting, "{body:#}");
    }
    let (status, body) = h
        .call(
            "PUT",
            "/api/v1/environments/nope/reviewPolicy",
            Some(&json!({ "review": {} })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "nope");
    let (status, body) = h
        .call(
            "PUT",
            "/api/v1/projects/shop/reviewPolicy",
            Some(&json!({ "review": { "template": "advanced" } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let (status, body) = h
        .call("GET", "/api/v1/projects/shop/reviewPolicy", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["review"], json!({ "template": "advanced" }));
    let (status, body) = h
        .call("DELETE", "/api/v1/projects/shop/reviewPolicy", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let (status, body) = h
        .call("DELETE", "/api/v1/projects/shop/reviewPolicy", None)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "projects/shop/reviewPolicy",
    );
    // Every attempt is audited.
    let (_, audit) = h.call("GET", "/api/v1/auditLogs?pageSize=100", None).await;
    let actions: Vec<&str> = audit["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions
            .iter()
            .filter(|a| **a == "rg.reviewPolicies.update")
            .count()
            >= 8,
        "{actions:?}"
    );
    assert!(actions.contains(&"rg.reviewPolicies.delete"));
}

// ---- estimates and risk ----

#[tokio::test]
async fn affected_rows_and_risk_on_postgres() {
    let h = harness().await;
    let db = PgTestDb::create("check").await;
    db.exec(
        "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL); \
         INSERT INTO items SELECT g, g FROM generate_series(1, 1000) g; \
         CREATE TABLE big (id int PRIMARY KEY, n int NOT NULL); \
         INSERT INTO big SELECT g, g % 100 FROM generate_series(1, 100000) g; \
         CREATE TABLE empty (id int PRIMARY KEY, n int); \
         ANALYZE items; ANALYZE big;",
    )
    .await;
    let target = h.target("pg", &db.url, "test", true).await;
    let body = h
        .check_ok(
            json!([
                file(
                    "db/1_bump_dml.sql",
                    "UPDATE items SET n = n + 1 WHERE id <= 300;"
                ),
                file("db/2_big_index.sql", "CREATE INDEX big_n ON big (n);"),
                file("db/3_empty_index.sql", "CREATE INDEX empty_n ON empty (n);"),
                file(
                    "db/4_big_index_concurrently.sql",
                    "-- rollgate:no-transaction\nCREATE INDEX CONCURRENTLY big_n2 ON big (n);"
                ),
            ]),
            &[&target],
        )
        .await;
    assert_eq!(body["riskLevel"], "HIGH");
    assert_eq!(
        body["affectedRows"],
        result(&body, "db/1_bump_dml.sql", &target)["affectedRows"]
    );
    let update = result(&body, "db/1_bump_dml.sql", &target);
    let rows = update["affectedRows"]
        .as_u64()
        .unwrap_or_else(|| panic!("{update:#}"));
    assert!(
        (200..=400).contains(&rows),
        "planner estimate {rows} for 300 rows: {update:#}"
    );
    assert_eq!(update["riskLevel"], "LOW");

    let big = result(&body, "db/2_big_index.sql", &target);
    assert_eq!(big["riskLevel"], "HIGH", "{big:#}");
    assert!(
        big["riskReasons"][0]
            .as_str()
            .unwrap()
            .contains("SHARE lock"),
        "{big:#}"
    );
    assert_eq!(big["affectedRows"], Value::Null);
    let empty = result(&body, "db/3_empty_index.sql", &target);
    assert_eq!(empty["riskLevel"], "LOW", "{empty:#}");
    let concurrently = result(&body, "db/4_big_index_concurrently.sql", &target);
    assert_eq!(concurrently["riskLevel"], "LOW", "{concurrently:#}");
    // EXPLAIN did not run the update.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let sum: i64 = sqlx::query_scalar("SELECT sum(n)::bigint FROM items")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(sum, 500_500);
}

// ---- bad input ----

#[tokio::test]
async fn bad_requests_say_what_to_fix() {
    let h = harness().await;
    let target = h
        .target("lite", &h.sqlite_url("bad.db"), "test", true)
        .await;
    let outside = h
        .target("other", &h.sqlite_url("other.db"), "test", false)
        .await;
    let good = file("db/1_t.sql", "CREATE TABLE t (id int);");
    let many: Vec<Value> = (1..=201)
        .map(|i| file(&format!("db/{i}_t.sql"), "SELECT 1;"))
        .collect();
    let crowd: Vec<String> = (0..21)
        .map(|i| format!("instances/i{i}/databases/app"))
        .collect();
    let huge = "-- x\n".repeat(2 * 1024 * 1024 / 5 + 1);
    let cases = [
        (
            json!({ "files": [], "targets": [target] }),
            StatusCode::BAD_REQUEST,
            "`files`",
        ),
        (
            json!({ "files": [good], "targets": [] }),
            StatusCode::BAD_REQUEST,
            "`targets`",
        ),
        (
            json!({ "files": [good], "targets": crowd }),
            StatusCode::BAD_REQUEST,
            "has 21 targets",
        ),
        (
            json!({ "files": many, "targets": [target] }),
            StatusCode::BAD_REQUEST,
            "200",
        ),
        (
            json!({ "files": [file("db/1_huge.sql", &huge)], "targets": [target] }),
            StatusCode::PAYLOAD_TOO_LARGE,
            "files[0].statement",
        ),
        (
            json!({ "files": [{ "path": "x.sql", "version": "abc", "changeType": "DDL", "statement": "" }], "targets": [target] }),
            StatusCode::BAD_REQUEST,
            "files[0].version",
        ),
        (
            json!({ "files": [{ "path": "1_x.sql", "version": "1", "changeType": "DDX", "statement": "" }], "targets": [target] }),
            StatusCode::BAD_REQUEST,
            "files[0].changeType",
        ),
        (
            json!({ "files": [good, file("db/1_again.sql", "SELECT 1;")], "targets": [target] }),
            StatusCode::BAD_REQUEST,
            "files[1].version",
        ),
        (
            json!({ "files": [good], "targets": ["instances/ghost/databases/app"] }),
            StatusCode::NOT_FOUND,
            "instances/ghost/databases/app",
        ),
        (
            json!({ "files": [good], "targets": [outside] }),
            StatusCode::BAD_REQUEST,
            "instances/other/databases/main",
        ),
        (
            json!({ "files": [good], "targets": ["app"] }),
            StatusCode::BAD_REQUEST,
            "targets[0]",
        ),
        (
            json!({ "files": [good], "targets": [target, target] }),
            StatusCode::BAD_REQUEST,
            "targets[1]",
        ),
        (
            json!({ "files": [good], "targets": [target], "dryRun": true }),
            StatusCode::BAD_REQUEST,
            "dryRun",
        ),
    ];
    for (request, expected, names) in cases {
        let (status, body) = h.check(request).await;
        assert_error(status, &body, expected, names);
    }
    let (status, body) = h
        .call(
            "POST",
            "/api/v1/projects/nope/releases:check",
            Some(&json!({ "files": [good], "targets": [target] })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "nope");
}

/// A burst of checks never runs the target server out of connections: a
/// server process holds at most 8 check connections per instance and the
/// rest wait, so all 300 checks see the target (PostgreSQL here allows 100
/// connections; a connection per check is refused as the burst exceeds it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_checks_waits_for_connections_instead_of_failing() {
    let h = std::sync::Arc::new(harness().await);
    let db = PgTestDb::create("check").await;
    db.exec("CREATE TABLE orders (id int PRIMARY KEY);").await;
    let target = h.target("pg", &db.url, "test", true).await;
    let mut checks = Vec::new();
    // Enough work per check that the connections overlap.
    let files: Vec<Value> = (1..=20)
        .map(|i| {
            file(
                &format!("db/{i}_more_dml.sql"),
                &format!("UPDATE orders SET id = id + {i} WHERE id > {i};"),
            )
        })
        .collect();
    for _ in 0..300 {
        let (h, target, files) = (h.clone(), target.clone(), files.clone());
        checks.push(tokio::spawn(async move {
            h.check(json!({ "files": files, "targets": [target] }))
                .await
        }));
    }
    for check in checks {
        let (status, body) = check.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(body["targets"][0]["reachable"], true, "{body:#}");
    }
}
