//! `mcpwarden gateway` over stdio, end to end, with the test server as upstream: allowed,
//! hidden, denied, rate-limited and invalid calls; list filtering and pagination;
//! `list_changed` and pins; approvals; faults (crash, hang, client leaving); reload; audit.

use std::time::Duration;

use crate::gateway_common::*;
use serde_json::{Value, json};

#[test]
fn allowed_hidden_denied_rate_limited_and_invalid_calls() {
    let mut gateway = Gateway::initialized();

    let allowed = gateway.call("echo", json!({"text": "hello"}));
    assert_eq!(allowed["result"]["isError"], json!(false), "{allowed}");
    assert_eq!(result_text(&allowed), r#"echo ran with {"text":"hello"}"#);

    let hidden = gateway.call("run_command", json!({"command": "ls"}));
    assert_eq!(hidden["error"]["code"], json!(-32602), "{hidden}");
    assert_eq!(
        hidden["error"]["message"],
        json!("Unknown tool: run_command")
    );

    let denied = gateway.call("delete_repo", json!({"owner": "o", "repo": "r"}));
    assert!(is_refusal(&denied), "{denied}");
    assert_eq!(
        result_text(&denied),
        "[POLICY DENIED] tools.delete_repo.deny_if[0]: Deleting repositories is not allowed."
    );

    let conditional = gateway.call("read_file", json!({"path": "/etc/passwd"}));
    assert_eq!(
        result_text(&conditional),
        "[POLICY DENIED] tools.read_file.deny_if[0]: System files are off limits."
    );
    let fine = gateway.call("read_file", json!({"path": "/tmp/x"}));
    assert_eq!(fine["result"]["isError"], json!(false), "{fine}");

    for _ in 0..2 {
        let sum = gateway.call("add", json!({"a": 1, "b": 2}));
        assert_eq!(result_text(&sum), "3");
    }
    let limited = gateway.call("add", json!({"a": 1, "b": 2}));
    assert!(is_refusal(&limited), "{limited}");
    assert!(
        result_text(&limited).starts_with(
            "[POLICY DENIED] tools.add.limits[0]: rate limit reached: 2 calls per day per session"
        ),
        "{limited}"
    );

    let invalid = gateway.call("echo", json!({"text": 5}));
    assert!(is_refusal(&invalid), "{invalid}");
    assert!(
        result_text(&invalid).starts_with("[POLICY DENIED] inputSchema: the arguments do not match the tool's inputSchema at /text"),
        "{invalid}"
    );
    let extra = gateway.call("echo", json!({"text": "x", "also": 1}));
    assert!(is_refusal(&extra), "{extra}");

    // The upstream saw exactly the allowed calls.
    let names: Vec<Value> = gateway
        .upstream_calls()
        .iter()
        .map(|call| call["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![
            json!("echo"),
            json!("read_file"),
            json!("add"),
            json!("add")
        ]
    );

    // Every decision is in the audit, with argument keys and no values.
    let audit = gateway.audit();
    let verdicts: Vec<(&str, &str)> = audit
        .iter()
        .filter_map(|record| Some((record["tool"].as_str()?, record["verdict"].as_str()?)))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("echo", "allow"),
            ("run_command", "hidden"),
            ("delete_repo", "deny"),
            ("read_file", "deny"),
            ("read_file", "allow"),
            ("add", "allow"),
            ("add", "allow"),
            ("add", "deny"),
            ("echo", "invalid"),
            ("echo", "invalid"),
        ]
    );
    assert_eq!(audit[0]["argument_keys"], json!(["text"]));
    assert!(audit[0].get("arguments").is_none());
    assert!(
        !std::fs::read_to_string(gateway.audit_path())
            .unwrap()
            .contains("/etc/passwd")
    );
}

