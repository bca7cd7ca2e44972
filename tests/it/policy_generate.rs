//! `policy generate`: golden files, the send_message rule, round trips through `policy
//! check`, and the CLI's handling of unclassified tools and ambiguous names.
//!
//! Golden files live in `tests/data/golden/`. After an intended change to the generator,
//! regenerate them with `MCPWARDEN_BLESS=1 cargo test --test policy_generate` and review
//! the diff.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mcpwarden::catalog::{Catalog, import_jsonl};
use mcpwarden::policy;
use mcpwarden::progress::NoProgress;
use serde_json::{Value, json};

const FIXTURE: &str = "tests/data/policy-fixture.jsonl";
const TMUX: &str = "io.github.example-labs/tmux-agents";
const MIXED: &str = "io.github.example-labs/mixed-fixture";

fn fixture_catalog() -> Catalog {
    let mut catalog = Catalog::open_in_memory().expect("in-memory catalogue");
    let file = std::fs::File::open(FIXTURE).expect("fixture exists");
    let report = import_jsonl(&mut catalog, std::io::BufReader::new(file), &NoProgress)
        .expect("fixture imports");
    assert!(
        report.errors.is_empty(),
        "fixture lines rejected: {:?}",
        report.errors
    );
    catalog
}

fn generated_text(catalog: &Catalog, server: &str) -> String {
    let mut cards = catalog.find_servers(server).expect("query");
    assert_eq!(cards.len(), 1, "{server} should match one server");
    let card = cards.remove(0);
    policy::policy_text(&policy::generate(&card).policy)
}

fn assert_golden(name: &str, actual: &str) {
    let path = Path::new("tests/data/golden").join(name);
    if std::env::var_os("MCPWARDEN_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with MCPWARDEN_BLESS=1", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs from the generator's output; if the change is intended, \
         run MCPWARDEN_BLESS=1 cargo test --test policy_generate and review the diff",
        path.display()
    );
}

#[test]
fn tmux_agents_policy_matches_golden_file() {
    let catalog = fixture_catalog();
    assert_golden("tmux-agents.policy.json", &generated_text(&catalog, TMUX));
}

#[test]
fn mixed_fixture_policy_matches_golden_file() {
    let catalog = fixture_catalog();
    assert_golden(
        "mixed-fixture.policy.json",
        &generated_text(&catalog, MIXED),
    );
}

#[test]
fn send_message_gets_exactly_ten_per_minute_per_grant_plus_its_pin() {
    let catalog = fixture_catalog();
    let text = generated_text(&catalog, TMUX);
    let value: Value = serde_json::from_str(&text).expect("generated JSON");
    assert_eq!(value["default"], "deny");
    let mut rule = value["tools"]["send_message"].clone();
    let pin = rule
        .as_object_mut()
        .and_then(|rule| rule.remove("pin"))
        .expect("send_message is pinned");
    let parts = rule
        .as_object_mut()
        .and_then(|rule| rule.remove("pin_parts"))
        .expect("send_message's pin names its parts");
    assert_eq!(
        rule,
        json!({"limits":[{"counter":"send_message_rate","window":"minute","max":10,"scope":"grant"}]})
    );
    let card = &catalog.find_servers(TMUX).expect("query")[0];
    let tool = card
        .tools
        .iter()
        .find(|tool| tool.tool.name == "send_message")
        .expect("tool");
    assert_eq!(pin, Value::String(tool.definition_hash.clone()));
    assert_eq!(pin, Value::String(tool.tool.definition_hash()));
    assert_eq!(
        serde_json::from_value::<mcpwarden::model::PinParts>(parts).expect("pin_parts"),
        tool.tool.definition_hashes().parts
    );
}

