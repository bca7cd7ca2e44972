//! Several servers behind one client-facing MCP endpoint (`gateway --config FILE`), with
//! no I/O: like [`Session`], a [`Multi`] takes the raw bytes of each message and returns
//! what to send where; the transports ([`super::multi_stdio`], [`super::multi_http`])
//! carry it out.
//!
//! Each server keeps its own judge [`Session`] (its own policy, counters and audit name),
//! so every decision is still made by the one judge; this layer only routes:
//!
//! - `initialize` goes to every server; the answer merges them (the tools capability with
//!   `listChanged`, our own `serverInfo`). Only tools are aggregated: `resources/*`,
//!   `prompts/*`, `completion/*` and `logging/*` get -32601 and are not declared.
//! - `tools/list` goes to every live server; each answer has already been filtered by
//!   that server's judge. Every page of every server is collected (following each
//!   server's `nextCursor`) and the client gets one list, with no `nextCursor`. Tool names
//!   become `<server>__<tool>` ([`super::config::split_tool`] undoes it).
//! - `tools/call` is split at the first `__`, given the server's own name for the tool
//!   and handed to that server's judge; the answer goes back with the client's id. An
//!   unknown prefix is -32602 like an unknown tool; a server that went away, -32001.
//! - Requests a server (or its judge, for approvals) sends the client get ids of our own,
//!   so two servers' ids never meet; the client's answer goes back with the original id.
//! - JSON-RPC batches are refused (MCP 2025-06-18 removed them), `ping` is answered here,
//!   and a response from a server to a request it was not sent is dropped.
//! - A server that exits loses its tools (the client gets `list_changed`); the others go
//!   on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

use super::config::{namespaced, split_tool};
use super::judge::{Action, Session, Shared, code, error_response};
use super::strict;

/// What a transport must do with the outcome of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// Send this JSON text to the server with this index (its place in the config).
    ToUpstream(usize, Vec<u8>),
    /// Send this JSON text to the client.
    ToClient(Vec<u8>),
}

/// The prefix of ids this layer sends.
const OWN_ID_PREFIX: &str = "mcpwarden-multi-";

/// One client's view of several servers.
pub struct Multi {
    /// Answers what cannot be routed to a server (it has a deny-all policy and no
    /// upstream; the audit shows it with no server name).
    front: Session,
    servers: Vec<Server>,
    state: Mutex<State>,
}

struct Server {
    name: String,
    judge: Session,
}

#[derive(Default)]
struct State {
    /// Servers that have not exited (and accepted `initialize`).
    alive: Vec<bool>,
    /// Client requests handed to one server, by id key.
    routes: HashMap<String, usize>,
    /// Client requests sent to every server (`initialize`, `tools/list`), by id key.
    fanouts: HashMap<String, Fanout>,
    /// Our own requests to a server, by (server, id key): the fan-out they belong to.
    own: HashMap<(usize, String), String>,
    /// Requests from a server to the client, by the id we gave them: the server and its
    /// own id.
    server_requests: HashMap<String, (usize, Value)>,
    next_id: u64,
    initialized: bool,
}

struct Fanout {
    client_id: Value,
    kind: FanoutKind,
    waiting: HashSet<usize>,
    /// Per server: its `initialize` result, or its namespaced tools so far.
    results: BTreeMap<usize, Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FanoutKind {
    Initialize,
    ListTools,
}

impl Multi {
    /// `servers` are each server's name and shared judge state (policy, counters, audit),
    /// in config order; `front` is the shared state for refusals that name no server.
    pub fn new(
        front: Arc<Shared>,
        servers: Vec<(String, Arc<Shared>)>,
        session_id: &str,
        grant: Option<String>,
    ) -> Multi {
        let count = servers.len();
        Multi {
            front: Session::new(front, session_id.to_owned(), grant.clone()),
            servers: servers
                .into_iter()
                .map(|(name, shared)| Server {
                    name,
                    judge: Session::new(shared, session_id.to_owned(), grant.clone()),
                })
                .collect(),
            state: Mutex::new(State {
                alive: vec![true; count],
                ..State::default()
            }),
        }
    }

    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    pub fn server_name(&self, index: usize) -> &str {
        self.servers
            .get(index)
            .map_or("", |server| server.name.as_str())
    }

