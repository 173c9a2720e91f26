//! The crate's boundary: `parse`, `converge` and `export`.

use rollgate_workspace::{
    Change, Engine, IamBinding, IamPolicy, Member, Resource, ResourceName, Role, RolloutPolicy,
    Workspace, WorkspaceError, converge, export, parse,
};

const EXAMPLE: &str = include_str!("../examples/workspace.toml");

fn env(name: &str) -> Option<String> {
    match name {
        "PROD_DB_PASSWORD" => Some("s3cret".into()),
        "OTHER" => Some("other".into()),
        _ => None,
    }
}

fn ok(text: &str) -> Workspace {
    match parse(text, &env) {
        Ok(workspace) => workspace,
        Err(errors) => panic!("unexpected errors: {errors:#?}"),
    }
}

/// Asserts the rendered errors, one per line, and that no error leaks the
/// expanded secret.
fn check_errors(text: &str, expect: &[&str]) {
    let errors: Vec<WorkspaceError> = match parse(text, &env) {
        Ok(_) => panic!("expected errors, got a workspace"),
        Err(errors) => errors,
    };
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for line in &rendered {
        assert!(!line.contains("s3cret"), "secret leaked: {line}");
    }
    assert_eq!(rendered, expect);
}

const BASE: &str = r#"
[[environments]]
id = "test"
title = "Test"
rollout = "automatic"

[[environments]]
id = "prod"
title = "Prod"
rollout = { manual = ["roles/projectReleaser"] }

[[instances]]
id = "prod-db"
engine = "postgres"
url = "postgres://u:${PROD_DB_PASSWORD}@h/db"
environment = "prod"

[[databases]]
instance = "prod-db"
name = "app"

[[projects]]
id = "shop"
title = "Shop"
databases = ["instances/prod-db/databases/app"]
"#;

#[test]
fn parses_the_full_example() {
    let workspace = ok(EXAMPLE);
    let ids: Vec<_> = workspace
        .environments
        .iter()
        .map(|e| (e.id.as_str(), e.order))
        .collect();
    assert_eq!(ids, [("test", 0), ("prod", 1)]);
    assert_eq!(
        workspace.environments[1].policy,
        RolloutPolicy::Manual {
            roles: vec!["roles/projectReleaser".into()]
        }
    );
    let prod = &workspace.instances[0];
    assert_eq!(
        (prod.id.as_str(), prod.engine),
        ("prod-db", Engine::Postgres)
    );
    assert_eq!(
        prod.url.resolved(),
        "postgres://rollgate:s3cret@db.internal:5432/postgres"
    );
    assert!(!format!("{workspace:?}").contains("s3cret"));
    let databases: Vec<_> = workspace
        .databases
        .iter()
        .map(|d| (d.resource_name(), d.environment.as_str()))
        .collect();
    assert_eq!(
        databases,
        [
            ("instances/prod-db/databases/app".to_owned(), "prod"),
            ("instances/prod-db/databases/app_staging".to_owned(), "test"),
            ("instances/test-db/databases/app".to_owned(), "test"),
        ]
    );
    let attached: Vec<_> = workspace
        .review_policies
        .iter()
        .map(|p| p.attach.as_str())
        .collect();
    assert_eq!(
        attached,
        ["environments/prod", "environments/test", "projects/shop"]
    );
    assert!(workspace.review_policies[0].config().is_ok());
    assert_eq!(workspace.users[1].roles, [Role::WorkspaceMember]);
    let bob = || Member::User("bob@example.com".into());
    assert_eq!(
        workspace.iam_policies,
        [IamPolicy {
            project: "shop".into(),
            bindings: vec![
                IamBinding {
                    role: Role::ProjectDeveloper,
                    members: vec![Member::ServiceAccount("ci".into()), bob()],
                },
                IamBinding {
                    role: Role::ProjectReleaser,
                    members: vec![bob()],
                },
            ],
        }]
    );
    assert_eq!(
        workspace.users[1].password_env.as_deref(),
        Some("BOB_PASSWORD")
    );
    assert_eq!(
        workspace.service_accounts[0].key_env.as_deref(),
        Some("CI_KEY")
    );
}

