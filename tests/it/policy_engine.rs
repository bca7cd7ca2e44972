//! The decision engine: a table of (policy, call, expected decision) cases, each run
//! through the engine, through `policy::explain` (the function the CLI prints), and
//! through the `mcpwarden policy explain` binary; all three must agree with the table.
//! Then the counters' behaviour (scopes, shared counters, give-back, windows), and
//! property tests for calendar-aligned windows.

use std::collections::HashMap;
use std::path::Path;

use assert_cmd::Command;
use mcpwarden::policy::model::{Scope, Window};
use mcpwarden::policy::{
    self, CallContext, CompiledPolicy, Counters, ExplainRequest, InMemoryCounters, LimitRequest,
    Verdict,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00:30 UTC);
const NOW_TEXT: &str = "2025-06-01T12:00:30Z";

fn policy_file(key: &str) -> &'static str {
    match key {
        "arch" => "data/example-policy.json",
        "tmux" => "tests/data/golden/tmux-agents.policy.json",
        "mixed" => "tests/data/golden/mixed-fixture.policy.json",
        "ops" => "tests/data/policies/good/every-op.json",
        "allow" => "tests/data/policies/good/default-allow-with-hide.json",
        "hideall" => "tests/data/policies/good/hide-everything.json",
        "approval" => "tests/data/policies/good/approval-pin-and-shared-counters.json",
        other => panic!("no policy {other}"),
    }
}

struct Case {
    policy: &'static str,
    tool: &'static str,
    args: String,
    repeat: u32,
    hash: Option<&'static str>,
    verdict: Verdict,
    rule: &'static str,
}

fn case(
    policy: &'static str,
    tool: &'static str,
    args: Value,
    verdict: Verdict,
    rule: &'static str,
) -> Case {
    Case {
        policy,
        tool,
        args: args.to_string(),
        repeat: 1,
        hash: None,
        verdict,
        rule,
    }
}

impl Case {
    fn repeat(mut self, times: u32) -> Case {
        self.repeat = times;
        self
    }

    fn hash(mut self, hash: &'static str) -> Case {
        self.hash = Some(hash);
        self
    }
}

const PIN_OK: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
const PIN_CHANGED: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn query_args() -> Value {
    json!({"mode": "read", "table": "users", "format": "json", "schema": "public", "limit": 10, "options": {"tags": ["safe", "fast"]}})
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    if let Some(map) = base.as_object_mut() {
        map.remove(key);
    }
    base
}

