//! Published packages made ready to run in the sandbox, without running any of their
//! code: npm packages with the user's own `npm` and `--ignore-scripts`, PyPI projects into
//! a fresh virtual environment with its `pip` and wheels only (building an sdist runs the
//! project's setup code, outside any cage). Each install is one folder of a cache keyed
//! by the exact package and version, used again once complete.
//!
//! Registries are the user's: npm and pip read their own configuration; `--npm-registry`
//! / `--pypi-index` are passed on when given. Nothing here names a registry host.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A package at an exact version, as `inspect --npm NAME@VERSION` / `--pypi NAME==VERSION`
/// names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Package {
    Npm { name: String, version: String },
    Pypi { name: String, version: String },
}

impl Package {
    /// `name@version` (npm; a scope's leading `@` is part of the name).
    pub fn npm(spec: &str) -> Result<Package, InstallError> {
        let (name, version) = match spec.rfind('@') {
            Some(at) if at > 0 => (&spec[..at], &spec[at + 1..]),
            _ => (spec, ""),
        };
        if name.is_empty() || version.is_empty() {
            return Err(InstallError::Spec {
                spec: spec.to_owned(),
                expected: "NAME@VERSION, e.g. @modelcontextprotocol/server-memory@2026.8.31",
            });
        }
        Ok(Package::Npm {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }

    /// `name==version` (PyPI).
    pub fn pypi(spec: &str) -> Result<Package, InstallError> {
        match spec.split_once("==") {
            Some((name, version)) if !name.is_empty() && !version.is_empty() => Ok(Package::Pypi {
                name: name.trim().to_owned(),
                version: version.trim().to_owned(),
            }),
            _ => Err(InstallError::Spec {
                spec: spec.to_owned(),
                expected: "NAME==VERSION, e.g. mcp-server-time==2026.1.26",
            }),
        }
    }

    /// The package URL (purl), the catalogue's key for packages.
    pub fn purl(&self) -> String {
        match self {
            Package::Npm { name, version } => {
                format!("pkg:npm/{}@{version}", name.replace('@', "%40"))
            }
            Package::Pypi { name, version } => {
                format!("pkg:pypi/{}@{version}", name.to_lowercase())
            }
        }
    }

    /// The cache folder's name: readable, and one folder level whatever the name holds.
    fn folder(&self) -> String {
        let (kind, name, version) = match self {
            Package::Npm { name, version } => ("npm", name, version),
            Package::Pypi { name, version } => ("pypi", name, version),
        };
        let safe = |text: &str| {
            text.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        };
        format!("{kind}/{}@{}", safe(name), safe(version))
    }
}

/// Where registries are, when the user named them on the command line.
#[derive(Debug, Clone, Default)]
pub struct Registries {
    pub npm: Option<String>,
    pub pypi: Option<String>,
}

/// An installed package: how to start it and what the sandbox must mount to run it.
#[derive(Debug, Clone)]
pub struct Installed {
    pub package: Package,
    /// The install folder (read-only inside the sandbox).
    pub root: PathBuf,
    /// The program and arguments that start the server (absolute paths).
    pub command: Vec<String>,
    /// Paths to mount read-only: the install folder (the interpreter's own prefix is
    /// found by the sandbox from the program).
    pub read_only: Vec<PathBuf>,
    /// Whether this call installed it (false: found complete in the cache).
    pub fresh: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("`{spec}` is not a pinned package: expected {expected}")]
    Spec {
        spec: String,
        expected: &'static str,
    },
    #[error("cannot run `{program}` to install {package}: {source} (is it installed?)")]
    Tool {
        program: String,
        package: String,
        source: std::io::Error,
    },
    #[error("installing {package} failed ({command}):\n  {output}")]
    Failed {
        package: String,
        command: String,
        output: String,
    },
    #[error(
        "{package} needs Python {requires}, and this machine has {found}: install a Python that \
         matches, or name its interpreter in MCPWARDEN_PYTHON"
    )]
    NoPython {
        package: String,
        requires: String,
        found: String,
    },
    #[error("{package} is installed but has no program to start: {detail}")]
    NoEntryPoint { package: String, detail: String },
    #[error("the install cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Marks a complete install; a folder without it is removed and installed again.