#[test]
fn generation_is_deterministic_and_sorted() {
    let catalog = fixture_catalog();
    let first = generated_text(&catalog, MIXED);
    assert_eq!(first, generated_text(&catalog, MIXED));
    let value: Value = serde_json::from_str(&first).expect("JSON");
    let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn categories_map_to_their_default_rules() {
    let catalog = fixture_catalog();
    let value: Value = serde_json::from_str(&generated_text(&catalog, MIXED)).expect("JSON");
    assert_eq!(value["hide"], json!(["delete_repo"]));
    assert!(value["tools"].get("delete_repo").is_none());
    assert_eq!(
        value["tools"]["send_payment"]["approval"],
        json!({"message": "Requires human approval."})
    );
    assert_eq!(value["tools"]["write_note"]["limits"][0]["max"], 30);
    assert_eq!(
        value["tools"]["write_note"]["limits"][0]["counter"],
        "write_note_rate"
    );
    assert_eq!(value["tools"]["run_query"]["limits"][0]["max"], 10);
    // Required enum → require `in`; optional enum → deny_if only when present.
    assert_eq!(
        value["tools"]["write_note"]["require"],
        json!([{"path": "args.visibility", "op": "in", "value": ["private", "team"]}])
    );
    assert_eq!(
        value["tools"]["list_files"]["deny_if"][1]["conditions"][0]["op"],
        "exists"
    );
    // Not classified: left to the default, and the reason says so.
    assert!(value["tools"].get("mystery_tool").is_none());
    let reason = value["x-mcpwarden"]["reasons"]["mystery_tool"]
        .as_str()
        .expect("reason");
    assert!(reason.contains("not classified"), "{reason}");
    assert_eq!(value["x-mcpwarden"]["classifier_version"], "fixture-1");
}

#[test]
fn every_generated_policy_passes_check() {
    let catalog = fixture_catalog();
    for id in catalog.server_ids().expect("ids") {
        let card = catalog.server_card(id).expect("card");
        let text = policy::policy_text(&policy::generate(&card).policy);
        let report = policy::check(&text, None);
        assert!(
            report.is_valid(),
            "{}: {:?}",
            card.record.name,
            report.diagnostics
        );
        assert!(
            report.diagnostics.is_empty(),
            "{}: {:?}",
            card.record.name,
            report.diagnostics
        );
        policy::load(&text).expect("the engine compiles it");
    }
}

fn binary() -> Command {
    Command::cargo_bin("mcpwarden").expect("binary built")
}

fn imported_db(dir: &Path) -> PathBuf {
    let db = dir.join("catalog.db");
    for file in ["data/example-catalog.jsonl", FIXTURE] {
        binary()
            .arg("--db")
            .arg(&db)
            .args(["catalog", "import", file])
            .assert()
            .success();
    }
    db
}

#[test]
fn generate_all_writes_one_file_per_server_and_each_passes_check_against_the_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = imported_db(dir.path());
    let out_dir = dir.path().join("policies");
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "generate", "--all", "--out-dir"])
        .arg(&out_dir)
        .assert()
        .success();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .expect("out dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    // 8 example servers + 3 fixture servers not in the example (tmux-agents is in both).
    assert_eq!(files.len(), 11, "{files:?}");
    assert!(
        files
            .iter()
            .any(|file| file.ends_with("io.github.example-labs_tmux-agents.json"))
    );
    for file in &files {
        let output = binary()
            .arg("--db")
            .arg(&db)
            .args(["policy", "check", "--json"])
            .arg(file)
            .output()
            .expect("runs");
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {report}",
            file.display()
        );
        assert_eq!(report["valid"], true);
        // The file names its server, and the catalogue knows it: arguments were checked.
        assert!(report["server"].is_string(), "{report}");
    }
}

#[test]
fn generate_to_a_file_warns_about_unclassified_tools_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = imported_db(dir.path());
    let out = dir.path().join("mixed.json");
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "generate", "mixed-fixture", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout("")
        .stderr(predicates::str::contains(
            "`mystery_tool` is not classified yet",
        ));
    let text = std::fs::read_to_string(&out).expect("written");
    assert_eq!(text, generated_text(&fixture_catalog(), MIXED));
}

#[test]
fn an_ambiguous_server_name_is_an_error_listing_the_matches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = imported_db(dir.path());
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "generate", "shared-name"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "matches 2 servers: io.github.alpha/shared-name, io.github.beta/shared-name",
        ));
    // The full name picks one.
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "generate", "io.github.beta/shared-name"])
        .assert()
        .success();
}

#[test]
fn an_unknown_server_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = imported_db(dir.path());
    binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "generate", "no-such-server"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "no server named `no-such-server`",
        ));
}

#[test]
fn catalog_show_prints_the_recommended_rule_for_classified_tools() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = imported_db(dir.path());
    let output = binary()
        .arg("--db")
        .arg(&db)
        .args(["catalog", "show", "delete_repo", "--json"])
        .output()
        .expect("runs");
    let shown: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let fixture = shown["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|tool| tool["server"]["name"] == MIXED)
        .expect("fixture's delete_repo");
    assert_eq!(fixture["recommended_rule"], json!({"hide": true}));

    let output = binary()
        .arg("--db")
        .arg(&db)
        .args(["catalog", "show", "send_message"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("\"counter\":\"send_message_rate\""), "{text}");
}

/// Two servers: one whose tools the crawl could not read (its tools live in a dependency),
/// one whose tool list is simply empty.
const UNREAD: &str = r#"{"name":"io.github.example-labs/tools-in-a-dependency","tools_unread":"the server imports an MCP SDK but registers no tool that static reading can see"}
{"name":"io.github.example-labs/no-tools","tools":[]}
"#;

#[test]
fn a_server_with_unread_tools_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = imported_db(dir.path());
    let unread = dir.path().join("unread.jsonl");
    std::fs::write(&unread, UNREAD).unwrap();
    binary()
        .arg("--db")
        .arg(&db)
        .args(["catalog", "import"])
        .arg(&unread)
        .assert()
        .success();
    let out = dir.path().join("p.json");
    for (server, why) in [
        (
            "tools-in-a-dependency",
            "its tools could not be read (the server imports an MCP SDK",
        ),
        ("no-tools", "the catalogue holds no tool for it"),
    ] {
        let refused = binary()
            .arg("--db")
            .arg(&db)
            .args(["policy", "generate", server, "--out"])
            .arg(&out)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: io.github.example-labs/{server}: {why}")),
            "{stderr}"
        );
        assert!(stderr.contains("--allow-unread"), "{stderr}");
        assert!(!out.exists(), "nothing is written");

        let allowed = binary()
            .arg("--db")
            .arg(&db)
            .args(["policy", "generate", server, "--allow-unread", "--out"])
            .arg(&out)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&allowed.stderr);
        assert!(allowed.status.success(), "{stderr}");
        assert!(stderr.starts_with("warning: "), "{stderr}");
        let policy: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(policy["default"], "deny");
        std::fs::remove_file(&out).unwrap();
    }

    // --all writes the others, names the two it skipped, and exits 1.
    let out_dir = dir.path().join("policies");
    let all = binary()
        .arg("--db")
        .arg(&db)
        .args(["policy", "generate", "--all", "--out-dir"])
        .arg(&out_dir)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&all.stderr);
    assert_eq!(all.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 server(s) skipped"), "{stderr}");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 11);
}

