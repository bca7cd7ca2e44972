//! `mcpwarden gateway --config FILE`: two test-server children (`alpha` and `beta`, each
//! with its own policy in tests/data/gateway/multi/) behind one endpoint, over stdio and
//! over HTTP. Tools are namespaced `<server>__<tool>` and filtered by their own server's
//! policy; calls are judged by that policy and reach only that server; one server dying
//! leaves the other working; a bad config or a missing policy stops the start.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::gateway_common::Listening as HttpGateway;
use serde_json::{Value, json};

const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gateway/multi");
const WAIT: Duration = Duration::from_secs(20);

/// Writes a config with `alpha` and `beta` (beta lists its tools two per page), each
/// logging what it receives to `<name>.log` in `dir`.
fn write_config(dir: &Path) -> PathBuf {
    let server = env!("CARGO_BIN_EXE_mcpwarden-test-server");
    let config = json!({"mcpServers": {
        "alpha": {"command": server, "args": [],
                  "env": {"MCPWARDEN_TEST_LOG": dir.join("alpha.log")}},
        "beta": {"command": server,
                 "env": {"MCPWARDEN_TEST_LOG": dir.join("beta.log"),
                         "MCPWARDEN_TEST_PAGE_SIZE": "2"}},
        "off": {"command": "/nonexistent", "disabled": true}
    }});
    let path = dir.join("mcp.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// The `tools/call` names one server received.
fn calls_seen(dir: &Path, server: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{server}.log")))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|item| item["method"] == "tools/call")
        .map(|item| item["params"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn audit(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("")
}

fn is_refusal(answer: &Value) -> bool {
    answer["result"]["isError"] == json!(true) && text(answer).starts_with("[POLICY DENIED]")
}

fn names(answer: &Value) -> Vec<String> {
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("a tool list: {answer}"))
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect()
}

const ALPHA_TOOLS: [&str; 7] = [
    "alpha__echo",
    "alpha__read_file",
    "alpha__delete_repo",
    "alpha__add",
    "alpha__crash",
    "alpha__hang",
    "alpha__change_tools",
];
const BETA_TOOLS: [&str; 4] = [
    "beta__read_file",
    "beta__delete_repo",
    "beta__add",
    "beta__crash",
];

struct StdioGateway {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    dir: tempfile::TempDir,
    next_id: u64,
}

impl StdioGateway {
    fn start() -> StdioGateway {
        StdioGateway::start_with(Path::new(POLICIES))
    }

    fn start_with(policies: &Path) -> StdioGateway {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path());
        StdioGateway::start_in(dir, &config, policies)
    }

    /// The gateway over `config`, keeping its audit (and anything else) in `dir`.
    fn start_in(dir: tempfile::TempDir, config: &Path, policies: &Path) -> StdioGateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcpwarden"))
            .args(["gateway", "--config"])
            .arg(config)
            .arg("--policies")
            .arg(policies)
            .arg("--audit")
            .arg(dir.path().join("audit.jsonl"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        StdioGateway {
            stdin: child.stdin.take(),
            child,
            lines,
            dir,
            next_id: 100,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn recv(&mut self) -> Value {
        let line = self.lines.recv_timeout(WAIT).expect("an answer in time");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends a request; returns its answer and the notifications that came before it.
    fn request(&mut self, message: Value) -> (Value, Vec<Value>) {
        let id = message["id"].clone();
        self.send(&message.to_string());
        let mut notifications = Vec::new();
        for _ in 0..100 {
            let answer = self.recv();
            if answer["id"] == id && answer.get("method").is_none() {
                return (answer, notifications);
            }
            notifications.push(answer);
        }
        panic!("no answer with id {id}");
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn call(&mut self, name: &str, arguments: Value) -> Value {
        let id = self.id();
        self.request(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}))
            .0
    }

    fn list(&mut self) -> Value {
        let id = self.id();
        self.request(json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}))
            .0
    }

    fn initialize(&mut self) -> Value {
        self.initialize_with(json!({}))
    }

    fn initialize_with(&mut self, capabilities: Value) -> Value {
        let (answer, _) = self.request(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": capabilities,
                       "clientInfo": {"name": "config-test", "version": "1"}}}));
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        answer
    }
}

impl Drop for StdioGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_servers_behind_one_stdio_endpoint() {
    let mut gateway = StdioGateway::start();
    let init = gateway.initialize();
    assert_eq!(init["result"]["serverInfo"]["name"], "mcpwarden", "{init}");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert_eq!(
        init["result"]["capabilities"],
        json!({"tools": {"listChanged": true}}),
        "only tools are aggregated: {init}"
    );

    // Each server's list filtered by its own policy, beta's two pages collected.
    let listed = names(&gateway.list());
    let expected: Vec<&str> = ALPHA_TOOLS.iter().chain(&BETA_TOOLS).copied().collect();
    assert_eq!(listed, expected);

    // Allowed: reaches only its own server, under its own name.
    let answer = gateway.call("alpha__echo", json!({"text": "hi"}));
    assert_eq!(text(&answer), r#"echo ran with {"text":"hi"}"#, "{answer}");
    let answer = gateway.call("beta__read_file", json!({"path": "/tmp/x"}));
    assert!(text(&answer).starts_with("read_file ran"), "{answer}");

    // Hidden by one server's policy, visible in the other's: -32602 as if absent.
    let answer = gateway.call("beta__echo", json!({"text": "hi"}));
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let answer = gateway.call("alpha__run_command", json!({"command": "id"}));
    assert_eq!(answer["error"]["code"], -32602, "{answer}");

    // Denied, each by its own rule.
    let answer = gateway.call("alpha__delete_repo", json!({"owner": "o", "repo": "r"}));
    assert!(is_refusal(&answer), "{answer}");
    assert!(
        text(&answer).contains("Deleting repositories is not allowed."),
        "{answer}"
    );
    let answer = gateway.call("beta__delete_repo", json!({"owner": "o", "repo": "r"}));
    assert!(text(&answer).contains("Beta never deletes"), "{answer}");

    // Rate limits count per server: beta allows one `add`, alpha two.
    assert_eq!(
        text(&gateway.call("beta__add", json!({"a": 1, "b": 2}))),
        "3"
    );
    let answer = gateway.call("beta__add", json!({"a": 1, "b": 2}));
    assert!(is_refusal(&answer), "{answer}");
    assert_eq!(
        text(&gateway.call("alpha__add", json!({"a": 2, "b": 2}))),
        "4"
    );
    assert_eq!(
        text(&gateway.call("alpha__add", json!({"a": 2, "b": 3}))),
        "5"
    );

    // Invalid arguments against the tool's own inputSchema.
    let answer = gateway.call("alpha__echo", json!({"text": 5}));
    assert!(is_refusal(&answer), "{answer}");
    assert!(text(&answer).contains("inputSchema"), "{answer}");

    // Unknown prefixes and names without one.
    for name in ["gamma__echo", "echo", "__echo", "alpha_echo", "Alpha__echo"] {
        let answer = gateway.call(name, json!({"text": "hi"}));
        assert_eq!(answer["error"]["code"], -32602, "{name}: {answer}");
    }

    // Only tools: other features are not offered; batches are refused whole.
    let id = gateway.id();
    let (answer, _) =
        gateway.request(json!({"jsonrpc": "2.0", "id": id, "method": "resources/list"}));
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
    gateway.send(
        r#"[{"jsonrpc":"2.0","id":900,"method":"tools/call","params":{"name":"alpha__echo","arguments":{"text":"b"}}}]"#,
    );
    let answer = gateway.recv();
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    let id = gateway.id();
    let (answer, _) = gateway.request(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}));
    assert_eq!(answer["result"], json!({}));

    // list_changed from one server reaches the client.
    let id = gateway.id();
    let (answer, mut seen) = gateway.request(json!({"jsonrpc": "2.0", "id": id,
        "method": "tools/call", "params": {"name": "alpha__change_tools", "arguments": {}}}));
    assert_eq!(text(&answer), "changed", "{answer}");
    if seen.is_empty() {
        seen.push(gateway.recv());
    }
    assert_eq!(
        seen[0]["method"], "notifications/tools/list_changed",
        "{seen:?}"
    );

    // What each server received: only its own allowed calls, under their own names.
    let dir = gateway.dir.path().to_owned();
    assert_eq!(
        calls_seen(&dir, "alpha"),
        ["echo", "add", "add", "change_tools"]
    );
    assert_eq!(calls_seen(&dir, "beta"), ["read_file", "add"]);

    // The audit names the server of each decision.
    let records = audit(&dir);
    let find = |server: Option<&str>, tool: &str, verdict: &str| {
        records.iter().any(|record| {
            record["server"].as_str() == server
                && record["tool"] == tool
                && record["verdict"] == verdict
        })
    };
    assert!(find(Some("beta"), "add", "deny"), "{records:?}");
    assert!(find(Some("alpha"), "echo", "allow"), "{records:?}");
    assert!(find(Some("beta"), "echo", "hidden"), "{records:?}");
    assert!(find(None, "gamma__echo", "unknown"), "{records:?}");
}