#[test]
fn expands_variables() {
    let text = BASE.replace(
        "postgres://u:${PROD_DB_PASSWORD}@h/db",
        "postgres://${OTHER}:${PROD_DB_PASSWORD}@h/db",
    );
    let workspace = ok(&text);
    assert_eq!(
        workspace.instances[0].url.resolved(),
        "postgres://other:s3cret@h/db"
    );
    assert_eq!(
        workspace.instances[0].url.written(),
        "postgres://${OTHER}:${PROD_DB_PASSWORD}@h/db"
    );
}

#[test]
fn syntax_and_unknown_keys() {
    check_errors(
        "[[environments]\n",
        &["line 1: unclosed array table, expected `]`"],
    );
    let errors = parse(
        "[[environments]]\nid = \"a\"\ntitle = \"A\"\nrollout = \"automatic\"\ncolour = 1\n",
        &env,
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].setting, "line 5");
    assert!(
        errors[0].message.contains("unknown field `colour`"),
        "{}",
        errors[0]
    );
    let errors = parse("[[users]]\nemail = \"a@b.c\"\npassword = \"x\"\n", &env).unwrap_err();
    assert!(
        errors[0].message.contains("unknown field `password`"),
        "{}",
        errors[0]
    );
    let errors = parse(
        "[[environments]]\nid = \"a\"\ntitle = \"A\"\nrollout = \"sometimes\"\n",
        &env,
    )
    .unwrap_err();
    assert_eq!(errors[0].setting, "line 4");
}

#[test]
fn missing_variable_names_setting_and_variable() {
    check_errors(
        &BASE.replace("PROD_DB_PASSWORD", "NOPE"),
        &[
            "instances[prod-db].url: environment variable NOPE is not set; set it before applying, or remove the ${NOPE} reference",
        ],
    );
    check_errors(
        &BASE.replace("${PROD_DB_PASSWORD}@h/db", "${PROD_DB_PASSWORD@h/db"),
        &["instances[prod-db].url: unterminated `${`; write ${VAR} with a closing brace"],
    );
    check_errors(
        &BASE.replace("${PROD_DB_PASSWORD}", "${1X}"),
        &[
            "instances[prod-db].url: invalid variable reference `${1X}`; name a variable with letters, digits and `_`, not starting with a digit",
        ],
    );
}

#[test]
fn bad_url_never_shows_the_value() {
    check_errors(
        &BASE.replace("postgres://u:", "mysql://u:"),
        &[
            "instances[prod-db].url: a postgres instance needs a URL starting with postgres:// or postgresql:// (the value is not shown: it may hold a password)",
        ],
    );
    check_errors(
        &BASE.replace("postgres://u:${PROD_DB_PASSWORD}@h/db", "<redacted>"),
        &[
            "instances[prod-db].url: this URL was redacted by `rollgate workspace export`; replace it with a ${VAR} reference to an environment variable holding the URL",
        ],
    );
}