const COMPLETE: &str = ".mcpwarden-complete";

/// Installs `package` under `cache` (or finds it there) and works out its start command.
/// `entry` picks an npm `bin` or a Python console script by name when a package has
/// several; `module` runs a Python package as `python -m MODULE`.
pub fn install(
    package: &Package,
    cache: &Path,
    registries: &Registries,
    entry: Option<&str>,
    module: Option<&str>,
) -> Result<Installed, InstallError> {
    let root = cache.join(package.folder());
    let cache_error = |source| InstallError::Cache {
        path: root.clone(),
        source,
    };
    let fresh = !root.join(COMPLETE).is_file();
    if fresh {
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(cache_error)?;
        }
        std::fs::create_dir_all(&root).map_err(cache_error)?;
        match package {
            Package::Npm { name, version } => install_npm(name, version, &root, registries)?,
            Package::Pypi { name, version } => install_pypi(name, version, &root, registries)?,
        }
        std::fs::write(root.join(COMPLETE), package.purl()).map_err(cache_error)?;
    }
    let command = match package {
        Package::Npm { name, .. } => npm_command(name, &root, entry)?,
        Package::Pypi { name, .. } => pypi_command(name, &root, entry, module)?,
    };
    Ok(Installed {
        package: package.clone(),
        read_only: vec![root.clone()],
        root,
        command,
        fresh,
    })
}

fn run(mut command: Command, package: &str) -> Result<(), InstallError> {
    let display = format!("{command:?}").replace('"', "");
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| InstallError::Tool {
            program: command.get_program().to_string_lossy().into_owned(),
            package: package.to_owned(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr);
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(&output.stdout).into_owned()
    } else {
        text.into_owned()
    };
    let lines: Vec<&str> = text.trim().lines().collect();
    Err(InstallError::Failed {
        package: package.to_owned(),
        command: display,
        output: lines[lines.len().saturating_sub(8)..].join("\n  "),
    })
}

fn install_npm(
    name: &str,
    version: &str,
    root: &Path,
    registries: &Registries,
) -> Result<(), InstallError> {
    std::fs::write(root.join("package.json"), "{\"private\": true}\n").map_err(|source| {
        InstallError::Cache {
            path: root.to_owned(),
            source,
        }
    })?;
    let mut command = Command::new("npm");
    command
        .arg("install")
        .arg("--prefix")
        .arg(root)
        .args([
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--omit=dev",
        ])
        .arg(format!("{name}@{version}"));
    if let Some(registry) = &registries.npm {
        command.arg("--registry").arg(registry);
    }
    run(command, &format!("{name}@{version}"))
}

