//! The classifier end to end through the built binary: import the example catalogue,
//! classify, and read the verdicts back with `catalog show`.

use assert_cmd::Command;
use predicates::str::contains;

fn mcpwarden(db: &std::path::Path) -> Command {
    let mut command = Command::cargo_bin("mcpwarden").expect("the binary is built");
    command.arg("--db").arg(db).env_remove("MCPWARDEN_DB");
    command
}

fn classified_example_catalogue() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("catalog.db");
    mcpwarden(&db)
        .args(["catalog", "import", "data/example-catalog.jsonl"])
        .assert()
        .success();
    mcpwarden(&db)
        .arg("classify")
        .assert()
        .success()
        .stderr(contains("classified 32 tools with rules-"));
    dir
}

#[test]
fn tmux_send_message_is_execute_high_with_terminal_and_control_characters_in_the_rationale() {
    let dir = classified_example_catalogue();
    let output = mcpwarden(&dir.path().join("catalog.db"))
        .args(["catalog", "show", "send_message", "--json"])
        .output()
        .expect("catalog show runs");
    assert!(output.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let tools = shown["tools"].as_array().expect("a tools array");
    let tmux = tools
        .iter()
        .find(|tool| tool["server"]["name"] == "io.github.example-labs/tmux-agents")
        .expect("the tmux server's send_message is shown");
    let verdict = &tmux["classification"];
    assert_eq!(verdict["category"], "Execute");
    assert_eq!(verdict["risk"], "High");
    let rationale = verdict["rationale"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(rationale.contains("terminal"), "{rationale}");
    assert!(rationale.contains("control characters"), "{rationale}");
    assert!(rationale.contains("c-c"), "{rationale}");

    // The team chat's send-message is the same name but not a terminal: Write.
    let chat = tools
        .iter()
        .find(|tool| tool["server"]["name"] == "io.github.example-org/team-chat")
        .expect("the chat server's send-message is shown");
    assert_eq!(chat["classification"]["category"], "Write");
}

#[test]
fn show_explain_lists_every_rule_that_fired_with_its_weight() {
    let dir = classified_example_catalogue();
    mcpwarden(&dir.path().join("catalog.db"))
        .args(["catalog", "show", "send_message", "--explain"])
        .assert()
        .success()
        .stdout(contains("terminal-input"))
        .stdout(contains("+6.0 Execute"))
        .stdout(contains("control-characters"))
        .stdout(contains("rationale   It delivers input into a terminal"));
}

#[test]
fn classify_json_summary_counts_every_tool() {
    let dir = classified_example_catalogue();
    let output = mcpwarden(&dir.path().join("catalog.db"))
        .args(["classify", "--json"])
        .output()
        .expect("classify runs");
    assert!(output.status.success());
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(summary["tools"], 32);
    // The catalogue already holds these verdicts: classifying again changes nothing.
    assert_eq!(summary["changed"], 0);
    let total: u64 = summary["by_category"]
        .as_object()
        .expect("by_category")
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    assert_eq!(total, 32);
}

#[test]
fn a_bad_rules_folder_fails_with_exit_2_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("rules dir");
    std::fs::write(
        rules.join("broken.toml"),
        "[[rule]]\nid = \"no-weight-target\"\ndescription = \"d\"\nname_tokens = [\"get\"]\nweight = 2.0\n",
    )
    .expect("write rules");
    mcpwarden(&dir.path().join("catalog.db"))
        .args(["classify", "--rules"])
        .arg(&rules)
        .assert()
        .code(2)
        .stderr(contains("broken.toml"))
        .stderr(contains("no-weight-target"));

    std::fs::write(rules.join("broken.toml"), "[[rule]\nid = ").expect("write rules");
    mcpwarden(&dir.path().join("catalog.db"))
        .args(["classify", "--rules"])
        .arg(&rules)
        .assert()
        .code(2)
        .stderr(contains("broken.toml is not a valid rules file"));
}

#[test]
fn rules_from_a_folder_replace_the_built_in_ones_and_change_the_version() {
    let dir = classified_example_catalogue();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("rules dir");
    std::fs::write(
        rules.join("only.toml"),
        "[[rule]]\nid = \"everything-reads\"\ndescription = \"d\"\nname_tokens = [\"send\"]\ncategory = \"Read\"\nrationale = \"reads\"\nexamples = { positive = [{ name = \"send\" }] }\n",
    )
    .expect("write rules");
    let output = mcpwarden(&dir.path().join("catalog.db"))
        .args(["classify", "--json", "--rules"])
        .arg(&rules)
        .output()
        .expect("classify runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let builtin = mcpwarden::classify::RuleSet::embedded().expect("rules");
    assert_ne!(summary["version"].as_str(), Some(builtin.version()));
    assert_eq!(summary["by_category"]["Read"], 2);
}
