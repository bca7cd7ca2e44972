//! What the gateway adds to a `tools/call`.
//!
//! - `judge/*` (criterion): the in-process cost of judging one call and its answer.
//! - `stdio/*` (criterion): one `tools/call` round trip to the test server over stdio,
//!   called directly and through `mcpwarden gateway`; the difference is the added latency.
//! - After criterion, a load driver makes `MCPWARDEN_BENCH_CALLS` (default 5,000)
//!   sequential round trips each way and prints p50/p99, then the gateway's resident memory
//!   while idle.
//!
//! - Then an HTTP load driver (`gateway --listen` on loopback, one test-server child per
//!   session): `MCPWARDEN_BENCH_CALLS` sequential calls on one session (p50/p99), the
//!   throughput of `MCPWARDEN_BENCH_HTTP_SESSIONS` (default 64) sessions calling at once,
//!   and the gateway's memory per idle HTTP session (VmRSS with 200 idle sessions minus
//!   with none, over 200).
//!
//! - Then the added-latency rounds (`added_latency_driver`): the same HTTP upstream
//!   called directly and through `gateway --upstream`, HTTP through the gateway to a
//!   stdio child against stdio direct, and a bare loopback HTTP round trip; with
//!   `MCPWARDEN_BENCH_ONLY=added`, only these run.
//!
//! Run with `cargo bench --bench gateway`. Loopback and child processes only.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mcpwarden::gateway::{JudgeConfig, Session, Shared};
use mcpwarden::policy::{self, InMemoryCounters, SystemClock};
use serde_json::json;

const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/gateway/policy.json"
);

fn session() -> Session {
    let compiled = policy::load_file(std::path::Path::new(POLICY)).expect("policy");
    let shared = Arc::new(Shared::new(
        compiled,
        Arc::new(InMemoryCounters::new()),
        Arc::new(SystemClock),
        None,
        JudgeConfig::default(),
    ));
    let session = Session::new(shared, "bench".into(), None);
    // Teach it the tools, as a client's tools/list would.
    let _ = session.from_client(br#"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#);
    let list = json!({"jsonrpc": "2.0", "id": "l", "result": {"tools": [
        {"name": "echo", "description": "Echo the text back.", "inputSchema": {"type": "object",
            "properties": {"text": {"type": "string"}}, "required": ["text"], "additionalProperties": false}},
        {"name": "delete_repo", "description": "Delete a repository.", "inputSchema": {"type": "object"}}
    ]}});
    let _ = session.from_upstream(list.to_string().as_bytes());
    session
}

fn judge(c: &mut Criterion) {
    let session = session();
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
    let answer =
        br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}],"isError":false}}"#;
    c.bench_function("judge/allowed_call_and_answer", |b| {
        b.iter(|| {
            black_box(session.from_client(black_box(call)));
            black_box(session.from_upstream(black_box(answer)));
        })
    });
    let denied = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_repo","arguments":{"owner":"o","repo":"r"}}}"#;
    c.bench_function("judge/denied_call", |b| {
        b.iter(|| black_box(session.from_client(black_box(denied))))
    });
}

struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: String,
    id: u64,
}

impl Peer {
    fn direct() -> Peer {
        Peer::spawn(Command::new(env!("CARGO_BIN_EXE_mcpwarden-test-server")))
    }

