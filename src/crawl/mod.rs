//! Discovery and fetching of MCP servers from the registry, GitHub, npm, PyPI, lists and
//! local checkouts, with a shared polite HTTP client and a resumable frontier.
//! Not built yet: see issue "The crawler".
