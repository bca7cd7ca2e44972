//! `mcpwarden gateway` (stdio, or Streamable HTTP with `--listen`) and `mcpwarden audit tail`.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{AuditTailArgs, GatewayArgs, Outcome};
use crate::gateway::audit::{self, AuditSink, TailPosition};
use crate::gateway::{JudgeConfig, Session, Shared};
use crate::policy::{self, InMemoryCounters, SystemClock};

pub fn gateway(args: &GatewayArgs) -> anyhow::Result<Outcome> {
    let compiled = match policy::load_file(&args.policy) {
        Ok(compiled) => compiled,
        Err(error) => {
            // Every problem, with its path and position, before refusing to start.
            if let policy::PolicyError::Invalid { problems } = &error {
                for problem in problems {
                    eprintln!("{}: {problem}", args.policy.display());
                }
            }
            return Err(anyhow::Error::new(error).context(format!(
                "the gateway did not start: the policy {} is not usable",
                args.policy.display()
            )));
        }
    };
    if !(args.call_timeout.is_finite() && args.call_timeout > 0.0) {
        anyhow::bail!(
            "--call-timeout must be a positive number of seconds, not {}",
            args.call_timeout
        );
    }
    let audit: Option<Arc<dyn AuditSink>> = match &args.audit {
        Some(path) => Some(Arc::from(audit::open(path)?)),
        None => None,
    };
    let shared = Arc::new(Shared::new(
        compiled,
        Arc::new(InMemoryCounters::new()),
        Arc::new(SystemClock),
        audit,
        JudgeConfig {
            max_message_bytes: args.max_message_bytes,
            call_timeout: Duration::from_secs_f64(args.call_timeout),
            audit_values: args.audit_values,
            ..JudgeConfig::default()
        },
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let options = crate::gateway::http::HttpOptions {
            listen,
            command: args.command.clone(),
            allowed_origins: args.allow_origin.clone(),
            grants,
            max_sessions: args.max_sessions,
            remote,
            in_process: args.in_process_test_upstream.then(|| {
                crate::gateway::inproc::InProcess::test_server(
                    std::env::var_os("MCPWARDEN_TEST_LOG").map(Into::into),
                )
            }),
            policy_path: Some(args.policy.clone()),
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
        Some(args.policy.clone()),
        !args.no_watch,
    ))?;
    // Worker threads may be blocked on stdin, which never ends while the client is alive.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let code = u8::try_from(ending.code().clamp(0, 255)).unwrap_or(1);
    Ok(Outcome::Exit(code))
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
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client for --upstream")?;
    Ok(crate::gateway::http::Remote {
        url: url.to_owned(),
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
