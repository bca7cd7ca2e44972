//! Seed lists as a crawl source: catalogue JSON Lines (the shipped list), a plain list of
//! repository URLs and purls, or a Markdown list such as an awesome-list README, whose
//! GitHub repository links are the servers.
//!
//! A file's format is told from its content, line by line, so one list may mix URLs,
//! purls and JSON lines. Markdown is recognised by its links. A line that cannot be read
//! is reported as `file:line: problem` and skipped; the rest of the list still counts.

use std::sync::LazyLock;

use regex::Regex;

use super::registry::normalize_repository_url;
use crate::catalog::ServerLine;
use crate::model::{ServerRecord, SourceRef};

/// GitHub links in Markdown: `[text](https://github.com/owner/repo...)` or a bare URL.
static GITHUB_LINK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"https?://(?:www\.)?github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/tree/[^\s)#>\]]+)?",
    )
    .ok()
});

/// First path segments on GitHub that are pages of the site, not owners.
const NOT_OWNERS: &[&str] = &[
    "about",
    "apps",
    "collections",
    "contact",
    "customer-stories",
    "enterprise",
    "events",
    "features",
    "login",
    "marketplace",
    "orgs",
    "pricing",
    "security",
    "settings",
    "sponsors",
    "topics",
    "trending",
];

/// Reads one seed text. Returns the servers it names and the lines it could not read.
pub fn parse_seed_text(label: &str, text: &str) -> (Vec<ServerRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let markdown = text.lines().any(|line| line.contains("](http"));
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let at = |message: &str| format!("{label}:{}: {message}", index + 1);
        if trimmed.is_empty() || (!markdown && trimmed.starts_with('#')) {
            continue;
        }
        if trimmed.starts_with('{') {
            match serde_json::from_str::<ServerLine>(trimmed)
                .map_err(|error| error.to_string())
                .and_then(ServerLine::into_entry)
            {
                Ok(entry) => records.push(entry.server),
                Err(message) => problems.push(at(&message)),
            }
        } else if trimmed.starts_with("pkg:") {
            match record_for_purl(trimmed) {
                Some(record) => records.push(record),
                None => problems.push(at(&format!(
                    "`{trimmed}` is not a purl of a package mcpwarden can crawl"
                ))),
            }
        } else if markdown {
            records.extend(markdown_line_records(trimmed));
        } else if trimmed.starts_with("http") || trimmed.starts_with("git@") {
            match repository_record(trimmed, None) {
                Some(record) => records.push(record),
                None => problems.push(at(&format!("`{trimmed}` is not a repository URL"))),
            }
        } else {
            problems.push(at(
                "expected a repository URL, a purl (pkg:npm/..., pkg:pypi/...) or a JSON line",
            ));
        }
    }
    (records, problems)
}

/// The servers a Markdown line links to, each with the words after its link as the
/// description (`- [name](url) - what it does`).
fn markdown_line_records(line: &str) -> Vec<ServerRecord> {
    let Some(pattern) = GITHUB_LINK.as_ref() else {
        return Vec::new();
    };
    pattern
        .find_iter(line)
        .filter_map(|link| {
            let rest = line[link.end()..]
                .trim_start_matches(|c: char| c == ')' || c == ']' || c.is_whitespace());
            let description = rest
                .trim_start_matches(['-', ':', '—', '–', '|'])
                .trim()
                .trim_end_matches(|c: char| c.is_whitespace() || c == '|');
            let description = (!description.is_empty() && !description.starts_with('['))
                .then(|| description.to_owned());
            repository_record(link.as_str(), description)
        })
        .collect()
}

/// A server known only by its repository, named `owner/repo`.
fn repository_record(url: &str, description: Option<String>) -> Option<ServerRecord> {
    let repository = normalize_repository_url(url)?;
    let path = repository
        .strip_prefix("https://github.com/")
        .unwrap_or(&repository);
    let owner = path.split('/').next()?;
    if NOT_OWNERS.contains(&owner) {
        return None;
    }
    let name = match path.split_once("/tree/HEAD/") {
        Some((repo, folder)) => format!("{repo}/{folder}"),
        None => path.to_owned(),
    };
    Some(ServerRecord {
        sources: vec![SourceRef {
            source: "list".to_owned(),
            id: repository.clone(),
            seen_at: None,
        }],
        name,
        description,
        repository: Some(repository),
        ..ServerRecord::default()
    })
}

/// A server known only by a package, named by it; the npm and PyPI sources fill it in.
fn record_for_purl(purl: &str) -> Option<ServerRecord> {
    let (kind, rest) = purl.strip_prefix("pkg:")?.split_once('/')?;
    if !matches!(kind, "npm" | "pypi") {
        return None;
    }
    let name = rest.split(['@', '?', '#']).next()?.replace("%40", "@");
    if name.is_empty() {
        return None;
    }
    Some(ServerRecord {
        sources: vec![SourceRef {
            source: "list".to_owned(),
            id: purl.to_owned(),
            seen_at: None,
        }],
        name,
        packages: vec![purl.to_owned()],
        ..ServerRecord::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_awesome_list_gives_its_github_repositories_with_descriptions() {
        let readme = "# Awesome MCP\n\n\
            See [the topic](https://github.com/topics/mcp).\n\n\
            ## Databases\n\
            - [pg-mcp](https://github.com/Acme/pg-mcp) - Query PostgreSQL, read-only.\n\
            - [Files](https://github.com/acme/servers/tree/main/src/files): read and write files\n\
            | [tmux](https://github.com/x/tmux-mcp.git) | drives tmux |\n";
        let (records, problems) = parse_seed_text("README.md", readme);
        assert!(problems.is_empty(), "{problems:?}");
        let found: Vec<(&str, Option<&str>)> = records
            .iter()
            .map(|record| (record.name.as_str(), record.description.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                ("acme/pg-mcp", Some("Query PostgreSQL, read-only.")),
                ("acme/servers/src/files", Some("read and write files")),
                ("x/tmux-mcp", Some("drives tmux")),
            ]
        );
        assert_eq!(
            records[1].repository.as_deref(),
            Some("https://github.com/acme/servers/tree/HEAD/src/files")
        );
    }

    #[test]
    fn a_plain_list_mixes_urls_purls_and_json_and_reports_what_it_cannot_read() {
        let list = "# my servers\nhttps://github.com/acme/one\npkg:npm/%40acme/two@1.0.0\npkg:pypi/three\n\
                    {\"name\": \"acme/four\"}\nnot a thing\npkg:oci/%40x/y\n";
        let (records, problems) = parse_seed_text("seeds.txt", list);
        let names: Vec<&str> = records.iter().map(|record| record.name.as_str()).collect();
        assert_eq!(names, ["acme/one", "@acme/two", "three", "acme/four"]);
        assert_eq!(records[1].packages, ["pkg:npm/%40acme/two@1.0.0"]);
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].starts_with("seeds.txt:6: expected a repository URL"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("seeds.txt:7: `pkg:oci/%40x/y` is not a purl"),
            "{problems:?}"
        );
    }
}
