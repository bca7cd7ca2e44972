//! Stateless POSTs of the 2026-07-28 revision (`MCP-Protocol-Version: 2026-07-28` and no
//! `Mcp-Session-Id`): no `initialize` came first and no session follows, so each request
//! gets an upstream of its own for as long as it takes. The gateway opens a session as
//! usual (a child, or a session on `--upstream`), starts it with its own `initialize`
//! (revision 2025-11-25, no client capabilities: approvals cannot be asked for and are
//! refused) and `notifications/initialized`, passes the client's request through the same
//! judge, answers, and ends the session.
//!
//! Checked first: `Mcp-Method` is required and `Mcp-Name` is required for `tools/call`
//! (both must match the body; [`super::check_method_headers`] has already compared them
//! when sent); batches are refused; a notification has nothing to reach (202).
//! Limits scoped to a session count per request; grant and global limits hold as usual.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{App, HttpGateway, OpenError, Waiters, id_key, reply, status};

/// The revision the gateway speaks to the upstream for a stateless request.
const UPSTREAM_VERSION: &str = "2025-11-25";

pub(super) async fn post(
    app: &Arc<App>,
    headers: &HeaderMap,
    body: &[u8],
    grant: Option<String>,
    is_batch: bool,
    elements: &[&Value],
    json_ok: bool,
) -> Response {
    if is_batch {
        return status(
            StatusCode::BAD_REQUEST,
            "Bad Request: 2026-07-28 has no JSON-RPC batches; send one message per POST",
        );
    }
    let Some(method_header) = headers.get("mcp-method") else {
        return status(
            StatusCode::BAD_REQUEST,
            "Bad Request: the Mcp-Method header is required with MCP-Protocol-Version 2026-07-28",
        );
    };
    if method_header.to_str().ok() == Some("tools/call") && !headers.contains_key("mcp-name") {
        return status(
            StatusCode::BAD_REQUEST,
            "Bad Request: the Mcp-Name header is required for tools/call with MCP-Protocol-Version 2026-07-28",
        );
    }
    if elements.is_empty() {
        let error = json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": crate::gateway::judge::code::PARSE_ERROR,
                      "message": "Parse error: the body is not JSON"}});
        let error = serde_json::to_vec(&error).unwrap_or_default();
        return reply(StatusCode::BAD_REQUEST, vec![error], false, json_ok, None);
    }
    let Some(id) = elements
        .first()
        .filter(|message| message.get("method").is_some_and(Value::is_string))
        .and_then(|message| message.get("id"))
        .cloned()
    else {
        // A notification or a response: with no session there is nothing for it to reach.
        return StatusCode::ACCEPTED.into_response();
    };
    let session = match app.open_session(grant) {
        Ok(session) => session,
        Err(OpenError::Full(max)) => {
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "Service Unavailable: {max} sessions are open, the most allowed (--max-sessions)"
                ),
            );
        }
        Err(OpenError::Spawn(why)) => {
            eprintln!("mcpwarden: {why}");
            return status(
                StatusCode::BAD_GATEWAY,
                &format!("the upstream could not start: {why}"),
            );
        }
    };
    let key = id_key(&id);
    let mut guard = Waiters::register(&session.router, std::slice::from_ref(&key));
    // The gateway's own handshake: its answer is routed to no one and dropped.
    let initialize = json!({"jsonrpc": "2.0", "id": "mcpwarden-stateless-initialize",
    "method": "initialize", "params": {
        "protocolVersion": UPSTREAM_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcpwarden", "version": env!("CARGO_PKG_VERSION")}
    }});
    for message in [
        initialize,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ] {
        let actions = session.judge.from_client(message.to_string().as_bytes());
        session.perform(actions, None, None).await;
    }
    let mut collected: Vec<Vec<u8>> = Vec::new();
    let actions = session.judge.from_client(body);
    session.perform(actions, Some(&mut collected), None).await;
    let deadline = tokio::time::Instant::now()
        + session.judge.shared().config.call_timeout
        + Duration::from_secs(5);
    // What the judge answered at once without the request's id (an invalid id, say) is
    // the whole answer; otherwise the answer comes through the waiter.
    if collected.is_empty() {
        match guard.next(deadline).await {
            Some((_, answer)) => collected.push(answer),
            None => collected.push(crate::gateway::judge::error_response(
                &id,
                crate::gateway::judge::code::UPSTREAM_UNAVAILABLE,
                "the upstream did not answer",
            )),
        }
    }
    drop(guard);
    app.lock_sessions().remove(&session.id);
    session.end().await;
    reply(StatusCode::OK, collected, false, json_ok, None)
}
