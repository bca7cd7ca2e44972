//! What a crawl has discovered and not finished (`frontier`), the runs themselves
//! (`crawl_runs`), the HTTP validators kept between runs (`http_cache`), and the look-ups
//! the crawl needs to merge one server seen by several sources.
//!
//! Every state change is its own small transaction, so a crawl killed at any instant
//! leaves a frontier that says exactly what is left.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::store::{ServerEntry, now_rfc3339, store_in};
use super::{Catalog, Result};

/// One unit of crawl work.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontierItem {
    pub id: i64,
    pub source: String,
    pub key: String,
    /// JSON, kept as text: parsed only when the item is worked, so 50,000 pending items
    /// cost their bytes, not a tree of values each.
    pub payload: String,
    pub attempts: u32,
}

/// An item discovery adds to the frontier.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub source: String,
    pub key: String,
    /// JSON: the whole sighting, or what to fetch.
    pub payload: String,
    /// Work it again even when its payload is what was done last time (a payload that
    /// only names what to fetch, like a package name).
    pub revisit: bool,
    /// The server's sighting `(source, source id)` as stored in `server_sources`, so an
    /// unchanged item can advance its server's `last_seen`.
    pub sighting: Option<(String, String)>,
    /// The listing that reported it (for GitHub, the search query and window).
    pub listing: Option<String>,
}

/// A crawl run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlRun {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub options: Value,
    pub summary: Value,
}

/// Validators and body kept for a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedHttp {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub body: Vec<u8>,
}

