//! `mcpwarden gateway --listen` end to end over loopback HTTP, with the test server as
//! the upstream (one child per HTTP session): the same allowed, hidden, denied,
//! rate-limited and invalid calls as over stdio; the HTTP rules (session ids, protocol
//! version, Origin, body size, bearer tokens); GET streams; DELETE; the upstream crashing;
//! and 1,000 concurrent sessions.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::gateway_common::{
    Listening as HttpGateway, POLICY, WAIT, grants_file, is_refusal, result_text,
};
use serde_json::{Value, json};

const INIT_PARAMS: &str = r#"{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"http-test","version":"1"}}"#;

impl HttpGateway {
    fn start(policy: &Path, extra_args: &[&str]) -> HttpGateway {
        let mut args: Vec<&str> = extra_args.to_vec();
        args.extend(["--", env!("CARGO_BIN_EXE_mcpwarden-test-server")]);
        HttpGateway::start_args(policy, &args)
    }

    /// Starts with exactly these arguments after the policy, listen and audit ones.
    fn start_args(policy: &Path, extra_args: &[&str]) -> HttpGateway {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
        command
            .arg("gateway")
            .arg("--policy")
            .arg(policy)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--audit")
            .arg(dir.path().join("audit.jsonl"))
            .args(extra_args)
            .env("MCPWARDEN_TEST_LOG", dir.path().join("upstream.log"));
        HttpGateway::spawn(command, dir)
    }

    fn upstream_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("upstream.log")).unwrap_or_default()
    }

    fn upstream_call_names(&self) -> Vec<String> {
        self.upstream_log()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .flat_map(|value| match value {
                Value::Array(items) => items,
                single => vec![single],
            })
            .filter(|item| item["method"] == "tools/call")
            .map(|item| item["params"]["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// How many live children the gateway has right now (from every process's PPid).
    fn children(&self) -> usize {
        let pid = self.child.id().to_string();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("status")).ok())
            .filter(|status| {
                let field = |name: &str| {
                    status
                        .lines()
                        .find_map(|line| line.strip_prefix(name).map(str::trim).map(str::to_owned))
                };
                field("PPid:").as_deref() == Some(pid.as_str())
                    && !field("State:").is_some_and(|state| state.starts_with('Z'))
            })
            .count()
    }
}

/// A POST with the headers a client sends; returns status, session header and body.
async fn post(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Option<String>, Value) {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
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
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}))
    };
    (status, session, body)
}

fn init_body(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{INIT_PARAMS}}}"#)
}