#[test]
fn unknown_references_list_valid_values() {
    let text = format!(
        "{BASE}\n[[databases]]\ninstance = \"nope\"\nname = \"x\"\n\n[[databases]]\ninstance = \"prod-db\"\nname = \"y\"\nenvironment = \"staging\"\n\n[[projects]]\nid = \"p2\"\ntitle = \"P\"\ndatabases = [\"instances/prod-db/databases/zzz\"]\n\n[[review_policies]]\nattach = [\"environments/qa\", \"projects/none\", \"instances/prod-db\"]\n[review_policies.review]\n\n[[users]]\nemail = \"a@b.co\"\nroles = [\"roles/god\"]\n"
    );
    let text = text.replace("environment = \"prod\"\n", "environment = \"production\"\n");
    check_errors(
        &text,
        &[
            "instances[prod-db].environment: unknown environment \"production\"; valid environments: prod, test",
            "databases[nope/x].instance: unknown instance \"nope\"; valid instances: prod-db",
            "databases[prod-db/y].environment: unknown environment \"staging\"; valid environments: prod, test",
            "projects[p2].databases: unknown database \"instances/prod-db/databases/zzz\"; valid databases: instances/prod-db/databases/app, instances/prod-db/databases/y",
            "review_policies[0].attach: unknown environment \"qa\"; valid environments: prod, test",
            "review_policies[0].attach: unknown project \"none\"; valid projects: p2, shop",
            "review_policies[0].attach: cannot attach a review policy to \"instances/prod-db\"; write environments/{id} or projects/{id}",
            "users[a@b.co].roles: unknown role \"roles/god\"; valid roles: roles/workspaceAdmin, roles/workspaceDBA, roles/workspaceMember, roles/projectOwner, roles/projectDeveloper, roles/projectReleaser, roles/gitopsServiceAgent",
        ],
    );
}

#[test]
fn ids_and_duplicates() {
    let text = format!(
        "{BASE}\n[[environments]]\nid = \"Prod\"\ntitle = \"x\"\nrollout = \"automatic\"\n\n[[environments]]\nid = \"test\"\ntitle = \"again\"\nrollout = \"automatic\"\n\n[[databases]]\ninstance = \"prod-db\"\nname = \"app\"\n\n[[databases]]\ninstance = \"prod-db\"\nname = \"a/b\"\n\n[[projects]]\nid = \"other\"\ntitle = \"O\"\ndatabases = [\"instances/prod-db/databases/app\"]\n\n[[users]]\nemail = \"nobody\"\n\n[[users]]\nemail = \"a@b.co\"\npassword_env = \"1BAD\"\n\n[[users]]\nemail = \"A@b.co\"\n\n[[service_accounts]]\nname = \"ci_bot\"\n"
    );
    check_errors(
        &text,
        &[
            "environments[2].id: invalid id \"Prod\"; use 1 to 63 characters among lowercase letters a-z, digits 0-9 and `-`",
            "environments[test]: id \"test\" is used twice in environments; give each entry its own id",
            "databases[prod-db/app]: database instances/prod-db/databases/app is declared twice; keep one entry",
            "databases[prod-db/a/b].name: invalid database name \"a/b\"; use 1 to 63 characters without `/`, whitespace or control characters",
            "projects[other].databases: database instances/prod-db/databases/app is already in project shop; a database belongs to one project, remove it from one of them",
            "users[0].email: invalid email \"nobody\"; write an address like name@example.com",
            "users[a@b.co].password_env: invalid environment variable name \"1BAD\"; use letters, digits and `_`, not starting with a digit",
            "users[A@b.co]: user A@b.co is declared twice; keep one entry",
            "service_accounts[0].name: invalid name \"ci_bot\"; use 1 to 63 characters among lowercase letters a-z, digits 0-9 and `-`",
        ],
    );
}

#[test]
fn review_policy_errors_come_from_the_review_crate() {
    let text = format!(
        "{BASE}\n[[review_policies]]\nattach = [\"environments/prod\"]\n[review_policies.review]\ntemplate = \"basic\"\n[review_policies.review.rules.NAMING_TABEL]\nlevel = \"ERROR\"\n\n[[review_policies]]\nattach = [\"environments/prod\"]\n[review_policies.review]\ncolour = \"red\"\n\n[[review_policies]]\nattach = []\n[review_policies.review]\n"
    );
    let errors = parse(&text, &env).unwrap_err();
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(rendered.len(), 4, "{rendered:#?}");
    assert!(
        rendered[0].starts_with(
            "review_policies[0].review.rules.NAMING_TABEL: unknown rule \"NAMING_TABEL\""
        ),
        "{}",
        rendered[0]
    );
    assert!(
        rendered[1].starts_with("review_policies[1].review: unknown field `colour`"),
        "{}",
        rendered[1]
    );
    assert_eq!(
        rendered[2],
        "review_policies[1].attach: environments/prod already has a review policy; attach at most one policy to it"
    );
    assert_eq!(
        rendered[3],
        "review_policies[2].attach: attach the policy to something: environments/{id} or projects/{id}"
    );
}

