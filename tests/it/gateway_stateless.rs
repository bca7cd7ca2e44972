//! The HTTP gateway with the 2026-07-28 revision's stateless POSTs (no `initialize`, no
//! `Mcp-Session-Id`; `Mcp-Method` and `Mcp-Name` headers), and bearer-token grants:
//! `scope: "grant"` limits count per grant across sessions and stateless requests, and a
//! missing or unknown token is 401 before anything starts.

use std::path::Path;
use std::process::Command;

use crate::gateway_common::{
    Listening as HttpGateway, POLICY, grants_file, is_refusal, result_text,
};
use serde_json::{Value, json};
use sha2::Digest;

impl HttpGateway {
    fn start_stateless(policy: &Path, extra_args: &[&str]) -> HttpGateway {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
        command
            .arg("gateway")
            .arg("--policy")
            .arg(policy)
            .args(["--listen", "127.0.0.1:0", "--audit"])
            .arg(dir.path().join("audit.jsonl"))
            .args(extra_args)
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_mcpwarden-test-server"))
            .env("MCPWARDEN_TEST_LOG", dir.path().join("upstream.log"));
        HttpGateway::spawn(command, dir)
    }

    /// The `tools/call` names the upstreams received.
    fn upstream_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("upstream.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|item| item["method"] == "tools/call")
            .map(|item| item["params"]["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// POSTs `body` with these headers (and the Accept every client sends).
    async fn post_stateless(
        &self,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (u16, Option<String>, Value) {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        for (key, value) in headers {
            request = request.header(*key, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let session = response
            .headers()
            .get("mcp-session-id")
            .map(|value| value.to_str().unwrap().to_owned());
        let bytes = response.bytes().await.unwrap();
        (
            status,
            session,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A stateless 2026-07-28 `tools/call`, with its headers.
    async fn stateless_call(
        &self,
        extra: &[(&str, &str)],
        id: u64,
        name: &str,
        arguments: Value,
    ) -> (u16, Option<String>, Value) {
        let mut headers = vec![
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", name),
        ];
        headers.extend_from_slice(extra);
        self.post_stateless(&headers, &call(id, name, arguments))
            .await
    }
}

fn call(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_requests_are_judged_like_any_other() {
    let gateway = HttpGateway::start_stateless(Path::new(POLICY), &[]);

    // Allowed: forwarded, answered, and no session is left behind.
    let (status, session, answer) = gateway
        .stateless_call(&[], 1, "echo", json!({"text": "hi"}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(session, None, "2026-07-28 has no sessions");
    assert_eq!(
        result_text(&answer),
        r#"echo ran with {"text":"hi"}"#,
        "{answer}"
    );

    // Denied: refused, and the upstream never sees it.
    let (status, _, answer) = gateway
        .stateless_call(&[], 2, "delete_repo", json!({"owner": "o", "repo": "r"}))
        .await;
    assert_eq!(status, 200);
    assert!(is_refusal(&answer), "{answer}");
    // Hidden: as if it did not exist.
    let (_, _, answer) = gateway
        .stateless_call(&[], 3, "run_command", json!({"command": "id"}))
        .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    // Invalid arguments against the tool's inputSchema.
    let (_, _, answer) = gateway
        .stateless_call(&[], 4, "echo", json!({"text": 1}))
        .await;
    assert!(
        is_refusal(&answer) && result_text(&answer).contains("inputSchema"),
        "{answer}"
    );
    // Other methods pass through the same judge: tools/list is filtered.
    let (status, _, answer) = gateway
        .post_stateless(
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/list"),
            ],
            &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let names: Vec<&str> = answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"echo") && !names.contains(&"run_command"),
        "{names:?}"
    );

    // The headers must say what the body says, and are required in this revision.
    let version = ("mcp-protocol-version", "2026-07-28");
    let body = call(6, "echo", json!({"text": "x"}));
    for (headers, why) in [
        (
            vec![version, ("mcp-method", "tools/list"), ("mcp-name", "echo")],
            "method",
        ),
        (
            vec![
                version,
                ("mcp-method", "tools/call"),
                ("mcp-name", "delete_repo"),
            ],
            "name",
        ),
        (
            vec![version, ("mcp-method", "tools/call"), ("mcp-name", "Echo")],
            "case",
        ),
        (vec![version, ("mcp-name", "echo")], "no Mcp-Method"),
        (vec![version, ("mcp-method", "tools/call")], "no Mcp-Name"),
    ] {
        let (status, _, answer) = gateway.post_stateless(&headers, &body).await;
        assert_eq!(status, 400, "{why}: {answer}");
    }
    // A batch is not a 2026-07-28 message.
    let (status, _, _) = gateway
        .post_stateless(
            &[version, ("mcp-method", "tools/call"), ("mcp-name", "echo")],
            &json!([call(7, "echo", json!({"text": "x"}))]),
        )
        .await;
    assert_eq!(status, 400);

    // Only the allowed call reached an upstream.
    assert_eq!(gateway.upstream_calls(), ["echo"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_limits_count_per_grant_across_sessions_and_stateless_requests() {
    let dir = tempfile::tempdir().unwrap();
    let grants = grants_file(dir.path());
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({"version": "1", "default": "deny", "tools": {
            "add": {"limits": [{"counter": "add", "window": "day", "max": 2, "scope": "grant"}]}
        }})
        .to_string(),
    )
    .unwrap();
    let gateway = HttpGateway::start_stateless(&policy, &["--grants", grants.to_str().unwrap()]);
    let ci = ("authorization", "Bearer token-of-ci");
    let ann = ("authorization", "Bearer token-of-ann");

    // No token, an unknown token, a malformed header: 401, stateless or not.
    for headers in [
        vec![],
        vec![("authorization", "Bearer nope")],
        vec![("authorization", "token-of-ci")],
    ] {
        let (status, _, _) = gateway
            .stateless_call(&headers, 1, "add", json!({"a": 1, "b": 1}))
            .await;
        assert_eq!(status, 401, "{headers:?}");
        let (status, _, _) = gateway
            .post_stateless(
                &headers,
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}}),
            )
            .await;
        assert_eq!(status, 401, "{headers:?}");
    }
    assert!(gateway.upstream_calls().is_empty());

    // ci-bot: one call in a session, one stateless; the third (another session) is over
    // ci-bot's limit of 2, while ann still has her own 2.
    let open = |token| {
        let gateway = &gateway;
        async move {
            let (status, session, body) = gateway
                .post_stateless(
                    &[token],
                    &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                        "protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"}}}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let session = session.unwrap();
            let headers = [token, ("mcp-session-id", session.as_str())];
            let (status, _, _) = gateway
                .post_stateless(
                    &headers,
                    &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                )
                .await;
            assert_eq!(status, 202);
            session
        }
    };
    let in_session = |token, session: String, id: u64| {
        let gateway = &gateway;
        async move {
            let headers = [token, ("mcp-session-id", session.as_str())];
            gateway
                .post_stateless(&headers, &call(id, "add", json!({"a": 1, "b": 1})))
                .await
                .2
        }
    };
    let first = open(ci).await;
    assert_eq!(result_text(&in_session(ci, first, 1).await), "2");
    let (_, _, answer) = gateway
        .stateless_call(&[ci], 2, "add", json!({"a": 1, "b": 1}))
        .await;
    assert_eq!(result_text(&answer), "2", "{answer}");
    let second = open(ci).await;
    let answer = in_session(ci, second, 3).await;
    assert!(
        is_refusal(&answer) && result_text(&answer).contains("per grant"),
        "{answer}"
    );
    let (_, _, answer) = gateway
        .stateless_call(&[ci], 4, "add", json!({"a": 1, "b": 1}))
        .await;
    assert!(is_refusal(&answer), "{answer}");

    let ann_session = open(ann).await;
    assert_eq!(result_text(&in_session(ann, ann_session, 5).await), "2");
    let (_, _, answer) = gateway
        .stateless_call(&[ann], 6, "add", json!({"a": 1, "b": 1}))
        .await;
    assert_eq!(
        result_text(&answer),
        "2",
        "ann's count is her own: {answer}"
    );
    assert_eq!(gateway.upstream_calls().len(), 4);

    // The audit names the grant of each decision.
    let audit = std::fs::read_to_string(gateway.dir.path().join("audit.jsonl")).unwrap();
    let denied_ci = audit
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["grant"] == "ci-bot" && record["verdict"] == "deny")
        .count();
    assert_eq!(denied_ci, 2, "{audit}");
}

#[test]
fn a_grants_file_with_unused_fields_is_refused() {
    // Labels nobody enforces would look like access control; the file holds only what the
    // gateway uses.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grants.json");
    let hash = format!("{:x}", sha2::Sha256::digest(b"t"));
    std::fs::write(
        &path,
        json!({"tokens": [{"sha256": hash, "name": "x", "grants": ["ci"]}]}).to_string(),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcpwarden"))
        .args([
            "gateway",
            "--policy",
            POLICY,
            "--listen",
            "127.0.0.1:0",
            "--grants",
        ])
        .arg(&path)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_mcpwarden-test-server"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("grants.json") && stderr.contains("unknown field `grants`"),
        "{stderr}"
    );
}
