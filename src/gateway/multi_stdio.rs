//! The stdio transport for several servers (`gateway --config FILE`): the client talks
//! newline-delimited JSON-RPC on our stdin/stdout; each server in the config is a child
//! process spoken to the same way. [`Multi`] routes every message.
//!
//! Lifetime: a server that exits loses its tools and the others go on; we exit when every
//! server has exited (with the highest exit code among them), when the client goes away
//! (requests in flight get [`CHILD_GRACE`] to be answered, then every child's stdin is
//! closed, and a child still running [`CHILD_GRACE`] later is killed), or on SIGINT and
//! SIGTERM (every child killed; 130 and 143). SIGHUP reloads every server's policy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use super::config::ServerConfig;
use super::judge::Shared;
use super::multi::{Multi, Routed};
use super::stdio::{CHILD_GRACE, Line, Signal, Signals, read_line_capped};

/// Upstream lines longer than this are dropped (and said so) rather than buffered.
const MAX_UPSTREAM_LINE: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum MultiStdioError {
    #[error("cannot start server {server:?} (`{command}`)")]
    Spawn {
        server: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// Each server's policy file and the shared state it reloads into.
pub type Reloads = Vec<(PathBuf, Arc<Shared>)>;

/// Where the messages for each server go: `None` closes its stdin.
type ChildQueues = Arc<Vec<mpsc::Sender<Option<Vec<u8>>>>>;

/// Runs until every server has exited, the client leaves or a signal arrives; returns
/// the exit code.
pub async fn run(
    multi: Arc<Multi>,
    servers: &[ServerConfig],
    reloads: Reloads,
    watch_files: bool,
) -> Result<i32, MultiStdioError> {
    let (to_client, mut client_queue) = mpsc::channel::<Vec<u8>>(1024);
    let (stop, stopped) = watch::channel(false);
    let (exited, mut exits) = mpsc::channel::<i32>(servers.len().max(1));
    let mut queues = Vec::new();
    let mut child_tasks = Vec::new();
    let mut readers = Vec::new();
    let mut remotes = Vec::new();
    for (index, server) in servers.iter().enumerate() {
        if let Some(entry) = &server.remote {
            let (to_remote, remote_queue) = mpsc::channel::<Option<Vec<u8>>>(1024);
            queues.push(to_remote);
            remotes.push((index, entry.clone(), remote_queue));
            continue;
        }
        let shown = server.command[0].to_string_lossy().into_owned();
        let spawn_error = |source| MultiStdioError::Spawn {
            server: server.name.clone(),
            command: shown.clone(),
            source,
        };
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
        let mut child = command.spawn().map_err(spawn_error)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(spawn_error(std::io::Error::other(
                "the child's pipes were not created",
            )));
        };
        let (to_child, mut child_queue) = mpsc::channel::<Option<Vec<u8>>>(1024);
        queues.push(to_child);
        child_tasks.push(tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(Some(message)) = child_queue.recv().await {
                if write_line(&mut stdin, &message).await.is_err() {
                    break;
                }
            }
        }));
        readers.push((index, stdout, child));
    }
    let queues: ChildQueues = Arc::new(queues);
    for (index, entry, remote_queue) in remotes {
        let deliver: super::remote::Deliver = {
            let (multi, queues, to_client) = (multi.clone(), queues.clone(), to_client.clone());
            Arc::new(move |message: Vec<u8>| {
                let (multi, queues, to_client) = (multi.clone(), queues.clone(), to_client.clone());
                Box::pin(async move {
                    let routed = multi.from_upstream(index, &message);
                    dispatch(routed, &queues, &to_client).await;
                })
            })
        };
        let (multi, queues, to_client) = (multi.clone(), queues.clone(), to_client.clone());
        let exited = exited.clone();
        let mut stopped = stopped.clone();
        child_tasks.push(tokio::spawn(async move {
            // Ends when the client leaves (its queue is closed) or the gateway stops.
            let why = tokio::select! {
                () = super::remote::relay(&entry, remote_queue, deliver) => "its session was closed",
                _ = stopped.changed() => "the gateway was stopped",
            };
            let routed = multi.upstream_closed(index, why);
            dispatch(routed, &queues, &to_client).await;
            let _ = exited.send(0).await;
        }));
    }
    for (index, stdout, mut child) in readers {
        let multi = multi.clone();
        let queues = queues.clone();
        let to_client = to_client.clone();
        let exited = exited.clone();
        let mut stopped = stopped.clone();
        child_tasks.push(tokio::spawn(async move {
            let mut stdout = BufReader::with_capacity(64 << 10, stdout);
            let mut line = Vec::new();
            let mut killed = false;
            loop {
                let read = tokio::select! {
                    read = read_line_capped(&mut stdout, &mut line, MAX_UPSTREAM_LINE) => read,
                    _ = stopped.changed() => {
                        let _ = child.start_kill();
                        killed = true;
                        break;
                    }
                };
                let routed = match read {
                    Ok(Line::Eof) | Err(_) => break,
                    Ok(Line::TooLong(length)) => {
                        eprintln!(
                            "mcpwarden: dropped a message of {length} bytes or more from server {}",
                            multi.server_name(index)
                        );
                        continue;
                    }
                    Ok(Line::Text) if line.iter().all(u8::is_ascii_whitespace) => continue,
                    Ok(Line::Text) => multi.from_upstream(index, &line),
                };
                dispatch(routed, &queues, &to_client).await;
            }
            // Its output has ended: wait for it to exit (killing it if it lingers).
            let status = match tokio::time::timeout(CHILD_GRACE, child.wait()).await {
                Ok(status) => status.ok(),
                Err(_) => {
                    let _ = child.start_kill();
                    child.wait().await.ok()
                }
            };
            let code = status.map_or(1, super::stdio::exit_code);
            let why = if killed {
                "the gateway was stopped".to_owned()
            } else {
                eprintln!(
                    "mcpwarden: server {} exited with code {code}",
                    multi.server_name(index)
                );
                format!("it exited with code {code}")
            };
            let routed = multi.upstream_closed(index, &why);
            dispatch(routed, &queues, &to_client).await;
            let _ = exited.send(code).await;
        }));
    }
    drop(exited);
    let client_writer = tokio::spawn(async move {
        let mut stdout = super::stdio::client_output();
        while let Some(message) = client_queue.recv().await {
            if write_line(&mut stdout, &message).await.is_err() {
                break;
            }
        }
    });
    let max_message = multi
        .judge(0)
        .map_or(4 << 20, |judge| judge.shared().config.max_message_bytes);
    let mut client_reader = {
        let multi = multi.clone();
        let queues = queues.clone();
        let to_client = to_client.clone();
        tokio::spawn(async move {
            let mut stdin = BufReader::with_capacity(64 << 10, super::stdio::client_input());
            let mut line = Vec::new();
            loop {
                let routed = match read_line_capped(&mut stdin, &mut line, max_message).await {
                    Ok(Line::Eof) | Err(_) => break,
                    Ok(Line::TooLong(length)) => multi.oversized_from_client(length),
                    Ok(Line::Text) if line.iter().all(u8::is_ascii_whitespace) => continue,
                    Ok(Line::Text) => multi.from_client(&line),
                };
                dispatch(routed, &queues, &to_client).await;
            }
            let deadline = Instant::now() + CHILD_GRACE;
            while multi.in_flight() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            for queue in queues.iter() {
                let _ = queue.send(None).await;
            }
        })
    };
    let ticker = {
        let multi = multi.clone();
        let queues = queues.clone();
        let to_client = to_client.clone();
        let period = multi
            .judge(0)
            .map_or(Duration::from_millis(250), |judge| {
                judge.shared().config.call_timeout / 10
            })
            .clamp(Duration::from_millis(10), Duration::from_millis(250));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            loop {
                interval.tick().await;
                dispatch(multi.expire(Instant::now()), &queues, &to_client).await;
            }
        })
    };
    let _watchers: Vec<_> = if watch_files {
        reloads
            .iter()
            .filter_map(|(path, shared)| {
                super::reload::watch(path, shared.clone())
                    .map_err(|error| eprintln!("mcpwarden: {error}; reload with SIGHUP instead"))
                    .ok()
            })
            .collect()
    } else {
        Vec::new()
    };

    let mut signals = Signals::new();
    let mut remaining = servers.len();
    let mut highest = 0;
    let code = loop {
        tokio::select! {
            code = exits.recv() => match code {
                Some(code) => {
                    highest = highest.max(code);
                    remaining -= 1;
                    if remaining == 0 {
                        break highest;
                    }
                }
                None => break highest,
            },
            _ = &mut client_reader => {
                // The client left and every child's stdin is closed: give them time.
                ticker.abort();
                let deadline = tokio::time::Instant::now() + CHILD_GRACE * 2;
                while remaining > 0 {
                    match tokio::time::timeout_at(deadline, exits.recv()).await {
                        Ok(Some(code)) => {
                            highest = highest.max(code);
                            remaining -= 1;
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
                break highest;
            }
            signal = signals.next() => match signal {
                Signal::Reload => {
                    for (path, shared) in &reloads {
                        super::reload::reload_now(path, shared);
                    }
                }
                Signal::Stop(code) => {
                    let _ = stop.send(true);
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
                    while remaining > 0 {
                        match tokio::time::timeout_at(deadline, exits.recv()).await {
                            Ok(Some(_)) => remaining -= 1,
                            Ok(None) | Err(_) => break,
                        }
                    }
                    break code;
                }
            }
        }
    };
    let _ = stop.send(true);
    ticker.abort();
    client_reader.abort();
    for task in &child_tasks {
        task.abort();
    }
    drop(to_client);
    drop(queues);
    let _ = tokio::time::timeout(Duration::from_secs(2), client_writer).await;
    Ok(code)
}

async fn dispatch(routed: Vec<Routed>, queues: &ChildQueues, to_client: &mpsc::Sender<Vec<u8>>) {
    for item in routed {
        // A closed queue means that side is gone; the shutdown path answers for it.
        match item {
            Routed::ToUpstream(index, message) => {
                if let Some(queue) = queues.get(index) {
                    let _ = queue.send(Some(message)).await;
                }
            }
            Routed::ToClient(message) => {
                let _ = to_client.send(message).await;
            }
        }
    }
}

async fn write_line(
    writer: &mut (impl tokio::io::AsyncWrite + Unpin),
    message: &[u8],
) -> std::io::Result<()> {
    writer.write_all(message).await?;
    writer.write_all(b"\n").await?;
    writer.flush().await
}
