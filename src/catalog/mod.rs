//! The SQLite catalogue: open, migrate, store and query. The only module that writes SQL.
//!
//! Migrations are the numbered files in `migrations/`, embedded with `include_str!` and
//! applied in one transaction keyed by `PRAGMA user_version`. A database whose version is
//! newer than this binary knows is refused, never "downgraded".

mod frontier;
mod jsonl;
mod query;
mod store;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use frontier::{CachedHttp, CrawlRun, FrontierItem, NewItem};
pub use jsonl::{
    ExportError, ImportError, ImportReport, LineError, ServerLine, ToolLine, export_jsonl,
    import_jsonl,
};
pub use query::{
    SearchHit, SearchQuery, ServerCard, ServerSummary, Stats, ToolCard, ToolForClassification,
};
pub(crate) use store::now_rfc3339;
pub use store::{ClassifyCounts, ServerEntry, StoreCounts, StoreOutcome, ToolEntry};

/// Every migration, in order. Append only: a released migration never changes.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../migrations/0001_init.sql")),
    (
        "0002_crawl_state",
        include_str!("../../migrations/0002_crawl_state.sql"),
    ),
    (
        "0003_tools_unread",
        include_str!("../../migrations/0003_tools_unread.sql"),
    ),
    (
        "0004_live_listing",
        include_str!("../../migrations/0004_live_listing.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{path} is not an mcpwarden catalogue: it is not a SQLite database (the file was left untouched; \
         move it away or pass another --db)"
    )]
    NotSqlite { path: PathBuf },
    #[error(
        "{path} was written by a newer mcpwarden (schema version {found}, this one knows up to {known}); \
         upgrade mcpwarden to read it"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the folder for the catalogue {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("migration {name} failed on {path}")]
    Migration {
        name: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the catalogue {path} rejected a query")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("stored JSON in column {column} of the catalogue is not valid")]
    StoredJson {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("stored value `{value}` in column {column} is not one mcpwarden knows")]
    StoredValue { column: &'static str, value: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An open catalogue.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

impl Catalog {
    /// Opens (creating if needed) the catalogue at `path` and brings its schema up to date.
    ///
    /// A file that exists but is not a SQLite database is refused before SQLite touches it,
    /// so a mistyped `--db` never damages someone's file.
    pub fn open(path: &Path) -> Result<Catalog> {
        check_is_sqlite_or_absent(path)?;
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            fs_err::create_dir_all(parent).map_err(|source| Error::CreateDir {
                path: path.to_owned(),
                source,
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Sqlite {
            path: path.to_owned(),
            source,
        })?;
        Catalog::configure(conn, path.to_owned())
    }

    /// A catalogue that lives in memory only: for tests and benchmarks.
    pub fn open_in_memory() -> Result<Catalog> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| Error::Sqlite {
            path: path.clone(),
            source,
        })?;
        Catalog::configure(conn, path)
    }

    fn configure(mut conn: Connection, path: PathBuf) -> Result<Catalog> {
        let sql_error = |source| Error::Sqlite {
            path: path.clone(),
            source,
        };
        // Check the version before any write: a newer catalogue must stay as it is.
        let found: u32 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| match source {
                rusqlite::Error::SqliteFailure(ref failure, _)
                    if failure.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    Error::NotSqlite { path: path.clone() }
                }
                source => sql_error(source),
            })?;
        if found > SCHEMA_VERSION {
            return Err(Error::NewerSchema {
                path,
                found,
                known: SCHEMA_VERSION,
            });
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             -- 64 MiB of page cache (the default is 2 MiB): a bulk import of 100,000 tools
             -- otherwise spills dirty pages to the WAL mid-transaction.
             PRAGMA cache_size = -65536;",
        )
        .map_err(sql_error)?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn, &path, found)?;
        Ok(Catalog { conn, path })
    }

    /// Where the catalogue is stored (`:memory:` for an in-memory one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open catalogue.
    pub fn schema_version(&self) -> Result<u32> {
        self.conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| self.sql_error(source))
    }

    fn sql_error(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

fn check_is_sqlite_or_absent(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        }
    }
    // SQLite treats an empty file as a new database; anything else must carry the header.
    if read == 0 || (read == header.len() && &header == SQLITE_HEADER) {
        Ok(())
    } else {
        Err(Error::NotSqlite {
            path: path.to_owned(),
        })
    }
}

fn migrate(conn: &mut Connection, path: &Path, found: u32) -> Result<()> {
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let sql_error = |source| Error::Sqlite {
        path: path.to_owned(),
        source,
    };
    let tx = conn.transaction().map_err(sql_error)?;
    for (name, sql) in &MIGRATIONS[found as usize..] {
        tx.execute_batch(sql).map_err(|source| Error::Migration {
            name,
            path: path.to_owned(),
            source,
        })?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sql_error)?;
    tx.commit().map_err(sql_error)
}

/// Where the catalogue lives when neither `--db` nor `$MCPWARDEN_DB` says: the platform data
/// directory (`~/.local/share/mcpwarden/catalog.db` on Linux).
pub fn default_path() -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join("mcpwarden").join("catalog.db"))
}
