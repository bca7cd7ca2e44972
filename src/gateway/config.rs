//! `--config FILE`: the `mcpServers` JSON that MCP clients read (Claude Desktop, Cursor,
//! and VS Code's `servers`), read as the list of servers one gateway aggregates. `wrap`
//! finds the server object the same way ([`servers_key`]).
//!
//! Server names become the prefix of namespaced tool names (`<server>__<tool>`), so they
//! are restricted to letters, digits, `_`, `-` and `.`, with no `__` and no `_` at the end:
//! then the first `__` in a namespaced name is always the separator ([`split_tool`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Between the server name and the tool name in a namespaced tool name.
pub const SEPARATOR: &str = "__";

/// The longest tool name MCP allows.
pub const MAX_TOOL_NAME: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the server configuration {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the server configuration {path} is not JSON: {why}")]
    NotJson { path: PathBuf, why: String },
    #[error(
        "the server configuration {path} has no `mcpServers` (or `servers`) object: is it an MCP client configuration?"
    )]
    NoServers { path: PathBuf },
    #[error("the server configuration {path} lists no servers to run (all are disabled?)")]
    Empty { path: PathBuf },
    #[error("server {name:?} in {path}: {why}")]
    Server {
        path: PathBuf,
        name: String,
        why: String,
    },
}

/// One server to run behind the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The key in `mcpServers`: the prefix of its tools and the audit's `server`.
    pub name: String,
    /// The program and its arguments; empty for a remote server.
    pub command: Vec<OsString>,
    /// A remote Streamable HTTP server (an entry with `url` instead of `command`).
    pub remote: Option<RemoteEntry>,
    /// Variables added to the gateway's own environment for this server.
    pub env: BTreeMap<String, String>,
    /// The folder to start it in (`cwd`), if the configuration names one.
    pub cwd: Option<PathBuf>,
}

/// A remote server: where it is and the headers every request to it carries (`headers`
/// in the entry, e.g. its own `Authorization`; nothing of the gateway's client is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    pub url: reqwest::Url,
    pub headers: BTreeMap<String, String>,
}

/// Which key holds the servers: `mcpServers`, else VS Code's `servers`.
pub fn servers_key(document: &serde_json::Map<String, Value>) -> &'static str {
    if document.contains_key("mcpServers") {
        "mcpServers"
    } else {
        "servers"
    }
}

