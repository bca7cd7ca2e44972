//! `mcpwarden catalog show | search | stats | import | export`.

use std::io::{BufReader, Write};

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;

use super::{Settings, print_json};
use crate::catalog::{self, SearchQuery, ServerCard, ToolCard};
use crate::classify::{Explanation, ServerContext};
use crate::cli::{ExportArgs, ImportArgs, Outcome, SearchArgs, ShowArgs};
use crate::model::{Classification, Parameter};
use crate::progress::Progress;

/// How many near names a failed `show` suggests.
const SUGGESTIONS: usize = 5;

/// A tool card as `--json` prints it: a stable wire shape, apart from the model.
#[derive(Debug, Serialize)]
pub struct ToolCardJson<'a> {
    pub tool: &'a str,
    pub title: Option<&'a str>,
    pub server: ServerJson<'a>,
    pub description: &'a str,
    pub parameters: Vec<Parameter>,
    pub input_schema: &'a Value,
    pub annotations: Option<&'a Value>,
    pub annotation_source: &'a str,
    pub method: &'a str,
    pub location: Option<&'a str>,
    pub confidence: f64,
    pub definition_hash: &'a str,
    /// `null` until the tool is classified.
    pub classification: Option<&'a Classification>,
    /// The policy rule recommended for this tool; `null` until the policy stage can say.
    pub recommended_rule: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct ServerJson<'a> {
    pub name: &'a str,
    pub repository: Option<&'a str>,
    pub packages: &'a [String],
}

impl<'a> ToolCardJson<'a> {
    pub fn new(card: &'a ToolCard) -> ToolCardJson<'a> {
        ToolCardJson {
            tool: &card.tool.name,
            title: card.tool.title.as_deref(),
            server: ServerJson {
                name: &card.server.name,
                repository: card.server.repository.as_deref(),
                packages: &card.server.packages,
            },
            description: &card.tool.description,
            parameters: card.tool.parameters(),
            input_schema: &card.tool.input_schema,
            annotations: card.tool.annotations.as_ref(),
            annotation_source: card.tool.annotation_source.as_str(),
            method: card.tool.method.as_str(),
            location: card.tool.location.as_deref(),
            confidence: card.tool.confidence,
            definition_hash: &card.definition_hash,
            classification: card.classification.as_ref(),
            recommended_rule: recommended_rule(card),
        }
    }
}

/// The recommended policy rule for a classified tool (`{"hide": true}` for one to hide);
/// none until the tool is classified.
fn recommended_rule(card: &ToolCard) -> Option<Value> {
    let classification = card.classification.as_ref()?;
    Some(crate::policy::recommended_rule(&card.tool, classification))
}

#[derive(Debug, Serialize)]
struct ShowJson<'a> {
    query: &'a str,
    /// `tools`, `servers`, or `null` when nothing matched.
    matched: Option<&'static str>,
    tools: Vec<ToolCardJson<'a>>,
    servers: Vec<ServerCardJson<'a>>,
    suggestions: Vec<String>,
    /// With `--explain`: per tool, in the order of `tools`, every rule that fired.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    explanations: Vec<Explanation>,
}

#[derive(Debug, Serialize)]
struct ServerCardJson<'a> {
    name: &'a str,
    title: Option<&'a str>,
    description: Option<&'a str>,
    repository: Option<&'a str>,
    packages: &'a [String],
    remotes: &'a [crate::model::Remote],
    language: Option<&'a str>,
    license: Option<&'a str>,
    stars: Option<u64>,
    /// `null` when no source has said.
    archived: Option<bool>,
    sources: &'a [crate::model::SourceRef],
    first_seen: &'a str,
    last_seen: &'a str,
    tools: Vec<ToolCardJson<'a>>,
    /// Why the tools could not be read: the list is unknown, not empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    tools_unread: Option<&'a str>,
    /// What the server listed when run in the sandbox, and how that compares with its
    /// source.
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<&'a crate::model::LiveListing>,
}

