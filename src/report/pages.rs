//! The HTML pages (maud templates, which escape every interpolated value) and the
//! JavaScript data files of the report site.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::{Counts, SearchServer};
use crate::catalog::{ServerCard, ToolCard};
use crate::model::{Category, Risk};

pub const STYLE_CSS: &str = include_str!("assets/style.css");
pub const SITE_JS: &str = include_str!("assets/site.js");

/// Longest description shown in a server page's tool table, in characters.
const TABLE_DESCRIPTION_CHARS: usize = 200;

/// What the recommended policy says about one tool.
#[derive(Debug, Clone, PartialEq)]
pub enum RecommendedRule {
    /// The policy hook gave no policy for the server.
    NoPolicy,
    /// The tool is in the policy's `hide` list (or `hide` holds `"*"`).
    Hidden,
    /// The tool's `tools.<name>` entry.
    Rule(Value),
    /// The policy does not name the tool, so its `default` (`allow` or `deny`) applies.
    Default(String),
}

impl RecommendedRule {
    pub fn of(policy: Option<&Value>, tool: &str) -> RecommendedRule {
        let Some(policy) = policy else {
            return RecommendedRule::NoPolicy;
        };
        let hidden = policy
            .get("hide")
            .and_then(Value::as_array)
            .is_some_and(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|name| name == tool || name == "*")
            });
        if hidden {
            return RecommendedRule::Hidden;
        }
        if let Some(rule) = policy.get("tools").and_then(|tools| tools.get(tool)) {
            return RecommendedRule::Rule(rule.clone());
        }
        // The policy format's own default is deny when it says nothing.
        let default = policy
            .get("default")
            .and_then(Value::as_str)
            .unwrap_or("deny");
        RecommendedRule::Default(default.to_owned())
    }
}

/// Pretty JSON for a `<pre>`; values from serde_json always serialise.
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn risk_badge(risk: Option<Risk>) -> Markup {
    match risk {
        Some(risk) => html! {
            span class={ "badge risk-" (risk.as_str().to_ascii_lowercase()) } { (risk.as_str()) }
        },
        None => html! { span class="badge unclassified" { "not classified" } },
    }
}

fn category_badge(category: Option<Category>) -> Markup {
    match category {
        Some(category) => html! {
            span class={ "badge cat-" (category.as_str().to_ascii_lowercase()) } { (category.as_str()) }
        },
        None => html! { span class="badge unclassified" { "—" } },
    }
}

/// An external link only for http(s) URLs; anything else (`javascript:`, `data:`) is
/// shown as text, never as an `href`.
fn external_link(url: &str) -> Markup {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        html! { a href=(url) rel="noopener noreferrer nofollow" { (url) } }
    } else {
        html! { code { (url) } }
    }
}

/// The frame every page shares. `root` is the relative path back to the site root
/// (`""` or `"../../"`), so the site works from any folder and from `file://`.
fn layout(title: &str, root: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No network at all: a report must open offline and leak nothing.
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";
                title { (title) " · mcpwarden report" }
                link rel="stylesheet" href={ (root) "assets/style.css" };
                script src={ (root) "assets/site.js" } defer {}
            }
            body {
                header.site {
                    a.home href={ (root) "index.html" } { "mcpwarden" }
                    span.tagline { "MCP tool catalogue" }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

fn bar_chart(id: &str, label: &str, rows: &[(String, String, u64)]) -> Markup {
    const WIDTH: u64 = 360;
    const ROW: u64 = 26;
    let max = rows.iter().map(|(_, _, n)| *n).max().unwrap_or(0).max(1);
    let height = ROW * rows.len() as u64;
    html! {
        figure.chart id=(id) {
            figcaption { (label) }
            svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(label)
                width={ (WIDTH + 200) } height=(height) viewBox={ "0 0 " (WIDTH + 200) " " (height) } {
                @for (i, (name, class, n)) in rows.iter().enumerate() {
                    @let y = i as u64 * ROW;
                    @let w = if *n == 0 { 0 } else { (n * WIDTH / max).max(2) };
                    text x="0" y={ (y + 17) } class="label" { (name) }
                    rect x="110" y={ (y + 4) } width=(w) height="18" rx="3" class=(class) {}
                    text x={ (110 + w + 6) } y={ (y + 17) } class="count" { (n) }
                }
            }
        }
    }
}

/// The index page: counts, charts, and the search table that `site.js` fills.
pub fn index_page(counts: &Counts) -> String {
    let categories: Vec<(String, String, u64)> = counts
        .by_category
        .iter()
        .map(|(c, n)| {
            (
                c.as_str().to_owned(),
                format!("cat-{}", c.as_str().to_ascii_lowercase()),
                *n,
            )
        })
        .chain(std::iter::once((
            "not classified".to_owned(),
            "unclassified".to_owned(),
            counts.tools - counts.classified,
        )))
        .collect();
    let risks: Vec<(String, String, u64)> = counts
        .by_risk
        .iter()
        .rev()
        .map(|(r, n)| {
            (
                r.as_str().to_owned(),
                format!("risk-{}", r.as_str().to_ascii_lowercase()),
                *n,
            )
        })
        .collect();
    let body = html! {
        h1 { "MCP tool catalogue" }
        p.totals #totals {
            strong { (counts.servers) } " servers · "
            strong { (counts.tools) } " tools · "
            strong { (counts.classified) } " classified"
        }
        div.charts {
            (bar_chart("chart-category", "Tools per category", &categories))
            (bar_chart("chart-risk", "Tools per risk", &risks))
        }
        section #search-section {
            h2 { "Servers and tools" }
            form #filters role="search" {
                label { "Search " input #search type="search" placeholder="tool, server or description" autocomplete="off"; }
                label { "View "
                    select #view {
                        option value="tools" { "tools" }
                        option value="servers" { "servers" }
                    }
                }
                label { "Category "
                    select #category {
                        option value="" { "any" }
                        @for c in Category::ALL { option value=(c.as_str()) { (c.as_str()) } }
                        option value="none" { "not classified" }
                    }
                }
                label { "Risk "
                    select #risk {
                        option value="" { "any" }
                        @for r in Risk::ALL.iter().rev() { option value=(r.as_str()) { (r.as_str()) } }
                        option value="none" { "not classified" }
                    }
                }
                label { "Sort "
                    select #sort {
                        option value="name" { "by name" }
                        option value="risk" { "riskiest first" }
                    }
                }
            }
            p #status aria-live="polite" { "Loading the catalogue… (needs JavaScript)" }
            table #results {
                thead #results-head {}
                tbody #results-body {}
            }
            nav #pager {
                button #prev type="button" { "← Previous" }
                span #page-info {}
                button #next type="button" { "Next →" }
            }
        }
        script src="data/manifest.js" defer {}
    };
    layout("Catalogue", "", body)
}

pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn copy_block(id: &str, text: &str) -> Markup {
    html! {
        div.copyable {
            button.copy type="button" data-copy=(id) { "Copy" }
            pre id=(id) { (text) }
        }
    }
}

/// One server: facts, its tools, and the recommended policy.
pub fn server_page(card: &ServerCard, tool_slugs: &[String], policy: Option<&Value>) -> String {
    let record = &card.record;
    let body = html! {
        nav.crumbs { a href="../../index.html" { "All servers" } " › " (record.name) }
        h1 { (record.name) }
        @if let Some(title) = &record.title { p.subtitle { (title) } }
        @if let Some(description) = &record.description { p.description { (description) } }
        table.facts {
            @if let Some(repository) = &record.repository {
                tr { th { "repository" } td { (external_link(repository)) } }
            }
            @for package in &record.packages { tr { th { "package" } td { code { (package) } } } }
            @for remote in &record.remotes {
                tr { th { "remote" } td { (remote.kind) " " (external_link(&remote.url)) } }
            }
            @if let Some(language) = &record.language { tr { th { "language" } td { (language) } } }
            @if let Some(license) = &record.license { tr { th { "license" } td { (license) } } }
            @if let Some(stars) = record.stars { tr { th { "stars" } td { (stars) } } }
            @if let Some(last) = &record.last_commit { tr { th { "last commit" } td { (last) } } }
            @for source in &record.sources {
                tr { th { "source" } td { (source.source) " " code { (source.id) } } }
            }
            tr { th { "first seen" } td { (card.first_seen) } }
            tr { th { "last seen" } td { (card.last_seen) } }
        }
        h2 { "Tools (" (card.tools.len()) ")" }
        @if card.tools.is_empty() {
            p { "No tools are known for this server." }
        } @else {
            table.tools {
                thead { tr { th { "tool" } th { "category" } th { "risk" } th { "description" } } }
                tbody {
                    @for (tool, slug) in card.tools.iter().zip(tool_slugs) {
                        @let classification = tool.classification.as_ref();
                        tr {
                            td { a href={ (slug) ".html" } { (tool.tool.name) } }
                            td { (category_badge(classification.map(|c| c.category))) }
                            td { (risk_badge(classification.map(|c| c.risk))) }
                            td { (truncate(&tool.tool.description, TABLE_DESCRIPTION_CHARS)) }
                        }
                    }
                }
            }
        }
        h2 { "Recommended policy" }
        @match policy {
            Some(policy) => {
                p { "Save as " code { "policy.json" } " and run the server behind "
                    code { "mcpwarden gateway --policy policy.json -- <server command>" } "." }
                (copy_block("policy-json", &pretty(policy)))
            }
            None => p.missing #policy-missing { "No recommended policy yet." },
        }
    };
    layout(&record.name, "../../", body)
}

