//! `mcpwarden extract` (static, from source) and `mcpwarden inspect` (live, over stdio).

use std::io::Write;

use anyhow::Context;

use super::print_json;
use crate::cli::{ExtractArgs, InspectArgs, Outcome};
use crate::extract::{self, Options};

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
    let mut options = extract::live::LiveOptions::new(args.command.clone());
    options.timeout = std::time::Duration::from_secs(args.timeout.max(1));
    options.env = args
        .env
        .iter()
        .map(|entry| parse_env(entry))
        .collect::<anyhow::Result<_>>()?;
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
