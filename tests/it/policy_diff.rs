//! `policy diff`: changes in words, looser first; exit 1 when anything got looser.

use assert_cmd::Command;
use mcpwarden::policy::diff::{Direction, diff};
use mcpwarden::policy::{Policy, check};
use serde_json::{Value, json};

fn parse(value: Value) -> Policy {
    let text = value.to_string();
    let report = check(&text, None);
    assert!(report.is_valid(), "{:?}", report.diagnostics);
    report.policy.expect("policy")
}

fn base() -> Value {
    json!({
        "version": "1",
        "default": "deny",
        "hide": ["delete_repo"],
        "tools": {
            "read": {},
            "send": {
                "limits": [{"counter": "send_rate", "window": "minute", "max": 10, "scope": "grant"}],
                "require": [{"path": "args.target", "op": "regex", "value": "^ok:"}],
                "deny_if": [{"conditions": [{"path": "args.message", "op": "contains", "value": "C-c"}], "on_deny": "No."}],
                "pin": format!("sha256:{}", "a".repeat(64))
            }
        }
    })
}

/// (direction, path, message) of every change.
fn changes(old: Value, new: Value) -> Vec<(Direction, String, String)> {
    diff(&parse(old), &parse(new))
        .into_iter()
        .map(|change| (change.direction, change.path, change.message))
        .collect()
}

fn only(old: Value, new: Value) -> (Direction, String, String) {
    let mut all = changes(old, new);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

#[test]
fn identical_policies_have_no_changes() {
    assert!(changes(base(), base()).is_empty());
}

#[test]
fn default_deny_to_allow_is_looser() {
    let mut new = base();
    new["default"] = json!("allow");
    let (direction, path, message) = only(base(), new);
    assert_eq!((direction, path.as_str()), (Direction::Looser, "default"));
    assert!(message.contains("from deny to allow"), "{message}");
    let mut old = base();
    old["default"] = json!("allow");
    assert_eq!(only(old, base()).0, Direction::Tighter);
}

#[test]
fn un_hiding_and_configuring_a_tool_is_looser() {
    let mut new = base();
    new["hide"] = json!([]);
    new["tools"]["delete_repo"] = json!({});
    let (direction, path, message) = only(base(), new);
    assert_eq!(
        (direction, path.as_str()),
        (Direction::Looser, "tools.delete_repo")
    );
    assert!(message.contains("no longer hidden"), "{message}");
}

#[test]
fn a_newly_named_tool_is_newly_allowed() {
    let mut new = base();
    new["tools"]["exec"] = json!({});
    let (direction, _, message) = only(base(), new);
    assert_eq!(direction, Direction::Looser);
    assert!(message.contains("`exec` is newly allowed"), "{message}");
}

#[test]
fn removing_a_tool_under_default_deny_is_tighter() {
    let mut new = base();
    new["tools"].as_object_mut().expect("tools").remove("read");
    let (direction, _, message) = only(base(), new);
    assert_eq!(direction, Direction::Tighter);
    assert!(message.contains("no longer allowed"), "{message}");
}

#[test]
fn limits_loosened_and_tightened() {
    let limit = |max: u64, window: &str, scope: &str| json!([{"counter": "send_rate", "window": window, "max": max, "scope": scope}]);
    let with_limit = |limits: Value| {
        let mut policy = base();
        policy["tools"]["send"]["limits"] = limits;
        policy
    };
    let (direction, path, message) = only(base(), with_limit(limit(30, "minute", "grant")));
    assert_eq!(
        (direction, path.as_str()),
        (Direction::Looser, "tools.send.limits[0]")
    );
    assert_eq!(
        message,
        "limit on `send` loosened: 10 calls per minute per grant → 30 calls per minute per grant (counter `send_rate`)"
    );
    // Same max over a longer window is stricter.
    assert_eq!(
        only(base(), with_limit(limit(10, "hour", "grant"))).0,
        Direction::Tighter
    );
    // A per-session limit lets a grant do more than a per-grant one.
    assert_eq!(
        only(base(), with_limit(limit(10, "minute", "session"))).0,
        Direction::Looser
    );
    assert_eq!(
        only(base(), with_limit(limit(10, "minute", "global"))).0,
        Direction::Tighter
    );
    // More per window but shared by everyone: cannot say, so it is flagged for reading.
    assert_eq!(
        only(base(), with_limit(limit(20, "minute", "global"))).0,
        Direction::Changed
    );
    // Removed entirely.
    let (direction, _, message) = only(base(), with_limit(json!([])));
    assert_eq!(direction, Direction::Looser);
    assert!(
        message.starts_with("limit removed from `send`"),
        "{message}"
    );
}

#[test]
fn conditions_added_and_removed() {
    let mut new = base();
    new["tools"]["send"]["require"] = json!([]);
    new["tools"]["send"]["deny_if"] = json!([
        {"conditions": [{"path": "args.message", "op": "contains", "value": "C-c"}], "on_deny": "Not allowed."},
        {"conditions": [{"path": "args.message", "op": "contains", "value": "C-d"}], "on_deny": "No EOF."}
    ]);
    let all = changes(base(), new);
    let summary: Vec<(Direction, &str)> = all.iter().map(|(d, _, m)| (*d, m.as_str())).collect();
    assert_eq!(
        summary,
        [
            (
                Direction::Looser,
                "requirement removed: args.target regex \"^ok:\""
            ),
            (
                Direction::Tighter,
                "refusal rule added: refuse when args.message contains \"C-d\""
            ),
            (
                Direction::Changed,
                "refusal message changed: \"No.\" → \"Not allowed.\""
            ),
        ]
    );
}

#[test]
fn pins_added_removed_and_changed() {
    let mut unpinned = base();
    unpinned["tools"]["send"]
        .as_object_mut()
        .expect("rule")
        .remove("pin");
    assert_eq!(only(base(), unpinned.clone()).0, Direction::Looser);
    assert_eq!(only(unpinned, base()).0, Direction::Tighter);
    let mut repinned = base();
    repinned["tools"]["send"]["pin"] = json!(format!("sha256:{}", "b".repeat(64)));
    let (direction, path, message) = only(base(), repinned);
    assert_eq!(
        (direction, path.as_str()),
        (Direction::Looser, "tools.send.pin")
    );
    assert!(message.starts_with("pin changed"), "{message}");
}

#[test]
fn looser_changes_come_first() {
    let mut new = base();
    new["hide"] = json!(["delete_repo", "read"]);
    new["tools"].as_object_mut().expect("tools").remove("read");
    new["tools"]["send"]["limits"][0]["max"] = json!(100);
    let all = changes(base(), new);
    let directions: Vec<Direction> = all.iter().map(|(direction, _, _)| *direction).collect();
    assert_eq!(directions, [Direction::Looser, Direction::Tighter]);
}

fn write(dir: &std::path::Path, name: &str, value: &Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).expect("json")).expect("write");
    path
}

