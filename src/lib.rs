//! mcpwarden: crawl MCP servers, classify the tools they expose, write default-deny
//! policies for them and enforce those policies in a gateway.
//!
//! The pipeline and the module map are in `ARCHITECTURE.md`. `main.rs` only calls
//! [`cli::main`]; everything else lives here so tests can drive it.

pub mod catalog;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod crawl;
pub mod extract;
pub mod gateway;
pub mod model;
pub mod policy;
pub mod progress;
pub mod report;