/// Initializes a session (with these extra headers) and returns its id.
async fn open(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> String {
    let (status, session, body) = post(client, url, None, headers, &init_body(0)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["serverInfo"]["name"].is_string(), "{body}");
    let session = session.expect("an Mcp-Session-Id on initialize");
    assert_eq!(session.len(), 32, "128 bits of hex: {session}");
    let (status, _, _) = post(
        client,
        url,
        Some(&session),
        headers,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert_eq!(status, 202);
    session
}

fn call_body(id: u64, name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
    .to_string()
}

async fn call(gateway: &HttpGateway, session: &str, id: u64, name: &str, args: Value) -> Value {
    let (status, _, body) = post(
        &gateway.client,
        &gateway.url,
        Some(session),
        &[],
        &call_body(id, name, args),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(id), "{body}");
    body
}

#[tokio::test]
async fn allowed_hidden_denied_rate_limited_and_invalid_calls_over_http() {
    let gateway = HttpGateway::start(Path::new(POLICY), &[]);
    let session = open(&gateway.client, &gateway.url, &[]).await;

    let (_, _, listed) = post(
        &gateway.client,
        &gateway.url,
        Some(&session),
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo"), "{names:?}");
    assert!(!names.contains(&"run_command"), "hidden tools are removed");

    let allowed = call(&gateway, &session, 2, "echo", json!({"text": "hello"})).await;
    assert_eq!(result_text(&allowed), r#"echo ran with {"text":"hello"}"#);

    let hidden = call(
        &gateway,
        &session,
        3,
        "run_command",
        json!({"command": "ls"}),
    )
    .await;
    assert_eq!(hidden["error"]["code"], json!(-32602), "{hidden}");

    let denied = call(
        &gateway,
        &session,
        4,
        "delete_repo",
        json!({"owner": "o", "repo": "r"}),
    )
    .await;
    assert_eq!(
        result_text(&denied),
        "[POLICY DENIED] tools.delete_repo.deny_if[0]: Deleting repositories is not allowed."
    );

    for id in [5, 6] {
        let sum = call(&gateway, &session, id, "add", json!({"a": 1, "b": 2})).await;
        assert_eq!(result_text(&sum), "3");
    }
    let limited = call(&gateway, &session, 7, "add", json!({"a": 1, "b": 2})).await;
    assert!(is_refusal(&limited), "{limited}");
    assert!(
        result_text(&limited).contains("rate limit reached"),
        "{limited}"
    );

    let invalid = call(&gateway, &session, 8, "echo", json!({"text": 5})).await;
    assert!(is_refusal(&invalid), "{invalid}");
    assert!(result_text(&invalid).starts_with("[POLICY DENIED] inputSchema:"));

    // A batch: each element judged, the answers come back as one array.
    let batch = format!(
        "[{},{}]",
        call_body(9, "echo", json!({"text": "b"})),
        call_body(10, "delete_repo", json!({"owner": "o", "repo": "r"}))
    );
    let (status, _, answers) =
        post(&gateway.client, &gateway.url, Some(&session), &[], &batch).await;
    assert_eq!(status, 200);
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 2);
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == json!(id)).unwrap();
    assert_eq!(by_id(9)["result"]["isError"], json!(false));
    assert!(is_refusal(by_id(10)));

    // Malformed JSON: a parse error, and the session goes on.
    let (status, _, parse) = post(&gateway.client, &gateway.url, Some(&session), &[], "{bad").await;
    assert_eq!(status, 400);
    assert_eq!(parse["error"]["code"], json!(-32700), "{parse}");
    let again = call(
        &gateway,
        &session,
        11,
        "echo",
        json!({"text": "still here"}),
    )
    .await;
    assert_eq!(again["result"]["isError"], json!(false));

    // The upstream saw exactly the allowed calls.
    assert_eq!(
        gateway.upstream_call_names(),
        vec!["echo", "add", "add", "echo", "echo"]
    );
}

#[tokio::test]
async fn session_ids_protocol_versions_origins_and_body_size_are_checked() {
    let gateway = HttpGateway::start(
        Path::new(POLICY),
        &[
            "--allow-origin",
            "https://app.example",
            "--max-message-bytes",
            "2000",
            "--max-sessions",
            "1",
        ],
    );
    let (client, url) = (&gateway.client, gateway.url.as_str());
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

    // No session id on anything but initialize: 400; an unknown one: 404.
    let (status, _, body) = post(client, url, None, &[], list).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = post(
        client,
        url,
        Some("0123456789abcdef0123456789abcdef"),
        &[],
        list,
    )
    .await;
    assert_eq!(status, 404);

    let session = open(client, url, &[]).await;
    let (status, _, body) = post(client, url, Some(&session), &[], list).await;
    assert_eq!(status, 200, "{body}");
    // --max-sessions 1: a second session is refused until the first ends.
    let (status, header, _) = post(client, url, None, &[], &init_body(0)).await;
    assert_eq!((status, header), (503, None));

    // Protocol versions: both supported revisions pass, anything else is 400.
    for (version, expected) in [
        ("2025-11-25", 200),
        ("2025-06-18", 200),
        ("1999-01-01", 400),
    ] {
        let response = client
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", version)
            .body(list)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{version}");
    }

    // Mcp-Method / Mcp-Name (2026-07-28 draft), when sent, must match the body.
    let echo = call_body(3, "echo", json!({"text": "h"}));
    for (method, name, expected) in [
        ("tools/call", "echo", 200),
        ("tools/call", "Echo", 400),
        ("tools/list", "echo", 400),
    ] {
        let headers = [("mcp-method", method), ("mcp-name", name)];
        let (status, _, body) = post(client, url, Some(&session), &headers, &echo).await;
        assert_eq!(status, expected, "{method} {name}: {body}");
    }

    // Origins: localhost (we listen on loopback) and --allow-origin pass; others are 403.
    for (origin, expected) in [
        ("http://localhost:3000", 200),
        ("http://127.0.0.1", 200),
        ("https://app.example", 200),
        ("https://evil.example", 403),
        ("http://localhost.evil.example", 403),
        ("null", 403),
    ] {
        let (status, _, _) = post(client, url, Some(&session), &[("origin", origin)], list).await;
        assert_eq!(status, expected, "{origin}");
    }
    // A refused Origin cannot even open a session.
    let (status, session_header, _) = post(
        client,
        url,
        None,
        &[("origin", "https://evil.example")],
        &init_body(0),
    )
    .await;
    assert_eq!((status, session_header), (403, None));

    // Oversized bodies: 413, and nothing reaches the upstream.
    let big = call_body(2, "echo", json!({"text": "x".repeat(5000)}));
    let (status, _, _) = post(client, url, Some(&session), &[], &big).await;
    assert_eq!(status, 413);
    assert!(!gateway.upstream_log().contains("xxxxxxxx"));
}

#[tokio::test]
async fn bearer_tokens_are_required_with_grants_and_never_reach_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let grants = grants_file(dir.path());
    // `add` limited per grant: two tokens have separate counts.
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({"version": "1", "default": "deny", "tools": {
            "add": {"limits": [{"counter": "add", "window": "day", "max": 1, "scope": "grant"}]}
        }})
        .to_string(),
    )
    .unwrap();
    let gateway = HttpGateway::start(&policy, &["--grants", grants.to_str().unwrap()]);
    let (client, url) = (&gateway.client, gateway.url.as_str());

    let (status, _, _) = post(client, url, None, &[], &init_body(0)).await;
    assert_eq!(status, 401);
    let (status, _, _) = post(
        client,
        url,
        None,
        &[("authorization", "Bearer wrong")],
        &init_body(0),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        gateway.children(),
        0,
        "no upstream starts without a valid token"
    );

    let ci = [("authorization", "Bearer token-of-ci")];
    let ann = [("authorization", "Bearer token-of-ann")];
    let ci_session = open(client, url, &ci).await;
    let ann_session = open(client, url, &ann).await;

    // A session is bound to its credential; without a token it is 401.
    let add = call_body(1, "add", json!({"a": 1, "b": 1}));
    let (status, _, _) = post(client, url, Some(&ci_session), &ann, &add).await;
    assert_eq!(status, 403);
    let (status, _, _) = post(client, url, Some(&ci_session), &[], &add).await;
    assert_eq!(status, 401);

    // Per-grant limits count per token name.
    let (_, _, first) = post(client, url, Some(&ci_session), &ci, &add).await;
    assert_eq!(result_text(&first), "2", "{first}");
    let (_, _, second) = post(
        client,
        url,
        Some(&ci_session),
        &ci,
        &call_body(2, "add", json!({"a": 1, "b": 1})),
    )
    .await;
    assert!(is_refusal(&second), "{second}");
    assert!(result_text(&second).contains("per grant"), "{second}");
    let (_, _, other) = post(client, url, Some(&ann_session), &ann, &add).await;
    assert_eq!(result_text(&other), "2", "ann's count is her own: {other}");

    // The audit names the grant; the upstream never saw a token.
    let audit = std::fs::read_to_string(gateway.dir.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains("ci-bot") && audit.contains("ann"), "{audit}");
    let log = gateway.upstream_log();
    assert!(!log.is_empty());
    assert!(
        !log.contains("token-of") && !log.to_lowercase().contains("bearer"),
        "{log}"
    );
}

