//! Streamable HTTP for several servers (`gateway --config FILE --listen ADDR`): the same
//! endpoint, checks and routing as [`super::http`] (Origin 403, bearer token 401,
//! `MCP-Protocol-Version` 400, session id 400/404, body size 413, `Mcp-Method`/`Mcp-Name`
//! against the body), with a [`Multi`] in place of the single judge. Each HTTP session
//! starts every server of the config as its own children at `initialize` and kills them
//! when the session ends or the gateway stops. A child that exits takes its tools with it;
//! the session ends when all of its children have exited.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

use super::config::ServerConfig;
use super::http::{
    Admission, Endpoint, GatewaySession, Grants, HttpError, HttpGateway, Refusal, Router,
    SESSION_HEADER, Waiters, accepts, admit, answer_key, any_result, bind, check_method_headers,
    close_stream, deliver_message, find_session, refuse, reply, serve, status, trimmed_origins,
};
use super::judge::Shared;
use super::multi::{Multi, Routed};
use super::stdio::{Line, read_line_capped};

const MAX_UPSTREAM_LINE: usize = 64 << 20;

pub struct MultiHttpOptions {
    pub listen: SocketAddr,
    pub servers: Vec<ServerConfig>,
    pub allowed_origins: Vec<String>,
    pub grants: Option<Grants>,
    /// Sessions alive at once; each holds one child per server.
    pub max_sessions: usize,
    /// Serving threads, each with its own event loop (see [`super::http::Endpoint`]).
    pub threads: usize,
    pub watch: bool,
}

struct App {
    front: Arc<Shared>,
    shared: Vec<(String, Arc<Shared>)>,
    servers: Vec<ServerConfig>,
    sessions: Mutex<HashMap<String, Arc<MultiSession>>>,
    allowed_origins: Vec<String>,
    loopback: bool,
    grants: Option<Grants>,
    max_sessions: usize,
    call_timeout: Duration,
}

impl Admission for App {
    fn allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }
    fn loopback(&self) -> bool {
        self.loopback
    }
    fn grants(&self) -> Option<&Grants> {
        self.grants.as_ref()
    }
}