#[test]
fn the_cli_exits_1_when_anything_got_looser_and_0_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = write(dir.path(), "old.json", &base());
    let mut looser = base();
    looser["default"] = json!("allow");
    let looser = write(dir.path(), "looser.json", &looser);
    let mut tighter = base();
    tighter["tools"]["send"]["limits"][0]["max"] = json!(5);
    let tighter = write(dir.path(), "tighter.json", &tighter);
    let run = |new: &std::path::Path, json: bool| {
        let mut command = Command::cargo_bin("mcpwarden").expect("binary");
        command
            .arg("--db")
            .arg(dir.path().join("unused.db"))
            .args(["policy", "diff"])
            .arg(&old)
            .arg(new);
        if json {
            command.arg("--json");
        }
        command.output().expect("runs")
    };
    let output = run(&looser, false);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .starts_with("LOOSER   default: the default changed from deny to allow")
    );
    let output = run(&tighter, true);
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["looser"], false);
    assert_eq!(report["changes"][0]["direction"], "tighter");
    assert_eq!(report["changes"][0]["path"], "tools.send.limits[0]");
    let output = run(&old, false);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "no change in what the policies allow\n"
    );
}

#[test]
fn an_invalid_policy_cannot_be_diffed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = write(dir.path(), "old.json", &base());
    let bad = write(
        dir.path(),
        "bad.json",
        &json!({"version": "1", "default": "maybe"}),
    );
    Command::cargo_bin("mcpwarden")
        .expect("binary")
        .arg("--db")
        .arg(dir.path().join("unused.db"))
        .args(["policy", "diff"])
        .arg(&old)
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("unknown variant `maybe`"));
}
