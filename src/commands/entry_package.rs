//! Which published package a client configuration entry runs: `npx PKG[@VERSION]`,
//! `uvx PKG[==VERSION]` (or `--from`), `pipx run PKG`, `uv tool run PKG`, `node SCRIPT`
//! inside an installed npm package (named by the nearest `package.json`), or a console
//! script of a Python virtual environment (named by its distribution's metadata). `wrap`
//! looks the package up in the catalogue, crawling it when it is not there, to write the
//! policy the wrapped entry points at.

use std::path::Path;

/// A package an entry runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPackage {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecosystem {
    Npm,
    Pypi,
}

impl EntryPackage {
    /// The package URL the catalogue files it under (unversioned: any version matches).
    pub fn purl(&self) -> Option<String> {
        let kind = match self.ecosystem {
            Ecosystem::Npm => "npm",
            Ecosystem::Pypi => "pypi",
        };
        crate::crawl::registry::purl(kind, &self.name, None)
    }

    /// What `crawl --npm` / `--pypi` takes: `NAME@VERSION` or `NAME==VERSION`.
    pub fn crawl_spec(&self) -> String {
        match (&self.version, self.ecosystem) {
            (Some(version), Ecosystem::Npm) => format!("{}@{version}", self.name),
            (Some(version), Ecosystem::Pypi) => format!("{}=={version}", self.name),
            (None, _) => self.name.clone(),
        }
    }

    /// `npm package NAME@VERSION`, for messages.
    pub fn describe(&self) -> String {
        let kind = match self.ecosystem {
            Ecosystem::Npm => "npm package",
            Ecosystem::Pypi => "PyPI package",
        };
        format!("{kind} {}", self.crawl_spec())
    }
}

/// The package `command args...` runs, when the command line says. `cwd` is where the
/// client starts it (relative script paths are read from there).
pub fn package_of(command: &str, args: &[String], cwd: Option<&Path>) -> Option<EntryPackage> {
    let program = Path::new(command).file_name()?.to_str()?;
    let program = program.strip_suffix(".cmd").unwrap_or(program);
    match program {
        "npx" => npx(args),
        "uvx" => uvx(args),
        "uv" if args.first().map(String::as_str) == Some("tool")
            && args.get(1).map(String::as_str) == Some("run") =>
        {
            uvx(&args[2..])
        }
        "pipx" if args.first().map(String::as_str) == Some("run") => pipx_run(&args[1..]),
        "node" | "nodejs" => node(args, cwd),
        _ => venv_script(Path::new(command), program, cwd),
    }
}

/// A console script of a Python virtual environment (`VENV/bin/NAME`, beside
/// `VENV/pyvenv.cfg`): the distribution whose `entry_points.txt` declares NAME, by the
/// `Name` and `Version` of its `METADATA`.
fn venv_script(path: &Path, program: &str, cwd: Option<&Path>) -> Option<EntryPackage> {
    let path = match (path.is_relative(), cwd) {
        (true, Some(cwd)) => cwd.join(path),
        _ => path.to_path_buf(),
    };
    let bin = path.parent()?;
    let venv = bin.parent()?;
    if bin.file_name()? != "bin" || !venv.join("pyvenv.cfg").is_file() {
        return None;
    }
    for lib in std::fs::read_dir(venv.join("lib")).ok()?.flatten() {
        let Ok(packages) = std::fs::read_dir(lib.path().join("site-packages")) else {
            continue;
        };
        for dist in packages.flatten() {
            let dir = dist.path();
            if dir
                .extension()
                .is_none_or(|extension| extension != "dist-info")
            {
                continue;
            }
            let Ok(entry_points) = std::fs::read_to_string(dir.join("entry_points.txt")) else {
                continue;
            };
            if !declares_console_script(&entry_points, program) {
                continue;
            }
            let metadata = std::fs::read_to_string(dir.join("METADATA")).ok()?;
            let field = |name: &str| {
                metadata
                    .lines()
                    .take_while(|line| !line.is_empty())
                    .find_map(|line| line.strip_prefix(name))
                    .map(|value| value.trim().to_owned())
            };
            return Some(EntryPackage {
                ecosystem: Ecosystem::Pypi,
                name: field("Name:")?,
                version: field("Version:"),
            });
        }
    }
    None
}

