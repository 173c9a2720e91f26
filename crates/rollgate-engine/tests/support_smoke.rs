//! The test-database helper itself works against the real servers.

mod support;

use sqlx::Connection;

#[tokio::test]
async fn postgres_and_mysql_test_databases_are_created_and_dropped() {
    let pg = support::TestDb::postgres().await;
    let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE t (a int)")
        .execute(&mut conn)
        .await
        .unwrap();
    let my = support::TestDb::mysql().await;
    let mut conn = sqlx::MySqlConnection::connect(&my.url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE t (a int)")
        .execute(&mut conn)
        .await
        .unwrap();
}
