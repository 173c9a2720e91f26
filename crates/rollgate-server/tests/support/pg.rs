//! A fresh PostgreSQL database per test on the local server (or
//! `ROLLGATE_TEST_PG_URL`), dropped on `Drop`. A missing server fails the
//! test loudly: it never skips.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection as _;

/// The URL of the maintenance database the test databases are created from.
pub fn postgres_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A PostgreSQL database for one test, dropped on `Drop`.
pub struct PgTestDb {
    /// The database's URL, on the admin URL's server and credentials.
    pub url: String,
    /// `rg_test_{label}_{pid}_{counter}_{nanos}`: unique across the test
    /// binaries running at once.
    pub name: String,
    pub admin_url: String,
}

impl PgTestDb {
    /// Creates `rg_test_{label}_…`; `label` must be a plain identifier.
    pub async fn create(label: &str) -> PgTestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "rg_test_{label}_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos % 100_000
        );
        let admin_url = postgres_admin_url();
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL test server unreachable at {admin_url}: {e}; start it")
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.clone(), |(base, _)| base.to_string());
        PgTestDb {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        }
    }

    /// Runs `sql` (one or more statements) in the database.
    pub async fn exec(&self, sql: &str) {
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        // `Drop` may run inside a runtime, which cannot block on another
        // future: drop the database from a thread with its own runtime.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}
