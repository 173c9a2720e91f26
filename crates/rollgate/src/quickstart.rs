//! `rollgate quickstart`: the whole GitOps flow on one machine, narrated.
//!
//! It starts a real server in this process (embedded SQLite metadata in a
//! fresh directory, real workers), two target databases standing for Test
//! and Prod (SQLite files, or databases created on the PostgreSQL server of
//! `--postgres`), applies the bundled `examples/quickstart/workspace.toml`
//! through the API like `rollgate workspace apply`, and then does what CI
//! would, over HTTP, as the `ci` service account: check a migration (a
//! COLUMN_NO_NULL warning), check the fixed one, create a release, plan and
//! roll it out to Test; then Prod, which only a Project Releaser may run.
//! Nothing is faked: every step is the same API call a pipeline makes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rollgate_engine::TargetUrl;
use rollgate_engine::scratch::Scratch;
use serde_json::{Value, json};

use crate::cli::QuickstartArgs;
use crate::client::Client;
use crate::workspace_cmd;

const WORKSPACE: &str = include_str!("../../../examples/quickstart/workspace.toml");
const FIRST_DRAFT: (&str, &str) = (
    "migrations/202505121650_create_table_t1.sql",
    include_str!("../../../examples/quickstart/migrations/202505121650_create_table_t1.sql"),
);
const FIXED: &str =
    include_str!("../../../examples/quickstart/fixed/202505121650_create_table_t1.sql");
const LATER: [(&str, &str); 2] = [
    (
        "migrations/202505131000_add_email_to_t1.sql",
        include_str!("../../../examples/quickstart/migrations/202505131000_add_email_to_t1.sql"),
    ),
    (
        "migrations/202505141200_backfill_email_dml.sql",
        include_str!("../../../examples/quickstart/migrations/202505141200_backfill_email_dml.sql"),
    ),
];

const ADMIN_EMAIL: &str = "admin@rollgate.local";
const RELEASER_EMAIL: &str = "releaser@example.com";
const CI_ACCOUNT: &str = "ci@service.rollgate.local";
/// How long a stage may take before quickstart gives up waiting.
const STAGE_TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(args: QuickstartArgs) -> anyhow::Result<u8> {
    crate::client::install_crypto_provider();
    crate::db::runtime()?.block_on(quickstart(args))
}

/// Where the targets live, and how to clean them up.
struct Targets {
    engine: &'static str,
    test_url: String,
    prod_url: String,
    test_database: String,
    prod_database: String,
    scratch: Vec<Scratch>,
}

async fn quickstart(args: QuickstartArgs) -> anyhow::Result<u8> {
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => fresh_dir()?,
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; pass another address with --listen (e.g. 127.0.0.1:0)",
                args.listen
            )
        })?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");

    let targets = targets(&args, &data_dir).await?;
    let admin_password = secret("admin");
    let releaser_password = secret("releaser");
    let (ci_key, _) =
        rollgate_auth::token::generate(rollgate_auth::token::TokenKind::ServiceAccount);
    let ci_key = ci_key.expose().to_string();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = rollgate_server::ServerConfig {
        listen: address,
        data_dir: data_dir.clone(),
        metadata_url: None,
        body_limit: rollgate_server::DEFAULT_BODY_LIMIT,
    };
    let admin = rollgate_server::AdminCredentials {
        email: ADMIN_EMAIL.into(),
        password: admin_password.clone(),
    };
    let workers = rollgate_server::worker::WorkerConfig::default();
    let server = tokio::spawn(rollgate_server::serve(
        config,
        workers,
        listener,
        Some(admin),
        async move {
            let _ = stopped.await;
        },
    ));

    step(&format!(
        "Started a Rollgate server at {url} (embedded storage in {})",
        data_dir.display()
    ));
    let flow = async {
        wait_ready(&url).await?;
        flow(&url, &targets, &admin_password, &releaser_password, &ci_key).await
    };
    let outcome = flow.await;

    if outcome.is_ok() && !args.once {
        println!();
        println!("The server keeps running at {url}; press Ctrl-C to stop it.");
        println!("  admin:    {ADMIN_EMAIL} / {admin_password}");
        println!("  releaser: {RELEASER_EMAIL} / {releaser_password}");
        println!("  CI key:   {CI_ACCOUNT} / {ci_key}");
        println!(
            "  try:      rollgate workspace export --url {url} --service-account {ADMIN_EMAIL} --service-account-secret '{admin_password}'"
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(());
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("warning: the server stopped with an error: {error:#}"),
        Err(error) => eprintln!("warning: the server task failed: {error}"),
    }
    if args.once {
        for scratch in targets.scratch {
            if let Err(error) = scratch.drop_database().await {
                eprintln!("warning: could not drop a quickstart database: {error}");
            }
        }
        if args.data_dir.is_none() {
            let _ = std::fs::remove_dir_all(&data_dir);
        }
    }
    outcome.map(|()| crate::EXIT_OK)
}

