//! The audit: one record per decision, as JSON Lines or in a SQLite table, and the reader
//! behind `mcpwarden audit tail`.
//!
//! A record holds the argument *keys* by default: values can be secrets or personal data,
//! and keys are enough to see what a call tried to do. `--audit-values` adds the values.
//!
//! This is the one place outside `catalog/` that writes SQL: the audit database is the
//! gateway's own log, not the catalogue, and has one append-only table.

use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    pub session: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `None` for messages refused before a tool could be read.
    pub tool: Option<String>,
    /// `allow`, `deny`, `hidden`, `unknown`, `invalid`, `needs_approval`, `approved`,
    /// `declined`, or a protocol outcome (`parse_error`, `duplicate_key`, `oversized`,
    /// `invalid_request`, `invalid_params`, `dropped_notification`, `timeout`,
    /// `upstream_closed`, `refused`).
    pub verdict: String,
    /// The policy rule that decided (`tools.x.deny_if[0]`), `inputSchema`, or `protocol`.
    pub rule: String,
    pub message: String,
    pub argument_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// Time the gateway spent judging, in microseconds.
    pub latency_us: u64,
}

/// Where records go. Implementations must not block for long: they run on the message
/// path.
pub trait AuditSink: Send + Sync {
    fn record(&self, record: &AuditRecord);
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open the audit log {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the audit database {path}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot read the audit {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not an audit record: {source}")]
    BadLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Whether the path names a SQLite audit (`.db`, `.sqlite`, `.sqlite3`) or JSON Lines.
pub fn is_sqlite(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|extension| extension.to_str()),
        Some("db" | "sqlite" | "sqlite3")
    )
}

/// Opens the audit the path names, creating it if needed; records are appended.
pub fn open(path: &Path) -> Result<Box<dyn AuditSink>, AuditError> {
    if is_sqlite(path) {
        Ok(Box::new(SqliteAudit::open(path)?))
    } else {
        Ok(Box::new(JsonLinesAudit::open(path)?))
    }
}

/// JSON Lines, one record per line, flushed per record so `tail -f` sees it at once.
pub struct JsonLinesAudit {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl JsonLinesAudit {
    pub fn open(path: &Path) -> Result<JsonLinesAudit, AuditError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AuditError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(JsonLinesAudit {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }
}

impl AuditSink for JsonLinesAudit {
    fn record(&self, record: &AuditRecord) {
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // One write per record: appends of one buffer do not interleave with other writers.
        if let Err(error) = file.write_all(&line) {
            eprintln!(
                "mcpwarden: cannot write the audit log {}: {error}",
                self.path.display()
            );
        }
    }
}

const AUDIT_TABLE: &str = "CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    session TEXT NOT NULL,
    grant_id TEXT,
    server TEXT,
    tool TEXT,
    verdict TEXT NOT NULL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL,
    argument_keys TEXT NOT NULL,
    arguments TEXT,
    latency_us INTEGER NOT NULL
)";

/// A SQLite table `audit`, one row per record.
pub struct SqliteAudit {
    path: PathBuf,
    connection: Mutex<rusqlite::Connection>,
}

impl SqliteAudit {
    pub fn open(path: &Path) -> Result<SqliteAudit, AuditError> {
        let database = |source| AuditError::Database {
            path: path.to_owned(),
            source,
        };
        let connection = rusqlite::Connection::open(path).map_err(database)?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(database)?;
        connection.execute_batch(AUDIT_TABLE).map_err(database)?;
        Ok(SqliteAudit {
            path: path.to_owned(),
            connection: Mutex::new(connection),
        })
    }
}

impl AuditSink for SqliteAudit {
    fn record(&self, record: &AuditRecord) {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let time = &record.time;
        let keys = serde_json::to_string(&record.argument_keys).unwrap_or_default();
        let arguments = record.arguments.as_ref().map(Value::to_string);
        let result = connection.execute(
            "INSERT INTO audit (time, session, grant_id, server, tool, verdict, rule, message, \
             argument_keys, arguments, latency_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            rusqlite::params![
                time,
                record.session,
                record.grant,
                record.server,
                record.tool,
                record.verdict,
                record.rule,
                record.message,
                keys,
                arguments,
                i64::try_from(record.latency_us).unwrap_or(i64::MAX),
            ],
        );
        if let Err(error) = result {
            eprintln!(
                "mcpwarden: cannot write the audit database {}: {error}",
                self.path.display()
            );
        }
    }
}

/// Where a reader stopped, so following can go on from there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TailPosition {
    /// Byte offset (JSON Lines) or last `seq` read (SQLite).
    offset: u64,
    line: usize,
}