/// Runs until SIGINT or SIGTERM; returns the conventional exit code.
pub async fn run(
    front: Arc<Shared>,
    shared: Vec<(String, Arc<Shared>)>,
    reloads: Vec<(PathBuf, Arc<Shared>)>,
    options: MultiHttpOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<i32, HttpError> {
    let (listener, addr) = bind(options.listen).await?;
    let max_body = front.config.max_message_bytes;
    let call_timeout = front.config.call_timeout;
    let app = Arc::new(App {
        front,
        shared,
        servers: options.servers,
        sessions: Mutex::new(HashMap::new()),
        allowed_origins: trimmed_origins(&options.allowed_origins),
        loopback: addr.ip().is_loopback(),
        grants: options.grants,
        max_sessions: options.max_sessions,
        call_timeout,
    });
    let endpoint = Endpoint {
        listener,
        addr,
        max_body,
        policies: reloads,
        watch: options.watch,
        threads: options.threads,
    };
    serve(app, axum::routing::post(post), endpoint, ready).await
}

impl App {
    /// Starts every server for a new session and registers it.
    fn open_session(self: &Arc<Self>, grant: Option<String>) -> Result<Arc<MultiSession>, Refusal> {
        let full = || {
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "Service Unavailable: {} sessions are open, the most allowed (--max-sessions)",
                    self.max_sessions
                ),
            )
        };
        if self.lock_sessions().len() >= self.max_sessions {
            return Err(full());
        }
        let id = format!("{:032x}", fastrand::u128(..));
        let multi = Arc::new(Multi::new(
            self.front.clone(),
            self.shared.clone(),
            &id,
            grant.clone(),
        ));
        let mut children = Vec::new();
        // Per server, in the config's order: a child's pipes, or a remote and its queue.
        let mut ends = Vec::new();
        let mut to_children = Vec::new();
        for server in &self.servers {
            let (to_child, queue) = mpsc::channel::<Vec<u8>>(256);
            to_children.push(to_child);
            if let Some(entry) = &server.remote {
                ends.push(End::Remote(entry.clone(), queue));
                continue;
            }
            let mut command = Command::new(&server.command[0]);
            command
                .args(&server.command[1..])
                .envs(&server.env)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true);
            if let Some(cwd) = &server.cwd {
                command.current_dir(cwd);
            }
            let spawned =
                command
                    .spawn()
                    .map_err(|error| error.to_string())
                    .and_then(
                        |mut child| match (child.stdin.take(), child.stdout.take()) {
                            (Some(stdin), Some(stdout)) => Ok((child, stdin, stdout)),
                            _ => Err("the child's pipes were not created".to_owned()),
                        },
                    );
            match spawned {
                Ok((child, stdin, stdout)) => {
                    children.push(child);
                    ends.push(End::Child(stdin, stdout, queue));
                }
                Err(why) => {
                    // The children already started are killed as they are dropped.
                    let why = format!("cannot start server {:?}: {why}", server.name);
                    eprintln!("mcpwarden: {why}");
                    return Err(refuse(
                        StatusCode::BAD_GATEWAY,
                        &format!("the upstream could not start: {why}"),
                    ));
                }
            }
        }
        let session = Arc::new(MultiSession {
            id: id.clone(),
            grant,
            multi,
            to_children,
            router: Mutex::new(Router::default()),
            children: Mutex::new(children),
            tasks: Mutex::new(Vec::new()),
        });
        for (index, end) in ends.into_iter().enumerate() {
            let session_for_task = session.clone();
            let app = self.clone();
            let source = match end {
                End::Child(mut stdin, stdout, mut queue) => {
                    let writer = tokio::spawn(async move {
                        while let Some(message) = queue.recv().await {
                            if stdin.write_all(&message).await.is_err()
                                || stdin.write_all(b"\n").await.is_err()
                                || stdin.flush().await.is_err()
                            {
                                break;
                            }
                        }
                    });
                    session.lock_tasks().push(writer);
                    Source::Child(stdout)
                }
                End::Remote(entry, queue) => Source::Remote(entry, queue),
            };
            let task = tokio::spawn(async move {
                let session = session_for_task;
                let why = match source {
                    Source::Child(stdout) => {
                        let mut stdout = BufReader::with_capacity(16 << 10, stdout);
                        let mut line = Vec::new();
                        loop {
                            match read_line_capped(&mut stdout, &mut line, MAX_UPSTREAM_LINE).await
                            {
                                Ok(Line::Eof) | Err(_) => break,
                                Ok(Line::TooLong(length)) => eprintln!(
                                    "mcpwarden: dropped a message of {length} bytes or more from server {}",
                                    session.multi.server_name(index)
                                ),
                                Ok(Line::Text) if line.iter().all(u8::is_ascii_whitespace) => {}
                                Ok(Line::Text) => {
                                    let routed = session.multi.from_upstream(index, &line);
                                    session.perform(routed, None).await;
                                }
                            }
                        }
                        "it exited"
                    }
                    Source::Remote(entry, queue) => {
                        let deliver: super::remote::Deliver = {
                            let session = Arc::downgrade(&session);
                            Arc::new(move |message: Vec<u8>| {
                                let session = session.clone();
                                Box::pin(async move {
                                    if let Some(session) = session.upgrade() {
                                        let routed = session.multi.from_upstream(index, &message);
                                        session.perform(routed, None).await;
                                    }
                                })
                            })
                        };
                        super::remote::relay(&entry, queue, deliver).await;
                        "its session was closed"
                    }
                };
                let routed = session.multi.upstream_closed(index, why);
                session.perform(routed, None).await;
                if !session.multi.any_alive() {
                    app.lock_sessions().remove(&session.id);
                    close_stream(&session.router);
                }
            });
            session.lock_tasks().push(task);
        }
        let mut sessions = self.lock_sessions();
        if sessions.len() >= self.max_sessions {
            drop(sessions);
            for task in session.lock_tasks().drain(..) {
                task.abort();
            }
            return Err(full());
        }
        sessions.insert(id, session.clone());
        Ok(session)
    }
}

/// One server of a new session, before its tasks start.
enum End {
    Child(ChildStdin, ChildStdout, mpsc::Receiver<Vec<u8>>),
    Remote(super::config::RemoteEntry, mpsc::Receiver<Vec<u8>>),
}

/// Where a session's task for one server reads what the server says.
enum Source {
    Child(ChildStdout),
    Remote(super::config::RemoteEntry, mpsc::Receiver<Vec<u8>>),
}

impl HttpGateway for App {
    type Session = MultiSession;
    fn sessions(&self) -> &Mutex<HashMap<String, Arc<MultiSession>>> {
        &self.sessions
    }
    fn call_timeout(&self) -> Duration {
        self.call_timeout
    }
}

impl GatewaySession for MultiSession {
    fn id(&self) -> &str {
        &self.id
    }
    fn grant(&self) -> &Option<String> {
        &self.grant
    }
    fn router(&self) -> &Mutex<Router> {
        &self.router
    }
    async fn expire(&self, now: Instant) {
        let routed = self.multi.expire(now);
        if !routed.is_empty() {
            self.perform(routed, None).await;
        }
    }
    async fn end(&self) {
        MultiSession::end(self).await;
    }
    async fn answer_waiting(&self, why: &'static str) {
        for index in 0..self.multi.server_count() {
            let routed = self.multi.upstream_closed(index, why);
            self.perform(routed, None).await;
        }
    }
}