fn cases() -> Vec<Case> {
    use Verdict::{Allow, Deny, Hidden, NeedsApproval};
    let long = |n: usize| Value::String("x".repeat(n));
    let send = |target: &str, message: Value| json!({"target": target, "message": message});
    let note = |title: Value, visibility: &str| json!({"title": title, "body": "b", "visibility": visibility});
    vec![
        // The ARCHITECTURE.md example.
        case("arch", "read_file", json!({}), Allow, "tools.read_file"),
        case("arch", "read_file", Value::Null, Allow, "tools.read_file"),
        case("arch", "Read_File", json!({}), Hidden, "default"),
        case("arch", "read_file ", json!({}), Hidden, "default"),
        case("arch", "delete_repository", json!({}), Hidden, "hide[0]"),
        case("arch", "Delete_Repository", json!({}), Hidden, "default"),
        case(
            "arch",
            "write_file",
            json!({"path": "/etc/passwd"}),
            Hidden,
            "default",
        ),
        case(
            "arch",
            "send_message",
            send("multiagent:1.0", json!("hello")),
            Allow,
            "tools.send_message",
        ),
        case(
            "arch",
            "send_message",
            send("other:1.0", json!("hello")),
            Deny,
            "tools.send_message.require[0]",
        ),
        case(
            "arch",
            "send_message",
            send("xmultiagent:1", json!("hello")),
            Deny,
            "tools.send_message.require[0]",
        ),
        case(
            "arch",
            "send_message",
            json!({"message": "hello"}),
            Deny,
            "tools.send_message.require[0]",
        ),
        case(
            "arch",
            "send_message",
            json!({"target": 5, "message": "hi"}),
            Deny,
            "tools.send_message.require[0]",
        ),
        case(
            "arch",
            "send_message",
            send("multiagent:1", json!("C-c")),
            Deny,
            "tools.send_message.deny_if[0]",
        ),
        case(
            "arch",
            "send_message",
            send("multiagent:1", json!("now C-c Enter")),
            Deny,
            "tools.send_message.deny_if[0]",
        ),
        case(
            "arch",
            "send_message",
            send("multiagent:1", json!(["Enter", "C-c"])),
            Deny,
            "tools.send_message.deny_if[0]",
        ),
        case(
            "arch",
            "send_message",
            send("multiagent:1", json!(["Enter"])),
            Allow,
            "tools.send_message",
        ),
        case(
            "arch",
            "send_message",
            send("multiagent:1", json!(42)),
            Deny,
            "tools.send_message.deny_if[0]",
        ),
        case(
            "arch",
            "send_message",
            send("multiagent:1", json!("c-c")),
            Allow,
            "tools.send_message",
        ),
        case(
            "arch",
            "send_message",
            json!({"target": "multiagent:1"}),
            Allow,
            "tools.send_message",
        ),
        case(
            "arch",
            "send_message",
            send("multiagent:1", json!("hi")),
            Allow,
            "tools.send_message",
        )
        .repeat(10),
        case(
            "arch",
            "send_message",
            send("multiagent:1", json!("hi")),
            Deny,
            "tools.send_message.limits[0]",
        )
        .repeat(11),
        case("arch", "send_message", json!([1, 2]), Deny, "arguments"),
        case("arch", "send_message", json!("text"), Deny, "arguments"),
        case(
            "arch",
            "Send_Message",
            send("multiagent:1", json!("hi")),
            Hidden,
            "default",
        ),
        case(
            "arch",
            "send_messag\u{0435}",
            send("multiagent:1", json!("hi")),
            Hidden,
            "default",
        ),
        case(
            "arch",
            "s\u{0435}nd_message",
            send("multiagent:1", json!("hi")),
            Hidden,
            "default",
        ),
        case(
            "arch",
            "send_message\u{200b}",
            send("multiagent:1", json!("hi")),
            Hidden,
            "default",
        ),
        case("arch", "", json!({}), Hidden, "default"),
        // The generated tmux-agents policy.
        case(
            "tmux",
            "get_agent_status",
            json!({"target": "agents:1.0"}),
            Allow,
            "tools.get_agent_status",
        ),
        case(
            "tmux",
            "capture_screen",
            json!({"target": "agents:1.0", "lines": 50}),
            Allow,
            "tools.capture_screen",
        ),
        case(
            "tmux",
            "capture_screen",
            json!({"target": "a"}),
            Allow,
            "tools.capture_screen",
        )
        .repeat(100),
        case(
            "tmux",
            "get_parallel_status",
            json!({}),
            Allow,
            "tools.get_parallel_status",
        ),
        case(
            "tmux",
            "send_message",
            json!({"target": "a:1", "message": "C-c"}),
            Allow,
            "tools.send_message",
        ),
        case(
            "tmux",
            "send_message",
            json!({"target": "a:1", "message": "x"}),
            Allow,
            "tools.send_message",
        )
        .repeat(10),
        case(
            "tmux",
            "send_message",
            json!({"target": "a:1", "message": "x"}),
            Deny,
            "tools.send_message.limits[0]",
        )
        .repeat(11),
        case(
            "tmux",
            "start_agent",
            json!({"name": "w", "command": "claude"}),
            Allow,
            "tools.start_agent",
        ),
        case(
            "tmux",
            "start_agent",
            json!({"name": "w", "command": "claude"}),
            Deny,
            "tools.start_agent.limits[0]",
        )
        .repeat(11),
        // The fixture's parallel_implement is Execute / Critical: behind approval, after
        // its argument checks (ARCHITECTURE.md § Recommended rules).
        case(
            "tmux",
            "parallel_implement",
            json!({"task": "t", "workers": 8}),
            NeedsApproval,
            "tools.parallel_implement.approval",
        ),
        case(
            "tmux",
            "parallel_implement",
            json!({"task": "t"}),
            NeedsApproval,
            "tools.parallel_implement.approval",
        ),
        case(
            "tmux",
            "parallel_implement",
            json!({"task": "t", "workers": 9}),
            Deny,
            "tools.parallel_implement.deny_if[0]",
        ),
        case(
            "tmux",
            "parallel_implement",
            json!({"task": "t", "workers": 8.5}),
            Deny,
            "tools.parallel_implement.deny_if[0]",
        ),
        case(
            "tmux",
            "parallel_implement",
            json!({"task": "t", "workers": "9"}),
            Deny,
            "tools.parallel_implement.deny_if[0]",
        ),
        // No rate limit stands in for the person: the 11th call is asked about too.
        case(
            "tmux",
            "parallel_implement",
            json!({"task": "t", "workers": 1}),
            NeedsApproval,
            "tools.parallel_implement.approval",
        )
        .repeat(11),
        case("tmux", "kill_server", json!({}), Hidden, "default"),
        case("tmux", "Send_Message", json!({}), Hidden, "default"),
        // Hash pins: known definition → judged as usual; changed → refused.
        case(
            "tmux",
            "get_parallel_status",
            json!({}),
            Allow,
            "tools.get_parallel_status",
        )
        .hash("sha256:da8fbcd00eda4e268f052ef865e80f0573a6ab20d85656b557b659101aa32aa6"),
        case(
            "tmux",
            "get_parallel_status",
            json!({}),
            Deny,
            "tools.get_parallel_status.pin",
        )
        .hash(PIN_CHANGED),
        case(
            "tmux",
            "send_message",
            json!({"target": "a", "message": "b"}),
            Deny,
            "tools.send_message.pin",
        )
        .hash(PIN_OK),
        // The generated mixed fixture: one tool per category.
        case(
            "mixed",
            "delete_repo",
            json!({"repo": "x"}),
            Hidden,
            "hide[0]",
        ),
        case("mixed", "mystery_tool", json!({}), Hidden, "default"),
        case(
            "mixed",
            "send_payment",
            json!({"to": "a", "amount": 1}),
            NeedsApproval,
            "tools.send_payment.approval",
        ),
        case(
            "mixed",
            "send_payment",
            json!({}),
            NeedsApproval,
            "tools.send_payment.approval",
        ),
        case(
            "mixed",
            "list_files",
            json!({"path": "/tmp"}),
            Allow,
            "tools.list_files",
        ),
        case(
            "mixed",
            "list_files",
            json!({"path": "/tmp", "sort": "size"}),
            Allow,
            "tools.list_files",
        ),
        case(
            "mixed",
            "list_files",
            json!({"path": "/tmp", "sort": "random"}),
            Deny,
            "tools.list_files.deny_if[1]",
        ),
        case(
            "mixed",
            "list_files",
            json!({"path": "/tmp", "sort": null}),
            Deny,
            "tools.list_files.deny_if[1]",
        ),
        case(
            "mixed",
            "list_files",
            json!({"path": long(4096)}),
            Allow,
            "tools.list_files",
        ),
        case(
            "mixed",
            "list_files",
            json!({"path": long(4097)}),
            Deny,
            "tools.list_files.deny_if[0]",
        ),
        case(
            "mixed",
            "list_files",
            json!({"path": "é".repeat(4096)}),
            Allow,
            "tools.list_files",
        ),
        case(
            "mixed",
            "list_files",
            json!({"path": ["a"]}),
            Deny,
            "tools.list_files.deny_if[0]",
        ),
        case(
            "mixed",
            "write_note",
            note(json!("t"), "team"),
            Allow,
            "tools.write_note",
        ),
        case(
            "mixed",
            "write_note",
            note(json!("t"), "public"),
            Deny,
            "tools.write_note.require[0]",
        ),
        case(
            "mixed",
            "write_note",
            json!({"title": "t", "body": "b"}),
            Deny,
            "tools.write_note.require[0]",
        ),
        case(
            "mixed",
            "write_note",
            note(long(80), "private"),
            Allow,
            "tools.write_note",
        ),
        case(
            "mixed",
            "write_note",
            note(long(81), "private"),
            Deny,
            "tools.write_note.deny_if[0]",
        ),
        case(
            "mixed",
            "write_note",
            note(json!("line1\nline2"), "private"),
            Allow,
            "tools.write_note",
        ),
        case(
            "mixed",
            "write_note",
            note(json!("t"), "team"),
            Allow,
            "tools.write_note",
        )
        .repeat(30),
        case(
            "mixed",
            "write_note",
            note(json!("t"), "team"),
            Deny,
            "tools.write_note.limits[0]",
        )
        .repeat(31),
        case(
            "mixed",
            "run_query",
            json!({"sql": "select 1", "limit": 5}),
            Allow,
            "tools.run_query",
        ),
        case(
            "mixed",
            "run_query",
            json!({"sql": "select 1"}),
            Allow,
            "tools.run_query",
        ),
        case(
            "mixed",
            "run_query",
            json!({"sql": "select 1", "limit": 1000}),
            Allow,
            "tools.run_query",
        ),
        case(
            "mixed",
            "run_query",
            json!({"sql": "select 1", "limit": 1001}),
            Deny,
            "tools.run_query.deny_if[0]",
        ),
        case(
            "mixed",
            "run_query",
            json!({"sql": "select 1", "limit": 0}),
            Deny,
            "tools.run_query.deny_if[1]",
        ),
        case(
            "mixed",
            "run_query",
            json!({"sql": "select 1", "limit": -5}),
            Deny,
            "tools.run_query.deny_if[1]",
        ),
        case(
            "mixed",
            "run_query",
            json!({"sql": "x"}),
            Deny,
            "tools.run_query.limits[0]",
        )
        .repeat(11),
        // Every operator.
        case("ops", "query", query_args(), Allow, "tools.query"),
        case(
            "ops",
            "query",
            with(query_args(), "mode", json!("write")),
            Deny,
            "tools.query.require[0]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "mode", json!(1)),
            Deny,
            "tools.query.require[0]",
        ),
        case(
            "ops",
            "query",
            without(query_args(), "mode"),
            Deny,
            "tools.query.require[0]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "table", json!("secrets")),
            Deny,
            "tools.query.require[1]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "format", json!("xml")),
            Deny,
            "tools.query.require[2]",
        ),
        case(
            "ops",
            "query",
            without(query_args(), "format"),
            Deny,
            "tools.query.require[2]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "format", json!("csv")),
            Allow,
            "tools.query",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "schema", json!("pg_catalog")),
            Deny,
            "tools.query.require[3]",
        ),
        case(
            "ops",
            "query",
            without(query_args(), "schema"),
            Allow,
            "tools.query",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "limit", json!(1001)),
            Deny,
            "tools.query.require[4]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "limit", json!(1000)),
            Allow,
            "tools.query",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "limit", json!(1000.5)),
            Deny,
            "tools.query.require[5]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "limit", json!(0)),
            Deny,
            "tools.query.require[6]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "limit", json!(0.5)),
            Deny,
            "tools.query.require[7]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "limit", json!(1)),
            Allow,
            "tools.query",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "limit", json!("10")),
            Deny,
            "tools.query.require[4]",
        ),
        case(
            "ops",
            "query",
            without(query_args(), "limit"),
            Deny,
            "tools.query.require[4]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "table", json!("Users")),
            Deny,
            "tools.query.require[8]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "table", json!("users; drop")),
            Deny,
            "tools.query.require[8]",
        ),
        case(
            "ops",
            "query",
            without(query_args(), "table"),
            Deny,
            "tools.query.require[8]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "options", json!({"tags": ["fast"]})),
            Deny,
            "tools.query.require[9]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "options", json!({"tags": "safe,fast"})),
            Allow,
            "tools.query",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "options", json!({"tags": 7})),
            Deny,
            "tools.query.require[9]",
        ),
        case(
            "ops",
            "query",
            without(query_args(), "options"),
            Deny,
            "tools.query.require[9]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "raw_sql", json!("drop table x")),
            Deny,
            "tools.query.require[11]",
        ),
        case(
            "ops",
            "query",
            with(query_args(), "raw_sql", json!(null)),
            Deny,
            "tools.query.require[11]",
        ),
        case("ops", "Query", query_args(), Hidden, "default"),
        // Default allow, with hides and refusal rules.
        case("allow", "anything_at_all", json!({}), Allow, "default"),
        case(
            "allow",
            "anything_at_all",
            json!({"x": 1}),
            Allow,
            "default",
        )
        .repeat(500),
        case("allow", "drop_database", json!({}), Hidden, "hide[0]"),
        case("allow", "Delete_Repo", json!({}), Hidden, "hide[1]"),
        case("allow", "delete_repo", json!({}), Allow, "default"),
        case("allow", "DROP_DATABASE", json!({}), Allow, "default"),
        case(
            "allow",
            "run_shell",
            json!({"command": "ls -la"}),
            Allow,
            "tools.run_shell",
        ),
        case(
            "allow",
            "run_shell",
            json!({"command": "rm -rf /"}),
            Deny,
            "tools.run_shell.deny_if[0]",
        ),
        case(
            "allow",
            "run_shell",
            json!({"command": "RM  -RF /tmp"}),
            Deny,
            "tools.run_shell.deny_if[0]",
        ),
        case(
            "allow",
            "run_shell",
            json!({"command": "farm -rfx"}),
            Allow,
            "tools.run_shell",
        ),
        case(
            "allow",
            "run_shell",
            json!({"command": "ls", "sudo": true}),
            Deny,
            "tools.run_shell.deny_if[1]",
        ),
        case(
            "allow",
            "run_shell",
            json!({"command": "ls", "sudo": "true"}),
            Allow,
            "tools.run_shell",
        ),
        case(
            "allow",
            "run_shell",
            json!({"command": 5}),
            Deny,
            "tools.run_shell.deny_if[0]",
        ),
        // Hide everything.
        case("hideall", "anything", json!({}), Hidden, "hide[0]"),
        case("hideall", "read_file", json!({}), Hidden, "hide[0]"),
        // Approval, pins, all_tools limits, a counter shared between tools.
        case(
            "approval",
            "transfer_funds",
            json!({"amount": 5}),
            NeedsApproval,
            "tools.transfer_funds.approval",
        ),
        case(
            "approval",
            "transfer_funds",
            json!({}),
            NeedsApproval,
            "tools.transfer_funds.approval",
        )
        .hash(PIN_OK),
        case(
            "approval",
            "transfer_funds",
            json!({}),
            Deny,
            "tools.transfer_funds.pin",
        )
        .hash(PIN_CHANGED),
        case(
            "approval",
            "transfer_funds",
            json!({}),
            NeedsApproval,
            "tools.transfer_funds.approval",
        )
        .repeat(3),
        case(
            "approval",
            "transfer_funds",
            json!({}),
            Deny,
            "tools.transfer_funds.limits[0]",
        )
        .repeat(4),
        case("approval", "refund", json!({}), Allow, "tools.refund").repeat(3),
        case(
            "approval",
            "refund",
            json!({}),
            Deny,
            "tools.refund.limits[0]",
        )
        .repeat(4),
        case("approval", "balance", json!({}), Hidden, "default"),
    ]
}

