//! Writing servers, tools and classifications. Every write is idempotent: storing what is
//! already stored changes no row.
//!
//! Merge rules, so several sources can describe one server:
//! - a field the incoming record leaves empty keeps its stored value;
//! - packages and sources are added to, never removed;
//! - `tools: Some(list)` replaces the server's tool set (a fresh extraction is the truth),
//!   `tools: None` leaves it alone (a registry listing that knows no tools).
//!
//! A tool whose definition changes gets a new definition hash, and its classification is
//! dropped unless the entry brings a new one: a verdict on the old text is not a verdict.

use std::collections::HashMap;

use rayon::prelude::*;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::Value;

use super::query::{RawToolForClassification, TOOLS_FOR_CLASSIFICATION, ToolForClassification};
use super::{Catalog, Error, Result};
use crate::model::{Classification, LiveListing, Remote, ServerRecord, ToolDef, sha256_hex};
use crate::model::{name_key, split_identifier};

/// A server and, when known, its tools.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEntry {
    pub server: ServerRecord,
    /// `None`: this sighting knows nothing of the tools; keep what is stored.
    pub tools: Option<Vec<ToolEntry>>,
    /// Why the tools could not be read, when `tools` is `None` because the source uses an
    /// MCP SDK but no tool of it was readable. Stored as the server's "could not read"
    /// marker until a tool list is stored.
    pub tools_unread: Option<String>,
    /// What the server listed when run in the sandbox, when it was run; stored with the
    /// server (a later entry without one keeps it).
    pub live: Option<LiveListing>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolEntry {
    pub tool: ToolDef,
    pub classification: Option<Classification>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    Inserted,
    Updated,
    Unchanged,
}