/// Whether `[console_scripts]` of an `entry_points.txt` names `program`.
fn declares_console_script(entry_points: &str, program: &str) -> bool {
    let mut in_scripts = false;
    for line in entry_points.lines().map(str::trim) {
        if line.starts_with('[') {
            in_scripts = line == "[console_scripts]";
        } else if in_scripts
            && line
                .split_once('=')
                .is_some_and(|(name, _)| name.trim() == program)
        {
            return true;
        }
    }
    false
}

/// `npx [-y] [--package PKG] PKG [args]`.
fn npx(args: &[String]) -> Option<EntryPackage> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if let Some(package) = word.strip_prefix("--package=") {
            return npm_spec(package);
        }
        match word.as_str() {
            "-p" | "--package" => return npm_spec(words.next()?),
            "--" => return npm_spec(words.next()?),
            flag if flag.starts_with('-') => {}
            package => return npm_spec(package),
        }
    }
    None
}

/// `NAME`, `NAME@VERSION`, `@SCOPE/NAME@VERSION`.
fn npm_spec(spec: &str) -> Option<EntryPackage> {
    let (scope, rest) = match spec.strip_prefix('@') {
        Some(rest) => ("@", rest),
        None => ("", spec),
    };
    let (name, version) = match rest.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (rest, None),
    };
    if name.is_empty() || name.contains(':') || name.starts_with('.') || name.starts_with('/') {
        return None;
    }
    Some(EntryPackage {
        ecosystem: Ecosystem::Npm,
        name: format!("{scope}{name}"),
        // `latest` and ranges are not a pin.
        version: version
            .filter(|version| version.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map(str::to_owned),
    })
}

/// `uvx [--from PKG] [--with X] [--python V] PKG [args]`.
fn uvx(args: &[String]) -> Option<EntryPackage> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if let Some(package) = word.strip_prefix("--from=") {
            return pypi_spec(package);
        }
        match word.as_str() {
            "--from" => return pypi_spec(words.next()?),
            // Options that take a value.
            "--with"
            | "--python"
            | "-p"
            | "--index-url"
            | "--index"
            | "--extra-index-url"
            | "--with-requirements"
            | "--directory" => {
                words.next();
            }
            flag if flag.starts_with('-') => {}
            package => return pypi_spec(package),
        }
    }
    None
}

/// `pipx run [--spec PKG] PKG [args]`.
fn pipx_run(args: &[String]) -> Option<EntryPackage> {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--spec" => return pypi_spec(words.next()?),
            "--python" | "--index-url" | "--pip-args" => {
                words.next();
            }
            flag if flag.starts_with('-') => {}
            package => return pypi_spec(package),
        }
    }
    None
}

/// `NAME`, `NAME==VERSION`, `NAME@VERSION` (uvx), `NAME[extra]==VERSION`.
fn pypi_spec(spec: &str) -> Option<EntryPackage> {
    let (name, version) = if let Some((name, version)) = spec.split_once("==") {
        (name, Some(version))
    } else if let Some((name, version)) = spec.split_once('@') {
        (name, Some(version))
    } else {
        (spec, None)
    };
    let name = name.split('[').next().unwrap_or(name).trim();
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return None;
    }
    Some(EntryPackage {
        ecosystem: Ecosystem::Pypi,
        name: name.to_owned(),
        version: version
            .map(str::trim)
            .filter(|version| version.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map(str::to_owned),
    })
}

