//! A real MCP client (the rmcp SDK) talking to `mcpwarden gateway` over stdio, with the
//! test server behind it: the gateway must be transparent to an SDK client for allowed
//! calls and give it well-formed refusals for the rest.

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/gateway/policy.json"
);

fn arguments(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    value.as_object().unwrap().clone()
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_value(&result.content).unwrap()[0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rmcp_client_through_the_gateway() {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
    command
        .args(["gateway", "--policy", POLICY, "--"])
        .arg(env!("CARGO_BIN_EXE_mcpwarden-test-server"));
    let transport = TokioChildProcess::new(command).unwrap();
    let client = tokio::time::timeout(std::time::Duration::from_secs(20), ().serve(transport))
        .await
        .expect("handshake in time")
        .expect("handshake");

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert!(
        names.contains(&"echo") && !names.contains(&"run_command"),
        "{names:?}"
    );

    let allowed = client
        .call_tool(
            CallToolRequestParams::new("echo").with_arguments(arguments(json!({"text": "sdk"}))),
        )
        .await
        .unwrap();
    assert_ne!(allowed.is_error, Some(true));
    assert_eq!(text(&allowed), r#"echo ran with {"text":"sdk"}"#);

    let denied = client
        .call_tool(
            CallToolRequestParams::new("delete_repo")
                .with_arguments(arguments(json!({"owner": "o", "repo": "r"}))),
        )
        .await
        .unwrap();
    assert_eq!(denied.is_error, Some(true));
    assert!(text(&denied).starts_with("[POLICY DENIED] tools.delete_repo.deny_if[0]"));

    let invalid = client
        .call_tool(
            CallToolRequestParams::new("add").with_arguments(arguments(json!({"a": "x", "b": 1}))),
        )
        .await
        .unwrap();
    assert_eq!(invalid.is_error, Some(true));
    assert!(text(&invalid).starts_with("[POLICY DENIED] inputSchema:"));

    for _ in 0..2 {
        let sum = client
            .call_tool(
                CallToolRequestParams::new("add")
                    .with_arguments(arguments(json!({"a": 1, "b": 1}))),
            )
            .await
            .unwrap();
        assert_eq!(text(&sum), "2");
    }
    let limited = client
        .call_tool(
            CallToolRequestParams::new("add").with_arguments(arguments(json!({"a": 1, "b": 1}))),
        )
        .await
        .unwrap();
    assert!(text(&limited).starts_with("[POLICY DENIED] tools.add.limits[0]"));

    let hidden = client
        .call_tool(
            CallToolRequestParams::new("run_command")
                .with_arguments(arguments(json!({"command": "id"}))),
        )
        .await;
    let error = hidden.expect_err("a hidden tool is an unknown tool");
    assert!(
        error.to_string().contains("Unknown tool: run_command"),
        "{error}"
    );

    client.cancel().await.unwrap();
}