#[test]
fn one_server_dying_leaves_the_other_working_over_stdio() {
    let mut gateway = StdioGateway::start();
    gateway.initialize();
    assert_eq!(names(&gateway.list()).len(), 11);
    // A cancelled call reaches its server's judge (which swallows a late answer); its id
    // stays taken, so reusing it is refused at once instead of going unanswered.
    gateway.send(
        r#"{"jsonrpc":"2.0","id":500,"method":"tools/call","params":{"name":"alpha__hang","arguments":{}}}"#,
    );
    gateway
        .send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":500}}"#);
    let (answer, _) = gateway.request(json!({"jsonrpc": "2.0", "id": 500, "method": "tools/call",
        "params": {"name": "alpha__echo", "arguments": {"text": "again"}}}));
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    let id = gateway.id();
    let (answer, _) = gateway.request(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "beta__crash", "arguments": {}}}));
    assert_eq!(answer["error"]["code"], -32001, "{answer}");
    // Its tools are gone (the client was told), calls to them get an error, alpha goes on.
    let notification = gateway.recv();
    assert_eq!(notification["method"], "notifications/tools/list_changed");
    assert_eq!(names(&gateway.list()), ALPHA_TOOLS);
    let answer = gateway.call("beta__add", json!({"a": 1, "b": 1}));
    assert_eq!(answer["error"]["code"], -32001, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("beta"),
        "{answer}"
    );
    assert_eq!(
        text(&gateway.call("alpha__add", json!({"a": 1, "b": 1}))),
        "2"
    );
    // The client leaving ends the gateway.
    gateway.stdin = None;
    for _ in 0..500 {
        if gateway.child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the gateway did not exit after its client left");
}

