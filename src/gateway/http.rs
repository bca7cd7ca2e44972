//! The Streamable HTTP transport: clients POST JSON-RPC to `/mcp`, open a stream of
//! server-initiated messages with GET, and end their session with DELETE. Each HTTP
//! session has its own judge [`Session`] and its own upstream: a child process spoken to
//! over stdio, started at `initialize` and killed when the session ends or the gateway
//! stops. The judge is the same one the stdio transport uses.
//!
//! Routing: the judge returns messages for the client without saying which HTTP request
//! they belong to, so responses are matched to the POST that carried the request by their
//! JSON-RPC id. Server-initiated requests and notifications (elicitation for approvals,
//! `list_changed`) go to the session's GET stream, or wait (bounded) until one opens.
//! POST answers are `application/json` unless the client accepts only `text/event-stream`.
//!
//! Checks before anything reaches the judge, in this order: the Origin (403), the bearer
//! token when `--grants` is given (401), `MCP-Protocol-Version` (400), the session id
//! (400 when missing, 404 when unknown or ended), the body size (413).

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::BufReader;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::inproc::InProcess;
use super::judge::{Action, Session, Shared};
use super::stdio::{Line, read_line_capped};

mod stateless;

/// Protocol revisions whose `MCP-Protocol-Version` header is accepted.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-11-25", STATELESS_VERSION];

/// The stateless revision: no `initialize`, no session; each POST stands alone and says
/// what it is in `Mcp-Method` (and `Mcp-Name`).
pub const STATELESS_VERSION: &str = "2026-07-28";

pub(super) const SESSION_HEADER: &str = "mcp-session-id";
pub(super) const VERSION_HEADER: &str = "mcp-protocol-version";
/// Server-initiated messages kept for a session with no GET stream open; older ones are
/// dropped first.
pub(super) const MAX_QUEUED: usize = 1024;
/// Upstream lines longer than this are dropped (and said so) rather than buffered.
pub(super) const MAX_UPSTREAM_LINE: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("no server command given (put it after `--`)")]
    NoCommand,
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server on {addr} failed")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the grants file {path}")]
    GrantsRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the grants file {path} is not valid: {why}")]
    GrantsInvalid { path: PathBuf, why: String },
}

/// What `--grants FILE` holds: bearer tokens, only as SHA-256 hashes, each with a name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantsFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    /// Lower-case hex SHA-256 of the token.
    sha256: String,
    /// The credential's name: what `scope: "grant"` limits count by and what the audit
    /// records as the grant.
    name: String,
}

/// The accepted tokens, by the hash of the token.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    by_hash: HashMap<[u8; 32], String>,
}

impl Grants {
    pub fn load(path: &Path) -> Result<Grants, HttpError> {
        let text = std::fs::read_to_string(path).map_err(|source| HttpError::GrantsRead {
            path: path.to_owned(),
            source,
        })?;
        Grants::parse(&text).map_err(|why| HttpError::GrantsInvalid {
            path: path.to_owned(),
            why,
        })
    }

    pub fn parse(text: &str) -> Result<Grants, String> {
        let file: GrantsFile = serde_json::from_str(text).map_err(|error| error.to_string())?;
        let mut by_hash = HashMap::new();
        for (index, entry) in file.tokens.iter().enumerate() {
            let hash = parse_hash(&entry.sha256).ok_or_else(|| {
                format!("tokens[{index}].sha256 must be 64 lower-case hex digits (the SHA-256 of the token)")
            })?;
            if entry.name.trim().is_empty() {
                return Err(format!("tokens[{index}].name is empty"));
            }
            if by_hash.insert(hash, entry.name.clone()).is_some() {
                return Err(format!(
                    "tokens[{index}] repeats the hash of an earlier token"
                ));
            }
        }
        Ok(Grants { by_hash })
    }

    /// The name of the grant this token holds, if it is one of ours.
    pub fn lookup(&self, token: &str) -> Option<&str> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_hash.get(&hash).map(String::as_str)
    }
}

fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// How the HTTP gateway is set up.
pub struct HttpOptions {
    pub listen: SocketAddr,
    pub command: Vec<OsString>,
    /// Origins allowed besides the localhost ones (when listening on loopback).
    pub allowed_origins: Vec<String>,
    pub grants: Option<Grants>,
    /// Sessions alive at once; each holds a child process.
    pub max_sessions: usize,
    /// Serving threads, each with its own event loop (see [`Endpoint`]).
    pub threads: usize,
    /// How long a POST keeps polling for its upstream's answer before its thread may go
    /// to sleep (see [`spin_then_wait`]); zero waits at once.
    pub spin: Duration,
    /// Forward to this remote server instead of starting `command` per session.
    pub remote: Option<Remote>,
    /// Start this server inside the gateway per session instead of `command` (benchmarks
    /// and tests: it measures the gateway without a child's pipes).
    pub in_process: Option<InProcess>,
    pub policy_path: Option<PathBuf>,
    pub watch: bool,
}