/// One tool: definition, parameters, classification, recommended rule and findings.
pub fn tool_page(server: &ServerCard, tool: &ToolCard, rule: &RecommendedRule) -> String {
    let def = &tool.tool;
    let classification = tool.classification.as_ref();
    let parameters = def.parameters();
    let body = html! {
        nav.crumbs {
            a href="../../index.html" { "All servers" } " › "
            a href="index.html" { (server.record.name) } " › " (def.name)
        }
        h1 #tool-name { (def.name) }
        @if let Some(title) = &def.title { p.subtitle { (title) } }
        p.verdict {
            (category_badge(classification.map(|c| c.category))) " "
            (risk_badge(classification.map(|c| c.risk)))
        }
        h2 { "Description" }
        @if def.description.is_empty() {
            p.missing { "No description." }
        } @else {
            p.description #description { (def.description) }
        }
        h2 { "Parameters" }
        @if parameters.is_empty() {
            p.missing { "No parameters." }
        } @else {
            table.params {
                thead { tr { th { "name" } th { "type" } th { "required" } th { "description" } } }
                tbody {
                    @for p in &parameters {
                        tr {
                            td { code { (p.name) } }
                            td { (p.kind) }
                            td { @if p.required { "required" } @else { "optional" } }
                            td { (p.description.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        h2 { "Classification" }
        @match classification {
            None => p.missing { "Not classified yet." },
            Some(c) => {
                dl.classification #classification {
                    dt { "category" } dd #category { (c.category.as_str()) }
                    dt { "risk" } dd #risk { (c.risk.as_str()) }
                    dt { "rationale" } dd #rationale { (c.rationale) }
                    dt { "signals" }
                    dd {
                        @if c.signals.is_empty() { "none" } @else {
                            ul #signals {
                                @for s in &c.signals {
                                    li { code { (s.name) }
                                        @if let Some(evidence) = &s.evidence { ": “" (evidence) "”" } }
                                }
                            }
                        }
                    }
                    @if !c.rule_ids.is_empty() {
                        dt { "rules" } dd { @for (i, id) in c.rule_ids.iter().enumerate() {
                            @if i > 0 { ", " } code { (id) } } }
                    }
                    dt { "confidence" } dd { (format!("{:.2}", c.confidence)) }
                    dt { "classifier" } dd { code { (c.version) } }
                }
            }
        }
        h2 { "Recommended rule" }
        div #rule {
            @match rule {
                RecommendedRule::NoPolicy => p.missing { "No recommended policy yet." },
                RecommendedRule::Hidden => p.hidden {
                    strong { "hidden" } ": the recommended policy lists this tool under "
                    code { "hide" } ", so agents never see it and calls to it are refused." },
                RecommendedRule::Rule(value) => {
                    @if value.as_object().is_some_and(|rule| rule.is_empty()) {
                        p { "Allowed without conditions (" code { "{}" } ")." }
                    }
                    (copy_block("rule-json", &pretty(value)))
                }
                RecommendedRule::Default(default) => p {
                    "Not named in the recommended policy, so its default applies: "
                    strong { (default) } "." },
            }
            @if *rule != RecommendedRule::NoPolicy {
                p { a href="index.html#policy-json" { "The whole recommended policy for " (server.record.name) } }
            }
        }
        h2 { "Poisoning findings" }
        @match classification {
            None => p.missing { "Not classified yet." },
            Some(c) if c.findings.is_empty() => p.none #findings-none { "No findings." },
            Some(c) => {
                table.findings #findings {
                    thead { tr { th { "finding" } th { "severity" } th { "quote" } th { "message" } } }
                    tbody {
                        @for f in &c.findings {
                            tr {
                                td { code { (f.kind) } }
                                td { (risk_badge(Some(f.severity))) }
                                td { q { (f.quote) } }
                                td { (f.message) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Definition" }
        table.facts {
            tr { th { "server" } td { a href="index.html" { (server.record.name) } } }
            @if let Some(location) = &def.location { tr { th { "location" } td { code { (location) } } } }
            tr { th { "extraction" } td { (def.method.as_str()) " (confidence " (format!("{:.2}", def.confidence)) ")" } }
            tr { th { "annotations" } td {
                @match &def.annotations {
                    Some(a) => { code { (a.to_string()) } " (" (def.annotation_source.as_str()) ")" }
                    None => "none",
                }
            } }
            tr { th { "definition hash" } td { code { (tool.definition_hash) } } }
        }
        details {
            summary { "Input schema" }
            pre { (pretty(&def.input_schema)) }
        }
    };
    layout(
        &format!("{} · {}", def.name, server.record.name),
        "../../",
        body,
    )
}

/// `data/manifest.js`: which chunk files hold the search data, and how much there is.
pub fn manifest_js(files: &[String], servers: u64, tools: u64) -> String {
    let manifest = serde_json::json!({ "files": files, "servers": servers, "tools": tools });
    format!("MCPW.manifest({manifest});\n")
}

/// One `data/servers-NNNNN.js` chunk.
pub fn chunk_js(index: usize, rows: &[SearchServer]) -> String {
    // serde_json escapes what JSON needs; a script loaded by `src` is not parsed as HTML,
    // so `</script>` inside a name cannot end it.
    let json = serde_json::to_string(rows).unwrap_or_else(|_| "[]".to_owned());
    format!("MCPW.chunk({index},{json});\n")
}
