//! Discovery and fetching of MCP servers from the registry, GitHub, npm, PyPI, lists and
//! local checkouts, with a shared polite HTTP client and a resumable frontier.
//!
//! Built so far: [`unpack`], safe unpacking of fetched archives. The sources, the HTTP
//! client, the frontier and `mcpwarden crawl` are the rest of the crawler issue.

pub mod unpack;