/// The narrated flow, over HTTP.
async fn flow(
    url: &str,
    targets: &Targets,
    admin_password: &str,
    releaser_password: &str,
    ci_key: &str,
) -> anyhow::Result<()> {
    // 1. The platform team declares the workspace.
    let admin = Client::login(url, ADMIN_EMAIL, admin_password).await?;
    step("Applying the bundled workspace.toml (rollgate workspace apply):");
    let text = workspace_text(targets);
    let env = |name: &str| -> Option<String> {
        match name {
            "QUICKSTART_TEST_URL" => Some(targets.test_url.clone()),
            "QUICKSTART_PROD_URL" => Some(targets.prod_url.clone()),
            "QUICKSTART_RELEASER_PASSWORD" => Some(releaser_password.to_string()),
            "QUICKSTART_CI_KEY" => Some(ci_key.to_string()),
            _ => None,
        }
    };
    let desired = workspace_cmd::parse_file("examples/quickstart/workspace.toml", &text, &env)?;
    let secrets_env: workspace_cmd::SecretLookup = {
        let releaser = releaser_password.to_string();
        let key = ci_key.to_string();
        Box::new(move |name| match name {
            "QUICKSTART_RELEASER_PASSWORD" => Some(releaser.clone()),
            "QUICKSTART_CI_KEY" => Some(key.clone()),
            _ => None,
        })
    };
    workspace_cmd::check_secret_variables(&desired, &*secrets_env)?;
    let mut out = Vec::new();
    let applied = workspace_cmd::apply_workspace(
        &admin,
        &desired,
        workspace_cmd::Options {
            prune: false,
            dry_run: false,
            caller: ADMIN_EMAIL.into(),
            secrets: secrets_env,
        },
        &mut out,
    )
    .await;
    print_indented(&String::from_utf8_lossy(&out));
    applied?;

    // 2. CI, on a merge request: check the new file against every target.
    let ci = Client::login(url, CI_ACCOUNT, ci_key).await?;
    let project = "/api/v1/projects/shop";
    let all_targets = vec![
        format!(
            "instances/test-instance/databases/{}",
            targets.test_database
        ),
        format!(
            "instances/prod-instance/databases/{}",
            targets.prod_database
        ),
    ];
    step(&format!(
        "CI checks {} against Test and Prod (POST {project}/releases:check):",
        FIRST_DRAFT.0
    ));
    let draft = vec![file(FIRST_DRAFT.0, FIRST_DRAFT.1)?];
    let checked = ci
        .post(
            &format!("{project}/releases:check"),
            &json!({ "files": draft, "targets": all_targets }),
        )
        .await?;
    print_check(&checked, "COLUMN_NO_NULL");
    let flagged = advices(&checked)
        .iter()
        .any(|a| a["rule"] == "COLUMN_NO_NULL");
    anyhow::ensure!(
        flagged,
        "the review did not flag the nullable column (COLUMN_NO_NULL); the check returned: {checked}"
    );
    println!("  → the author makes `name` NOT NULL and pushes again.");

    step("CI checks the fixed file and the two files after it:");
    let mut files = vec![file(FIRST_DRAFT.0, FIXED)?];
    for (path, text) in LATER {
        files.push(file(path, text)?);
    }
    let checked = ci
        .post(
            &format!("{project}/releases:check"),
            &json!({ "files": files, "targets": all_targets }),
        )
        .await?;
    print_check(&checked, "COLUMN_NO_NULL");
    anyhow::ensure!(
        checked["summary"]["error"].as_u64() == Some(0)
            && !advices(&checked)
                .iter()
                .any(|a| a["rule"] == "COLUMN_NO_NULL"),
        "the fixed files should pass the review without errors; the check returned: {checked}"
    );

    // 3. CI, on merge to main: release, plan, rollout.
    step("The merge request is merged: CI creates a release, a plan and its rollout:");
    let release = ci
        .post(
            &format!("{project}/releases"),
            &json!({
                "files": files,
                "vcs": {
                    "commitSha": "0000000000000000000000000000000000000000",
                    "commitUrl": "",
                    "mergeRequestUrl": "",
                    "author": "quickstart",
                },
            }),
        )
        .await?;
    let release_name = text_of(&release, "name")?;
    println!("  release  {release_name} ({} files)", files.len());
    let plan = ci
        .post(
            &format!("{project}/plans"),
            &json!({ "release": release_name, "targets": all_targets }),
        )
        .await?;
    let plan_name = text_of(&plan, "name")?;
    println!("  plan     {plan_name}");
    let rollout = ci
        .post(&format!("/api/v1/{plan_name}/rollout"), &json!({}))
        .await?;
    let rollout_name = text_of(&rollout, "name")?;
    for stage in rollout["stages"].as_array().into_iter().flatten() {
        let tasks: Vec<&str> = stage["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["target"].as_str())
            .collect();
        println!(
            "  rollout  {rollout_name}, stage {}: {}",
            stage["id"].as_str().unwrap_or("?"),
            tasks.join(", ")
        );
    }

    // 4. Test first.
    step("CI runs the Test stage (automatic rollout policy):");
    run_stage(&ci, &rollout_name, "test").await?;

    // 5. Prod is manual: CI may not run it; a releaser does.
    step("CI tries the Prod stage:");
    match ci
        .post(
            &format!("/api/v1/{rollout_name}/stages/prod/tasks:run"),
            &json!({}),
        )
        .await
    {
        Err(error) => println!("  refused, as it should be: {}", first_line(&error)),
        Ok(body) => {
            anyhow::bail!("the CI service account was allowed to run the manual Prod stage: {body}")
        }
    }
    step(&format!(
        "{RELEASER_EMAIL} (Project Releaser) runs the Prod stage:"
    ));
    let releaser = Client::login(url, RELEASER_EMAIL, releaser_password).await?;
    run_stage(&releaser, &rollout_name, "prod").await?;

    // 6. What was applied where.
    step("The changelog, read from each target's own history table:");
    for (instance, database) in [
        ("test-instance", &targets.test_database),
        ("prod-instance", &targets.prod_database),
    ] {
        let changelog = releaser
            .get(&format!(
                "{project}/databases/{database}/changelog?instance={instance}"
            ))
            .await?;
        for target in changelog["changelogs"].as_array().into_iter().flatten() {
            println!("  {}", target["target"].as_str().unwrap_or("?"));
            if let Some(error) = target["error"].as_str() {
                anyhow::bail!("cannot read the changelog of {instance}: {error}");
            }
            for entry in target["entries"].as_array().into_iter().flatten() {
                println!(
                    "    {:<14} {:<40} {:<9} {}",
                    entry["version"].as_str().unwrap_or("?"),
                    entry["fileName"].as_str().unwrap_or("?"),
                    entry["status"].as_str().unwrap_or("?"),
                    entry["release"].as_str().unwrap_or("-"),
                );
            }
        }
    }
    step(&format!(
        "Done: the {} targets hold the release, each file applied once ({}).",
        targets.engine,
        if targets.engine == "sqlite" {
            "SQLite files standing for Test and Prod"
        } else {
            "databases on your PostgreSQL server"
        }
    ));
    Ok(())
}

/// Runs a stage's tasks and waits until every task is DONE, printing each
/// task's log; an error when one fails.
async fn run_stage(client: &Client, rollout: &str, stage: &str) -> anyhow::Result<()> {
    client
        .post(
            &format!("/api/v1/{rollout}/stages/{stage}/tasks:run"),
            &json!({}),
        )
        .await?;
    let started = Instant::now();
    loop {
        let current = client.get(&format!("/api/v1/{rollout}")).await?;
        let tasks: Vec<Value> = current["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["id"] == stage)
            .flat_map(|s| s["tasks"].as_array().cloned().unwrap_or_default())
            .collect();
        let finished = tasks.iter().all(|t| {
            matches!(
                t["status"].as_str(),
                Some("DONE" | "FAILED" | "SKIPPED" | "CANCELED")
            )
        });
        if finished && !tasks.is_empty() {
            let mut failed = false;
            for task in &tasks {
                let status = task["status"].as_str().unwrap_or("?");
                println!("  {} {status}", task["target"].as_str().unwrap_or("?"));
                print_task_log(client, task).await?;
                failed |= status == "FAILED";
            }
            anyhow::ensure!(
                !failed,
                "a task of stage `{stage}` failed; its log is above"
            );
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < STAGE_TIMEOUT,
            "stage `{stage}` did not finish within {} s",
            STAGE_TIMEOUT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn print_task_log(client: &Client, task: &Value) -> anyhow::Result<()> {
    let Some(task_name) = task["name"].as_str() else {
        return Ok(());
    };
    let runs = client.get(&format!("/api/v1/{task_name}/taskRuns")).await?;
    let Some(run) = runs["taskRuns"].as_array().and_then(|r| r.last()) else {
        return Ok(());
    };
    let Some(run_name) = run["name"].as_str() else {
        return Ok(());
    };
    let log = client.get(&format!("/api/v1/{run_name}/log")).await?;
    for entry in log["entries"].as_array().into_iter().flatten() {
        match entry["event"].as_str() {
            Some("file_finished") => println!(
                "    applied {} in {} ms",
                entry["file"].as_str().unwrap_or("?"),
                entry["duration_ms"].as_u64().unwrap_or(0)
            ),
            Some("file_failed") => println!(
                "    FAILED  {}: {}",
                entry["file"].as_str().unwrap_or("?"),
                entry["error"].as_str().unwrap_or("?")
            ),
            _ => {}
        }
    }
    Ok(())
}

fn advices(checked: &Value) -> Vec<Value> {
    checked["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["advices"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// One line per (file, target) with its status, risk and the rules that
/// fired; the full message only for errors and for `highlight`.
fn print_check(checked: &Value, highlight: &str) {
    for result in checked["results"].as_array().into_iter().flatten() {
        let advices = result["advices"].as_array().cloned().unwrap_or_default();
        let mut rules: Vec<&str> = advices.iter().filter_map(|a| a["rule"].as_str()).collect();
        rules.dedup();
        println!(
            "  {} → {}: {}, risk {}{}",
            result["file"].as_str().unwrap_or("?"),
            result["target"].as_str().unwrap_or("?"),
            result["status"].as_str().unwrap_or("?"),
            result["riskLevel"].as_str().unwrap_or("-"),
            if rules.is_empty() {
                String::new()
            } else {
                format!(", {} advice(s): {}", advices.len(), rules.join(", "))
            }
        );
        for advice in &advices {
            if advice["level"] == "ERROR" || advice["rule"] == highlight {
                println!(
                    "      {}[{}] line {}: {}",
                    advice["level"].as_str().unwrap_or("?").to_lowercase(),
                    advice["rule"].as_str().unwrap_or("?"),
                    advice["line"],
                    advice["content"].as_str().unwrap_or("")
                );
            }
        }
    }
    println!(
        "  summary: {} error(s), {} warning(s); a review error would fail the CI job",
        checked["summary"]["error"], checked["summary"]["warning"]
    );
}

/// A release file as the API takes it; version and change type from its name.
fn file(path: &str, statement: &str) -> anyhow::Result<Value> {
    let name = Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path);
    let parsed = rollgate_migration::parse_file_name(name)
        .with_context(|| format!("{path}: not a migration file name"))?;
    Ok(json!({
        "path": path,
        "version": parsed.version.to_string(),
        "changeType": parsed.change_type.as_str(),
        "statement": statement,
    }))
}

fn text_of(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the server's response lacks `{field}`: {value}"))
}

/// The bundled workspace with this run's engine and database names.
fn workspace_text(targets: &Targets) -> String {
    WORKSPACE
        .replace(
            "engine = \"sqlite\"",
            &format!("engine = \"{}\"", targets.engine),
        )
        .replace("shop_test", &targets.test_database)
        .replace("shop_prod", &targets.prod_database)
}

async fn targets(args: &QuickstartArgs, data_dir: &Path) -> anyhow::Result<Targets> {
    match &args.postgres {
        None => {
            let test = data_dir.join("targets").join("test");
            let prod = data_dir.join("targets").join("prod");
            for dir in [&test, &prod] {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            Ok(Targets {
                engine: "sqlite",
                test_url: format!("sqlite://{}", test.display()),
                prod_url: format!("sqlite://{}", prod.display()),
                test_database: "shop_test".into(),
                prod_database: "shop_prod".into(),
                scratch: Vec::new(),
            })
        }
        Some(url) => {
            let server = TargetUrl::parse(url)?;
            anyhow::ensure!(
                server.kind() == rollgate_engine::EngineKind::Postgres,
                "--postgres takes a postgres:// URL, not {}",
                server.redacted()
            );
            let test = Scratch::create_prefixed(&server, "rollgate_quickstart_test").await?;
            let prod = Scratch::create_prefixed(&server, "rollgate_quickstart_prod").await?;
            step(&format!(
                "Created the target databases {} and {} on {}",
                test.database(),
                prod.database(),
                server.redacted()
            ));
            Ok(Targets {
                engine: "postgres",
                test_url: url.clone(),
                prod_url: url.clone(),
                test_database: test.database().to_string(),
                prod_database: prod.database().to_string(),
                scratch: vec![test, prod],
            })
        }
    }
}

async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        if let Ok(response) = http.get(format!("{url}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the server at {url} did not become ready within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fresh_dir() -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "rollgate-quickstart-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A random password for a quickstart account (printed when the server
/// stays up, since this is a local demo).
fn secret(who: &str) -> String {
    let (token, _) = rollgate_auth::token::generate(rollgate_auth::token::TokenKind::Session);
    format!("{who}-{}", &token.expose()[4..20])
}

fn step(message: &str) {
    println!("\n▸ {message}");
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("  {}", line.trim_start());
    }
}

fn first_line(error: &anyhow::Error) -> String {
    error.to_string().lines().next().unwrap_or("").to_string()
}
