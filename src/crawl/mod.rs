//! Discovery and fetching of MCP servers from the registry, GitHub, npm, PyPI, lists and
//! local checkouts, with a shared polite HTTP client and a resumable frontier.
//!
//! Built so far: [`unpack`], safe unpacking of fetched archives, and [`http`], the polite
//! HTTP client every source fetches through. The sources, the
//! frontier and `mcpwarden crawl` are the rest of the crawler issue.

pub mod engine;
pub mod github;
pub mod http;
pub mod lists;
pub mod live;
pub mod local;
pub mod packages;
pub mod registry;
pub mod tools;
pub mod unpack;
