//! Drives `mcpwarden gateway` over stdio with the test server (`mcpwarden-test-server`)
//! as its upstream: raw JSON-RPC lines in, parsed answers out, and the server's log of
//! every line it received.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

pub const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/gateway/policy.json"
);

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Gateway {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pub dir: tempfile::TempDir,
    next_id: u64,
}

pub struct Options<'a> {
    pub policy: &'a Path,
    pub extra_args: Vec<String>,
    pub env: Vec<(&'a str, String)>,
    pub upstream: Vec<String>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            policy: Path::new(POLICY),
            extra_args: Vec::new(),
            env: Vec::new(),
            upstream: vec![env!("CARGO_BIN_EXE_mcpwarden-test-server").to_owned()],
        }
    }
}

impl Gateway {
    pub fn start() -> Gateway {
        Gateway::start_with(Options::default())
    }

    pub fn start_with(options: Options<'_>) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
        command.arg("gateway").arg("--policy").arg(options.policy);
        if !options.extra_args.iter().any(|arg| arg == "--audit") {
            command.arg("--audit").arg(dir.path().join("audit.jsonl"));
        }
        command
            .args(&options.extra_args)
            .arg("--")
            .args(&options.upstream)
            .env("MCPWARDEN_TEST_LOG", dir.path().join("upstream.log"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
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
        let stderr = child.stderr.take().unwrap();
        let stderr_path = dir.path().join("stderr.log");
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(stderr_path).unwrap();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                writeln!(file, "{line}").unwrap();
            }
        });
        Gateway {
            stdin: child.stdin.take(),
            child,
            lines,
            dir,
            next_id: 1000,
        }
    }

    /// Starts and completes the MCP handshake.
    pub fn initialized() -> Gateway {
        let mut gateway = Gateway::start();
        gateway.initialize(json!({}));
        gateway
    }

    pub fn initialize(&mut self, capabilities: Value) -> Value {
        let answer = self.request(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": capabilities,
                "clientInfo": {"name": "gateway-test", "version": "1"}
            }}),
        );
        self.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        answer
    }

    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    pub fn send(&mut self, message: &Value) {
        self.send_line(&message.to_string());
    }

    /// The next line from the gateway, parsed.
    pub fn recv(&mut self) -> Value {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .expect("the gateway answered in time");
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
    }

    /// Whether a line arrives within `within`.
    pub fn try_recv(&mut self, within: Duration) -> Option<Value> {
        self.lines
            .recv_timeout(within)
            .ok()
            .map(|line| serde_json::from_str(&line).unwrap())
    }

    /// Sends a request and returns the answer with the same id (other lines, such as
    /// notifications, are skipped).
    pub fn request(&mut self, message: Value) -> Value {
        let id = message["id"].clone();
        self.send(&message);
        self.recv_id(&id)
    }

    pub fn recv_id(&mut self, id: &Value) -> Value {
        for _ in 0..1000 {
            let answer = self.recv();
            if &answer["id"] == id && answer.get("method").is_none() {
                return answer;
            }
        }
        panic!("no answer with id {id}");
    }

    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn call(&mut self, name: &str, arguments: Value) -> Value {
        let id = self.fresh_id();
        self.request(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}))
    }

    pub fn list_tools(&mut self) -> Vec<String> {
        let id = self.fresh_id();
        let answer = self.request(json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}));
        answer["result"]["tools"]
            .as_array()
            .expect("a tool list")
            .iter()
            .map(|tool| tool["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A round trip that proves everything sent before it has been judged (and, if
    /// forwarded, has reached the server, which answers in order).
    pub fn sync(&mut self) {
        let id = self.fresh_id();
        let answer = self.request(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}));
        assert_eq!(answer["result"], json!({}), "{answer}");
    }

    /// Every line the upstream received, parsed where it could be.
    pub fn upstream_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("upstream.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The `tools/call` names the upstream received (in batches too).
    pub fn upstream_calls(&self) -> Vec<Value> {
        let mut calls = Vec::new();
        for line in self.upstream_log() {
            let Ok(value) = serde_json::from_str::<Value>(&line) else {
                calls.push(json!({"unparsed": line}));
                continue;
            };
            let items = match value {
                Value::Array(items) => items,
                single => vec![single],
            };
            for item in items {
                if item["method"] == "tools/call" {
                    calls.push(item["params"].clone());
                }
            }
        }
        calls
    }

    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Closes the gateway's stdin (the client leaves) and waits for it to exit.
    pub fn close(&mut self) -> std::process::ExitStatus {
        self.stdin = None;
        self.wait()
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..(WAIT.as_millis() / 20) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the gateway did not exit in time");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of a tool result.
pub fn result_text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("")
}

pub fn is_refusal(answer: &Value) -> bool {
    answer["result"]["isError"] == json!(true) && result_text(answer).starts_with("[POLICY DENIED]")
}

/// A gateway started with `--listen 127.0.0.1:0`, reached over loopback HTTP; killed when
/// dropped. Each HTTP test file adds its own request helpers to it.
pub struct Listening {
    pub child: Child,
    /// The `/mcp` URL the gateway said it listens on.
    pub url: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

impl Listening {
    /// Spawns `command` (a `mcpwarden gateway --listen 127.0.0.1:0 ...`), keeps its stderr
    /// in `dir/stderr.log`, and waits (bounded) for the address it prints.
    pub fn spawn(mut command: Command, dir: tempfile::TempDir) -> Listening {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        let log = dir.path().join("stderr.log");
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(log).unwrap();
            let mut sender = Some(sender);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                writeln!(file, "{line}").unwrap();
                if let Some(url) = line.strip_prefix("mcpwarden: listening on ")
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(url.to_owned());
                }
            }
        });
        let url = receiver
            .recv_timeout(WAIT)
            .expect("the gateway said where it listens");
        let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
        Listening {
            child,
            url,
            dir,
            client,
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `--grants` file in `dir` with two tokens: `token-of-ci` (grant `ci-bot`) and
/// `token-of-ann` (grant `ann`), stored as their sha256 as the gateway requires.
pub fn grants_file(dir: &Path) -> PathBuf {
    use sha2::Digest;
    let hash = |token: &str| format!("{:x}", sha2::Sha256::digest(token.as_bytes()));
    let path = dir.join("grants.json");
    std::fs::write(
        &path,
        json!({"tokens": [
            {"sha256": hash("token-of-ci"), "name": "ci-bot"},
            {"sha256": hash("token-of-ann"), "name": "ann"}
        ]})
        .to_string(),
    )
    .unwrap();
    path
}