#[test]
fn tools_list_is_filtered_and_pagination_is_kept() {
    let mut gateway = Gateway::start_with(Options {
        env: vec![("MCPWARDEN_TEST_PAGE_SIZE", "4".to_owned())],
        ..Options::default()
    });
    gateway.initialize(json!({}));
    let mut names = Vec::new();
    let mut cursor: Option<Value> = None;
    for page in 0..10 {
        let id = 50 + page;
        let mut request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
        if let Some(cursor) = &cursor {
            request["params"] = json!({"cursor": cursor});
        }
        let answer = gateway.request(request);
        for tool in answer["result"]["tools"].as_array().unwrap() {
            names.push(tool["name"].as_str().unwrap().to_owned());
        }
        cursor = answer["result"].get("nextCursor").cloned();
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        names,
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
    // Calls work after a paginated listing, and unknown names are still unknown.
    let echo = gateway.call("echo", json!({"text": "paged"}));
    assert_eq!(echo["result"]["isError"], json!(false), "{echo}");
}

#[test]
fn calls_before_any_listing_are_judged_after_the_gateway_lists_the_tools_itself() {
    let mut gateway = Gateway::start_with(Options {
        env: vec![("MCPWARDEN_TEST_PAGE_SIZE", "3".to_owned())],
        ..Options::default()
    });
    gateway.initialize(json!({}));
    let invalid = gateway.call("add", json!({"a": "one", "b": 2}));
    assert!(is_refusal(&invalid), "{invalid}");
    let echo = gateway.call("echo", json!({"text": "first"}));
    assert_eq!(result_text(&echo), r#"echo ran with {"text":"first"}"#);
    // The gateway's own listing is not shown to the client.
    gateway.sync();
    assert!(gateway.try_recv(Duration::from_millis(100)).is_none());
}

#[test]
fn a_failed_upstream_call_gives_its_rate_limit_unit_back() {
    let mut gateway = Gateway::initialized();
    // `fail` and `rpc_fail` allow one call per day; failures do not use it up.
    for _ in 0..3 {
        let failed = gateway.call("fail", json!({}));
        assert_eq!(failed["result"]["isError"], json!(true));
        assert_eq!(result_text(&failed), "it failed", "{failed}");
        let rpc = gateway.call("rpc_fail", json!({}));
        assert_eq!(rpc["error"]["code"], json!(-32603), "{rpc}");
    }
    assert_eq!(gateway.upstream_calls().len(), 6);
}

#[test]
fn list_changed_passes_on_and_a_changed_definition_breaks_a_pin() {
    let dir = tempfile::tempdir().unwrap();
    let policy_path = dir.path().join("policy.json");
    // Pin echo's current definition.
    let echo_hash = mcpwarden::model::definition_hash(
        "echo",
        None,
        "Echo the text back.",
        &json!({"type": "object", "properties": {"text": {"type": "string"}},
                "required": ["text"], "additionalProperties": false}),
        None,
    );
    let policy = json!({"version": "1", "default": "deny", "tools": {
        "echo": {"pin": echo_hash}, "change_tools": {}
    }});
    std::fs::write(&policy_path, policy.to_string()).unwrap();
    let mut gateway = Gateway::start_with(Options {
        policy: &policy_path,
        ..Options::default()
    });
    gateway.initialize(json!({}));
    assert_eq!(gateway.list_tools(), ["echo", "change_tools"]);
    let before = gateway.call("echo", json!({"text": "a"}));
    assert_eq!(before["result"]["isError"], json!(false), "{before}");

    let id = gateway.fresh_id();
    gateway.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "change_tools", "arguments": {}}}));
    let mut saw_notification = false;
    for _ in 0..2 {
        let message = gateway.recv();
        if message["method"] == "notifications/tools/list_changed" {
            saw_notification = true;
        }
    }
    assert!(saw_notification);

    // Without listing again, the gateway re-lists itself and sees the new definition.
    let after = gateway.call("echo", json!({"text": "a"}));
    assert!(is_refusal(&after), "{after}");
    assert!(
        result_text(&after).starts_with(
            "[POLICY DENIED] tools.echo.pin: the tool's definition is not the one the policy pinned"
        ),
        "{after}"
    );
    assert_eq!(gateway.upstream_calls().len(), 2);
}

#[test]
fn approval_uses_elicitation_when_the_client_offers_it_and_refuses_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let policy_path = dir.path().join("policy.json");
    std::fs::write(
        &policy_path,
        json!({"version": "1", "default": "deny", "tools": {
            "echo": {"approval": {"message": "Echo needs a person's yes."}}
        }})
        .to_string(),
    )
    .unwrap();

    let mut without = Gateway::start_with(Options {
        policy: &policy_path,
        ..Options::default()
    });
    without.initialize(json!({}));
    let refused = without.call("echo", json!({"text": "x"}));
    assert_eq!(
        result_text(&refused),
        "[POLICY DENIED] tools.echo.approval: Echo needs a person's yes. (this client cannot ask a person to approve)"
    );
    assert!(without.upstream_calls().is_empty());

    let mut with = Gateway::start_with(Options {
        policy: &policy_path,
        ..Options::default()
    });
    with.initialize(json!({"elicitation": {}}));
    let unticked = "[POLICY DENIED] tools.echo.approval: Echo needs a person's yes. (not approved: the form was sent without “Approve this call?” ticked)";
    let declined = "[POLICY DENIED] tools.echo.approval: Echo needs a person's yes. (not approved: the person declined)";
    for (answer, refusal) in [
        (
            json!({"action": "accept", "content": {"approve": true}}),
            None,
        ),
        (
            json!({"action": "accept", "content": {"approve": false}}),
            Some(unticked),
        ),
        (json!({"action": "accept", "content": {}}), Some(unticked)),
        (json!({"action": "decline"}), Some(declined)),
    ] {
        let id = with.fresh_id();
        with.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "x"}}}));
        let ask = with.recv();
        assert_eq!(ask["method"], json!("elicitation/create"), "{ask}");
        assert!(
            ask["params"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Echo needs a person's yes.")
        );
        with.send(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": answer}));
        let answer = with.recv_id(&json!(id));
        match refusal {
            None => assert!(!is_refusal(&answer), "{answer}"),
            Some(text) => assert_eq!(result_text(&answer), text),
        }
    }
    assert_eq!(with.upstream_calls().len(), 1);
}

