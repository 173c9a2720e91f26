//! `cargo xtask bench-server`: the server's load test from issue 4. Starts
//! the release `rollgate server` on embedded storage, times its start-up
//! (spawn → `/readyz` answers 200), sets up one project with two PostgreSQL
//! target databases through the API, reads its idle RSS, then sends C
//! concurrent `releases:check` calls of F files each (a generated corpus)
//! against both targets and reports latency percentiles, errors and peak RSS.
//! The peer measured in the same run is `rollgate lint` reviewing the same
//! files once on the command line: the ratio says what a check through the
//! server costs over a local review (it reviews per target, reads history
//! and the live schema, estimates affected rows).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{ensure_corpus, median, run_to_completion, target_dir, workspace_root};

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const ADMIN: &str = "bench@example.com";
const ADMIN_PASSWORD: &str = "bench password 1";

pub(crate) struct ServerBenchArgs {
    requests: usize,
    files: usize,
    runs: usize,
    seed: u64,
}

impl ServerBenchArgs {
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<ServerBenchArgs> {
        let mut parsed = ServerBenchArgs {
            requests: 200,
            files: 50,
            runs: 3,
            seed: 42,
        };
        while let Some(flag) = args.next() {
            let mut value = |name: &str| -> Result<usize> {
                let text = args
                    .next()
                    .with_context(|| format!("{name} needs a value"))?;
                text.parse()
                    .with_context(|| format!("{name} takes a number, not `{text}`"))
            };
            match flag.as_str() {
                "--requests" => parsed.requests = value("--requests")?,
                "--files" => parsed.files = value("--files")?,
                "--runs" => parsed.runs = value("--runs")?.max(1),
                "--seed" => parsed.seed = value("--seed")? as u64,
                other => bail!("unknown bench-server argument `{other}`"),
            }
        }
        Ok(parsed)
    }
}

fn step(message: &str) {
    eprintln!("bench-server: {message}");
}

pub(crate) fn bench_server(args: &ServerBenchArgs) -> Result<()> {
    let workspace = workspace_root();
    let target = target_dir(&workspace);
    let bench_dir = target.join("bench");
    std::fs::create_dir_all(&bench_dir)?;
    let generator = workspace.join("../shared/gen_corpus.py");
    if !generator.is_file() {
        bail!("corpus generator not found at {}", generator.display());
    }
    step("building rollgate (release)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_to_completion(Command::new(cargo).current_dir(&workspace).args([
        "build",
        "--release",
        "-p",
        "rollgate",
    ]))?;
    let rollgate = target.join("release/rollgate");
    let corpus_name = format!("corpus-{}", args.files);
    let corpus = ensure_corpus(&generator, &bench_dir, &corpus_name, args.files, args.seed)?;
    let corpus_dir = bench_dir.join(&corpus.name);
    let files = load_files(&corpus_dir)?;

    let pid = std::process::id();
    let databases = [
        format!("rgbench_srv_{pid}_a"),
        format!("rgbench_srv_{pid}_b"),
    ];
    for db in &databases {
        psql(&format!("CREATE DATABASE {db}"))?;
    }
    let result = (|| -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let data_dir = bench_dir.join(format!("server-{pid}"));
        let _ = std::fs::remove_dir_all(&data_dir);
        let port = free_port()?;

        step("starting the server (first start: creates the store and the master key)");
        let (mut server, first_start) = start(&rollgate, &data_dir, port)?;
        let url = format!("http://127.0.0.1:{port}");
        let started_rss = rss_kib(server.id(), "VmRSS")?;
        let report = runtime.block_on(async {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(args.requests)
                .build()?;
            let token = login(&client, &url).await?;
            setup(&client, &url, &token, &databases).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let idle_rss = rss_kib(server.id(), "VmRSS")?;
            let body = Arc::new(json!({
                "files": files,
                "targets": databases.iter().map(|d| format!("instances/pg/databases/{d}")).collect::<Vec<_>>(),
            }));
            step("one check at a time (5 calls)");
            let mut single = Vec::new();
            for _ in 0..5 {
                let started = Instant::now();
                let (status, text) = check(&client, &url, &token, &body).await?;
                if status != 200 {
                    bail!("a single check failed with {status}: {text}");
                }
                single.push(started.elapsed().as_secs_f64());
            }
            let mut runs = Vec::new();
            for run in 1..=args.runs {
                step(&format!("run {run}/{}: {} concurrent checks", args.runs, args.requests));
                runs.push(load(&client, &url, &token, &body, args.requests).await?);
            }
            let peak_rss = rss_kib(server.id(), "VmHWM")?;
            anyhow::Ok((idle_rss, single, runs, peak_rss))
        });
        stop(&mut server);
        let (idle_rss, single, runs, peak_rss) = report?;

        step("restarting on the existing store");
        let (mut again, restart) = start(&rollgate, &data_dir, port)?;
        stop(&mut again);
        let _ = std::fs::remove_dir_all(&data_dir);

        step("peer: rollgate lint on the same files (5 runs)");
        let mut lint = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let status = Command::new(&rollgate)
                .args([
                    "lint",
                    "--template",
                    "basic",
                    "--fail-on",
                    "never",
                    "--format",
                    "json",
                    "--file-pattern",
                ])
                .arg(format!("{}/*.sql", corpus.name))
                .current_dir(&bench_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if !status.success() {
                bail!("rollgate lint failed ({status})");
            }
            lint.push(started.elapsed().as_secs_f64());
        }

        let p = |pick: fn(&LoadRun) -> f64| median(&runs.iter().map(pick).collect::<Vec<_>>());
        let errors: usize = runs.iter().map(|r| r.errors).sum();
        let single_median = median(&single);
        let lint_median = median(&lint);
        println!(
            "== bench-server: {} concurrent releases:check × {} files × 2 targets ==",
            args.requests, args.files
        );
        println!(
            "command: cargo xtask bench-server --requests {} --files {} --runs {}",
            args.requests, args.files, args.runs
        );
        println!("corpus: {}", corpus.generate_command);
        println!(
            "start-up, first start (new store, new key): {:.0} ms",
            first_start * 1e3
        );
        println!(
            "start-up, restart on the existing store:    {:.0} ms",
            restart * 1e3
        );
        println!(
            "RSS when ready: {:.1} MiB; idle RSS after login and setup: {:.1} MiB; peak RSS under load: {:.1} MiB",
            started_rss as f64 / 1024.0,
            idle_rss as f64 / 1024.0,
            peak_rss as f64 / 1024.0
        );
        println!(
            "one check alone (median of 5): {:.1} ms",
            single_median * 1e3
        );
        println!(
            "peer rollgate lint, same files, one target (median of 5): {:.1} ms",
            lint_median * 1e3
        );
        println!(
            "ratio one check (2 targets) / lint (1 review): {:.2}x",
            single_median / lint_median
        );
        for (i, run) in runs.iter().enumerate() {
            println!(
                "run {}: wall {:.2} s, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms, errors {}",
                i + 1,
                run.wall,
                run.p50 * 1e3,
                run.p99 * 1e3,
                run.max * 1e3,
                run.errors
            );
        }
        println!(
            "median over runs: p50 {:.0} ms, p99 {:.0} ms, wall {:.2} s ({:.0} checks/s), errors {errors}",
            p(|r| r.p50) * 1e3,
            p(|r| r.p99) * 1e3,
            p(|r| r.wall),
            args.requests as f64 / p(|r| r.wall)
        );
        if errors > 0 {
            bail!("{errors} checks failed");
        }
        Ok(())
    })();
    for db in &databases {
        let _ = psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    }
    result
}