/// `node [flags] SCRIPT`: the npm package whose folder holds SCRIPT, by the nearest
/// `package.json` with a name.
fn node(args: &[String], cwd: Option<&Path>) -> Option<EntryPackage> {
    let script = args.iter().find(|word| !word.starts_with('-'))?;
    let mut path = Path::new(script).to_path_buf();
    if path.is_relative() {
        path = cwd?.join(path);
    }
    let mut folder = path.parent();
    while let Some(dir) = folder {
        if let Ok(text) = std::fs::read_to_string(dir.join("package.json"))
            && let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(name) = manifest.get("name").and_then(|name| name.as_str())
        {
            return Some(EntryPackage {
                ecosystem: Ecosystem::Npm,
                name: name.to_owned(),
                version: manifest
                    .get("version")
                    .and_then(|version| version.as_str())
                    .map(str::to_owned),
            });
        }
        folder = dir.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    fn spec(command: &str, args: &str) -> Option<String> {
        package_of(command, &words(args), None).map(|package| package.describe())
    }

    #[test]
    fn command_lines_name_their_package() {
        let cases = [
            (
                "npx",
                "-y @modelcontextprotocol/server-filesystem /tmp",
                Some("npm package @modelcontextprotocol/server-filesystem"),
            ),
            (
                "npx",
                "-y @modelcontextprotocol/server-everything@2026.8.31 stdio",
                Some("npm package @modelcontextprotocol/server-everything@2026.8.31"),
            ),
            (
                "/usr/bin/npx",
                "--yes mcp-remote@latest http://127.0.0.1:9/mcp",
                Some("npm package mcp-remote"),
            ),
            (
                "npx",
                "-y --package=tool@1.0.0 tool-bin",
                Some("npm package tool@1.0.0"),
            ),
            (
                "uvx",
                "mcp-server-time==2026.10.19 --local-timezone UTC",
                Some("PyPI package mcp-server-time==2026.10.19"),
            ),
            (
                "uvx",
                "--python 3.12 --from mcp-server-fetch@1.2.0 mcp-server-fetch",
                Some("PyPI package mcp-server-fetch==1.2.0"),
            ),
            (
                "uv",
                "tool run mcp-server-git",
                Some("PyPI package mcp-server-git"),
            ),
            (
                "pipx",
                "run mcp-brave-search",
                Some("PyPI package mcp-brave-search"),
            ),
            ("npx", "./local-script.js", None),
            ("docker", "run -i mcp/fetch", None),
            ("python", "-m server", None),
        ];
        for (command, args, expected) in cases {
            assert_eq!(spec(command, args).as_deref(), expected, "{command} {args}");
        }
    }

    #[test]
    fn a_virtual_environment_s_console_script_is_named_by_its_distribution() {
        let venv = tempfile::tempdir().unwrap();
        std::fs::write(venv.path().join("pyvenv.cfg"), "version = 3.11\n").unwrap();
        std::fs::create_dir(venv.path().join("bin")).unwrap();
        let dist = venv
            .path()
            .join("lib/python3.11/site-packages/mcp_server_time-2026.10.19.dist-info");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(
            dist.join("entry_points.txt"),
            "[gui_scripts]\nother = x:y\n\n[console_scripts]\nmcp-server-time = mcp_server_time:main\n",
        )
        .unwrap();
        std::fs::write(
            dist.join("METADATA"),
            "Metadata-Version: 2.4\nName: mcp-server-time\nVersion: 2026.10.19\n\nName: not this\n",
        )
        .unwrap();
        let script = venv
            .path()
            .join("bin/mcp-server-time")
            .display()
            .to_string();
        assert_eq!(
            package_of(&script, &[], None).map(|package| package.describe()),
            Some("PyPI package mcp-server-time==2026.10.19".to_owned())
        );
        let other = venv.path().join("bin/other").display().to_string();
        assert_eq!(package_of(&other, &[], None), None);
    }

    #[test]
    fn a_node_script_is_named_by_its_package_json() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("node_modules/@scope/server");
        std::fs::create_dir_all(package.join("dist")).unwrap();
        std::fs::write(
            package.join("package.json"),
            r#"{"name": "@scope/server", "version": "1.2.3"}"#,
        )
        .unwrap();
        let script = package.join("dist/index.js").display().to_string();
        assert_eq!(
            package_of("node", &[script, "stdio".to_owned()], None),
            Some(EntryPackage {
                ecosystem: Ecosystem::Npm,
                name: "@scope/server".to_owned(),
                version: Some("1.2.3".to_owned()),
            })
        );
        assert_eq!(
            package_of(
                "node",
                &["node_modules/@scope/server/dist/index.js".to_owned()],
                Some(dir.path())
            )
            .map(|package| package.crawl_spec()),
            Some("@scope/server@1.2.3".to_owned())
        );
    }
}