/// Runs the HTTP gateway until SIGINT or SIGTERM; returns the conventional exit code.
/// `ready` is told the bound address (useful with port 0).
pub async fn run(
    shared: Arc<Shared>,
    options: HttpOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<i32, HttpError> {
    if options.command.is_empty() && options.remote.is_none() && options.in_process.is_none() {
        return Err(HttpError::NoCommand);
    }
    let (listener, addr) = bind(options.listen).await?;
    let app = Arc::new(App {
        shared: shared.clone(),
        command: options.command,
        sessions: Mutex::new(HashMap::new()),
        allowed_origins: trimmed_origins(&options.allowed_origins),
        loopback: addr.ip().is_loopback(),
        grants: options.grants,
        max_sessions: options.max_sessions,
        remote: options.remote.map(Arc::new),
        in_process: options.in_process,
        spin: options.spin,
    });
    let policies: Vec<(PathBuf, Arc<Shared>)> = options
        .policy_path
        .into_iter()
        .map(|path| (path, shared.clone()))
        .collect();
    let endpoint = Endpoint {
        listener,
        addr,
        max_body: shared.config.max_message_bytes,
        policies,
        watch: options.watch,
        threads: options.threads,
    };
    serve(app, axum::routing::post(post), endpoint, ready).await
}

/// Binds the listening socket; `addr` is where it really listens (port 0 picks one).
pub(super) async fn bind(
    listen: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), HttpError> {
    let bind_error = |source| HttpError::Bind {
        addr: listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

/// `--allow-origin` values as the Origin check compares them.
pub(super) fn trimmed_origins(origins: &[String]) -> Vec<String> {
    origins
        .iter()
        .map(|origin| origin.trim_end_matches('/').to_owned())
        .collect()
}

/// A bound listener and what serving it needs besides the gateway itself.
pub(super) struct Endpoint {
    pub listener: tokio::net::TcpListener,
    pub addr: SocketAddr,
    pub max_body: usize,
    /// Each policy file and the judge state it feeds: reloaded on SIGHUP, and on change
    /// when `watch` is set.
    pub policies: Vec<(PathBuf, Arc<Shared>)>,
    pub watch: bool,
    /// Threads that accept and serve connections, each running its own single-threaded
    /// event loop (the caller's, plus `threads - 1` started by [`serve`]). A connection
    /// is served start to end by the thread that accepted it: on a work-stealing runtime
    /// every call woke the other worker and moved tasks between cores, which cost more
    /// than the whole judging (BENCHMARKS.md, "Gateway, session 5"). Sessions are shared
    /// by all threads, so a session's requests may come in on any connection.
    pub threads: usize,
}

/// What the GET and DELETE handlers, the tick and shutdown need from an HTTP gateway:
/// its session table. Implemented by the single-server and the several-server gateways,
/// which differ in what a session holds and in their POST handlers.
pub(super) trait HttpGateway: Admission + Send + Sync + 'static {
    type Session: GatewaySession;
    fn sessions(&self) -> &Mutex<HashMap<String, Arc<Self::Session>>>;
    /// How long a call may wait for its answer; the tick runs ten times per that.
    fn call_timeout(&self) -> Duration;

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Self::Session>>> {
        self.sessions()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One client session of an HTTP gateway, as the shared handlers see it.
pub(super) trait GatewaySession: Send + Sync + 'static {
    fn id(&self) -> &str;
    /// The credential that opened it: only that credential may use it.
    fn grant(&self) -> &Option<String>;
    fn router(&self) -> &Mutex<Router>;
    /// Answers (with an error) whatever has waited past its deadline at `now`.
    fn expire(&self, now: Instant) -> impl Future<Output = ()> + Send;
    /// Stops the session's upstreams and tasks and closes its GET stream.
    fn end(&self) -> impl Future<Output = ()> + Send;
    /// After [`GatewaySession::end`]: answers every request still waiting, saying `why`.
    fn answer_waiting(&self, why: &'static str) -> impl Future<Output = ()> + Send;
}

/// Serves `/mcp` (the given POST handler, the shared GET and DELETE) until SIGINT or
/// SIGTERM, reloading policies on SIGHUP; then ends every session. Returns the
/// conventional exit code.
pub(super) async fn serve<G: HttpGateway>(
    app: Arc<G>,
    post: axum::routing::MethodRouter<Arc<G>>,
    endpoint: Endpoint,
    ready: impl FnOnce(SocketAddr),
) -> Result<i32, HttpError> {
    let Endpoint {
        listener,
        addr,
        max_body,
        policies,
        watch,
        threads,
    } = endpoint;
    let ticker = tokio::spawn(tick(app.clone()));
    let router = axum::Router::new()
        .route(
            "/mcp",
            post.get(get::<G>)
                .delete(delete::<G>)
                .layer(DefaultBodyLimit::max(max_body)),
        )
        .with_state(app.clone());
    let _watchers: Vec<_> = policies
        .iter()
        .filter(|_| watch)
        .filter_map(|(path, shared)| {
            super::reload::watch(path, shared.clone())
                .map_err(|error| eprintln!("mcpwarden: {error}; reload with SIGHUP instead"))
                .ok()
        })
        .collect();
    let listener = serve_on_more_threads(listener, &router, threads.saturating_sub(1), addr)?;
    ready(addr);
    let server = axum::serve(listener.tap_io(no_delay), router).into_future();
    tokio::pin!(server);
    let mut signals = super::stdio::Signals::new();
    let code = loop {
        tokio::select! {
            result = &mut server => {
                result.map_err(|source| HttpError::Serve { addr, source })?;
                break 0;
            }
            signal = signals.next() => match signal {
                super::stdio::Signal::Reload => {
                    for (path, shared) in &policies {
                        super::reload::reload_now(path, shared);
                    }
                }
                super::stdio::Signal::Stop(code) => break code,
            }
        }
    };
    ticker.abort();
    // Every child goes with us.
    let sessions: Vec<Arc<G::Session>> = app.lock_sessions().drain().map(|(_, s)| s).collect();
    for session in sessions {
        session.end().await;
    }
    Ok(code)
}

/// Starts `extra` threads that accept on the same socket as the caller and serve what they
/// accept, each on a single-threaded runtime of its own; returns the caller's listener.
/// A thread that cannot start is reported and the others serve without it. The threads
/// live as long as the process: on a stop signal the caller ends the sessions and exits.
fn serve_on_more_threads(
    listener: tokio::net::TcpListener,
    router: &axum::Router,
    extra: usize,
    addr: SocketAddr,
) -> Result<tokio::net::TcpListener, HttpError> {
    let failed = |source| HttpError::Bind { addr, source };
    if extra == 0 {
        return Ok(listener);
    }
    let listener = listener.into_std().map_err(failed)?;
    for index in 1..=extra {
        let (copy, router) = match listener.try_clone() {
            Ok(copy) => (copy, router.clone()),
            Err(error) => {
                eprintln!("mcpwarden: serving on fewer threads: {error}");
                break;
            }
        };
        let started = std::thread::Builder::new()
            .name(format!("http-serve-{index}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        eprintln!("mcpwarden: serving thread {index} did not start: {error}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(copy) {
                        Ok(listener) => {
                            if let Err(error) = axum::serve(listener.tap_io(no_delay), router).await
                            {
                                eprintln!("mcpwarden: serving thread {index} stopped: {error}");
                            }
                        }
                        Err(error) => {
                            eprintln!("mcpwarden: serving thread {index} did not start: {error}");
                        }
                    }
                });
            });
        if let Err(error) = started {
            eprintln!("mcpwarden: serving on fewer threads: {error}");
            break;
        }
    }
    tokio::net::TcpListener::from_std(listener).map_err(failed)
}

/// Times out what waits too long, in every session.
async fn tick<G: HttpGateway>(app: Arc<G>) {
    let period =
        (app.call_timeout() / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        let sessions: Vec<Arc<G::Session>> = app.lock_sessions().values().cloned().collect();
        let now = Instant::now();
        for session in sessions {
            session.expire(now).await;
        }
    }
}

/// The checks every method shares, then the session the request names.
fn admitted_session<G: HttpGateway>(
    app: &G,
    headers: &HeaderMap,
) -> Result<Arc<G::Session>, Refusal> {
    let grant = admit(app, headers)?;
    find_session(app, headers, &grant)
}

/// GET `/mcp`: the session's stream of server-initiated messages.
async fn get<G: HttpGateway>(State(app): State<Arc<G>>, headers: HeaderMap) -> Response {
    let session = match admitted_session(&*app, &headers) {
        Ok(session) => session,
        Err(refusal) => return refusal.into_response(),
    };
    if !accepts(&headers, "text/event-stream") {
        return status(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: GET opens a text/event-stream",
        );
    }
    open_stream(session.router())
}

/// DELETE `/mcp`: the client ends its session.
async fn delete<G: HttpGateway>(State(app): State<Arc<G>>, headers: HeaderMap) -> Response {
    let session = match admitted_session(&*app, &headers) {
        Ok(session) => session,
        Err(refusal) => return refusal.into_response(),
    };
    app.lock_sessions().remove(session.id());
    session.end().await;
    // Requests still waiting get their error.
    session.answer_waiting("the client ended the session").await;
    StatusCode::OK.into_response()
}

struct App {
    shared: Arc<Shared>,
    command: Vec<OsString>,
    sessions: Mutex<HashMap<String, Arc<HttpSession>>>,
    allowed_origins: Vec<String>,
    loopback: bool,
    grants: Option<Grants>,
    max_sessions: usize,
    remote: Option<Arc<Remote>>,
    in_process: Option<InProcess>,
    /// How long a POST polls for its answers before its thread may sleep (`--spin-us`).
    spin: Duration,
}

/// What the checks before the judge need to know; `multi_http` shares them.
pub(super) trait Admission {
    fn allowed_origins(&self) -> &[String];
    fn loopback(&self) -> bool;
    fn grants(&self) -> Option<&Grants>;
}

impl<T: Admission> Admission for Arc<T> {
    fn allowed_origins(&self) -> &[String] {
        (**self).allowed_origins()
    }
    fn loopback(&self) -> bool {
        (**self).loopback()
    }
    fn grants(&self) -> Option<&Grants> {
        (**self).grants()
    }
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

/// Why a session could not be opened.
enum OpenError {
    Full(usize),
    Spawn(String),
}

impl App {
    /// Starts the upstream for a new session and registers it.
    fn open_session(
        self: &Arc<Self>,
        grant: Option<String>,
    ) -> Result<Arc<HttpSession>, OpenError> {
        if self.lock_sessions().len() >= self.max_sessions {
            return Err(OpenError::Full(self.max_sessions));
        }
        let id = format!("{:032x}", fastrand::u128(..));
        if let Some(remote) = &self.remote {
            let judge = Arc::new(Session::new(self.shared.clone(), id.clone(), grant.clone()));
            let (to_child, queue) = mpsc::channel::<Vec<u8>>(256);
            let session = Arc::new(HttpSession {
                id: id.clone(),
                judge,
                grant,
                to_child,
                stdin: None,
                router: Mutex::new(Router::default()),
                child: Mutex::new(None),
                tasks: Mutex::new(Vec::new()),
                closed: AtomicBool::new(false),
                remote: Some((
                    remote.clone(),
                    Arc::new(Mutex::new(None)),
                    Arc::new(Mutex::new(None)),
                )),
            });
            let writer = tokio::spawn(remote_writer(session.clone(), queue));
            session
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(writer);
            return self.register(session);
        }
        if let Some(in_process) = &self.in_process {
            let (stdout, stdin) = tokio::io::split(in_process.connect());
            return self.attach(id, grant, stdin, stdout, None);
        }
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| OpenError::Spawn("no server command".to_owned()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                OpenError::Spawn(format!(
                    "cannot start the server `{}`: {error}",
                    program.to_string_lossy()
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(OpenError::Spawn(
                "the child's pipes were not created".to_owned(),
            ));
        };
        self.attach(id, grant, stdin, stdout, Some(child))
    }

    /// Starts a session whose upstream speaks newline-delimited JSON-RPC on `stdin` and
    /// `stdout`: a child's pipes, or an in-process server's end of an in-memory pipe.
    fn attach(
        self: &Arc<Self>,
        id: String,
        grant: Option<String>,
        stdin: impl tokio::io::AsyncWrite + Send + Unpin + 'static,
        stdout: impl tokio::io::AsyncRead + Send + Unpin + 'static,
        child: Option<Child>,
    ) -> Result<Arc<HttpSession>, OpenError> {
        let judge = Arc::new(Session::new(self.shared.clone(), id.clone(), grant.clone()));
        let (to_child, mut child_queue) = mpsc::channel::<Vec<u8>>(256);
        let stdin: Arc<ChildStdin> = Arc::new(tokio::sync::Mutex::new(Box::new(stdin)));
        let session = Arc::new(HttpSession {
            id: id.clone(),
            judge,
            grant,
            to_child,
            stdin: Some(stdin.clone()),
            router: Mutex::new(Router::default()),
            child: Mutex::new(child),
            tasks: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            remote: None,
        });
        let writer = tokio::spawn(async move {
            while let Some(message) = child_queue.recv().await {
                let mut stdin = stdin.lock().await;
                if super::stdio::write_line(&mut *stdin, message)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let reader = {
            let session = session.clone();
            let app = self.clone();
            tokio::spawn(async move {
                let mut stdout = BufReader::with_capacity(16 << 10, stdout);
                let mut line = Vec::new();
                loop {
                    match read_line_capped(&mut stdout, &mut line, MAX_UPSTREAM_LINE).await {
                        Ok(Line::Eof) | Err(_) => break,
                        Ok(Line::TooLong(length)) => {
                            eprintln!(
                                "mcpwarden: dropped a message from the upstream of {length} bytes or more"
                            );
                        }
                        Ok(Line::Text) if line.iter().all(u8::is_ascii_whitespace) => {}
                        Ok(Line::Text) => {
                            let actions = session.judge.from_upstream(&line);
                            session.perform(actions, None, None).await;
                        }
                    }
                }
                // The upstream is gone: every request left unanswered gets an error, and
                // the session ends.
                app.lock_sessions().remove(&session.id);
                session.close_upstream("it exited").await;
                close_stream(&session.router);
            })
        };
        session
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend([writer, reader]);
        self.register(session)
    }

    /// Adds a session to the table, unless the table is full.
    fn register(&self, session: Arc<HttpSession>) -> Result<Arc<HttpSession>, OpenError> {
        {
            // Checked again under the lock: sessions opened at the same moment may have
            // filled the last places.
            let mut sessions = self.lock_sessions();
            if sessions.len() < self.max_sessions {
                sessions.insert(session.id.clone(), session.clone());
                return Ok(session);
            }
        }
        for task in session
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            task.abort(); // the child is killed when the session is dropped
        }
        Err(OpenError::Full(self.max_sessions))
    }
}

impl HttpGateway for App {
    type Session = HttpSession;
    fn sessions(&self) -> &Mutex<HashMap<String, Arc<HttpSession>>> {
        &self.sessions
    }
    fn call_timeout(&self) -> Duration {
        self.shared.config.call_timeout
    }
}

impl GatewaySession for HttpSession {
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
        let actions = self.judge.expire(now);
        if !actions.is_empty() {
            self.perform(actions, None, None).await;
        }
    }
    async fn end(&self) {
        HttpSession::end(self).await;
    }
    async fn answer_waiting(&self, why: &'static str) {
        self.close_upstream(why).await;
    }
}

struct HttpSession {
    id: String,
    judge: Arc<Session>,
    grant: Option<String>,
    to_child: mpsc::Sender<Vec<u8>>,
    /// The upstream's stdin (a child or an in-process server): the writer task writes
    /// what the reader and the tick send, a POST's handler what it judged (one write
    /// each, under the lock, so lines never interleave).
    stdin: Option<Arc<ChildStdin>>,
    router: Mutex<Router>,
    child: Mutex<Option<Child>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Set once the upstream has gone, before its requests are answered with errors.
    closed: AtomicBool,
    /// With `--upstream URL`: the remote and the session id it gave us.
    remote: Option<(Arc<Remote>, SharedSlot, SharedSlot)>,
}

/// Where a session's upstream reads its input.
type ChildStdin = tokio::sync::Mutex<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>;

/// A value several tasks read and set: the remote's session id; the protocol version
/// it chose.
type SharedSlot = Arc<Mutex<Option<String>>>;

/// A remote Streamable HTTP server (`--upstream URL`).
pub struct Remote {
    /// Parsed once: parsing it for every request showed in the profile.
    pub url: reqwest::Url,
    /// Added to every request upstream (`--upstream-header`); nothing of the client's is.
    pub headers: reqwest::header::HeaderMap,
    /// Used where a serving thread has no client of its own (see [`Remote::client`]).
    pub client: reqwest::Client,
}

impl Remote {
    /// The HTTP client for the upstream, as `--upstream` needs it.
    pub fn new_client() -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
    }

    /// The calling serving thread's own client. A pooled connection is driven by the
    /// event loop that opened it, so with one client for all threads a call served on one
    /// thread would wake another to talk to the upstream (see [`Endpoint::threads`]).
    fn client(&self) -> reqwest::Client {
        thread_local! {
            static CLIENT: std::cell::OnceCell<Option<reqwest::Client>> =
                const { std::cell::OnceCell::new() };
        }
        CLIENT
            .with(|client| client.get_or_init(|| Remote::new_client().ok()).clone())
            .unwrap_or_else(|| self.client.clone())
    }
}

/// Where messages for one HTTP session's client go; shared by the single- and the
/// several-server gateways (each session holds one, behind a `Mutex`).
#[derive(Default)]
pub(super) struct Router {
    /// Responses, by the id of the request, to the POST that carried it.
    waiters: HashMap<String, mpsc::UnboundedSender<(String, Vec<u8>)>>,
    /// The GET stream, if one is open.
    stream: Option<mpsc::Sender<Vec<u8>>>,
    /// Server-initiated messages waiting for a GET stream.
    queued: VecDeque<Vec<u8>>,
}

fn lock_router(router: &Mutex<Router>) -> std::sync::MutexGuard<'_, Router> {
    router
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Routes a message (or each element of a batch) written for the client: responses to the
/// POST waiting for their id, the rest to the GET stream or its queue. Responses nobody
/// waits for go to `unclaimed` when given, else are dropped (their POST has gone).
///
/// Messages are carried as they were written, never parsed whole or re-serialised:
/// routing reads only their `id` and `method` ([`Head`]).
pub(super) fn deliver_message(
    router: &Mutex<Router>,
    message: Vec<u8>,
    mut unclaimed: Option<&mut Vec<Vec<u8>>>,
) {
    for (item, head) in split_messages(message) {
        if let (Some(left), Some(unclaimed)) =
            (deliver(router, item, head), unclaimed.as_deref_mut())
        {
            unclaimed.push(left);
        }
    }
}

/// Routes one message; gives it back if it is a response nobody waits for.
fn deliver(router: &Mutex<Router>, item: Vec<u8>, head: Head) -> Option<Vec<u8>> {
    let mut router = lock_router(router);
    if head.method.is_none() {
        let key = head.id.as_ref().map(id_key).unwrap_or_default();
        return match router.waiters.get(&key) {
            Some(waiter) => waiter.send((key, item)).err().map(|error| error.0.1),
            None => Some(item),
        };
    }
    if let Some(stream) = &router.stream {
        match stream.try_send(item) {
            Ok(()) => return None,
            Err(mpsc::error::TrySendError::Full(item))
            | Err(mpsc::error::TrySendError::Closed(item)) => {
                router.stream = None;
                router.queued.push_back(item);
            }
        }
    } else {
        router.queued.push_back(item);
    }
    while router.queued.len() > MAX_QUEUED {
        router.queued.pop_front();
    }
    None
}

/// Closes the session's GET stream, if one is open.
pub(super) fn close_stream(router: &Mutex<Router>) {
    lock_router(router).stream = None;
}

/// A POST's answers: what arrives for each of its request ids, until every one has
/// answered or the deadline passes. The waiters are removed when it is dropped (the POST
/// finished or its client went away).
pub(super) struct Waiters<'a> {
    router: &'a Mutex<Router>,
    keys: Vec<String>,
    answers: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
}

impl<'a> Waiters<'a> {
    /// Registers `keys` (request ids as [`id_key`] writes them) before the requests are
    /// judged, so no answer can come before its waiter.
    pub(super) fn register(router: &'a Mutex<Router>, keys: &[String]) -> Waiters<'a> {
        let (sender, answers) = mpsc::unbounded_channel();
        let mut locked = lock_router(router);
        for key in keys {
            locked.waiters.insert(key.clone(), sender.clone());
        }
        Waiters {
            router,
            keys: keys.to_vec(),
            answers,
        }
    }

    /// The next answer, `None` when every sender is gone (the session ended) or at the
    /// deadline.
    pub(super) async fn next(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Option<(String, Vec<u8>)> {
        tokio::time::timeout_at(deadline, self.answers.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits for the answers to `remaining` (the keys not answered yet), adding each to
    /// `collected`; what is still missing at the deadline is answered with an error.
    pub(super) async fn collect(
        &mut self,
        mut remaining: std::collections::HashSet<String>,
        collected: &mut Vec<Vec<u8>>,
        deadline: tokio::time::Instant,
    ) {
        while !remaining.is_empty() {
            match self.next(deadline).await {
                Some((key, answer)) => {
                    if remaining.remove(&key) {
                        collected.push(answer);
                    }
                }
                // The judge answers timeouts itself, so this is a backstop.
                None => break,
            }
        }
        for key in remaining {
            let id: Value = serde_json::from_str(&key).unwrap_or(Value::Null);
            collected.push(super::judge::error_response(
                &id,
                super::judge::code::UPSTREAM_UNAVAILABLE,
                "the upstream did not answer",
            ));
        }
    }
}

impl Drop for Waiters<'_> {
    fn drop(&mut self) {
        let mut router = lock_router(self.router);
        for key in &self.keys {
            router.waiters.remove(key);
        }
    }
}

/// Whether any of `answers` is a success (`result`): an `initialize` that worked.
pub(super) fn any_result(answers: &[Vec<u8>]) -> bool {
    answers.iter().any(|answer| {
        serde_json::from_slice::<Value>(answer).is_ok_and(|answer| answer.get("result").is_some())
    })
}

/// The key of a response's id, as [`Waiters`] are registered by.
pub(super) fn answer_key(answer: &[u8]) -> String {
    serde_json::from_slice::<Head>(answer)
        .ok()
        .and_then(|head| head.id)
        .as_ref()
        .map(id_key)
        .unwrap_or_default()
}

/// The GET stream: server-initiated messages queued so far, then each as it comes. One
/// stream at a time: a new GET replaces the old one, so each message goes to exactly one
/// stream.
pub(super) fn open_stream(router: &Mutex<Router>) -> Response {
    let (sender, receiver) = mpsc::channel::<Vec<u8>>(MAX_QUEUED);
    {
        let mut router = lock_router(router);
        while let Some(message) = router.queued.pop_front() {
            if sender.try_send(message).is_err() {
                break;
            }
        }
        router.stream = Some(sender);
    }
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let message = receiver.recv().await?;
        let event = Event::default()
            .event("message")
            .data(String::from_utf8_lossy(&message));
        Some((Ok::<_, std::convert::Infallible>(event), receiver))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

impl HttpSession {
    /// Carries out the judge's actions. Responses nobody waits for go to `unclaimed` when
    /// given (the POST being judged: its parse errors have no id to route by), else are
    /// dropped (their POST has gone).
    ///
    /// Messages are carried as the judge wrote them, never parsed whole or re-serialised:
    /// routing reads only their `id` and `method` ([`Head`]).
    ///
    /// `outbound`, given by a POST's handler, takes the messages for the upstream instead
    /// of the session's writer task: the handler sends them itself
    /// ([`HttpSession::send_upstream`]), which saves a task hand-off per call (two with a
    /// remote upstream).
    async fn perform(
        &self,
        actions: Vec<Action>,
        mut unclaimed: Option<&mut Vec<Vec<u8>>>,
        mut outbound: Option<&mut Vec<Vec<u8>>>,
    ) {
        for action in actions {
            match action {
                Action::ToUpstream(message) => {
                    if let Some(outbound) = outbound.as_deref_mut() {
                        outbound.push(message);
                        continue;
                    }
                    // A closed queue means the child is gone; the reader answers for it.
                    let _ = self.to_child.send(message).await;
                }
                Action::ToClient(message) => {
                    deliver_message(&self.router, message, unclaimed.as_deref_mut());
                }
            }
        }
    }

    /// Sends messages a POST's handler judged to the upstream, one after another, on the
    /// handler's own task (see `perform`'s `outbound`).
    async fn send_upstream(self: &Arc<Self>, messages: Vec<Vec<u8>>) {
        let Some((remote, upstream_session, version)) = self.remote.clone() else {
            if let Some(stdin) = &self.stdin {
                write_now_or_later(stdin.clone(), messages).await;
            }
            return;
        };
        for message in messages {
            remote_post(
                self.clone(),
                remote.clone(),
                upstream_session.clone(),
                version.clone(),
                message,
            )
            .await;
        }
    }

    /// The upstream has gone: every request in flight gets an error. A POST that reached
    /// the judge just before this looks at `closed` afterwards and answers its own
    /// requests the same way, so none waits for an upstream that is no longer there.
    async fn close_upstream(&self, why: &str) {
        self.closed.store(true, Ordering::SeqCst);
        let actions = self.judge.upstream_closed(why);
        self.perform(actions, None, None).await;
    }

    /// Kills the upstream and stops the session's tasks.
    async fn end(&self) {
        let child = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
        }
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect();
        for task in tasks {
            task.abort();
        }
        close_stream(&self.router);
        if let Some((remote, upstream_session, version)) = &self.remote {
            let id = upstream_session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let version = version
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            if let Some(id) = id {
                let mut request = remote
                    .client()
                    .delete(remote.url.clone())
                    .headers(remote.headers.clone())
                    .header(SESSION_HEADER, id);
                if let Some(version) = version {
                    request = request.header(VERSION_HEADER, version);
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), request.send()).await;
            }
        }
    }
}

/// Writes lines to an upstream's stdin from a POST's handler, which hyper drops when its
/// client goes away: a line cut off there would run into the next one. So the handler
/// only waits for the lock (nothing written yet) and offers each line once; what the pipe
/// does not take at once is finished by a task that holds the lock until it is done.
async fn write_now_or_later(stdin: Arc<ChildStdin>, messages: Vec<Vec<u8>>) {
    use std::task::Poll;
    use tokio::io::AsyncWriteExt;
    let mut stdin = stdin.lock_owned().await;
    let mut messages = messages.into_iter();
    while let Some(mut line) = messages.next() {
        line.push(b'\n');
        let offered = std::future::poll_fn(|context| {
            match std::pin::Pin::new(&mut **stdin).poll_write(context, &line) {
                Poll::Ready(result) => Poll::Ready(Some(result)),
                Poll::Pending => Poll::Ready(None),
            }
        })
        .await;
        let written = match offered {
            Some(Ok(written)) if written == line.len() => continue,
            Some(Ok(written)) => written,
            None => 0,
            // A broken pipe means the upstream is gone; the reader answers for it.
            Some(Err(_)) => return,
        };
        let rest: Vec<Vec<u8>> = messages.collect();
        tokio::spawn(async move {
            if stdin.write_all(&line[written..]).await.is_err() {
                return;
            }
            for message in rest {
                if super::stdio::write_line(&mut *stdin, message)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let _ = stdin.flush().await;
        });
        return;
    }
    // Pipes and the in-process server's buffer take a write whole; a flush here would
    // only be another poll.
}

/// Carries one session's messages to a remote server: each is POSTed on its own, with the
/// configured headers and the remote's session id only. A
/// failure is answered as if the remote had sent a JSON-RPC error, so the judge gives
/// back what the call reserved.
async fn remote_writer(session: Arc<HttpSession>, mut queue: mpsc::Receiver<Vec<u8>>) {
    let Some((remote, upstream_session, version)) = session.remote.clone() else {
        return;
    };
    while let Some(message) = queue.recv().await {
        // `initialize` (whose answer carries the remote's session id) and messages that
        // hold no request (notifications, responses: answered at once with 202) are sent
        // in order, each before the next; requests, which may take long, go concurrently.
        let heads = heads(&message);
        let is_initialize = heads
            .iter()
            .any(|head| head.method.as_ref().and_then(Value::as_str) == Some("initialize"));
        let holds_request = heads
            .iter()
            .any(|head| head.method.is_some() && head.id.is_some());
        let in_order = is_initialize || !holds_request;
        let job = remote_post(
            session.clone(),
            remote.clone(),
            upstream_session.clone(),
            version.clone(),
            message,
        );
        if in_order {
            job.await;
        } else {
            tokio::spawn(job);
        }
    }
}

async fn remote_post(
    session: Arc<HttpSession>,
    remote: Arc<Remote>,
    upstream_session: Arc<Mutex<Option<String>>>,
    version: Arc<Mutex<Option<String>>>,
    message: Vec<u8>,
) {
    let client = remote.client();
    super::remote::post_message(
        &client,
        &remote.url,
        &remote.headers,
        &upstream_session,
        &version,
        message,
        |answer| {
            let session = &session;
            async move {
                let actions = session.judge.from_upstream(&answer);
                session.perform(actions, None, None).await;
            }
        },
    )
    .await;
}

/// Remembers the protocol version the remote chose in its `initialize` answer, for the
/// `MCP-Protocol-Version` header of what follows.
pub(super) fn note_version(message: &[u8], version: &Mutex<Option<String>>) {
    // Only an `initialize` answer says it; the rest are not parsed again.
    if !contains(message, b"\"protocolVersion\"") {
        return;
    }
    let Ok(value) = serde_json::from_slice::<Value>(message) else {
        return;
    };
    if let Some(chosen) = value
        .pointer("/result/protocolVersion")
        .and_then(Value::as_str)
        .filter(|chosen| PROTOCOL_VERSIONS.contains(chosen))
    {
        *version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(chosen.to_owned());
    }
}

/// Takes the complete SSE events out of `buffer`, returning each one's data. An event
/// whose data is empty is not dispatched (as the SSE standard says): servers send such
/// events to prime a stream with an id to resume from, and they hold no message.
pub(super) fn take_events(buffer: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    loop {
        let text = String::from_utf8_lossy(buffer);
        let normalised = text.replace("\r\n", "\n");
        let Some(end) = normalised.find("\n\n") else {
            break;
        };
        let event = &normalised[..end];
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|data| data.strip_prefix(' ').unwrap_or(data))
            .collect();
        let data = data.join("\n");
        if !data.is_empty() {
            events.push(data.into_bytes());
        }
        let rest = normalised.as_bytes()[end + 2..].to_vec();
        *buffer = rest;
    }
    events
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

/// What routing needs of a JSON-RPC message: its `id` and `method`, each `Some` when the
/// key is present (even as `null`, as `Value::get` would say). The rest is skipped
/// without being built.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Head {
    #[serde(default, deserialize_with = "present")]
    pub(super) id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub(super) method: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(value).map(Some)
}

impl Head {
    /// An object holding just the id and method, for code that reads a `Value`.
    fn into_value(self) -> Value {
        let mut object = serde_json::Map::new();
        if let Some(id) = self.id {
            object.insert("id".to_owned(), id);
        }
        if let Some(method) = self.method {
            object.insert("method".to_owned(), method);
        }
        Value::Object(object)
    }
}

/// Small answers leave at once rather than waiting for an acknowledgement (Nagle).
pub(super) fn no_delay(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The [`Head`] of one message, or of each element of a batch (none when it does not
/// parse).
pub(super) fn heads(message: &[u8]) -> Vec<Head> {
    if is_array(message) {
        serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(message)
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_json::from_str::<Head>(item.get()).unwrap_or_default())
            .collect()
    } else {
        serde_json::from_slice::<Head>(message)
            .map(|head| vec![head])
            .unwrap_or_default()
    }
}

fn is_array(bytes: &[u8]) -> bool {
    bytes.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[')
}

/// One message from the judge, or each element of a batch, with its [`Head`]. A
/// message that does not parse is dropped (the judge only writes JSON).
fn split_messages(message: Vec<u8>) -> Vec<(Vec<u8>, Head)> {
    if !is_array(&message) {
        return match serde_json::from_slice::<Head>(&message) {
            Ok(head) => vec![(message, head)],
            Err(_) => Vec::new(),
        };
    }
    let Ok(items) = serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(&message) else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|item| {
            let head = serde_json::from_str::<Head>(item.get()).unwrap_or_default();
            (item.get().as_bytes().to_vec(), head)
        })
        .collect()
}

/// An HTTP-level refusal, before the judge sees anything.
pub(super) struct Refusal(Box<Response>);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

pub(super) fn refuse(code: StatusCode, message: &str) -> Refusal {
    Refusal(Box::new(status(code, message)))
}

pub(super) fn status(code: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": null,
        "error": {"code": -32600, "message": message}});
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The checks every method shares. Returns the grant the request holds.
pub(super) fn admit(app: &impl Admission, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(app, origin) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                &format!("Forbidden: the Origin {origin:?} is not allowed"),
            ));
        }
    }
    let grant = match app.grants() {
        None => None,
        Some(grants) => {
            let token = headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| {
                    value
                        .strip_prefix("Bearer ")
                        .or_else(|| value.strip_prefix("bearer "))
                })
                .map(str::trim);
            match token.and_then(|token| grants.lookup(token)) {
                Some(name) => Some(name.to_owned()),
                None => {
                    let mut response = status(
                        StatusCode::UNAUTHORIZED,
                        "Unauthorized: a valid bearer token is required",
                    );
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    return Err(Refusal(Box::new(response)));
                }
            }
        }
    };
    if let Some(version) = headers.get(VERSION_HEADER) {
        let version = version.to_str().unwrap_or("");
        if !PROTOCOL_VERSIONS.contains(&version) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Bad Request: unsupported MCP-Protocol-Version {version:?} (supported: {})",
                    PROTOCOL_VERSIONS.join(", ")
                ),
            ));
        }
    }
    Ok(grant)
}