#[tokio::test]
async fn bad_grants_files_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grants.json");
    std::fs::write(&path, r#"{"tokens": [{"sha256": "not-hex", "name": "x"}]}"#).unwrap();
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
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("grants.json") && stderr.contains("tokens[0].sha256"),
        "{stderr}"
    );
}

/// Reads SSE events from a streaming response until one satisfies `want`.
async fn next_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if let Ok(value) = serde_json::from_str::<Value>(&data)
                    && want(&value)
                {
                    return value;
                }
            }
            let chunk = response
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    found.expect("the event arrived in time")
}

#[tokio::test]
async fn server_messages_and_approvals_go_through_the_get_stream() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({"version": "1", "default": "deny", "tools": {
            "echo": {"approval": {"message": "Echo needs a person's yes."}},
            "change_tools": {}
        }})
        .to_string(),
    )
    .unwrap();
    let gateway = Arc::new(HttpGateway::start(&policy, &[]));
    let (client, url) = (&gateway.client, gateway.url.as_str());
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "http-test", "version": "1"}}});
    let (_, session, _) = post(client, url, None, &[], &init.to_string()).await;
    let session = session.unwrap();
    post(
        client,
        url,
        Some(&session),
        &[],
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;

    let mut stream = client
        .get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut buffer = String::new();

    // An approval: the call's POST waits while the elicitation goes out on the stream.
    let waiting = {
        let gateway = gateway.clone();
        let session = session.clone();
        tokio::spawn(async move { call(&gateway, &session, 5, "echo", json!({"text": "x"})).await })
    };
    let ask = next_event(&mut stream, &mut buffer, |v| {
        v["method"] == "elicitation/create"
    })
    .await;
    let (status, _, _) = post(
        client,
        url,
        Some(&session),
        &[],
        &json!({"jsonrpc": "2.0", "id": ask["id"],
            "result": {"action": "accept", "content": {"approve": true}}})
        .to_string(),
    )
    .await;
    assert_eq!(status, 202);
    let answer = waiting.await.unwrap();
    assert_eq!(
        result_text(&answer),
        r#"echo ran with {"text":"x"}"#,
        "{answer}"
    );

    // A notification from the upstream reaches the stream.
    call(&gateway, &session, 6, "change_tools", json!({})).await;
    next_event(&mut stream, &mut buffer, |v| {
        v["method"] == "notifications/tools/list_changed"
    })
    .await;
}