/// Reads the records after `from`; returns them and where to continue.
pub fn read_since(
    path: &Path,
    from: TailPosition,
) -> Result<(Vec<AuditRecord>, TailPosition), AuditError> {
    if is_sqlite(path) {
        read_sqlite_since(path, from)
    } else {
        read_jsonl_since(path, from)
    }
}

fn read_jsonl_since(
    path: &Path,
    from: TailPosition,
) -> Result<(Vec<AuditRecord>, TailPosition), AuditError> {
    let read = |source| AuditError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read)?;
    let length = file.metadata().map_err(read)?.len();
    // A log that shrank was rotated or truncated: start again from its beginning.
    let mut position = if length < from.offset {
        TailPosition::default()
    } else {
        from
    };
    file.seek(std::io::SeekFrom::Start(position.offset))
        .map_err(read)?;
    let mut reader = std::io::BufReader::new(file);
    let mut records = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read_bytes = reader.read_line(&mut line).map_err(read)?;
        if read_bytes == 0 || !line.ends_with('\n') {
            // The end, or a record still being written: read it next time.
            break;
        }
        position.offset += read_bytes as u64;
        position.line += 1;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|source| AuditError::BadLine {
            path: path.to_owned(),
            line: position.line,
            source,
        })?;
        records.push(record);
    }
    Ok((records, position))
}

fn read_sqlite_since(
    path: &Path,
    from: TailPosition,
) -> Result<(Vec<AuditRecord>, TailPosition), AuditError> {
    let database = |source| AuditError::Database {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        return Err(AuditError::Read {
            path: path.to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(database)?;
    let mut statement = connection
        .prepare(
            "SELECT seq, time, session, grant_id, server, tool, verdict, rule, message, \
             argument_keys, arguments, latency_us FROM audit WHERE seq > ?1 ORDER BY seq",
        )
        .map_err(database)?;
    let mut position = from;
    let mut records = Vec::new();
    let rows = statement
        .query_map([i64::try_from(from.offset).unwrap_or(i64::MAX)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, String>(9)?,
                row.get::<_, Option<String>>(10)?,
                row.get::<_, i64>(11)?,
            ))
        })
        .map_err(database)?;
    for row in rows {
        let (seq, time, session, grant, server, tool, verdict, rule, message, keys, args, us) =
            row.map_err(database)?;
        position.offset = u64::try_from(seq).unwrap_or(0);
        position.line += 1;
        records.push(AuditRecord {
            time,
            session,
            grant,
            server,
            tool,
            verdict,
            rule,
            message,
            argument_keys: serde_json::from_str(&keys).unwrap_or_default(),
            arguments: args.and_then(|text| serde_json::from_str(&text).ok()),
            latency_us: u64::try_from(us).unwrap_or(0),
        });
    }
    Ok((records, position))
}

/// One line for people: `2026-01-02T03:04:05Z deny delete_repo tools.delete_repo.deny_if[0] keys=[owner]`.
pub fn render(record: &AuditRecord) -> String {
    let time = &record.time;
    let tool = record.tool.as_deref().unwrap_or("-");
    let mut line = format!(
        "{time} {} {tool} {} {} keys=[{}]",
        record.verdict,
        record.rule,
        record.session,
        record.argument_keys.join(",")
    );
    if let Some(arguments) = &record.arguments {
        line.push_str(&format!(" args={arguments}"));
    }
    if !record.message.is_empty() {
        line.push_str(&format!(" — {}", record.message));
    }
    line
}
