//! Reading the catalogue: tools and servers by name, closest names, full-text search, stats.

use rayon::prelude::*;
use rusqlite::{Row, params};
use serde::Serialize;
use serde_json::Value;

use super::{Catalog, Error, Result};
use crate::model::{
    AnnotationSource, Category, Classification, ExtractionMethod, Finding, Remote, Risk,
    ServerRecord, Signal, SourceRef, ToolDef, name_key, split_identifier,
};

/// The server a tool belongs to, as a card shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerSummary {
    pub id: i64,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub repository: Option<String>,
    pub packages: Vec<String>,
}

/// One tool with its server and, once classified, its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCard {
    pub tool_id: i64,
    pub server: ServerSummary,
    pub tool: ToolDef,
    pub definition_hash: String,
    pub classification: Option<Classification>,
}

/// A whole server with every tool it defines.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerCard {
    pub id: i64,
    pub record: ServerRecord,
    pub first_seen: String,
    pub last_seen: String,
    pub tools: Vec<ToolCard>,
    /// Why the tools could not be read (the server uses an MCP SDK but extraction found
    /// no tool): the tool list is unknown, not empty.
    pub tools_unread: Option<String>,
    /// What the server listed when run in the sandbox, when it was.
    pub live: Option<crate::model::LiveListing>,
}

/// What the classifier needs to judge one tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolForClassification {
    pub tool_id: i64,
    pub server_name: String,
    pub server_description: Option<String>,
    pub definition_hash: String,
    pub tool: ToolDef,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Words to look for in tool names and descriptions; empty lists everything that the
    /// filters let through.
    pub text: String,
    pub category: Option<Category>,
    pub risk: Option<Risk>,
    /// A server name (or its last path segment), matched like `catalog show` matches.
    pub server: Option<String>,
    /// `Some(true)`: only tools of servers whose repository is archived; `Some(false)`: leave
    /// those out (a server whose archived state is unknown counts as not archived).
    pub archived: Option<bool>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub tool: String,
    pub server: String,
    pub description: String,
    pub category: Option<Category>,
    pub risk: Option<Risk>,
    /// Whether the server's repository is archived; `null` when no source said.
    pub archived: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub schema_version: u32,
    pub size_bytes: u64,
    pub servers: u64,
    pub tools: u64,
    pub classified: u64,
    /// Classified tools per category, every category listed.
    pub by_category: Vec<(String, u64)>,
    /// Classified tools per risk, every risk listed.
    pub by_risk: Vec<(String, u64)>,
    /// Servers per source that saw them.
    pub by_source: Vec<(String, u64)>,
}

const TOOL_CARD_SELECT: &str = "
    SELECT t.id, t.name, t.title, t.description, t.input_schema, t.annotations, t.annotation_source,
           t.method, t.location, t.confidence, t.definition_hash,
           s.id, s.name, s.title, s.description, s.repository_url,
           c.category, c.risk, c.signals, c.rationale, c.rule_ids, c.findings, c.confidence, c.version
    FROM tools t
    JOIN servers s ON s.id = t.server_id
    LEFT JOIN classifications c ON c.tool_id = t.id";

/// The stored columns of a tool definition, read and converted to a [`ToolDef`] in one
/// place. Every query that reads them selects them as columns 1 to 9, in this order.
struct RawToolDef {
    name: String,
    title: Option<String>,
    description: String,
    input_schema: String,
    annotations: Option<String>,
    annotation_source: String,
    method: String,
    location: Option<String>,
    confidence: f64,
}

impl RawToolDef {
    fn read(row: &Row) -> rusqlite::Result<RawToolDef> {
        Ok(RawToolDef {
            name: row.get(1)?,
            title: row.get(2)?,
            description: row.get(3)?,
            input_schema: row.get(4)?,
            annotations: row.get(5)?,
            annotation_source: row.get(6)?,
            method: row.get(7)?,
            location: row.get(8)?,
            confidence: row.get(9)?,
        })
    }

