//! The stdio transport: the client talks newline-delimited JSON-RPC on our stdin/stdout;
//! the upstream is a child process we spawn and talk to the same way. Messages are relayed
//! in order in each direction, through the judge. The child's stderr is ours.
//!
//! Lifetime: we exit when the child exits, with its exit code, after answering the
//! client's requests still in flight with an error. When the client goes away (our stdin
//! closes), requests already sent get up to [`CHILD_GRACE`] to be answered, then the
//! child's stdin is closed; it gets [`CHILD_GRACE`] more to exit, then it is killed.
//! SIGINT and SIGTERM kill the child and exit with 130 and 143; SIGHUP reloads the policy.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::judge::{Action, Session};

/// How long a child gets to exit on its own after the client has gone.
pub const CHILD_GRACE: Duration = Duration::from_secs(5);

/// Upstream lines longer than this are dropped (and said so) rather than buffered.
const MAX_UPSTREAM_LINE: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("no server command given (put it after `--`)")]
    NoCommand,
    #[error("cannot start the server `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot wait for the server `{command}`")]
    Wait {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// What ended the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The child exited (on its own or after the client left) with this code.
    ChildExited(i32),
    /// We got SIGINT or SIGTERM and killed the child; the conventional 128 + signal.
    Signalled(i32),
}

impl Ending {
    pub fn code(self) -> i32 {
        match self {
            Ending::ChildExited(code) | Ending::Signalled(code) => code,
        }
    }
}