    fn gateway() -> Peer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
        command
            .args(["gateway", "--no-watch", "--policy", POLICY, "--"])
            .arg(env!("CARGO_BIN_EXE_mcpwarden-test-server"));
        Peer::spawn(command)
    }

    fn spawn(mut command: Command) -> Peer {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut peer = Peer {
            child,
            stdin,
            stdout,
            line: String::new(),
            id: 0,
        };
        peer.round_trip(r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#);
        writeln!(
            peer.stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .expect("write");
        peer.round_trip(r#"{"jsonrpc":"2.0","id":"list","method":"tools/list"}"#);
        peer
    }

    fn round_trip(&mut self, message: &str) {
        writeln!(self.stdin, "{message}").expect("write");
        self.stdin.flush().expect("flush");
        self.line.clear();
        self.stdout.read_line(&mut self.line).expect("read");
        assert!(!self.line.is_empty(), "the peer closed");
    }

    fn call(&mut self) {
        self.id += 1;
        let message = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello"}}}}}}"#,
            self.id
        );
        self.round_trip(&message);
        debug_assert!(self.line.contains("echo ran"), "{}", self.line);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdio(c: &mut Criterion) {
    let mut direct = Peer::direct();
    c.bench_function("stdio/echo_call_direct", |b| b.iter(|| direct.call()));
    let mut gateway = Peer::gateway();
    c.bench_function("stdio/echo_call_through_gateway", |b| {
        b.iter(|| gateway.call())
    });
}

/// The mean: what criterion's estimate is (each criterion sample is the mean of many
/// back-to-back iterations), unlike the driver's p50, which scheduler stalls hardly move.
fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len().max(1) as u32
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99))
}

fn load_driver() {
    // `MCPWARDEN_BENCH_STDIO_CALLS` runs the stdio rows longer than the HTTP ones: a run of
    // a few seconds meets the same scheduler as criterion's samples do.
    let calls: usize = ["MCPWARDEN_BENCH_STDIO_CALLS", "MCPWARDEN_BENCH_CALLS"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
        .unwrap_or(5_000);
    let mut results = Vec::new();
    let jiffies = cpu_jiffies();
    for (label, mut peer) in [("direct", Peer::direct()), ("gateway", Peer::gateway())] {
        for _ in 0..200 {
            peer.call(); // warm up
        }
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            peer.call();
            samples.push(started.elapsed());
        }
        let average = mean(&samples);
        let (p50, p99) = percentiles(samples);
        println!(
            "load/{label}: {calls} sequential echo calls over stdio: p50 {p50:?}, p99 {p99:?}, mean {average:?}"
        );
        results.push((p50, p99));
        if label == "gateway" {
            std::thread::sleep(Duration::from_millis(300));
            let status = std::fs::read_to_string(format!("/proc/{}/status", peer.child.id()))
                .unwrap_or_default();
            let rss = status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .unwrap_or("VmRSS: unknown");
            println!("load/gateway: idle gateway process (one stdio session) {rss}");
        }
    }
    let added = |index: usize| {
        let (direct, gateway) = (results[0], results[1]);
        let pick = |pair: (Duration, Duration)| if index == 0 { pair.0 } else { pair.1 };
        difference(pick(gateway), pick(direct))
    };
    println!(
        "load/added latency through the gateway: p50 {}, p99 {}; {}",
        added(0),
        added(1),
        steal_since(jiffies)
    );
}

/// CPU time (user + system) a process has used, from `/proc/PID/stat` (clock ticks of
/// 10 ms on Linux). Unlike wall time it hardly depends on what else the machine runs, so
/// CPU time per call says what throughput two quiet cores would give.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Where the HTTP gateway's upstream runs, and whether it audits.
#[derive(Clone, Copy, PartialEq)]
enum Upstream {
    /// One `mcpwarden-test-server` child per session.
    Child,
    /// The hidden in-process test server (`--in-process-test-upstream`).
    InProcess,
    /// The same, with `--audit FILE.jsonl` on.
    InProcessAudited,
}

impl Upstream {
    fn label(self) -> &'static str {
        match self {
            Upstream::Child => "child upstream",
            Upstream::InProcess => "in-process upstream",
            Upstream::InProcessAudited => "in-process upstream, audit to JSON Lines",
        }
    }
}

/// `mcpwarden gateway --listen 127.0.0.1:0` with this upstream; its URL.
fn http_gateway(upstream: Upstream, audit_dir: &std::path::Path) -> (Child, String) {
    let mut command = gateway_command();
    match upstream {
        Upstream::Child => {
            command
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_mcpwarden-test-server"));
        }
        Upstream::InProcess => {
            command.arg("--in-process-test-upstream");
        }
        Upstream::InProcessAudited => {
            command
                .arg("--in-process-test-upstream")
                .arg("--audit")
                .arg(audit_dir.join("audit.jsonl"));
        }
    }
    start_gateway(command)
}