    fn into_tool_def(self) -> Result<ToolDef> {
        Ok(ToolDef {
            name: self.name,
            title: self.title,
            description: self.description,
            input_schema: parse_json("tools.input_schema", &self.input_schema)?,
            annotations: self
                .annotations
                .as_deref()
                .map(|text| parse_json::<Value>("tools.annotations", text))
                .transpose()?,
            annotation_source: parse_stored::<AnnotationSource>(
                "tools.annotation_source",
                &self.annotation_source,
            )?,
            method: parse_stored::<ExtractionMethod>("tools.method", &self.method)?,
            location: self.location,
            confidence: self.confidence,
        })
    }
}

/// Column values of one tool-card row, read inside SQLite's callback and converted outside
/// it, so that bad stored values become our own errors rather than rusqlite's.
struct RawToolCard {
    tool_id: i64,
    tool: RawToolDef,
    definition_hash: String,
    server_id: i64,
    server_name: String,
    server_title: Option<String>,
    server_description: Option<String>,
    repository: Option<String>,
    classification: Option<RawClassification>,
}

struct RawClassification {
    category: String,
    risk: String,
    signals: String,
    rationale: String,
    rule_ids: String,
    findings: String,
    confidence: f64,
    version: String,
}

impl RawToolCard {
    fn read(row: &Row) -> rusqlite::Result<RawToolCard> {
        let category: Option<String> = row.get(16)?;
        let classification = match category {
            None => None,
            Some(category) => Some(RawClassification {
                category,
                risk: row.get(17)?,
                signals: row.get(18)?,
                rationale: row.get(19)?,
                rule_ids: row.get(20)?,
                findings: row.get(21)?,
                confidence: row.get(22)?,
                version: row.get(23)?,
            }),
        };
        Ok(RawToolCard {
            tool_id: row.get(0)?,
            tool: RawToolDef::read(row)?,
            definition_hash: row.get(10)?,
            server_id: row.get(11)?,
            server_name: row.get(12)?,
            server_title: row.get(13)?,
            server_description: row.get(14)?,
            repository: row.get(15)?,
            classification,
        })
    }

    fn into_card(self, packages: Vec<String>) -> Result<ToolCard> {
        let classification = match self.classification {
            None => None,
            Some(raw) => Some(Classification {
                category: parse_stored("classifications.category", &raw.category)?,
                risk: parse_stored("classifications.risk", &raw.risk)?,
                signals: parse_json::<Vec<Signal>>("classifications.signals", &raw.signals)?,
                rationale: raw.rationale,
                rule_ids: parse_json("classifications.rule_ids", &raw.rule_ids)?,
                findings: parse_json::<Vec<Finding>>("classifications.findings", &raw.findings)?,
                confidence: raw.confidence,
                version: raw.version.into(),
            }),
        };
        Ok(ToolCard {
            tool_id: self.tool_id,
            server: ServerSummary {
                id: self.server_id,
                name: self.server_name,
                title: self.server_title,
                description: self.server_description,
                repository: self.repository,
                packages,
            },
            tool: self.tool.into_tool_def()?,
            definition_hash: self.definition_hash,
            classification,
        })
    }
}

