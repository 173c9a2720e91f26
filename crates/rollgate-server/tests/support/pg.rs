//! A fresh PostgreSQL database per test on the local server (or
//! `ROLLGATE_TEST_PG_URL`), dropped on `Drop`. A missing server fails the
//! test loudly: it never skips. [`unique_name`] and [`block_on_thread`]
//! serve the MariaDB helper (`mysql.rs`) too.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection as _;

/// The URL of the maintenance database the test databases are created from.
pub fn postgres_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `rg_test_{label}_{pid}_{counter}_{nanos}`: unique across the test
/// binaries running at once, on any server.
pub fn unique_name(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "rg_test_{label}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

/// Runs `work` to completion from `Drop`: `Drop` may run inside a runtime,
/// which cannot block on another future, so it runs on a thread with its own.
pub fn block_on_thread<F>(work: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work);
    })
    .join();
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
        let name = unique_name(label);
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
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        block_on_thread(async move {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}
