//! `mcpwarden gateway` (stdio, or Streamable HTTP with `--listen`) and `mcpwarden audit tail`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{AuditTailArgs, GatewayArgs, Outcome};
use crate::gateway::audit::{self, AuditSink, TailPosition};
use crate::gateway::multi::Multi;
use crate::gateway::{JudgeConfig, Session, Shared, config};
use crate::policy::{self, InMemoryCounters, SystemClock};

pub fn gateway(args: &GatewayArgs) -> anyhow::Result<Outcome> {
    if !(args.call_timeout.is_finite() && args.call_timeout > 0.0) {
        anyhow::bail!(
            "--call-timeout must be a positive number of seconds, not {}",
            args.call_timeout
        );
    }
    if let Some(config) = &args.config {
        return gateway_config(args, config);
    }
    let Some(policy_path) = &args.policy else {
        anyhow::bail!("--policy FILE (or --config FILE) is required");
    };
    let compiled = load_policy(policy_path, None)?;
    let audit: Option<Arc<dyn AuditSink>> = match &args.audit {
        Some(path) => Some(Arc::from(audit::open(path)?)),
        None => None,
    };
    let shared = Arc::new(Shared::new(
        compiled,
        Arc::new(InMemoryCounters::new()),
        Arc::new(SystemClock),
        audit,
        judge_config(
            args,
            Some(repin_command(
                policy_path,
                &args.command,
                args.upstream.as_deref(),
            )),
        ),
    ));
    if let Some(listen) = args.listen {
        let grants = match &args.grants {
            Some(path) => Some(crate::gateway::http::Grants::load(path)?),
            None => None,
        };
        let remote = match &args.upstream {
            Some(url) => Some(remote(url, &args.upstream_header)?),
            None => None,
        };
        // One event loop on this thread; `http::serve` starts one more per extra
        // `--http-threads`.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let options = crate::gateway::http::HttpOptions {
            listen,
            command: args.command.clone(),
            allowed_origins: args.allow_origin.clone(),
            grants,
            max_sessions: args.max_sessions,
            threads: http_threads(args),
            spin: Duration::from_micros(u64::from(args.spin_us)),
            remote,
            in_process: args.in_process_test_upstream.then(|| {
                crate::gateway::inproc::InProcess::test_server(
                    std::env::var_os("MCPWARDEN_TEST_LOG").map(Into::into),
                )
            }),
            policy_path: Some(policy_path.clone()),
            watch: !args.no_watch,
        };
        let code = runtime.block_on(crate::gateway::http::run(shared, options, |addr| {
            // Tests and scripts read the bound address (useful with port 0) from here.
            eprintln!("mcpwarden: listening on http://{addr}/mcp");
        }))?;
        runtime.shutdown_timeout(Duration::from_millis(100));
        return Ok(Outcome::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)));
    }
    let session_id = format!("stdio-{:016x}", fastrand::u64(..));
    let session = Arc::new(Session::new(shared, session_id, None));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let ending = runtime.block_on(crate::gateway::stdio::run(
        session,
        &args.command,
        Some(policy_path.clone()),
        !args.no_watch,
    ))?;
    // Worker threads may be blocked on stdin, which never ends while the client is alive.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let code = u8::try_from(ending.code().clamp(0, 255)).unwrap_or(1);
    Ok(Outcome::Exit(code))
}

/// Loads a policy, printing every problem with its path and position before refusing to
/// start. `server` names the `--config` entry it belongs to.
fn load_policy(path: &Path, server: Option<&str>) -> anyhow::Result<policy::CompiledPolicy> {
    match policy::load_file(path) {
        Ok(compiled) => Ok(compiled),
        Err(error) => {
            if let policy::PolicyError::Invalid { problems } = &error {
                for problem in problems {
                    eprintln!("{}: {problem}", path.display());
                }
            }
            let whose = server.map_or(String::new(), |server| format!(" of server {server:?}"));
            Err(anyhow::Error::new(error).context(format!(
                "the gateway did not start: the policy{whose} {} is not usable",
                path.display()
            )))
        }
    }
}

/// `--http-threads`, or one serving thread per core.
fn http_threads(args: &GatewayArgs) -> usize {
    args.http_threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        usize::from,
    )
}

/// `repin`: the command that re-pins this gateway's policy from its upstream, named in pin
/// refusals (see [`repin_command`]).
fn judge_config(args: &GatewayArgs, repin: Option<String>) -> JudgeConfig {
    JudgeConfig {
        max_message_bytes: args.max_message_bytes,
        call_timeout: Duration::from_secs_f64(args.call_timeout),
        audit_values: args.audit_values,
        repin,
        ..JudgeConfig::default()
    }
}

/// `mcpwarden policy pin --policy P -- <command>` (or `--upstream URL`), quoted for a POSIX
/// shell so it can be pasted as it is.
pub fn repin_command(
    policy: &Path,
    command: &[std::ffi::OsString],
    upstream: Option<&str>,
) -> String {
    let mut words = vec![
        "mcpwarden".to_owned(),
        "policy".to_owned(),
        "pin".to_owned(),
        "--policy".to_owned(),
        shell_word(&policy.to_string_lossy()),
    ];
    match upstream {
        Some(url) => words.extend(["--upstream".to_owned(), shell_word(url)]),
        None => {
            words.push("--".to_owned());
            words.extend(
                command
                    .iter()
                    .map(|word| shell_word(&word.to_string_lossy())),
            );
        }
    }
    words.join(" ")
}

