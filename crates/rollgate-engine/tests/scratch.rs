//! Scratch databases: creating one drops the orphans a killed process left
//! on the same server (`rollgate_scratch_*` older than an hour), and keeps
//! recent ones, which may belong to a check still running.

mod support;

use rollgate_engine::TargetUrl;
use rollgate_engine::scratch::Scratch;
use sqlx::Connection as _;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn postgres_scratch_drops_orphans_older_than_an_hour() {
    let admin_url = support::postgres_admin_url();
    let pid = std::process::id();
    let orphan = format!("rollgate_scratch_{}_{pid}_1", now() - 7200);
    let recent = format!("rollgate_scratch_{}_{pid}_2", now() - 60);
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL test server unreachable at {admin_url}: {e}"));
    for name in [&orphan, &recent] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let scratch = Scratch::create(&TargetUrl::parse(&admin_url).unwrap())
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'rollgate\\_scratch\\_%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    // One statement each: PostgreSQL runs a multi-statement string in one
    // transaction, where DROP DATABASE is refused.
    for name in [&recent, &orphan] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
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
async fn mysql_scratch_drops_orphans_older_than_an_hour() {
    let admin_url = support::mysql_admin_url();
    let pid = std::process::id();
    let orphan = format!("rollgate_scratch_{}_{pid}_3", now() - 7200);
    let recent = format!("rollgate_scratch_{}_{pid}_4", now() - 60);
    let mut admin = sqlx::MySqlConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("MariaDB test server unreachable at {admin_url}: {e}"));
    for name in [&orphan, &recent] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let scratch = Scratch::create(&TargetUrl::parse(&admin_url).unwrap())
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'rollgate\\_scratch\\_%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    for name in [&recent, &orphan] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
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