/// Reads and checks the configuration.
pub fn load(path: &Path) -> Result<Vec<ServerConfig>, ConfigError> {
    let text = fs_err::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// Checks the configuration `text` (read from `path`, named in errors). Entries with
/// `"disabled": true` are left out; a remote (`url`) entry or a name that cannot be a
/// prefix is an error, never silently dropped.
pub fn parse(text: &str, path: &Path) -> Result<Vec<ServerConfig>, ConfigError> {
    let document: Value = serde_json::from_str(text).map_err(|error| ConfigError::NotJson {
        path: path.to_owned(),
        why: error.to_string(),
    })?;
    let no_servers = || ConfigError::NoServers {
        path: path.to_owned(),
    };
    let object = document.as_object().ok_or_else(no_servers)?;
    let servers = object
        .get(servers_key(object))
        .and_then(Value::as_object)
        .ok_or_else(no_servers)?;
    let mut out = Vec::new();
    for (name, entry) in servers {
        let problem = |why: String| ConfigError::Server {
            path: path.to_owned(),
            name: name.clone(),
            why,
        };
        let entry = entry
            .as_object()
            .ok_or_else(|| problem("the entry is not an object".to_owned()))?;
        if entry.get("disabled") == Some(&Value::Bool(true)) {
            continue;
        }
        check_name(name).map_err(problem)?;
        if entry.contains_key("url") && !entry.contains_key("command") {
            out.push(ServerConfig {
                name: name.clone(),
                command: Vec::new(),
                remote: Some(remote_entry(entry).map_err(problem)?),
                env: BTreeMap::new(),
                cwd: None,
            });
            continue;
        }
        let Some(command) = entry.get("command") else {
            return Err(problem(
                "no `command` to run and no `url` to call".to_owned(),
            ));
        };
        let command = command
            .as_str()
            .filter(|command| !command.is_empty())
            .ok_or_else(|| problem("`command` must be a non-empty string".to_owned()))?;
        let mut argv = vec![OsString::from(expand(command, "command").map_err(problem)?)];
        match entry.get("args") {
            None | Some(Value::Null) => {}
            Some(Value::Array(args)) => {
                for (index, arg) in args.iter().enumerate() {
                    let arg = arg
                        .as_str()
                        .ok_or_else(|| problem(format!("`args[{index}]` is not a string")))?;
                    argv.push(OsString::from(
                        expand(arg, &format!("args[{index}]")).map_err(problem)?,
                    ));
                }
            }
            Some(_) => return Err(problem("`args` must be an array of strings".to_owned())),
        }
        let mut env = BTreeMap::new();
        match entry.get("env") {
            None | Some(Value::Null) => {}
            Some(Value::Object(vars)) => {
                for (key, value) in vars {
                    let value = value
                        .as_str()
                        .ok_or_else(|| problem(format!("`env.{key}` is not a string")))?;
                    env.insert(
                        key.clone(),
                        expand(value, &format!("env.{key}")).map_err(problem)?,
                    );
                }
            }
            Some(_) => return Err(problem("`env` must be an object of strings".to_owned())),
        }
        let cwd = match entry.get("cwd") {
            None | Some(Value::Null) => None,
            Some(Value::String(cwd)) => Some(PathBuf::from(expand(cwd, "cwd").map_err(problem)?)),
            Some(_) => return Err(problem("`cwd` must be a string".to_owned())),
        };
        out.push(ServerConfig {
            name: name.clone(),
            command: argv,
            remote: None,
            env,
            cwd,
        });
    }
    if out.is_empty() {
        return Err(ConfigError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(out)
}

/// Reads a remote entry: `url` (http or https), an optional `type` that must name the
/// Streamable HTTP transport, and optional `headers`, each checked now so that a bad one
/// stops the start instead of failing every request.
fn remote_entry(entry: &serde_json::Map<String, Value>) -> Result<RemoteEntry, String> {
    match entry.get("type").map(|kind| kind.as_str()) {
        None | Some(Some("http" | "streamable-http" | "streamableHttp")) => {}
        Some(Some("sse")) => {
            return Err(
                "`type: sse` is the older HTTP+SSE transport, which the gateway does \
                 not speak; only Streamable HTTP servers (`type: http`) can be used"
                    .to_owned(),
            );
        }
        Some(other) => {
            return Err(format!(
                "`type` {} is not a remote transport the gateway speaks (use `http`)",
                other.map_or_else(|| "(not a string)".to_owned(), |kind| format!("{kind:?}"))
            ));
        }
    }
    let url = entry
        .get("url")
        .and_then(Value::as_str)
        .ok_or("`url` must be a string")?;
    // Errors show the URL as written, so a secret filled in from the environment is not
    // printed.
    let written = url;
    let url = reqwest::Url::parse(&expand(written, "url")?)
        .map_err(|error| format!("`url` {written:?}: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`url` {written:?} must be http or https"));
    }
    let mut headers = BTreeMap::new();
    match entry.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(pairs)) => {
            for (key, value) in pairs {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("`headers.{key}` is not a string"))?;
                let value = &expand(value, &format!("headers.{key}"))?;
                reqwest::header::HeaderName::from_bytes(key.as_bytes())
                    .map_err(|_| format!("`headers.{key}` is not a valid header name"))?;
                reqwest::header::HeaderValue::from_str(value)
                    .map_err(|_| format!("`headers.{key}` is not a valid header value"))?;
                headers.insert(key.clone(), value.to_owned());
            }
        }
        Some(_) => return Err("`headers` must be an object of strings".to_owned()),
    }
    Ok(RemoteEntry { url, headers })
}