/// `word` as a POSIX shell reads it back: bare when it is only safe characters, else in
/// single quotes.
fn shell_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `gateway --config FILE`: every server of the file behind one endpoint, each judged by
/// its own policy (`DIR/<server>.json`) with its own counters.
fn gateway_config(args: &GatewayArgs, config: &Path) -> anyhow::Result<Outcome> {
    let servers = config::load(config)?;
    let policies = args.policies.clone().unwrap_or_else(|| {
        config
            .parent()
            .unwrap_or(Path::new("."))
            .join("mcpwarden-policies")
    });
    let audit: Option<Arc<dyn AuditSink>> = match &args.audit {
        Some(path) => Some(Arc::from(audit::open(path)?)),
        None => None,
    };
    let mut shared = Vec::new();
    let mut reloads = Vec::new();
    for server in &servers {
        let path = entry_policy(&policies, server);
        if !path.is_file() {
            anyhow::bail!(
                "the gateway did not start: server {:?} in {} has no policy at {} (write one \
                 with `mcpwarden policy generate`, let `mcpwarden wrap` write it, or remove the \
                 server from the file)",
                server.name,
                config.display(),
                path.display()
            );
        }
        let compiled = load_policy(&path, Some(&server.name))?;
        let mut one = Shared::new(
            compiled,
            Arc::new(InMemoryCounters::new()),
            Arc::new(SystemClock),
            audit.clone(),
            judge_config(
                args,
                (!server.command.is_empty()).then(|| repin_command(&path, &server.command, None)),
            ),
        );
        one.server = Some(server.name.clone());
        let one = Arc::new(one);
        reloads.push((path, one.clone()));
        shared.push((server.name.clone(), one));
    }
    // Answers what names no server; it never forwards anything.
    let front = Arc::new(Shared::new(
        policy::load(r#"{"version": "1", "default": "deny"}"#)
            .context("the built-in deny-all policy")?,
        Arc::new(InMemoryCounters::new()),
        Arc::new(SystemClock),
        audit,
        judge_config(args, None),
    ));
    let watch = !args.no_watch;
    // With --listen, one event loop on this thread; `http::serve` starts the others.
    let mut builder = if args.listen.is_some() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = if let Some(listen) = args.listen {
        let grants = match &args.grants {
            Some(path) => Some(crate::gateway::http::Grants::load(path)?),
            None => None,
        };
        let options = crate::gateway::multi_http::MultiHttpOptions {
            listen,
            servers,
            allowed_origins: args.allow_origin.clone(),
            grants,
            max_sessions: args.max_sessions,
            threads: http_threads(args),
            watch,
        };
        runtime.block_on(crate::gateway::multi_http::run(
            front,
            shared,
            reloads,
            options,
            |addr| eprintln!("mcpwarden: listening on http://{addr}/mcp"),
        ))?
    } else {
        let session_id = format!("stdio-{:016x}", fastrand::u64(..));
        let multi = Arc::new(Multi::new(front, shared, &session_id, None));
        runtime.block_on(crate::gateway::multi_stdio::run(
            multi, &servers, reloads, watch,
        ))?
    };
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(Outcome::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
}

/// Where a `--config` entry's policy is: `DIR/<server>.json` (as `wrap` writes it), else the
/// file `policy generate --all` wrote into DIR for the package the entry runs.
fn entry_policy(policies: &Path, server: &config::ServerConfig) -> std::path::PathBuf {
    let named = config::policy_path(policies, &server.name);
    if named.is_file() {
        return named;
    }
    let words: Vec<String> = server
        .command
        .iter()
        .map(|word| word.to_string_lossy().into_owned())
        .collect();
    let Some((command, args)) = words.split_first() else {
        return named;
    };
    super::entry_package::package_of(command, args, server.cwd.as_deref())
        .map(|package| policies.join(policy::generate::policy_file_name(&package.name)))
        .filter(|path| path.is_file())
        .unwrap_or(named)
}

/// `--upstream URL` and its `--upstream-header`s, checked before the gateway starts.
fn remote(url: &str, headers: &[String]) -> anyhow::Result<crate::gateway::http::Remote> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        anyhow::bail!("--upstream {url:?} is not an http:// or https:// URL");
    }
    let mut map = HeaderMap::new();
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--upstream-header {header:?} is not `Name: value`"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("--upstream-header {header:?}: bad header name"))?;
        let value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("--upstream-header {header:?}: bad header value"))?;
        map.append(name, value);
    }
    let client = crate::gateway::http::Remote::new_client()
        .context("cannot build the HTTP client for --upstream")?;
    let url = reqwest::Url::parse(url)
        .with_context(|| format!("--upstream {url:?} is not a valid URL"))?;
    Ok(crate::gateway::http::Remote {
        url,
        headers: map,
        client,
    })
}

pub fn audit_tail(args: &AuditTailArgs) -> anyhow::Result<Outcome> {
    let (records, mut position) = audit::read_since(&args.path, TailPosition::default())?;
    let skip = args
        .lines
        .map_or(0, |lines| records.len().saturating_sub(lines));
    print_records(&records[skip..], args.output.json)?;
    if !args.follow {
        return Ok(Outcome::Clean);
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let (records, next) = audit::read_since(&args.path, position)?;
        position = next;
        print_records(&records, args.output.json)?;
    }
}

fn print_records(records: &[audit::AuditRecord], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for record in records {
        if json {
            serde_json::to_writer(&mut out, record)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", audit::render(record))?;
        }
    }
    out.flush()?;
    Ok(())
}