fn compiled<'c>(key: &str, cache: &'c mut HashMap<String, CompiledPolicy>) -> &'c CompiledPolicy {
    cache.entry(key.to_owned()).or_insert_with(|| {
        policy::load_file(Path::new(policy_file(key)))
            .unwrap_or_else(|error| panic!("{key}: {error}"))
    })
}

/// Calls the engine `repeat` times at NOW with fresh counters and returns the last decision.
fn engine_decision(policy: &CompiledPolicy, case: &Case) -> (Verdict, String) {
    let counters = InMemoryCounters::new();
    let args: Value = serde_json::from_str(&case.args).expect("args JSON");
    let context = CallContext {
        definition_hash: case.hash,
        ..CallContext::new(NOW)
    };
    let mut last = None;
    for _ in 0..case.repeat {
        let decision = policy.decide(case.tool, &args, &context, &counters);
        let refused = !matches!(decision.verdict, Verdict::Allow | Verdict::NeedsApproval);
        last = Some((decision.verdict, decision.rule));
        if refused {
            break;
        }
    }
    last.expect("at least one call")
}

#[test]
fn the_table_has_at_least_a_hundred_cases() {
    assert!(cases().len() >= 100, "{} cases", cases().len());
}

#[test]
fn engine_and_explain_give_the_expected_decisions() {
    let mut cache = HashMap::new();
    for case in cases() {
        let policy = compiled(case.policy, &mut cache);
        let (verdict, rule) = engine_decision(policy, &case);
        let label = format!(
            "{} {} {} x{}",
            case.policy,
            case.tool,
            case.args.chars().take(80).collect::<String>(),
            case.repeat
        );
        assert_eq!(
            (verdict, rule.as_str()),
            (case.verdict, case.rule),
            "engine: {label}"
        );
        let args: Value = serde_json::from_str(&case.args).expect("args JSON");
        let explanation = policy::explain(
            policy,
            &ExplainRequest {
                tool: case.tool,
                arguments: &args,
                grant: None,
                session: None,
                definition_hash: case.hash,
                repeat: case.repeat,
                now: NOW,
            },
        );
        assert_eq!(
            (explanation.verdict, explanation.rule.as_str()),
            (verdict, rule.as_str()),
            "explain: {label}"
        );
        assert!(
            !explanation.steps.is_empty(),
            "explain gives its reasons: {label}"
        );
    }
}

