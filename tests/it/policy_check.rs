//! `policy check`: 50+ malformed policies each fail with the right message at the right
//! JSON path and line:column; every example policy in the repo loads; the checked-in JSON
//! Schema matches the types; argument names are checked against the catalogue.
//!
//! The malformed policies are `tests/data/policies/bad/*.json`, listed with their expected
//! path, position and message fragment in `tests/data/policies/bad/expected.tsv`.
//! After an intended change to the types, regenerate the schema with
//! `MCPWARDEN_BLESS=1 cargo test --test policy_check` (or
//! `mcpwarden policy schema > data/policy.schema.json`).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mcpwarden::policy::{self, KnownServer, KnownTool, Severity};
use serde_json::{Value, json};

const BAD: &str = "tests/data/policies/bad";

struct BadCase {
    file: String,
    path: String,
    position: String,
    fragment: String,
}

fn bad_cases() -> Vec<BadCase> {
    let manifest = std::fs::read_to_string(Path::new(BAD).join("expected.tsv")).expect("manifest");
    manifest
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "manifest line {line:?}");
            BadCase {
                file: fields[0].to_owned(),
                path: fields[1].to_owned(),
                position: fields[2].to_owned(),
                fragment: fields[3].to_owned(),
            }
        })
        .collect()
}

#[test]
fn every_malformed_policy_is_listed_and_there_are_at_least_fifty() {
    let cases = bad_cases();
    assert!(cases.len() >= 50, "only {} malformed policies", cases.len());
    let mut on_disk: Vec<String> = std::fs::read_dir(BAD)
        .expect("bad dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|case| case.file.clone()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every file in {BAD} needs a line in expected.tsv"
    );
}

#[test]
fn each_malformed_policy_fails_with_its_message_path_and_position() {
    for case in bad_cases() {
        let text = std::fs::read_to_string(Path::new(BAD).join(&case.file)).expect("read");
        let report = policy::check(&text, None);
        assert!(!report.is_valid(), "{} passed the check", case.file);
        let found = report
            .errors()
            .find(|diagnostic| diagnostic.message.contains(&case.fragment));
        let Some(diagnostic) = found else {
            panic!(
                "{}: no error contains {:?}; got {:?}",
                case.file, case.fragment, report.diagnostics
            );
        };
        assert_eq!(diagnostic.path, case.path, "{}: path", case.file);
        assert_eq!(
            format!("{}:{}", diagnostic.line, diagnostic.column),
            case.position,
            "{}: position",
            case.file
        );
        // The engine refuses to load what check refuses.
        assert!(policy::load(&text).is_err(), "{} loaded", case.file);
    }
}

fn binary() -> Command {
    Command::cargo_bin("mcpwarden").expect("binary built")
}

#[test]
fn the_cli_prints_file_position_path_and_message_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("unused.db");
    for case in bad_cases() {
        let file = Path::new(BAD).join(&case.file);
        let output = binary()
            .arg("--db")
            .arg(&db)
            .args(["policy", "check"])
            .arg(&file)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1), "{}", case.file);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let expected = format!(
            "{}:{}: error: {}: ",
            file.display(),
            case.position,
            case.path
        );
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&expected) && line.contains(&case.fragment)),
            "{}: expected a line starting {expected:?} containing {:?}, got:\n{stdout}",
            case.file,
            case.fragment
        );
    }
}

