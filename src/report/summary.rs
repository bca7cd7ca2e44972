//! `reports/summary.md`: totals, the riskiest tools, and the servers with the most
//! Execute, Destructive and Financial tools. Kept to bounded top lists, so it is built
//! while the site is written without holding the catalogue.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt::Write;

use super::Counts;
use crate::catalog::ToolCard;
use crate::model::{Category, Classification, Risk};

/// How many rows each top list of the summary shows.
pub const SUMMARY_TOP: usize = 25;

/// A High or Critical tool, as the summary lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskyTool {
    pub risk: Risk,
    pub category: Category,
    /// Poisoning and annotation findings: a risky tool with findings is listed first.
    pub findings: usize,
    pub server: String,
    pub tool: String,
    pub rationale: String,
}

impl RiskyTool {
    pub fn new(server: &str, card: &ToolCard, classification: &Classification) -> RiskyTool {
        RiskyTool {
            risk: classification.risk,
            category: classification.category,
            findings: classification.findings.len(),
            server: server.to_owned(),
            tool: card.tool.name.clone(),
            rationale: classification.rationale.clone(),
        }
    }

    /// Riskier first, then more findings, then by server and tool name.
    fn rank(&self, other: &Self) -> Ordering {
        other
            .risk
            .cmp(&self.risk)
            .then(other.findings.cmp(&self.findings))
            .then_with(|| self.server.cmp(&other.server))
            .then_with(|| self.tool.cmp(&other.tool))
    }
}

/// Wraps a value so a max-heap keeps the *worst-ranked* on top, ready to be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ranked<T>(T);

impl Ord for Ranked<RiskyTool> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank(&other.0)
    }
}
impl PartialOrd for Ranked<RiskyTool> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best [`SUMMARY_TOP`] risky tools seen so far.
#[derive(Debug, Default)]
pub struct TopRisky(BinaryHeap<Ranked<RiskyTool>>);

impl TopRisky {
    pub fn offer(&mut self, tool: RiskyTool) {
        self.0.push(Ranked(tool));
        if self.0.len() > SUMMARY_TOP {
            self.0.pop();
        }
    }

    fn sorted(&self) -> Vec<&RiskyTool> {
        let mut tools: Vec<&RiskyTool> = self.0.iter().map(|ranked| &ranked.0).collect();
        tools.sort_by(|a, b| a.rank(b));
        tools
    }
}

/// A server's count of Execute, Destructive and Financial tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DangerousServer {
    pub name: String,
    pub execute: u64,
    pub destructive: u64,
    pub financial: u64,
}

impl DangerousServer {
    fn total(&self) -> u64 {
        self.execute + self.destructive + self.financial
    }

    /// More such tools first, then by name.
    fn rank(&self, other: &Self) -> Ordering {
        other
            .total()
            .cmp(&self.total())
            .then_with(|| self.name.cmp(&other.name))
    }
}

impl Ord for Ranked<DangerousServer> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank(&other.0)
    }
}
impl PartialOrd for Ranked<DangerousServer> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The [`SUMMARY_TOP`] servers with the most Execute, Destructive and Financial tools.
#[derive(Debug, Default)]
pub struct TopDangerous(BinaryHeap<Ranked<DangerousServer>>);

impl TopDangerous {
    pub fn offer(&mut self, server: DangerousServer) {
        if server.total() == 0 {
            return;
        }
        self.0.push(Ranked(server));
        if self.0.len() > SUMMARY_TOP {
            self.0.pop();
        }
    }

    fn sorted(&self) -> Vec<&DangerousServer> {
        let mut servers: Vec<&DangerousServer> = self.0.iter().map(|ranked| &ranked.0).collect();
        servers.sort_by(|a, b| a.rank(b));
        servers
    }
}

/// The whole Markdown document.
pub(crate) fn render(counts: &Counts, risky: &TopRisky, dangerous: &TopDangerous) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(&mut md, counts, risky, dangerous);
    md
}