#[test]
fn the_explain_binary_gives_the_same_decisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("unused.db");
    for case in cases() {
        let mut command = Command::cargo_bin("mcpwarden").expect("binary");
        command
            .arg("--db")
            .arg(&db)
            .args([
                "policy",
                "explain",
                policy_file(case.policy),
                "--json",
                "--at",
                NOW_TEXT,
            ])
            .args([
                "--tool",
                case.tool,
                "--args",
                &case.args,
                "--repeat",
                &case.repeat.to_string(),
            ]);
        if let Some(hash) = case.hash {
            command.args(["--definition-hash", hash]);
        }
        let output = command.output().expect("runs");
        let label = format!("{} {} x{}", case.policy, case.tool, case.repeat);
        let explained: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{label}: {}", String::from_utf8_lossy(&output.stderr)));
        let expected_code = if case.verdict == Verdict::Allow { 0 } else { 1 };
        assert_eq!(output.status.code(), Some(expected_code), "{label}");
        assert_eq!(explained["verdict"], case.verdict.as_str(), "{label}");
        assert_eq!(explained["rule"], case.rule, "{label}");
        if case.verdict == Verdict::Deny {
            let refusal = explained["refusal"].as_str().expect("refusal text");
            assert!(
                refusal.starts_with(&format!("[POLICY DENIED] {}: ", case.rule)),
                "{label}: {refusal}"
            );
        }
    }
}