/// Replaces `${NAME}`, `${env:NAME}` and `${NAME:-default}` in a configuration string with
/// the gateway's environment, as MCP clients do when they start a server themselves, so a
/// token can stay in the environment instead of the file. A variable that is not set
/// (and has no default) is an error naming `field`, not an empty string. Only `${...}` is
/// read: a bare `$` is left alone, since arguments and passwords hold them (which is why
/// this is not a shell-style expander such as the `shellexpand` crate).
fn expand(text: &str, field: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`{field}` has a `${{` with no closing `}}`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let name = name.strip_prefix("env:").unwrap_or(name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`{field}` holds `${{{inner}}}`: only environment variables (`${{NAME}}`, \
                 `${{env:NAME}}`, `${{NAME:-default}}`) can be filled in here"
            ));
        }
        match (std::env::var(name), default) {
            (Ok(value), _) => out.push_str(&value),
            (Err(_), Some(default)) => out.push_str(default),
            (Err(_), None) => {
                return Err(format!(
                    "`{field}` needs the environment variable {name}, which is not set"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A server name must be usable as a tool-name prefix: 1 to 64 of `[A-Za-z0-9.-]`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a server name must be 1 to 64 characters long".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "the name may hold only letters, digits, `_`, `-` and `.` (found {bad:?}): it \
             becomes the prefix of its tools' names, `<server>{SEPARATOR}<tool>`; rename the entry"
        ));
    }
    if name.contains(SEPARATOR) || name.ends_with('_') {
        return Err(format!(
            "the name must not contain `{SEPARATOR}` or end with `_`: it becomes the prefix of \
             its tools' names, `<server>{SEPARATOR}<tool>`, and the first `{SEPARATOR}` must be \
             the one between them; rename the entry"
        ));
    }
    Ok(())
}

/// `<server>__<tool>`, or `None` when the result would be longer than MCP allows.
pub fn namespaced(server: &str, tool: &str) -> Option<String> {
    let name = format!("{server}{SEPARATOR}{tool}");
    (name.len() <= MAX_TOOL_NAME).then_some(name)
}

/// Splits a namespaced tool name at its first `__`: server names hold no `__` and do not
/// end with `_`, so that is always the separator, whatever the tool name holds.
pub fn split_tool(name: &str) -> Option<(&str, &str)> {
    let (server, tool) = name.split_once(SEPARATOR)?;
    (!server.is_empty() && !tool.is_empty()).then_some((server, tool))
}

