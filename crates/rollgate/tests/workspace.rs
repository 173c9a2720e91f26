//! `rollgate workspace apply` and `export` against a real `rollgate server`
//! process: the first apply creates everything, the second changes nothing,
//! edits become updates, `--prune` deletes, export writes the same format
//! without secrets, and bad input fails before anything is applied.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery";

struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server() -> Server {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path())
        .env("ROLLGATE_ADMIN_EMAIL", ADMIN)
        .env("ROLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ROLLGATE_WORKERS", "0")
        .env_remove("ROLLGATE_MASTER_KEY")
        .env_remove("ROLLGATE_METADATA_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rollgate server starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server did not listen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _data: data,
    }
}

/// Runs `rollgate workspace <args>` as the admin, with `env` set.
fn workspace(server: &Server, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
    command
        .arg("workspace")
        .args(args)
        .args(["--url", &server.url, "--service-account", ADMIN])
        .env("ROLLGATE_SERVICE_ACCOUNT_SECRET", ADMIN_PASSWORD);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write_workspace(dir: &Path, pg_database: &str, with_bob: bool, prod_template: &str) -> String {
    let mut toml = format!(
        r#"
[[environments]]
id = "test"
title = "Test"
rollout = "automatic"

[[environments]]
id = "prod"
title = "Prod"
rollout = {{ manual = ["roles/projectReleaser"] }}

[[instances]]
id = "lite"
engine = "sqlite"
url = "${{LITE_URL}}"
environment = "test"

[[instances]]
id = "pg"
engine = "postgres"
url = "postgres://postgres:${{PG_PASSWORD}}@127.0.0.1:5432/postgres"
environment = "prod"

[[databases]]
instance = "lite"
name = "app"

[[databases]]
instance = "pg"
name = "{pg_database}"

[[projects]]
id = "shop"
title = "Shop"
databases = ["instances/lite/databases/app", "instances/pg/databases/{pg_database}"]

[[review_policies]]
attach = ["environments/prod"]
[review_policies.review]
template = "{prod_template}"

[[service_accounts]]
name = "ci"
roles = ["roles/gitopsServiceAgent"]
"#
    );
    if with_bob {
        toml.push_str(
            r#"
[[users]]
email = "bob@example.com"
roles = ["roles/projectReleaser"]
password_env = "BOB_PASSWORD"
"#,
        );
    }
    let path = dir.join("workspace.toml");
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}

#[test]
fn apply_converges_idempotently_and_export_round_trips() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let lite_url = format!("sqlite://{}", dir.path().join("targets").display());
    let env = [
        ("LITE_URL", lite_url.as_str()),
        ("PG_PASSWORD", "first-secret"),
        ("BOB_PASSWORD", "bob's password 1"),
    ];
    let file = write_workspace(dir.path(), "app", true, "basic");

    // A dry run lists the changes and applies nothing.
    let dry = workspace(&server, &["apply", "--file", &file, "--dry-run"], &env);
    let out = text(&dry);
    assert!(dry.status.success(), "{out}");
    assert!(out.contains("+ create environments/test"), "{out}");
    assert!(out.contains("+ create users/bob@example.com"), "{out}");
    assert!(out.contains("dry run, nothing applied"), "{out}");
    let export = workspace(&server, &["export"], &[]);
    assert!(!text(&export).contains("environments"), "{}", text(&export));

    // The first apply creates everything; the generated key is shown once.
    let first = workspace(&server, &["apply", "--file", &file], &env);
    let out = text(&first);
    assert!(first.status.success(), "{out}");
    assert!(
        out.contains("applied 10 created, 0 updated, 0 deleted"),
        "{out}"
    );
    assert!(
        out.contains("key of ci@service.rollgate.local (shown once, store it now): rgs_"),
        "{out}"
    );
    assert!(!out.contains("first-secret"), "a secret was printed: {out}");

    // The second changes nothing.
    let second = workspace(&server, &["apply", "--file", &file], &env);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("up to date, nothing to change"),
        "{}",
        text(&second)
    );

    // bob logs in with the password from BOB_PASSWORD.
    let bob = workspace(&server, &["export"], &[]);
    assert!(bob.status.success());
    let login = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["workspace", "export", "--url", &server.url])
        .args(["--service-account", "bob@example.com"])
        .env("ROLLGATE_SERVICE_ACCOUNT_SECRET", "bob's password 1")
        .output()
        .unwrap();
    // bob may log in; a releaser may not list the workspace.
    assert!(
        text(&login).contains("PERMISSION_DENIED"),
        "{}",
        text(&login)
    );

    // A changed password in the URL, a changed policy and a dropped user.
    let file = write_workspace(dir.path(), "app", false, "advanced");
    let changed_env = [
        ("LITE_URL", lite_url.as_str()),
        ("PG_PASSWORD", "second-secret"),
    ];
    let third = workspace(&server, &["apply", "--file", &file], &changed_env);
    let out = text(&third);
    assert!(third.status.success(), "{out}");
    assert!(out.contains("~ update instances/pg (url)"), "{out}");
    assert!(
        out.contains("~ update environments/prod/reviewPolicy"),
        "{out}"
    );
    assert!(
        !out.contains("delete users/bob"),
        "no prune, no delete: {out}"
    );
    let pruned = workspace(
        &server,
        &["apply", "--file", &file, "--prune"],
        &changed_env,
    );
    let out = text(&pruned);
    assert!(pruned.status.success(), "{out}");
    assert!(out.contains("- delete users/bob@example.com"), "{out}");
    // The admin applying is never pruned.
    assert!(out.contains("keep users/admin@example.com"), "{out}");
    assert!(out.contains("0 created, 0 updated, 1 deleted"), "{out}");

    // Export: the same format, the password redacted.
    let export = workspace(&server, &["export"], &[]);
    let exported = String::from_utf8_lossy(&export.stdout).to_string();
    assert!(export.status.success(), "{}", text(&export));
    assert!(exported.contains("[[environments]]"), "{exported}");
    assert!(exported.contains("id = \"prod\""), "{exported}");
    assert!(exported.contains("template = \"advanced\""), "{exported}");
    assert!(!exported.contains("second-secret"), "{exported}");
    assert!(exported.contains(&lite_url), "{exported}");
}