fn load(text: &str) -> CompiledPolicy {
    policy::load(text).expect("valid policy")
}

#[test]
fn refusals_read_as_policy_denied_with_the_rule_and_the_on_deny_text() {
    let policy = load(&std::fs::read_to_string(policy_file("arch")).expect("read"));
    let counters = InMemoryCounters::new();
    let decision = policy.decide(
        "send_message",
        &json!({"target": "multiagent:1", "message": "C-c"}),
        &CallContext::new(NOW),
        &counters,
    );
    assert_eq!(
        decision.refusal_text(),
        "[POLICY DENIED] tools.send_message.deny_if[0]: Interrupting a pane is not allowed."
    );
    assert!(decision.reservation.is_none());
}

#[test]
fn limits_count_per_grant_per_session_and_globally() {
    let policy = load(
        r#"{"version": "1", "default": "deny", "tools": {
            "per_grant": {"limits": [{"counter": "g", "window": "minute", "max": 2, "scope": "grant"}]},
            "per_session": {"limits": [{"counter": "s", "window": "minute", "max": 2, "scope": "session"}]},
            "global": {"limits": [{"counter": "all", "window": "minute", "max": 2, "scope": "global"}]}
        }}"#,
    );
    let counters = InMemoryCounters::new();
    let call = |tool: &str, grant: &str, session: &str| {
        let context = CallContext {
            grant: Some(grant),
            session: Some(session),
            ..CallContext::new(NOW)
        };
        policy.decide(tool, &json!({}), &context, &counters).verdict
    };
    use Verdict::{Allow, Deny};
    // Grant: two sessions of grant A share; grant B has its own.
    assert_eq!(
        [
            call("per_grant", "A", "1"),
            call("per_grant", "A", "2"),
            call("per_grant", "A", "3")
        ],
        [Allow, Allow, Deny]
    );
    assert_eq!(call("per_grant", "B", "1"), Allow);
    // Session: each session its own, across grants.
    assert_eq!(
        [
            call("per_session", "A", "1"),
            call("per_session", "A", "1"),
            call("per_session", "A", "1")
        ],
        [Allow, Allow, Deny]
    );
    assert_eq!(call("per_session", "A", "2"), Allow);
    // Global: everyone shares.
    assert_eq!(
        [
            call("global", "A", "1"),
            call("global", "B", "2"),
            call("global", "C", "3")
        ],
        [Allow, Allow, Deny]
    );
}

