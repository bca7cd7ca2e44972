//! What the gateway adds to a `tools/call`.
//!
//! - `judge/*` (criterion): the in-process cost of judging one call and its answer.
//! - `stdio/*` (criterion): one `tools/call` round trip to the test server over stdio,
//!   called directly and through `mcpwarden gateway`; the difference is the added latency.
//! - After criterion, a load driver makes `MCPWARDEN_BENCH_CALLS` (default 5,000)
//!   sequential round trips each way and prints p50/p99, then the gateway's resident memory
//!   while idle.
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

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99))
}

fn load_driver() {
    let calls: usize = std::env::var("MCPWARDEN_BENCH_CALLS")
        .ok()
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(5_000);
    let mut results = Vec::new();
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
        let (p50, p99) = percentiles(samples);
        println!(
            "load/{label}: {calls} sequential echo calls over stdio: p50 {p50:?}, p99 {p99:?}"
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
        pick(gateway).saturating_sub(pick(direct))
    };
    println!(
        "load/added latency through the gateway: p50 {:?}, p99 {:?}",
        added(0),
        added(1)
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    judge(&mut criterion);
    stdio(&mut criterion);
    criterion.final_summary();
    if std::env::args().any(|arg| arg == "--bench") {
        load_driver();
    }
}