/// What a batch of stores did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl StoreCounts {
    pub fn add(&mut self, outcome: StoreOutcome) {
        match outcome {
            StoreOutcome::Inserted => self.inserted += 1,
            StoreOutcome::Updated => self.updated += 1,
            StoreOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

impl Catalog {
    /// Stores one server in its own transaction.
    pub fn store_server(&mut self, entry: &ServerEntry) -> Result<StoreOutcome> {
        let counts = self.store_servers(std::slice::from_ref(entry))?;
        Ok(if counts.inserted > 0 {
            StoreOutcome::Inserted
        } else if counts.updated > 0 {
            StoreOutcome::Updated
        } else {
            StoreOutcome::Unchanged
        })
    }

    /// Stores a batch of servers in one transaction: all of them or, on error, none.
    pub fn store_servers(&mut self, entries: &[ServerEntry]) -> Result<StoreCounts> {
        let path = self.path.clone();
        let sql_error = |source| Error::Sqlite {
            path: path.clone(),
            source,
        };
        let now = now_rfc3339();
        let tx = self.conn.transaction().map_err(sql_error)?;
        let mut counts = StoreCounts::default();
        for entry in entries {
            let outcome = store_in(&tx, entry, &now).map_err(sql_error)?;
            counts.add(outcome);
        }
        tx.commit().map_err(sql_error)?;
        Ok(counts)
    }

    /// Writes classifications for tools by id. Each carries the definition hash it judged,
    /// so a later change to the tool makes it visibly stale.
    pub fn store_classifications(
        &mut self,
        verdicts: &[(i64, String, Classification)],
    ) -> Result<usize> {
        let path = self.path.clone();
        let sql_error = |source| Error::Sqlite {
            path: path.clone(),
            source,
        };
        // The JSON columns are written on every core first: serialising them one row at a
        // time inside the transaction was a large share of storing 100,000 verdicts.
        let rows: Vec<VerdictRow> = verdicts
            .par_iter()
            .map(|(tool_id, definition_hash, classification)| {
                VerdictRow::new(*tool_id, definition_hash, classification)
            })
            .collect();
        let tx = self.conn.transaction().map_err(sql_error)?;
        let mut written = 0;
        for row in &rows {
            written += upsert_classification(
                &tx,
                row.tool_id,
                row.definition_hash,
                row.classification,
                &row.json,
            )
            .map_err(sql_error)?;
        }
        tx.commit().map_err(sql_error)?;
        Ok(written)
    }
}

/// What [`Catalog::classify_in_chunks`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassifyCounts {
    /// Tools read and classified.
    pub tools: usize,
    /// Verdicts that differ from what was stored (new or changed).
    pub written: usize,
}

impl Catalog {
    /// Re-classifies every tool: reads them in chunks of `chunk`, calls `classify` on each
    /// tool of a chunk in parallel on the rayon pool, and writes the verdicts, all in one
    /// transaction, so a run that is killed or fails leaves the catalogue as it was.
    /// `seen` is called on this thread with each verdict once it is written.
    ///
    /// Streaming keeps at most three chunks of tools and verdicts in memory, however big
    /// the catalogue: holding 100,000 of each at once cost more in page faults and in
    /// freeing them than the classification itself. Classifying a chunk (on the rayon
    /// pool, from a scoped thread) overlaps with writing the previous chunk and reading
    /// the next one here, since the connection stays on this thread. Each tool is parsed,
    /// classified and serialised in one step on the pool.
    pub fn classify_in_chunks<C, S>(
        &mut self,
        chunk: usize,
        classify: C,
        mut seen: S,
    ) -> Result<ClassifyCounts>
    where
        C: Fn(&ToolForClassification) -> Classification + Sync,
        S: FnMut(&Classification),
    {
        let chunk = chunk.max(1);
        let path = self.path.clone();
        let sql_error = |source| Error::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql_error)?;
        let mut counts = ClassifyCounts::default();
        {
            // Rowid order needs no sort, so the first rows come at once; a server's tools
            // are stored together, which keeps the classifier's per-server cache warm.
            let mut select = tx
                .prepare(&format!("{TOOLS_FOR_CLASSIFICATION} ORDER BY t.id"))
                .map_err(sql_error)?;
            let mut rows = select.query([]).map_err(sql_error)?;
            let mut read_chunk = || -> Result<Vec<RawToolForClassification>> {
                let mut raws = Vec::with_capacity(chunk);
                while raws.len() < chunk {
                    match rows.next().map_err(sql_error)? {
                        Some(row) => {
                            raws.push(RawToolForClassification::read(row).map_err(sql_error)?)
                        }
                        None => break,
                    }
                }
                Ok(raws)
            };
            let classify = &classify;
            let job = move |raws: Vec<RawToolForClassification>| {
                raws.into_par_iter()
                    .map(|raw| {
                        let item = raw.parse()?;
                        let classification = classify(&item);
                        Ok(ClassifiedRow {
                            tool_id: item.tool_id,
                            json: VerdictJson::new(&classification),
                            definition_hash: item.definition_hash,
                            classification,
                        })
                    })
                    .collect::<Result<Vec<ClassifiedRow>>>()
            };
            let job = &job;
            std::thread::scope(|scope| -> Result<()> {
                let mut raws = read_chunk()?;
                let mut done: Vec<ClassifiedRow> = Vec::new();
                loop {
                    let running = (!raws.is_empty()).then(|| {
                        let raws = std::mem::take(&mut raws);
                        scope.spawn(move || job(raws))
                    });
                    for row in &done {
                        counts.written += upsert_classification(
                            &tx,
                            row.tool_id,
                            &row.definition_hash,
                            &row.classification,
                            &row.json,
                        )
                        .map_err(sql_error)?;
                        seen(&row.classification);
                    }
                    done.clear();
                    let Some(running) = running else {
                        return Ok(());
                    };
                    raws = read_chunk()?;
                    let made = match running.join() {
                        Ok(result) => result?,
                        Err(panic) => std::panic::resume_unwind(panic),
                    };
                    counts.tools += made.len();
                    done = made;
                }
            })?;
        }
        tx.commit().map_err(sql_error)?;
        Ok(counts)
    }
}

/// One classified tool on its way to the store.
struct ClassifiedRow {
    tool_id: i64,
    definition_hash: String,
    classification: Classification,
    json: VerdictJson,
}

/// A verdict's JSON columns, serialised off the writing thread.
struct VerdictJson {
    signals: String,
    rule_ids: String,
    findings: String,
}

impl VerdictJson {
    fn new(classification: &Classification) -> VerdictJson {
        VerdictJson {
            signals: json(&classification.signals),
            rule_ids: json(&classification.rule_ids),
            findings: json(&classification.findings),
        }
    }
}

/// One verdict with its JSON columns already written.
struct VerdictRow<'a> {
    tool_id: i64,
    definition_hash: &'a str,
    classification: &'a Classification,
    json: VerdictJson,
}

