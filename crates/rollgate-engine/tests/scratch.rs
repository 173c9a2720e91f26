//! Scratch databases: creating one drops the orphans a killed process left
//! on the same server (`rollgate_scratch_*` older than an hour), and keeps
//! recent ones, which may belong to a check still running.

mod support;

use rollgate_engine::TargetUrl;
use rollgate_engine::scratch::Scratch;
use sqlx::Connection as _;

#[derive(Clone, Copy)]
enum Server {
    Postgres,
    Mysql,
}

impl Server {
    fn admin_url(self) -> String {
        match self {
            Server::Postgres => support::postgres_admin_url(),
            Server::Mysql => support::mysql_admin_url(),
        }
    }

    /// Runs one statement (PostgreSQL refuses DROP DATABASE in the implicit
    /// transaction of a multi-statement string).
    async fn exec(self, sql: String) {
        let url = self.admin_url();
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Server::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL unreachable at {url}: {e}"));
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
            Server::Mysql => {
                let mut conn = sqlx::MySqlConnection::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("MariaDB unreachable at {url}: {e}"));
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
        }
    }

    async fn scratch_names(self) -> Vec<String> {
        let url = self.admin_url();
        match self {
            Server::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query_scalar(
                    "SELECT datname::text FROM pg_database WHERE datname LIKE 'rollgate\\_scratch\\_%'",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap()
            }
            Server::Mysql => {
                let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
                sqlx::query_scalar(
                    "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'rollgate\\_scratch\\_%'",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap()
            }
        }
    }

    fn drop_sql(self, name: &str) -> String {
        match self {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            Server::Mysql => format!("DROP DATABASE IF EXISTS {name}"),
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn drops_orphans_older_than_an_hour(server: Server, tag: u32) {
    let pid = std::process::id();
    let orphan = format!("rollgate_scratch_{}_{pid}_{tag}1", now() - 7200);
    let recent = format!("rollgate_scratch_{}_{pid}_{tag}2", now() - 60);
    for name in [&orphan, &recent] {
        server.exec(format!("CREATE DATABASE {name}")).await;
    }
    let scratch = Scratch::create(&TargetUrl::parse(&server.admin_url()).unwrap())
        .await
        .unwrap();
    let names = server.scratch_names().await;
    for name in [&recent, &orphan] {
        server.exec(server.drop_sql(name)).await;
    }
    let own = scratch.database().to_string();
    scratch.drop_database().await.unwrap();
    assert!(
        !names.contains(&orphan),
        "the orphan was dropped: {names:?}"
    );
    assert!(names.contains(&recent), "a recent one is kept: {names:?}");
    assert!(names.contains(&own), "{names:?}");
}

#[tokio::test]
async fn postgres_scratch_drops_orphans_older_than_an_hour() {
    drops_orphans_older_than_an_hour(Server::Postgres, 1).await;
}

#[tokio::test]
async fn mysql_scratch_drops_orphans_older_than_an_hour() {
    drops_orphans_older_than_an_hour(Server::Mysql, 2).await;
}
