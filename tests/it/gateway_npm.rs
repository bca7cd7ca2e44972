//! A real MCP server from npm behind the gateway: `@modelcontextprotocol/server-everything`
//! at the version `.ci/run` installs into `$MCPWARDEN_NPM_DIR`. Allowed, hidden, denied,
//! rate-limited and invalid-argument calls, over stdio.
//!
//! This test fails (it does not skip) when `MCPWARDEN_NPM_DIR` is unset: a CI run without
//! the server must not look green.

use std::path::PathBuf;

use crate::gateway_common::*;
use serde_json::json;

const PINNED_VERSION: &str = "2026.8.31";

fn server_everything() -> PathBuf {
    let dir = std::env::var_os("MCPWARDEN_NPM_DIR").expect(
        "MCPWARDEN_NPM_DIR is not set: install @modelcontextprotocol/server-everything@2026.8.31 \
         with `npm install --prefix DIR` and set MCPWARDEN_NPM_DIR=DIR (.ci/run does this)",
    );
    let package = PathBuf::from(dir).join("node_modules/@modelcontextprotocol/server-everything");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(package.join("package.json"))
            .unwrap_or_else(|error| panic!("{} is not installed: {error}", package.display())),
    )
    .unwrap();
    assert_eq!(
        manifest["version"],
        json!(PINNED_VERSION),
        "wrong server-everything version"
    );
    package.join("dist/index.js")
}

#[test]
fn server_everything_behind_the_gateway() {
    let entry = server_everything();
    let policy =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/gateway/everything-policy.json");
    let mut gateway = Gateway::start_with(Options {
        policy: &policy,
        upstream: vec!["node".into(), entry.display().to_string(), "stdio".into()],
        ..Options::default()
    });
    let init = gateway.initialize(json!({}));
    assert!(init["result"]["serverInfo"]["name"].is_string(), "{init}");

    let tools = gateway.list_tools();
    assert_eq!(tools, ["echo", "get-sum", "gzip-file-as-resource"]);

    let echo = gateway.call("echo", json!({"message": "through the gateway"}));
    assert_eq!(result_text(&echo), "Echo: through the gateway", "{echo}");

    let hidden = gateway.call("get-env", json!({}));
    assert_eq!(hidden["error"]["code"], json!(-32602), "{hidden}");
    let unnamed = gateway.call("toggle-simulated-logging", json!({}));
    assert_eq!(unnamed["error"]["code"], json!(-32602), "{unnamed}");

    let denied = gateway.call("gzip-file-as-resource", json!({}));
    assert_eq!(
        result_text(&denied),
        "[POLICY DENIED] tools.gzip-file-as-resource.deny_if[0]: Fetching files is not allowed here."
    );

    let invalid = gateway.call("get-sum", json!({"a": "one", "b": 2}));
    assert!(is_refusal(&invalid), "{invalid}");
    assert!(
        result_text(&invalid).starts_with("[POLICY DENIED] inputSchema:"),
        "{invalid}"
    );

    for _ in 0..2 {
        let sum = gateway.call("get-sum", json!({"a": 2, "b": 3}));
        assert_ne!(sum["result"]["isError"], json!(true), "{sum}");
        assert!(result_text(&sum).contains('5'), "{sum}");
    }
    let limited = gateway.call("get-sum", json!({"a": 2, "b": 3}));
    assert!(
        result_text(&limited)
            .starts_with("[POLICY DENIED] tools.get-sum.limits[0]: rate limit reached"),
        "{limited}"
    );

    let reached: Vec<String> = gateway
        .upstream_calls()
        .iter()
        .map(|call| call["name"].as_str().unwrap_or("").to_owned())
        .collect();
    // The gateway's log file is the test server's; a real server does not write one, so
    // what reached the upstream is read from the audit instead.
    assert!(reached.is_empty());
    let allowed: Vec<String> = gateway
        .audit()
        .iter()
        .filter(|record| record["verdict"] == "allow")
        .map(|record| record["tool"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(allowed, ["echo", "get-sum", "get-sum"]);
    assert_eq!(gateway.close().code(), Some(0));
}
