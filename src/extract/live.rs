//! Live introspection: start a server over stdio with the rmcp client, initialize, page
//! through `tools/list` and return the tools as [`ToolDef`]s (method `live`).
//!
//! The child runs in its own process group with a cleared environment (only what the
//! caller names is passed), is killed when inspection ends, times out or fails, and its
//! stderr is captured (the last 64 KiB) so a failure can say why the server did not start.
//!
//! The client declares the roots, sampling, elicitation and tasks capabilities, because servers
//! register some tools only for clients that have them; requests for them are answered
//! with no roots and declined elicitations, and sampling is refused. A server that
//! announces `notifications/tools/list_changed` right after initialization (registering
//! tools late) is listed again once it has settled.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::ServiceExt;
use rmcp::model::{
    ClientCapabilities, ClientConfig, ElicitationCapability, Implementation, RootsCapabilities,
    SamplingCapability,
};
use rmcp::service::NotificationContext;
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;

use crate::model::{AnnotationSource, ExtractionMethod, ToolDef};

/// Bytes of the server's stderr kept for error messages.
const STDERR_KEEP: usize = 64 * 1024;

/// When no `--env PATH` is given the child gets this PATH, not the caller's: enough to find
/// `node`, `npx`, `python3` and `uvx` where system packages put them.
pub use crate::sandbox::DEFAULT_PATH;

#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Environment given to the server; nothing else is passed but PATH (see
    /// [`DEFAULT_PATH`]) unless it is set here.
    pub env: Vec<(String, String)>,
    /// For the whole inspection: spawn, initialize and listing.
    pub timeout: Duration,
    /// How long to wait for a late `tools/list_changed` after the first listing.
    pub settle: Duration,
    /// Run the server in this cage (`None`: unsandboxed, only for servers you trust).
    pub sandbox: Option<(crate::sandbox::Sandbox, crate::sandbox::Spec)>,
    /// Bytes of stdout read at most before the server is stopped.
    pub output_limit: u64,
}

impl LiveOptions {
    pub fn new(command: Vec<String>) -> Self {
        LiveOptions {
            command,
            env: Vec::new(),
            timeout: Duration::from_secs(30),
            settle: Duration::from_millis(300),
            sandbox: None,
            output_limit: 64 << 20,
        }
    }
}