impl<'a> VerdictRow<'a> {
    fn new(tool_id: i64, definition_hash: &'a str, classification: &'a Classification) -> Self {
        VerdictRow {
            tool_id,
            definition_hash,
            classification,
            json: VerdictJson::new(classification),
        }
    }
}

pub(super) fn store_in(
    tx: &Transaction,
    entry: &ServerEntry,
    now: &str,
) -> rusqlite::Result<StoreOutcome> {
    let incoming = &entry.server;
    let existing = tx
        .prepare_cached("SELECT id, content_hash, tools_hash FROM servers WHERE name = ?1")?
        .query_row([&incoming.name], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })
        .optional()?;
    let tools = entry.tools.as_deref().map(prepare_tools);
    let tools_hash = tools.as_deref().map(hash_tools);

    let Some((server_id, stored_hash, stored_tools_hash)) = existing else {
        let server_id = insert_server(tx, incoming, now)?;
        add_packages_and_sources(tx, server_id, incoming)?;
        if let Some(tools) = &tools {
            sync_tools(tx, server_id, tools)?;
            tx.prepare_cached("UPDATE servers SET tools_hash = ?2 WHERE id = ?1")?
                .execute(params![server_id, tools_hash])?;
        }
        if let Some(reason) = &entry.tools_unread {
            tx.prepare_cached("UPDATE servers SET tools_unread = ?2 WHERE id = ?1")?
                .execute(params![server_id, reason])?;
        }
        store_live_listing(tx, server_id, entry.live.as_ref())?;
        return Ok(StoreOutcome::Inserted);
    };

    let mut changed = false;
    let stored = load_server_record(tx, server_id)?;
    let merged = merge_records(&stored, incoming);
    let merged_hash = hash_record(&merged);
    if merged_hash != stored_hash {
        update_server(tx, server_id, &merged, &merged_hash)?;
        changed = true;
    }
    changed |= add_packages_and_sources(tx, server_id, incoming)?;
    if let (Some(tools), Some(tools_hash)) = (&tools, &tools_hash)
        && stored_tools_hash.as_deref() != Some(tools_hash.as_str())
    {
        sync_tools(tx, server_id, tools)?;
        tx.prepare_cached("UPDATE servers SET tools_hash = ?2 WHERE id = ?1")?
            .execute(params![server_id, tools_hash])?;
        changed = true;
    }
    // A tool list clears the "could not read" marker; a marker is kept until then. An
    // entry with both (an exported server whose earlier tools were kept when a later
    // crawl could not read them; crawls never send both) keeps both.
    let unread = match (&tools, &entry.tools_unread) {
        (_, Some(reason)) => Some(Some(reason.as_str())),
        (Some(_), None) => Some(None),
        (None, None) => None,
    };
    if let Some(unread) = unread {
        let updated = tx
            .prepare_cached(
                "UPDATE servers SET tools_unread = ?2 WHERE id = ?1 AND tools_unread IS NOT ?2",
            )?
            .execute(params![server_id, unread])?;
        changed |= updated > 0;
    }
    changed |= store_live_listing(tx, server_id, entry.live.as_ref())?;
    if changed {
        tx.prepare_cached("UPDATE servers SET last_seen = ?2 WHERE id = ?1")?
            .execute(params![server_id, latest_sighting(incoming).unwrap_or(now)])?;
        Ok(StoreOutcome::Updated)
    } else {
        Ok(StoreOutcome::Unchanged)
    }
}

fn latest_sighting(record: &ServerRecord) -> Option<&str> {
    record
        .sources
        .iter()
        .filter_map(|source| source.seen_at.as_deref())
        .max()
}

fn insert_server(tx: &Transaction, record: &ServerRecord, now: &str) -> rusqlite::Result<i64> {
    let seen = latest_sighting(record).unwrap_or(now);
    tx.prepare_cached(
        "INSERT INTO servers (name, name_key, title, description, repository_url, remotes, language,
                              license, stars, last_commit, first_seen, last_seen, content_hash,
                              archived)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13)",
    )?
    .execute(params![
        record.name,
        name_key(&record.name),
        record.title,
        record.description,
        record.repository,
        remotes_json(&record.remotes),
        record.language,
        record.license,
        record.stars,
        record.last_commit,
        seen,
        hash_record(&merge_records(&ServerRecord::default(), record)),
        record.archived,
    ])?;
    let server_id = tx.last_insert_rowid();
    index_server(tx, server_id, record)?;
    Ok(server_id)
}

