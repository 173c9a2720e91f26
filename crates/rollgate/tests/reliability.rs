//! Reliability of `rollgate server` as a process (issue 4): SIGKILL at
//! random points of rollouts (the only server on SQLite; one of two
//! replicas on PostgreSQL), concurrent rollouts on two replicas, and
//! graceful shutdown on SIGTERM. After every scenario each file must be
//! applied exactly once per database (the target's own `rollgate_history`
//! and the file's effect both say so) and no task may be left RUNNING.
//!
//! Kill points come from a seeded generator whose seed is printed; replay a
//! failure with `ROLLGATE_RELIABILITY_SEED=<seed>`. Tests that use
//! PostgreSQL need the local server (127.0.0.1:5432) and fail without it.

#[path = "reliability/cluster.rs"]
mod cluster;

use std::path::Path;
use std::time::{Duration, Instant};

use cluster::{
    Api, PgDatabase, Rng, ServerSpec, Targets, all_logs, apply_workspace, events, master_key,
    release_files, running, runs, submit_rollout, submit_rollout_twice, wait_all_done,
};
use sqlx::{Connection as _, Row as _};

const DATABASES: usize = 10;
const KILLS: usize = 20;
/// Files each release adds to the previous one.
const FILES_PER_RELEASE: u32 = 2;

/// Worker settings of every server in the kill tests: a short lease so a
/// killed server's runs are claimed again within seconds, and no
/// parallelism limits below the worker count.
fn kill_test_env(spec: ServerSpec, workers: usize, key: &str) -> ServerSpec {
    spec.env("ROLLGATE_WORKERS", &workers.to_string())
        .env("ROLLGATE_LEASE_SECONDS", "3")
        .env("ROLLGATE_MAX_RUNNING_PER_ROLLOUT", "0")
        .env("ROLLGATE_MAX_RUNNING_PER_INSTANCE", "0")
        .env("ROLLGATE_SHUTDOWN_GRACE_SECONDS", "1")
        .env("ROLLGATE_MASTER_KEY", key)
}

/// SIGKILLs a random replica `KILLS` times at random moments while
/// rollouts over `DATABASES` databases run (a new cumulative release every
/// second kill), restarting it at once; then waits for every rollout and
/// checks that every file was applied exactly once per database.
async fn kill_and_restart(
    test: &str,
    targets: Targets,
    metadata: Option<&PgDatabase>,
    replicas: usize,
    file_ms: u64,
) {
    let started = Instant::now();
    let mut rng = Rng::from_env(test);
    let data = tempfile::tempdir().expect("temp dir");
    let key = master_key();
    let mut specs: Vec<ServerSpec> = (0..replicas)
        .map(|i| {
            let dir = data.path().join(format!("replica{i}"));
            std::fs::create_dir_all(&dir).expect("data dir");
            let spec = ServerSpec::new(
                &format!("replica{i}"),
                &dir,
                metadata.map(|m| m.url.clone()),
            );
            kill_test_env(spec, if replicas == 1 { 4 } else { 3 }, &key)
        })
        .collect();
    // One at a time: the first start migrates the metadata store.
    let mut servers = Vec::with_capacity(replicas);
    for spec in &mut specs {
        servers.push(Some(spec.start().await));
    }
    let logs = || all_logs_of(data.path(), replicas);
    let base = |servers: &[Option<cluster::Server>], i: usize| {
        servers[i].as_ref().expect("up").base.clone()
    };
    let api = Api::login(&base(&servers, 0)).await;
    let databases = targets.names(DATABASES);
    apply_workspace(&base(&servers, 0), &targets, &databases, data.path()).await;

    let mut rollouts = Vec::new();
    let mut releases = 0;
    for kill in 0..KILLS {
        if kill % 2 == 0 {
            releases += 1;
            let files = release_files(&targets, releases, FILES_PER_RELEASE, file_ms);
            let via = base(&servers, rng.below(replicas));
            rollouts.push(submit_rollout(&api, &via, &files, &databases).await);
        }
        tokio::time::sleep(rng.millis(150, 1200)).await;
        let victim = rng.below(replicas);
        let running_now = running(&api, &base(&servers, victim), &rollouts).await;
        servers[victim].take().expect("up").kill();
        println!(
            "{test}: kill {} of replica{victim} at {:.1} s with {running_now} task(s) RUNNING",
            kill + 1,
            started.elapsed().as_secs_f64()
        );
        servers[victim] = Some(specs[victim].start().await);
    }
    let total = releases * FILES_PER_RELEASE;
    println!("{test}: {releases} rollouts over {DATABASES} databases, {total} files per database");

    wait_all_done(
        &api,
        &base(&servers, 0),
        &rollouts,
        Duration::from_secs(60),
        &logs,
    )
    .await;
    let (mut attempts, mut cut_runs, mut cut_files) = (0, 0, 0);
    for rollout in &rollouts {
        let runs = runs(&api, &base(&servers, 0), rollout).await;
        // Killed runs are claimed again (same run, attempts + 1): one run
        // per task, DONE, none RUNNING.
        cluster::assert_one_done_run_per_task(rollout, &runs);
        for run in &runs {
            let started = events(run, "run_started").len();
            attempts += started;
            cut_runs += started - events(run, "run_finished").len();
            cut_files += events(run, "file_started").len()
                - events(run, "file_finished").len()
                - events(run, "file_failed").len();
        }
    }
    // What the kills cut off, from the task logs: attempts that never
    // finished, and files started but never finished (killed mid-file).
    println!(
        "{test}: {attempts} attempts, {cut_runs} cut off by a kill, {cut_files} of them in the middle of a file"
    );
    assert!(
        cut_runs >= KILLS / 4 && cut_files >= 1,
        "the kills cut off only {cut_runs} runs ({cut_files} mid-file): the test did not test much (make files slower)"
    );
    for database in &databases {
        targets
            .assert_applied_once(database, 1001, 1000 + total)
            .await;
    }
    for server in servers.into_iter().flatten() {
        let (status, _) = server.terminate(Duration::from_secs(10)).await;
        assert!(status.success(), "a server exited with {status} on SIGTERM");
    }
    let lease_lost = cluster::count_in_logs(data.path(), "lease lost");
    println!(
        "{test}: done in {:.1} s; {lease_lost} runs abandoned on a lost lease (server logs)",
        started.elapsed().as_secs_f64()
    );
}

