//! What the server's release check reads from a target, on the real servers
//! of this machine: the history without creating its table
//! (`read_history`), row estimates from statistics (`table_rows`) and the
//! planner's affected-rows estimate (`explain_rows`), which never runs the
//! statement.

mod support;

use rollgate_engine::any::AnyEngine;
use rollgate_engine::{Engine, TargetUrl, max_plan_rows};
use support::TestDb;

async fn connect(url: &str) -> AnyEngine {
    AnyEngine::connect(&TargetUrl::parse(url).unwrap(), None)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// Runs `sql` as one multi-statement text through the engine's own driver.
async fn exec(db: &TestDb, sql: &str) {
    use sqlx::Connection as _;
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if db.url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else if db.url.starts_with("mysql") {
        let mut conn = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&format!("{}?mode=rwc", db.url))
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
}

/// Whether the history table exists, asked without the engine.
async fn history_table_exists(db: &TestDb) -> bool {
    use sqlx::Connection as _;
    let count: i64 = if db.url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname = 'rollgate_history'")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    } else if db.url.starts_with("mysql") {
        let mut conn = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'rollgate_history'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&format!("{}?mode=rwc", db.url))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'rollgate_history'")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    count > 0
}

/// `read_history` on a database without history returns nothing and
/// creates nothing; once `history` created the table, it reads it.
async fn read_history_never_creates(db: &TestDb) {
    let mut engine = connect(&db.url).await;
    assert!(engine.read_history().await.unwrap().is_empty());
    drop(engine);
    assert!(
        !history_table_exists(db).await,
        "read_history created the table"
    );
    let mut engine = connect(&db.url).await;
    engine.history().await.unwrap();
    assert!(history_table_exists(db).await);
    assert!(engine.read_history().await.unwrap().is_empty());
}

async fn engine_after_history(db: &TestDb) -> AnyEngine {
    let mut engine = connect(&db.url).await;
    engine.history().await.unwrap();
    engine
}

#[tokio::test]
async fn postgres_estimates() {
    let db = TestDb::postgres().await;
    exec(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL); \
         INSERT INTO t SELECT g, g FROM generate_series(1, 2000) g; ANALYZE t; \
         CREATE TABLE fresh (id int);",
    )
    .await;
    let mut engine = connect(&db.url).await;
    let rows = engine.table_rows().await.unwrap();
    assert_eq!(rows.get("public.t"), Some(&2000), "{rows:?}");
    // Never analyzed and without pages: empty.
    assert_eq!(rows.get("public.fresh"), Some(&0), "{rows:?}");
    let estimate = engine
        .explain_rows("UPDATE t SET n = 0 WHERE id <= 500")
        .await
        .unwrap()
        .unwrap();
    assert!((300..=700).contains(&estimate), "{estimate}");
    // Not run, and two statements in one text are refused.
    assert_eq!(
        engine
            .explain_rows("DELETE FROM t; DROP TABLE t")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        engine.explain_rows("UPDATE nope SET a = 1").await.unwrap(),
        None
    );
    drop(engine);
    let mut check = engine_after_history(&db).await;
    let rows = check.table_rows().await.unwrap();
    assert_eq!(rows.get("public.t"), Some(&2000));
    assert!(!rows.contains_key("public.rollgate_history"), "{rows:?}");
    let untouched = check
        .explain_rows("SELECT * FROM t WHERE n = 0")
        .await
        .unwrap();
    assert!(untouched.is_some());
    read_history_never_creates(&TestDb::postgres().await).await;
}

#[tokio::test]
async fn mysql_estimates() {
    let db = TestDb::mysql().await;
    exec(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL); \
         INSERT INTO t (id, n) VALUES (1, 1), (2, 2), (3, 3), (4, 4); ANALYZE TABLE t;",
    )
    .await;
    let mut engine = connect(&db.url).await;
    let rows = engine.table_rows().await.unwrap();
    assert_eq!(rows.get("t"), Some(&4), "{rows:?}");
    let estimate = engine
        .explain_rows("UPDATE t SET n = 0 WHERE n > 1")
        .await
        .unwrap();
    assert!(estimate.is_some_and(|rows| rows >= 1), "{estimate:?}");
    drop(engine);
    read_history_never_creates(&TestDb::mysql().await).await;
    // EXPLAIN ran nothing.
    let mut engine = connect(&db.url).await;
    assert_eq!(
        engine
            .explain_rows("SELECT * FROM t WHERE n = 0")
            .await
            .unwrap()
            .map(|_| ()),
        Some(())
    );
}

#[tokio::test]
async fn sqlite_has_no_estimates() {
    let db = TestDb::sqlite();
    exec(&db, "CREATE TABLE t (id integer PRIMARY KEY);").await;
    let mut engine = connect(&db.url).await;
    assert!(engine.table_rows().await.unwrap().is_empty());
    assert_eq!(engine.explain_rows("DELETE FROM t").await.unwrap(), None);
    drop(engine);
    read_history_never_creates(&db).await;
}

#[test]
fn the_widest_plan_node_counts() {
    let plan = [
        "Update on t  (cost=0.00..35.50 rows=0 width=0)",
        "  ->  Seq Scan on t  (cost=0.00..35.50 rows=2550 width=10)",
        "        Filter: (rows=5)",
    ];
    assert_eq!(max_plan_rows(plan), Some(2550));
    assert_eq!(max_plan_rows(["Result  (cost=0.00..0.01 width=4)"]), None);
}