#[tokio::test]
async fn delete_ends_the_session_and_its_upstream() {
    let gateway = HttpGateway::start(Path::new(POLICY), &[]);
    let (client, url) = (&gateway.client, gateway.url.as_str());
    let first = open(client, url, &[]).await;
    let second = open(client, url, &[]).await;
    assert_ne!(first, second);
    assert_eq!(gateway.children(), 2, "one upstream per session");

    let response = client
        .delete(url)
        .header("mcp-session-id", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, _, _) = post(
        client,
        url,
        Some(&first),
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    )
    .await;
    assert_eq!(status, 404);
    for _ in 0..100 {
        if gateway.children() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        gateway.children(),
        1,
        "the ended session's upstream is gone"
    );
    let (status, _, _) = post(
        client,
        url,
        Some(&second),
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_upstream_crash_answers_the_call_and_ends_only_that_session() {
    let gateway = HttpGateway::start(Path::new(POLICY), &[]);
    let (client, url) = (&gateway.client, gateway.url.as_str());
    let doomed = open(client, url, &[]).await;
    let other = open(client, url, &[]).await;
    let answer = call(&gateway, &doomed, 1, "crash", json!({})).await;
    assert_eq!(answer["error"]["code"], json!(-32001), "{answer}");
    let ping = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
    let mut status = 0;
    for _ in 0..100 {
        status = post(client, url, Some(&doomed), &[], ping).await.0;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 404, "the crashed session is gone");
    let fine = call(&gateway, &other, 3, "echo", json!({"text": "ok"})).await;
    assert_eq!(fine["result"]["isError"], json!(false));
}

/// 1,000 sessions open at once on loopback, each with its own upstream child: each
/// initializes and makes one call; every request has a time bound and so does the whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_sessions() {
    const SESSIONS: u64 = 1000;
    let gateway = Arc::new(HttpGateway::start(Path::new(POLICY), &[]));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(SESSIONS as usize)
        .build()
        .unwrap();
    let everything = async {
        let mut tasks = Vec::new();
        for index in 0..SESSIONS {
            let client = client.clone();
            let url = gateway.url.clone();
            tasks.push(tokio::spawn(async move {
                let session = open(&client, &url, &[]).await;
                let text = format!("session {index}");
                let (status, _, answer) = post(
                    &client,
                    &url,
                    Some(&session),
                    &[],
                    &call_body(index, "echo", json!({"text": text})),
                )
                .await;
                assert_eq!(status, 200, "{answer}");
                assert_eq!(
                    result_text(&answer),
                    format!(r#"echo ran with {{"text":"session {index}"}}"#)
                );
                session
            }));
        }
        let mut sessions = Vec::new();
        for task in tasks {
            sessions.push(task.await.unwrap());
        }
        sessions
    };
    let sessions = tokio::time::timeout(Duration::from_secs(240), everything)
        .await
        .expect("1,000 sessions finished in the time bound");
    let unique: std::collections::HashSet<_> = sessions.iter().collect();
    assert_eq!(
        unique.len(),
        SESSIONS as usize,
        "every session id is distinct"
    );
    assert_eq!(gateway.children(), SESSIONS as usize);
    assert_eq!(gateway.upstream_call_names().len(), SESSIONS as usize);
}

/// `--http-threads 3`: three threads accept and serve (their names show in /proc), and a
/// session opened on one connection answers calls that come in on fresh connections,
/// whichever thread accepts them, with its child's I/O driven by the thread that started it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_served_by_every_serving_thread() {
    const CONNECTIONS: u64 = 24;
    let gateway = HttpGateway::start(Path::new(POLICY), &["--http-threads", "3"]);
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", gateway.child.id()))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect();
    let mut serving: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| name.starts_with("http-serve-"))
        .collect();
    serving.sort_unstable();
    assert_eq!(serving, ["http-serve-1", "http-serve-2"], "{names:?}");
    let session = open(&gateway.client, &gateway.url, &[]).await;
    let mut calls = Vec::new();
    for index in 0..CONNECTIONS {
        // A client of its own: a new connection, accepted by any of the threads.
        let client = reqwest::Client::builder()
            .timeout(WAIT)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let (url, session) = (gateway.url.clone(), session.clone());
        calls.push(tokio::spawn(async move {
            let text = format!("connection {index}");
            let (status, _, answer) = post(
                &client,
                &url,
                Some(&session),
                &[],
                &call_body(100 + index, "echo", json!({"text": text})),
            )
            .await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["id"], json!(100 + index), "{answer}");
            assert_eq!(
                result_text(&answer),
                format!(r#"echo ran with {{"text":"connection {index}"}}"#)
            );
        }));
    }
    for call in calls {
        tokio::time::timeout(WAIT, call)
            .await
            .expect("every call answered in time")
            .unwrap();
    }
    assert_eq!(gateway.children(), 1, "one session, one child");
    assert_eq!(gateway.upstream_call_names().len(), CONNECTIONS as usize);
}