fn parse_stored<T: std::str::FromStr>(column: &'static str, value: &str) -> Result<T> {
    value.parse().map_err(|_| Error::StoredValue {
        column,
        value: value.to_owned(),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| Error::StoredJson { column, source })
}

impl Catalog {
    fn tool_cards(&self, where_clause: &str, args: impl rusqlite::Params) -> Result<Vec<ToolCard>> {
        let sql = format!("{TOOL_CARD_SELECT} {where_clause}");
        let raws: Vec<RawToolCard> = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut statement| {
                statement
                    .query_map(args, RawToolCard::read)?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))?;
        raws.into_iter()
            .map(|raw| {
                let packages = self.packages_of(raw.server_id)?;
                raw.into_card(packages)
            })
            .collect()
    }

    pub(super) fn packages_of(&self, server_id: i64) -> Result<Vec<String>> {
        self.conn
            .prepare_cached("SELECT purl FROM server_packages WHERE server_id = ?1 ORDER BY purl")
            .and_then(|mut statement| {
                statement
                    .query_map([server_id], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))
    }

    fn sources_of(&self, server_id: i64) -> Result<Vec<SourceRef>> {
        self.conn
            .prepare_cached(
                "SELECT source, source_id, seen_at FROM server_sources WHERE server_id = ?1
                 ORDER BY source, source_id",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([server_id], |row| {
                        Ok(SourceRef {
                            source: row.get(0)?,
                            id: row.get(1)?,
                            seen_at: row.get(2)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))
    }

    /// Tools whose name matches `name` ignoring case and the difference between `-`, `_`
    /// and `.`, across every server, ordered by server name.
    pub fn find_tools(&self, name: &str) -> Result<Vec<ToolCard>> {
        self.tool_cards(
            "WHERE t.name_key = ?1 ORDER BY s.name, t.name",
            [name_key(name)],
        )
    }

    /// Servers whose canonical name, or its last `/` segment, matches `name` as
    /// [`find_tools`](Self::find_tools) matches tools.
    pub fn find_servers(&self, name: &str) -> Result<Vec<ServerCard>> {
        let key = name_key(name);
        let ids: Vec<i64> = self
            .conn
            .prepare_cached(
                "SELECT id FROM servers WHERE name_key = ?1 OR name_key LIKE ?2 ESCAPE '\\'
                 ORDER BY name",
            )
            .and_then(|mut statement| {
                let suffix = format!("%/{}", escape_like(&key));
                statement
                    .query_map(params![key, suffix], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))?;
        ids.into_iter().map(|id| self.server_card(id)).collect()
    }

    /// The whole server with id `server_id`.
    pub fn server_card(&self, server_id: i64) -> Result<ServerCard> {
        let (mut record, first_seen, last_seen) = self
            .conn
            .prepare_cached(
                "SELECT name, title, description, repository_url, remotes, language, license, stars,
                        last_commit, first_seen, last_seen, archived
                 FROM servers WHERE id = ?1",
            )
            .and_then(|mut statement| {
                statement.query_row([server_id], |row| {
                    Ok((
                        ServerRecord {
                            name: row.get(0)?,
                            title: row.get(1)?,
                            description: row.get(2)?,
                            repository: row.get(3)?,
                            remotes: Vec::new(),
                            language: row.get(5)?,
                            license: row.get(6)?,
                            stars: row.get(7)?,
                            last_commit: row.get(8)?,
                            archived: row.get(11)?,
                            packages: Vec::new(),
                            sources: Vec::new(),
                        },
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(9)?,
                        row.get::<_, String>(10)?,
                    ))
                })
            })
            .map(|(record, remotes, first, last)| ((record, remotes), first, last))
            .map_err(|source| self.sql_error(source))
            .and_then(|((mut record, remotes), first, last)| {
                record.remotes = parse_json::<Vec<Remote>>("servers.remotes", &remotes)?;
                Ok((record, first, last))
            })?;
        record.packages = self.packages_of(server_id)?;
        record.sources = self.sources_of(server_id)?;
        let tools = self.tool_cards("WHERE t.server_id = ?1 ORDER BY t.name", [server_id])?;
        let (tools_unread, live) = self
            .conn
            .prepare_cached("SELECT tools_unread, live_listing FROM servers WHERE id = ?1")
            .and_then(|mut statement| {
                statement.query_row([server_id], |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        row.get::<_, Option<String>>(1)?,
                    ))
                })
            })
            .map_err(|source| self.sql_error(source))?;
        let live = live
            .map(|json| parse_json("servers.live_listing", &json))
            .transpose()?;
        Ok(ServerCard {
            id: server_id,
            record,
            first_seen,
            last_seen,
            tools,
            tools_unread,
            live,
        })
    }

    /// Every server id, in name order.
    pub fn server_ids(&self) -> Result<Vec<i64>> {
        self.conn
            .prepare_cached("SELECT id FROM servers ORDER BY name")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))
    }

    /// Up to `limit` tool and server names closest to `name` by edit distance (on the
    /// folded key), nearest first. Names further than a third of the query's length (at
    /// least 2 edits) are not suggested.
    pub fn closest_names(&self, name: &str, limit: usize) -> Result<Vec<String>> {
        let key = name_key(name);
        let budget = (key.chars().count() / 3).max(2);
        let names: Vec<(String, String)> = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT name, name_key FROM tools INDEXED BY tools_name_key
                 UNION ALL SELECT name, name_key FROM servers",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))?;
        let key_length = key.chars().count();
        let mut scored: Vec<(usize, String)> = names
            .into_iter()
            .filter_map(|(name, candidate)| {
                // The last path segment of a server name counts too: `magic-mcp` is near
                // `io.github.21st-dev/magic-mcp`.
                let segment = candidate.rsplit('/').next().unwrap_or(&candidate);
                let cheapest = [candidate.as_str(), segment]
                    .into_iter()
                    // A length gap larger than the budget can never fit in it.
                    .filter(|text| text.chars().count().abs_diff(key_length) <= budget)
                    .map(|text| strsim::levenshtein(&key, text))
                    .min()?;
                (cheapest <= budget).then_some((cheapest, name))
            })
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        Ok(scored
            .into_iter()
            .take(limit)
            .map(|(_, name)| name)
            .collect())
    }

    /// Full-text search over tool names (split into words) and descriptions.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        let fts = fts_query(&query.text);
        let server_key = query.server.as_deref().map(name_key);
        let server_suffix = server_key
            .as_deref()
            .map(|key| format!("%/{}", escape_like(key)));
        let filters = "(?2 IS NULL OR c.category = ?2) AND (?3 IS NULL OR c.risk = ?3)
             AND (?4 IS NULL OR s.name_key = ?4 OR s.name_key LIKE ?5 ESCAPE '\\')
             AND (?7 IS NULL OR coalesce(s.archived, 0) = ?7)";
        let sql = if fts.is_some() {
            format!(
                "SELECT t.name, s.name, t.description, c.category, c.risk, s.archived
                 FROM tools_fts
                 JOIN tools t ON t.id = tools_fts.rowid
                 JOIN servers s ON s.id = t.server_id
                 LEFT JOIN classifications c ON c.tool_id = t.id
                 WHERE tools_fts MATCH ?1 AND {filters}
                 ORDER BY bm25(tools_fts, 4.0, 1.0), s.name, t.name LIMIT ?6"
            )
        } else {
            format!(
                "SELECT t.name, s.name, t.description, c.category, c.risk, s.archived
                 FROM tools t
                 JOIN servers s ON s.id = t.server_id
                 LEFT JOIN classifications c ON c.tool_id = t.id
                 WHERE ?1 IS NULL AND {filters}
                 ORDER BY s.name, t.name LIMIT ?6"
            )
        };
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        type Row = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<bool>,
        );
        let rows: Vec<Row> = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut statement| {
                statement
                    .query_map(
                        params![
                            fts,
                            query.category.map(Category::as_str),
                            query.risk.map(Risk::as_str),
                            server_key,
                            server_suffix,
                            limit,
                            query.archived,
                        ],
                        |row| {
                            Ok((
                                row.get(0)?,
                                row.get(1)?,
                                row.get(2)?,
                                row.get(3)?,
                                row.get(4)?,
                                row.get(5)?,
                            ))
                        },
                    )?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))?;
        rows.into_iter()
            .map(|(tool, server, description, category, risk, archived)| {
                Ok(SearchHit {
                    tool,
                    server,
                    description,
                    category: category
                        .map(|value| parse_stored("classifications.category", &value))
                        .transpose()?,
                    risk: risk
                        .map(|value| parse_stored("classifications.risk", &value))
                        .transpose()?,
                    archived,
                })
            })
            .collect()
    }

    /// Counts for `catalog stats`.
    pub fn stats(&self) -> Result<Stats> {
        let count = |sql: &str| -> Result<u64> {
            self.conn
                .query_row(sql, [], |row| row.get(0))
                .map_err(|source| self.sql_error(source))
        };
        let grouped = |sql: &str| -> Result<Vec<(String, u64)>> {
            self.conn
                .prepare(sql)
                .and_then(|mut statement| {
                    statement
                        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(|source| self.sql_error(source))
        };
        let with_every = |names: Vec<&str>, counted: Vec<(String, u64)>| -> Vec<(String, u64)> {
            names
                .into_iter()
                .map(|name| {
                    let n = counted
                        .iter()
                        .find(|(counted_name, _)| counted_name == name)
                        .map_or(0, |(_, n)| *n);
                    (name.to_owned(), n)
                })
                .collect()
        };
        let size_bytes = if self.path.as_os_str() == ":memory:" {
            0
        } else {
            let mut wal = self.path.clone().into_os_string();
            wal.push("-wal");
            [self.path.clone(), wal.into()]
                .iter()
                .filter_map(|path| std::fs::metadata(path).ok())
                .map(|meta| meta.len())
                .sum()
        };
        Ok(Stats {
            schema_version: self.schema_version()?,
            size_bytes,
            servers: count("SELECT count(*) FROM servers")?,
            tools: count("SELECT count(*) FROM tools")?,
            classified: count("SELECT count(*) FROM classifications")?,
            by_category: with_every(
                Category::ALL.iter().map(|c| c.as_str()).collect(),
                grouped("SELECT category, count(*) FROM classifications GROUP BY category")?,
            ),
            by_risk: with_every(
                Risk::ALL.iter().map(|r| r.as_str()).collect(),
                grouped("SELECT risk, count(*) FROM classifications GROUP BY risk")?,
            ),
            by_source: grouped(
                "SELECT source, count(DISTINCT server_id) FROM server_sources
                 GROUP BY source ORDER BY source",
            )?,
        })
    }

    /// How many tools the catalogue holds.
    pub fn tool_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM tools", [], |row| row.get::<_, i64>(0))
            .map(|count| count.max(0) as u64)
            .map_err(|source| self.sql_error(source))
    }

    /// Every tool with what the classifier needs, in a stable order (server name, then
    /// tool name).
    ///
    /// One query for exactly these columns: reading full tool cards cost one packages query
    /// per tool and parsed every stored verdict only to throw it away. The JSON columns are
    /// parsed on every core once the rows are read, since parsing 100,000 schemas took
    /// longer than reading them.
    pub fn tools_for_classification(&self) -> Result<Vec<ToolForClassification>> {
        let raws: Vec<RawToolForClassification> = self
            .conn
            .prepare_cached(&format!(
                "{TOOLS_FOR_CLASSIFICATION} ORDER BY s.name, t.name"
            ))
            .and_then(|mut statement| {
                statement
                    .query_map([], RawToolForClassification::read)?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))?;
        let parsed: Vec<Result<ToolForClassification>> = raws
            .into_par_iter()
            .map(RawToolForClassification::parse)
            .collect();
        // The first bad row in catalogue order, as a sequential read would report it.
        parsed.into_iter().collect()
    }
}