/// Runs the gateway until the child exits, the client leaves, or a signal arrives.
pub async fn run(
    session: Arc<Session>,
    command: &[OsString],
    policy_path: Option<PathBuf>,
    watch: bool,
) -> Result<Ending, StdioError> {
    let (program, args) = command.split_first().ok_or(StdioError::NoCommand)?;
    let shown = program.to_string_lossy().into_owned();
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| StdioError::Spawn {
            command: shown.clone(),
            source,
        })?;
    let (Some(child_stdin), Some(child_stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(StdioError::Spawn {
            command: shown,
            source: std::io::Error::other("the child's pipes were not created"),
        });
    };

    // `None` closes the child's stdin: the client has gone, the child should finish.
    let (to_child, mut child_queue) = mpsc::channel::<Option<Vec<u8>>>(1024);
    let (to_client, mut client_queue) = mpsc::channel::<Vec<u8>>(1024);

    let child_writer = tokio::spawn(async move {
        let mut stdin = child_stdin;
        while let Some(Some(message)) = child_queue.recv().await {
            if write_line(&mut stdin, message).await.is_err() {
                break;
            }
        }
        // Dropping stdin closes the child's input: how a stdio server learns we are done.
    });
    let client_writer = tokio::spawn(async move {
        let mut stdout = client_output();
        while let Some(message) = client_queue.recv().await {
            if write_line(&mut stdout, message).await.is_err() {
                break;
            }
        }
    });

    let max_message = session.shared().config.max_message_bytes;
    let client_reader = {
        let session = session.clone();
        let to_child = to_child.clone();
        let to_client = to_client.clone();
        tokio::spawn(async move {
            let mut stdin = BufReader::with_capacity(64 << 10, client_input());
            let mut line = Vec::new();
            loop {
                let actions = match read_line_capped(&mut stdin, &mut line, max_message).await {
                    Ok(Line::Eof) | Err(_) => break,
                    Ok(Line::TooLong(length)) => session.oversized_from_client(length),
                    Ok(Line::Text) if is_blank(&line) => continue,
                    Ok(Line::Text) => session.from_client(&line),
                };
                dispatch(actions, &to_child, &to_client).await;
            }
            // Let requests already sent be answered before the child's input closes.
            let deadline = Instant::now() + CHILD_GRACE;
            while session.in_flight() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = to_child.send(None).await;
        })
    };
    let upstream_reader = {
        let session = session.clone();
        let to_client = to_client.clone();
        let to_child = to_child.clone();
        tokio::spawn(async move {
            let mut stdout = BufReader::with_capacity(64 << 10, child_stdout);
            let mut line = Vec::new();
            loop {
                let actions = match read_line_capped(&mut stdout, &mut line, MAX_UPSTREAM_LINE)
                    .await
                {
                    Ok(Line::Eof) | Err(_) => break,
                    Ok(Line::TooLong(length)) => {
                        eprintln!(
                            "mcpwarden: dropped a message from the upstream of {length} bytes or more"
                        );
                        continue;
                    }
                    Ok(Line::Text) if is_blank(&line) => continue,
                    Ok(Line::Text) => session.from_upstream(&line),
                };
                dispatch(actions, &to_child, &to_client).await;
            }
        })
    };
    let ticker = {
        let session = session.clone();
        let to_client = to_client.clone();
        let to_child = to_child.clone();
        tokio::spawn(async move {
            let period = (session.shared().config.call_timeout / 10)
                .clamp(Duration::from_millis(10), Duration::from_millis(250));
            let mut interval = tokio::time::interval(period);
            loop {
                interval.tick().await;
                let actions = session.expire(Instant::now());
                dispatch(actions, &to_child, &to_client).await;
            }
        })
    };
    drop(to_child);

    let _watcher = policy_path.as_ref().filter(|_| watch).and_then(|path| {
        super::reload::watch(path, session.shared().clone())
            .map_err(|error| eprintln!("mcpwarden: {error}; reload with SIGHUP instead"))
            .ok()
    });
    let mut signals = Signals::new();
    let mut client_reader = client_reader;
    let wait_error = |source| StdioError::Wait {
        command: shown.clone(),
        source,
    };
    let ending = loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(wait_error)?;
                break Ending::ChildExited(exit_code(status));
            }
            _ = &mut client_reader => {
                // The client left: stop the child's input, give it time to finish.
                ticker.abort();
                match tokio::time::timeout(CHILD_GRACE, child.wait()).await {
                    Ok(status) => break Ending::ChildExited(exit_code(status.map_err(wait_error)?)),
                    Err(_) => {
                        let _ = child.start_kill();
                        let status = child.wait().await.map_err(wait_error)?;
                        break Ending::ChildExited(exit_code(status));
                    }
                }
            }
            signal = signals.next() => match signal {
                Signal::Reload => {
                    if let Some(path) = &policy_path {
                        super::reload::reload_now(path, session.shared());
                    }
                }
                Signal::Stop(code) => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    break Ending::Signalled(code);
                }
            }
        }
    };
    // Whatever the child wrote before it exited is still relayed, then every request left
    // unanswered gets an error.
    let _ = tokio::time::timeout(Duration::from_secs(2), upstream_reader).await;
    ticker.abort();
    client_reader.abort();
    let closed = session.upstream_closed(&match ending {
        Ending::ChildExited(code) => format!("it exited with code {code}"),
        Ending::Signalled(_) => "the gateway was stopped".to_owned(),
    });
    for action in closed {
        if let Action::ToClient(message) = action {
            let _ = to_client.send(message).await;
        }
    }
    drop(to_client);
    let _ = tokio::time::timeout(Duration::from_secs(2), client_writer).await;
    child_writer.abort();
    Ok(ending)
}

pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

async fn dispatch(
    actions: Vec<Action>,
    to_child: &mpsc::Sender<Option<Vec<u8>>>,
    to_client: &mpsc::Sender<Vec<u8>>,
) {
    for action in actions {
        // A closed queue means that side is gone; what it would have carried is answered
        // (or no longer matters) through the shutdown path.
        let _ = match action {
            Action::ToUpstream(message) => to_child.send(Some(message)).await.is_ok(),
            Action::ToClient(message) => to_client.send(message).await.is_ok(),
        };
    }
}