#[test]
fn bad_input_fails_before_anything_is_applied() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let file = write_workspace(dir.path(), "app", true, "basic");

    // A missing ${VAR} names the setting; exit 2, nothing applied.
    let missing = workspace(&server, &["apply", "--file", &file], &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("LITE_URL"), "{}", text(&missing));
    assert!(
        text(&missing).contains("nothing was applied"),
        "{}",
        text(&missing)
    );

    // A missing password_env variable: the same.
    let lite = format!("sqlite://{}", dir.path().display());
    let env = [("LITE_URL", lite.as_str()), ("PG_PASSWORD", "x")];
    let no_password = workspace(&server, &["apply", "--file", &file], &env);
    assert_eq!(no_password.status.code(), Some(2), "{}", text(&no_password));
    assert!(
        text(&no_password).contains("BOB_PASSWORD"),
        "{}",
        text(&no_password)
    );
    let export = workspace(&server, &["export"], &[]);
    assert!(
        !text(&export).contains("[[environments]]"),
        "{}",
        text(&export)
    );

    // A syntax error names the file and line.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[[environments]]\nid = \n").unwrap();
    let out = workspace(&server, &["apply", "--file", broken.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("broken.toml: line 2"), "{}", text(&out));

    // A wrong secret: exit 2, no secret echoed.
    let wrong = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["workspace", "export", "--url", &server.url])
        .args(["--service-account", ADMIN])
        .env("ROLLGATE_SERVICE_ACCOUNT_SECRET", "not the password")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    assert!(text(&wrong).contains("cannot log in"), "{}", text(&wrong));
    assert!(
        !text(&wrong).contains("not the password"),
        "{}",
        text(&wrong)
    );
}

/// A workspace of one project `shop` with user bob and service account ci,
/// and `iam` (`[[projects.iam]]` tables) under the project.
fn write_iam_workspace(dir: &Path, iam: &str) -> String {
    let toml = format!(
        r#"
[[projects]]
id = "shop"
title = "Shop"
{iam}
[[users]]
email = "bob@example.com"
roles = ["roles/workspaceMember"]
password_env = "BOB_PASSWORD"

[[service_accounts]]
name = "ci"
roles = ["roles/workspaceMember"]
"#
    );
    let path = dir.join("iam.toml");
    std::fs::write(&path, toml).unwrap();
    path.display().to_string()
}

fn exported(server: &Server) -> String {
    let export = workspace(server, &["export"], &[]);
    assert!(export.status.success(), "{}", text(&export));
    String::from_utf8_lossy(&export.stdout).to_string()
}