#[test]
fn a_counter_shared_by_two_tools_is_one_budget() {
    let policy = load(&std::fs::read_to_string(policy_file("approval")).expect("read"));
    let counters = InMemoryCounters::new();
    let context = CallContext {
        grant: Some("g"),
        ..CallContext::new(NOW)
    };
    let verdicts: Vec<Verdict> = ["refund", "transfer_funds", "refund", "transfer_funds"]
        .into_iter()
        .map(|tool| policy.decide(tool, &json!({}), &context, &counters).verdict)
        .collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Allow,
            Verdict::NeedsApproval,
            Verdict::Allow,
            Verdict::Deny
        ]
    );
}

#[test]
fn a_failed_call_gives_its_units_back() {
    let policy = load(
        r#"{"version": "1", "default": "deny", "all_tools": {"limits": [{"counter": "any", "window": "hour", "max": 3, "scope": "grant"}]},
            "tools": {"t": {"limits": [{"counter": "t", "window": "minute", "max": 1, "scope": "grant"}]}, "u": {}}}"#,
    );
    let counters = InMemoryCounters::new();
    let context = CallContext::new(NOW);
    let first = policy.decide("t", &json!({}), &context, &counters);
    assert_eq!(first.verdict, Verdict::Allow);
    assert_eq!(
        policy.decide("t", &json!({}), &context, &counters).rule,
        "tools.t.limits[0]"
    );
    // The refused second call kept nothing on `any`; giving back the first frees both counts.
    counters.release(first.reservation.expect("units taken"));
    let again = policy.decide("t", &json!({}), &context, &counters);
    assert_eq!(again.verdict, Verdict::Allow, "{}", again.message);
    let u1 = policy.decide("u", &json!({}), &context, &counters);
    let u2 = policy.decide("u", &json!({}), &context, &counters);
    let u3 = policy.decide("u", &json!({}), &context, &counters);
    assert_eq!(
        [u1.verdict, u2.verdict, u3.verdict],
        [Verdict::Allow, Verdict::Allow, Verdict::Deny]
    );
    assert_eq!(u3.rule, "all_tools.limits[0]");
}

