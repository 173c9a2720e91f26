//! Test databases on the real servers of this machine (see DEVELOPERS.md):
//! each test gets its own database, dropped when the guard goes out of
//! scope. A server that cannot be reached fails the test loudly.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// PostgreSQL admin URL; override with `ROLLGATE_TEST_PG_URL`.
pub fn postgres_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// MySQL/MariaDB admin URL; override with `ROLLGATE_TEST_MYSQL_URL`.
pub fn mysql_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "rg_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

/// A database created for one test; dropped on `Drop`.
pub struct TestDb {
    pub url: String,
    pub name: String,
    admin_url: String,
    kind: Kind,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Clone, Copy)]
enum Kind {
    Postgres,
    Mysql,
    Sqlite,
}

impl TestDb {
    pub async fn postgres() -> TestDb {
        let admin_url = postgres_admin_url();
        let name = unique_name();
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL test server unreachable at {admin_url}: {e}; start it (see .ci/run)"
                )
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base.to_string())
            .unwrap_or(admin_url.clone());
        TestDb {
            url: format!("{base}/{name}"),
            name,
            admin_url,
            kind: Kind::Postgres,
            _dir: None,
        }
    }

    pub async fn mysql() -> TestDb {
        let admin_url = mysql_admin_url();
        let name = unique_name();
        let mut admin = sqlx::MySqlConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("MySQL/MariaDB test server unreachable at {admin_url}: {e}; start it (see .ci/run)"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base.to_string())
            .unwrap_or(admin_url.clone());
        TestDb {
            url: format!("{base}/{name}"),
            name,
            admin_url,
            kind: Kind::Mysql,
            _dir: None,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            name: "test.db".into(),
            admin_url: String::new(),
            kind: Kind::Sqlite,
            _dir: Some(dir),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name, kind) = (self.admin_url.clone(), self.name.clone(), self.kind);
        if matches!(kind, Kind::Sqlite) {
            return;
        }
        // Drop runs outside any runtime guarantee: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                match kind {
                    Kind::Postgres => {
                        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                                .execute(&mut admin)
                                .await;
                        }
                    }
                    Kind::Mysql => {
                        if let Ok(mut admin) = sqlx::MySqlConnection::connect(&admin_url).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name}");
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                                .execute(&mut admin)
                                .await;
                        }
                    }
                    Kind::Sqlite => {}
                }
            });
        })
        .join();
    }
}
