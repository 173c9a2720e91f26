mod support;
use std::time::{Duration, Instant};
use rollgate_engine::postgres::PostgresEngine;
use rollgate_engine::*;

#[tokio::test]
async fn bench() {
    for retries in [5u32, 0, 1] {
        let db = support::TestDb::postgres().await;
        if retries == 1 {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER DATABASE {} SET synchronous_commit = off", db.name))).execute(&mut c).await.unwrap();
        }
        let url = TargetUrl::parse(&db.url).unwrap();
        let mut e = PostgresEngine::connect(&url, None).await.unwrap();
        e.lock(Duration::from_secs(1)).await.unwrap();
        e.history().await.unwrap();
        let opts = ApplyOptions { lock_retries: retries, ..Default::default() };
        let t = Instant::now();
        for i in 0..500 {
            let f = ApplyFile { version: format!("{i:04}"), file_name: format!("{i:04}.sql"), change_type: "DDL".into(), checksum: "sha256-v1:x".into(),
                statements: vec![StatementText { text: format!("CREATE TABLE t{i} (id int primary key, name text)"), line: 1 }, StatementText { text: format!("INSERT INTO t{i} VALUES (1, 'a')"), line: 2 }],
                no_transaction: false, lock_timeout: None, resume_from: 0 };
            e.apply(&f, &opts, &mut |_| {}).await.unwrap();
        }
        eprintln!("retries {retries}: 500 files {:?}", t.elapsed());
        let t = Instant::now();
        let h = e.history().await.unwrap();
        eprintln!("history {} rows {:?}", h.len(), t.elapsed());
        if retries == 0 {
            let mut sql = String::new();
            for i in 0..500 { sql.push_str(&format!("CREATE TABLE s{i} (id int primary key, name text);\nINSERT INTO s{i} VALUES (1, 'a');\n")); }
            std::fs::write("/tmp/bench_all.sql", sql).unwrap();
            let t = Instant::now();
            let out = std::process::Command::new("psql").args(["-q", "-1", "-f", "/tmp/bench_all.sql", &db.url]).output().unwrap();
            assert!(out.status.success());
            eprintln!("psql -1: {:?}", t.elapsed());
        }
    }
}
