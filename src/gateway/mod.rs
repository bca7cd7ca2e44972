//! The policy-enforcing MCP proxy: stdio and Streamable HTTP transports, decisions from
//! `policy`, counters, approvals, audit. Not built yet: see issue "The gateway".