#[tokio::test]
async fn sigterm_stops_the_gateway_and_every_upstream() {
    let mut gateway = HttpGateway::start(Path::new(POLICY), &[]);
    for _ in 0..3 {
        open(&gateway.client, &gateway.url, &[]).await;
    }
    let pid = gateway.child.id().to_string();
    let children: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            status
                .lines()
                .any(|line| line.strip_prefix("PPid:").map(str::trim) == Some(pid.as_str()))
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect();
    assert_eq!(children.len(), 3);
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let mut code = None;
    for _ in 0..200 {
        if let Some(status) = gateway.child.try_wait().unwrap() {
            code = status.code();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(code, Some(143));
    for child in children {
        let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
        let alive = status
            .lines()
            .any(|line| line.starts_with("State:") && !line.contains('Z'));
        assert!(!alive, "upstream {child} outlived the gateway: {status}");
    }
}

type Headers = Vec<(String, String)>;

/// What the remote test server saw: each request's method, headers and body.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, Headers, String)>,
}

/// A small remote Streamable HTTP server on loopback: JSON answers, except `tools/call`,
/// which it answers as an SSE stream; it records every request.
async fn remote_server(seen: Arc<std::sync::Mutex<Seen>>) -> String {
    use axum::http::{HeaderMap, Method};
    use axum::response::IntoResponse;
    let handler = move |method: Method, headers: HeaderMap, body: String| {
        let seen = seen.clone();
        async move {
            let header_list = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            seen.lock()
                .unwrap()
                .requests
                .push((method.to_string(), header_list, body.clone()));
            if method == Method::DELETE {
                return axum::http::StatusCode::OK.into_response();
            }
            let message: Value = serde_json::from_str(&body).unwrap();
            let id = message["id"].clone();
            let json_answer = |result: Value| {
                (
                    [
                        ("content-type", "application/json"),
                        ("mcp-session-id", "up-1"),
                    ],
                    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
                )
                    .into_response()
            };
            match message["method"].as_str() {
                Some("initialize") => json_answer(json!({"protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {}}, "serverInfo": {"name": "remote", "version": "1"}})),
                Some("tools/list") => json_answer(json!({"tools": [
                    {"name": "echo", "inputSchema": {"type": "object",
                        "properties": {"text": {"type": "string"}}, "required": ["text"]}},
                    {"name": "delete_repo", "inputSchema": {"type": "object"}},
                    {"name": "run_command", "inputSchema": {"type": "object"}}
                ]})),
                Some("tools/call") => {
                    let text = format!("remote echo {}", message["params"]["arguments"]["text"]);
                    let event = json!({"jsonrpc": "2.0", "id": id, "result": {
                        "content": [{"type": "text", "text": text}], "isError": false}});
                    (
                        [("content-type", "text/event-stream")],
                        format!("event: message\ndata: {event}\n\n"),
                    )
                        .into_response()
                }
                Some(_) if id.is_null() => axum::http::StatusCode::ACCEPTED.into_response(),
                Some(_) => json_answer(json!({})),
                None => axum::http::StatusCode::ACCEPTED.into_response(),
            }
        }
    };
    let router = axum::Router::new().route("/mcp", axum::routing::any(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/mcp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_upstream_gets_the_injected_headers_and_never_the_clients_token() {
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let upstream = remote_server(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let grants = grants_file(dir.path());
    let gateway = HttpGateway::start_args(
        Path::new(POLICY),
        &[
            "--grants",
            grants.to_str().unwrap(),
            "--upstream",
            &upstream,
            "--upstream-header",
            "X-Api-Key: remote-secret",
        ],
    );
    let (client, url) = (&gateway.client, gateway.url.as_str());
    let auth = [("authorization", "Bearer token-of-ci")];
    let session = open(client, url, &auth).await;

    let echo = call_body(1, "echo", json!({"text": "hi"}));
    let (status, _, answer) = post(client, url, Some(&session), &auth, &echo).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(result_text(&answer), r#"remote echo "hi""#, "{answer}");
    let denied = call_body(2, "delete_repo", json!({}));
    let (_, _, denied) = post(client, url, Some(&session), &auth, &denied).await;
    assert!(is_refusal(&denied), "{denied}");
    let hidden = call_body(3, "run_command", json!({}));
    let (_, _, hidden) = post(client, url, Some(&session), &auth, &hidden).await;
    assert_eq!(hidden["error"]["code"], json!(-32602), "{hidden}");

    let response = client
        .delete(url)
        .header("mcp-session-id", &session)
        .header("authorization", "Bearer token-of-ci")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let seen = seen.lock().unwrap();
    let methods: Vec<String> = seen
        .requests
        .iter()
        .map(|(method, _, body)| {
            let name = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v["method"].as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{method} {name}")
        })
        .collect();
    assert_eq!(
        methods,
        vec![
            "POST initialize",
            "POST notifications/initialized",
            "POST tools/list",
            "POST tools/call",
            "DELETE "
        ],
        "the gateway listed the tools itself; only the allowed call went upstream"
    );
    assert!(seen.requests[3].2.contains(r#""name":"echo""#));
    for (index, (_, headers, _)) in seen.requests.iter().enumerate() {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("authorization"),
            None,
            "the client's token never goes upstream"
        );
        assert_eq!(get("x-api-key"), Some("remote-secret"));
        if index > 0 {
            assert_eq!(get("mcp-session-id"), Some("up-1"), "request {index}");
            assert_eq!(get("mcp-protocol-version"), Some("2025-06-18"));
        }
        assert!(
            !headers.iter().any(|(_, v)| v.contains("token-of-ci")),
            "{headers:?}"
        );
    }
}

/// The hidden in-process upstream (what the throughput benchmark measures) goes through
/// the same judge, schema validation, limits, audit and session code as a child: the
/// same calls get the same answers, the upstream sees only the allowed ones, and no child
/// process is started.
#[tokio::test]
async fn an_in_process_upstream_is_judged_like_a_child() {
    let gateway = HttpGateway::start_args(Path::new(POLICY), &["--in-process-test-upstream"]);
    let session = open(&gateway.client, &gateway.url, &[]).await;
    let (_, _, listed) = post(
        &gateway.client,
        &gateway.url,
        Some(&session),
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo"), "{names:?}");
    assert!(!names.contains(&"run_command"), "hidden tools are removed");

    let allowed = call(&gateway, &session, 2, "echo", json!({"text": "hello"})).await;
    assert_eq!(result_text(&allowed), r#"echo ran with {"text":"hello"}"#);
    let hidden = call(
        &gateway,
        &session,
        3,
        "run_command",
        json!({"command": "ls"}),
    )
    .await;
    assert_eq!(hidden["error"]["code"], json!(-32602), "{hidden}");
    let denied = call(
        &gateway,
        &session,
        4,
        "delete_repo",
        json!({"owner": "o", "repo": "r"}),
    )
    .await;
    assert_eq!(
        result_text(&denied),
        "[POLICY DENIED] tools.delete_repo.deny_if[0]: Deleting repositories is not allowed."
    );
    for id in [5, 6] {
        let sum = call(&gateway, &session, id, "add", json!({"a": 1, "b": 2})).await;
        assert_eq!(result_text(&sum), "3");
    }
    let limited = call(&gateway, &session, 7, "add", json!({"a": 1, "b": 2})).await;
    assert!(
        result_text(&limited).contains("rate limit reached"),
        "{limited}"
    );
    let invalid = call(&gateway, &session, 8, "echo", json!({"text": 5})).await;
    assert!(
        result_text(&invalid).starts_with("[POLICY DENIED] inputSchema:"),
        "{invalid}"
    );
    // An upstream failure gives back what the call reserved, as with a child.
    for id in [9, 10] {
        let failed = call(&gateway, &session, id, "rpc_fail", json!({})).await;
        assert_eq!(failed["error"]["code"], json!(-32603), "{failed}");
    }

    assert_eq!(
        gateway.upstream_call_names(),
        vec!["echo", "add", "add", "rpc_fail", "rpc_fail"]
    );
    assert_eq!(
        gateway.children(),
        0,
        "no child process for an in-process upstream"
    );
    let audit = std::fs::read_to_string(gateway.dir.path().join("audit.jsonl")).unwrap();
    let decisions: Vec<Value> = audit
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        decisions
            .iter()
            .any(|record| record["tool"] == "delete_repo"),
        "{audit}"
    );
    assert!(
        decisions.iter().any(|record| record["tool"] == "echo"),
        "{audit}"
    );

    // A crash ends that session only.
    let other = open(&gateway.client, &gateway.url, &[]).await;
    let crashed = call(&gateway, &session, 11, "crash", json!({})).await;
    assert_eq!(crashed["error"]["code"], json!(-32001), "{crashed}");
    let ping = r#"{"jsonrpc":"2.0","id":12,"method":"ping"}"#;
    let mut status = 0;
    for _ in 0..100 {
        status = post(&gateway.client, &gateway.url, Some(&session), &[], ping)
            .await
            .0;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 404, "the crashed session is gone");
    let fine = call(&gateway, &other, 13, "echo", json!({"text": "ok"})).await;
    assert_eq!(fine["result"]["isError"], json!(false));
}

/// Without `--grants`, each HTTP session is its own anonymous grant: a `grant`-scoped
/// limit one client used up does not refuse another.
#[tokio::test]
async fn without_grants_each_session_gets_its_own_grant_limits() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"version": "1", "default": "deny", "tools": {"echo": {"limits": [
            {"counter": "echo", "window": "minute", "max": 1, "scope": "grant"}]}}}"#,
    )
    .unwrap();
    let gateway = HttpGateway::start(&policy, &[]);
    let first = open(&gateway.client, &gateway.url, &[]).await;
    let second = open(&gateway.client, &gateway.url, &[]).await;
    let allowed = call(&gateway, &first, 1, "echo", json!({"text": "a"})).await;
    assert_eq!(
        result_text(&allowed),
        r#"echo ran with {"text":"a"}"#,
        "{allowed}"
    );
    let limited = call(&gateway, &first, 2, "echo", json!({"text": "a"})).await;
    assert!(
        result_text(&limited)
            .starts_with("[POLICY DENIED] tools.echo.limits[0]: rate limit reached"),
        "{limited}"
    );
    let other = call(&gateway, &second, 3, "echo", json!({"text": "b"})).await;
    assert_eq!(
        result_text(&other),
        r#"echo ran with {"text":"b"}"#,
        "{other}"
    );
}
