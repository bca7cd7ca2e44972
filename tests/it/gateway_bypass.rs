//! Attempts to get a call past the gateway, each with the exact answer it must get, and
//! the check that the upstream never saw any of them. The policy
//! (`tests/data/gateway/policy.json`) allows `echo`, denies `delete_repo`, hides
//! `run_command`, refuses `read_file` under `/etc/`, and denies everything it does not name.
//!
//! All cases run in one session, in order, so each also shows that the session survives
//! the one before it.

use crate::gateway_common::*;
use serde_json::{Value, json};

#[derive(Debug)]
enum Expect {
    /// A JSON-RPC error with this id and code, whose message contains the text.
    Error(Value, i64, &'static str),
    /// An `isError` result with this id whose text starts with the text.
    Refusal(Value, &'static str),
    /// No answer at all (a dropped notification).
    Silent,
    /// A batch answer with these elements, in order.
    Batch(Vec<Expect>),
}

use Expect::*;

fn call(id: Value, name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
    .to_string()
}

fn unknown(id: i64, name: &'static str) -> Expect {
    // The message names the tool exactly as sent; checked separately below.
    let _ = name;
    Error(json!(id), -32602, "Unknown tool: ")
}

const DENIED: &str =
    "[POLICY DENIED] tools.delete_repo.deny_if[0]: Deleting repositories is not allowed.";
const ETC: &str = "[POLICY DENIED] tools.read_file.deny_if[0]: System files are off limits.";

fn cases() -> Vec<(&'static str, String, Expect)> {
    let repo = json!({"owner": "o", "repo": "r"});
    let mut cases: Vec<(&'static str, String, Expect)> = vec![
        // Names are exact and case-sensitive; look-alikes are other names, denied by default.
        ("case variant", call(json!(1), "Delete_Repo", repo.clone()), unknown(1, "Delete_Repo")),
        ("upper case", call(json!(2), "DELETE_REPO", repo.clone()), unknown(2, "DELETE_REPO")),
        ("hyphen for underscore", call(json!(3), "delete-repo", repo.clone()), unknown(3, "")),
        ("trailing space", call(json!(4), "delete_repo ", repo.clone()), unknown(4, "")),
        ("leading space", call(json!(5), " delete_repo", repo.clone()), unknown(5, "")),
        ("hidden tool", call(json!(6), "run_command", json!({"command": "id"})), unknown(6, "")),
        ("hidden tool, case variant", call(json!(7), "Run_Command", json!({"command": "id"})), unknown(7, "")),
        ("Cyrillic e look-alike", call(json!(8), "d\u{0435}lete_repo", repo.clone()), unknown(8, "")),
        ("fullwidth letter", call(json!(9), "\u{ff44}elete_repo", repo.clone()), unknown(9, "")),
        ("zero-width space", call(json!(10), "delete_repo\u{200b}", repo.clone()), unknown(10, "")),
        ("NUL byte", call(json!(11), "echo\u{0}", json!({"text": "x"})), unknown(11, "")),
        ("look-alike of an allowed tool", call(json!(12), "\u{0435}cho", json!({"text": "x"})), unknown(12, "")),
        ("combining mark", call(json!(13), "e\u{0301}cho", json!({"text": "x"})), unknown(13, "")),
        (
            "escaped name decodes to a hidden tool",
            r#"{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"r\u0075n_command","arguments":{"command":"id"}}}"#.into(),
            unknown(14, ""),
        ),
        (
            "escaped name decodes to a denied tool",
            r#"{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"delete\u005frepo","arguments":{"owner":"o","repo":"r"}}}"#.into(),
            Refusal(json!(15), DENIED),
        ),
        // Duplicate keys, anywhere.
        (
            "duplicate name",
            r#"{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"echo","name":"delete_repo","arguments":{}}}"#.into(),
            Error(json!(16), -32600, "duplicate key `name`"),
        ),
        (
            "duplicate method",
            r#"{"jsonrpc":"2.0","id":17,"method":"ping","method":"tools/call","params":{"name":"delete_repo","arguments":{}}}"#.into(),
            Error(json!(17), -32600, "duplicate key `method`"),
        ),
        (
            "duplicate id",
            r#"{"jsonrpc":"2.0","id":18,"id":19,"method":"tools/call","params":{"name":"delete_repo","arguments":{}}}"#.into(),
            Error(Value::Null, -32600, "duplicate key `id`"),
        ),
        (
            "duplicate argument",
            r#"{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/tmp/x","path":"/etc/passwd"}}}"#.into(),
            Error(json!(20), -32600, "duplicate key `path`"),
        ),
        (
            "duplicate params",
            r#"{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}},"params":{"name":"delete_repo","arguments":{}}}"#.into(),
            Error(json!(21), -32600, "duplicate key `params`"),
        ),
        (
            "duplicate key written with an escape",
            r#"{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"echo","n\u0061me":"delete_repo","arguments":{}}}"#.into(),
            Error(json!(22), -32600, "duplicate key `name`"),
        ),
        // Batches: each element judged.
        (
            "batch of a denied and a hidden call",
            format!("[{},{}]", call(json!(23), "delete_repo", repo.clone()), call(json!(24), "run_command", json!({"command": "id"}))),
            Batch(vec![Refusal(json!(23), DENIED), Error(json!(24), -32602, "Unknown tool: run_command")]),
        ),
        (
            "batch with a non-object element",
            format!("[1,{}]", call(json!(25), "Delete_Repo", repo.clone())),
            Batch(vec![Error(Value::Null, -32600, "must be a JSON object"), Error(json!(25), -32602, "Unknown tool: Delete_Repo")]),
        ),
        ("empty batch", "[]".into(), Error(Value::Null, -32600, "empty batch")),
        (
            "batch with a duplicate-key element",
            format!(r#"[{{"jsonrpc":"2.0","id":26,"method":"tools/call","params":{{"name":"echo","name":"delete_repo"}}}},{}]"#, call(json!(27), "delete_repo", repo.clone())),
            Batch(vec![Error(json!(26), -32600, "duplicate key"), Refusal(json!(27), DENIED)]),
        ),
        (
            "nested batch",
            format!("[[{}]]", call(json!(28), "delete_repo", repo.clone())),
            Batch(vec![Error(Value::Null, -32600, "must be a JSON object")]),
        ),
        // Ids of every JSON type.
        ("string id", call(json!("abc"), "delete_repo", repo.clone()), Refusal(json!("abc"), DENIED)),
        ("zero id", call(json!(0), "delete_repo", repo.clone()), Refusal(json!(0), DENIED)),
        ("negative id", call(json!(-5), "delete_repo", repo.clone()), Refusal(json!(-5), DENIED)),
        ("large id", call(json!(u64::MAX), "delete_repo", repo.clone()), Refusal(json!(u64::MAX), DENIED)),
        ("null id", call(Value::Null, "delete_repo", repo.clone()), Error(Value::Null, -32600, "`id` must be a string or an integer")),
        ("boolean id", call(json!(true), "delete_repo", repo.clone()), Error(Value::Null, -32600, "`id` must be")),
        ("object id", call(json!({"a": 1}), "delete_repo", repo.clone()), Error(Value::Null, -32600, "`id` must be")),
        ("array id", call(json!([1]), "delete_repo", repo.clone()), Error(Value::Null, -32600, "`id` must be")),
        ("fractional id", call(json!(1.5), "delete_repo", repo.clone()), Error(Value::Null, -32600, "`id` must be")),
        // Notifications are never forwarded as calls.
        (
            "call sent as a notification",
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"text":"sneaky"}}}"#.into(),
            Silent,
        ),
        (
            "denied call sent as a notification",
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_repo","arguments":{"owner":"o","repo":"r"}}}"#.into(),
            Silent,
        ),
        (
            "request carrying a result",
            r#"{"jsonrpc":"2.0","id":40,"method":"tools/call","params":{"name":"delete_repo","arguments":{}},"result":{}}"#.into(),
            Error(json!(40), -32600, "cannot carry"),
        ),
        // Malformed messages: a parse error, and the session goes on.
        ("not JSON", "garbage".into(), Error(Value::Null, -32700, "Parse error")),
        ("truncated JSON", r#"{"jsonrpc":"2.0","id":41,"method":"tools/call""#.into(), Error(Value::Null, -32700, "Parse error")),
        ("two messages on one line", format!("{} {}", call(json!(42), "echo", json!({"text": "a"})), call(json!(43), "delete_repo", repo.clone())), Error(Value::Null, -32700, "trailing characters")),
        ("lone surrogate in the name", r#"{"jsonrpc":"2.0","id":44,"method":"tools/call","params":{"name":"echo\ud800","arguments":{}}}"#.into(), Error(Value::Null, -32700, "Parse error")),
        ("nesting beyond the limit", format!(r#"{{"jsonrpc":"2.0","id":45,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"x","deep":{}1{}}}}}}}"#, "[".repeat(500), "]".repeat(500)), Error(Value::Null, -32700, "recursion limit")),
        ("top-level string", r#""tools/call""#.into(), Error(Value::Null, -32600, "must be a JSON object")),
        ("top-level null", "null".into(), Error(Value::Null, -32600, "must be a JSON object")),
        // Envelope and params that cannot be judged.
        ("wrong jsonrpc version", r#"{"jsonrpc":"1.0","id":46,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#.into(), Error(json!(46), -32600, "`jsonrpc` must be")),
        ("no jsonrpc member", r#"{"id":47,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#.into(), Error(json!(47), -32600, "`jsonrpc` must be")),
        ("method not a string", r#"{"jsonrpc":"2.0","id":48,"method":["tools/call"],"params":{"name":"echo","arguments":{}}}"#.into(), Error(json!(48), -32600, "`method` must be a string")),
        ("missing params", r#"{"jsonrpc":"2.0","id":49,"method":"tools/call"}"#.into(), Error(json!(49), -32602, "`params` is missing")),
        ("params an array", r#"{"jsonrpc":"2.0","id":50,"method":"tools/call","params":["delete_repo",{}]}"#.into(), Error(json!(50), -32602, "`params` must be an object")),
        ("params null", r#"{"jsonrpc":"2.0","id":51,"method":"tools/call","params":null}"#.into(), Error(json!(51), -32602, "`params` must be an object")),
        ("name missing", r#"{"jsonrpc":"2.0","id":52,"method":"tools/call","params":{"arguments":{}}}"#.into(), Error(json!(52), -32602, "`params.name` is missing")),
        ("name a number", r#"{"jsonrpc":"2.0","id":53,"method":"tools/call","params":{"name":5,"arguments":{}}}"#.into(), Error(json!(53), -32602, "`params.name` must be a string")),
        ("name an array", r#"{"jsonrpc":"2.0","id":54,"method":"tools/call","params":{"name":["echo"],"arguments":{}}}"#.into(), Error(json!(54), -32602, "`params.name` must be a string")),
        ("name null", r#"{"jsonrpc":"2.0","id":55,"method":"tools/call","params":{"name":null,"arguments":{}}}"#.into(), Error(json!(55), -32602, "`params.name` must be a string")),
        ("name an object", r#"{"jsonrpc":"2.0","id":56,"method":"tools/call","params":{"name":{"echo":1},"arguments":{}}}"#.into(), Error(json!(56), -32602, "`params.name` must be a string")),
        ("arguments a string", r#"{"jsonrpc":"2.0","id":57,"method":"tools/call","params":{"name":"echo","arguments":"{\"text\":\"x\"}"}}"#.into(), Error(json!(57), -32602, "`params.arguments` must be an object")),
        ("arguments an array", r#"{"jsonrpc":"2.0","id":58,"method":"tools/call","params":{"name":"echo","arguments":["x"]}}"#.into(), Error(json!(58), -32602, "`params.arguments` must be an object")),
        // Arguments shaped to slip past a condition.
        ("path as an array", call(json!(59), "read_file", json!({"path": ["/etc/passwd"]})), Refusal(json!(59), "[POLICY DENIED] tools.read_file.deny_if[0]: System files are off limits. (could not judge")),
        ("escaped slash in the path", r#"{"jsonrpc":"2.0","id":60,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"\u002fetc/passwd"}}}"#.into(), Refusal(json!(60), ETC)),
        ("path with dot segments", call(json!(61), "read_file", json!({"path": "/etc/../etc/shadow"})), Refusal(json!(61), ETC)),
        ("path missing", call(json!(62), "read_file", json!({})), Refusal(json!(62), "[POLICY DENIED] inputSchema: ")),
        ("arguments absent", r#"{"jsonrpc":"2.0","id":63,"method":"tools/call","params":{"name":"echo"}}"#.into(), Refusal(json!(63), "[POLICY DENIED] inputSchema: ")),
        ("extra argument", call(json!(64), "echo", json!({"text": "x", "command": "rm -rf /"})), Refusal(json!(64), "[POLICY DENIED] inputSchema: ")),
    ];
    // An id already in flight: `hang` never answers, so id 70 stays taken.
    cases.push((
        "hang (in flight, takes id 70)",
        call(json!(70), "hang", json!({})),
        Silent,
    ));
    cases.push((
        "id reused while in flight",
        call(json!(70), "echo", json!({"text": "x"})),
        Error(json!(70), -32600, "already used by a request in flight"),
    ));
    cases
}

fn check(answer: &Value, expect: &Expect, case: &str) {
    match expect {
        Error(id, code, text) => {
            assert_eq!(&answer["id"], id, "{case}: {answer}");
            assert_eq!(answer["error"]["code"], json!(code), "{case}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap_or("");
            assert!(message.contains(text), "{case}: {answer}");
        }
        Refusal(id, prefix) => {
            assert_eq!(&answer["id"], id, "{case}: {answer}");
            assert!(is_refusal(answer), "{case}: {answer}");
            assert!(result_text(answer).starts_with(prefix), "{case}: {answer}");
        }
        Batch(items) => {
            let answers = answer
                .as_array()
                .unwrap_or_else(|| panic!("{case}: {answer}"));
            assert_eq!(answers.len(), items.len(), "{case}: {answer}");
            for (answer, expect) in answers.iter().zip(items) {
                check(answer, expect, case);
            }
        }
        Silent => unreachable!(),
    }
}

#[test]
fn no_bypass_reaches_the_upstream() {
    let mut gateway = Gateway::start_with(Options {
        extra_args: vec!["--max-message-bytes".into(), "65536".into()],
        ..Options::default()
    });
    gateway.initialize(json!({}));
    assert_eq!(
        gateway.list_tools(),
        [
            "echo",
            "read_file",
            "delete_repo",
            "add",
            "fail",
            "rpc_fail",
            "crash",
            "hang",
            "change_tools"
        ]
    );
    let cases = cases();
    let mut count = 0;
    for (case, line, expect) in &cases {
        gateway.send_line(line);
        match expect {
            Silent => gateway.sync(),
            expect => {
                let answer = gateway.recv();
                check(&answer, expect, case);
                // Unknown-tool errors name the tool exactly as it was sent.
                if let (Error(_, -32602, "Unknown tool: "), Ok(sent)) =
                    (expect, serde_json::from_str::<Value>(line))
                {
                    assert_eq!(
                        answer["error"]["message"],
                        json!(format!(
                            "Unknown tool: {}",
                            sent["params"]["name"].as_str().unwrap()
                        )),
                        "{case}"
                    );
                }
            }
        }
        count += 1;
    }

    // Oversized: refused unread (its id cannot be known), and the session goes on.
    let big = call(json!(80), "echo", json!({"text": "x".repeat(70_000)}));
    gateway.send_line(&big);
    check(
        &gateway.recv(),
        &Error(
            Value::Null,
            -32600,
            "exceeds the gateway's limit of 65536 bytes",
        ),
        "oversized",
    );
    count += 1;

    // Invalid UTF-8.
    gateway.send_bytes(b"{\"jsonrpc\":\"2.0\",\"id\":81,\"method\":\"tools/call\",\"params\":{\"name\":\"ech\xff\"}}");
    check(
        &gateway.recv(),
        &Error(Value::Null, -32700, "not UTF-8"),
        "invalid UTF-8",
    );
    count += 1;

    assert!(count >= 40, "only {count} cases");

    // The session still works, and the upstream saw only `hang` and this control call.
    let control = gateway.call("echo", json!({"text": "control"}));
    assert_eq!(result_text(&control), r#"echo ran with {"text":"control"}"#);
    let names: Vec<Value> = gateway
        .upstream_calls()
        .iter()
        .map(|call| call["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("hang"), json!("echo")],
        "{:?}",
        gateway.upstream_log()
    );
    for line in gateway.upstream_log() {
        assert!(
            !line.contains("delete_repo")
                && !line.contains("run_command")
                && !line.contains("/etc/"),
            "reached the upstream: {line}"
        );
    }
    // Every refusal is in the audit.
    let audit = gateway.audit();
    assert!(
        audit.len() >= count,
        "{} records for {count} cases",
        audit.len()
    );
    assert!(
        audit
            .iter()
            .any(|record| record["verdict"] == "dropped_notification")
    );
    assert!(
        audit
            .iter()
            .any(|record| record["verdict"] == "duplicate_key")
    );
}