/// What a live server said about itself.
#[derive(Debug, Clone, Serialize)]
pub struct LiveServer {
    pub name: String,
    pub version: String,
    pub protocol_version: String,
    pub tools: Vec<ToolDef>,
    /// How many `tools/list` pages were read (over all listings).
    pub pages: usize,
    pub elapsed_ms: u64,
    /// The last of the server's stderr.
    pub stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no command given: pass the server command after `--`")]
    NoCommand,
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` did not complete initialize: {message}{}", stderr_tail(.stderr))]
    Initialize {
        command: String,
        message: String,
        stderr: String,
    },
    #[error("`{command}` failed tools/list: {message}{}", stderr_tail(.stderr))]
    List {
        command: String,
        message: String,
        stderr: String,
    },
    #[error(
        "`{command}` wrote more than {megabytes} MB to stdout; stopped (a listing is far smaller)"
    )]
    OutputLimit { command: String, megabytes: u64 },
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error("`{command}` did not answer within {seconds} s{}", stderr_tail(.stderr))]
    Timeout {
        command: String,
        seconds: u64,
        stderr: String,
    },
}

fn stderr_tail(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        let lines: Vec<&str> = trimmed.lines().collect();
        let start = lines.len().saturating_sub(12);
        format!("\n  server stderr:\n    {}", lines[start..].join("\n    "))
    }
}

/// The client side: capabilities declared, list changes noticed.
#[derive(Clone)]
struct Inspector {
    info: ClientConfig,
    list_changed: Arc<AtomicBool>,
}

impl rmcp::ClientHandler for Inspector {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<rmcp::RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.list_changed.store(true, Ordering::SeqCst);
        std::future::ready(())
    }
}

/// Starts the server, lists its tools and stops it.
pub async fn inspect(options: &LiveOptions) -> Result<LiveServer, LiveError> {
    let (program, args) = options.command.split_first().ok_or(LiveError::NoCommand)?;
    let display = options.command.join(" ");
    let started = Instant::now();

    let mut command = match &options.sandbox {
        Some((sandbox, spec)) => {
            let mut spec = spec.clone();
            spec.env.extend(options.env.iter().cloned());
            let (bwrap, argv) = sandbox.argv(&spec, program, args)?;
            let mut command = tokio::process::Command::new(bwrap);
            command.args(argv).env_clear();
            command
        }
        None => {
            let mut command = tokio::process::Command::new(program);
            command.args(args).env_clear().env("PATH", DEFAULT_PATH);
            for (name, value) in &options.env {
                command.env(name, value);
            }
            command
        }
    };
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut wrapped = CommandWrap::from(command);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let spawn_error = |source| LiveError::Spawn {
        command: display.clone(),
        source,
    };
    let mut child = wrapped.spawn().map_err(spawn_error)?;
    let missing = || spawn_error(std::io::Error::other("the child has no stdio pipes"));
    let stdout = child.stdout().take().ok_or_else(missing)?;
    let stdin = child.stdin().take().ok_or_else(missing)?;
    let stderr = child.stderr().take();
    let over_limit = Arc::new(AtomicBool::new(false));
    let transport = (
        CappedReader {
            inner: stdout,
            left: options.output_limit,
            over_limit: Arc::clone(&over_limit),
        },
        stdin,
    );

    let captured = Arc::new(Mutex::new(VecDeque::<u8>::new()));
    if let Some(mut stderr) = stderr {
        let captured = Arc::clone(&captured);
        tokio::spawn(async move {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = stderr.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                let mut kept = captured.lock().await;
                kept.extend(&buffer[..read]);
                let excess = kept.len().saturating_sub(STDERR_KEEP);
                kept.drain(..excess);
            }
        });
    }
    let stderr_text = || async {
        let kept = captured.lock().await;
        String::from_utf8_lossy(&kept.iter().copied().collect::<Vec<u8>>()).into_owned()
    };

    let list_changed = Arc::new(AtomicBool::new(false));
    let mut capabilities = ClientCapabilities::default();
    capabilities.roots = Some(RootsCapabilities::default());
    capabilities.sampling = Some(SamplingCapability::default());
    capabilities.elicitation = Some(
        ElicitationCapability::new()
            .with_form(Default::default())
            .with_url(Default::default()),
    );
    // Tasks, the way rmcp 3 declares them: the `io.modelcontextprotocol/tasks` extension
    // (SEP-2663). Servers written against the earlier drafts read a top-level
    // `capabilities.tasks` object instead, which rmcp's typed `ClientCapabilities` has no
    // field for, so tools gated on that stay unlisted (tests/inspect.rs derives them).
    capabilities
        .extensions
        .get_or_insert_with(Default::default)
        .insert(
            rmcp::model::TASKS_EXTENSION_ID.to_owned(),
            Default::default(),
        );
    let info = ClientConfig::new(
        capabilities,
        Implementation::new("mcpwarden-inspect", env!("CARGO_PKG_VERSION")),
    );
    let inspector = Inspector {
        info,
        list_changed: Arc::clone(&list_changed),
    };

    let work = async {
        let client = inspector
            .serve(transport)
            .await
            .map_err(|error| (Stage::Initialize, error.to_string()))?;
        let peer = client.peer_info().ok_or((
            Stage::Initialize,
            "the server sent no initialize result".to_owned(),
        ))?;
        let mut pages = 0usize;
        let mut tools = list_all(&client, &mut pages).await?;
        // A server that registers tools after initialization says so with list_changed;
        // give it a moment, then list again.
        tokio::time::sleep(options.settle).await;
        if list_changed.swap(false, Ordering::SeqCst) {
            tools = list_all(&client, &mut pages).await?;
        }
        // Dropping the client closes the transport; the child's process group is killed
        // when the child is dropped below (nothing is lost by stopping a listing server).
        drop(client);
        Ok::<_, (Stage, String)>((peer, tools, pages))
    };

    let outcome = tokio::time::timeout(options.timeout, work).await;
    let mut stderr = stderr_text().await;
    if outcome.as_ref().is_ok_and(Result::is_ok) {
        // Dropping the child kills its process group (the server's whole tree).
        drop(child);
    } else {
        if over_limit.load(Ordering::SeqCst) {
            return Err(LiveError::OutputLimit {
                command: display,
                megabytes: options.output_limit >> 20,
            });
        }
        if let Some(note) = exit_note(child.as_mut()).await {
            stderr.push_str(&note);
        }
    }
    let (peer, tools, pages) = match outcome {
        Err(_) => {
            return Err(LiveError::Timeout {
                command: display,
                seconds: options.timeout.as_secs(),
                stderr,
            });
        }
        Ok(Err((Stage::Initialize, message))) => {
            return Err(LiveError::Initialize {
                command: display,
                message,
                stderr,
            });
        }
        Ok(Err((Stage::List, message))) => {
            return Err(LiveError::List {
                command: display,
                message,
                stderr,
            });
        }
        Ok(Ok(done)) => done,
    };

    let tools = tools.iter().map(tool_def).collect();
    Ok(LiveServer {
        name: peer
            .server_info
            .as_ref()
            .map_or_else(|| "(unnamed server)".to_owned(), |info| info.name.clone()),
        version: peer
            .server_info
            .as_ref()
            .map(|info| info.version.clone())
            .unwrap_or_default(),
        protocol_version: peer.protocol_version.to_string(),
        tools,
        pages,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        stderr,
    })
}

/// How the server ended, when it did end by itself soon after a failure: a signal names
/// the limit that most likely sent it.
async fn exit_note(child: &mut dyn process_wrap::tokio::ChildWrapper) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    let status = tokio::time::timeout(Duration::from_millis(500), child.wait())
        .await
        .ok()?
        .ok()?;
    // The sandbox (bubblewrap) and shells report a child killed by signal N as 128 + N.
    let signal = status.signal().or_else(|| {
        status
            .code()
            .filter(|code| (129..=192).contains(code))
            .map(|code| code - 128)
    });
    Some(match (signal, status.code()) {
        (Some(9), _) => "\n[the server was killed (SIGKILL): a memory or CPU limit]".to_owned(),
        (Some(24), _) => "\n[the server used up its CPU-time limit (SIGXCPU)]".to_owned(),
        (Some(25), _) => "\n[the server wrote a file over the size limit (SIGXFSZ)]".to_owned(),
        (Some(signal), _) => format!("\n[the server was ended by signal {signal}]"),
        (None, Some(code)) => format!("\n[the server exited with status {code}]"),
        (None, None) => return None,
    })
}

/// The server's stdout, cut off after a byte budget: rmcp reads lines without a bound, so
/// a server printing gigabytes would otherwise be buffered whole.
struct CappedReader<R> {
    inner: R,
    left: u64,
    over_limit: Arc<AtomicBool>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for CappedReader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            self.over_limit.store(true, Ordering::SeqCst);
            return std::task::Poll::Ready(Err(std::io::Error::other("output limit reached")));
        }
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(context, buf);
        let read = (buf.filled().len() - before) as u64;
        self.left = self.left.saturating_sub(read);
        poll
    }
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    Initialize,
    List,
}

/// Pages through `tools/list` (the cursor loop is rmcp's `list_tools`; we count pages and
/// stop on a cursor the server repeats, which would otherwise loop forever).
async fn list_all(
    client: &rmcp::service::RunningService<rmcp::RoleClient, Inspector>,
    pages: &mut usize,
) -> Result<Vec<rmcp::model::Tool>, (Stage, String)> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    let mut seen_cursors = std::collections::HashSet::new();
    loop {
        let mut request = rmcp::model::PaginatedRequestParams::default();
        request.cursor = cursor.clone();
        let page = client
            .list_tools(Some(request))
            .await
            .map_err(|error| (Stage::List, error.to_string()))?;
        *pages += 1;
        tools.extend(page.tools);
        match page.next_cursor {
            Some(next) if seen_cursors.insert(next.clone()) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(tools)
}

/// A listed tool as a [`ToolDef`]: the wire form, so nothing rmcp models differently is lost.
fn tool_def(tool: &rmcp::model::Tool) -> ToolDef {
    let wire = serde_json::to_value(tool).unwrap_or_default();
    let annotations = wire
        .get("annotations")
        .filter(|value| value.as_object().is_some_and(|object| !object.is_empty()))
        .cloned();
    ToolDef {
        name: tool.name.to_string(),
        title: tool.title.clone(),
        description: tool.description.as_deref().unwrap_or_default().to_owned(),
        input_schema: wire
            .get("inputSchema")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object"})),
        annotation_source: if annotations.is_some() {
            AnnotationSource::Declared
        } else {
            AnnotationSource::Absent
        },
        annotations,
        method: ExtractionMethod::Live,
        location: None,
        confidence: 1.0,
    }
}