struct LoadRun {
    wall: f64,
    p50: f64,
    p99: f64,
    max: f64,
    errors: usize,
}

async fn load(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Arc<Value>,
    requests: usize,
) -> Result<LoadRun> {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(requests);
    for _ in 0..requests {
        let (client, url, token, body) = (
            client.clone(),
            url.to_string(),
            token.to_string(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let outcome = check(&client, &url, &token, &body).await;
            (began.elapsed().as_secs_f64(), outcome)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    for task in tasks {
        let (latency, outcome) = task.await?;
        latencies.push(latency);
        match outcome {
            Ok((200, text)) if !text.contains("TARGET_UNREACHABLE") => {}
            Ok((status, text)) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!(
                        "bench-server: a check failed with {status}: {}",
                        &text[..text.len().min(300)]
                    );
                }
            }
            Err(error) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("bench-server: a check failed: {error:#}");
                }
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    Ok(LoadRun {
        wall,
        p50: at(0.50),
        p99: at(0.99),
        max: *latencies.last().unwrap_or(&0.0),
        errors,
    })
}

async fn check(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> Result<(u16, String)> {
    let response = client
        .post(format!("{url}/api/v1/projects/bench/releases:check"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

async fn login(client: &reqwest::Client, url: &str) -> Result<String> {
    let response: Value = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({ "email": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(response["token"].as_str().context("no token")?.to_string())
}

async fn setup(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    databases: &[String],
) -> Result<()> {
    let post = |path: &str, body: Value| {
        let request = client
            .post(format!("{url}/api/v1{path}"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            if !status.is_success() {
                bail!("setup {status}: {text}");
            }
            anyhow::Ok(())
        }
    };
    post("/environments", json!({ "id": "test" })).await?;
    post(
        "/instances",
        json!({ "id": "pg", "engine": "postgres", "url": format!("{PG}/postgres"), "environment": "test" }),
    )
    .await?;
    for db in databases {
        post("/instances/pg/databases", json!({ "name": db })).await?;
    }
    post("/projects", json!({ "id": "bench" })).await?;
    let names: Vec<String> = databases
        .iter()
        .map(|d| format!("instances/pg/databases/{d}"))
        .collect();
    let response = client
        .patch(format!("{url}/api/v1/projects/bench"))
        .bearer_auth(token)
        .json(&json!({ "databases": names }))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("setup: {}", response.text().await?);
    }
    Ok(())
}

/// The corpus as release files, in version order.
fn load_files(dir: &Path) -> Result<Vec<Value>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let version: String = name.chars().take_while(char::is_ascii_digit).collect();
            if version.is_empty() {
                bail!("{name}: no version");
            }
            let change_type = if name.ends_with("_dml.sql") {
                "DML"
            } else {
                "DDL"
            };
            Ok(json!({
                "path": format!("migrations/{name}"),
                "version": version,
                "changeType": change_type,
                "statement": std::fs::read_to_string(dir.join(name))?,
            }))
        })
        .collect()
}

/// Starts the server and returns it with the time until `/readyz` answered 200.
fn start(rollgate: &Path, data_dir: &Path, port: u16) -> Result<(Child, f64)> {
    let started = Instant::now();
    let child = Command::new(rollgate)
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env("ROLLGATE_ADMIN_EMAIL", ADMIN)
        .env("ROLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("ROLLGATE_MASTER_KEY")
        .env_remove("ROLLGATE_METADATA_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start rollgate server")?;
    loop {
        if ready(port) {
            return Ok((child, started.elapsed().as_secs_f64()));
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server did not become ready within 30 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn rss_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn psql(sql: &str) -> Result<()> {
    let output = Command::new("psql")
        .args([
            &format!("{PG}/postgres"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ])
        .output()
        .context("cannot run psql")?;
    if !output.status.success() {
        bail!(
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