impl Catalog {
    /// Starts a run and returns its id.
    pub fn start_crawl_run(&self, options: &Value) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO crawl_runs (started_at, status, options) VALUES (?1, 'running', ?2)",
                params![now_rfc3339(), options.to_string()],
            )
            .map_err(|source| self.sql_error(source))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended: `finished`, `interrupted` or `failed`.
    pub fn finish_crawl_run(&self, run_id: i64, status: &str, summary: &Value) -> Result<()> {
        self.conn
            .execute(
                "UPDATE crawl_runs SET finished_at = ?2, status = ?3, summary = ?4 WHERE id = ?1",
                params![run_id, now_rfc3339(), status, summary.to_string()],
            )
            .map_err(|source| self.sql_error(source))?;
        Ok(())
    }

    /// The newest run that did not finish (killed, interrupted or failed), to resume.
    pub fn last_unfinished_crawl_run(&self) -> Result<Option<CrawlRun>> {
        self.crawl_run_where("status != 'finished' ORDER BY id DESC LIMIT 1")
    }

    /// The newest run of any status.
    pub fn last_crawl_run(&self) -> Result<Option<CrawlRun>> {
        self.crawl_run_where("1 ORDER BY id DESC LIMIT 1")
    }

    fn crawl_run_where(&self, clause: &str) -> Result<Option<CrawlRun>> {
        let sql = format!(
            "SELECT id, started_at, finished_at, status, options, summary FROM crawl_runs WHERE {clause}"
        );
        let row = self
            .conn
            .query_row(&sql, [], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                ))
            })
            .optional()
            .map_err(|source| self.sql_error(source))?;
        Ok(row.map(
            |(id, started_at, finished_at, status, options, summary)| CrawlRun {
                id,
                started_at,
                finished_at,
                status,
                options: serde_json::from_str(&options).unwrap_or(Value::Null),
                summary: serde_json::from_str(&summary).unwrap_or(Value::Null),
            },
        ))
    }

    /// Adds work to the frontier for `run_id`.
    ///
    /// With `fresh`, an item seen in an earlier run is made pending again, unless it was
    /// done, has `revisit` false and its payload is byte-for-byte what was done: such a
    /// payload is the whole sighting (a registry entry, a search result), a listing that
    /// did not change it (typically answered by a 304) has nothing new to store, and a
    /// re-crawl of an unchanged world then costs its listings alone. Such an unchanged
    /// sighting still advances its server's `last_seen`, in one UPDATE for the whole call.
    /// Without `fresh` (resuming), an item already done stays done.
    ///
    /// Returns, per source, how many items stayed done because they were unchanged.
    pub fn enqueue(
        &mut self,
        run_id: i64,
        items: &[NewItem],
        fresh: bool,
    ) -> Result<std::collections::BTreeMap<String, usize>> {
        let path = self.path.clone();
        let sql_error = |source| super::Error::Sqlite {
            path: path.clone(),
            source,
        };
        let now = now_rfc3339();
        let tx = self.conn.transaction().map_err(sql_error)?;
        let mut unchanged = std::collections::BTreeMap::new();
        let mut seen_again: Vec<(&str, &str)> = Vec::new();
        {
            // `?6`: whether an unchanged, done item may stay done.
            let sql = if fresh {
                "INSERT INTO frontier (source, item_key, payload, state, attempts, run_id, updated_at, listing)
                 VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5, ?7)
                 ON CONFLICT (source, item_key) DO UPDATE SET
                     state = CASE WHEN ?6 AND frontier.state = 'done' AND frontier.payload = excluded.payload
                                  THEN 'done' ELSE 'pending' END,
                     payload = excluded.payload, attempts = 0, last_error = NULL,
                     run_id = excluded.run_id, updated_at = excluded.updated_at,
                     listing = excluded.listing
                 RETURNING state"
            } else {
                "INSERT INTO frontier (source, item_key, payload, state, attempts, run_id, updated_at, listing)
                 VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5, ?7)
                 ON CONFLICT (source, item_key) DO UPDATE SET
                     payload = excluded.payload, run_id = excluded.run_id, listing = excluded.listing
                 WHERE frontier.state != 'done' AND ?6 = ?6
                 RETURNING state"
            };
            let mut statement = tx.prepare_cached(sql).map_err(sql_error)?;
            for item in items {
                let state: Option<String> = statement
                    .query_row(
                        params![
                            item.source,
                            item.key,
                            item.payload,
                            run_id,
                            now,
                            !item.revisit,
                            item.listing
                        ],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(sql_error)?;
                if fresh && state.as_deref() == Some("done") {
                    *unchanged.entry(item.source.clone()).or_insert(0) += 1;
                    if let Some((source, id)) = &item.sighting {
                        seen_again.push((source, id));
                    }
                }
            }
        }
        if !seen_again.is_empty() {
            let sightings = serde_json::to_string(&seen_again).unwrap_or_default();
            tx.execute(
                "UPDATE servers SET last_seen = ?1
                 WHERE last_seen < ?1 AND id IN (
                     SELECT s.server_id FROM json_each(?2) j
                     JOIN server_sources s ON s.source = j.value ->> 0 AND s.source_id = j.value ->> 1)",
                params![now, sightings],
            )
            .map_err(sql_error)?;
        }
        tx.commit().map_err(sql_error)?;
        Ok(unchanged)
    }

    /// Advances `last_seen` of the servers whose `source` frontier items were last reported
    /// by one of `listings` (listings answered "not modified", so their items were not read
    /// again), in one UPDATE. Returns how many (done) items those listings hold.
    pub fn touch_listings(&self, source: &str, listings: &[String]) -> Result<usize> {
        if listings.is_empty() {
            return Ok(0);
        }
        let listings = serde_json::to_string(listings).unwrap_or_default();
        let items: usize = self
            .conn
            .query_row(
                "SELECT count(*) FROM frontier
                 WHERE source = ?1 AND state = 'done' AND listing IN (SELECT value FROM json_each(?2))",
                params![source, listings],
                |row| row.get(0),
            )
            .map_err(|source| self.sql_error(source))?;
        self.conn
            .execute(
                "UPDATE servers SET last_seen = ?1
                 WHERE last_seen < ?1 AND id IN (
                     SELECT s.server_id FROM frontier f
                     JOIN server_sources s ON s.source = f.source AND s.source_id = f.item_key
                     WHERE f.source = ?2 AND f.state = 'done'
                       AND f.listing IN (SELECT value FROM json_each(?3)))",
                params![now_rfc3339(), source, listings],
            )
            .map_err(|source| self.sql_error(source))?;
        Ok(items)
    }

    /// A value the crawl kept for its next run (see `crawl_state` in migration 0002).
    pub fn crawl_state(&self, key: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM crawl_state WHERE key = ?1")
            .and_then(|mut statement| statement.query_row([key], |row| row.get(0)).optional())
            .map_err(|source| self.sql_error(source))?;
        // A value that no longer parses is as good as none: the crawl does the full work.
        Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Keeps `value` under `key` for the next run; `None` forgets it.
    pub fn set_crawl_state(&self, key: &str, value: Option<&Value>) -> Result<()> {
        let result = match value {
            Some(value) => self.conn.execute(
                "INSERT INTO crawl_state (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![key, value.to_string(), now_rfc3339()],
            ),
            None => self
                .conn
                .execute("DELETE FROM crawl_state WHERE key = ?1", [key]),
        };
        result.map_err(|source| self.sql_error(source))?;
        Ok(())
    }

    /// Stores a batch of crawled items and marks each done (or failed, with its reason) in
    /// one transaction: one commit per batch instead of two per item. Each sighting is
    /// merged as [`Catalog::resolve_server_name`] decides, seeing the batch's earlier
    /// sightings. Returns, per item, whether it ended stored.
    pub fn store_crawled(
        &mut self,
        batch: &[(i64, std::result::Result<&ServerEntry, &str>)],
    ) -> Result<Vec<bool>> {
        let now = now_rfc3339();
        // `unchecked_transaction` borrows the connection shared, so the look-ups below can
        // run inside the same transaction and see what it wrote.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|source| self.sql_error(source))?;
        let mut stored = Vec::with_capacity(batch.len());
        for (item_id, outcome) in batch {
            match outcome {
                Ok(entry) => {
                    let mut record = entry.server.clone();
                    if let Some(existing) =
                        self.resolve_server_name(record.repository.as_deref(), &record.packages)?
                    {
                        record.name = existing;
                    }
                    store_in(
                        &tx,
                        &ServerEntry {
                            tools_unread: entry.tools_unread.clone(),
                            server: record,
                            tools: entry.tools.clone(),
                            live: entry.live.clone(),
                        },
                        &now,
                    )
                    .map_err(|source| self.sql_error(source))?;
                    self.set_state(*item_id, "done", None)?;
                    stored.push(true);
                }
                Err(error) => {
                    self.set_state(*item_id, "failed", Some(error))?;
                    stored.push(false);
                }
            }
        }
        tx.commit().map_err(|source| self.sql_error(source))?;
        Ok(stored)
    }

    /// Items not done yet for these sources, oldest first. Failed items are retried while
    /// they have had fewer than `max_attempts` tries.
    pub fn pending_items(&self, sources: &[&str], max_attempts: u32) -> Result<Vec<FrontierItem>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, source, item_key, payload, attempts FROM frontier
                 WHERE (state = 'pending' OR (state = 'failed' AND attempts < ?1))
                 ORDER BY id",
            )
            .map_err(|source| self.sql_error(source))?;
        let rows: Vec<(i64, String, String, String, u32)> = statement
            .query_map([max_attempts], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(|source| self.sql_error(source))?;
        Ok(rows
            .into_iter()
            .filter(|(_, source, ..)| sources.contains(&source.as_str()))
            .map(|(id, source, key, payload, attempts)| FrontierItem {
                id,
                source,
                key,
                payload,
                attempts,
            })
            .collect())
    }

    pub fn mark_done(&self, item_id: i64) -> Result<()> {
        self.set_state(item_id, "done", None)
    }

    pub fn mark_failed(&self, item_id: i64, error: &str) -> Result<()> {
        self.set_state(item_id, "failed", Some(error))
    }

    fn set_state(&self, item_id: i64, state: &str, error: Option<&str>) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE frontier SET state = ?2, last_error = ?3, updated_at = ?4,
                        attempts = attempts + (?2 = 'failed')
                 WHERE id = ?1",
            )
            .and_then(|mut statement| {
                statement.execute(params![item_id, state, error, now_rfc3339()])
            })
            .map_err(|source| self.sql_error(source))?;
        Ok(())
    }

    /// Counts of frontier items per state, for reports and tests.
    pub fn frontier_counts(&self) -> Result<Vec<(String, u64)>> {
        self.conn
            .prepare("SELECT state, count(*) FROM frontier GROUP BY state ORDER BY state")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|source| self.sql_error(source))
    }

    /// The canonical name already used for the server a sighting describes, so a second
    /// source's sighting merges into it. A package is exactly one server, so purls decide
    /// first (ignoring versions). Then the repository, unless the server found there
    /// already has a different package of the same kind: that is a monorepo sibling.
    pub fn resolve_server_name(
        &self,
        repository: Option<&str>,
        purls: &[String],
    ) -> Result<Option<String>> {
        let unversioned: Vec<&str> = purls.iter().filter_map(|purl| purl_base(purl)).collect();
        for base in &unversioned {
            let found = self
                .conn
                .prepare_cached(
                    "SELECT s.name FROM server_packages p JOIN servers s ON s.id = p.server_id
                     WHERE p.purl = ?1 OR p.purl LIKE ?2 ESCAPE '\\' ORDER BY s.id LIMIT 1",
                )
                .and_then(|mut statement| {
                    let prefix = format!("{}@%", base.replace('%', "\\%").replace('_', "\\_"));
                    statement
                        .query_row(params![base, prefix], |row| row.get(0))
                        .optional()
                })
                .map_err(|source| self.sql_error(source))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        let Some(repository) = repository else {
            return Ok(None);
        };
        let candidate: Option<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, name FROM servers WHERE repository_url = ?1 ORDER BY id LIMIT 1",
            )
            .and_then(|mut statement| {
                statement
                    .query_row([repository], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(|source| self.sql_error(source))?;
        let Some((server_id, name)) = candidate else {
            return Ok(None);
        };
        let theirs = self.packages_of(server_id)?;
        let kind = |base: &str| base.split('/').next().unwrap_or("").to_owned();
        let sibling = unversioned.iter().any(|ours| {
            theirs
                .iter()
                .filter_map(|purl| purl_base(purl))
                .any(|their| kind(their) == kind(ours) && their != *ours)
        });
        Ok((!sibling).then_some(name))
    }

    pub fn http_cache_get(&self, url: &str) -> Result<Option<CachedHttp>> {
        self.conn
            .prepare_cached("SELECT etag, last_modified, body FROM http_cache WHERE url = ?1")
            .and_then(|mut statement| {
                statement
                    .query_row([url], |row| {
                        Ok(CachedHttp {
                            etag: row.get(0)?,
                            last_modified: row.get(1)?,
                            body: row.get::<_, Option<Vec<u8>>>(2)?.unwrap_or_default(),
                        })
                    })
                    .optional()
            })
            .map_err(|source| self.sql_error(source))
    }

    pub fn http_cache_put(&self, url: &str, cached: &CachedHttp) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO http_cache (url, etag, last_modified, status, body, fetched_at)
                 VALUES (?1, ?2, ?3, 200, ?4, ?5)
                 ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
                     body = excluded.body, fetched_at = excluded.fetched_at",
            )
            .and_then(|mut statement| {
                statement.execute(params![url, cached.etag, cached.last_modified, cached.body, now_rfc3339()])
            })
            .map_err(|source| self.sql_error(source))?;
        Ok(())
    }
}

/// A purl without its version, or `None` when it names no package (`pkg:npm/`). A purl
/// encodes `@` in names as `%40`, so the first literal `@` starts the version.
fn purl_base(purl: &str) -> Option<&str> {
    let base = purl.split(['@', '?', '#']).next()?;
    let (_, name) = base.split_once('/')?;
    (!name.trim_matches('/').is_empty()).then_some(base)
}