fn all_logs_of(dir: &Path, replicas: usize) -> String {
    (0..replicas)
        .map(|i| all_logs(&dir.join(format!("replica{i}"))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_the_only_server_on_sqlite_20_times_every_file_applied_once() {
    kill_and_restart("sqlite", Targets::sqlite(), None, 1, 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_one_of_two_replicas_on_postgres_20_times_every_file_applied_once() {
    let metadata = PgDatabase::create().await;
    let targets = Targets::postgres(DATABASES).await;
    kill_and_restart("postgres", targets, Some(&metadata), 2, 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_20_concurrent_rollouts_no_task_runs_twice() {
    const ROLLOUTS: u32 = 20;
    let started = Instant::now();
    let metadata = PgDatabase::create().await;
    let targets = Targets::postgres(DATABASES).await;
    let data = tempfile::tempdir().expect("temp dir");
    let key = master_key();
    let mut specs: Vec<ServerSpec> = (0..2)
        .map(|i| {
            let dir = data.path().join(format!("replica{i}"));
            std::fs::create_dir_all(&dir).expect("data dir");
            // A lease far longer than any run: a second claim of a run can
            // only come from a broken claim, never from an expired lease.
            ServerSpec::new(&format!("replica{i}"), &dir, Some(metadata.url.clone()))
                .env("ROLLGATE_WORKERS", "4")
                .env("ROLLGATE_LEASE_SECONDS", "60")
                .env("ROLLGATE_MAX_RUNNING_PER_ROLLOUT", "0")
                .env("ROLLGATE_MAX_RUNNING_PER_INSTANCE", "0")
                .env("ROLLGATE_MASTER_KEY", &key)
        })
        .collect();
    // Both replicas start at once on the fresh store, as a deployment of
    // two would: both migrate it and both find it without an admin.
    let (first, second) = specs.split_at_mut(1);
    let (a, b) = tokio::join!(first[0].start(), second[0].start());
    let servers = vec![a, b];
    let logs = || all_logs_of(data.path(), 2);
    let api = Api::login(&servers[0].base).await;
    let databases = targets.names(DATABASES);
    apply_workspace(&servers[0].base, &targets, &databases, data.path()).await;

    // Release n holds files 1001..=1000+n (a repository after n merges);
    // all 20 are submitted at once, each rollout and stage run sent to both
    // replicas at the same moment (a CI job retrying against the other).
    let targets = std::sync::Arc::new(targets);
    let databases = std::sync::Arc::new(databases);
    let mut handles = Vec::new();
    for n in 1..=ROLLOUTS {
        let (api, targets, databases) = (api.clone(), targets.clone(), databases.clone());
        let first = servers[(n % 2) as usize].base.clone();
        let second = servers[((n + 1) % 2) as usize].base.clone();
        handles.push(tokio::spawn(async move {
            let files = release_files(&targets, n, 1, 20);
            submit_rollout_twice(&api, [&first, &second], &files, &databases).await
        }));
    }
    let mut rollouts = Vec::new();
    let submitting = Instant::now();
    for handle in handles {
        rollouts.push(handle.await.expect("a submission panicked"));
    }
    println!(
        "concurrent: set up in {:.1} s, {ROLLOUTS} rollouts submitted in {:.1} s",
        (submitting - started).as_secs_f64(),
        submitting.elapsed().as_secs_f64()
    );
    wait_all_done(
        &api,
        &servers[1].base,
        &rollouts,
        Duration::from_secs(60),
        &logs,
    )
    .await;
    println!(
        "concurrent: all tasks DONE after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut finished: std::collections::BTreeMap<(String, String), usize> = Default::default();
    let mut workers = std::collections::BTreeSet::new();
    for rollout in &rollouts {
        let runs = runs(&api, &servers[0].base, rollout).await;
        assert_eq!(runs.len(), DATABASES, "{rollout}: one run per task");
        cluster::assert_one_done_run_per_task(rollout, &runs);
        for run in &runs {
            let started = events(run, "run_started");
            assert_eq!(
                (run.attempts, started.len()),
                (1, 1),
                "{}: claimed more than once: {:#?}",
                run.task,
                run.log
            );
            let database = started[0]["database"]
                .as_str()
                .expect("database")
                .to_string();
            workers.insert(started[0]["worker"].as_str().expect("worker").to_string());
            for file in events(run, "file_finished") {
                let version = file["version"].as_str().expect("version").to_string();
                *finished.entry((database.clone(), version)).or_default() += 1;
            }
        }
    }
    // Across all 200 tasks, each (database, file) was applied by exactly one.
    assert_eq!(
        finished.len(),
        DATABASES * ROLLOUTS as usize,
        "{finished:#?}"
    );
    assert!(finished.values().all(|&n| n == 1), "{finished:#?}");
    // Both replicas took part: the claim really raced across processes.
    let replicas: std::collections::BTreeSet<String> = workers
        .iter()
        .map(|w| {
            w.rsplit_once('-')
                .map_or(w.clone(), |(process, _)| process.to_string())
        })
        .collect();
    assert_eq!(replicas.len(), 2, "runs claimed by {workers:?}");
    println!(
        "concurrent: runs checked after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for database in databases.iter() {
        targets
            .assert_applied_once(database, 1001, 1000 + ROLLOUTS)
            .await;
    }
    println!(
        "concurrent: targets checked after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for server in servers {
        let (status, _) = server.terminate(Duration::from_secs(10)).await;
        assert!(
            status.success(),
            "a replica exited with {status} on SIGTERM"
        );
    }
    println!(
        "concurrent: stopped after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// `(status, count)` of the task runs in a stopped server's SQLite store;
/// asserts that no task is left RUNNING there either.
async fn run_statuses(data_dir: &Path) -> Vec<(String, i64)> {
    let url = format!(
        "sqlite://{}?mode=ro",
        data_dir.join("rollgate.db").display()
    );
    let mut store = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the metadata store");
    let count = |table: &str| {
        format!("SELECT status, COUNT(*) AS n FROM {table} GROUP BY status ORDER BY status")
    };
    let mut read = async |table: &str| -> Vec<(String, i64)> {
        sqlx::query(sqlx::AssertSqlSafe(count(table)))
            .fetch_all(&mut store)
            .await
            .unwrap_or_else(|e| panic!("read {table}: {e}"))
            .iter()
            .map(|r| (r.get::<String, _>("status"), r.get::<i64, _>("n")))
            .collect()
    };
    let tasks = read("tasks").await;
    assert!(
        tasks.iter().all(|(s, _)| s != "RUNNING"),
        "a stopped server left tasks RUNNING: {tasks:?}"
    );
    read("task_runs").await
}

/// Waits until at least one task of `rollouts` is RUNNING.
async fn wait_running(api: &Api, base: &str, rollouts: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while running(api, base, rollouts).await == 0 {
        assert!(Instant::now() < deadline, "no task started within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_rollout_exits_within_the_grace_period_and_leaves_no_run_running() {
    let targets = Targets::postgres(2).await;
    let data = tempfile::tempdir().expect("temp dir");
    let spec = |name: &str, grace: &str| {
        ServerSpec::new(name, data.path(), None)
            .env("ROLLGATE_WORKERS", "2")
            .env("ROLLGATE_LEASE_SECONDS", "60")
            .env("ROLLGATE_SHUTDOWN_GRACE_SECONDS", grace)
    };
    let logs = || all_logs(data.path());
    let databases = targets.names(2);

    // 1. A grace period long enough for the running tasks: they finish.
    let mut first = spec("first", "6");
    let server = first.start().await;
    let api = Api::login(&server.base).await;
    apply_workspace(&server.base, &targets, &databases, data.path()).await;
    let files = release_files(&targets, 1, 3, 400);
    let mut rollouts = vec![submit_rollout(&api, &server.base, &files, &databases).await];
    wait_running(&api, &server.base, &rollouts).await;
    let (status, took) = server.terminate(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "exit status {status} on SIGTERM:\n{}",
        logs()
    );
    assert!(
        took < Duration::from_secs(6 + 3),
        "stopping took {took:?}, more than the 6 s grace"
    );
    let statuses = run_statuses(data.path()).await;
    assert!(
        statuses
            .iter()
            .all(|(s, _)| s == "DONE" || s == "AVAILABLE"),
        "after a graceful stop every run is DONE or back to AVAILABLE, not {statuses:?}\n{}",
        logs()
    );
    assert!(
        statuses.iter().any(|(s, _)| s == "DONE"),
        "the running tasks finished within the grace period: {statuses:?}"
    );

    // 2. A grace period shorter than the running file: the run is released.
    let mut second = spec("second", "1");
    let server = second.start().await;
    let mut slow = release_files(&targets, 1, 3, 400);
    slow.push(targets.file(1004, false, 8000));
    rollouts.push(submit_rollout(&api, &server.base, &slow, &databases).await);
    // Wait until the 8 s statement runs on a target.
    let deadline = Instant::now() + Duration::from_secs(30);
    while targets.sessions_running("pg_sleep(8)").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the slow file did not start:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, took) = server.terminate(Duration::from_secs(10)).await;
    assert!(
        status.success(),
        "exit status {status} on SIGTERM:\n{}",
        logs()
    );
    assert!(
        took < Duration::from_secs(1 + 3),
        "stopping took {took:?}, more than the 1 s grace"
    );
    // The abandoned statement does not run on: its session was closed and
    // PostgreSQL rolls it back (client_connection_check_interval) long
    // before its 8 s are up, freeing the migration lock for the next claim.
    let deadline = Instant::now() + Duration::from_secs(3);
    while targets.sessions_running("pg_sleep(8)").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the cut-off statement still runs on the target 3 s after the server exited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let statuses = run_statuses(data.path()).await;
    assert!(
        statuses
            .iter()
            .all(|(s, _)| s == "DONE" || s == "AVAILABLE"),
        "a run cut off by the grace period goes back to AVAILABLE, not {statuses:?}\n{}",
        logs()
    );
    assert!(
        statuses.iter().any(|(s, _)| s == "AVAILABLE"),
        "the 8 s file cannot finish in a 1 s grace: {statuses:?}"
    );

    // 3. After a restart the released runs are claimed at once (no lease to
    // wait for) and the rollouts complete, every file applied once.
    let mut third = spec("third", "30");
    let server = third.start().await;
    wait_all_done(
        &api,
        &server.base,
        &rollouts,
        Duration::from_secs(30),
        &logs,
    )
    .await;
    for rollout in &rollouts {
        cluster::assert_one_done_run_per_task(rollout, &runs(&api, &server.base, rollout).await);
    }
    for database in &databases {
        targets.assert_applied_once(database, 1001, 1004).await;
    }
    let (status, _) = server.terminate(Duration::from_secs(35)).await;
    assert!(status.success());
}

/// Two rollouts of one database queued together, the first running a file
/// longer than the workers' migration-lock timeout (10 s): the second must
/// wait for the first rather than fail on the target's migration lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_rollout_of_a_busy_database_waits_instead_of_failing_on_its_lock() {
    let targets = Targets::postgres(1).await;
    let data = tempfile::tempdir().expect("temp dir");
    let mut spec = ServerSpec::new("server", data.path(), None)
        .env("ROLLGATE_WORKERS", "2")
        .env("ROLLGATE_MAX_RUNNING_PER_INSTANCE", "0");
    let server = spec.start().await;
    let logs = || all_logs(data.path());
    let api = Api::login(&server.base).await;
    let databases = targets.names(1);
    apply_workspace(&server.base, &targets, &databases, data.path()).await;
    let long = vec![targets.file(1001, true, 12_000)];
    let mut both = long.clone();
    both.push(targets.file(1002, false, 10));
    let rollouts = vec![
        submit_rollout(&api, &server.base, &long, &databases).await,
        submit_rollout(&api, &server.base, &both, &databases).await,
    ];
    wait_all_done(
        &api,
        &server.base,
        &rollouts,
        Duration::from_secs(40),
        &logs,
    )
    .await;
    targets.assert_applied_once(&databases[0], 1001, 1002).await;
    let (status, _) = server.terminate(Duration::from_secs(35)).await;
    assert!(status.success());
}
