//! Asking a server for its tools the way the gateway reaches it: a command started with
//! piped stdin/stdout (stderr passed through), or a Streamable HTTP URL through
//! [`super::remote::relay`]. `policy pin` records what this returns, so the hashes it pins
//! are the ones the gateway computes from the same server's `tools/list`.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::sync::mpsc;

use super::config::RemoteEntry;
use super::stdio::{Line, read_line_capped, write_line};

/// Where the server is.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A command, with the variables added to its environment and the folder it starts in
    /// (as a client configuration entry's `env` and `cwd` say).
    Command {
        command: Vec<OsString>,
        env: Vec<(String, String)>,
        cwd: Option<std::path::PathBuf>,
    },
    Remote(RemoteEntry),
}

impl Upstream {
    fn describe(&self) -> String {
        match self {
            Upstream::Command { command, .. } => command
                .iter()
                .map(|word| word.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            Upstream::Remote(entry) => entry.url.to_string(),
        }
    }
}

/// The longest line read from a server.
const MAX_LINE: usize = 64 << 20;

/// Initialises a session with the server and returns every tool its `tools/list` pages
/// give, as it sent them. Requests the server makes meanwhile are answered "method not
/// found". Gives up after `timeout`.
pub async fn list_tools(upstream: &Upstream, timeout: Duration) -> anyhow::Result<Vec<Value>> {
    let (to_server, from_us) = mpsc::channel::<Option<Vec<u8>>>(64);
    let (to_us, mut from_server) = mpsc::channel::<Vec<u8>>(256);
    let transport = start(upstream, from_us, to_us)?;
    let what = upstream.describe();
    let talk = async {
        let mut next_id = 0u64;
        let mut request = |method: &str, params: Value| {
            next_id += 1;
            let id = format!("mcpwarden-pin-{next_id}");
            let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            (id, serde_json::to_vec(&message).unwrap_or_default())
        };
        let (id, message) = request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                // What a full client offers, so a server that lists some tools only to
                // such clients lists them here too (server-everything's sampling and
                // elicitation tools). Its requests for them are refused.
                "capabilities": {"sampling": {}, "elicitation": {}},
                "clientInfo": {"name": "mcpwarden policy pin", "version": env!("CARGO_PKG_VERSION")}
            }),
        );
        send(&to_server, message).await?;
        answer(&mut from_server, &to_server, &id, &what).await?;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        send(&to_server, serde_json::to_vec(&initialized)?).await?;
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let (id, message) = request("tools/list", params);
            send(&to_server, message).await?;
            let result = answer(&mut from_server, &to_server, &id, &what).await?;
            if let Some(Value::Array(page)) = result.get("tools") {
                tools.extend(page.iter().cloned());
            }
            cursor = result
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                return Ok(tools);
            }
        }
        anyhow::bail!("{what}: tools/list gave more than 1000 pages")
    };
    let outcome = tokio::time::timeout(timeout, talk).await;
    let _ = to_server.send(None).await;
    drop(to_server);
    transport.finish().await;
    match outcome {
        Ok(result) => result,
        Err(_) => anyhow::bail!(
            "{what} did not list its tools within {} s",
            timeout.as_secs_f64()
        ),
    }
}

async fn send(to_server: &mpsc::Sender<Option<Vec<u8>>>, message: Vec<u8>) -> anyhow::Result<()> {
    to_server
        .send(Some(message))
        .await
        .map_err(|_| anyhow::anyhow!("the server went away"))
}

/// Waits for the response to `id`, answering the server's own requests on the way.
async fn answer(
    from_server: &mut mpsc::Receiver<Vec<u8>>,
    to_server: &mpsc::Sender<Option<Vec<u8>>>,
    id: &str,
    what: &str,
) -> anyhow::Result<Value> {
    loop {
        let Some(bytes) = from_server.recv().await else {
            anyhow::bail!("{what} ended before it answered `{id}`");
        };
        let Ok(message) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if message.get("method").is_some() {
            if let Some(request_id) = message.get("id") {
                let refusal = json!({
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": -32601, "message": "mcpwarden policy pin answers no requests"}
                });
                send(to_server, serde_json::to_vec(&refusal)?).await?;
            }
            continue;
        }
        if message.get("id").and_then(Value::as_str) != Some(id) {
            continue;
        }
        if let Some(error) = message.get("error") {
            anyhow::bail!("{what} answered `{id}` with an error: {error}");
        }
        return Ok(message.get("result").cloned().unwrap_or(Value::Null));
    }
}

/// The running connection: a child to reap, or the relay task.
enum Transport {
    Child(Box<tokio::process::Child>, tokio::task::JoinHandle<()>),
    Remote(tokio::task::JoinHandle<()>),
}

impl Transport {
    async fn finish(self) {
        match self {
            Transport::Child(mut child, writer) => {
                // Closing stdin asks it to end; a server that does not is stopped.
                let _ = writer.await;
                if tokio::time::timeout(Duration::from_secs(2), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
            Transport::Remote(relay) => {
                let _ = relay.await;
            }
        }
    }
}

fn start(
    upstream: &Upstream,
    mut from_us: mpsc::Receiver<Option<Vec<u8>>>,
    to_us: mpsc::Sender<Vec<u8>>,
) -> anyhow::Result<Transport> {
    match upstream {
        Upstream::Command { command, env, cwd } => {
            let (program, args) = command
                .split_first()
                .ok_or_else(|| anyhow::anyhow!("no server command given"))?;
            let mut child = tokio::process::Command::new(program);
            child
                .args(args)
                .envs(env.iter().map(|(key, value)| (key, value)));
            if let Some(cwd) = cwd {
                child.current_dir(cwd);
            }
            let mut child = child
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|error| {
                    anyhow::anyhow!("cannot start {}: {error}", program.to_string_lossy())
                })?;
            let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                anyhow::bail!("the server's pipes were not created");
            };
            let writer = tokio::spawn(async move {
                while let Some(Some(message)) = from_us.recv().await {
                    if write_line(&mut stdin, message).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut reader = BufReader::new(stdout);
                let mut line = Vec::new();
                while let Ok(Line::Text | Line::TooLong(_)) =
                    read_line_capped(&mut reader, &mut line, MAX_LINE).await
                {
                    if !line.is_empty() && to_us.send(line.clone()).await.is_err() {
                        break;
                    }
                }
            });
            Ok(Transport::Child(Box::new(child), writer))
        }
        Upstream::Remote(entry) => {
            let entry = entry.clone();
            let deliver: super::remote::Deliver = Arc::new(move |bytes| {
                let to_us = to_us.clone();
                Box::pin(async move {
                    let _ = to_us.send(bytes).await;
                })
            });
            Ok(Transport::Remote(tokio::spawn(async move {
                super::remote::relay(&entry, from_us, deliver).await;
            })))
        }
    }
}