/// Our stdin as an async reader. A pipe or a socket (what MCP clients give a stdio server)
/// is read on the runtime's own event loop; `tokio::io::stdin()` instead does every read on
/// tokio's blocking pool, one more thread wake-up per message on the path whose latency
/// the gateway adds. Anything else (a terminal, a file) falls back to it.
pub(crate) fn client_input() -> Box<dyn tokio::io::AsyncRead + Unpin + Send> {
    match evented(std::io::stdin().as_fd()) {
        Some(Evented::Pipe(fd)) => {
            if let Ok(pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
                return Box::new(pipe);
            }
        }
        Some(Evented::Socket(stream)) => return Box::new(stream),
        None => {}
    }
    Box::new(tokio::io::stdin())
}

/// Our stdout as an async writer, on the event loop when it is a pipe or a socket (see
/// [`client_input`]).
pub(crate) fn client_output() -> Box<dyn tokio::io::AsyncWrite + Unpin + Send> {
    match evented(std::io::stdout().as_fd()) {
        Some(Evented::Pipe(fd)) => {
            if let Ok(pipe) = tokio::net::unix::pipe::Sender::from_owned_fd(fd) {
                return Box::new(pipe);
            }
        }
        Some(Evented::Socket(stream)) => return Box::new(stream),
        None => {}
    }
    Box::new(tokio::io::stdout())
}

enum Evented {
    Pipe(std::os::fd::OwnedFd),
    Socket(tokio::net::UnixStream),
}

/// A duplicate of `fd` that the event loop can wait on, if it is a pipe or a Unix socket.
/// The duplicate shares the open file: making it non-blocking makes fd 0 or 1 non-blocking
/// too, which is what we want, since nothing else in the process reads or writes them.
fn evented(fd: std::os::fd::BorrowedFd<'_>) -> Option<Evented> {
    use std::os::unix::fs::FileTypeExt;
    let owned = fd.try_clone_to_owned().ok()?;
    let kind = std::fs::File::from(owned.try_clone().ok()?)
        .metadata()
        .ok()?
        .file_type();
    if kind.is_fifo() {
        Some(Evented::Pipe(owned))
    } else if kind.is_socket() {
        let stream = std::os::unix::net::UnixStream::from(owned);
        stream.set_nonblocking(true).ok()?;
        tokio::net::UnixStream::from_std(stream)
            .ok()
            .map(Evented::Socket)
    } else {
        None
    }
}

/// Writes one message and its newline in a single write: the reader wakes once, for a
/// whole line. (Two writes cost a second pipe wake-up on the other side and, on our
/// stdout, a second trip through tokio's blocking pool before the line is complete.)
pub(crate) async fn write_line(
    writer: &mut (impl tokio::io::AsyncWrite + Unpin),
    mut message: Vec<u8>,
) -> std::io::Result<()> {
    message.push(b'\n');
    writer.write_all(&message).await?;
    writer.flush().await
}

/// What one read gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line is in the buffer (without its newline).
    Text,
    /// The line was longer than the cap; it was read and thrown away, this many bytes of it.
    TooLong(usize),
    Eof,
}

/// Reads one line into `line`, never holding more than `max` bytes of it.
pub async fn read_line_capped(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    line.clear();
    let mut length = 0usize;
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if too_long {
                Line::TooLong(length)
            } else if length == 0 {
                Line::Eof
            } else {
                Line::Text
            });
        }
        let (chunk, found_newline) = match available.iter().position(|&byte| byte == b'\n') {
            Some(index) => (&available[..index], Some(index)),
            None => (available, None),
        };
        length += chunk.len();
        if !too_long {
            if length > max {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let consumed = found_newline.map_or(chunk.len(), |index| index + 1);
        reader.consume(consumed);
        if found_newline.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(if too_long {
                Line::TooLong(length)
            } else {
                Line::Text
            });
        }
    }
}

pub(crate) enum Signal {
    Reload,
    Stop(i32),
}

pub(crate) struct Signals {
    hangup: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub(crate) fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            hangup: signal(SignalKind::hangup()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    pub(crate) async fn next(&mut self) -> Signal {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    if signal.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = recv(&mut self.hangup) => Signal::Reload,
            () = recv(&mut self.interrupt) => Signal::Stop(130),
            () = recv(&mut self.terminate) => Signal::Stop(143),
        }
    }
}