#[test]
fn approvals_from_two_servers_get_distinct_ids_and_go_back_to_their_server() {
    // Both judges number their own elicitations from 1: the client must still be able to
    // tell them apart, and each answer must reach the server that asked.
    let policies = tempfile::tempdir().unwrap();
    for server in ["alpha", "beta"] {
        std::fs::write(
            policies.path().join(format!("{server}.json")),
            json!({"version": "1", "default": "deny", "tools": {
                "read_file": {"approval": {"message": format!("{server} asks a person.")}}
            }})
            .to_string(),
        )
        .unwrap();
    }
    let mut gateway = StdioGateway::start_with(policies.path());
    gateway.initialize_with(json!({"elicitation": {}}));
    gateway.list();
    let ask = |gateway: &mut StdioGateway, id: u64, name: &str| {
        gateway.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": name, "arguments": {"path": "/p"}}})
            .to_string(),
        );
        let request = gateway.recv();
        assert_eq!(request["method"], "elicitation/create", "{request}");
        request
    };
    let from_alpha = ask(&mut gateway, 1, "alpha__read_file");
    let from_beta = ask(&mut gateway, 2, "beta__read_file");
    assert!(
        from_alpha["params"]["message"]
            .as_str()
            .unwrap()
            .contains("alpha asks")
    );
    assert_ne!(from_alpha["id"], from_beta["id"]);
    // Beta's is approved, alpha's declined, answered in the other order.
    gateway.send(
        &json!({"jsonrpc": "2.0", "id": from_beta["id"],
            "result": {"action": "accept", "content": {"approve": true}}})
        .to_string(),
    );
    let answer = gateway.recv();
    assert_eq!(answer["id"], 2, "{answer}");
    assert!(text(&answer).starts_with("read_file ran"), "{answer}");
    gateway.send(
        &json!({"jsonrpc": "2.0", "id": from_alpha["id"],
            "result": {"action": "decline"}})
        .to_string(),
    );
    let answer = gateway.recv();
    assert_eq!(answer["id"], 1, "{answer}");
    assert!(is_refusal(&answer), "{answer}");
    let dir = gateway.dir.path().to_owned();
    assert!(calls_seen(&dir, "alpha").is_empty());
    assert_eq!(calls_seen(&dir, "beta"), ["read_file"]);
}