fn install_pypi(
    name: &str,
    version: &str,
    root: &Path,
    registries: &Registries,
) -> Result<(), InstallError> {
    let spec = format!("{name}=={version}");
    let release = release_facts(name, version, registries);
    let python = choose_python(&spec, release.requires_python.as_deref(), &pythons())?;
    let mut venv = Command::new(&python.path);
    venv.arg("-m").arg("venv").arg(root);
    run(venv, &spec)?;
    let pip = |args: &[&str]| {
        let mut pip = Command::new(root.join("bin/python"));
        pip.args([
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .args(args);
        if let Some(index) = &registries.pypi {
            pip.arg("--index-url").arg(index);
        }
        pip
    };
    let mut args = vec![
        "--only-binary=:all:",
        // The cage mounts the install read-only and nothing there is imported outside it:
        // compiling every module's bytecode up front only makes installs slower.
        "--no-compile",
    ];
    let bound;
    if let Some(prior_to) = &release.prior_to {
        // A pinned pip that knows `--uploaded-prior-to`: the venv's own pip is whatever
        // the interpreter bundles.
        run(pip(&[PIP]), &spec)?;
        bound = format!("--uploaded-prior-to={prior_to}");
        args.push(&bound);
    }
    args.push(&spec);
    run(pip(&args), &spec)?;
    let record = serde_json::json!({
        "python": python.path,
        "python_version": python.version.to_string(),
        "requires_python": release.requires_python,
        "uploaded_prior_to": release.prior_to,
        "release_lookup": release.problem,
    });
    std::fs::write(root.join(INSTALL_RECORD), format!("{record:#}\n")).map_err(|source| {
        InstallError::Cache {
            path: root.to_owned(),
            source,
        }
    })
}

/// The pip every venv is brought to before a date-bounded install (the first with
/// `--uploaded-prior-to`).
const PIP: &str = "pip==26.0.1";

/// How a PyPI install was made (interpreter, date bound), kept beside it.
pub const INSTALL_RECORD: &str = "mcpwarden-install.json";

/// What the index says about one release (src/sandbox/release.py).
#[derive(Debug, Default, serde::Deserialize)]
struct Release {
    requires_python: Option<String>,
    /// The release's upload time plus a day: dependencies newer than that are not used.
    prior_to: Option<String>,
    /// Why the index could not be asked; the install then goes on unbounded.
    #[serde(skip)]
    problem: Option<String>,
}

fn release_facts(name: &str, version: &str, registries: &Registries) -> Release {
    use std::io::Write;
    let lookup = || -> Result<Release, String> {
        let mut child = Command::new("python3")
            .args(["-", name, version, registries.pypi.as_deref().unwrap_or("")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run python3: {error}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(include_str!("release.py").as_bytes())
                .map_err(|error| error.to_string())?;
        }
        let output = child
            .wait_with_output()
            .map_err(|error| error.to_string())?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr);
            return Err(text.trim().lines().last().unwrap_or("failed").to_owned());
        }
        serde_json::from_slice(&output.stdout).map_err(|error| error.to_string())
    };
    lookup().unwrap_or_else(|problem| Release {
        problem: Some(problem),
        ..Release::default()
    })
}

/// A Python interpreter that can make the venv.
#[derive(Debug, Clone)]
struct Python {
    path: PathBuf,
    version: pep440_rs::Version,
}

/// The interpreters this machine has, `python3` first: those named in `MCPWARDEN_PYTHON`
/// (paths, `:`-separated), `python3` and `python3.N` on PATH, and pyenv's versions.
fn pythons() -> Vec<Python> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("MCPWARDEN_PYTHON")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default();
    candidates.extend(super::find_on_path("python3"));
    candidates
        .extend((8..=15).filter_map(|minor| super::find_on_path(&format!("python3.{minor}"))));
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")));
    if let Some(versions) = pyenv.map(|root| root.join("versions"))
        && let Ok(entries) = std::fs::read_dir(versions)
    {
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin/python3"))
            .filter(|path| path.is_file())
            .collect();
        found.sort();
        candidates.extend(found);
    }
    let mut pythons: Vec<Python> = Vec::new();
    for path in candidates {
        let Ok(output) = Command::new(&path)
            .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let Ok(version) = text.trim().parse::<pep440_rs::Version>() else {
            continue;
        };
        if output.status.success() && !pythons.iter().any(|known| known.version == version) {
            pythons.push(Python { path, version });
        }
    }
    pythons
}