/// Puts a server's text in the full-text index (see migrations/0001: kept by hand, not by
/// triggers). Replaces what was indexed for it before.
fn index_server(tx: &Transaction, server_id: i64, record: &ServerRecord) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM servers_fts WHERE rowid = ?1")?
        .execute([server_id])?;
    tx.prepare_cached(
        "INSERT INTO servers_fts (rowid, name, title, description) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        server_id,
        record.name,
        record.title,
        record.description
    ])?;
    Ok(())
}

/// Puts a tool's name words and description in the full-text index, replacing any old entry.
fn index_tool(
    tx: &Transaction,
    tool_id: i64,
    name_words: &str,
    description: &str,
    fresh: bool,
) -> rusqlite::Result<()> {
    if !fresh {
        unindex_tool(tx, tool_id)?;
    }
    tx.prepare_cached(
        "INSERT INTO tools_fts (rowid, name_words, description) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![tool_id, name_words, description])?;
    Ok(())
}

fn unindex_tool(tx: &Transaction, tool_id: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM tools_fts WHERE rowid = ?1")?
        .execute([tool_id])?;
    Ok(())
}

fn update_server(
    tx: &Transaction,
    server_id: i64,
    record: &ServerRecord,
    content_hash: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE servers SET title = ?2, description = ?3, repository_url = ?4, remotes = ?5,
                language = ?6, license = ?7, stars = ?8, last_commit = ?9, content_hash = ?10,
                archived = ?11
         WHERE id = ?1",
    )?
    .execute(params![
        server_id,
        record.title,
        record.description,
        record.repository,
        remotes_json(&record.remotes),
        record.language,
        record.license,
        record.stars,
        record.last_commit,
        content_hash,
        record.archived,
    ])?;
    index_server(tx, server_id, record)
}

/// The stored record's own fields plus its packages (sources are not part of the hash).
fn load_server_record(tx: &Transaction, server_id: i64) -> rusqlite::Result<ServerRecord> {
    let mut record = tx
        .prepare_cached(
            "SELECT name, title, description, repository_url, remotes, language, license, stars,
                    last_commit, archived
             FROM servers WHERE id = ?1",
        )?
        .query_row([server_id], |row| {
            let remotes: String = row.get(4)?;
            Ok(ServerRecord {
                name: row.get(0)?,
                title: row.get(1)?,
                description: row.get(2)?,
                repository: row.get(3)?,
                remotes: serde_json::from_str(&remotes).unwrap_or_default(),
                language: row.get(5)?,
                license: row.get(6)?,
                stars: row.get(7)?,
                last_commit: row.get(8)?,
                archived: row.get(9)?,
                packages: Vec::new(),
                sources: Vec::new(),
            })
        })?;
    let mut statement =
        tx.prepare_cached("SELECT purl FROM server_packages WHERE server_id = ?1 ORDER BY purl")?;
    record.packages = statement
        .query_map([server_id], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(record)
}

/// `stored` with every field `incoming` knows written over it; packages and remotes unite.
fn merge_records(stored: &ServerRecord, incoming: &ServerRecord) -> ServerRecord {
    fn pick<T: Clone>(incoming: &Option<T>, stored: &Option<T>) -> Option<T> {
        incoming.clone().or_else(|| stored.clone())
    }
    let mut packages = stored.packages.clone();
    packages.extend(incoming.packages.iter().cloned());
    packages.sort();
    packages.dedup();
    let mut remotes: Vec<Remote> = stored.remotes.clone();
    for remote in &incoming.remotes {
        if !remotes.contains(remote) {
            remotes.push(remote.clone());
        }
    }
    ServerRecord {
        name: incoming.name.clone(),
        title: pick(&incoming.title, &stored.title),
        description: pick(&incoming.description, &stored.description),
        repository: pick(&incoming.repository, &stored.repository),
        packages,
        remotes,
        language: pick(&incoming.language, &stored.language),
        license: pick(&incoming.license, &stored.license),
        stars: pick(&incoming.stars, &stored.stars),
        last_commit: pick(&incoming.last_commit, &stored.last_commit),
        archived: pick(&incoming.archived, &stored.archived),
        sources: Vec::new(),
    }
}

/// Adds packages and source sightings not yet stored. Returns whether anything was written.
fn add_packages_and_sources(
    tx: &Transaction,
    server_id: i64,
    record: &ServerRecord,
) -> rusqlite::Result<bool> {
    let mut changed = false;
    let mut add_package = tx.prepare_cached(
        "INSERT OR IGNORE INTO server_packages (server_id, purl) VALUES (?1, ?2)",
    )?;
    for purl in &record.packages {
        changed |= add_package.execute(params![server_id, purl])? > 0;
    }
    let mut add_source = tx.prepare_cached(
        "INSERT INTO server_sources (server_id, source, source_id, seen_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (server_id, source, source_id) DO UPDATE SET seen_at = excluded.seen_at
         WHERE excluded.seen_at IS NOT NULL AND server_sources.seen_at IS NOT excluded.seen_at",
    )?;
    for source in &record.sources {
        changed |=
            add_source.execute(params![server_id, source.source, source.id, source.seen_at])? > 0;
    }
    Ok(changed)
}

/// A tool entry with its definition hash, computed once per store.
struct PreparedTool<'a> {
    entry: &'a ToolEntry,
    definition_hash: String,
}

