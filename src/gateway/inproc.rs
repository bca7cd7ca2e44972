//! An upstream that runs inside the gateway process: an MCP server on one end of an
//! in-memory pipe ([`tokio::io::duplex`]), speaking the same newline-delimited JSON-RPC a
//! child speaks over stdio. The HTTP transport treats the other end exactly as it treats a
//! child's stdin and stdout, so every message still goes through the same judge, schema
//! validation, audit and session code.
//!
//! It exists to measure the gateway alone: with a child per session, a call's cost is
//! mostly the child's pipes and the scheduler waking a third process. It is not offered
//! to users (the CLI flag that selects it is hidden); [`InProcess::new`] lets library users
//! and tests plug in their own server.
//!
//! [`InProcess::test_server`] is a built-in server with the same tools, schemas and
//! answers as `mcpwarden-test-server` (`echo`, `read_file`, `delete_repo`, `run_command`,
//! `add`, `fail`, `rpc_fail`, `crash`, `hang`), so the gateway's test policy applies to it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader, DuplexStream};

use super::stdio::{Line, read_line_capped};

/// Bytes each direction of the in-memory pipe holds before a writer waits.
const PIPE_BYTES: usize = 64 << 10;
/// Lines longer than this end the built-in server's session, as a child would.
const MAX_LINE: usize = 16 << 20;

/// Starts an in-process upstream for one session and gives the gateway its end.
type Connect = dyn Fn() -> DuplexStream + Send + Sync;

/// How to start an in-process upstream: one server per session, as with a child.
#[derive(Clone)]
pub struct InProcess {
    connect: Arc<Connect>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("InProcess")
    }
}

impl InProcess {
    /// `connect` starts a server (on the current tokio runtime) and returns the gateway's
    /// end of its pipe. Dropping that end is how the server learns the session ended; the
    /// server ending its end is how the gateway learns the upstream exited.
    pub fn new(connect: impl Fn() -> DuplexStream + Send + Sync + 'static) -> InProcess {
        InProcess {
            connect: Arc::new(connect),
        }
    }

    /// The built-in test server. With `log`, every line it receives is appended there
    /// (as `mcpwarden-test-server` does with `MCPWARDEN_TEST_LOG`), so a test can check
    /// that a refused call never reached it.
    pub fn test_server(log: Option<PathBuf>) -> InProcess {
        let log = log.and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|error| {
                    eprintln!(
                        "mcpwarden: cannot open the in-process server's log {}: {error}",
                        path.display()
                    );
                })
                .ok()
        });
        let log = log.map(|file| Arc::new(Mutex::new(file)));
        InProcess::new(move || {
            let (gateway_end, server_end) = tokio::io::duplex(PIPE_BYTES);
            tokio::spawn(serve(server_end, log.clone()));
            gateway_end
        })
    }

    pub(crate) fn connect(&self) -> DuplexStream {
        (self.connect)()
    }
}