struct MultiSession {
    id: String,
    grant: Option<String>,
    multi: Arc<Multi>,
    to_children: Vec<mpsc::Sender<Vec<u8>>>,
    router: Mutex<Router>,
    children: Mutex<Vec<Child>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl MultiSession {
    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<tokio::task::JoinHandle<()>>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn perform(&self, routed: Vec<Routed>, mut unclaimed: Option<&mut Vec<Vec<u8>>>) {
        for item in routed {
            match item {
                Routed::ToUpstream(index, message) => {
                    if let Some(queue) = self.to_children.get(index) {
                        let _ = queue.send(message).await;
                    }
                }
                Routed::ToClient(message) => {
                    deliver_message(&self.router, message, unclaimed.as_deref_mut());
                }
            }
        }
    }

    /// Kills every server of the session and stops its tasks.
    async fn end(&self) {
        let children: Vec<Child> = self
            .children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect();
        for mut child in children {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
        }
        for task in self.lock_tasks().drain(..) {
            task.abort();
        }
        close_stream(&self.router);
    }
}

async fn post(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let grant = match admit(&*app, &headers) {
        Ok(grant) => grant,
        Err(refusal) => return refusal.into_response(),
    };
    let json_ok = accepts(&headers, "application/json");
    if !json_ok && !accepts(&headers, "text/event-stream") {
        return status(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: accept application/json or text/event-stream",
        );
    }
    // A lenient read, only to route answers back; the judges parse strictly.
    let lenient: Option<Value> = serde_json::from_slice(&body).ok();
    let is_batch = matches!(lenient, Some(Value::Array(_)));
    let elements: Vec<&Value> = match &lenient {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    };
    // Batches are refused whole (with `id: null`), so only a single request is waited for.
    let request_ids: Vec<String> = if is_batch {
        Vec::new()
    } else {
        elements
            .iter()
            .filter(|item| item.get("method").is_some_and(Value::is_string))
            .filter_map(|item| item.get("id").map(Value::to_string))
            .collect()
    };
    let is_initialize = !is_batch
        && elements
            .iter()
            .any(|item| item.get("method").and_then(Value::as_str) == Some("initialize"));
    if let Err(refusal) = check_method_headers(&headers, is_batch, &elements) {
        return refusal.into_response();
    }
    if !headers.contains_key(SESSION_HEADER)
        && headers
            .get("mcp-protocol-version")
            .and_then(|v| v.to_str().ok())
            == Some(super::http::STATELESS_VERSION)
    {
        // Stateless requests would need every server's session set up per request; the
        // single-server gateway does that, this one refuses plainly rather than with the
        // generic "session id required".
        return status(
            StatusCode::BAD_REQUEST,
            &format!(
                "Bad Request: gateway --config does not serve the stateless {} revision; initialize a session with 2025-06-18 or 2025-11-25, or run a single-server gateway (--policy) for stateless clients",
                super::http::STATELESS_VERSION
            ),
        );
    }
    let (session, new_session) = if headers.contains_key(SESSION_HEADER) {
        match find_session(&*app, &headers, &grant) {
            Ok(session) => (session, false),
            Err(refusal) => return refusal.into_response(),
        }
    } else if is_initialize {
        match app.open_session(grant) {
            Ok(session) => (session, true),
            Err(refusal) => return refusal.into_response(),
        }
    } else {
        return status(
            StatusCode::BAD_REQUEST,
            "Bad Request: Mcp-Session-Id header is required (only a single initialize request may come without one)",
        );
    };
    let mut guard = Waiters::register(&session.router, &request_ids);
    let mut collected: Vec<Vec<u8>> = Vec::new();
    let routed = session.multi.from_client(&body);
    session.perform(routed, Some(&mut collected)).await;
    if request_ids.is_empty() {
        drop(guard);
        if collected.is_empty() {
            return StatusCode::ACCEPTED.into_response();
        }
        return reply(StatusCode::BAD_REQUEST, collected, false, json_ok, None);
    }
    let mut remaining: HashSet<String> = request_ids.iter().cloned().collect();
    for answer in &collected {
        remaining.remove(&answer_key(answer));
    }
    let deadline = tokio::time::Instant::now() + app.call_timeout + Duration::from_secs(5);
    guard.collect(remaining, &mut collected, deadline).await;
    drop(guard);
    let mut session_header = None;
    if new_session {
        if any_result(&collected) {
            session_header = Some(session.id.clone());
        } else {
            app.lock_sessions().remove(&session.id);
            session.end().await;
        }
    }
    reply(StatusCode::OK, collected, false, json_ok, session_header)
}