/// Runs `gateway --config` and expects it to refuse to start.
fn refused_start(config: &Value, policies: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mcp.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcpwarden"))
        .args(["gateway", "--config"])
        .arg(&path)
        .arg("--policies")
        .arg(policies)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn config_errors_stop_the_start_and_name_the_server() {
    let server = env!("CARGO_BIN_EXE_mcpwarden-test-server");
    let policies = Path::new(POLICIES);
    // No policy for a server.
    let stderr = refused_start(
        &json!({"mcpServers": {"alpha": {"command": server}, "gamma": {"command": server}}}),
        policies,
    );
    assert!(
        stderr.contains("\"gamma\"") && stderr.contains("gamma.json"),
        "{stderr}"
    );
    // A name that could not be a prefix.
    let stderr = refused_start(
        &json!({"mcpServers": {"my__server": {"command": server}}}),
        policies,
    );
    assert!(
        stderr.contains("my__server") && stderr.contains("must not contain `__`"),
        "{stderr}"
    );
    // An invalid policy names its server and its problem.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("alpha.json"),
        r#"{"version": "1", "default": "maybe"}"#,
    )
    .unwrap();
    let stderr = refused_start(
        &json!({"mcpServers": {"alpha": {"command": server}}}),
        bad.path(),
    );
    assert!(
        stderr.contains("server \"alpha\"") && stderr.contains("alpha.json"),
        "{stderr}"
    );
    // Not a client configuration.
    let stderr = refused_start(&json!({"servers": []}), policies);
    assert!(stderr.contains("no `mcpServers`"), "{stderr}");
}

// ---- A remote server in the config ----