fn write_summary(
    md: &mut String,
    counts: &Counts,
    risky: &TopRisky,
    dangerous: &TopDangerous,
) -> std::fmt::Result {
    writeln!(md, "# MCP tool catalogue: summary\n")?;
    writeln!(
        md,
        "{} servers, {} tools, {} classified ({} not classified yet).\n",
        counts.servers,
        counts.tools,
        counts.classified,
        counts.tools - counts.classified
    )?;
    writeln!(md, "## Totals\n")?;
    writeln!(md, "| category | tools |\n|---|---:|")?;
    for (category, n) in &counts.by_category {
        writeln!(md, "| {category} | {n} |")?;
    }
    writeln!(md, "\n| risk | tools |\n|---|---:|")?;
    for (risk, n) in counts.by_risk.iter().rev() {
        writeln!(md, "| {risk} | {n} |")?;
    }

    writeln!(md, "\n## Top high-risk tools\n")?;
    let tools = risky.sorted();
    if tools.is_empty() {
        writeln!(md, "No tool is classified High or Critical.")?;
    } else {
        writeln!(
            md,
            "The {} riskiest tools (High and Critical; tools with poisoning findings first).\n",
            tools.len()
        )?;
        writeln!(
            md,
            "| risk | category | tool | server | findings | rationale |\n|---|---|---|---|---:|---|"
        )?;
        for tool in tools {
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                tool.risk,
                tool.category,
                code(&tool.tool),
                code(&tool.server),
                tool.findings,
                cell(&tool.rationale)
            )?;
        }
    }

    writeln!(
        md,
        "\n## Servers with the most Execute, Destructive and Financial tools\n"
    )?;
    let servers = dangerous.sorted();
    if servers.is_empty() {
        writeln!(
            md,
            "No server has an Execute, Destructive or Financial tool."
        )?;
    } else {
        writeln!(
            md,
            "| server | Execute | Destructive | Financial | total |\n|---|---:|---:|---:|---:|"
        )?;
        for server in servers {
            writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                code(&server.name),
                server.execute,
                server.destructive,
                server.financial,
                server.total()
            )?;
        }
    }
    Ok(())
}

/// Untrusted text as a table cell: one line, no `|` to end the cell, and no raw HTML or
/// Markdown syntax that a renderer would act on.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A name as inline code. Backticks inside are replaced (a code span cannot escape them)
/// and `|` is escaped, which GitHub-flavoured tables honour even inside code.
fn code(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", clean.replace('|', "\\|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
        assert_eq!(cell("<script>x</script>"), "&lt;script&gt;x&lt;/script&gt;");
        assert_eq!(cell("[click](javascript:x)"), "\\[click\\](javascript:x)");
        assert_eq!(code("a`b|c"), "`a'b\\|c`");
    }

    fn risky(risk: Risk, findings: usize, tool: &str) -> RiskyTool {
        RiskyTool {
            risk,
            category: Category::Execute,
            findings,
            server: "s".into(),
            tool: tool.into(),
            rationale: String::new(),
        }
    }

    #[test]
    fn top_risky_keeps_the_worst_in_order() {
        let mut top = TopRisky::default();
        for i in 0..SUMMARY_TOP * 2 {
            top.offer(risky(Risk::High, 0, &format!("high{i:03}")));
        }
        top.offer(risky(Risk::Critical, 0, "critical"));
        top.offer(risky(Risk::High, 2, "poisoned"));
        let names: Vec<&str> = top.sorted().iter().map(|t| t.tool.as_str()).collect();
        assert_eq!(names.len(), SUMMARY_TOP);
        assert_eq!(&names[..3], ["critical", "poisoned", "high000"]);
    }

    #[test]
    fn top_dangerous_skips_servers_without_such_tools() {
        let mut top = TopDangerous::default();
        let server = |name: &str, e, d, f| DangerousServer {
            name: name.into(),
            execute: e,
            destructive: d,
            financial: f,
        };
        top.offer(server("calm", 0, 0, 0));
        top.offer(server("b", 1, 0, 1));
        top.offer(server("a", 0, 2, 0));
        top.offer(server("c", 3, 0, 0));
        let names: Vec<&str> = top.sorted().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["c", "a", "b"]);
    }
}