fn gateway_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
    command.args([
        "gateway",
        "--no-watch",
        "--policy",
        POLICY,
        "--listen",
        "127.0.0.1:0",
    ]);
    // `MCPWARDEN_BENCH_GATEWAY_ARGS="--spin-us 50"`: more options for every HTTP gateway
    // the bench starts, to compare settings without rebuilding.
    if let Ok(extra) = std::env::var("MCPWARDEN_BENCH_GATEWAY_ARGS") {
        command.args(extra.split_whitespace());
    }
    command
}

/// Starts a gateway command that listens on HTTP; waits for its listening line.
fn start_gateway(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr
        .read_line(&mut line)
        .expect("the gateway's first line");
    let url = line
        .trim()
        .strip_prefix("mcpwarden: listening on ")
        .expect("the listening line")
        .to_owned();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, url)
}

async fn http_post(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: String,
) -> (Option<String>, Vec<u8>) {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await.expect("POST");
    assert!(response.status().is_success(), "{}", response.status());
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|value| value.to_str().expect("ascii").to_owned());
    (session, response.bytes().await.expect("body").to_vec())
}

async fn http_session(client: &reqwest::Client, url: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"}}});
    let (session, _) = http_post(client, url, None, init.to_string()).await;
    let session = session.expect("a session id");
    http_post(
        client,
        url,
        Some(&session),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
    )
    .await;
    session
}

async fn http_echo(client: &reqwest::Client, url: &str, session: &str, id: u64) {
    let call = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello"}}}}}}"#
    );
    let (_, body) = http_post(client, url, Some(session), call).await;
    assert!(
        body.windows(8).any(|w| w == b"echo ran"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

/// A count from the environment, or `default` when unset or not a number.
fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The load drivers' own runtime (two workers) and HTTP client.
fn driver_runtime_and_client() -> (tokio::runtime::Runtime, reqwest::Client) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    (runtime, client)
}

fn http_load_driver() {
    let calls: u64 = env_count("MCPWARDEN_BENCH_CALLS", 5_000);
    let sessions: u64 = env_count("MCPWARDEN_BENCH_HTTP_SESSIONS", 64);
    let (runtime, client) = driver_runtime_and_client();
    let audit_dir = tempfile::tempdir().expect("a folder for the audit");
    for upstream in [
        Upstream::Child,
        Upstream::InProcess,
        Upstream::InProcessAudited,
    ] {
        let label = upstream.label();
        let (mut gateway, url) = http_gateway(upstream, audit_dir.path());
        runtime.block_on(async {
            // Sequential calls on one session.
            let session = http_session(&client, &url).await;
            for id in 0..200 {
                http_echo(&client, &url, &session, id).await;
            }
            let mut samples = Vec::with_capacity(calls as usize);
            for id in 0..calls {
                let started = Instant::now();
                http_echo(&client, &url, &session, 1_000 + id).await;
                samples.push(started.elapsed());
            }
            let average = mean(&samples);
            let (p50, p99) = percentiles(samples);
            println!("load/http ({label}): {calls} sequential echo calls (one session): p50 {p50:?}, p99 {p99:?}, mean {average:?}");

            // Throughput: many sessions calling at once, for at most a fixed count of
            // calls and a fixed time.
            let mut ids = Vec::new();
            for _ in 0..sessions {
                ids.push(http_session(&client, &url).await);
            }
            let per_session = (calls * 4 / sessions).max(1);
            let gateway_pid = gateway.id().to_string();
            let (gateway_cpu, driver_cpu) = (cpu_time(&gateway_pid), cpu_time("self"));
            let jiffies = cpu_jiffies();
            let started = Instant::now();
            let cap = started + Duration::from_secs(60);
            let mut tasks = Vec::new();
            for session in ids {
                let (client, url) = (client.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    let mut done = 0u64;
                    for id in 0..per_session {
                        if Instant::now() > cap {
                            break;
                        }
                        http_echo(&client, &url, &session, id).await;
                        done += 1;
                    }
                    done
                }));
            }
            let mut total = 0;
            for task in tasks {
                total += task.await.expect("a load task");
            }
            let elapsed = started.elapsed();
            let gateway_cpu = cpu_time(&gateway_pid).saturating_sub(gateway_cpu);
            let driver_cpu = cpu_time("self").saturating_sub(driver_cpu);
            let per_call = |cpu: Duration| cpu.as_secs_f64() * 1e6 / total.max(1) as f64;
            let (gateway_us, driver_us) = (per_call(gateway_cpu), per_call(driver_cpu));
            println!(
                "load/http ({label}): {total} echo calls from {sessions} concurrent sessions in {elapsed:?}: {:.0} calls/s; CPU per call: gateway {gateway_us:.1} µs, load driver {driver_us:.1} µs; two cores fully given to the gateway would serve {:.0} calls/s; {}",
                total as f64 / elapsed.as_secs_f64(),
                2e6 / gateway_us.max(0.001),
                steal_since(jiffies),
            );
        });
        let _ = gateway.kill();
        let _ = gateway.wait();
        if upstream == Upstream::InProcessAudited {
            break;
        }

        // Memory per idle session: a fresh gateway, before and after 200 idle sessions.
        let (mut gateway, url) = http_gateway(upstream, audit_dir.path());
        runtime.block_on(async {
            let session = http_session(&client, &url).await;
            http_echo(&client, &url, &session, 1).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = rss_kib(gateway.id());
            for _ in 0..200 {
                let session = http_session(&client, &url).await;
                http_echo(&client, &url, &session, 1).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let after = rss_kib(gateway.id());
            println!(
                "load/http ({label}): gateway VmRSS {before} KiB with 1 session, {after} KiB with 201: {:.1} KiB per idle session",
                after.saturating_sub(before) as f64 / 200.0
            );
        });
        let _ = gateway.kill();
        let _ = gateway.wait();
    }
}