#[test]
fn collects_all_errors_and_undeclared_lists() {
    check_errors(
        "[[instances]]\nid = \"i\"\nengine = \"sqlite\"\nurl = \"sqlite::memory:\"\nenvironment = \"prod\"\n",
        &[
            "instances[i].environment: unknown environment \"prod\"; none is declared; declare it first",
        ],
    );
}

fn names(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|change| match change {
            Change::Create(resource) => format!("create {}", resource.name()),
            Change::Update { resource, fields } => {
                format!("update {} {}", resource.name(), fields.join(","))
            }
            Change::Delete(name) => format!("delete {name}"),
        })
        .collect()
}

#[test]
fn converge_creates_in_dependency_order() {
    let desired = ok(EXAMPLE);
    let changes = converge(&desired, &Workspace::default(), true);
    assert_eq!(
        names(&changes),
        [
            "create environments/test",
            "create environments/prod",
            "create instances/prod-db",
            "create instances/test-db",
            "create instances/prod-db/databases/app",
            "create instances/prod-db/databases/app_staging",
            "create instances/test-db/databases/app",
            "create projects/shop",
            "create environments/prod/reviewPolicy",
            "create environments/test/reviewPolicy",
            "create projects/shop/reviewPolicy",
            "create users/alice@example.com",
            "create users/bob@example.com",
            "create serviceAccounts/ci",
            "create projects/shop/iamPolicy",
        ]
    );
}

#[test]
fn converge_is_idempotent() {
    let workspace = ok(EXAMPLE);
    assert_eq!(converge(&workspace, &workspace, true), []);
    assert_eq!(converge(&workspace, &workspace.clone(), false), []);
}

#[test]
fn converge_updates_and_prunes_in_reverse_order() {
    let current = ok(EXAMPLE);
    let desired = ok(&BASE
        .replace("title = \"Prod\"", "title = \"Production\"")
        .replace("${PROD_DB_PASSWORD}", "${OTHER}"));
    let changes = converge(&desired, &current, false);
    assert_eq!(
        names(&changes),
        [
            "update environments/prod title",
            "update instances/prod-db url",
            "update projects/shop databases",
        ]
    );
    let pruned = converge(&desired, &current, true);
    assert_eq!(
        names(&pruned[3..]),
        [
            "delete projects/shop/iamPolicy",
            "delete serviceAccounts/ci",
            "delete users/alice@example.com",
            "delete users/bob@example.com",
            "delete environments/prod/reviewPolicy",
            "delete environments/test/reviewPolicy",
            "delete projects/shop/reviewPolicy",
            "delete instances/prod-db/databases/app_staging",
            "delete instances/test-db/databases/app",
            "delete instances/test-db",
        ]
    );
    assert!(matches!(
        &pruned[0],
        Change::Update {
            resource: Resource::Environment(_),
            ..
        }
    ));
    assert_eq!(
        pruned.last(),
        Some(&Change::Delete(ResourceName("instances/test-db".into())))
    );
}

/// BASE with users bob and Carol, service account ci, and `iam` appended to
/// project shop (it is BASE's last table, so `[[projects.iam]]` attaches to it).
fn with_iam(iam: &str) -> String {
    let accounts = "\n[[users]]\nemail = \"bob@example.com\"\n\n[[users]]\nemail = \"Carol@example.com\"\n\n[[service_accounts]]\nname = \"ci\"\n";
    format!("{BASE}{iam}{accounts}")
}

