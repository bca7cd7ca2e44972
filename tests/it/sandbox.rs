//! The sandbox against a hostile server of our own (tests/fixtures/hostile/server.js):
//! each attack is contained, reported with its reason, and nothing outside the scratch
//! changes. Needs bubblewrap (scripts/test.sh installs it); without it these fail, they
//! do not skip.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mcpwarden::extract::live::{LiveError, LiveOptions, LiveServer, inspect};
use mcpwarden::sandbox::{Limits, Sandbox, Spec};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile")
}

fn node() -> String {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("node"))
        .find(|path| path.is_file())
        .expect("node is not on PATH")
        .display()
        .to_string()
}

struct Run {
    outcome: Result<LiveServer, LiveError>,
    elapsed: Duration,
    _scratch: tempfile::TempDir,
}

fn run(args: &[&str], limits: Limits, timeout: Duration, output_limit: u64) -> Run {
    let sandbox = Sandbox::detect().expect("a sandbox can be made on this machine");
    let scratch = tempfile::tempdir().unwrap();
    let mut command = vec![
        node(),
        fixture_dir().join("server.js").display().to_string(),
    ];
    command.extend(args.iter().map(|arg| (*arg).to_owned()));
    let mut options = LiveOptions::new(command);
    options.timeout = timeout;
    options.output_limit = output_limit;
    options.env = vec![("GIVEN".to_owned(), "yes".to_owned())];
    options.sandbox = Some((
        sandbox,
        Spec {
            scratch: scratch.path().join("scratch"),
            read_only: vec![fixture_dir()],
            env: Vec::new(),
            limits,
        },
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let outcome = runtime.block_on(inspect(&options));
    Run {
        outcome,
        elapsed: started.elapsed(),
        _scratch: scratch,
    }
}

fn report(run: &Run) -> Value {
    let server = run
        .outcome
        .as_ref()
        .unwrap_or_else(|error| panic!("the hostile server did not list: {error}"));
    serde_json::from_str(&server.tools[0].description).unwrap()
}

#[test]
fn a_server_in_the_sandbox_reaches_no_network_none_of_your_files_and_no_environment() {
    // A listener on the host's loopback: the cage must not reach it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    listener.set_nonblocking(true).unwrap();
    let reached = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (reached, stop) = (Arc::clone(&reached), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Ok((mut stream, _)) = listener.accept() {
                    reached.store(true, Ordering::SeqCst);
                    let _ = stream.read(&mut [0u8; 16]);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("id_ed25519");
    std::fs::write(&secret, "PRIVATE KEY").unwrap();

    let run = run(
        &[
            "probe",
            &port,
            &secret.display().to_string(),
            &outside.path().display().to_string(),
        ],
        Limits::default(),
        Duration::from_secs(30),
        64 << 20,
    );
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    let report = report(&run);

    assert_eq!(report["network"]["ok"], false, "{report}");
    assert!(
        !reached.load(Ordering::SeqCst),
        "the host's loopback was reached"
    );
    assert_eq!(report["read_secret"]["ok"], false, "{report}");
    assert_eq!(report["write_outside"]["ok"], false, "{report}");
    assert!(!outside.path().join("pwned").exists());
    assert_eq!(
        report["write_home"]["ok"], true,
        "the scratch is writable: {report}"
    );
    assert_ne!(
        report["list_root_home"]["ok"], true,
        "root's home is not visible: {report}"
    );
    // The environment is what was given, and the cage's own HOME, PATH, PWD and TMPDIR.
    assert_eq!(
        report["env"],
        serde_json::json!(["GIVEN", "HOME", "PATH", "PWD", "TMPDIR"]),
        "{report}"
    );
}

#[test]
fn a_fork_bomb_is_held_to_the_process_limit_and_its_tree_dies_with_the_cage() {
    let limits = Limits {
        processes: 24,
        ..Limits::default()
    };
    let run = run(&["fork", "400"], limits, Duration::from_secs(30), 64 << 20);
    let report = report(&run);
    let started = report["started"].as_u64().unwrap();
    assert!(
        started < 24,
        "{started} processes started under a limit of 24: {report}"
    );
    assert!(report["failed"].as_u64().unwrap() > 300, "{report}");
    // Every `sleep 97` the server left behind dies with the cage.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = sleepers();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} of the server's processes outlived it"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Processes running exactly `sleep 97` (what the fork bomb starts).
fn sleepers() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline == b"sleep\x0097\x00")
        .count()
}

#[test]
fn unbounded_allocation_stops_at_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 1 << 30,
        ..Limits::default()
    };
    let run = run(
        &["alloc", "8192"],
        limits,
        Duration::from_secs(30),
        64 << 20,
    );
    let report = report(&run);
    let got = report["megabytes"].as_u64().unwrap();
    assert!(
        got < 1024,
        "allocated {got} MB under a 1 GiB limit: {report}"
    );
    assert!(report["stopped"].is_string(), "{report}");
}

#[test]
fn a_server_that_never_answers_is_stopped_at_the_timeout() {
    let run = run(
        &["hang"],
        Limits::default(),
        Duration::from_secs(3),
        64 << 20,
    );
    assert!(
        matches!(run.outcome, Err(LiveError::Timeout { seconds: 3, .. })),
        "{:?}",
        run.outcome.as_ref().err()
    );
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
}

#[test]
fn a_server_that_prints_without_end_is_cut_off_at_the_output_limit() {
    let run = run(
        &["flood"],
        Limits::default(),
        Duration::from_secs(30),
        4 << 20,
    );
    let error = run.outcome.as_ref().expect_err("the flood was refused");
    assert!(
        matches!(error, LiveError::OutputLimit { megabytes: 4, .. }),
        "{error}"
    );
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
}

#[test]
fn a_server_that_spins_is_stopped_by_the_cpu_limit_and_says_so() {
    let limits = Limits {
        cpu_seconds: 2,
        ..Limits::default()
    };
    let run = run(&["cpu"], limits, Duration::from_secs(30), 64 << 20);
    let error = run
        .outcome
        .as_ref()
        .expect_err("the spinning server failed");
    assert!(
        error.to_string().contains("CPU"),
        "the error names the CPU limit: {error}"
    );
    assert!(run.elapsed < Duration::from_secs(15), "{:?}", run.elapsed);
}

#[test]
fn without_bubblewrap_inspect_refuses_and_says_how_to_fix_it() {
    let output = assert_cmd::Command::cargo_bin("mcpwarden")
        .unwrap()
        .env("MCPWARDEN_BWRAP", "/nonexistent/bwrap")
        .args(["inspect", "--", "node", "-e", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no sandbox") && stderr.contains("apt-get install bubblewrap"),
        "{stderr}"
    );
    assert!(stderr.contains("--live-unsandboxed"), "{stderr}");
}

/// Where scripts/test.sh keeps installed packages ($MCPWARDEN_CACHE); missing is a
/// failure, not a skip.
fn package_cache() -> PathBuf {
    PathBuf::from(
        std::env::var_os("MCPWARDEN_CACHE").expect(
            "MCPWARDEN_CACHE is not set: run the tests with scripts/test.sh, which sets it",
        ),
    )
}

/// `inspect --npm/--pypi` on a published server at a pinned version: installed with the
/// user's own npm or pip, started in the sandbox, listed. The cache is named relative to
/// the working folder, as a user may write it.
fn inspect_package(flag: &str, spec: &str, extra: &[&str]) -> Value {
    let cache = std::path::absolute(package_cache()).unwrap();
    let output = assert_cmd::Command::cargo_bin("mcpwarden")
        .unwrap()
        .current_dir(cache.parent().unwrap())
        .env("MCPWARDEN_CACHE", cache.file_name().unwrap())
        .args(["inspect", "--json", "--timeout", "60", flag, spec])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "inspect {flag} {spec}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn names(listing: &Value) -> Vec<&str> {
    listing["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect()
}

#[test]
fn a_published_npm_server_is_installed_and_listed_in_the_sandbox() {
    let listing = inspect_package(
        "--npm",
        "@modelcontextprotocol/server-memory@2026.8.31",
        &[],
    );
    assert_eq!(listing["sandboxed"], true);
    assert_eq!(
        names(&listing),
        [
            "create_entities",
            "create_relations",
            "add_observations",
            "delete_entities",
            "delete_observations",
            "delete_relations",
            "read_graph",
            "search_nodes",
            "open_nodes"
        ]
    );
}

#[test]
fn a_published_pypi_server_is_installed_in_a_venv_and_listed_in_the_sandbox() {
    let listing = inspect_package("--pypi", "mcp-server-time==2026.10.19", &[]);
    assert_eq!(listing["sandboxed"], true);
    assert_eq!(names(&listing), ["get_current_time", "convert_time"]);
}

/// A server published (May 2025) for the 1.x Python SDK, which declares only `mcp>=1.2.0`:
/// with today's dependencies it gets the 2.x SDK and dies on import. Installed with the
/// dependencies of its own day, it starts and lists its two tools.
#[test]
fn a_pypi_server_gets_the_dependencies_of_its_release_day() {
    let listing = inspect_package(
        "--pypi",
        "mcp-brave-search==0.1.1",
        &["--env", "BRAVE_API_KEY=dummy"],
    );
    assert_eq!(names(&listing), ["brave_web_search", "brave_local_search"]);
    let record = package_cache().join("pypi/mcp-brave-search@0.1.1/mcpwarden-install.json");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let bound = record["uploaded_prior_to"].as_str().unwrap_or_default();
    assert!(bound.starts_with("2025-05-"), "{record:#}");
}

/// `crawl --live always` on a pinned published package: the server is run in the sandbox
/// and what it lists is stored beside what its source shows, with the comparison.
#[test]
fn a_live_crawl_stores_what_the_caged_server_lists_beside_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.db");
    let crawl = assert_cmd::Command::cargo_bin("mcpwarden")
        .unwrap()
        .env("MCPWARDEN_CACHE", package_cache())
        .arg("--db")
        .arg(&db)
        .args([
            "crawl",
            "--npm",
            "@modelcontextprotocol/server-memory@2026.8.31",
            "--live",
            "always",
        ])
        .output()
        .unwrap();
    assert!(
        crawl.status.success(),
        "{}",
        String::from_utf8_lossy(&crawl.stderr)
    );
    let show = assert_cmd::Command::cargo_bin("mcpwarden")
        .unwrap()
        .arg("--db")
        .arg(&db)
        .args([
            "catalog",
            "show",
            "--json",
            "@modelcontextprotocol/server-memory",
        ])
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let card: Value = serde_json::from_slice(&show.stdout).unwrap();
    let server = &card["servers"][0];
    assert_eq!(
        server["packages"],
        serde_json::json!(["pkg:npm/%40modelcontextprotocol/server-memory@2026.8.31"]),
        "the pinned version, not the latest: {server}"
    );
    let live = &server["live"];
    assert_eq!(live["sandboxed"], true, "{live}");
    assert_eq!(live["listed"], 9, "{live}");
    assert!(
        live.get("only_live").is_none(),
        "static reading found every tool: {live}"
    );
    let tools = server["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 9);
    assert!(
        tools.iter().all(|tool| tool["method"] == "live"),
        "the live definitions are stored: {server}"
    );
}

/// Regression: read-only mounts were made before the cage's private /tmp, which hid every
/// one under /tmp (a checkout or install cache there: CI's clone was one).
#[test]
fn a_read_only_path_under_tmp_is_visible_in_the_cage() {
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let script = dir.path().join("server.js");
    std::fs::copy(fixture_dir().join("server.js"), &script).unwrap();
    let output = assert_cmd::Command::cargo_bin("mcpwarden")
        .unwrap()
        .args(["inspect", "--json", "--timeout", "30", "--read-only"])
        .arg(dir.path())
        .args(["--", "node"])
        .arg(&script)
        .arg("alloc")
        .arg("64")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listing["tools"][0]["name"], "report");
}