/// A Streamable HTTP MCP server written for this bench, the upstream of the
/// same-transport rows: `initialize` (with a session id), `tools/list` and `echo`, each
/// answered as one `application/json` body, notifications with 202. Also `POST /echo`,
/// which answers the body as it came: one bare loopback HTTP round trip through axum and
/// reqwest, the floor under any HTTP row. It runs on its own thread and runtime, as a
/// separate server would, and returns its `/mcp` URL.
fn http_upstream() -> String {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    async fn mcp(body: axum::body::Bytes) -> axum::response::Response {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let id = message.get("id").cloned();
        let Some(id) = id else {
            return StatusCode::ACCEPTED.into_response();
        };
        let result = match message["method"].as_str() {
            Some("initialize") => json!({"protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}}, "serverInfo": {"name": "bench-upstream", "version": "1"}}),
            Some("tools/list") => json!({"tools": [
                {"name": "echo", "description": "Echo the text back.", "inputSchema": {"type": "object",
                    "properties": {"text": {"type": "string"}}, "required": ["text"],
                    "additionalProperties": false}}]}),
            Some("tools/call") => json!({"content": [{"type": "text",
                "text": format!("echo ran with {}", message["params"]["arguments"])}], "isError": false}),
            _ => json!({}),
        };
        (
            [
                ("content-type", "application/json"),
                ("mcp-session-id", "bench-upstream-1"),
            ],
            json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
        )
            .into_response()
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the upstream's runtime");
        runtime.block_on(async move {
            use axum::serve::{Listener, ListenerExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the upstream")
                .tap_io(|stream| {
                    let _ = stream.set_nodelay(true);
                });
            let addr = listener.local_addr().expect("the upstream's address");
            let router = axum::Router::new()
                .route("/mcp", axum::routing::post(mcp))
                .route(
                    "/echo",
                    axum::routing::post(|body: axum::body::Bytes| async move { body }),
                );
            sender.send(addr).expect("tell the address");
            let _ = axum::serve(listener, router).await;
        });
    });
    let addr = receiver.recv().expect("the upstream's address");
    format!("http://{addr}/mcp")
}

/// A process's CPU time in nanoseconds and its context switches, summed over its threads
/// (`/proc/PID/task/*/schedstat` and `status`): per call, what the gateway costs
/// regardless of how busy the machine is, and how many times its threads went to sleep
/// and woke up (task hand-offs show here).
fn cpu_and_switches(pid: u32) -> (u64, u64) {
    let mut cpu = 0;
    let mut switches = 0;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let path = task.path();
        cpu += std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        switches += std::fs::read_to_string(path.join("status"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("ctxt_switches:"))
            .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    (cpu, switches)
}

/// Jiffies of the whole machine from `/proc/stat`: (stolen by the hypervisor, all).
fn cpu_jiffies() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    (
        fields.get(7).copied().unwrap_or(0),
        fields.iter().take(8).sum(),
    )
}

/// The share of CPU time the hypervisor gave to someone else since `before`: on a
/// shared VM, a round with steal above a few per cent measured the neighbours.
fn steal_since(before: (u64, u64)) -> String {
    let (steal, all) = cpu_jiffies();
    let all = all.saturating_sub(before.1).max(1);
    format!(
        "{:.0} % of CPU time stolen by the hypervisor",
        steal.saturating_sub(before.0) as f64 * 100.0 / all as f64
    )
}

/// `a - b` in microseconds, with its sign: a percentile of the proxied run can come out
/// below the direct run's (p99 especially, on a noisy machine), and printing that as zero
/// would hide the noise.
fn difference(a: Duration, b: Duration) -> String {
    format!("{:.1}µs", (a.as_secs_f64() - b.as_secs_f64()) * 1e6)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `calls` sequential calls of `one` after 200 warm-up calls; p50, p99 and the mean.
async fn timed<F: std::future::Future<Output = ()>>(
    calls: u64,
    mut one: impl FnMut(u64) -> F,
) -> (Duration, Duration, Duration) {
    for id in 0..200 {
        one(id).await;
    }
    let mut samples = Vec::with_capacity(calls as usize);
    for id in 0..calls {
        let started = Instant::now();
        one(1_000 + id).await;
        samples.push(started.elapsed());
    }
    let average = mean(&samples);
    let (p50, p99) = percentiles(samples);
    (p50, p99, average)
}

/// The added-latency target, read two ways, `MCPWARDEN_BENCH_ROUNDS` (default 3) rounds of
/// back-to-back runs with one reqwest client (keep-alive, one session, sequential calls):
///
/// - (a) same transport: the client POSTs `echo` calls to a Streamable HTTP upstream
///   ([`http_upstream`]) directly, then through `gateway --upstream URL` in front of it;
///   the difference is the gateway's own cost (one more HTTP hop and the judging);
/// - (b) the client's view with a stdio child: stdio straight to the test server, then
///   HTTP through `gateway --listen` to the same server as a child;
/// - the floor: a bare HTTP round trip to an axum handler that answers the body.
fn added_latency_driver() {
    let calls: u64 = env_count("MCPWARDEN_BENCH_CALLS", 5_000);
    let rounds: u64 = env_count("MCPWARDEN_BENCH_ROUNDS", 3);
    let (runtime, client) = driver_runtime_and_client();
    let upstream = http_upstream();
    let floor_url = upstream.replace("/mcp", "/echo");
    let mut through = gateway_command();
    through.args(["--upstream", &upstream]);
    let (mut through, through_url) = start_gateway(through);
    let audit_dir = tempfile::tempdir().expect("a folder");
    let (mut child_gateway, child_url) = http_gateway(Upstream::Child, audit_dir.path());
    let mut null = Command::new(std::env::current_exe().expect("this bench's path"));
    null.env("MCPWARDEN_BENCH_NULL_PROXY", &upstream);
    let (mut null, null_url) = start_gateway(null);
    let mut relay = Command::new(std::env::current_exe().expect("this bench's path"));
    relay.env("MCPWARDEN_BENCH_TCP_RELAY", &upstream);
    let (mut relay, relay_url) = start_gateway(relay);
    let show = |what: &str, (p50, p99, average): (Duration, Duration, Duration)| {
        println!("added/{what}: {calls} calls: p50 {p50:?}, p99 {p99:?}, mean {average:?}");
        (p50, p99)
    };
    let minus = |a: (Duration, Duration), b: (Duration, Duration)| {
        (difference(a.0, b.0), difference(a.1, b.1))
    };
    // Over the timed calls and their 200 warm-up calls.
    let per_call = |what: &str, before: (u64, u64), after: (u64, u64)| {
        let count = (calls + 200) as f64;
        println!(
            "added/{what} gateway process per call: CPU {:.1} µs, context switches {:.2}",
            after.0.saturating_sub(before.0) as f64 / 1e3 / count,
            after.1.saturating_sub(before.1) as f64 / count
        );
    };
    for round in 1..=rounds {
        println!("added/round {round}: load average {}", load_average());
        let jiffies = cpu_jiffies();
        runtime.block_on(async {
            let floor = timed(calls, |_| {
                let (client, url) = (&client, &floor_url);
                async move {
                    let body = client
                        .post(url)
                        .body(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
                        .send()
                        .await
                        .expect("POST")
                        .bytes()
                        .await
                        .expect("body");
                    assert!(!body.is_empty());
                }
            })
            .await;
            show("bare loopback HTTP round trip (axum echo handler)", floor);
            let session = http_session(&client, &upstream).await;
            let direct = show(
                "(a) HTTP direct to the HTTP upstream",
                timed(calls, |id| http_echo(&client, &upstream, &session, id)).await,
            );
            // The gateway, then the two reference proxies, each against the same direct run.
            let proxies = [
                ("(a)", "HTTP through the gateway", through.id(), &through_url, "(a)", "added by the gateway, same transport"),
                ("(a0)", "HTTP through a null proxy (same stack, no judging)", null.id(), &null_url, "(a0) null proxy", "added by a null proxy, same transport"),
                ("(a00)", "HTTP through a TCP byte relay (blocking threads)", relay.id(), &relay_url, "(a00) TCP relay", "added by a TCP byte relay"),
            ];
            for (tag, what, pid, url, process, added) in proxies {
                let session = http_session(&client, url).await;
                let before = cpu_and_switches(pid);
                let via = show(
                    &format!("{tag} {what} to the HTTP upstream"),
                    timed(calls, |id| http_echo(&client, url, &session, id)).await,
                );
                per_call(process, before, cpu_and_switches(pid));
                let (p50, p99) = minus(via, direct);
                println!("added/{tag} round {round}: {added}: p50 {p50}, p99 {p99}");
            }
            let session = http_session(&client, &child_url).await;
            let before = cpu_and_switches(child_gateway.id());
            let via_child = show(
                "(b) HTTP through the gateway to a stdio child",
                timed(calls, |id| http_echo(&client, &child_url, &session, id)).await,
            );
            per_call("(b)", before, cpu_and_switches(child_gateway.id()));
            let mut peer = Peer::direct();
            let stdio = show(
                "(b) stdio direct to the same server",
                timed(calls, |_| {
                    peer.call();
                    std::future::ready(())
                })
                .await,
            );
            let (p50, p99) = minus(via_child, stdio);
            println!("added/(b) round {round}: HTTP through the gateway minus stdio direct: p50 {p50}, p99 {p99}");
        });
        println!("added/round {round}: {}", steal_since(jiffies));
    }
    println!("added/end: load average {}", load_average());
    for gateway in [&mut through, &mut child_gateway, &mut null, &mut relay] {
        let _ = gateway.kill();
        let _ = gateway.wait();
    }
}

/// A pass-through proxy with the gateway's own HTTP stack and nothing else: an axum
/// server, a reqwest client with keep-alive, a single-threaded tokio runtime (what each of
/// the gateway's serving threads runs), in a process of its own (this bench binary run again with `MCPWARDEN_BENCH_NULL_PROXY=URL`). Every POST
/// is sent on to URL with its body and session headers, and the answer comes back as it
/// is. Nothing is parsed or judged, so what it adds to a call is the floor for any proxy
/// that takes one more loopback HTTP hop on this machine: the part of the gateway's added
/// latency that is not the gateway's own work.
fn null_proxy(upstream: String) -> ! {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    const PASSED: [&str; 4] = [
        "content-type",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the proxy's runtime");
    let client = reqwest::Client::new();
    runtime.block_on(async move {
        use axum::serve::{Listener, ListenerExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy")
            .tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
        let addr = listener.local_addr().expect("the proxy's address");
        let forward = move |headers: HeaderMap, body: axum::body::Bytes| {
            let (client, upstream) = (client.clone(), upstream.clone());
            async move {
                let mut request = client.post(&upstream).body(body);
                for name in PASSED {
                    if let Some(value) = headers.get(name) {
                        request = request.header(name, value);
                    }
                }
                let Ok(response) = request.send().await else {
                    return StatusCode::BAD_GATEWAY.into_response();
                };
                let status = response.status();
                let mut back = HeaderMap::new();
                for name in PASSED {
                    if let Some(value) = response.headers().get(name) {
                        back.insert(name, value.clone());
                    }
                }
                match response.bytes().await {
                    Ok(body) => (status, back, body).into_response(),
                    Err(_) => StatusCode::BAD_GATEWAY.into_response(),
                }
            }
        };
        let router = axum::Router::new().route("/mcp", axum::routing::post(forward));
        // The line `start_gateway` reads, as the gateway writes it.
        eprintln!("mcpwarden: listening on http://{addr}/mcp");
        let _ = axum::serve(listener, router).await;
    });
    std::process::exit(0)
}

/// The least a proxy can add on this machine: a byte relay with blocking threads (two per
/// connection, one each way), no HTTP parsing, no async runtime. Run in its own process
/// like [`null_proxy`] (`MCPWARDEN_BENCH_TCP_RELAY=URL`).
fn tcp_relay(upstream: String) -> ! {
    let target = upstream
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the relay");
    let addr = listener.local_addr().expect("the relay's address");
    eprintln!("mcpwarden: listening on http://{addr}/mcp");
    for client in listener.incoming().flatten() {
        let Ok(server) = std::net::TcpStream::connect(&target) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(mut client_in), Ok(mut server_in)) = (client.try_clone(), server.try_clone())
        else {
            continue;
        };
        let (mut client_out, mut server_out) = (client, server);
        std::thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
        std::thread::spawn(move || std::io::copy(&mut server_in, &mut client_out));
    }
    std::process::exit(0)
}

fn main() {
    if let Ok(upstream) = std::env::var("MCPWARDEN_BENCH_NULL_PROXY") {
        null_proxy(upstream);
    }
    if let Ok(upstream) = std::env::var("MCPWARDEN_BENCH_TCP_RELAY") {
        tcp_relay(upstream);
    }
    let mut criterion = Criterion::default().configure_from_args();
    judge(&mut criterion);
    stdio(&mut criterion);
    criterion.final_summary();
    if std::env::args().any(|arg| arg == "--bench") {
        // `MCPWARDEN_BENCH_ONLY=added` runs only the added-latency rounds.
        let only = std::env::var("MCPWARDEN_BENCH_ONLY").unwrap_or_default();
        // `MCPWARDEN_BENCH_ONLY=http` runs only the HTTP load driver.
        // `MCPWARDEN_BENCH_ONLY=stdio` runs only the stdio load driver.
        if only.is_empty() || only == "stdio" {
            load_driver();
        }
        if only.is_empty() || only == "http" {
            http_load_driver();
        }
        if only.is_empty() || only == "added" {
            added_latency_driver();
        }
    }
}
