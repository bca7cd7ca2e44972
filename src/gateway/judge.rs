//! The message judge: everything the gateway decides, with no I/O. A transport hands it
//! the raw bytes of each message in each direction and carries out the [`Action`]s it
//! returns, in order. The same judge serves every transport.
//!
//! Client → upstream: every message is parsed strictly ([`super::strict`]); what cannot be
//! parsed or judged is answered by the gateway and never forwarded. `tools/call` is
//! decided by the policy engine ([`CompiledPolicy::decide`], the one `policy explain` uses)
//! plus the tool's own `inputSchema`; `initialize` is read for the client's elicitation
//! capability; other requests and notifications pass through.
//!
//! Upstream → client: responses to `tools/list` are filtered, and every tool's definition
//! hash and compiled `inputSchema` are remembered; `notifications/tools/list_changed`
//! forgets them, so the next call makes the gateway list the tools again itself before it
//! judges. Responses to forwarded calls give their rate-limit units back when the upstream
//! failed (a JSON-RPC error or an `isError` result).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonschema::Validator;
use serde::Serialize;
use serde_json::{Value, json};

use super::audit::{AuditRecord, AuditSink};
use super::strict::{self, StrictError};
use crate::policy::{CallContext, Clock, CompiledPolicy, Counters, Decision, Reservation, Verdict};

/// JSON-RPC error codes the gateway answers with.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const INVALID_PARAMS: i64 = -32602;
    /// The upstream did not answer in time, or went away.
    pub const UPSTREAM_UNAVAILABLE: i64 = -32001;
    pub const METHOD_NOT_FOUND: i64 = -32601;
}

/// What a transport must do with the outcome of judging one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this JSON text to the upstream server.
    ToUpstream(Vec<u8>),
    /// Send this JSON text to the client.
    ToClient(Vec<u8>),
}

/// Settings that do not change while the gateway runs.
#[derive(Debug, Clone)]
pub struct JudgeConfig {
    /// Client messages longer than this are refused unread.
    pub max_message_bytes: usize,
    /// How long a forwarded request, an approval or the gateway's own listing may wait.
    pub call_timeout: Duration,
    /// Record argument values in the audit, not only their keys.
    pub audit_values: bool,
    /// How many calls may wait for the gateway's own `tools/list` at once.
    pub max_waiting_calls: usize,
    /// The command that re-pins the policy from this upstream (`mcpwarden policy pin ...`),
    /// named in pin refusals.
    pub repin: Option<String>,
}

impl Default for JudgeConfig {
    fn default() -> JudgeConfig {
        JudgeConfig {
            max_message_bytes: 4 << 20,
            call_timeout: Duration::from_secs(60),
            audit_values: false,
            max_waiting_calls: 256,
            repin: None,
        }
    }
}

/// What every session of one gateway shares: the policy (swapped whole on reload), the
/// counters, the clock and the audit.
pub struct Shared {
    policy: RwLock<Arc<CompiledPolicy>>,
    pub counters: Arc<dyn Counters>,
    pub clock: Arc<dyn Clock>,
    pub audit: Option<Arc<dyn AuditSink>>,
    pub config: JudgeConfig,
    /// Which server this gateway fronts, for the audit (`--config` names several).
    pub server: Option<String>,
}