fn origin_allowed(app: &impl Admission, origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    if app
        .allowed_origins()
        .iter()
        .any(|allowed| allowed == origin)
    {
        return true;
    }
    if !app.loopback() {
        return false;
    }
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(bracketed) = rest.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, port)) if port.is_empty() || is_port(port) => host,
            _ => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) if is_port(&format!(":{port}")) => host,
            Some(_) => return false,
            None => rest,
        }
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

/// The session named by the request's `Mcp-Session-Id`, refused (400, 404 or 403) when the
/// header is missing, the session is unknown, or it belongs to another credential than
/// `grant`.
pub(super) fn find_session<G: HttpGateway>(
    app: &G,
    headers: &HeaderMap,
    grant: &Option<String>,
) -> Result<Arc<G::Session>, Refusal> {
    let Some(id) = headers.get(SESSION_HEADER) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "Bad Request: Mcp-Session-Id header is required",
        ));
    };
    let id = id.to_str().unwrap_or("");
    let Some(session) = app.lock_sessions().get(id).cloned() else {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "Session not found: it ended or never existed; initialize again",
        ));
    };
    if session.grant() != grant {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "Forbidden: the session belongs to another credential",
        ));
    }
    Ok(session)
}

pub(super) fn accepts(headers: &HeaderMap, kind: &str) -> bool {
    match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => kind == "application/json",
        Some(accept) => accept.split(',').any(|part| {
            let media = part.split(';').next().unwrap_or("").trim();
            media == kind || media == "*/*"
        }),
    }
}

