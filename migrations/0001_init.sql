-- 0001: the first catalogue schema. Append-only: later changes go in new numbered files.

CREATE TABLE servers (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,          -- canonical: registry name or owner/repo
    name_key       TEXT NOT NULL,                 -- lower case, '-' and '.' read as '_'
    title          TEXT,
    description    TEXT,
    repository_url TEXT,                          -- normalised
    remotes        TEXT NOT NULL DEFAULT '[]',    -- JSON [{type, url}]
    language       TEXT,
    license        TEXT,
    stars          INTEGER,
    last_commit    TEXT,
    first_seen     TEXT NOT NULL,
    last_seen      TEXT NOT NULL,
    content_hash   TEXT NOT NULL,                 -- over the merged record and its packages
    tools_hash     TEXT                           -- over the tool entries last stored
);
CREATE INDEX servers_name_key ON servers(name_key);
CREATE INDEX servers_repository ON servers(repository_url);

-- Package references as purls; one server may publish several packages.
CREATE TABLE server_packages (
    server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    purl      TEXT NOT NULL,
    PRIMARY KEY (server_id, purl)
);
CREATE INDEX server_packages_purl ON server_packages(purl);

-- Which source saw which server: one server, many sources.
CREATE TABLE server_sources (
    server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    source    TEXT NOT NULL,
    source_id TEXT NOT NULL,
    seen_at   TEXT,
    PRIMARY KEY (server_id, source, source_id)
);
CREATE INDEX server_sources_source ON server_sources(source);

CREATE TABLE tools (
    id                INTEGER PRIMARY KEY,
    server_id         INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    name_key          TEXT NOT NULL,
    name_words        TEXT NOT NULL,              -- split identifier, for full-text search
    title             TEXT,
    description       TEXT NOT NULL,
    input_schema      TEXT NOT NULL,              -- JSON
    annotations       TEXT,                       -- JSON
    annotation_source TEXT NOT NULL,              -- declared | sdk-default | absent
    definition_hash   TEXT NOT NULL,
    method            TEXT NOT NULL,              -- static-ts, ..., live, import
    location          TEXT,
    confidence        REAL NOT NULL,
    UNIQUE (server_id, name)
);
-- Covers name lookups and the closest-name scan without touching the table.
CREATE INDEX tools_name_key ON tools(name_key, name);

CREATE TABLE classifications (
    tool_id         INTEGER PRIMARY KEY REFERENCES tools(id) ON DELETE CASCADE,
    category        TEXT NOT NULL,
    risk            TEXT NOT NULL,
    signals         TEXT NOT NULL,                -- JSON [{name, evidence}]
    rationale       TEXT NOT NULL,
    rule_ids        TEXT NOT NULL,                -- JSON [id]
    findings        TEXT NOT NULL DEFAULT '[]',   -- JSON [{kind, severity, quote, message}]
    confidence      REAL NOT NULL,
    version         TEXT NOT NULL,                -- classifier version (hash of the rules)
    definition_hash TEXT NOT NULL                 -- of the definition that was classified
);
CREATE INDEX classifications_category ON classifications(category);
CREATE INDEX classifications_risk ON classifications(risk);

CREATE TABLE crawl_runs (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,                    -- running | finished | interrupted | failed
    options     TEXT NOT NULL DEFAULT '{}',       -- JSON: sources, limits
    summary     TEXT NOT NULL DEFAULT '{}'        -- JSON: counts per source and outcome
);

-- Work the crawl has discovered and not finished, so a killed crawl resumes.
CREATE TABLE frontier (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    item_key   TEXT NOT NULL,                     -- e.g. a purl or repository URL
    payload    TEXT NOT NULL DEFAULT '{}',        -- JSON: what the source needs to fetch it
    state      TEXT NOT NULL DEFAULT 'pending',   -- pending | done | failed
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    run_id     INTEGER REFERENCES crawl_runs(id),
    updated_at TEXT NOT NULL,
    UNIQUE (source, item_key)
);
CREATE INDEX frontier_state ON frontier(state);

-- Validators for conditional requests.
CREATE TABLE http_cache (
    url           TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT,
    status        INTEGER,
    body          BLOB,
    fetched_at    TEXT NOT NULL
);

-- Full-text search over tool and server names and descriptions. Contentless tables (the
-- text lives in tools and servers; rowids match) that allow DELETE by rowid, maintained by
-- catalog/store.rs rather than by triggers: a trigger gives every INSERT a statement
-- journal, and FTS5 flushes its pending index at every such savepoint, which made bulk
-- imports three times slower.
CREATE VIRTUAL TABLE tools_fts USING fts5(
    name_words, description, content='', contentless_delete=1, tokenize='unicode61'
);
CREATE VIRTUAL TABLE servers_fts USING fts5(
    name, title, description, content='', contentless_delete=1, tokenize='unicode61'
);