#[test]
fn the_upstream_crashing_mid_call_answers_the_client_and_ends_with_its_code() {
    let mut gateway = Gateway::initialized();
    let id = gateway.fresh_id();
    let answer = gateway.request(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "crash", "arguments": {}}}));
    assert_eq!(answer["error"]["code"], json!(-32001), "{answer}");
    assert_eq!(
        answer["error"]["message"],
        json!("the upstream server went away: it exited with code 3")
    );
    assert_eq!(gateway.wait().code(), Some(3));
}

#[test]
fn a_hanging_upstream_times_out_and_the_session_goes_on() {
    let mut gateway = Gateway::start_with(Options {
        extra_args: vec!["--call-timeout".into(), "0.5".into()],
        ..Options::default()
    });
    gateway.initialize(json!({}));
    let hang = gateway.call("hang", json!({}));
    assert_eq!(hang["error"]["code"], json!(-32001), "{hang}");
    assert_eq!(
        hang["error"]["message"],
        json!("the upstream did not answer within 0.5 s")
    );
    let echo = gateway.call("echo", json!({"text": "still here"}));
    assert_eq!(echo["result"]["isError"], json!(false), "{echo}");
}

#[test]
fn reusing_a_cancelled_requests_id_is_refused_at_once_and_other_ids_go_on() {
    let mut gateway = Gateway::initialized();
    // Listed first, so the call goes up at once rather than waiting for the gateway's
    // own listing.
    assert!(gateway.list_tools().contains(&"echo".to_owned()));
    gateway.send(&json!({"jsonrpc": "2.0", "id": 500, "method": "tools/call",
        "params": {"name": "hang", "arguments": {}}}));
    gateway.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 500}}),
    );
    // Before the fix the reused id's answer was swallowed as the cancelled call's late
    // answer, and this waited for ever.
    let reused = gateway.request(json!({"jsonrpc": "2.0", "id": 500, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "again"}}}));
    assert_eq!(reused["error"]["code"], json!(-32600), "{reused}");
    assert!(
        reused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{reused}"
    );
    let echo = gateway.call("echo", json!({"text": "still here"}));
    assert_eq!(echo["result"]["isError"], json!(false), "{echo}");
}

#[test]
fn the_client_leaving_stops_the_upstream_and_the_gateway() {
    let mut gateway = Gateway::initialized();
    let echo = gateway.call("echo", json!({"text": "bye"}));
    assert_eq!(echo["result"]["isError"], json!(false));
    let status = gateway.close();
    // The test server exits 0 when its input closes; the gateway passes that on.
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_gateway_stops_on_sigterm_and_takes_the_child_with_it() {
    let mut gateway = Gateway::initialized();
    gateway.sync();
    let status = Command::new("kill")
        .args(["-TERM", &gateway.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(gateway.wait().code(), Some(143));
}

use std::process::Command;

#[test]
fn a_bad_policy_stops_the_start_with_its_problems() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"version": "1", "default": "maybe"}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcpwarden"))
        .args(["gateway", "--policy"])
        .arg(&bad)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_mcpwarden-test-server"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the gateway did not start"), "{stderr}");
    assert!(stderr.contains("default"), "{stderr}");
}