/// `python3` when the release accepts it, else the oldest interpreter it accepts (the
/// one nearest to what the release was written for).
fn choose_python(
    spec: &str,
    requires: Option<&str>,
    found: &[Python],
) -> Result<Python, InstallError> {
    let Some(first) = found.first() else {
        return Err(InstallError::NoPython {
            package: spec.to_owned(),
            requires: requires.unwrap_or("any").to_owned(),
            found: "none".to_owned(),
        });
    };
    let Some(requires) = requires else {
        return Ok(first.clone());
    };
    // An index's Requires-Python that does not parse does not block the install.
    let Ok(specifiers) = requires.parse::<pep440_rs::VersionSpecifiers>() else {
        return Ok(first.clone());
    };
    if specifiers.contains(&first.version) {
        return Ok(first.clone());
    }
    found
        .iter()
        .filter(|python| specifiers.contains(&python.version))
        .min_by(|a, b| a.version.cmp(&b.version))
        .cloned()
        .ok_or_else(|| InstallError::NoPython {
            package: spec.to_owned(),
            requires: requires.to_owned(),
            found: found
                .iter()
                .map(|python| format!("{} ({})", python.version, python.path.display()))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// `node <the bin file>`: the package's `bin` (a string, or the named entry, the only
/// entry, or the one named like the package), else its `main`.
fn npm_command(name: &str, root: &Path, entry: Option<&str>) -> Result<Vec<String>, InstallError> {
    let package_dir = root.join("node_modules").join(name);
    let manifest_path = package_dir.join("package.json");
    let no_entry = |detail: String| InstallError::NoEntryPoint {
        package: name.to_owned(),
        detail,
    };
    let manifest: serde_json::Value = std::fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| no_entry(format!("{} cannot be read", manifest_path.display())))?;
    let base = name.rsplit('/').next().unwrap_or(name);
    let file = match manifest.get("bin") {
        Some(serde_json::Value::String(path)) => Some(path.clone()),
        Some(serde_json::Value::Object(bins)) => {
            let pick = match entry {
                Some(wanted) => bins.get(wanted),
                None if bins.len() == 1 => bins.values().next(),
                None => bins.get(base).or_else(|| bins.values().next()),
            };
            if pick.is_none() {
                let names: Vec<&String> = bins.keys().collect();
                return Err(no_entry(format!(
                    "no bin named {}; it has {names:?}",
                    entry.unwrap_or(base)
                )));
            }
            pick.and_then(|value| value.as_str()).map(str::to_owned)
        }
        _ => manifest
            .get("main")
            .and_then(|main| main.as_str())
            .map(str::to_owned),
    }
    .ok_or_else(|| no_entry("package.json has neither `bin` nor `main`".to_owned()))?;
    let node =
        super::find_on_path("node").ok_or_else(|| no_entry("`node` is not on PATH".to_owned()))?;
    Ok(vec![
        node.display().to_string(),
        package_dir.join(file).display().to_string(),
    ])
}

/// `<venv>/bin/python <console script>`, or `-m MODULE`. The script is the named one, the
/// package's only one, or the one named like the package.
fn pypi_command(
    name: &str,
    root: &Path,
    entry: Option<&str>,
    module: Option<&str>,
) -> Result<Vec<String>, InstallError> {
    let python = root.join("bin/python").display().to_string();
    if let Some(module) = module {
        return Ok(vec![python, "-m".to_owned(), module.to_owned()]);
    }
    let no_entry = |detail: String| InstallError::NoEntryPoint {
        package: name.to_owned(),
        detail,
    };
    let scripts = console_scripts(root, name);
    let normal = normalize(name);
    let pick = match entry {
        Some(wanted) => scripts.iter().find(|script| script.as_str() == wanted),
        None if scripts.len() == 1 => scripts.first(),
        None => scripts
            .iter()
            .find(|script| normalize(script) == normal)
            .or_else(|| scripts.first()),
    }
    .ok_or_else(|| {
        no_entry(format!(
            "no console script {}; it has {scripts:?} (pass --entry NAME or --module MODULE)",
            entry.unwrap_or(name)
        ))
    })?;
    Ok(vec![
        python,
        root.join("bin").join(pick).display().to_string(),
    ])
}

/// The console scripts the project's own dist-info declares (not its dependencies').
fn console_scripts(root: &Path, name: &str) -> Vec<String> {
    let normal = normalize(name);
    let mut scripts = Vec::new();
    for site in glob_dirs(&root.join("lib"), "site-packages") {
        let Ok(entries) = std::fs::read_dir(&site) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file_name.strip_suffix(".dist-info") else {
                continue;
            };
            let project = stem.rsplit_once('-').map_or(stem, |(project, _)| project);
            if normalize(project) != normal {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path().join("entry_points.txt")) else {
                continue;
            };
            let mut in_scripts = false;
            for line in text.lines().map(str::trim) {
                if line.starts_with('[') {
                    in_scripts = line == "[console_scripts]";
                } else if in_scripts && let Some((script, _)) = line.split_once('=') {
                    scripts.push(script.trim().to_owned());
                }
            }
        }
    }
    scripts.sort();
    scripts
}

/// `lib/python3.X/site-packages` folders under a venv's `lib`.
fn glob_dirs(lib: &Path, leaf: &str) -> Vec<PathBuf> {
    std::fs::read_dir(lib)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path().join(leaf))
        .filter(|path| path.is_dir())
        .collect()
}