    /// The judge of one server (its shared state is where its policy reloads).
    pub fn judge(&self, index: usize) -> Option<&Session> {
        self.servers.get(index).map(|server| &server.judge)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is complete before anything that could panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A client message too long to read.
    pub fn oversized_from_client(&self, length: usize) -> Vec<Routed> {
        answers_only(self.front.oversized_from_client(length))
    }

    /// Routes one message from the client.
    pub fn from_client(&self, bytes: &[u8]) -> Vec<Routed> {
        let front = |bytes: &[u8]| answers_only(self.front.from_client(bytes));
        if bytes.len() > self.front.shared().config.max_message_bytes {
            return self.oversized_from_client(bytes.len());
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return front(bytes);
        };
        // The front judge answers whatever cannot be parsed or is not a valid message,
        // exactly as a single-server gateway would, and never forwards it.
        let Ok(value) = strict::parse(text) else {
            return front(bytes);
        };
        let message = match value {
            Value::Object(message) => message,
            Value::Array(_) => {
                return answers_only(self.front.refuse(
                    &Value::Null,
                    None,
                    "invalid_request",
                    code::INVALID_REQUEST,
                    "Invalid Request: JSON-RPC batches are not accepted behind --config \
                     (MCP 2025-06-18 removed them); send each message on its own",
                ));
            }
            _ => return front(bytes),
        };
        let id = message.get("id").cloned();
        let well_formed = message.get("jsonrpc") == Some(&Value::String("2.0".to_owned()))
            && id.as_ref().is_none_or(valid_id)
            && message.get("method").is_none_or(Value::is_string)
            && (message.contains_key("method")
                || (id.is_some()
                    && message.contains_key("result") != message.contains_key("error")))
            && !(message.contains_key("method")
                && (message.contains_key("result") || message.contains_key("error")));
        if !well_formed {
            return front(bytes);
        }
        let mut out = Vec::new();
        let mut state = self.state();
        match (message.get("method").and_then(Value::as_str), id) {
            (None, Some(id)) => self.client_response(&mut state, message, &id, &mut out),
            (Some(method), None) => {
                self.client_notification(&mut state, method, &message, text, &mut out)
            }
            (Some(method), Some(id)) => {
                let method = method.to_owned();
                self.client_request(&mut state, &method, message, id, &mut out);
            }
            (None, None) => out.extend(front(bytes)),
        }
        out
    }

    fn client_response(
        &self,
        state: &mut State,
        mut message: serde_json::Map<String, Value>,
        id: &Value,
        out: &mut Vec<Routed>,
    ) {
        let Some((index, original)) = state.server_requests.remove(&id_key(id)) else {
            eprintln!(
                "mcpwarden: dropped a response from the client to a request never sent ({id})"
            );
            return;
        };
        message.insert("id".to_owned(), original);
        let actions = self.servers[index]
            .judge
            .from_client(&to_bytes(&Value::Object(message)));
        self.carry_out(state, index, actions, out);
    }

    fn client_notification(
        &self,
        state: &mut State,
        method: &str,
        message: &serde_json::Map<String, Value>,
        text: &str,
        out: &mut Vec<Routed>,
    ) {
        if !method.starts_with("notifications/") {
            // The front judge drops (and records) a request sent as a notification.
            out.extend(answers_only(self.front.from_client(text.as_bytes())));
            return;
        }
        if method == "notifications/cancelled" {
            let key = message
                .get("params")
                .and_then(|params| params.get("requestId"))
                .map(id_key);
            // The server's judge swallows a late answer to a cancelled request, and would
            // swallow the answer to a new request with the same id too: the id stays
            // routed, so reusing it is refused as in flight rather than left unanswered.
            if let Some(index) = key.and_then(|key| state.routes.get(&key).copied()) {
                let actions = self.servers[index].judge.from_client(text.as_bytes());
                self.carry_out(state, index, actions, out);
            }
            return;
        }
        if method == "notifications/initialized" {
            state.initialized = true;
        }
        for index in 0..self.servers.len() {
            if state.alive[index] {
                let actions = self.servers[index].judge.from_client(text.as_bytes());
                self.carry_out(state, index, actions, out);
            }
        }
    }

    fn client_request(
        &self,
        state: &mut State,
        method: &str,
        message: serde_json::Map<String, Value>,
        id: Value,
        out: &mut Vec<Routed>,
    ) {
        let key = id_key(&id);
        if state.routes.contains_key(&key) || state.fanouts.contains_key(&key) {
            out.extend(answers_only(self.front.refuse(
                &id,
                None,
                "invalid_request",
                code::INVALID_REQUEST,
                "Invalid Request: `id` is already used by a request in flight",
            )));
            return;
        }
        let params = message.get("params").cloned();
        match method {
            "initialize" => {
                self.fan_out(state, FanoutKind::Initialize, id, params, out);
            }
            "tools/list" => {
                if params
                    .as_ref()
                    .and_then(|params| params.get("cursor"))
                    .is_some_and(|cursor| !cursor.is_null())
                {
                    out.extend(answers_only(self.front.refuse(
                        &id,
                        None,
                        "invalid_params",
                        code::INVALID_PARAMS,
                        "Invalid params: unknown cursor (the gateway lists every server's \
                         tools in one page)",
                    )));
                    return;
                }
                self.fan_out(state, FanoutKind::ListTools, id, None, out);
            }
            "tools/call" => self.route_call(state, message, id, key, out),
            "ping" => out.push(Routed::ToClient(to_bytes(
                &json!({"jsonrpc": "2.0", "id": id, "result": {}}),
            ))),
            _ => {
                out.extend(answers_only(self.front.refuse(
                    &id,
                    None,
                    "method_not_found",
                    code::METHOD_NOT_FOUND,
                    &format!(
                        "Method not found: `{method}` (behind --config the gateway offers \
                         only tools)"
                    ),
                )));
            }
        }
    }

    fn route_call(
        &self,
        state: &mut State,
        mut message: serde_json::Map<String, Value>,
        id: Value,
        key: String,
        out: &mut Vec<Routed>,
    ) {
        let name = message
            .get("params")
            .and_then(|params| params.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(name) = name else {
            // A malformed call: the front judge names what is wrong.
            out.extend(answers_only(
                self.front.from_client(&to_bytes(&Value::Object(message))),
            ));
            return;
        };
        let arguments = message
            .get("params")
            .and_then(|params| params.get("arguments"))
            .cloned()
            .unwrap_or(Value::Null);
        let target = split_tool(&name).and_then(|(server, tool)| {
            self.servers
                .iter()
                .position(|candidate| candidate.name == server)
                .map(|index| (index, tool.to_owned()))
        });
        let Some((index, tool)) = target else {
            out.extend(answers_only(self.front.refuse(
                &id,
                Some((&name, &arguments)),
                "unknown",
                code::INVALID_PARAMS,
                &format!("Unknown tool: {name}"),
            )));
            return;
        };
        if !state.alive[index] {
            let why = format!(
                "the server {} behind the gateway is not running",
                self.servers[index].name
            );
            // Recorded under the server's name; the answer goes straight to the client.
            out.extend(answers_only(self.servers[index].judge.refuse(
                &id,
                Some((&tool, &arguments)),
                "upstream_closed",
                code::UPSTREAM_UNAVAILABLE,
                &why,
            )));
            return;
        }
        if let Some(Value::Object(params)) = message.get_mut("params") {
            params.insert("name".to_owned(), Value::String(tool));
        }
        state.routes.insert(key, index);
        let actions = self.servers[index]
            .judge
            .from_client(&to_bytes(&Value::Object(message)));
        self.carry_out(state, index, actions, out);
    }

    fn fan_out(
        &self,
        state: &mut State,
        kind: FanoutKind,
        id: Value,
        params: Option<Value>,
        out: &mut Vec<Routed>,
    ) {
        let key = id_key(&id);
        state.fanouts.insert(
            key.clone(),
            Fanout {
                client_id: id,
                kind,
                waiting: HashSet::new(),
                results: BTreeMap::new(),
            },
        );
        let method = match kind {
            FanoutKind::Initialize => "initialize",
            FanoutKind::ListTools => "tools/list",
        };
        for index in 0..self.servers.len() {
            if !state.alive[index] {
                continue;
            }
            if let Some(fanout) = state.fanouts.get_mut(&key) {
                fanout.waiting.insert(index);
            }
            self.own_request(state, index, &key, method, params.clone(), out);
        }
        self.finish_if_done(state, &key, out);
    }

    /// Sends one of our own requests to a server, for the fan-out `fanout_key`.
    fn own_request(
        &self,
        state: &mut State,
        index: usize,
        fanout_key: &str,
        method: &str,
        params: Option<Value>,
        out: &mut Vec<Routed>,
    ) {
        state.next_id += 1;
        let own_id = Value::String(format!("{OWN_ID_PREFIX}{}", state.next_id));
        let mut request = json!({"jsonrpc": "2.0", "id": own_id, "method": method});
        if let Some(params) = params {
            request["params"] = params;
        }
        state
            .own
            .insert((index, id_key(&own_id)), fanout_key.to_owned());
        let actions = self.servers[index].judge.from_client(&to_bytes(&request));
        self.carry_out(state, index, actions, out);
    }

    /// Routes one message from server `index`.
    pub fn from_upstream(&self, index: usize, bytes: &[u8]) -> Vec<Routed> {
        let mut out = Vec::new();
        let Some(server) = self.servers.get(index) else {
            return out;
        };
        let actions = server.judge.from_upstream(bytes);
        let mut state = self.state();
        self.carry_out(&mut state, index, actions, &mut out);
        out
    }

    /// Carries out what server `index`'s judge decided.
    fn carry_out(
        &self,
        state: &mut State,
        index: usize,
        actions: Vec<Action>,
        out: &mut Vec<Routed>,
    ) {
        for action in actions {
            match action {
                Action::ToUpstream(bytes) => out.push(Routed::ToUpstream(index, bytes)),
                Action::ToClient(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Array(items)) => {
                        for item in items {
                            self.to_client(state, index, item, out);
                        }
                    }
                    Ok(item) => self.to_client(state, index, item, out),
                    // The judges only write JSON.
                    Err(_) => {}
                },
            }
        }
    }

    fn to_client(&self, state: &mut State, index: usize, mut item: Value, out: &mut Vec<Routed>) {
        let is_request = item.get("method").is_some();
        let id = item.get("id").cloned();
        match (is_request, id) {
            (true, Some(id)) => {
                state.next_id += 1;
                let ours = Value::String(format!("{OWN_ID_PREFIX}{}", state.next_id));
                state.server_requests.insert(id_key(&ours), (index, id));
                item["id"] = ours;
                out.push(Routed::ToClient(to_bytes(&item)));
            }
            (true, None) => out.push(Routed::ToClient(to_bytes(&item))),
            (false, id) => {
                let key = id.as_ref().map(id_key).unwrap_or_default();
                if let Some(fanout_key) = state.own.remove(&(index, key.clone())) {
                    self.fanout_answered(state, index, &fanout_key, &item, out);
                } else if state.routes.get(&key) == Some(&index) {
                    state.routes.remove(&key);
                    out.push(Routed::ToClient(to_bytes(&item)));
                } else {
                    eprintln!(
                        "mcpwarden: dropped a response from server {} to a request it was not sent",
                        self.servers[index].name
                    );
                }
            }
        }
    }

    fn fanout_answered(
        &self,
        state: &mut State,
        index: usize,
        fanout_key: &str,
        item: &Value,
        out: &mut Vec<Routed>,
    ) {
        let name = self.servers[index].name.clone();
        let Some(fanout) = state.fanouts.get_mut(fanout_key) else {
            return;
        };
        let Some(result) = item.get("result") else {
            let why = item
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("no result");
            eprintln!("mcpwarden: server {name} did not answer the gateway's request: {why}");
            fanout.waiting.remove(&index);
            fanout.results.remove(&index);
            if fanout.kind == FanoutKind::Initialize {
                // A server that refused to start its session cannot be used.
                state.alive[index] = false;
            }
            self.finish_if_done(state, fanout_key, out);
            return;
        };
        match fanout.kind {
            FanoutKind::Initialize => {
                fanout.results.insert(index, result.clone());
                fanout.waiting.remove(&index);
            }
            FanoutKind::ListTools => {
                let listed = fanout
                    .results
                    .entry(index)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let (Value::Array(listed), Some(Value::Array(tools))) =
                    (listed, result.get("tools"))
                {
                    for tool in tools {
                        let Some(tool_name) = tool.get("name").and_then(Value::as_str) else {
                            continue;
                        };
                        let Some(full) = namespaced(&name, tool_name) else {
                            eprintln!(
                                "mcpwarden: left out tool {tool_name:?} of server {name}: the \
                                 namespaced name would be longer than 128 characters"
                            );
                            continue;
                        };
                        let mut tool = tool.clone();
                        tool["name"] = Value::String(full);
                        listed.push(tool);
                    }
                }
                match result.get("nextCursor") {
                    Some(cursor) if !cursor.is_null() => {
                        let params = json!({ "cursor": cursor });
                        self.own_request(state, index, fanout_key, "tools/list", Some(params), out);
                    }
                    _ => {
                        fanout.waiting.remove(&index);
                    }
                }
            }
        }
        self.finish_if_done(state, fanout_key, out);
    }

    fn finish_if_done(&self, state: &mut State, fanout_key: &str, out: &mut Vec<Routed>) {
        if state
            .fanouts
            .get(fanout_key)
            .is_none_or(|fanout| !fanout.waiting.is_empty())
        {
            return;
        }
        let Some(fanout) = state.fanouts.remove(fanout_key) else {
            return;
        };
        let id = fanout.client_id;
        let answer = match fanout.kind {
            FanoutKind::ListTools => {
                let tools: Vec<Value> = fanout
                    .results
                    .into_values()
                    .flat_map(|tools| match tools {
                        Value::Array(tools) => tools,
                        _ => Vec::new(),
                    })
                    .collect();
                to_bytes(&json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools}}))
            }
            FanoutKind::Initialize => {
                // Servers that did not answer are not used in this session.
                for (index, alive) in state.alive.iter_mut().enumerate() {
                    *alive = *alive && fanout.results.contains_key(&index);
                }
                match merge_initialize(&fanout.results) {
                    Some(result) => {
                        to_bytes(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
                    }
                    None => error_response(
                        &id,
                        code::UPSTREAM_UNAVAILABLE,
                        "no server behind the gateway accepted `initialize`",
                    ),
                }
            }
        };
        out.push(Routed::ToClient(answer));
    }