impl<'a> ServerCardJson<'a> {
    fn new(card: &'a ServerCard) -> ServerCardJson<'a> {
        let record = &card.record;
        ServerCardJson {
            name: &record.name,
            title: record.title.as_deref(),
            description: record.description.as_deref(),
            repository: record.repository.as_deref(),
            packages: &record.packages,
            remotes: &record.remotes,
            language: record.language.as_deref(),
            license: record.license.as_deref(),
            stars: record.stars,
            archived: record.archived,
            sources: &record.sources,
            first_seen: &card.first_seen,
            last_seen: &card.last_seen,
            tools: card.tools.iter().map(ToolCardJson::new).collect(),
            tools_unread: card.tools_unread.as_deref(),
            live: card.live.as_ref(),
        }
    }
}

pub fn show(settings: &Settings, args: &ShowArgs) -> anyhow::Result<Outcome> {
    let catalog = settings.open_existing_catalog()?;
    let tools = catalog.find_tools(&args.name)?;
    let servers = if tools.is_empty() {
        catalog.find_servers(&args.name)?
    } else {
        Vec::new()
    };
    let suggestions = if tools.is_empty() && servers.is_empty() {
        catalog.closest_names(&args.name, SUGGESTIONS)?
    } else {
        Vec::new()
    };
    // --explain re-runs the rules on each tool: the stored verdict says what was decided,
    // the explanation says why, by the rules loaded now.
    let explained = if args.explain {
        let rules = super::classify::load_rules(args.rules.as_deref())?;
        let explanations: Vec<Explanation> = tools
            .iter()
            .map(|card| {
                let context = ServerContext {
                    name: &card.server.name,
                    description: card.server.description.as_deref().unwrap_or(""),
                };
                rules.explain(&card.tool, &context)
            })
            .collect();
        Some((rules.version().to_owned(), explanations))
    } else {
        None
    };
    let matched = match (tools.is_empty(), servers.is_empty()) {
        (false, _) => Some("tools"),
        (true, false) => Some("servers"),
        (true, true) => None,
    };
    if args.output.json {
        print_json(&ShowJson {
            query: &args.name,
            matched,
            tools: tools.iter().map(ToolCardJson::new).collect(),
            servers: servers.iter().map(ServerCardJson::new).collect(),
            suggestions: suggestions.clone(),
            explanations: explained.clone().map(|(_, e)| e).unwrap_or_default(),
        })?;
    } else {
        let mut out = std::io::stdout().lock();
        for (index, card) in tools.iter().enumerate() {
            if index > 0 {
                writeln!(out)?;
            }
            write_tool_card(&mut out, card)?;
            if let Some((version, explanations)) = &explained {
                write_explanation(&mut out, card, version, &explanations[index])?;
            }
        }
        for (index, card) in servers.iter().enumerate() {
            if index > 0 {
                writeln!(out)?;
            }
            write_server_card(&mut out, card)?;
        }
    }
    if matched.is_some() {
        return Ok(Outcome::Clean);
    }
    eprintln!("no tool or server named `{}` in the catalogue", args.name);
    if suggestions.is_empty() {
        eprintln!("nothing with a similar name either; try `mcpwarden catalog search WORDS`");
    } else {
        eprintln!("closest names: {}", suggestions.join(", "));
    }
    Ok(Outcome::Findings)
}

const LABEL_WIDTH: usize = 12;

fn write_field(out: &mut impl Write, label: &str, value: &str) -> std::io::Result<()> {
    writeln!(out, "  {label:<LABEL_WIDTH$}{value}")
}

/// Writes a tool card for a person: the tool, its server, what it says it does, what it
/// takes, and the verdict.
pub fn write_tool_card(out: &mut impl Write, card: &ToolCard) -> std::io::Result<()> {
    let tool = &card.tool;
    match &tool.title {
        Some(title) => writeln!(out, "{}  ({title})", tool.name)?,
        None => writeln!(out, "{}", tool.name)?,
    }
    write_field(out, "server", &card.server.name)?;
    if let Some(repository) = &card.server.repository {
        write_field(out, "repository", repository)?;
    }
    for package in &card.server.packages {
        write_field(out, "package", package)?;
    }
    let found = match &tool.location {
        Some(location) => format!("{} at {location}", tool.method),
        None => tool.method.to_string(),
    };
    write_field(out, "found by", &found)?;
    writeln!(out)?;
    if tool.description.trim().is_empty() {
        writeln!(out, "  (no description)")?;
    } else {
        for line in tool.description.trim().lines() {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out)?;
    let parameters = tool.parameters();
    if parameters.is_empty() {
        write_field(out, "parameters", "none")?;
    } else {
        writeln!(out, "  parameters")?;
        let name_width = parameters.iter().map(|p| p.name.len()).max().unwrap_or(0);
        let type_width = parameters.iter().map(|p| p.kind.len()).max().unwrap_or(0);
        for parameter in &parameters {
            writeln!(
                out,
                "    {:<name_width$}  {:<type_width$}  {:<8}  {}",
                parameter.name,
                parameter.kind,
                if parameter.required {
                    "required"
                } else {
                    "optional"
                },
                parameter
                    .description
                    .as_deref()
                    .unwrap_or("")
                    .replace('\n', " "),
            )?;
        }
    }
    if let Some(annotations) = &tool.annotations {
        write_field(
            out,
            "annotations",
            &format!("{annotations} ({})", tool.annotation_source),
        )?;
    }
    writeln!(out)?;
    let Some(verdict) = &card.classification else {
        write_field(out, "category", "not classified yet")?;
        return Ok(());
    };
    write_field(out, "category", verdict.category.as_str())?;
    write_field(out, "risk", verdict.risk.as_str())?;
    if !verdict.signals.is_empty() {
        let signals: Vec<String> = verdict
            .signals
            .iter()
            .map(|signal| match &signal.evidence {
                Some(evidence) => format!("{} (\"{evidence}\")", signal.name),
                None => signal.name.to_string(),
            })
            .collect();
        write_field(out, "signals", &signals.join(", "))?;
    }
    write_field(out, "rationale", &verdict.rationale)?;
    for finding in &verdict.findings {
        write_field(
            out,
            "finding",
            &format!(
                "{} [{}]: {} (\"{}\")",
                finding.kind, finding.severity, finding.message, finding.quote
            ),
        )?;
    }
    match recommended_rule(card) {
        Some(rule) => write_field(out, "policy", &rule.to_string())?,
        None => write_field(
            out,
            "policy",
            "no recommended rule until the tool is classified",
        )?,
    }
    Ok(())
}

/// Writes every rule that fired for a tool, heaviest category evidence first, then the
/// risk and finding rules.
fn write_explanation(
    out: &mut impl Write,
    card: &ToolCard,
    version: &str,
    explanation: &Explanation,
) -> std::io::Result<()> {
    writeln!(out)?;
    let stored = card.classification.as_ref().map(|c| &*c.version);
    let header = match stored {
        Some(stored) if stored != version => {
            format!(
                "rules {version} (the stored verdict came from {stored}; run `mcpwarden classify`)"
            )
        }
        _ => format!("rules {version}"),
    };
    write_field(out, "explain", &header)?;
    let scores: Vec<String> = explanation
        .scores
        .iter()
        .map(|(category, score)| format!("{category} {score:.1}"))
        .collect();
    write_field(out, "evidence", &scores.join(", "))?;
    let verdict = &explanation.classification;
    write_field(
        out,
        "verdict",
        &format!(
            "{}, {} (confidence {:.2})",
            verdict.category, verdict.risk, verdict.confidence
        ),
    )?;
    let mut fired: Vec<_> = explanation.fired.iter().collect();
    fired.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let width = fired.iter().map(|rule| rule.id.len()).max().unwrap_or(0);
    for rule in fired {
        let effect = match (rule.category, rule.risk_at_least, rule.risk_step) {
            (Some(category), _, _) => format!("+{:.1} {category}", rule.weight),
            (None, Some(floor), _) => format!("risk >= {floor}"),
            (None, None, step) if step != 0 => format!("risk {step:+}"),
            _ => rule.signal.clone().unwrap_or_else(|| "finding".to_owned()),
        };
        let moved = if rule.moved_risk { " (moved risk)" } else { "" };
        writeln!(
            out,
            "    {:<width$}  {:<18}  \"{}\"{moved}",
            rule.id, effect, rule.evidence
        )?;
    }
    Ok(())
}

fn write_server_card(out: &mut impl Write, card: &ServerCard) -> std::io::Result<()> {
    let record = &card.record;
    writeln!(out, "{}", record.name)?;
    if let Some(title) = &record.title {
        write_field(out, "title", title)?;
    }
    if let Some(repository) = &record.repository {
        write_field(out, "repository", repository)?;
    }
    for package in &record.packages {
        write_field(out, "package", package)?;
    }
    for remote in &record.remotes {
        write_field(out, "remote", &format!("{} {}", remote.kind, remote.url))?;
    }
    if record.archived == Some(true) {
        write_field(
            out,
            "archived",
            "yes: the repository is read-only and unmaintained",
        )?;
    }
    let sources: Vec<&str> = record.sources.iter().map(|s| s.source.as_str()).collect();
    if !sources.is_empty() {
        write_field(out, "seen by", &sources.join(", "))?;
    }
    write_field(
        out,
        "seen",
        &format!("first {}, last {}", card.first_seen, card.last_seen),
    )?;
    if let Some(description) = &record.description {
        writeln!(out)?;
        writeln!(out, "  {}", description.trim())?;
    }
    writeln!(out)?;
    if let Some(live) = &card.live {
        write_live_listing(out, live)?;
    }
    if card.tools.is_empty()
        && let Some(reason) = &card.tools_unread
    {
        writeln!(
            out,
            "  tools: could not be read (unknown, not none): {reason}"
        )?;
        return Ok(());
    }
    writeln!(out, "  tools ({})", card.tools.len())?;
    let width = card
        .tools
        .iter()
        .map(|t| t.tool.name.len())
        .max()
        .unwrap_or(0);
    for tool in &card.tools {
        let verdict = match &tool.classification {
            Some(c) => format!("{:<11} {:<8}", c.category.as_str(), c.risk.as_str()),
            None => format!("{:<20}", "not classified"),
        };
        let summary = first_sentence(&tool.tool.description);
        writeln!(out, "    {:<width$}  {verdict}  {summary}", tool.tool.name)?;
    }
    Ok(())
}

fn first_sentence(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("");
    let cut = line.find(". ").map_or(line, |end| &line[..=end]);
    if cut.chars().count() > 80 {
        let short: String = cut.chars().take(77).collect();
        format!("{short}...")
    } else {
        cut.to_owned()
    }
}

pub fn search(settings: &Settings, args: &SearchArgs) -> anyhow::Result<Outcome> {
    let catalog = settings.open_existing_catalog()?;
    let hits = catalog.search(&SearchQuery {
        text: args.query.clone(),
        category: args.category,
        risk: args.risk,
        server: args.server.clone(),
        archived: match (args.archived, args.exclude_archived) {
            (true, _) => Some(true),
            (false, true) => Some(false),
            (false, false) => None,
        },
        limit: args.limit,
    })?;
    if args.output.json {
        print_json(&hits)?;
    } else {
        let mut out = std::io::stdout().lock();
        let width = hits.iter().map(|hit| hit.tool.len()).max().unwrap_or(0);
        let server_label = |hit: &catalog::SearchHit| {
            if hit.archived == Some(true) {
                format!("{} (archived)", hit.server)
            } else {
                hit.server.clone()
            }
        };
        let server_width = hits
            .iter()
            .map(|hit| server_label(hit).len())
            .max()
            .unwrap_or(0);
        for hit in &hits {
            let verdict = match (hit.category, hit.risk) {
                (Some(category), Some(risk)) => {
                    format!("{:<11} {:<8}", category.as_str(), risk.as_str())
                }
                _ => format!("{:<20}", "not classified"),
            };
            writeln!(
                out,
                "{:<width$}  {verdict}  {:<server_width$}  {}",
                hit.tool,
                server_label(hit),
                first_sentence(&hit.description)
            )?;
        }
    }
    if hits.is_empty() {
        eprintln!("no tools match");
        return Ok(Outcome::Findings);
    }
    Ok(Outcome::Clean)
}

#[derive(Debug, Serialize)]
struct StatsJson<'a> {
    database: String,
    database_chosen_by: super::DbChosenBy,
    #[serde(flatten)]
    stats: &'a catalog::Stats,
}

pub fn stats(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let catalog = settings.open_existing_catalog()?;
    let stats = catalog.stats()?;
    if json {
        print_json(&StatsJson {
            database: settings.db.display().to_string(),
            database_chosen_by: settings.db_chosen_by,
            stats: &stats,
        })?;
        return Ok(Outcome::Clean);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "catalogue   {} ({}, schema v{}, {})",
        settings.db.display(),
        settings.db_chosen_by.describe(),
        stats.schema_version,
        human_bytes(stats.size_bytes)
    )?;
    writeln!(out, "servers     {}", stats.servers)?;
    writeln!(
        out,
        "tools       {} ({} classified)",
        stats.tools, stats.classified
    )?;
    let table = |out: &mut dyn Write, title: &str, rows: &[(String, u64)]| -> std::io::Result<()> {
        writeln!(out)?;
        writeln!(out, "{title}")?;
        for (name, count) in rows {
            writeln!(out, "  {name:<12}{count:>8}")?;
        }
        Ok(())
    };
    table(&mut out, "by category", &stats.by_category)?;
    table(&mut out, "by risk", &stats.by_risk)?;
    table(&mut out, "servers by source", &stats.by_source)?;
    Ok(Outcome::Clean)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn import(settings: &Settings, args: &ImportArgs) -> anyhow::Result<Outcome> {
    let mut catalog = settings.open_catalog()?;
    let reporter = super::reporter::BarReporter::new();
    let label = args.file.display().to_string();
    let report = if args.file.as_os_str() == "-" {
        reporter.start("importing", None);
        catalog::import_jsonl(&mut catalog, std::io::stdin().lock(), &reporter)
    } else {
        let file = fs_err::File::open(&args.file)?;
        let size = file.metadata().map(|meta| meta.len()).ok();
        reporter.start("importing", size);
        catalog::import_jsonl(&mut catalog, BufReader::new(file), &reporter)
    }
    .with_context(|| format!("cannot import {label}"))?;
    reporter.finish();
    for error in &report.errors {
        eprintln!("{label}:{}: {}", error.line, error.message);
    }
    if args.output.json {
        print_json(&report)?;
    } else {
        let stored = report.stored;
        eprintln!(
            "imported {label} into {}: {} new, {} updated, {} unchanged, {} bad lines",
            settings.db.display(),
            stored.inserted,
            stored.updated,
            stored.unchanged,
            report.errors.len()
        );
    }
    Ok(if report.errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

pub fn export(settings: &Settings, args: &ExportArgs) -> anyhow::Result<Outcome> {
    let catalog = settings.open_existing_catalog()?;
    let count = match &args.out {
        Some(path) => {
            let file = fs_err::File::create(path)?;
            catalog::export_jsonl(&catalog, std::io::BufWriter::new(file))
                .with_context(|| format!("cannot export to {}", path.display()))?
        }
        None => catalog::export_jsonl(&catalog, std::io::BufWriter::new(std::io::stdout().lock()))?,
    };
    eprintln!("exported {count} servers");
    Ok(Outcome::Clean)
}

/// One paragraph: when the server was run, what it listed, and where that differs from
/// what its source shows.
fn write_live_listing(
    out: &mut impl Write,
    live: &crate::model::LiveListing,
) -> std::io::Result<()> {
    let how = if live.sandboxed {
        "in the sandbox"
    } else {
        "UNSANDBOXED"
    };
    match (live.listed, &live.failure) {
        (Some(listed), _) => writeln!(out, "  run {how} {}: listed {listed} tools", live.at)?,
        (None, Some(reason)) => {
            let first = reason.lines().next().unwrap_or_default();
            writeln!(out, "  run {how} {}: did not list: {first}", live.at)?;
        }
        (None, None) => writeln!(out, "  run {how} {}: did not list", live.at)?,
    }
    for (label, names) in [
        ("only in its source (not listed live)", &live.only_static),
        ("only listed live (not in its source)", &live.only_live),
        ("defined differently live than in its source", &live.differ),
    ] {
        if !names.is_empty() {
            writeln!(out, "    {label}: {}", names.join(", "))?;
        }
    }
    writeln!(out)
}