/// Serves one session until the gateway drops its end, a `crash` call, or a write fails.
async fn serve(stream: DuplexStream, log: Option<Arc<Mutex<std::fs::File>>>) {
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(16 << 10, reader);
    let mut line = Vec::new();
    let mut out = Vec::with_capacity(512);
    loop {
        match read_line_capped(&mut reader, &mut line, MAX_LINE).await {
            Ok(Line::Text) => {}
            Ok(Line::Eof | Line::TooLong(_)) | Err(_) => return,
        }
        if let Some(log) = &log {
            let mut record = line.clone();
            record.push(b'\n');
            let mut file = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // One write per line, as the child test server does.
            let _ = file.write_all(&record);
        }
        out.clear();
        if answer(&line, &mut out) == Flow::Crash {
            return;
        }
        if !out.is_empty() && writer.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Crash,
}

/// Appends the answers to one line to `out`, each with its newline.
fn answer(line: &[u8], out: &mut Vec<u8>) -> Flow {
    let Ok(message) = serde_json::from_slice::<Value>(line) else {
        push(
            out,
            &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
        );
        return Flow::Go;
    };
    let (messages, is_batch) = match message {
        Value::Array(items) => (items, true),
        single => (vec![single], false),
    };
    let mut answers = Vec::new();
    for message in messages {
        let (Some(id), Some(method)) = (
            message.get("id"),
            message.get("method").and_then(Value::as_str),
        ) else {
            continue; // a notification, or a response to something we never ask
        };
        let params = message.get("params").unwrap_or(&Value::Null);
        let reply = match method {
            "initialize" => json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": params.get("protocolVersion").cloned().unwrap_or(json!("2025-06-18")),
                "capabilities": {"tools": {"listChanged": true}},
                "serverInfo": {"name": "mcpwarden-in-process-test-server", "version": "1.0.0"}
            }}),
            "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
            "tools/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools()}}),
            "tools/call" => {
                let name = params.get("name").and_then(Value::as_str).unwrap_or("");
                let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
                match name {
                    "crash" => return Flow::Crash,
                    "hang" => continue,
                    "fail" => text_result(id, "it failed".into(), true),
                    "rpc_fail" => json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32603, "message": "internal failure"}}),
                    "add" => {
                        let sum = arguments["a"].as_i64().unwrap_or(0)
                            + arguments["b"].as_i64().unwrap_or(0);
                        text_result(id, sum.to_string(), false)
                    }
                    known if tools().iter().any(|tool| tool["name"] == known) => {
                        text_result(id, format!("{name} ran with {arguments}"), false)
                    }
                    _ => json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32602, "message": format!("Unknown tool: {name}")}}),
                }
            }
            _ => json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "Method not found"}}),
        };
        answers.push(reply);
    }
    if is_batch && !answers.is_empty() {
        push(out, &Value::Array(answers));
    } else {
        answers.iter().for_each(|reply| push(out, reply));
    }
    Flow::Go
}

fn push(out: &mut Vec<u8>, message: &Value) {
    if serde_json::to_writer(&mut *out, message).is_ok() {
        out.push(b'\n');
    }
}

fn text_result(id: &Value, text: String, is_error: bool) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {
        "content": [{"type": "text", "text": text}], "isError": is_error
    }})
}

fn tools() -> Vec<Value> {
    let text_schema = |property: &str| {
        json!({
            "type": "object",
            "properties": {property: {"type": "string"}},
            "required": [property],
            "additionalProperties": false
        })
    };
    let object = || json!({"type": "object"});
    vec![
        json!({"name": "echo", "description": "Echo the text back.", "inputSchema": text_schema("text")}),
        json!({"name": "read_file", "description": "Read a file.", "inputSchema": text_schema("path"),
               "annotations": {"readOnlyHint": true}}),
        json!({"name": "delete_repo", "description": "Delete a repository.", "inputSchema": {
            "type": "object",
            "properties": {"owner": {"type": "string"}, "repo": {"type": "string"}},
            "required": ["owner", "repo"]
        }}),
        json!({"name": "run_command", "description": "Run a shell command.", "inputSchema": text_schema("command")}),
        json!({"name": "add", "description": "Add two integers.", "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"]
        }}),
        json!({"name": "fail", "description": "Always fails.", "inputSchema": object()}),
        json!({"name": "rpc_fail", "description": "Fails with a JSON-RPC error.", "inputSchema": object()}),
        json!({"name": "crash", "description": "Exits mid-call.", "inputSchema": object()}),
        json!({"name": "hang", "description": "Never answers.", "inputSchema": object()}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(line: &str) -> Vec<Value> {
        let mut out = Vec::new();
        assert!(answer(line.as_bytes(), &mut out) == Flow::Go);
        out.split(|&byte| byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect()
    }

    #[test]
    fn answers_like_the_child_test_server() {
        let call = answers(
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
        );
        assert_eq!(
            call[0]["result"]["content"][0]["text"],
            r#"echo ran with {"text":"hi"}"#
        );
        let list = answers(r#"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#);
        assert_eq!(list[0]["id"], "l");
        assert_eq!(list[0]["result"]["tools"].as_array().unwrap().len(), 9);
        assert!(answers(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_empty());
        let batch = answers(
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"nope"}]"#,
        );
        assert_eq!(batch[0].as_array().unwrap().len(), 2);
        assert_eq!(batch[0][1]["error"]["code"], -32601);
        assert_eq!(answers("{oops")[0]["error"]["code"], -32700);
    }

    #[tokio::test]
    async fn a_crash_closes_the_pipe() {
        use tokio::io::AsyncReadExt;
        let mut pipe = InProcess::test_server(None).connect();
        pipe.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"crash\"}}\n")
            .await
            .unwrap();
        let mut rest = Vec::new();
        pipe.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