/// The columns the classifier reads, in the order [`RawToolForClassification::read`]
/// takes them; callers add the order.
pub(super) const TOOLS_FOR_CLASSIFICATION: &str =
    "SELECT t.id, t.name, t.title, t.description, t.input_schema, t.annotations,
            t.annotation_source, t.method, t.location, t.confidence,
            t.definition_hash, s.name, s.description
     FROM tools t
     JOIN servers s ON s.id = t.server_id";

/// One row of [`Catalog::tools_for_classification`], before its JSON is parsed.
pub(super) struct RawToolForClassification {
    tool_id: i64,
    tool: RawToolDef,
    definition_hash: String,
    server_name: String,
    server_description: Option<String>,
}

impl RawToolForClassification {
    pub(super) fn read(row: &Row) -> rusqlite::Result<RawToolForClassification> {
        Ok(RawToolForClassification {
            tool_id: row.get(0)?,
            tool: RawToolDef::read(row)?,
            definition_hash: row.get(10)?,
            server_name: row.get(11)?,
            server_description: row.get(12)?,
        })
    }

    /// Converts the row; the tool columns go through the same [`RawToolDef`] as cards do.
    pub(super) fn parse(self) -> Result<ToolForClassification> {
        Ok(ToolForClassification {
            tool_id: self.tool_id,
            server_name: self.server_name,
            server_description: self.server_description,
            definition_hash: self.definition_hash,
            tool: self.tool.into_tool_def()?,
        })
    }
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Turns what a person typed into an FTS5 query: every word (identifiers split as tool
/// names are) becomes a quoted prefix term, all required. Quoting means no input can be an
/// FTS5 syntax error. `None` when there are no words.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .flat_map(split_identifier)
        .map(|word| format!("\"{}\"*", word.replace('"', "")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_query_quotes_and_splits() {
        assert_eq!(
            fts_query("sendMessage"),
            Some("\"send\"* \"message\"*".into())
        );
        assert_eq!(fts_query("  "), None);
        assert_eq!(fts_query("a\"b OR"), Some("\"a\"* \"b\"* \"or\"*".into()));
    }
}
