-- 0002: what an incremental crawl remembers between runs, and repository metadata that
-- 0001 had no column for. Append-only, like 0001.

-- GitHub's `archived` flag: 1 archived, 0 not, NULL when no source has said.
ALTER TABLE servers ADD COLUMN archived INTEGER;

-- The listing that last reported a frontier item (for GitHub, the search window), so the
-- items of a listing answered "not modified" can be marked seen without re-reading it.
ALTER TABLE frontier ADD COLUMN listing TEXT;
CREATE INDEX frontier_listing ON frontier(source, listing);

-- Small named facts a crawl keeps for the next one: when the registry was last listed
-- completely, which GitHub search windows the last complete search ended with.
CREATE TABLE crawl_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,                     -- JSON
    updated_at TEXT NOT NULL
);

-- Finding the server a source's sighting belongs to (`last_seen` of unchanged sightings).
CREATE INDEX server_sources_sighting ON server_sources(source, source_id);