fn prepare_tools(tools: &[ToolEntry]) -> Vec<PreparedTool<'_>> {
    tools
        .iter()
        .map(|entry| PreparedTool {
            entry,
            definition_hash: entry.tool.definition_hash(),
        })
        .collect()
}

/// Hash of everything stored about a server's tools, so an unchanged re-store can skip
/// reading them. Built from the definition hashes, which already cover the schemas.
fn hash_tools(tools: &[PreparedTool]) -> String {
    #[derive(serde::Serialize)]
    struct Row<'a> {
        definition_hash: &'a str,
        method: &'a str,
        location: Option<&'a str>,
        confidence: f64,
        annotation_source: &'a str,
        classification: Option<&'a Classification>,
    }
    let rows: Vec<Row> = tools
        .iter()
        .map(|prepared| {
            let tool = &prepared.entry.tool;
            Row {
                definition_hash: &prepared.definition_hash,
                method: tool.method.as_str(),
                location: tool.location.as_deref(),
                confidence: tool.confidence,
                annotation_source: tool.annotation_source.as_str(),
                classification: prepared.entry.classification.as_ref(),
            }
        })
        .collect();
    sha256_hex(&rows)
}

/// Makes the server's stored tools exactly `tools`: inserts new ones, updates changed ones,
/// deletes the ones no longer defined. Unchanged rows are not rewritten.
fn sync_tools(tx: &Transaction, server_id: i64, tools: &[PreparedTool]) -> rusqlite::Result<()> {
    struct Stored {
        id: i64,
        row_hash: String,
        definition_hash: String,
    }
    let mut stored: HashMap<String, Stored> = tx
        .prepare_cached(
            "SELECT name, id, definition_hash, method, location, confidence, annotation_source
             FROM tools WHERE server_id = ?1",
        )?
        .query_map([server_id], |row| {
            let definition_hash: String = row.get(2)?;
            let row_hash = tool_row_hash(
                &definition_hash,
                &row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?.as_deref(),
                row.get(5)?,
                &row.get::<_, String>(6)?,
            );
            Ok((
                row.get::<_, String>(0)?,
                Stored {
                    id: row.get(1)?,
                    row_hash,
                    definition_hash,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;

    for prepared in tools {
        let entry = prepared.entry;
        let tool = &entry.tool;
        let definition_hash = &prepared.definition_hash;
        let row_hash = tool_row_hash(
            definition_hash,
            tool.method.as_str(),
            tool.location.as_deref(),
            tool.confidence,
            tool.annotation_source.as_str(),
        );
        let tool_id = match stored.remove(&tool.name) {
            None => insert_tool(tx, server_id, tool, definition_hash)?,
            Some(previous) => {
                if previous.row_hash != row_hash {
                    update_tool(tx, previous.id, tool, definition_hash)?;
                }
                if previous.definition_hash != *definition_hash && entry.classification.is_none() {
                    tx.prepare_cached("DELETE FROM classifications WHERE tool_id = ?1")?
                        .execute([previous.id])?;
                }
                previous.id
            }
        };
        if let Some(classification) = &entry.classification {
            upsert_classification(
                tx,
                tool_id,
                definition_hash,
                classification,
                &VerdictJson::new(classification),
            )?;
        }
    }
    let mut delete = tx.prepare_cached("DELETE FROM tools WHERE id = ?1")?;
    for gone in stored.into_values() {
        delete.execute([gone.id])?;
        unindex_tool(tx, gone.id)?;
    }
    Ok(())
}

fn tool_row_hash(
    definition_hash: &str,
    method: &str,
    location: Option<&str>,
    confidence: f64,
    annotation_source: &str,
) -> String {
    format!(
        "{definition_hash}|{method}|{}|{confidence}|{annotation_source}",
        location.unwrap_or("")
    )
}

fn insert_tool(
    tx: &Transaction,
    server_id: i64,
    tool: &ToolDef,
    definition_hash: &str,
) -> rusqlite::Result<i64> {
    let name_words = split_identifier(&tool.name).join(" ");
    tx.prepare_cached(
        "INSERT INTO tools (server_id, name, name_key, name_words, title, description, input_schema,
                            annotations, annotation_source, definition_hash, method, location, confidence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        server_id,
        tool.name,
        name_key(&tool.name),
        name_words,
        tool.title,
        tool.description,
        tool.input_schema.to_string(),
        tool.annotations.as_ref().map(Value::to_string),
        tool.annotation_source.as_str(),
        definition_hash,
        tool.method.as_str(),
        tool.location,
        tool.confidence,
    ])?;
    let tool_id = tx.last_insert_rowid();
    index_tool(tx, tool_id, &name_words, &tool.description, true)?;
    Ok(tool_id)
}

fn update_tool(
    tx: &Transaction,
    tool_id: i64,
    tool: &ToolDef,
    definition_hash: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE tools SET title = ?2, description = ?3, input_schema = ?4, annotations = ?5,
                annotation_source = ?6, definition_hash = ?7, method = ?8, location = ?9, confidence = ?10
         WHERE id = ?1",
    )?
    .execute(params![
        tool_id,
        tool.title,
        tool.description,
        tool.input_schema.to_string(),
        tool.annotations.as_ref().map(Value::to_string),
        tool.annotation_source.as_str(),
        definition_hash,
        tool.method.as_str(),
        tool.location,
        tool.confidence,
    ])?;
    let name_words = split_identifier(&tool.name).join(" ");
    index_tool(tx, tool_id, &name_words, &tool.description, false)
}

/// Returns the number of rows written (0 when the stored verdict is the same).
fn upsert_classification(
    tx: &Transaction,
    tool_id: i64,
    definition_hash: &str,
    classification: &Classification,
    json: &VerdictJson,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO classifications (tool_id, category, risk, signals, rationale, rule_ids, findings,
                                      confidence, version, definition_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (tool_id) DO UPDATE SET
             category = excluded.category, risk = excluded.risk, signals = excluded.signals,
             rationale = excluded.rationale, rule_ids = excluded.rule_ids, findings = excluded.findings,
             confidence = excluded.confidence, version = excluded.version,
             definition_hash = excluded.definition_hash
         WHERE (category, risk, signals, rationale, rule_ids, findings, confidence, version, definition_hash)
               IS NOT (excluded.category, excluded.risk, excluded.signals, excluded.rationale,
                       excluded.rule_ids, excluded.findings, excluded.confidence, excluded.version,
                       excluded.definition_hash)",
    )?
    .execute(params![
        tool_id,
        classification.category.as_str(),
        classification.risk.as_str(),
        json.signals,
        classification.rationale,
        json.rule_ids,
        json.findings,
        classification.confidence,
        classification.version,
        definition_hash,
    ])
}

/// Serialising our own model types cannot fail (string keys only, derived `Serialize`), so
/// this keeps that fact in one place instead of an `unwrap` at every column.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn remotes_json(remotes: &[Remote]) -> String {
    json(remotes)
}

/// `ServerRecord` holds no free-form JSON, so its derived serialisation is already stable.
fn hash_record(record: &ServerRecord) -> String {
    sha256_hex(record)
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Writes a live listing when the entry brings one; true when the stored one changed.
fn store_live_listing(
    tx: &Transaction<'_>,
    server_id: i64,
    live: Option<&LiveListing>,
) -> rusqlite::Result<bool> {
    let Some(live) = live else {
        return Ok(false);
    };
    let json = serde_json::to_string(live).expect("a LiveListing always serialises");
    let updated = tx
        .prepare_cached(
            "UPDATE servers SET live_listing = ?2 WHERE id = ?1 AND live_listing IS NOT ?2",
        )?
        .execute(params![server_id, json])?;
    Ok(updated > 0)
}