/// PEP 503 name normalisation: case and runs of `-_.` do not matter.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if "-_.".contains(c) {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_specs_are_read_and_unpinned_ones_refused() {
        assert_eq!(
            Package::npm("@scope/server@1.2.3").unwrap(),
            Package::Npm {
                name: "@scope/server".into(),
                version: "1.2.3".into()
            }
        );
        assert!(Package::npm("@scope/server").is_err());
        assert!(Package::npm("server@").is_err());
        assert_eq!(
            Package::pypi("mcp-server-time==2026.1.26").unwrap().purl(),
            "pkg:pypi/mcp-server-time@2026.1.26"
        );
        assert!(Package::pypi("mcp-server-time").is_err());
        assert_eq!(
            Package::npm("@a/b@1").unwrap().folder(),
            "npm/_a_b@1",
            "one folder level whatever the name holds"
        );
    }

    fn python(path: &str, version: &str) -> Python {
        Python {
            path: PathBuf::from(path),
            version: version.parse().unwrap(),
        }
    }

    #[test]
    fn the_default_python_is_kept_when_the_release_accepts_it() {
        let found = [python("python3", "3.11.7"), python("/opt/py312", "3.12.1")];
        let chosen = choose_python("x==1", Some(">=3.10"), &found).unwrap();
        assert_eq!(chosen.path, PathBuf::from("python3"));
        let chosen = choose_python("x==1", None, &found).unwrap();
        assert_eq!(chosen.path, PathBuf::from("python3"));
    }

    #[test]
    fn the_oldest_python_the_release_accepts_is_chosen_otherwise() {
        let found = [
            python("python3", "3.11.7"),
            python("/opt/py313", "3.13.0"),
            python("/opt/py312", "3.12.1"),
        ];
        let chosen = choose_python("x==1", Some("<3.14,>=3.12"), &found).unwrap();
        assert_eq!(chosen.path, PathBuf::from("/opt/py312"));
        let chosen = choose_python("x==1", Some("==3.13.*"), &found).unwrap();
        assert_eq!(chosen.path, PathBuf::from("/opt/py313"));
    }

    #[test]
    fn no_matching_python_is_an_error_naming_the_need_and_what_was_found() {
        let found = [python("python3", "3.11.7")];
        let error = choose_python("kagimcp==1.0.2", Some("==3.12.*"), &found)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("kagimcp==1.0.2 needs Python ==3.12.*"),
            "{error}"
        );
        assert!(error.contains("3.11.7 (python3)"), "{error}");
        assert!(error.contains("MCPWARDEN_PYTHON"), "{error}");
    }

    #[test]
    fn python_names_compare_normalised() {
        assert_eq!(normalize("MCP_Server.Time"), "mcp-server-time");
    }
}