#[test]
fn windows_slide_so_no_burst_passes_a_minute_or_day_boundary() {
    let policy = load(
        r#"{"version": "1", "default": "deny", "tools": {"t": {"limits": [{"counter": "t", "window": "minute", "max": 1, "scope": "grant"}]},
            "d": {"limits": [{"counter": "d", "window": "day", "max": 1, "scope": "grant"}]}}}"#,
    );
    let counters = InMemoryCounters::new();
    let at = |now: OffsetDateTime, tool: &str| {
        policy
            .decide(tool, &json!({}), &CallContext::new(now), &counters)
            .verdict
    };
    assert_eq!(at(datetime!(2025-06-01 12:00:59 UTC), "t"), Verdict::Allow);
    // One second later is a new calendar minute, but not 60 s later: refused.
    assert_eq!(at(datetime!(2025-06-01 12:01:00 UTC), "t"), Verdict::Deny);
    assert_eq!(at(datetime!(2025-06-01 12:01:58 UTC), "t"), Verdict::Deny);
    assert_eq!(at(datetime!(2025-06-01 12:01:59 UTC), "t"), Verdict::Allow);
    assert_eq!(at(datetime!(2025-06-01 23:59:59 UTC), "d"), Verdict::Allow);
    assert_eq!(at(datetime!(2025-06-02 00:00:00 UTC), "d"), Verdict::Deny);
    // A non-UTC offset names the same instant.
    assert_eq!(
        at(datetime!(2025-06-03 01:59:58 +02:00), "d"),
        Verdict::Deny
    );
    assert_eq!(
        at(datetime!(2025-06-03 01:59:59 +02:00), "d"),
        Verdict::Allow
    );
}

#[test]
fn without_a_grant_each_session_has_its_own_limits() {
    let policy = load(
        r#"{"version": "1", "default": "deny", "tools": {"t": {"limits": [{"counter": "t", "window": "minute", "max": 1, "scope": "grant"}]}}}"#,
    );
    let counters = InMemoryCounters::new();
    let call = |session: &str, grant: Option<&str>| {
        let context = CallContext {
            session: Some(session),
            grant,
            ..CallContext::new(NOW)
        };
        policy.decide("t", &json!({}), &context, &counters).verdict
    };
    assert_eq!(call("s1", None), Verdict::Allow);
    assert_eq!(call("s1", None), Verdict::Deny);
    // Another anonymous client is not refused for the first one's calls.
    assert_eq!(call("s2", None), Verdict::Allow);
    // A grant is shared by every session that holds it.
    assert_eq!(call("s3", Some("team")), Verdict::Allow);
    assert_eq!(call("s4", Some("team")), Verdict::Deny);
}