#[test]
fn a_changed_policy_is_reloaded_and_a_bad_one_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let policy_path = dir.path().join("policy.json");
    let allow_echo = json!({"version": "1", "default": "deny", "tools": {"echo": {}}});
    std::fs::write(&policy_path, allow_echo.to_string()).unwrap();
    let mut gateway = Gateway::start_with(Options {
        policy: &policy_path,
        ..Options::default()
    });
    gateway.initialize(json!({}));
    assert_eq!(gateway.list_tools(), ["echo"]);

    // A bad policy: the old one stays, and stderr says why.
    std::fs::write(&policy_path, r#"{"version": "1", "default": "sometimes"}"#).unwrap();
    let pid = gateway.child.id().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    wait_for(|| gateway.stderr().contains("kept the previous policy"));
    assert_eq!(gateway.list_tools(), ["echo"]);

    // A good one: in force for the next call.
    let allow_add = json!({"version": "1", "default": "deny", "tools": {"add": {}}});
    std::fs::write(&policy_path, allow_add.to_string()).unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    wait_for(|| gateway.stderr().contains("policy reloaded"));
    assert_eq!(gateway.list_tools(), ["add"]);
    let echo = gateway.call("echo", json!({"text": "x"}));
    assert_eq!(echo["error"]["code"], json!(-32602), "{echo}");
}

fn wait_for(condition: impl Fn() -> bool) {
    for _ in 0..(WAIT.as_millis() / 20) {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("condition not met in time");
}

#[test]
fn audit_tail_prints_the_records() {
    let mut gateway = Gateway::initialized();
    gateway.call("delete_repo", json!({"owner": "o", "repo": "r"}));
    let output = Command::new(env!("CARGO_BIN_EXE_mcpwarden"))
        .args(["audit", "tail"])
        .arg(gateway.audit_path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("deny delete_repo tools.delete_repo.deny_if[0]"),
        "{text}"
    );
    assert!(text.contains("keys=[owner,repo]"), "{text}");
}

#[test]
fn a_policy_file_edit_is_picked_up_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let policy_path = dir.path().join("policy.json");
    std::fs::write(
        &policy_path,
        json!({"version": "1", "default": "deny", "tools": {"echo": {}}}).to_string(),
    )
    .unwrap();
    let mut gateway = Gateway::start_with(Options {
        policy: &policy_path,
        ..Options::default()
    });
    gateway.initialize(json!({}));
    assert_eq!(gateway.list_tools(), ["echo"]);
    std::fs::write(
        &policy_path,
        json!({"version": "1", "default": "deny", "tools": {"echo": {}, "add": {}}}).to_string(),
    )
    .unwrap();
    wait_for(|| gateway.stderr().contains("policy reloaded"));
    assert_eq!(gateway.list_tools(), ["echo", "add"]);
}

#[test]
fn a_sqlite_audit_records_decisions_and_audit_tail_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("audit.db");
    let mut gateway = Gateway::start_with(Options {
        extra_args: vec![
            "--audit".into(),
            database.display().to_string(),
            "--audit-values".into(),
        ],
        ..Options::default()
    });
    gateway.initialize(json!({}));
    gateway.call("read_file", json!({"path": "/etc/shadow"}));
    gateway.call("echo", json!({"text": "kept"}));
    let output = Command::new(env!("CARGO_BIN_EXE_mcpwarden"))
        .args(["audit", "tail", "--json"])
        .arg(&database)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let records: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let calls: Vec<(&str, &str)> = records
        .iter()
        .filter_map(|record| Some((record["tool"].as_str()?, record["verdict"].as_str()?)))
        .collect();
    assert_eq!(calls, [("read_file", "deny"), ("echo", "allow")]);
    // --audit-values keeps the values too.
    assert_eq!(records[0]["arguments"], json!({"path": "/etc/shadow"}));
    assert_eq!(records[0]["rule"], json!("tools.read_file.deny_if[0]"));
}

#[test]
fn a_batch_forwards_only_its_allowed_calls() {
    let mut gateway = Gateway::initialized();
    gateway.list_tools();
    gateway.send(&json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "in a batch"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "delete_repo", "arguments": {"owner": "o", "repo": "r"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "run_command", "arguments": {"command": "id"}}}
    ]));
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.extend(gateway.recv().as_array().unwrap().clone());
    }
    answers.sort_by_key(|answer| answer["id"].as_i64());
    assert_eq!(
        result_text(&answers[0]),
        r#"echo ran with {"text":"in a batch"}"#
    );
    assert!(is_refusal(&answers[1]), "{}", answers[1]);
    assert_eq!(answers[2]["error"]["code"], json!(-32602));
    let names: Vec<Value> = gateway
        .upstream_calls()
        .iter()
        .map(|call| call["name"].clone())
        .collect();
    assert_eq!(names, [json!("echo")]);
}

#[test]
fn the_client_leaving_mid_call_ends_the_gateway_cleanly() {
    let mut gateway = Gateway::initialized();
    let id = gateway.fresh_id();
    gateway.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "hang", "arguments": {}}}));
    gateway.sync();
    // The hanging call never ends: after the grace period the server's input is closed
    // and it exits, and so does the gateway.
    let status = gateway.close();
    assert_eq!(status.code(), Some(0));
}