async fn post(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let grant = match admit(&app, &headers) {
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
    // A lenient read, only to know which requests this POST carries (for routing their
    // answers back) and whether it is an initialize; the judge parses strictly.
    // Only the id and method of a single message are built; batches and requests that
    // carry the method headers (checked against the body) are read whole.
    let read_whole =
        is_array(&body) || headers.contains_key("mcp-method") || headers.contains_key("mcp-name");
    let lenient: Option<Value> = match read_whole {
        false => serde_json::from_slice::<Head>(&body)
            .map(Head::into_value)
            .ok()
            .or_else(|| serde_json::from_slice(&body).ok()),
        true => serde_json::from_slice(&body).ok(),
    };
    let is_batch = matches!(lenient, Some(Value::Array(_)));
    let elements: Vec<&Value> = match &lenient {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    };
    let request_ids: Vec<String> = elements
        .iter()
        .filter(|item| item.get("method").is_some_and(Value::is_string))
        .filter_map(|item| item.get("id").map(id_key))
        .collect();
    let is_initialize = elements
        .iter()
        .any(|item| item.get("method").and_then(Value::as_str) == Some("initialize"));

    if let Err(refusal) = check_method_headers(&headers, is_batch, &elements) {
        return refusal.into_response();
    }
    if !headers.contains_key(SESSION_HEADER)
        && headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok()) == Some(STATELESS_VERSION)
    {
        return stateless::post(&app, &headers, &body, grant, is_batch, &elements, json_ok).await;
    }
    let (session, new_session) = if headers.contains_key(SESSION_HEADER) {
        match find_session(&*app, &headers, &grant) {
            Ok(session) => (session, false),
            Err(refusal) => return refusal.into_response(),
        }
    } else if is_initialize && !is_batch {
        match app.open_session(grant) {
            Ok(session) => (session, true),
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
        }
    } else {
        return status(
            StatusCode::BAD_REQUEST,
            "Bad Request: Mcp-Session-Id header is required (only a single initialize request may come without one)",
        );
    };

    let mut guard = Waiters::register(&session.router, &request_ids);
    let mut collected: Vec<Vec<u8>> = Vec::new();
    let mut outbound: Vec<Vec<u8>> = Vec::new();
    let actions = session.judge.from_client(&body);
    session
        .perform(actions, Some(&mut collected), Some(&mut outbound))
        .await;
    if session.closed.load(Ordering::SeqCst) {
        // The upstream went away while this POST was being judged (see `close_upstream`).
        let actions = session.judge.upstream_closed("it exited");
        session.perform(actions, Some(&mut collected), None).await;
    }
    let deadline = tokio::time::Instant::now()
        + session.judge.shared().config.call_timeout
        + Duration::from_secs(5);
    // This task sends what the judge let through (POSTs it to a remote, or writes it to
    // the upstream's stdin) while it waits for the answers: a timeout the judge declares
    // ends the wait even if the remote never answers. In order: an `initialize` answer
    // carries the remote's session id.
    let mut upstream_done = outbound.is_empty();
    let upstream = session.send_upstream(outbound);
    tokio::pin!(upstream);

    if request_ids.is_empty() {
        // A notification or a response: it reaches the remote before the client hears
        // 202, so what the client sends next cannot overtake it.
        if !upstream_done {
            let _ = tokio::time::timeout_at(deadline, &mut upstream).await;
        }
        drop(guard);
        if collected.is_empty() {
            return StatusCode::ACCEPTED.into_response();
        }
        // Nothing to wait for, but the judge refused something (a parse error).
        return reply(StatusCode::BAD_REQUEST, collected, is_batch, json_ok, None);
    }
    {
        let remaining = request_ids.iter().cloned().collect();
        let collecting = guard.collect(remaining, &mut collected, deadline);
        tokio::pin!(collecting);
        let answered = async {
            loop {
                tokio::select! {
                    biased;
                    () = &mut upstream, if !upstream_done => upstream_done = true,
                    () = &mut collecting => break,
                }
            }
        };
        spin_then_wait(answered, app.spin).await;
    }
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
    reply(StatusCode::OK, collected, is_batch, json_ok, session_header)
}