/// The policy of one server: `DIR/<server>.json`, as `wrap` names them.
pub fn policy_path(policies: &Path, server: &str) -> PathBuf {
    policies.join(format!("{server}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<ServerConfig>, ConfigError> {
        parse(text, Path::new("mcp.json"))
    }

    #[test]
    fn reads_commands_args_env_and_skips_disabled() {
        let servers = parse_text(
            r#"{"mcpServers": {
                "fs": {"command": "npx", "args": ["-y", "server-fs", "/tmp"], "env": {"A": "1"}},
                "off": {"command": "x", "disabled": true},
                "git.hub-2": {"command": "gh-mcp"}
            }}"#,
        )
        .unwrap();
        let names: Vec<&str> = servers.iter().map(|server| server.name.as_str()).collect();
        assert_eq!(names, ["fs", "git.hub-2"]);
        assert_eq!(servers[0].command, ["npx", "-y", "server-fs", "/tmp"]);
        assert_eq!(servers[0].env["A"], "1");
    }

    #[test]
    fn reads_remote_servers_with_their_headers() {
        let servers = parse_text(
            r#"{"mcpServers": {
                "remote": {"type": "http", "url": "https://mcp.example.test/mcp",
                           "headers": {"Authorization": "Bearer t"}},
                "local": {"command": "x"}
            }}"#,
        )
        .unwrap();
        let by_name = |name: &str| servers.iter().find(|server| server.name == name).unwrap();
        assert!(by_name("local").remote.is_none());
        assert!(by_name("remote").command.is_empty());
        let remote = by_name("remote").remote.as_ref().unwrap();
        assert_eq!(remote.url.as_str(), "https://mcp.example.test/mcp");
        assert_eq!(remote.headers["Authorization"], "Bearer t");
    }

    #[test]
    fn environment_variables_are_filled_in_and_a_missing_one_is_named() {
        // PATH is set wherever tests run; the other name is not.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(expand("a ${PATH} b", "f").unwrap(), format!("a {path} b"));
        assert_eq!(expand("${env:PATH}", "f").unwrap(), path);
        assert_eq!(
            expand("Bearer ${MCPWARDEN_SURELY_UNSET_VAR:-none}", "f").unwrap(),
            "Bearer none"
        );
        assert_eq!(expand("pa$$word $HOME", "f").unwrap(), "pa$$word $HOME");
        let error = expand("${MCPWARDEN_SURELY_UNSET_VAR}", "headers.X").unwrap_err();
        assert!(
            error.contains("headers.X") && error.contains("MCPWARDEN_SURELY_UNSET_VAR"),
            "{error}"
        );
        assert!(
            expand("${input:token}", "f")
                .unwrap_err()
                .contains("only environment")
        );
        assert!(expand("${PATH", "f").unwrap_err().contains("no closing"));
        let servers = parse_text(
            r#"{"mcpServers": {"r": {"url": "http://127.0.0.1:1/${MCPWARDEN_SURELY_UNSET_VAR:-mcp}",
                                     "headers": {"X-Path": "${PATH}"}}}}"#,
        )
        .unwrap();
        let remote = servers[0].remote.as_ref().unwrap();
        assert_eq!(remote.url.as_str(), "http://127.0.0.1:1/mcp");
        assert_eq!(remote.headers["X-Path"], path);
    }

    #[test]
    fn vs_code_servers_key_is_read() {
        let servers = parse_text(r#"{"servers": {"a": {"command": "a"}}}"#).unwrap();
        assert_eq!(servers[0].name, "a");
    }

    #[test]
    fn bad_entries_name_the_server_and_the_problem() {
        let cases = [
            (
                r#"{"mcpServers": {"my__server": {"command": "x"}}}"#,
                "must not contain `__` or end with `_`",
            ),
            (
                r#"{"mcpServers": {"server_": {"command": "x"}}}"#,
                "must not contain `__` or end with `_`",
            ),
            (r#"{"mcpServers": {"a b": {"command": "x"}}}"#, "found ' '"),
            (
                r#"{"mcpServers": {"r": {"url": "http://127.0.0.1:9/sse", "type": "sse"}}}"#,
                "older HTTP+SSE transport",
            ),
            (
                r#"{"mcpServers": {"r": {"url": "ftp://127.0.0.1:9/mcp"}}}"#,
                "must be http or https",
            ),
            (
                r#"{"mcpServers": {"r": {"url": "not a url"}}}"#,
                "`url` \"not a url\"",
            ),
            (
                r#"{"mcpServers": {"r": {"url": "http://127.0.0.1:9/mcp", "headers": {"X-A": "a\nb"}}}}"#,
                "`headers.X-A` is not a valid header value",
            ),
            (r#"{"mcpServers": {"s": {"args": []}}}"#, "no `command`"),
            (
                r#"{"mcpServers": {"s": {"command": "x", "args": [1]}}}"#,
                "`args[0]`",
            ),
            (
                r#"{"mcpServers": {"s": {"command": "x", "env": {"A": 1}}}}"#,
                "`env.A`",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_text(text).unwrap_err().to_string();
            assert!(error.contains("mcp.json"), "{error}");
            assert!(error.contains(expected), "{text}: {error}");
        }
        let error = parse_text(r#"{"other": {}}"#).unwrap_err().to_string();
        assert!(error.contains("no `mcpServers`"), "{error}");
        let error = parse_text(r#"{"mcpServers": {}}"#).unwrap_err().to_string();
        assert!(error.contains("lists no servers"), "{error}");
    }

    #[test]
    fn namespaced_names_split_back_unambiguously() {
        for (server, tool) in [
            ("fs", "read_file"),
            ("a.b-c", "__weird__name__"),
            ("my_server", "read_file"),
            ("_a_b", "_c"),
            ("x", "_"),
            ("s", "a__b"),
        ] {
            let name = namespaced(server, tool).unwrap();
            assert_eq!(split_tool(&name), Some((server, tool)), "{name}");
        }
        assert_eq!(split_tool("no-separator"), None);
        assert_eq!(split_tool("__tool"), None);
        assert_eq!(split_tool("server__"), None);
        assert!(namespaced("s", &"t".repeat(125)).is_some());
        assert!(namespaced("s", &"t".repeat(126)).is_none());
    }
}
