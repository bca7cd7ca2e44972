//! `mcpwarden inspect`: live introspection over stdio, against a real server from npm
//! (installed at a pinned version by scripts/test.sh into $MCPWARDEN_NPM_DIR) and against
//! small shell "servers" of our own that misbehave on purpose (run with
//! --live-unsandboxed: they check what that mode still guarantees, a cleared environment and
//! a killed tree; tests/sandbox.rs checks the cage).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

fn mcpwarden() -> Command {
    Command::cargo_bin("mcpwarden").unwrap()
}

/// Where scripts/test.sh installed the pinned npm servers. Missing is a failure, not a
/// skip: run the tests through scripts/test.sh.
fn npm_dir() -> PathBuf {
    let dir = std::env::var_os("MCPWARDEN_NPM_DIR").expect(
        "MCPWARDEN_NPM_DIR is not set: run the tests with scripts/test.sh, which installs \
         the pinned npm servers and sets it",
    );
    PathBuf::from(dir)
}

fn everything_package() -> PathBuf {
    let package = npm_dir().join("node_modules/@modelcontextprotocol/server-everything");
    assert!(
        package.join("dist/index.js").is_file(),
        "{} has no dist/index.js: re-run scripts/test.sh",
        package.display()
    );
    package
}

#[test]
fn live_listing_of_the_real_server_agrees_with_static_extraction() {
    let package = everything_package();
    let entry = package.join("dist/index.js");
    let output = mcpwarden()
        .args(["inspect", "--json", "--timeout", "60", "--read-only"])
        .arg(npm_dir())
        .arg("--")
        .arg("node")
        .arg(&entry)
        .arg("stdio")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let live: Value = serde_json::from_slice(&output.stdout).unwrap();
    let live_names: BTreeSet<String> = live["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect();
    // Every live tool is classified and carries its definition hash.
    for tool in live["tools"].as_array().unwrap() {
        assert!(tool["classification"]["category"].is_string(), "{tool}");
        let hash = tool["definition_hash"].as_str().unwrap();
        assert!(hash.starts_with("sha256:") && hash.len() == 71, "{hash}");
        assert_eq!(tool["method"], "live");
    }
    assert!(live_names.contains("echo"), "{live_names:?}");

    let output = mcpwarden()
        .args(["extract", "--json"])
        .arg(&package)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "extract failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let extracted: Value = serde_json::from_slice(&output.stdout).unwrap();
    let static_names: BTreeSet<String> = extracted["servers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|server| server["tools"].as_array().unwrap().iter())
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect();

    let only_live: Vec<_> = live_names.difference(&static_names).collect();
    let only_static: Vec<_> = static_names.difference(&live_names).collect();
    println!(
        "live: {} tools, static: {} tools",
        live_names.len(),
        static_names.len()
    );
    println!("only live:   {only_live:?}");
    println!("only static: {only_static:?}");
    assert!(
        only_live.is_empty(),
        "static extraction missed tools the running server lists: {only_live:?}"
    );
    // Some tools are registered only for clients that declare the `tasks` capability the
    // way the 2025-11-25 revision spelt it, a top-level `capabilities.tasks` object. rmcp
    // 3's typed `ClientCapabilities` has no such field (it declares tasks as the
    // `io.modelcontextprotocol/tasks` extension, which inspect does), so the running
    // server leaves them out. Which tools those are is read from the installed package,
    // not listed here: a tool is gated when the file that registers it reads
    // `getClientCapabilities()` and its `.tasks` before the registration.
    let gated = gated_on_tasks(&package, &extracted);
    println!("gated on a top-level `tasks` capability (from the package): {gated:?}");
    let only_static: BTreeSet<String> = only_static.into_iter().cloned().collect();
    assert!(
        !gated.is_empty(),
        "no tool of the pinned package was found gated on `tasks`: the derivation broke"
    );
    assert_eq!(
        only_static, gated,
        "tools found in the source but not listed live, against those gated on `tasks`"
    );
}

/// Names of the statically extracted tools whose registering file reads the client's
/// `tasks` capability (`getClientCapabilities()` ... `.tasks`) above the registration.
fn gated_on_tasks(package: &Path, extracted: &Value) -> BTreeSet<String> {
    let mut gated = BTreeSet::new();
    let tools = extracted["servers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|server| server["tools"].as_array().unwrap().iter());
    for tool in tools {
        let location = tool["location"].as_str().unwrap();
        let (file, line) = location.rsplit_once(':').unwrap();
        let line: usize = line.parse().unwrap();
        let text = std::fs::read_to_string(package.join(file)).unwrap();
        let above: String = text
            .lines()
            .take(line.saturating_sub(1))
            .collect::<Vec<_>>()
            .join("\n");
        let capabilities = above.rfind("getClientCapabilities()");
        let tasks = above.rfind(".tasks");
        if let (Some(read), Some(tasks)) = (capabilities, tasks)
            && tasks > read
        {
            gated.insert(tool["name"].as_str().unwrap().to_owned());
        }
    }
    gated
}

/// A shell script that records what it was given, then behaves as `tail` says.
fn shell_server(dir: &Path, tail: &str) -> Vec<String> {
    let script = dir.join("server.sh");
    std::fs::write(
        &script,
        format!(
            "env > '{env}'\necho $$ > '{pid}'\n{tail}\n",
            env = dir.join("env.txt").display(),
            pid = dir.join("pid.txt").display(),
        ),
    )
    .unwrap();
    vec!["sh".to_owned(), script.display().to_string()]
}

#[test]
fn the_server_gets_only_the_environment_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let command = shell_server(dir.path(), "exit 0");
    mcpwarden()
        .env("MCPWARDEN_SECRET_TOKEN", "must-not-leak")
        .env("CALLER_VISIBLE", "passed-on")
        .args([
            "inspect",
            "--live-unsandboxed",
            "--timeout",
            "10",
            "--env",
            "CALLER_VISIBLE",
            "--env",
            "SET_HERE=1",
            "--",
        ])
        .args(&command)
        .assert()
        .code(2);
    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    let names: BTreeSet<&str> = env
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    assert!(!env.contains("must-not-leak"), "{env}");
    assert!(env.contains("CALLER_VISIBLE=passed-on"), "{env}");
    assert!(env.contains("SET_HERE=1"), "{env}");
    // sh itself adds PWD (and may add SHLVL, _); nothing else of the caller's arrives.
    let allowed: BTreeSet<&str> = [
        "PATH",
        "CALLER_VISIBLE",
        "SET_HERE",
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
    ]
    .into_iter()
    .collect();
    assert!(names.is_subset(&allowed), "unexpected variables: {names:?}");
}

#[test]
fn a_server_that_dies_is_reported_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let command = shell_server(dir.path(), "echo 'fatal: API_KEY is not set' >&2\nexit 3");
    let output = mcpwarden()
        .args(["inspect", "--live-unsandboxed", "--timeout", "10", "--"])
        .args(&command)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did not complete initialize"), "{stderr}");
    assert!(stderr.contains("fatal: API_KEY is not set"), "{stderr}");
}

#[test]
fn a_silent_server_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let command = shell_server(dir.path(), "exec sleep 60");
    let started = Instant::now();
    let output = mcpwarden()
        .args(["inspect", "--live-unsandboxed", "--timeout", "1", "--"])
        .args(&command)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did not answer within 1 s"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "inspect waited for the child"
    );
    let pid = std::fs::read_to_string(dir.path().join("pid.txt")).unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    // The kill is asynchronous; allow it a bounded moment to be reaped.
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_alive(&proc_dir) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !is_alive(&proc_dir),
        "the server (pid {}) outlived inspect",
        pid.trim()
    );
}

/// Alive and not a zombie.
fn is_alive(proc_dir: &Path) -> bool {
    std::fs::read_to_string(proc_dir.join("stat"))
        .map(|stat| {
            stat.split_whitespace()
                .nth(2)
                .is_none_or(|state| state != "Z")
        })
        .unwrap_or(false)
}

#[test]
fn no_command_is_a_usage_error() {
    mcpwarden().args(["inspect"]).assert().code(2);
}