/// Polls `wait` for up to `spin` without letting the thread sleep, giving the event loop a
/// turn between polls (`yield_now` lets it look for I/O without blocking), then waits as
/// usual. On this project's VM a thread that sleeps in `epoll_wait` costs the waker an
/// interrupt to a halted CPU and tens of microseconds to wake; an upstream on loopback
/// usually answers within that time, so a short spin saves one such wake per call, for at
/// most `spin` of CPU. Other tasks on the thread still run between polls.
async fn spin_then_wait<F: std::future::Future>(wait: F, spin: Duration) -> F::Output {
    use std::task::Poll;
    tokio::pin!(wait);
    if !spin.is_zero() {
        let started = Instant::now();
        loop {
            let polled = std::future::poll_fn(|context| match wait.as_mut().poll(context) {
                Poll::Ready(output) => Poll::Ready(Some(output)),
                Poll::Pending => Poll::Ready(None),
            })
            .await;
            if let Some(output) = polled {
                return output;
            }
            if started.elapsed() >= spin {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    wait.await
}

/// The 2026-07-28 draft's `Mcp-Method` and `Mcp-Name` headers, when a client sends them,
/// must say what the body says: a proxy that routed or judged by the headers could
/// otherwise be told one thing and sent another. Checked for any revision.
pub(super) fn check_method_headers(
    headers: &HeaderMap,
    is_batch: bool,
    elements: &[&Value],
) -> Result<(), Refusal> {
    let method_header = headers.get("mcp-method");
    let name_header = headers.get("mcp-name");
    if method_header.is_none() && name_header.is_none() {
        return Ok(());
    }
    let mismatch = |what: &str| {
        Err(refuse(
            StatusCode::BAD_REQUEST,
            &format!("Bad Request: the {what} header does not match the message body"),
        ))
    };
    let [message] = elements else {
        return mismatch("Mcp-Method");
    };
    if is_batch {
        return mismatch("Mcp-Method");
    }
    let method = message.get("method").and_then(Value::as_str);
    if let Some(header) = method_header
        && method != Some(header.to_str().unwrap_or("\u{0}"))
    {
        return mismatch("Mcp-Method");
    }
    if let Some(header) = name_header {
        let params = message.get("params");
        let name = match method {
            Some("resources/read") => params.and_then(|p| p.get("uri")),
            _ => params.and_then(|p| p.get("name")),
        }
        .and_then(Value::as_str);
        if name != Some(header.to_str().unwrap_or("\u{0}")) {
            return mismatch("Mcp-Name");
        }
    }
    Ok(())
}

pub(super) fn reply(
    code: StatusCode,
    mut messages: Vec<Vec<u8>>,
    is_batch: bool,
    json: bool,
    session: Option<String>,
) -> Response {
    let mut response = if json {
        // The messages are the judge's JSON, joined as they are.
        let body = if is_batch || messages.len() > 1 {
            let mut body =
                Vec::with_capacity(messages.iter().map(|m| m.len() + 1).sum::<usize>() + 1);
            body.push(b'[');
            for (index, message) in messages.iter().enumerate() {
                if index > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(message);
            }
            body.push(b']');
            body
        } else {
            messages.pop().unwrap_or_else(|| b"null".to_vec())
        };
        (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            axum::body::Body::from(body),
        )
            .into_response()
    } else {
        let events: Vec<Result<Event, std::convert::Infallible>> = messages
            .iter()
            .map(|message| {
                Ok(Event::default()
                    .event("message")
                    .data(String::from_utf8_lossy(message)))
            })
            .collect();
        (code, Sse::new(futures_util::stream::iter(events))).into_response()
    };
    if let Some(value) = session.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::spin_then_wait;

    #[test]
    fn events_without_data_are_not_messages() {
        let mut buffer =
            b"id: 0\ndata: \n\n: a comment\n\nid: 1\ndata:\n\nevent: message\ndata: {\"a\":\r\ndata: 1}\r\n\r\nid: 2".to_vec();
        assert_eq!(super::take_events(&mut buffer), [b"{\"a\":\n1}".to_vec()]);
        assert_eq!(buffer, b"id: 2");
    }
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A future that is ready on its `ready_on`-th poll, counting its polls. It never
    /// registers a waker, so only polling (the spin) or a wake from elsewhere finishes it.
    struct ReadyOn {
        polls: Arc<AtomicUsize>,
        ready_on: usize,
    }

    impl std::future::Future for ReadyOn {
        type Output = usize;
        fn poll(
            self: std::pin::Pin<&mut Self>,
            context: &mut std::task::Context<'_>,
        ) -> std::task::Poll<usize> {
            let polls = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
            if polls >= self.ready_on {
                std::task::Poll::Ready(polls)
            } else {
                // Asks to be polled again, as an I/O readiness would.
                context.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_spin_polls_until_the_answer_is_there() {
        let polls = Arc::new(AtomicUsize::new(0));
        let wait = ReadyOn {
            polls: polls.clone(),
            ready_on: 5,
        };
        assert_eq!(spin_then_wait(wait, Duration::from_secs(5)).await, 5);
        assert_eq!(polls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn after_the_spin_it_waits_as_usual() {
        // Ready long after a 1 µs spin has run out: the plain wait finishes it.
        let polls = Arc::new(AtomicUsize::new(0));
        let wait = ReadyOn {
            polls: polls.clone(),
            ready_on: 2_000,
        };
        assert_eq!(spin_then_wait(wait, Duration::from_micros(1)).await, 2_000);
        // With no spin, the first poll is the plain wait's own.
        let polls = Arc::new(AtomicUsize::new(0));
        let wait = ReadyOn {
            polls: polls.clone(),
            ready_on: 1,
        };
        assert_eq!(spin_then_wait(wait, Duration::ZERO).await, 1);
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn other_tasks_run_while_it_spins() {
        let ran = Arc::new(AtomicUsize::new(0));
        let other = {
            let ran = ran.clone();
            tokio::spawn(async move {
                ran.store(1, Ordering::SeqCst);
            })
        };
        // The answer only comes once the other task has run on this same thread.
        let seen = ran.clone();
        let wait = std::future::poll_fn(move |context| {
            if seen.load(Ordering::SeqCst) == 1 {
                std::task::Poll::Ready(())
            } else {
                context.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        });
        tokio::time::timeout(
            Duration::from_secs(5),
            spin_then_wait(wait, Duration::from_secs(5)),
        )
        .await
        .expect("the spin yielded to the other task");
        other.await.unwrap();
    }
}