    /// Answers every request whose time is up, in every server's judge.
    pub fn expire(&self, now: Instant) -> Vec<Routed> {
        let mut out = Vec::new();
        for (index, server) in self.servers.iter().enumerate() {
            let actions = server.judge.expire(now);
            if !actions.is_empty() {
                let mut state = self.state();
                self.carry_out(&mut state, index, actions, &mut out);
            }
        }
        out
    }

    /// Server `index` went away: its requests in flight get errors, its tools disappear
    /// (the client is told the list changed), the other servers go on.
    pub fn upstream_closed(&self, index: usize, why: &str) -> Vec<Routed> {
        let mut out = Vec::new();
        let Some(server) = self.servers.get(index) else {
            return out;
        };
        let actions = server.judge.upstream_closed(why);
        let mut state = self.state();
        let was_alive = std::mem::replace(&mut state.alive[index], false);
        self.carry_out(&mut state, index, actions, &mut out);
        state.own.retain(|(server, _), _| *server != index);
        state
            .server_requests
            .retain(|_, (server, _)| *server != index);
        let waiting_on_it: Vec<String> = state
            .fanouts
            .iter()
            .filter(|(_, fanout)| fanout.waiting.contains(&index))
            .map(|(key, _)| key.clone())
            .collect();
        for key in waiting_on_it {
            if let Some(fanout) = state.fanouts.get_mut(&key) {
                fanout.waiting.remove(&index);
                fanout.results.remove(&index);
            }
            self.finish_if_done(&mut state, &key, &mut out);
        }
        if was_alive && state.initialized {
            out.push(Routed::ToClient(to_bytes(
                &json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
            )));
        }
        out
    }

