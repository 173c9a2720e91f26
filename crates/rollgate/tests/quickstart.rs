//! `rollgate quickstart --once`: the README's main command runs the whole
//! flow (workspace, two checks, release, plan, Test then Prod, changelog)
//! against a real in-process server and real target databases, and exits 0.

use std::process::Command;

use sqlx::Connection as _;

fn quickstart(extra: &[&str]) -> (bool, String) {
    let cwd = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["quickstart", "--once", "--listen", "127.0.0.1:0"])
        .args(extra)
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn assert_flow(out: &str) {
    for expected in [
        "+ create serviceAccounts/ci",
        "warning[COLUMN_NO_NULL] line 5",
        "summary: 0 error(s)",
        "release  projects/shop/releases/release_",
        "refused, as it should be",
        "PERMISSION_DENIED",
        "runs the Prod stage",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }
    // Each of the three files applied once on each of the two targets.
    assert_eq!(out.matches(" DONE").count(), 2, "{out}");
    assert_eq!(out.matches("    applied migrations/").count(), 6, "{out}");
    assert_eq!(out.matches(" SUCCEEDED ").count(), 6, "{out}");
}

#[test]
fn quickstart_runs_the_whole_flow_on_sqlite_targets() {
    let (ok, out) = quickstart(&[]);
    assert!(ok, "{out}");
    assert_flow(&out);
    assert!(out.contains("databases/shop_test"), "{out}");
}

#[tokio::test]
async fn quickstart_runs_on_postgres_and_drops_its_databases() {
    let url = std::env::var("ROLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (ok, out) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || quickstart(&["--postgres", &url])
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert_flow(&out);
    assert!(out.contains("rollgate_quickstart_test_"), "{out}");
    let pid_marker = out
        .split("rollgate_quickstart_test_")
        .nth(1)
        .and_then(|rest| rest.split('_').next())
        .unwrap()
        .to_string();
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL test server unreachable at {url}: {e}"));
    let left: Vec<(String,)> =
        sqlx::query_as("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
            .bind(format!("rollgate_quickstart_%_{pid_marker}_%"))
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert!(
        left.is_empty(),
        "--once leaves no database behind: {left:?}"
    );
}
