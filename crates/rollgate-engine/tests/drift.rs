//! `drift::detect` against real targets: in sync after applying, a diff
//! naming a hand-made column, a file that does not replay, and no scratch
//! database left behind.

mod support;

use rollgate_engine::any::AnyEngine;
use rollgate_engine::drift::{self, DriftError};
use rollgate_engine::{ApplyOptions, Engine, TargetUrl};
use rollgate_migration::MigrationFile;
use sqlx::Connection as _;

fn files() -> Vec<MigrationFile> {
    vec![
        MigrationFile::from_text(
            "migrations/V1_create_items.sql",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n",
        ),
        MigrationFile::from_text(
            "migrations/V2_index_items.sql",
            "CREATE INDEX items_title ON items (title);\n",
        ),
    ]
}

async fn apply_all(url: &TargetUrl, files: &[MigrationFile]) {
    let mut engine = AnyEngine::connect(url, None).await.unwrap();
    for file in files {
        let apply = rollgate_engine::prepare::apply_file(engine.kind(), file, 0);
        engine
            .apply(&apply, &ApplyOptions::default(), &mut |_| {})
            .await
            .unwrap();
    }
}

async fn in_sync_then_drifted(url: &TargetUrl, alter: impl AsyncFnOnce()) {
    apply_all(url, &files()).await;
    let report = drift::detect(url, None, &files()).await.unwrap();
    assert!(!report.drifted(), "{:?}", report.diff);
    assert_eq!(report.expected.to_text(), report.live.to_text());
    assert!(report.live.to_text().contains("items"));

    alter().await;
    let report = drift::detect(url, None, &files()).await.unwrap();
    let diff = report.diff.expect("a diff after ALTER TABLE");
    assert!(
        diff.starts_with("--- expected (replayed history)\n+++ live database\n"),
        "{diff}"
    );
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("nickname")),
        "{diff}"
    );
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---")),
        "{diff}"
    );

    // Only the first file: the index is live but not expected.
    let report = drift::detect(url, None, &files()[..1]).await.unwrap();
    let diff = report.diff.unwrap();
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("items_title")),
        "{diff}"
    );

    // A file that fails on an empty database.
    let broken = vec![MigrationFile::from_text(
        "migrations/V1_alter_missing.sql",
        "ALTER TABLE missing ADD COLUMN x INTEGER;\n",
    )];
    match drift::detect(url, None, &broken).await {
        Err(DriftError::Replay { file_name, error }) => {
            assert_eq!(file_name, "migrations/V1_alter_missing.sql");
            assert!(error.to_string().contains("missing"), "{error}");
        }
        other => panic!("expected a replay error, got {:?}", other.map(|r| r.diff)),
    }
}

#[tokio::test]
async fn sqlite_drift() {
    let db = support::TestDb::sqlite();
    let url = TargetUrl::parse(&db.url).unwrap();
    let alter_url = db.url.clone();
    in_sync_then_drifted(&url, async move || {
        let mut c = sqlx::SqliteConnection::connect(&alter_url).await.unwrap();
        sqlx::raw_sql("ALTER TABLE items ADD COLUMN nickname TEXT")
            .execute(&mut c)
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn postgres_drift_leaves_no_scratch_database() {
    let db = support::TestDb::postgres().await;
    let url = TargetUrl::parse(&db.url).unwrap();
    let alter_url = db.url.clone();
    in_sync_then_drifted(&url, async move || {
        let mut c = sqlx::PgConnection::connect(&alter_url).await.unwrap();
        sqlx::raw_sql("ALTER TABLE items ADD COLUMN nickname TEXT")
            .execute(&mut c)
            .await
            .unwrap();
    })
    .await;
    let mut admin = sqlx::PgConnection::connect(&support::postgres_admin_url())
        .await
        .unwrap();
    let prefix = format!("rollgate_scratch_{}_%", std::process::id());
    let left: Vec<(String,)> =
        sqlx::query_as("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
            .bind(&prefix)
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn an_unreachable_target_is_a_live_error() {
    let url = TargetUrl::parse("postgres://postgres:pw-s3cret@127.0.0.1:1/nope").unwrap();
    match drift::detect(&url, None, &files()).await {
        Err(DriftError::Live(error)) => {
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
        other => panic!("expected a live error, got {:?}", other.map(|r| r.diff)),
    }
}