    /// Whether any server is still running.
    pub fn any_alive(&self) -> bool {
        self.state().alive.iter().any(|alive| *alive)
    }

    /// Client requests not yet answered.
    pub fn in_flight(&self) -> usize {
        let fanouts = self.state().fanouts.len();
        fanouts
            + self
                .servers
                .iter()
                .map(|server| server.judge.in_flight())
                .sum::<usize>()
    }
}

/// One `initialize` result for the client: the newest protocol version every server
/// accepted (the oldest they chose), only the tools capability, and our own name.
fn merge_initialize(results: &BTreeMap<usize, Value>) -> Option<Value> {
    let version = results
        .values()
        .filter_map(|result| result.get("protocolVersion").and_then(Value::as_str))
        .min()?;
    Some(json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": true}},
        "serverInfo": {"name": "mcpwarden", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "Tools of several MCP servers, each named <server>__<tool>, behind \
                         mcpwarden's policies."
    }))
}

/// Only the answers of a judge that has no upstream for this message (the front judge,
/// or a server that is not running).
fn answers_only(actions: Vec<Action>) -> Vec<Routed> {
    actions
        .into_iter()
        .filter_map(|action| match action {
            Action::ToClient(bytes) => Some(Routed::ToClient(bytes)),
            Action::ToUpstream(_) => None,
        })
        .collect()
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::String(_) => true,
        Value::Number(number) => number.is_i64() || number.is_u64(),
        _ => false,
    }
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