#[test]
fn project_iam_policy_binds_updates_and_prunes() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let env = [("BOB_PASSWORD", "bob's password 1")];

    // An undeclared member fails before anything is applied, naming the setting.
    let file = write_iam_workspace(
        dir.path(),
        "[[projects.iam]]\nrole = \"roles/projectReleaser\"\nmembers = [\"user:carol@example.com\"]\n",
    );
    let undeclared = workspace(&server, &["apply", "--file", &file], &env);
    assert_eq!(undeclared.status.code(), Some(2), "{}", text(&undeclared));
    assert!(
        text(&undeclared).contains(
            "projects[shop].iam[0].members: user carol@example.com is not declared in this file"
        ),
        "{}",
        text(&undeclared)
    );
    assert!(!exported(&server).contains("[[projects]]"));

    // bob becomes Shop's releaser; the policy is created after the accounts.
    let file = write_iam_workspace(
        dir.path(),
        "[[projects.iam]]\nrole = \"projectReleaser\"\nmembers = [\"bob@example.com\"]\n",
    );
    let first = workspace(&server, &["apply", "--file", &file], &env);
    let out = text(&first);
    assert!(first.status.success(), "{out}");
    let created = |name: &str| {
        out.find(&format!("+ create {name}\n"))
            .unwrap_or_else(|| panic!("{name} is not created: {out}"))
    };
    assert!(
        created("serviceAccounts/ci") < created("projects/shop/iamPolicy")
            && created("users/bob@example.com") < created("projects/shop/iamPolicy"),
        "{out}"
    );
    assert!(
        out.contains("applied 4 created, 0 updated, 0 deleted"),
        "{out}"
    );
    let policy = exported(&server);
    assert!(
        policy.contains(
            "[[projects.iam]]\nrole = \"roles/projectReleaser\"\nmembers = [\"user:bob@example.com\"]\n"
        ),
        "{policy}"
    );

    // Applying again, or applying the export, changes nothing.
    let second = workspace(&server, &["apply", "--file", &file], &env);
    assert!(
        text(&second).contains("up to date, nothing to change"),
        "{}",
        text(&second)
    );
    let export_file = dir.path().join("exported.toml");
    std::fs::write(&export_file, &policy).unwrap();
    let again = workspace(
        &server,
        &["apply", "--file", export_file.to_str().unwrap()],
        &[],
    );
    assert!(
        text(&again).contains("up to date, nothing to change"),
        "{}",
        text(&again)
    );

    // Removing bob's releaser binding and binding ci as developer updates
    // the policy in place.
    let file = write_iam_workspace(
        dir.path(),
        "[[projects.iam]]\nrole = \"roles/projectDeveloper\"\nmembers = [\"serviceAccount:ci@service.rollgate.local\", \"user:bob@example.com\"]\n",
    );
    let third = workspace(&server, &["apply", "--file", &file], &env);
    let out = text(&third);
    assert!(third.status.success(), "{out}");
    assert!(
        out.contains("~ update projects/shop/iamPolicy (bindings)"),
        "{out}"
    );
    assert!(out.contains("0 created, 1 updated, 0 deleted"), "{out}");
    let policy = exported(&server);
    assert!(!policy.contains("roles/projectReleaser"), "{policy}");
    assert!(
        policy.contains("role = \"roles/projectDeveloper\"\nmembers = [\"serviceAccount:ci@service.rollgate.local\", \"user:bob@example.com\"]"),
        "{policy}"
    );

    // Without `iam`, the bindings stay unless pruning; --prune clears them.
    let file = write_iam_workspace(dir.path(), "");
    let kept = workspace(&server, &["apply", "--file", &file], &env);
    assert!(
        text(&kept).contains("up to date, nothing to change"),
        "{}",
        text(&kept)
    );
    assert!(exported(&server).contains("[[projects.iam]]"));
    let pruned = workspace(&server, &["apply", "--file", &file, "--prune"], &env);
    let out = text(&pruned);
    assert!(pruned.status.success(), "{out}");
    assert!(
        out.contains("- delete projects/shop/iamPolicy (clears every binding)"),
        "{out}"
    );
    assert!(out.contains("0 created, 0 updated, 1 deleted"), "{out}");
    assert!(!exported(&server).contains("[[projects.iam]]"));
    let settled = workspace(&server, &["apply", "--file", &file, "--prune"], &env);
    assert!(
        text(&settled).contains("up to date, nothing to change"),
        "{}",
        text(&settled)
    );
}
