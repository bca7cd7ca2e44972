//! `mcpwarden extract` (static, from source) and `mcpwarden inspect` (live, over stdio).

use std::io::Write;

use anyhow::Context;

use super::print_json;
use crate::cli::{ExtractArgs, InspectArgs, Outcome};
use crate::extract::{self, Options};
use crate::sandbox::install::Package;

pub fn extract(args: &ExtractArgs) -> anyhow::Result<Outcome> {
    let options = Options {
        include_tests: args.include_tests,
        include_dependencies: args.include_dependencies,
        ..Options::default()
    };
    let extraction = extract::extract_path(&args.path, &options)
        .with_context(|| format!("cannot extract tools from {}", args.path.display()))?;
    if args.json {
        print_json(&extraction)?;
    } else {
        render(&extraction, args.show_skipped)?;
    }
    Ok(if extraction.tool_count() == 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

fn render(extraction: &extract::Extraction, show_skipped: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for server in &extraction.servers {
        writeln!(
            out,
            "{} ({}): {} tool{}",
            server.name,
            server.root,
            server.tools.len(),
            if server.tools.len() == 1 { "" } else { "s" }
        )?;
        let width = server
            .tools
            .iter()
            .map(|tool| tool.name.chars().count())
            .max()
            .unwrap_or(0);
        for tool in &server.tools {
            let params = tool
                .input_schema
                .get("properties")
                .and_then(|properties| properties.as_object())
                .map(|properties| properties.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            writeln!(
                out,
                "  {:width$}  {}  [{}, confidence {:.2}]",
                tool.name,
                tool.location.as_deref().unwrap_or("?"),
                serde_json::to_value(tool.method)?
                    .as_str()
                    .unwrap_or_default(),
                tool.confidence,
            )?;
            if !tool.description.is_empty() {
                writeln!(out, "  {:width$}  {}", "", first_line(&tool.description))?;
            }
            if !params.is_empty() {
                writeln!(out, "  {:width$}  params: {params}", "")?;
            }
        }
        for unresolved in &server.unresolved {
            writeln!(
                out,
                "  unresolved at {}: {}",
                unresolved.location, unresolved.reason
            )?;
        }
        if let Some(unread) = &server.unread {
            writeln!(
                out,
                "  tools could not be read (unknown, not none): {} ({})",
                unread.reason, unread.location
            )?;
        }
    }
    if show_skipped {
        for skipped in &extraction.skipped {
            writeln!(out, "skipped {}: {}", skipped.path, skipped.reason)?;
        }
    }
    let stats = &extraction.stats;
    let mut summary = format!(
        "{} tools in {} server{} from {} source files ({:.1} MB, {} parsed) in {} ms",
        extraction.tool_count(),
        extraction.servers.len(),
        if extraction.servers.len() == 1 {
            ""
        } else {
            "s"
        },
        stats.files_seen,
        stats.bytes as f64 / 1_048_576.0,
        stats.files_parsed,
        stats.elapsed_ms
    );
    if !extraction.skipped.is_empty() && !show_skipped {
        summary.push_str(&format!(
            "; {} files skipped (--show-skipped lists them)",
            extraction.skipped.len()
        ));
    }
    eprintln!("{summary}");
    Ok(())
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let line = line.trim();
    if line.chars().count() > 100 {
        format!("{}...", line.chars().take(97).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// What `inspect --json` prints: the server, and each tool with its classification.
#[derive(serde::Serialize)]
struct InspectReport<'a> {
    /// False only with --live-unsandboxed.
    sandboxed: bool,
    server: &'a str,
    version: &'a str,
    protocol_version: &'a str,
    elapsed_ms: u64,
    tools: Vec<InspectedTool<'a>>,
}

#[derive(serde::Serialize)]
struct InspectedTool<'a> {
    #[serde(flatten)]
    tool: &'a crate::model::ToolDef,
    definition_hash: String,
    classification: crate::model::Classification,
}

pub fn inspect(args: &InspectArgs) -> anyhow::Result<Outcome> {
    let package = match (&args.npm, &args.pypi) {
        (Some(spec), _) => Some(Package::npm(spec)?),
        (_, Some(spec)) => Some(Package::pypi(spec)?),
        (None, None) => None,
    };
    anyhow::ensure!(
        package.is_some() || !args.command.is_empty(),
        "nothing to inspect: name a package (--npm NAME@VERSION, --pypi NAME==VERSION) or a \
         server command after `--`"
    );
    // The sandbox first: a machine that cannot make one refuses before installing.
    let sandbox = if args.live_unsandboxed {
        eprintln!(
            "WARNING: --live-unsandboxed: the server runs with your network, files and \
             permissions. Only do this for servers you trust."
        );
        None
    } else {
        Some(crate::sandbox::Sandbox::detect()?)
    };
    let mut read_only = args.read_only.clone();
    let command = match &package {
        Some(package) => {
            let cache = super::cache_dir(args.cache.as_deref())?;
            let registries = crate::sandbox::install::Registries {
                npm: args.npm_registry.clone(),
                pypi: args.pypi_index.clone(),
            };
            eprintln!(
                "installing {} (cached in {})",
                package.purl(),
                cache.display()
            );
            let installed = crate::sandbox::install::install(
                package,
                &cache,
                &registries,
                args.entry.as_deref(),
                args.module.as_deref(),
            )?;
            read_only.extend(installed.read_only);
            let mut command = installed.command;
            command.extend(args.command.iter().cloned());
            command
        }
        None => args.command.clone(),
    };
    let mut options = extract::live::LiveOptions::new(command);
    options.timeout = std::time::Duration::from_secs(args.timeout.max(1));
    options.env = args
        .env
        .iter()
        .map(|entry| parse_env(entry))
        .collect::<anyhow::Result<_>>()?;
    let scratch = tempfile::Builder::new()
        .prefix("mcpwarden-inspect")
        .tempdir()
        .context("cannot make a scratch folder for the server")?;
    for dir in &args.scratch_dirs {
        anyhow::ensure!(
            dir.is_relative() && !dir.components().any(|part| part.as_os_str() == ".."),
            "--scratch-dir {}: name a folder inside the scratch (relative, no `..`)",
            dir.display()
        );
        let path = scratch.path().join("scratch").join(dir);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    if let Some(sandbox) = sandbox {
        let spec = crate::sandbox::Spec {
            scratch: scratch.path().join("scratch"),
            read_only,
            env: Vec::new(),
            limits: crate::sandbox::Limits {
                memory_bytes: args.memory_mb.max(64) << 20,
                cpu_seconds: args.timeout.max(1) * 2,
                ..crate::sandbox::Limits::default()
            },
        };
        options.sandbox = Some((sandbox, spec));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let server = runtime.block_on(extract::live::inspect(&options))?;
    // The child was asked to stop; give its kill a moment before the runtime goes.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));

    let rules = super::classify::load_rules(None)?;
    let context = crate::classify::ServerContext {
        name: &server.name,
        description: "",
    };
    let tools: Vec<InspectedTool<'_>> = server
        .tools
        .iter()
        .map(|tool| InspectedTool {
            tool,
            definition_hash: tool.definition_hash(),
            classification: rules.classify(tool, &context),
        })
        .collect();
    if args.json {
        print_json(&InspectReport {
            sandboxed: !args.live_unsandboxed,
            server: &server.name,
            version: &server.version,
            protocol_version: &server.protocol_version,
            elapsed_ms: server.elapsed_ms,
            tools,
        })?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{} {} (protocol {}): {} tools",
            server.name,
            server.version,
            server.protocol_version,
            tools.len()
        )?;
        let width = tools
            .iter()
            .map(|t| t.tool.name.chars().count())
            .max()
            .unwrap_or(0);
        for item in &tools {
            writeln!(
                out,
                "  {:width$}  {:<11} {:<8}  {}",
                item.tool.name,
                item.classification.category.to_string(),
                item.classification.risk.to_string(),
                first_line(&item.tool.description),
            )?;
        }
        drop(out);
        eprintln!("listed in {} ms", server.elapsed_ms);
    }
    Ok(Outcome::Clean)
}

/// `NAME` takes the caller's value (an error when it has none); `NAME=VALUE` sets one.
fn parse_env(entry: &str) -> anyhow::Result<(String, String)> {
    if let Some((name, value)) = entry.split_once('=') {
        anyhow::ensure!(!name.is_empty(), "--env `{entry}`: the name is empty");
        return Ok((name.to_owned(), value.to_owned()));
    }
    let value = std::env::var(entry).with_context(|| {
        format!("--env {entry}: this shell has no {entry} to pass; use --env {entry}=VALUE")
    })?;
    Ok((entry.to_owned(), value))
}
