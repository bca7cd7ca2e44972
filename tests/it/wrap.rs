//! `mcpwarden wrap`: rewriting an MCP client's configuration to put each server behind the
//! gateway, with a backup, a dry run and an undo.

use assert_cmd::Command;
use serde_json::{Value, json};

fn mcpwarden() -> Command {
    Command::cargo_bin("mcpwarden").unwrap()
}

fn config() -> Value {
    json!({
        "mcpServers": {
            "filesystem": {"command": "npx", "args": ["-y", "server-filesystem", "/home/me"]},
            "fetch": {"command": "uvx", "args": ["mcp-server-fetch"], "env": {"TOKEN": "x"}},
            "remote": {"url": "https://example.com/mcp"}
        },
        "theme": "dark"
    })
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claude_desktop_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config()).unwrap()).unwrap();
    let policies = dir.path().join("mcpwarden-policies");
    std::fs::create_dir(&policies).unwrap();
    for name in ["filesystem", "fetch"] {
        std::fs::write(policies.join(format!("{name}.json")), "{}").unwrap();
    }
    (dir, path)
}

#[test]
fn wraps_every_stdio_server_keeps_a_backup_and_undoes() {
    let (dir, path) = setup();
    let before = std::fs::read_to_string(&path).unwrap();
    mcpwarden()
        .args(["wrap", "--mcpwarden", "/opt/bin/mcpwarden"])
        .arg(&path)
        .assert()
        .success();
    let wrapped: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let fs = &wrapped["mcpServers"]["filesystem"];
    assert_eq!(fs["command"], "/opt/bin/mcpwarden");
    let policy = dir.path().join("mcpwarden-policies/filesystem.json");
    assert_eq!(
        fs["args"],
        json!([
            "gateway",
            "--policy",
            policy.display().to_string(),
            "--",
            "npx",
            "-y",
            "server-filesystem",
            "/home/me"
        ])
    );
    assert_eq!(wrapped["mcpServers"]["fetch"]["env"], json!({"TOKEN": "x"}));
    assert_eq!(
        wrapped["mcpServers"]["remote"],
        json!({"url": "https://example.com/mcp"})
    );
    assert_eq!(wrapped["theme"], "dark");
    let backup = dir
        .path()
        .join("claude_desktop_config.json.mcpwarden-backup");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), before);

    // Wrapping again changes nothing; undo restores the original servers.
    let again = mcpwarden()
        .args(["wrap", "--json", "--mcpwarden", "/opt/bin/mcpwarden"])
        .arg(&path)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["changed"], false);
    assert_eq!(report["servers"][0]["action"], "already-wrapped");
    mcpwarden()
        .args(["wrap", "--undo"])
        .arg(&path)
        .assert()
        .success();
    let restored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(restored, config());
    // The second write kept its own backup instead of overwriting the first.
    assert!(
        dir.path()
            .join("claude_desktop_config.json.mcpwarden-backup-2")
            .is_file()
    );
}

#[test]
fn dry_run_shows_the_diff_and_writes_nothing() {
    let (dir, path) = setup();
    let before = std::fs::read_to_string(&path).unwrap();
    let output = mcpwarden()
        .args(["wrap", "--dry-run", "--mcpwarden", "/opt/bin/mcpwarden"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("+      \"command\": \"/opt/bin/mcpwarden\""),
        "{stdout}"
    );
    assert!(stdout.contains("-      \"command\": \"npx\""), "{stdout}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no backup on a dry run"
    );
}

#[test]
fn a_server_without_a_policy_is_left_alone_and_reported() {
    let (dir, path) = setup();
    std::fs::remove_file(dir.path().join("mcpwarden-policies/fetch.json")).unwrap();
    let output = mcpwarden()
        .arg("--db")
        .arg(dir.path().join("empty.db"))
        .args(["wrap", "--json", "--no-crawl"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let fetch = report["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server"] == "fetch")
        .unwrap();
    assert_eq!(fetch["action"], "skipped");
    assert!(
        fetch["reason"]
            .as_str()
            .unwrap()
            .starts_with("no policy at"),
        "{fetch}"
    );
    // It says which package it would have generated the policy from, and how to get it.
    assert!(
        fetch["reason"].as_str().unwrap().ends_with(
            "the catalogue has no PyPI package mcp-server-fetch (crawl it with `mcpwarden crawl --pypi mcp-server-fetch`, or drop --no-crawl)"
        ),
        "{fetch}"
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        written["mcpServers"]["fetch"],
        config()["mcpServers"]["fetch"]
    );
}

#[test]
fn bad_configurations_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{ \"mcpServers\": { // a comment\n } }").unwrap();
    mcpwarden()
        .arg("wrap")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("broken.json is not JSON"));
    std::fs::write(&path, "{\"servers_of_mine\": {}}").unwrap();
    mcpwarden()
        .arg("wrap")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no `mcpServers`"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"servers_of_mine\": {}}"
    );
}