#[test]
fn tools_list_filtering_matches_call_decisions() {
    let policy = load(&std::fs::read_to_string(policy_file("mixed")).expect("read"));
    let upstream = [
        "delete_repo",
        "list_files",
        "mystery_tool",
        "run_query",
        "send_payment",
        "write_note",
        "List_Files",
    ];
    assert_eq!(
        policy.visible_tools(upstream),
        ["list_files", "run_query", "send_payment", "write_note"]
    );
    let counters = InMemoryCounters::new();
    for name in upstream {
        let hidden = policy
            .decide(name, &json!({}), &CallContext::new(NOW), &counters)
            .verdict
            == Verdict::Hidden;
        assert_eq!(policy.is_hidden(name), hidden, "{name}");
    }
}

#[test]
fn explain_text_output_names_the_rule_and_the_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    Command::cargo_bin("mcpwarden")
        .expect("binary")
        .arg("--db")
        .arg(dir.path().join("unused.db"))
        .args(["policy", "explain", policy_file("arch"), "--tool", "send_message"])
        .args(["--args", r#"{"target": "elsewhere", "message": "hi"}"#])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("send_message: deny"))
        .stdout(predicates::str::contains(
            "[POLICY DENIED] tools.send_message.require[0]: requires args.target regex \"^multiagent:\"",
        ));
}

proptest! {
    /// With calls in time order and no give-backs, each (grant, minute) gets exactly
    /// min(calls, max) allowed, whatever the spacing of the calls.
    /// Whatever the spacing of calls, no 60-second span holds more than `max` allowed
    /// calls of one grant, and a call is refused only when `max` were allowed in the 60
    /// seconds before it.
    #[test]
    fn every_sixty_seconds_allow_at_most_max_calls(
        max in 1u64..6,
        steps in proptest::collection::vec((0i64..50, 0usize..3), 1..120),
    ) {
        let counters = InMemoryCounters::new();
        let grants = ["a", "b", "c"];
        let mut now = datetime!(2025-01-01 00:00:00 UTC).unix_timestamp();
        let mut allowed: Vec<Vec<i64>> = vec![Vec::new(); grants.len()];
        for (gap, grant) in steps {
            now += gap;
            let at = OffsetDateTime::from_unix_timestamp(now).expect("time");
            let request = LimitRequest { counter: "c", window: Window::Minute, scope: Scope::Grant, scope_id: grants[grant], max };
            let recent = allowed[grant].iter().filter(|t| **t > now - 60).count() as u64;
            match counters.reserve(&[request], at) {
                Ok(_) => {
                    prop_assert!(recent < max);
                    allowed[grant].push(now);
                }
                Err(_) => prop_assert_eq!(recent, max),
            }
        }
    }

    /// Reserving and releasing in any order never lets more than `max` units be held in
    /// one window, and releasing everything frees the whole window again.
    #[test]
    fn releases_never_let_a_window_exceed_its_max(
        max in 1u64..5,
        operations in proptest::collection::vec(any::<bool>(), 1..80),
    ) {
        let counters = InMemoryCounters::new();
        let at = datetime!(2025-01-01 10:20:30 UTC);
        let request = LimitRequest { counter: "c", window: Window::Hour, scope: Scope::Global, scope_id: "", max };
        let mut held = Vec::new();
        for reserve in operations {
            if reserve {
                match counters.reserve(&[request], at) {
                    Ok(reservation) => held.push(reservation),
                    Err(_) => prop_assert_eq!(held.len() as u64, max),
                }
            } else if let Some(reservation) = held.pop() {
                counters.release(reservation);
            }
            prop_assert!(held.len() as u64 <= max);
            prop_assert_eq!(counters.used(&request.slot(at), at), held.len() as u64);
        }
        for reservation in held.drain(..) {
            counters.release(reservation);
        }
        prop_assert_eq!(counters.used(&request.slot(at), at), 0);
    }
}
