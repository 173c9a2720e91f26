//! A fresh MariaDB/MySQL database per test on the local server (or
//! `ROLLGATE_TEST_MYSQL_URL`), dropped on `Drop`. A missing server fails the
//! test loudly: it never skips.

use sqlx::Connection as _;

use super::pg::{block_on_thread, unique_name};

/// The server the test databases are created on, without a database.
pub fn mysql_admin_url() -> String {
    std::env::var("ROLLGATE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A MariaDB/MySQL database for one test, dropped on `Drop`.
pub struct MyTestDb {
    /// The database's URL, on the admin URL's server and credentials.
    pub url: String,
    /// `rg_test_{label}_{pid}_{counter}_{nanos}`.
    pub name: String,
    pub admin_url: String,
}

impl MyTestDb {
    /// Creates `rg_test_{label}_…`; `label` must be a plain identifier.
    pub async fn create(label: &str) -> MyTestDb {
        let name = unique_name(label);
        let admin_url = mysql_admin_url();
        let mut admin = sqlx::MySqlConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("MariaDB/MySQL test server unreachable at {admin_url}: {e}; start it")
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        MyTestDb {
            url: format!("{}/{name}", admin_url.trim_end_matches('/')),
            name,
            admin_url,
        }
    }

    /// Runs `sql` (one or more statements) in the database.
    pub async fn exec(&self, sql: &str) {
        let mut conn = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

impl Drop for MyTestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        block_on_thread(async move {
            if let Ok(mut admin) = sqlx::MySqlConnection::connect(&admin_url).await {
                let sql = format!("DROP DATABASE IF EXISTS {name}");
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}
