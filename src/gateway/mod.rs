//! The policy-enforcing MCP proxy. [`judge`] decides about every message with no I/O;
//! [`stdio`] carries messages between a client on our stdin/stdout and a child server;
//! [`http`] serves Streamable HTTP clients, one child server per HTTP session;
//! [`audit`] records each decision; [`reload`] keeps the policy current. With
//! `--config`, [`multi`] puts several servers behind one endpoint ([`config`] reads the
//! file; [`multi_stdio`] and [`multi_http`] are its transports, and [`remote`] speaks to a
//! configured server that is a URL rather than a command).
//!
//! **Invariant:** the gateway never forwards what it could not parse or judge. Decisions
//! come from [`crate::policy::CompiledPolicy::decide`], the engine `policy explain` uses.

pub mod audit;
pub mod config;
pub mod http;
pub mod inproc;
pub mod judge;
pub mod listing;
pub mod multi;
pub mod multi_http;
pub mod multi_stdio;
pub mod reload;
pub mod remote;
pub mod stdio;
pub mod strict;

pub use judge::{Action, JudgeConfig, Session, Shared};
