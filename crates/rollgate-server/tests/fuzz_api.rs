//! Bad input never breaks the server: for every endpoint of
//! `ENDPOINT_PERMISSIONS`, generated paths (real ids, unknown ids, odd
//! characters) and generated bodies (JSON built from the API's own field
//! names with values of every type, and raw bytes) are sent as a Workspace
//! Admin. No call may panic or answer 5xx; every error is the JSON
//! `{code, message}` shape. The seed is printed on failure by proptest.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rollgate_auth::Role;
use rollgate_server::ENDPOINT_PERMISSIONS;
use serde_json::{Map, Value};
use support::World;

/// Field names the API reads, so generated bodies reach past "unknown field".
const FIELDS: &[&str] = &[
    "files",
    "targets",
    "statement",
    "version",
    "path",
    "changeType",
    "release",
    "id",
    "url",
    "roles",
    "review",
    "policy",
    "databases",
    "bindings",
    "email",
    "password",
    "name",
    "reason",
    "tasks",
    "override",
    "environment",
    "engine",
    "title",
    "order",
    "vcs",
    "key",
    "members",
    "role",
    "refreshSchema",
    "template",
    "rules",
    "level",
    "rollout",
    "commitSha",
    "database",
];

/// Path segments: the world's real ids, unknown ones and awkward text.
const SEGMENTS: &[&str] = &[
    "shop",
    "other",
    "test",
    "prod",
    "archive",
    "pg",
    "lite",
    "app",
    "main",
    "1",
    "2",
    "0",
    "-1",
    "99999999999999999999",
    "bob@example.com",
    "ci",
    "nope",
    "%00",
    "%2F..%2F",
    "%C3%A9",
    "%FF",
    "a%20b",
    "''",
    "release_20260101-RC1",
    "x:getIamPolicy",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(SEGMENTS).prop_map(|s| Value::String(s.to_string())),
        "\\PC{0,40}".prop_map(Value::String),
        Just(Value::String("instances/lite/databases/main".into())),
        Just(Value::String("roles/projectReleaser".into())),
        Just(Value::String("202601011200".into())),
        Just(Value::String("migrations/202601011200_x.sql".into())),
        Just(Value::String("CREATE TABLE t (id int);".into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|pairs| {
                let mut map = Map::new();
                for (key, value) in pairs {
                    map.insert(key.to_string(), value);
                }
                Value::Object(map)
            }),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        json_value().prop_map(|v| Some(v.to_string())),
        "\\PC{0,80}".prop_map(Some),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|bytes| Some(String::from_utf8_lossy(&bytes).into_owned())),
    ]
}

/// The endpoint's path with each `{param}` replaced by a generated segment.
fn uri(template: &'static str) -> impl Strategy<Value = String> {
    let params = template.matches('{').count();
    (
        prop::collection::vec(prop::sample::select(SEGMENTS), params),
        prop::option::of(prop::sample::select(
            &[
                "pageSize=0",
                "pageSize=-1",
                "pageToken=%FF",
                "pageSize=abc",
                "instance=pg",
            ][..],
        )),
    )
        .prop_map(move |(segments, query)| {
            let mut out = String::new();
            let mut rest = template;
            let mut segments = segments.into_iter();
            while let Some(start) = rest.find('{') {
                out.push_str(&rest[..start]);
                let end = rest[start..]
                    .find('}')
                    .map_or(rest.len(), |e| start + e + 1);
                out.push_str(segments.next().unwrap_or("x"));
                rest = &rest[end..];
            }
            out.push_str(rest);
            if let Some(query) = query {
                out.push('?');
                out.push_str(query);
            }
            out
        })
}

#[test]
fn generated_requests_never_panic_or_answer_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (world, token) = runtime.block_on(async {
        let world = World::with_rollout().await;
        let token = world
            .principal("fuzz@example.com", &[Role::WorkspaceAdmin])
            .await;
        (world, token)
    });
    let cases = std::env::var("ROLLGATE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48);
    for (method, path, _) in ENDPOINT_PERMISSIONS {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&(uri(path), body()), |(uri, body)| {
            let (status, response) =
                runtime.block_on(world.call(method, &uri, Some(&token), body.as_deref()));
            prop_assert!(
                !status.is_server_error(),
                "{method} {uri} with {body:?} answered {status}: {response}"
            );
            if !status.is_success() {
                prop_assert!(
                    response["code"].is_string() && response["message"].is_string(),
                    "{method} {uri} with {body:?}: error without code/message: {response}"
                );
            }
            Ok(())
        });
        if let Err(error) = result {
            panic!("{method} {path}: {error}");
        }
    }
}