#[test]
fn check_json_output_has_a_stable_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = binary()
        .arg("--db")
        .arg(dir.path().join("unused.db"))
        .args(["policy", "check", "--json"])
        .arg(Path::new(BAD).join("max-zero.json"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(
        report["diagnostics"][0],
        json!({
            "severity": "error",
            "path": "tools.send_message.limits[0].max",
            "line": 10,
            "column": 18,
            "message": "max is 0, which refuses every call; hide the tool or leave it out instead"
        })
    );
}

/// Every policy file in the repository: examples, golden files, good test policies.
fn example_policies() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "data",
        "tests/data/golden",
        "tests/data/policies/good",
        "docs",
        "examples",
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.ends_with(".json") && name != "policy.schema.json" {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_example_policy_in_the_repo_loads() {
    let files = example_policies();
    assert!(files.len() >= 7, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let report = policy::check(&text, None);
        assert!(
            report.is_valid(),
            "{}: {:?}",
            file.display(),
            report.diagnostics
        );
        assert!(
            report
                .diagnostics
                .iter()
                .all(|diagnostic| diagnostic.severity != Severity::Error),
            "{}",
            file.display()
        );
        policy::load(&text).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    }
}

#[test]
fn the_checked_in_schema_matches_the_types() {
    let generated = policy::json_schema_text();
    let path = Path::new("data/policy.schema.json");
    if std::env::var_os("MCPWARDEN_BLESS").is_some() {
        std::fs::write(path, &generated).expect("write schema");
        return;
    }
    let checked_in = std::fs::read_to_string(path).expect("data/policy.schema.json exists");
    assert!(
        checked_in == generated,
        "data/policy.schema.json is out of date with src/policy/model.rs; regenerate it with \
         `mcpwarden policy schema > data/policy.schema.json` (or MCPWARDEN_BLESS=1 cargo test --test policy_check)"
    );
    // The CLI prints the same text.
    let dir = tempfile::tempdir().expect("tempdir");
    binary()
        .arg("--db")
        .arg(dir.path().join("unused.db"))
        .args(["policy", "schema"])
        .assert()
        .success()
        .stdout(generated);
}

#[test]
fn the_schema_rejects_unknown_fields_and_names_the_extensions() {
    let schema = policy::json_schema();
    assert_eq!(schema["additionalProperties"], false);
    let text = schema.to_string();
    for extension in ["x-mcpwarden", "\"pin\"", "\"approval\""] {
        assert!(text.contains(extension), "schema lacks {extension}");
    }
}

fn tmux_known() -> KnownServer {
    let schema = |properties: Value| json!({"type": "object", "properties": properties});
    KnownServer {
        name: "io.github.example-labs/tmux-agents".to_owned(),
        tools: [
            ("send_message", schema(json!({"target": {"type": "string"}, "message": {"type": "string"}}))),
            ("get_parallel_status", schema(json!({}))),
            (
                "start_agent",
                schema(json!({"options": {"type": "object", "properties": {"cwd": {"type": "string"}}}})),
            ),
        ]
        .into_iter()
        .map(|(name, input_schema)| {
            (
                name.to_owned(),
                KnownTool {
                    input_schema,
                    definition_hash: format!("sha256:{}", "1".repeat(64)),
                },
            )
        })
        .collect(),
    }
}

#[test]
fn conditions_on_arguments_the_tool_does_not_have_are_errors_when_the_catalogue_knows_it() {
    let text = r#"{
  "version": "1",
  "default": "deny",
  "tools": {
    "send_message": {
      "require": [{"path": "args.taget", "op": "regex", "value": "^multiagent:"}],
      "pin": "sha256:2222222222222222222222222222222222222222222222222222222222222222"
    },
    "get_parallel_status": {"deny_if": [{"conditions": [{"path": "args.all", "op": "exists"}]}]},
    "start_agent": {"require": [{"path": "args.options.cwd", "op": "exists"}, {"path": "args.options.env", "op": "exists"}]},
    "not_on_server": {}
  }
}"#;
    // Without the catalogue nothing can be said about argument names.
    assert!(policy::check(text, None).is_valid());
    let report = policy::check(text, Some(&tmux_known()));
    assert!(!report.is_valid());
    let messages: Vec<String> = report.diagnostics.iter().map(ToString::to_string).collect();
    let expect = |needle: &str| {
        assert!(
            messages.iter().any(|message| message.contains(needle)),
            "{needle:?} not in {messages:#?}"
        );
    };
    expect(
        "6:28: error: tools.send_message.require[0].path: `send_message` has no argument `taget` (it takes: target, message)",
    );
    expect(
        "tools.get_parallel_status.deny_if[0].conditions[0].path: `get_parallel_status` has no argument `all` (it takes no arguments)",
    );
    expect(
        "tools.start_agent.require[1].path: `start_agent` has no argument `options.env` (it takes: cwd)",
    );
    expect("warning: tools.send_message.pin: pin differs from the catalogue's definition hash");
    expect("warning: tools.not_on_server: the catalogue knows no tool `not_on_server`");
    assert_eq!(report.errors().count(), 3, "{messages:#?}");
}

#[test]
fn check_uses_the_catalogue_through_server_or_the_files_own_server_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("catalog.db");
    binary()
        .arg("--db")
        .arg(&db)
        .args(["catalog", "import", "tests/data/policy-fixture.jsonl"])
        .assert()
        .success();
    let policy_file = dir.path().join("p.json");
    let body = |server: &str| {
        format!(
            r#"{{"version": "1", "default": "deny", "tools": {{"send_message": {{"require": [{{"path": "args.pane", "op": "exists"}}]}}}}{server}}}"#
        )
    };
    std::fs::write(&policy_file, body("")).expect("write");
    // No server named anywhere: valid, argument names unchecked.
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "check"])
        .arg(&policy_file)
        .assert()
        .success();
    // --server names it.
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "check", "--server", "tmux-agents"])
        .arg(&policy_file)
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "`send_message` has no argument `pane`",
        ));
    // The file names it.
    std::fs::write(
        &policy_file,
        body(r#", "x-mcpwarden": {"server": "io.github.example-labs/tmux-agents"}"#),
    )
    .expect("write");
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "check"])
        .arg(&policy_file)
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "has no argument `pane` (it takes: target, message)",
        ));
    // A --server the catalogue does not know is mcpwarden failing to do what was asked.
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "check", "--server", "nope"])
        .arg(&policy_file)
        .assert()
        .code(2);
}

#[test]
fn warnings_alone_do_not_fail_the_check() {
    let text = r#"{"version": "1", "default": "deny", "hide": ["a", "a"], "tools": {"b": {"require": [{"path": "args.x", "op": "in", "value": []}]}}}"#;
    let report = policy::check(text, None);
    assert!(report.is_valid(), "{:?}", report.diagnostics);
    assert_eq!(report.diagnostics.len(), 2, "{:?}", report.diagnostics);
    assert!(
        report
            .diagnostics
            .iter()
            .all(|diagnostic| diagnostic.severity == Severity::Warning)
    );
}

#[test]
fn a_missing_file_is_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    binary()
        .arg("--db")
        .arg(dir.path().join("unused.db"))
        .args(["policy", "check"])
        .arg(dir.path().join("absent.json"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("absent.json"));
}