#[test]
fn iam_normalizes_short_forms_and_order() {
    let workspace = ok(&with_iam(
        r#"
[[projects.iam]]
role = "projectReleaser"
members = ["carol@example.com", "user:bob@example.com", "ci@service.rollgate.local", "bob@example.com"]

[[projects.iam]]
role = "roles/gitopsServiceAgent"
members = ["serviceAccount:ci@service.rollgate.local"]
"#,
    ));
    assert_eq!(
        workspace.iam_policies,
        [IamPolicy {
            project: "shop".into(),
            bindings: vec![
                IamBinding {
                    role: Role::ProjectReleaser,
                    members: vec![
                        Member::ServiceAccount("ci".into()),
                        Member::User("Carol@example.com".into()),
                        Member::User("bob@example.com".into()),
                    ],
                },
                IamBinding {
                    role: Role::GitopsServiceAgent,
                    members: vec![Member::ServiceAccount("ci".into())],
                },
            ],
        }]
    );
    // The same policy written in another order and form is equal.
    let reordered = ok(&with_iam(
        r#"
[[projects.iam]]
role = "roles/gitopsServiceAgent"
members = ["ci@service.rollgate.local"]

[[projects.iam]]
role = "roles/projectReleaser"
members = ["user:Carol@example.com", "serviceAccount:ci@service.rollgate.local", "user:bob@example.com"]
"#,
    ));
    assert_eq!(converge(&reordered, &workspace, true), []);
    // An empty policy declares none.
    assert_eq!(ok(&with_iam("")).iam_policies, []);
}

#[test]
fn iam_errors_name_the_setting() {
    check_errors(
        &with_iam(
            r#"
[[projects.iam]]
role = "roles/workspaceAdmin"
members = ["user:bob@example.com"]

[[projects.iam]]
role = "roles/owner"
members = ["bob@example.com"]

[[projects.iam]]
role = "roles/projectReleaser"
members = []

[[projects.iam]]
role = "projectReleaser"
members = ["user:bob@example.com"]

[[projects.iam]]
role = "roles/projectDeveloper"
members = ["group:devs@example.com", "user:ci@service.rollgate.local", "user:dave@example.com", "serviceAccount:deploy@service.rollgate.local", "bob"]
"#,
        ),
        &[
            "projects[shop].iam[0].role: roles/workspaceAdmin is a workspace role; grant it in the member's `roles` under [[users]] or [[service_accounts]]; a project policy grants project roles: roles/projectOwner, roles/projectDeveloper, roles/projectReleaser, roles/gitopsServiceAgent",
            "projects[shop].iam[1].role: unknown role \"roles/owner\"; valid project roles: roles/projectOwner, roles/projectDeveloper, roles/projectReleaser, roles/gitopsServiceAgent",
            "projects[shop].iam[2].members: list at least one member, or remove the binding",
            "projects[shop].iam[3].role: projectReleaser is bound twice in projects[shop].iam; list all its members in one binding",
            "projects[shop].iam[4].members: invalid member \"group:devs@example.com\"; write user:EMAIL or serviceAccount:NAME@service.rollgate.local",
            "projects[shop].iam[4].members: invalid member \"user:ci@service.rollgate.local\"; write user:EMAIL or serviceAccount:NAME@service.rollgate.local",
            "projects[shop].iam[4].members: user dave@example.com is not declared in this file; declare it under [[users]] (a binding may only name accounts the file manages)",
            "projects[shop].iam[4].members: service account deploy@service.rollgate.local is not declared in this file; declare it under [[service_accounts]] with name = \"deploy\"",
            "projects[shop].iam[4].members: invalid member \"bob\"; write user:EMAIL or serviceAccount:NAME@service.rollgate.local",
        ],
    );
    check_errors(
        &with_iam(
            "\n[[projects.iam]]\nrole = \"roles/projectOwner\"\nmembers = [\"user:bob@example.com\"]\nextra = 1\n",
        ),
        &["line 30: unknown field `extra`, expected `role` or `members`"],
    );
}