impl Shared {
    pub fn new(
        policy: CompiledPolicy,
        counters: Arc<dyn Counters>,
        clock: Arc<dyn Clock>,
        audit: Option<Arc<dyn AuditSink>>,
        config: JudgeConfig,
    ) -> Shared {
        Shared {
            policy: RwLock::new(Arc::new(policy)),
            counters,
            clock,
            audit,
            config,
            server: None,
        }
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<CompiledPolicy> {
        self.policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Puts a new policy in force for every later decision. Calls in flight keep the
    /// decision they had.
    pub fn replace_policy(&self, policy: CompiledPolicy) {
        *self
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(policy);
    }
}

/// One MCP session between one client and the upstream.
pub struct Session {
    shared: Arc<Shared>,
    id: String,
    grant: Option<String>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    client_elicitation: bool,
    initialized: bool,
    /// Tools the upstream listed, by exact name.
    tools: HashMap<String, KnownTool>,
    /// `tools` holds a complete listing made since the last `list_changed`.
    tools_complete: bool,
    own_listing: Option<OwnListing>,
    /// Calls that arrived before the gateway knew the tools.
    waiting: Vec<Waiting>,
    /// Client requests forwarded and not yet answered, by id key.
    pending: HashMap<String, Pending>,
    /// Elicitations the gateway sent the client, by id key.
    approvals: HashMap<String, PendingApproval>,
    /// Responses to swallow: to requests already answered by the gateway (timeouts) and
    /// to the gateway's own abandoned requests.
    ignored: HashSet<String>,
    next_own_id: u64,
}

struct KnownTool {
    hash: crate::model::DefinitionHashes,
    /// The compiled `inputSchema`, or why it could not be compiled (calls are then refused).
    validator: Result<Arc<Validator>, String>,
}

struct OwnListing {
    id_key: String,
    tools: HashMap<String, KnownTool>,
    deadline: Instant,
}

struct Waiting {
    message: serde_json::Map<String, Value>,
    id: Value,
    id_key: String,
    deadline: Instant,
}

struct Pending {
    id: Value,
    deadline: Instant,
    kind: PendingKind,
}

enum PendingKind {
    List { first_page: bool },
    Call { reservation: Option<Reservation> },
    Other,
}

struct PendingApproval {
    call: serde_json::Map<String, Value>,
    id: Value,
    id_key: String,
    tool: String,
    rule: String,
    message: String,
    reservation: Option<Reservation>,
    deadline: Instant,
}

/// The prefix of every id the gateway itself sends, so its requests are easy to tell
/// apart in logs.
const OWN_ID_PREFIX: &str = "mcpwarden-";

impl Session {
    pub fn new(shared: Arc<Shared>, id: String, grant: Option<String>) -> Session {
        Session {
            shared,
            id,
            grant,
            state: Mutex::new(State::default()),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update to the state is complete before any call that could panic, so a
        // poisoned lock still holds a consistent state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A client message that was too long to read. Its id is unknown, so the error has
    /// `id: null`.
    pub fn oversized_from_client(&self, length: usize) -> Vec<Action> {
        let message = format!(
            "message of {length} bytes or more exceeds the gateway's limit of {} bytes",
            self.shared.config.max_message_bytes
        );
        self.audit_protocol(None, "oversized", &message);
        vec![Action::ToClient(error_response(
            &Value::Null,
            code::INVALID_REQUEST,
            &message,
        ))]
    }

    /// Judges one message (or batch) from the client.
    pub fn from_client(&self, bytes: &[u8]) -> Vec<Action> {
        let started = Instant::now();
        let mut out = Vec::new();
        if bytes.len() > self.shared.config.max_message_bytes {
            return self.oversized_from_client(bytes.len());
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.audit_protocol(None, "parse_error", "not UTF-8");
            out.push(Action::ToClient(error_response(
                &Value::Null,
                code::PARSE_ERROR,
                "Parse error: the message is not UTF-8",
            )));
            return out;
        };
        let trimmed = text.trim_start_matches([' ', '\t', '\r', '\n']);
        let mut state = self.state();
        if trimmed.starts_with('[') {
            let elements = match strict::split_batch(text) {
                Ok(elements) => elements,
                Err(error) => {
                    self.refuse_unreadable(text, &error, &mut out);
                    return out;
                }
            };
            if elements.is_empty() {
                self.audit_protocol(None, "invalid_request", "empty batch");
                out.push(Action::ToClient(error_response(
                    &Value::Null,
                    code::INVALID_REQUEST,
                    "Invalid Request: an empty batch",
                )));
                return out;
            }
            // Each element is judged alone; what passes is forwarded as one batch and the
            // gateway's own answers go back as one batch.
            let mut element_out = Vec::new();
            for element in elements {
                self.judge_text(&mut state, element.get(), &mut element_out, started);
            }
            let (upstream, client): (Vec<_>, Vec<_>) = element_out
                .into_iter()
                .partition(|action| matches!(action, Action::ToUpstream(_)));
            if let Some(batch) = join_batch(upstream) {
                out.push(Action::ToUpstream(batch));
            }
            if let Some(batch) = join_batch(client) {
                out.push(Action::ToClient(batch));
            }
        } else {
            self.judge_text(&mut state, text, &mut out, started);
        }
        out
    }

    fn refuse_unreadable(&self, text: &str, error: &StrictError, out: &mut Vec<Action>) {
        match error {
            StrictError::Syntax(why) => {
                self.audit_protocol(None, "parse_error", why);
                out.push(Action::ToClient(error_response(
                    &Value::Null,
                    code::PARSE_ERROR,
                    &format!("Parse error: {why}"),
                )));
            }
            StrictError::DuplicateKey(_) => {
                let id = strict::lenient_id(text)
                    .filter(valid_id)
                    .unwrap_or(Value::Null);
                let message = format!("Invalid Request: {error}");
                self.audit_protocol(None, "duplicate_key", &message);
                out.push(Action::ToClient(error_response(
                    &id,
                    code::INVALID_REQUEST,
                    &message,
                )));
            }
        }
    }

    fn judge_text(&self, state: &mut State, text: &str, out: &mut Vec<Action>, started: Instant) {
        let value = match strict::parse(text) {
            Ok(value) => value,
            Err(error) => return self.refuse_unreadable(text, &error, out),
        };
        let Value::Object(message) = value else {
            let why = "Invalid Request: a message must be a JSON object";
            self.audit_protocol(None, "invalid_request", why);
            out.push(Action::ToClient(error_response(
                &Value::Null,
                code::INVALID_REQUEST,
                why,
            )));
            return;
        };
        self.judge_message(state, message, text, out, started);
    }

    fn judge_message(
        &self,
        state: &mut State,
        message: serde_json::Map<String, Value>,
        text: &str,
        out: &mut Vec<Action>,
        started: Instant,
    ) {
        let id = message.get("id").cloned();
        let reply_id = id.clone().filter(valid_id).unwrap_or(Value::Null);
        let invalid = |why: &str, out: &mut Vec<Action>| {
            let message = format!("Invalid Request: {why}");
            self.audit_protocol(None, "invalid_request", &message);
            out.push(Action::ToClient(error_response(
                &reply_id,
                code::INVALID_REQUEST,
                &message,
            )));
        };
        if message.get("jsonrpc") != Some(&Value::String("2.0".to_owned())) {
            return invalid("`jsonrpc` must be \"2.0\"", out);
        }
        if let Some(id) = &id
            && !valid_id(id)
        {
            return invalid("`id` must be a string or an integer", out);
        }
        let Some(method) = message.get("method") else {
            // A response (to an upstream request, or to the gateway's elicitation).
            let Some(id) = id else {
                return invalid("a message needs a `method` or an `id`", out);
            };
            let has_result = message.contains_key("result");
            let has_error = message.contains_key("error");
            if has_result == has_error {
                return invalid("a response has exactly one of `result` and `error`", out);
            }
            let key = id_key(&id);
            if let Some(approval) = state.approvals.remove(&key) {
                return self.approval_answered(state, approval, &message, out, started);
            }
            out.push(Action::ToUpstream(text.as_bytes().to_vec()));
            return;
        };
        let Value::String(method) = method else {
            return invalid("`method` must be a string", out);
        };
        let method = method.clone();
        let Some(id) = id else {
            // A notification. Only `notifications/...` may go up: a `tools/call` (or any
            // request) without an id is something some servers would run without
            // answering, so it is dropped.
            if !method.starts_with("notifications/") {
                self.audit_protocol(
                    None,
                    "dropped_notification",
                    &format!("`{method}` sent without an id (as a notification) was dropped"),
                );
                return;
            }
            if message.contains_key("result") || message.contains_key("error") {
                self.audit_protocol(None, "dropped_notification", "notification with a result");
                return;
            }
            if method == "notifications/initialized" {
                state.initialized = true;
                out.push(Action::ToUpstream(text.as_bytes().to_vec()));
                self.start_listing_if_needed(state, out);
                return;
            }
            if method == "notifications/cancelled" {
                // The upstream will not answer a cancelled request; keep its units (the
                // call may have run) and swallow a late answer.
                if let Some(request) = message
                    .get("params")
                    .and_then(|params| params.get("requestId"))
                {
                    let key = id_key(request);
                    if state.pending.remove(&key).is_some() {
                        state.ignored.insert(key);
                    } else {
                        // Held until the tools are known: it never went up, so it is
                        // dropped and its id is free again.
                        state.waiting.retain(|waiting| waiting.id_key != key);
                    }
                }
            }
            out.push(Action::ToUpstream(text.as_bytes().to_vec()));
            return;
        };
        if message.contains_key("result") || message.contains_key("error") {
            return invalid("a request cannot carry `result` or `error`", out);
        }
        let key = id_key(&id);
        if state.pending.contains_key(&key)
            || state.waiting.iter().any(|waiting| waiting.id_key == key)
            || state
                .approvals
                .values()
                .any(|approval| approval.id_key == key)
        {
            return invalid("`id` is already used by a request in flight", out);
        }
        if state.ignored.contains(&key) {
            // The id of a cancelled request whose late answer is still swallowed: were the
            // id reused, that late answer would be taken for the new request's, and the
            // new request's answer would be swallowed in its place (the client would wait
            // for ever). Refused at once, as `gateway --config` does.
            return invalid(
                "`id` belongs to a cancelled request whose answer may still come; use another id",
                out,
            );
        }
        let deadline = Instant::now() + self.shared.config.call_timeout;
        match method.as_str() {
            "tools/call" => self.judge_call(state, message, id, key, out, started),
            "tools/list" => {
                let first_page = message
                    .get("params")
                    .and_then(|params| params.get("cursor"))
                    .is_none();
                state.pending.insert(
                    key,
                    Pending {
                        id,
                        deadline,
                        kind: PendingKind::List { first_page },
                    },
                );
                out.push(Action::ToUpstream(text.as_bytes().to_vec()));
            }
            "initialize" => {
                state.client_elicitation = message
                    .get("params")
                    .and_then(|params| params.get("capabilities"))
                    .and_then(|capabilities| capabilities.get("elicitation"))
                    .is_some_and(Value::is_object);
                state.pending.insert(
                    key,
                    Pending {
                        id,
                        deadline,
                        kind: PendingKind::Other,
                    },
                );
                out.push(Action::ToUpstream(text.as_bytes().to_vec()));
            }
            _ => {
                state.pending.insert(
                    key,
                    Pending {
                        id,
                        deadline,
                        kind: PendingKind::Other,
                    },
                );
                out.push(Action::ToUpstream(text.as_bytes().to_vec()));
            }
        }
    }

    /// `tools/call`, in the order: hidden or unknown (-32602); the engine's verdict
    /// (denied, pin, `require`, `deny_if`); the tool's `inputSchema`; limits; approval.
    fn judge_call(
        &self,
        state: &mut State,
        message: serde_json::Map<String, Value>,
        id: Value,
        key: String,
        out: &mut Vec<Action>,
        started: Instant,
    ) {
        let params = match message.get("params") {
            Some(Value::Object(params)) => params,
            Some(_) => return self.invalid_params(&id, None, "`params` must be an object", out),
            None => return self.invalid_params(&id, None, "`params` is missing", out),
        };
        let name = match params.get("name") {
            Some(Value::String(name)) => name.clone(),
            Some(_) => {
                return self.invalid_params(&id, None, "`params.name` must be a string", out);
            }
            None => return self.invalid_params(&id, None, "`params.name` is missing", out),
        };
        let arguments = match params.get("arguments") {
            None => Value::Null,
            Some(Value::Object(arguments)) => Value::Object(arguments.clone()),
            Some(_) => {
                return self.invalid_params(
                    &id,
                    Some(&name),
                    "`params.arguments` must be an object",
                    out,
                );
            }
        };
        let policy = self.shared.policy();
        let now = self.shared.clock.now();
        if policy.is_hidden(&name) {
            let decision = policy.decide(
                &name,
                &arguments,
                &CallContext {
                    grant: self.grant.as_deref(),
                    session: Some(&self.id),
                    now,
                    definition_hash: None,
                    definition_parts: None,
                },
                &*self.shared.counters,
            );
            self.release(decision.reservation);
            self.audit(
                &name,
                &arguments,
                "hidden",
                &decision.rule,
                &decision.message,
                started,
            );
            out.push(Action::ToClient(unknown_tool(&id, &name)));
            return;
        }
        let Some(known) = state.tools.get(&name) else {
            if !state.tools_complete {
                if state.waiting.len() >= self.shared.config.max_waiting_calls {
                    let why = "too many calls are waiting for the upstream's tool list";
                    self.audit(&name, &arguments, "refused", "gateway", why, started);
                    out.push(Action::ToClient(error_response(
                        &id,
                        code::UPSTREAM_UNAVAILABLE,
                        why,
                    )));
                    return;
                }
                state.waiting.push(Waiting {
                    message,
                    id,
                    id_key: key,
                    deadline: Instant::now() + self.shared.config.call_timeout,
                });
                self.start_listing_if_needed(state, out);
                return;
            }
            self.audit(
                &name,
                &arguments,
                "unknown",
                "upstream",
                "the upstream does not list this tool",
                started,
            );
            out.push(Action::ToClient(unknown_tool(&id, &name)));
            return;
        };
        let decision = policy.decide(
            &name,
            &arguments,
            &CallContext {
                grant: self.grant.as_deref(),
                session: Some(&self.id),
                now,
                definition_hash: Some(&known.hash.pin),
                definition_parts: Some(&known.hash.parts),
            },
            &*self.shared.counters,
        );
        // The tool's own schema is checked after the policy's conditions and before its
        // limits: a refusal by a limit gives way to an invalid-arguments refusal, and an
        // allowed call with invalid arguments gives its units back.
        let limit_prefix = format!("{}.limits[", crate::policy::engine::tool_rule_path(&name));
        let needs_schema = match decision.verdict {
            Verdict::Allow | Verdict::NeedsApproval => true,
            Verdict::Deny => {
                decision.rule.starts_with("all_tools.limits[")
                    || decision.rule.starts_with(&limit_prefix)
            }
            Verdict::Hidden => false,
        };
        if needs_schema && let Some(problem) = schema_problem(known, &arguments) {
            self.release(decision.reservation);
            let refusal = format!("[POLICY DENIED] inputSchema: {problem}");
            self.audit(
                &name,
                &arguments,
                "invalid",
                "inputSchema",
                &problem,
                started,
            );
            out.push(Action::ToClient(refusal_result(&id, &refusal)));
            return;
        }
        let Decision {
            verdict,
            rule,
            message: why,
            reservation,
        } = decision;
        match verdict {
            Verdict::Hidden => {
                self.release(reservation);
                self.audit(&name, &arguments, "hidden", &rule, &why, started);
                out.push(Action::ToClient(unknown_tool(&id, &name)));
            }
            Verdict::Deny => {
                self.release(reservation);
                self.audit(&name, &arguments, "deny", &rule, &why, started);
                let mut text = format!("[POLICY DENIED] {rule}: {why}");
                if rule.ends_with(".pin")
                    && let Some(repin) = &self.shared.config.repin
                {
                    text.push_str(&format!(
                        ". To accept the definition the server lists now, review it and re-pin: {repin}"
                    ));
                }
                out.push(Action::ToClient(refusal_result(&id, &text)));
            }
            Verdict::NeedsApproval if state.client_elicitation => {
                self.audit(&name, &arguments, "needs_approval", &rule, &why, started);
                state.next_own_id += 1;
                let own_id =
                    Value::String(format!("{OWN_ID_PREFIX}approval-{}", state.next_own_id));
                let request = json!({
                    "jsonrpc": "2.0",
                    "id": own_id,
                    "method": "elicitation/create",
                    "params": {
                        "message": format!(
                            "{why}\n\nTool: {name}\nArguments: {}",
                            serde_json::to_string(&arguments).unwrap_or_default()
                        ),
                        "requestedSchema": {
                            "type": "object",
                            "properties": {
                                "approve": {"type": "boolean", "title": "Approve this call?"}
                            },
                            "required": ["approve"]
                        }
                    }
                });
                state.approvals.insert(
                    id_key(&own_id),
                    PendingApproval {
                        call: message,
                        id,
                        id_key: key,
                        tool: name,
                        rule,
                        message: why,
                        reservation,
                        deadline: Instant::now() + self.shared.config.call_timeout,
                    },
                );
                out.push(Action::ToClient(to_bytes(&request)));
            }
            Verdict::NeedsApproval => {
                self.release(reservation);
                self.audit(&name, &arguments, "needs_approval", &rule, &why, started);
                let text = format!(
                    "[POLICY DENIED] {rule}: {why} (this client cannot ask a person to approve)"
                );
                out.push(Action::ToClient(refusal_result(&id, &text)));
            }
            Verdict::Allow => {
                self.audit(&name, &arguments, "allow", &rule, &why, started);
                self.forward_call(state, message, id, key, reservation, out);
            }
        }
    }

    /// Forwards a judged call as the gateway read it (re-serialised), so the upstream sees
    /// exactly what was judged.
    fn forward_call(
        &self,
        state: &mut State,
        message: serde_json::Map<String, Value>,
        id: Value,
        key: String,
        reservation: Option<Reservation>,
        out: &mut Vec<Action>,
    ) {
        state.pending.insert(
            key,
            Pending {
                id,
                deadline: Instant::now() + self.shared.config.call_timeout,
                kind: PendingKind::Call { reservation },
            },
        );
        out.push(Action::ToUpstream(to_bytes(&Value::Object(message))));
    }

    fn approval_answered(
        &self,
        state: &mut State,
        approval: PendingApproval,
        response: &serde_json::Map<String, Value>,
        out: &mut Vec<Action>,
        started: Instant,
    ) {
        let result = response.get("result");
        let action = result
            .and_then(|result| result.get("action"))
            .and_then(Value::as_str);
        let approved = action == Some("accept")
            && result
                .and_then(|result| result.get("content"))
                .and_then(|content| content.get("approve"))
                == Some(&Value::Bool(true));
        let arguments = approval
            .call
            .get("params")
            .and_then(|params| params.get("arguments"))
            .cloned()
            .unwrap_or(Value::Null);
        if approved {
            self.audit(
                &approval.tool,
                &arguments,
                "approved",
                &approval.rule,
                "a person approved the call",
                started,
            );
            self.forward_call(
                state,
                approval.call,
                approval.id,
                approval.id_key,
                approval.reservation,
                out,
            );
        } else {
            self.release(approval.reservation);
            let answer = match action {
                Some("accept") => "the form was sent without “Approve this call?” ticked",
                Some("decline") => "the person declined",
                Some("cancel") => "the person dismissed the request",
                _ => "the client gave no answer",
            };
            self.audit(
                &approval.tool,
                &arguments,
                "declined",
                &approval.rule,
                &format!("not approved: {answer}"),
                started,
            );
            let text = format!(
                "[POLICY DENIED] {}: {} (not approved: {answer})",
                approval.rule, approval.message
            );
            out.push(Action::ToClient(refusal_result(&approval.id, &text)));
        }
    }

    fn start_listing_if_needed(&self, state: &mut State, out: &mut Vec<Action>) {
        if state.waiting.is_empty() || state.own_listing.is_some() || !state.initialized {
            return;
        }
        self.request_tool_page(state, None, HashMap::new(), out);
    }

    fn request_tool_page(
        &self,
        state: &mut State,
        cursor: Option<Value>,
        tools: HashMap<String, KnownTool>,
        out: &mut Vec<Action>,
    ) {
        state.next_own_id += 1;
        let own_id = Value::String(format!("{OWN_ID_PREFIX}list-{}", state.next_own_id));
        let mut request = json!({"jsonrpc": "2.0", "id": own_id, "method": "tools/list"});
        if let Some(cursor) = cursor {
            request["params"] = json!({ "cursor": cursor });
        }
        state.own_listing = Some(OwnListing {
            id_key: id_key(&own_id),
            tools,
            deadline: Instant::now() + self.shared.config.call_timeout,
        });
        out.push(Action::ToUpstream(to_bytes(&request)));
    }

    /// Judges one message (or batch) from the upstream.
    pub fn from_upstream(&self, bytes: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        let text = String::from_utf8_lossy(bytes);
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            // It might have been the answer to a `tools/list`; forwarding it unread could
            // show hidden tools, so it is dropped (and said so).
            eprintln!(
                "mcpwarden: dropped a message from the upstream that is not JSON ({} bytes)",
                bytes.len()
            );
            return out;
        };
        let mut state = self.state();
        match value {
            Value::Array(items) => {
                let mut changed = false;
                let mut kept = Vec::with_capacity(items.len());
                for item in items {
                    match self.judge_upstream(&mut state, item, &mut out) {
                        Upstream::Unchanged(item) => kept.push(item),
                        Upstream::Rewritten(item) => {
                            changed = true;
                            kept.push(item);
                        }
                        Upstream::Consumed => changed = true,
                    }
                }
                if !changed {
                    out.insert(0, Action::ToClient(bytes.to_vec()));
                } else if !kept.is_empty() {
                    out.insert(0, Action::ToClient(to_bytes(&Value::Array(kept))));
                }
            }
            item => match self.judge_upstream(&mut state, item, &mut out) {
                Upstream::Unchanged(_) => out.insert(0, Action::ToClient(bytes.to_vec())),
                Upstream::Rewritten(item) => out.insert(0, Action::ToClient(to_bytes(&item))),
                Upstream::Consumed => {}
            },
        }
        out
    }

    fn judge_upstream(
        &self,
        state: &mut State,
        mut item: Value,
        out: &mut Vec<Action>,
    ) -> Upstream {
        let is_response = item.get("method").is_none();
        if !is_response {
            if item.get("method").and_then(Value::as_str)
                == Some("notifications/tools/list_changed")
            {
                state.tools.clear();
                state.tools_complete = false;
                if let Some(listing) = state.own_listing.take() {
                    state.ignored.insert(listing.id_key);
                    self.start_listing_if_needed(state, out);
                }
            }
            return Upstream::Unchanged(item);
        }
        let Some(id) = item.get("id") else {
            return Upstream::Unchanged(item);
        };
        let key = id_key(id);
        if state.ignored.remove(&key) {
            return Upstream::Consumed;
        }
        if state
            .own_listing
            .as_ref()
            .is_some_and(|listing| listing.id_key == key)
        {
            self.own_page_answered(state, &item, out);
            return Upstream::Consumed;
        }
        let Some(pending) = state.pending.remove(&key) else {
            return Upstream::Unchanged(item);
        };
        match pending.kind {
            PendingKind::Other => Upstream::Unchanged(item),
            PendingKind::Call { reservation } => {
                let failed = item.get("error").is_some()
                    || item.get("result").and_then(|result| result.get("isError"))
                        == Some(&Value::Bool(true));
                if failed {
                    self.release(reservation);
                }
                Upstream::Unchanged(item)
            }
            PendingKind::List { first_page } => {
                let Some(result) = item.get_mut("result") else {
                    return Upstream::Unchanged(item);
                };
                let policy = self.shared.policy();
                let (listed, complete) = read_tools(result);
                if first_page {
                    state.tools.clear();
                }
                state.tools.extend(listed);
                if first_page && complete {
                    state.tools_complete = true;
                }
                match result.get_mut("tools") {
                    Some(Value::Array(tools)) => tools.retain(|tool| {
                        tool.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|name| !policy.is_hidden(name))
                    }),
                    // A result without a tool array shows nothing: fail closed.
                    _ => result["tools"] = Value::Array(Vec::new()),
                }
                Upstream::Rewritten(item)
            }
        }
    }

    fn own_page_answered(&self, state: &mut State, item: &Value, out: &mut Vec<Action>) {
        let Some(listing) = state.own_listing.take() else {
            return;
        };
        let Some(result) = item.get("result") else {
            let why = "the upstream refused to list its tools";
            self.fail_waiting(state, why, out);
            return;
        };
        let mut tools = listing.tools;
        let (listed, _) = read_tools(result);
        tools.extend(listed);
        match result.get("nextCursor") {
            Some(cursor) if !cursor.is_null() => {
                self.request_tool_page(state, Some(cursor.clone()), tools, out);
            }
            _ => {
                state.tools = tools;
                state.tools_complete = true;
                let waiting = std::mem::take(&mut state.waiting);
                for call in waiting {
                    let started = Instant::now();
                    self.judge_call(state, call.message, call.id, call.id_key, out, started);
                }
            }
        }
    }

    fn fail_waiting(&self, state: &mut State, why: &str, out: &mut Vec<Action>) {
        for call in std::mem::take(&mut state.waiting) {
            self.audit_protocol(Some(&call.id), "refused", why);
            out.push(Action::ToClient(error_response(
                &call.id,
                code::UPSTREAM_UNAVAILABLE,
                why,
            )));
        }
    }

    /// Answers every request whose time is up. Call it regularly (the transports do, a
    /// few times per second).
    pub fn expire(&self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let mut state = self.state();
        let timeout = self.shared.config.call_timeout;
        let why = format!(
            "the upstream did not answer within {} s",
            timeout.as_secs_f64()
        );
        let expired: Vec<String> = state
            .pending
            .iter()
            .filter(|(_, pending)| pending.deadline <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            if let Some(pending) = state.pending.remove(&key) {
                // A timed-out call may still have run upstream: its units stay taken.
                if let PendingKind::Call { reservation } = pending.kind {
                    drop(reservation);
                }
                self.audit_protocol(Some(&pending.id), "timeout", &why);
                out.push(Action::ToClient(error_response(
                    &pending.id,
                    code::UPSTREAM_UNAVAILABLE,
                    &why,
                )));
                state.ignored.insert(key);
            }
        }
        if state
            .own_listing
            .as_ref()
            .is_some_and(|listing| listing.deadline <= now)
            && let Some(listing) = state.own_listing.take()
        {
            state.ignored.insert(listing.id_key);
            self.fail_waiting(&mut state, &why, &mut out);
        }
        let late: Vec<String> = state
            .approvals
            .iter()
            .filter(|(_, approval)| approval.deadline <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in late {
            if let Some(approval) = state.approvals.remove(&key) {
                self.release(approval.reservation);
                let text = format!(
                    "[POLICY DENIED] {}: {} (no approval within {} s)",
                    approval.rule,
                    approval.message,
                    timeout.as_secs_f64()
                );
                self.audit_protocol(Some(&approval.id), "timeout", &text);
                out.push(Action::ToClient(refusal_result(&approval.id, &text)));
            }
        }
        // Waiting calls whose listing never started (the client never sent `initialized`).
        let now_waiting = std::mem::take(&mut state.waiting);
        for call in now_waiting {
            if call.deadline <= now {
                out.push(Action::ToClient(error_response(
                    &call.id,
                    code::UPSTREAM_UNAVAILABLE,
                    &why,
                )));
            } else {
                state.waiting.push(call);
            }
        }
        out
    }

    /// The upstream went away: every request in flight gets an error.
    pub fn upstream_closed(&self, why: &str) -> Vec<Action> {
        let mut out = Vec::new();
        let mut state = self.state();
        let message = format!("the upstream server went away: {why}");
        let mut pending: Vec<Pending> = state.pending.drain().map(|(_, pending)| pending).collect();
        pending.sort_by_key(|pending| pending.deadline);
        for pending in pending {
            self.audit_protocol(Some(&pending.id), "upstream_closed", &message);
            out.push(Action::ToClient(error_response(
                &pending.id,
                code::UPSTREAM_UNAVAILABLE,
                &message,
            )));
        }
        state.own_listing = None;
        self.fail_waiting(&mut state, &message, &mut out);
        out
    }

    /// Answers a request that the transport refused before any upstream saw it (behind
    /// `--config`: an unknown server prefix, a server that went away, a method the
    /// aggregate does not offer), and records the refusal. `tool` is the name and
    /// arguments of a `tools/call`.
    pub fn refuse(
        &self,
        id: &Value,
        tool: Option<(&str, &Value)>,
        verdict: &str,
        code: i64,
        message: &str,
    ) -> Vec<Action> {
        match tool {
            Some((name, arguments)) => {
                self.audit(name, arguments, verdict, "gateway", message, Instant::now());
            }
            None => self.audit_protocol(Some(id), verdict, message),
        }
        vec![Action::ToClient(error_response(id, code, message))]
    }

    /// How many client requests are waiting for the upstream (for tests and shutdown).
    pub fn in_flight(&self) -> usize {
        let state = self.state();
        state.pending.len() + state.waiting.len() + state.approvals.len()
    }

    fn invalid_params(&self, id: &Value, tool: Option<&str>, why: &str, out: &mut Vec<Action>) {
        let message = format!("Invalid params: {why}");
        self.record(AuditRecord {
            tool: tool.map(str::to_owned),
            verdict: "invalid_params".to_owned(),
            rule: "protocol".to_owned(),
            message: message.clone(),
            ..self.base_record()
        });
        out.push(Action::ToClient(error_response(
            id,
            code::INVALID_PARAMS,
            &message,
        )));
    }

    fn release(&self, reservation: Option<Reservation>) {
        if let Some(reservation) = reservation {
            self.shared.counters.release(reservation);
        }
    }

    fn base_record(&self) -> AuditRecord {
        AuditRecord {
            time: self
                .shared
                .clock
                .now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            session: self.id.clone(),
            grant: self.grant.clone(),
            server: self.shared.server.clone(),
            tool: None,
            verdict: String::new(),
            rule: String::new(),
            message: String::new(),
            argument_keys: Vec::new(),
            arguments: None,
            latency_us: 0,
        }
    }

    fn record(&self, record: AuditRecord) {
        if let Some(audit) = &self.shared.audit {
            audit.record(&record);
        }
    }

    fn audit(
        &self,
        tool: &str,
        arguments: &Value,
        verdict: &str,
        rule: &str,
        message: &str,
        started: Instant,
    ) {
        if self.shared.audit.is_none() {
            return;
        }
        let argument_keys = arguments
            .as_object()
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default();
        self.record(AuditRecord {
            tool: Some(tool.to_owned()),
            verdict: verdict.to_owned(),
            rule: rule.to_owned(),
            message: message.to_owned(),
            argument_keys,
            arguments: self.shared.config.audit_values.then(|| arguments.clone()),
            latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            ..self.base_record()
        });
    }

    fn audit_protocol(&self, _id: Option<&Value>, verdict: &str, message: &str) {
        if self.shared.audit.is_none() {
            return;
        }
        self.record(AuditRecord {
            verdict: verdict.to_owned(),
            rule: "protocol".to_owned(),
            message: message.to_owned(),
            ..self.base_record()
        });
    }
}

enum Upstream {
    Unchanged(Value),
    Rewritten(Value),
    Consumed,
}

/// Reads a `tools/list` result: each tool's definition hash and compiled schema, and
/// whether this was the last page.
fn read_tools(result: &Value) -> (HashMap<String, KnownTool>, bool) {
    let complete = result.get("nextCursor").is_none_or(Value::is_null);
    let mut tools = HashMap::new();
    let Some(Value::Array(listed)) = result.get("tools") else {
        return (tools, complete);
    };
    for tool in listed {
        let Some((name, hash)) = crate::model::listed_definition_hashes(tool) else {
            continue;
        };
        let schema = tool.get("inputSchema").cloned().unwrap_or(Value::Null);
        let validator = if schema.is_object() {
            jsonschema::validator_for(&schema)
                .map(Arc::new)
                .map_err(|error| format!("the tool's inputSchema cannot be compiled: {error}"))
        } else {
            Err("the tool lists no inputSchema object".to_owned())
        };
        tools.insert(name.to_owned(), KnownTool { hash, validator });
    }
    (tools, complete)
}

fn schema_problem(known: &KnownTool, arguments: &Value) -> Option<String> {
    let validator = match &known.validator {
        Ok(validator) => validator,
        Err(why) => return Some(why.clone()),
    };
    let empty = Value::Object(serde_json::Map::new());
    let instance = if arguments.is_null() {
        &empty
    } else {
        arguments
    };
    validator.validate(instance).err().map(|error| {
        let at = error.instance_path().to_string();
        if at.is_empty() {
            format!("the arguments do not match the tool's inputSchema: {error}")
        } else {
            format!("the arguments do not match the tool's inputSchema at {at}: {error}")
        }
    })
}

/// JSON-RPC ids the gateway accepts: strings and integers. MCP forbids `null`; booleans,
/// objects, arrays and fractions are not ids.
fn valid_id(id: &Value) -> bool {
    match id {
        Value::String(_) => true,
        Value::Number(number) => number.is_i64() || number.is_u64(),
        _ => false,
    }
}

/// A map key for an id: its JSON text, so `1` and `"1"` stay apart.
fn id_key(id: &Value) -> String {
    id.to_string()
}

fn to_bytes(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn join_batch(actions: Vec<Action>) -> Option<Vec<u8>> {
    if actions.is_empty() {
        return None;
    }
    let mut batch = vec![b'['];
    for (index, action) in actions.into_iter().enumerate() {
        if index > 0 {
            batch.push(b',');
        }
        match action {
            Action::ToUpstream(bytes) | Action::ToClient(bytes) => batch.extend(bytes),
        }
    }
    batch.push(b']');
    Some(batch)
}

pub fn error_response(id: &Value, code: i64, message: &str) -> Vec<u8> {
    to_bytes(&json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message}
    }))
}

fn unknown_tool(id: &Value, name: &str) -> Vec<u8> {
    error_response(id, code::INVALID_PARAMS, &format!("Unknown tool: {name}"))
}

fn refusal_result(id: &Value, text: &str) -> Vec<u8> {
    to_bytes(&json!({
        "jsonrpc": "2.0",
        "id": id,
        "result": {"content": [{"type": "text", "text": text}], "isError": true}
    }))
}