/// A remote Streamable HTTP server: `gateway --listen` letting everything through (its own
/// policy allows all) to a test server that logs what it receives to `log`, and that
/// answers only to the bearer token `token-of-ci` (`--grants`).
fn remote_server(log: &Path) -> HttpGateway {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("open.json");
    std::fs::write(&policy, r#"{"version": "1", "default": "allow"}"#).unwrap();
    let grants = crate::gateway_common::grants_file(dir.path());
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
    command
        .args(["gateway", "--listen", "127.0.0.1:0", "--policy"])
        .arg(&policy)
        .arg("--grants")
        .arg(&grants)
        .env("MCPWARDEN_TEST_LOG", log)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_mcpwarden-test-server"));
    HttpGateway::spawn(command, dir)
}

/// `alpha` is `remote` (with the header its grants need), `beta` a local child.
fn write_remote_config(dir: &Path, remote: &HttpGateway, token: &str) -> PathBuf {
    let config = json!({"mcpServers": {
        "alpha": {"type": "http", "url": remote.url,
                  "headers": {"Authorization": format!("Bearer {token}")}},
        "beta": {"command": env!("CARGO_BIN_EXE_mcpwarden-test-server"),
                 "env": {"MCPWARDEN_TEST_LOG": dir.join("beta.log")}}
    }});
    let path = dir.join("mcp.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

#[test]
fn a_remote_server_in_the_config_is_judged_like_a_local_one_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_server(&dir.path().join("alpha.log"));
    let config = write_remote_config(dir.path(), &remote, "token-of-ci");
    let mut gateway = StdioGateway::start_in(dir, &config, Path::new(POLICIES));
    let init = gateway.initialize();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");

    // The remote's tools, filtered by alpha's policy here (`run_command` hidden), beside
    // the local server's.
    let expected: Vec<&str> = ALPHA_TOOLS.iter().chain(&BETA_TOOLS).copied().collect();
    assert_eq!(names(&gateway.list()), expected);

    let answer = gateway.call("alpha__echo", json!({"text": "far"}));
    assert_eq!(text(&answer), r#"echo ran with {"text":"far"}"#, "{answer}");
    let answer = gateway.call("alpha__delete_repo", json!({"owner": "o", "repo": "r"}));
    assert!(is_refusal(&answer), "{answer}");
    // Checked against the schema the remote listed, before anything is sent.
    let answer = gateway.call("alpha__add", json!({"a": "one", "b": 2}));
    assert!(
        is_refusal(&answer) && text(&answer).contains("inputSchema"),
        "{answer}"
    );
    let answer = gateway.call("alpha__run_command", json!({"command": "id"}));
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let answer = gateway.call("beta__read_file", json!({"path": "/tmp/x"}));
    assert!(text(&answer).starts_with("read_file ran"), "{answer}");

    // What the remote starts on its own (here a tool-list change, sent on the GET stream
    // the gateway opened) reaches the client.
    let (answer, mut seen) = gateway.request(json!({"jsonrpc": "2.0", "id": 900,
        "method": "tools/call", "params": {"name": "alpha__change_tools", "arguments": {}}}));
    assert!(answer.get("result").is_some(), "{answer}");
    for _ in 0..20 {
        if seen
            .iter()
            .any(|message| message["method"] == "notifications/tools/list_changed")
        {
            break;
        }
        seen.push(gateway.recv());
    }
    assert!(
        seen.iter()
            .any(|message| message["method"] == "notifications/tools/list_changed"),
        "{seen:?}"
    );

    // Only the allowed calls reached the remote server; the audit names the server.
    let dir = gateway.dir.path().to_owned();
    assert_eq!(calls_seen(&dir, "alpha"), ["echo", "change_tools"]);
    assert_eq!(calls_seen(&dir, "beta"), ["read_file"]);
    let records = audit(&dir);
    assert!(
        records
            .iter()
            .any(|record| record["server"] == "alpha" && record["verdict"] == "deny"),
        "{records:?}"
    );
}

#[test]
fn a_remote_server_that_refuses_us_gives_errors_and_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_server(&dir.path().join("alpha.log"));
    // A token the remote does not know: every POST to it gets 401.
    let config = write_remote_config(dir.path(), &remote, "not-a-token");
    let mut gateway = StdioGateway::start_in(dir, &config, Path::new(POLICIES));
    gateway.initialize();
    let listed = names(&gateway.list());
    assert_eq!(listed, BETA_TOOLS, "only the local server's tools");
    let answer = gateway.call("alpha__echo", json!({"text": "far"}));
    assert!(answer.get("error").is_some(), "{answer}");
    let answer = gateway.call("beta__read_file", json!({"path": "/tmp/x"}));
    assert!(text(&answer).starts_with("read_file ran"), "{answer}");
    assert!(calls_seen(gateway.dir.path(), "alpha").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_server_in_the_config_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote_server(&dir.path().join("alpha.log"));
    let config = write_remote_config(dir.path(), &remote, "token-of-ci");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
    command
        .args(["gateway", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--policies")
        .arg(POLICIES);
    let gateway = HttpGateway::spawn(command, dir);
    let session = gateway.open().await;
    let expected: Vec<&str> = ALPHA_TOOLS.iter().chain(&BETA_TOOLS).copied().collect();
    assert_eq!(gateway.list(&session, 1).await, expected);
    let answer = gateway
        .call(&session, 2, "alpha__echo", json!({"text": "far"}))
        .await;
    assert_eq!(text(&answer), r#"echo ran with {"text":"far"}"#, "{answer}");
    let answer = gateway
        .call(
            &session,
            3,
            "alpha__delete_repo",
            json!({"owner": "o", "repo": "r"}),
        )
        .await;
    assert!(is_refusal(&answer), "{answer}");
    assert_eq!(calls_seen(gateway.dir.path(), "alpha"), ["echo"]);

    // Deleting the session here deletes ours on the remote, which stops the server the
    // remote ran for it.
    assert_eq!(children_of(remote.child.id()).len(), 1);
    let deleted = gateway
        .client
        .delete(&gateway.url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let deadline = std::time::Instant::now() + WAIT;
    while !children_of(remote.child.id()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the remote still runs a server for the deleted session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The processes `pid` has started and not yet reaped (Linux).
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path().join("children");
        children.extend(
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|child| child.parse::<u32>().ok()),
        );
    }
    children
}

// ---- HTTP ----

impl HttpGateway {
    fn start_config() -> HttpGateway {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path());
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
        command
            .args(["gateway", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--policies")
            .arg(POLICIES)
            .arg("--audit")
            .arg(dir.path().join("audit.jsonl"));
        HttpGateway::spawn(command, dir)
    }

    async fn post_config(
        &self,
        session: Option<&str>,
        body: &Value,
    ) -> (u16, Option<String>, Value) {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-06-18");
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let session = response
            .headers()
            .get("mcp-session-id")
            .map(|value| value.to_str().unwrap().to_owned());
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, session, body)
    }

    async fn open(&self) -> String {
        let (status, session, body) = self
            .post_config(
                None,
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "config-http-test", "version": "1"}}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["serverInfo"]["name"], "mcpwarden", "{body}");
        let session = session.expect("a session id");
        let (status, _, _) = self
            .post_config(
                Some(&session),
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(status, 202);
        session
    }

    async fn call(&self, session: &str, id: u64, name: &str, arguments: Value) -> Value {
        let (status, _, body) = self
            .post_config(
                Some(session),
                &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": name, "arguments": arguments}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], json!(id), "{body}");
        body
    }

    async fn list(&self, session: &str, id: u64) -> Vec<String> {
        let (status, _, body) = self
            .post_config(
                Some(session),
                &json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        names(&body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_requests_are_refused_with_a_message_that_says_why() {
    let gateway = HttpGateway::start_config();
    let response = gateway
        .client
        .post(&gateway.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "alpha__echo")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "alpha__echo", "arguments": {"text": "hi"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("2026-07-28") && message.contains("--config"),
        "{body}"
    );
    // Nothing reached a server.
    assert!(calls_seen(gateway.dir.path(), "alpha").is_empty());
    // Sessions still work.
    let session = gateway.open().await;
    let answer = gateway
        .call(&session, 2, "alpha__echo", json!({"text": "hi"}))
        .await;
    assert_eq!(text(&answer), r#"echo ran with {"text":"hi"}"#, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_behind_one_http_endpoint() {
    let gateway = HttpGateway::start_config();
    let session = gateway.open().await;
    let expected: Vec<&str> = ALPHA_TOOLS.iter().chain(&BETA_TOOLS).copied().collect();
    assert_eq!(gateway.list(&session, 1).await, expected);

    let answer = gateway
        .call(&session, 2, "alpha__echo", json!({"text": "hi"}))
        .await;
    assert_eq!(text(&answer), r#"echo ran with {"text":"hi"}"#, "{answer}");
    let answer = gateway
        .call(&session, 3, "beta__echo", json!({"text": "hi"}))
        .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let answer = gateway
        .call(
            &session,
            4,
            "beta__delete_repo",
            json!({"owner": "o", "repo": "r"}),
        )
        .await;
    assert!(text(&answer).contains("Beta never deletes"), "{answer}");
    assert_eq!(
        text(
            &gateway
                .call(&session, 5, "beta__add", json!({"a": 1, "b": 2}))
                .await
        ),
        "3"
    );
    let answer = gateway
        .call(&session, 6, "beta__add", json!({"a": 1, "b": 2}))
        .await;
    assert!(is_refusal(&answer), "{answer}");
    let answer = gateway
        .call(&session, 7, "alpha__add", json!({"a": "one", "b": 2}))
        .await;
    assert!(
        is_refusal(&answer) && text(&answer).contains("inputSchema"),
        "{answer}"
    );
    let answer = gateway
        .call(&session, 8, "gamma__echo", json!({"text": "hi"}))
        .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");

    // One server crashing: the call gets an error, its tools go, the other goes on.
    let answer = gateway.call(&session, 9, "beta__crash", json!({})).await;
    assert_eq!(answer["error"]["code"], -32001, "{answer}");
    assert_eq!(gateway.list(&session, 10).await, ALPHA_TOOLS);
    let answer = gateway
        .call(&session, 11, "beta__read_file", json!({"path": "/x"}))
        .await;
    assert_eq!(answer["error"]["code"], -32001, "{answer}");
    let answer = gateway
        .call(&session, 12, "alpha__read_file", json!({"path": "/x"}))
        .await;
    assert!(text(&answer).starts_with("read_file ran"), "{answer}");

    let dir = gateway.dir.path();
    assert_eq!(calls_seen(dir, "alpha"), ["echo", "read_file"]);
    assert_eq!(calls_seen(dir, "beta"), ["add", "crash"]);
    let records = audit(dir);
    assert!(
        records
            .iter()
            .any(|record| record["server"] == "beta" && record["verdict"] == "deny"),
        "{records:?}"
    );
}

/// Names real client configurations use: `_`, `.` and `-`, each server found under its
/// own policy file (`<name>.json`) and its tools namespaced under its own name.
#[test]
fn server_names_with_underscores_dots_and_dashes_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = env!("CARGO_BIN_EXE_mcpwarden-test-server");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let entries = ["my_server", "git.hub-2", "_lead"];
    let mut servers = serde_json::Map::new();
    for name in entries {
        std::fs::copy(
            Path::new(POLICIES).join("alpha.json"),
            policies.join(format!("{name}.json")),
        )
        .unwrap();
        servers.insert(name.to_owned(), json!({"command": server}));
    }
    let config = dir.path().join("mcp.json");
    std::fs::write(&config, json!({"mcpServers": servers}).to_string()).unwrap();
    let mut gateway = StdioGateway::start_in(dir, &config, &policies);
    gateway.initialize();
    let listed = names(&gateway.list());
    for name in entries {
        assert!(listed.contains(&format!("{name}__echo")), "{listed:?}");
        let answer = gateway.call(&format!("{name}__echo"), json!({"text": name}));
        assert_eq!(
            text(&answer),
            format!(r#"echo ran with {{"text":"{name}"}}"#),
            "{answer}"
        );
    }
}