/// One real tool of `tests/data/labels-real/tools.jsonl`, classified by the built-in rules.
fn real_tool(
    server: &str,
    name: &str,
) -> (mcpwarden::model::ToolDef, mcpwarden::model::Classification) {
    let text = include_str!("../data/labels-real/tools.jsonl");
    let line: Value = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a label line"))
        .find(|line| line["server"] == server && line["name"] == name)
        .unwrap_or_else(|| panic!("{server} {name} is in the real set"));
    let mut tool = mcpwarden::model::ToolDef::new(
        name.to_owned(),
        line["description"].as_str().unwrap_or("").to_owned(),
    );
    tool.input_schema = line["input_schema"].clone();
    tool.annotations = line["annotations"]
        .as_object()
        .map(|_| line["annotations"].clone());
    let rules = mcpwarden::classify::RuleSet::embedded().expect("the embedded rules");
    let context = mcpwarden::classify::ServerContext {
        name: server,
        description: line["server_description"].as_str().unwrap_or(""),
    };
    let verdict = rules.classify(&tool, &context);
    (tool, verdict)
}

/// The table in ARCHITECTURE.md § Recommended rules, on real tools: what a person relies on
/// is that nothing that returns secrets, runs arbitrary commands or moves money is merely
/// rate-limited, and nothing destructive is callable.
#[test]
fn real_tools_get_the_rule_their_verdict_calls_for() {
    let rule_of = |server: &str, name: &str| {
        let (tool, verdict) = real_tool(server, name);
        (policy::recommended_rule(&tool, &verdict), verdict)
    };
    // Every environment variable, secrets included: behind approval, not allowed.
    let (rule, verdict) = rule_of("@modelcontextprotocol/server-everything", "get-env");
    assert!(verdict.risk >= mcpwarden::model::Risk::High, "{verdict:?}");
    assert!(rule["approval"]["message"].is_string(), "{rule}");
    assert!(rule.get("limits").is_none(), "{rule}");
    // Arbitrary commands typed into a shell and arbitrary SQL: Critical Execute, approval.
    for (server, name) in [
        ("tmux-mcp", "execute-command"),
        ("mcp-clickhouse", "run_query"),
    ] {
        let (rule, verdict) = rule_of(server, name);
        assert_eq!(
            (verdict.category, verdict.risk),
            (
                mcpwarden::model::Category::Execute,
                mcpwarden::model::Risk::Critical
            ),
            "{name}: {}",
            verdict.rationale
        );
        assert!(rule["approval"]["message"].is_string(), "{name}: {rule}");
    }
    // Money: approval, with the schema's checks still applied before the person is asked.
    let (rule, _) = rule_of("alpaca-mcp-server", "place_stock_order");
    assert_eq!(
        rule["approval"],
        json!({"message": "Requires human approval."})
    );
    // Destructive: hidden.
    let (rule, _) = rule_of("tmux-mcp", "kill-session");
    assert_eq!(rule, json!({"hide": true}));
    // Execute / High: the user's reference rule.
    let (rule, verdict) = rule_of("tmux-mcp", "create-session");
    assert_eq!(
        (verdict.category, verdict.risk),
        (
            mcpwarden::model::Category::Execute,
            mcpwarden::model::Risk::High
        )
    );
    assert_eq!(
        rule["limits"],
        json!([{"counter": "create-session_rate", "window": "minute", "max": 10, "scope": "grant"}])
    );
    // Write: a limit. Read / Low: allowed as it is, apart from its pin (and the pin's
    // per-part hashes, which say what changed when it no longer matches).
    let (rule, _) = rule_of("mcp-server-git", "git_commit");
    assert_eq!(rule["limits"][0]["max"], 30, "{rule}");
    let (rule, verdict) = rule_of("tmux-mcp", "list-sessions");
    assert_eq!(verdict.risk, mcpwarden::model::Risk::Low, "{verdict:?}");
    let keys: Vec<&String> = rule.as_object().expect("a rule").keys().collect();
    assert_eq!(keys, ["pin", "pin_parts"], "{rule}");
}