#[test]
fn converge_orders_iam_after_accounts_and_clears_before_deleting_them() {
    let releaser = r#"
[[projects.iam]]
role = "roles/projectReleaser"
members = ["user:bob@example.com"]
"#;
    let without_accounts = ok(BASE);
    let desired = ok(&with_iam(releaser));
    assert_eq!(
        names(&converge(&desired, &without_accounts, false)),
        [
            "create users/Carol@example.com",
            "create users/bob@example.com",
            "create serviceAccounts/ci",
            "create projects/shop/iamPolicy",
        ]
    );
    // A changed membership is an update of the policy.
    let changed = ok(&with_iam(&releaser.replace(
        "\"user:bob@example.com\"",
        "\"user:bob@example.com\", \"ci@service.rollgate.local\"",
    )));
    assert_eq!(
        names(&converge(&changed, &desired, false)),
        ["update projects/shop/iamPolicy bindings"]
    );
    // Without the policy, the server's bindings stay unless pruning.
    let undeclared = ok(&with_iam(""));
    assert_eq!(
        names(&converge(&undeclared, &desired, false)),
        [] as [&str; 0]
    );
    assert_eq!(
        names(&converge(&undeclared, &desired, true)),
        ["delete projects/shop/iamPolicy"]
    );
    // Pruning the accounts clears the policy first.
    assert_eq!(
        names(&converge(&without_accounts, &desired, true)),
        [
            "delete projects/shop/iamPolicy",
            "delete serviceAccounts/ci",
            "delete users/Carol@example.com",
            "delete users/bob@example.com",
        ]
    );
}

#[test]
fn environment_reorder_is_an_update() {
    let current = ok(BASE);
    let swapped = BASE.replacen(
        "[[environments]]\nid = \"test\"\ntitle = \"Test\"\nrollout = \"automatic\"\n\n",
        "",
        1,
    ) + "\n[[environments]]\nid = \"test\"\ntitle = \"Test\"\nrollout = \"automatic\"\n";
    let desired = ok(&swapped);
    assert_eq!(
        names(&converge(&desired, &current, true)),
        [
            "update environments/prod order",
            "update environments/test order"
        ]
    );
}

#[test]
fn export_roundtrips() {
    let workspace = ok(EXAMPLE);
    let text = export(&workspace);
    assert!(!text.contains("s3cret"));
    assert_eq!(ok(&text), workspace, "exported:\n{text}");
    assert_eq!(export(&ok(&text)), text);
    // A literal URL without a password is exported as is.
    assert!(
        text.contains("url = \"sqlite:///var/lib/rollgate/test\""),
        "{text}"
    );
    // IAM bindings are written in the full member form, under the project.
    assert!(
        text.contains("[[projects.iam]]\nrole = \"roles/projectDeveloper\"\nmembers = [\"serviceAccount:ci@service.rollgate.local\", \"user:bob@example.com\"]"),
        "{text}"
    );
}

#[test]
fn export_redacts_literal_passwords() {
    let text = BASE.replace("${PROD_DB_PASSWORD}", "hunter2");
    let exported = export(&ok(&text));
    assert!(!exported.contains("hunter2"), "{exported}");
    assert!(
        exported.contains("# The URL holds a password, so it is not exported"),
        "{exported}"
    );
    assert!(exported.contains("url = \"<redacted>\""), "{exported}");
    let errors = parse(&exported, &env).unwrap_err();
    assert_eq!(errors[0].setting, "instances[prod-db].url");
}

mod properties {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC*") {
            let _ = rollgate_workspace::parse(&text, &|_| Some("x".into()));
        }

        #[test]
        fn parse_never_panics_on_near_valid_text(
            cut in 0usize..2000,
            insert in "[\\[\\]{}\"=$a-z\n]{0,8}",
        ) {
            let base = super::EXAMPLE;
            let mut at = cut.min(base.len());
            while !base.is_char_boundary(at) { at -= 1; }
            let text = format!("{}{insert}{}", &base[..at], &base[at..]);
            if let Ok(workspace) = rollgate_workspace::parse(&text, &super::env) {
                prop_assert_eq!(rollgate_workspace::converge(&workspace, &workspace, true), vec![]);
            }
        }
    }
}
