//! Local checkouts as a crawl source (`--dir PATH`): one checkout, or a folder whose
//! subfolders are checkouts. Each becomes a server named by its manifest (or its folder),
//! with its repository read from `.git/config` so it merges with what the registry or
//! GitHub said about the same repository.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::registry::normalize_repository_url;
use crate::model::{ServerRecord, SourceRef};

/// Files whose presence makes a folder a checkout worth crawling.
pub const CHECKOUT_MARKERS: &[&str] = &[
    ".git",
    "package.json",
    "pyproject.toml",
    "go.mod",
    "Cargo.toml",
    "manifest.json",
];

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{path}: no such folder")]
    Missing { path: String },
    #[error("cannot read the folder {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a checkout (it has none of .git, package.json, pyproject.toml, go.mod, Cargo.toml, manifest.json) and no subfolder is one"
    )]
    NoCheckouts { path: String },
}

/// A checkout found under `--dir`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkout {
    pub path: PathBuf,
    pub record: ServerRecord,
}

/// Whether `folder` is a checkout.
pub fn is_checkout(folder: &Path) -> bool {
    CHECKOUT_MARKERS
        .iter()
        .any(|marker| folder.join(marker).exists())
}

/// The checkouts `dir` names: itself when it is one, else its subfolders that are (sorted
/// by name; hidden folders skipped).
pub fn discover(dir: &Path) -> Result<Vec<Checkout>, LocalError> {
    if !dir.is_dir() {
        return Err(LocalError::Missing {
            path: dir.display().to_string(),
        });
    }
    let read_error = |source| LocalError::Read {
        path: dir.display().to_string(),
        source,
    };
    if is_checkout(dir) {
        return Ok(vec![checkout(dir)]);
    }
    let mut folders: Vec<PathBuf> = fs_err::read_dir(dir)
        .map_err(read_error)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .filter(|path| {
            !path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('.'))
        })
        .filter(|path| is_checkout(path))
        .collect();
    if folders.is_empty() {
        return Err(LocalError::NoCheckouts {
            path: dir.display().to_string(),
        });
    }
    folders.sort();
    Ok(folders.iter().map(|folder| checkout(folder)).collect())
}

fn checkout(folder: &Path) -> Checkout {
    let path = folder
        .canonicalize()
        .unwrap_or_else(|_| folder.to_path_buf());
    let folder_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let manifest = manifest_name(&path);
    let repository = origin_url(&path).and_then(|url| normalize_repository_url(&url));
    let name = manifest.clone().unwrap_or(folder_name);
    Checkout {
        record: ServerRecord {
            name: name.clone(),
            description: manifest_description(&path),
            repository,
            sources: vec![SourceRef {
                source: "local".to_owned(),
                id: path.display().to_string(),
                seen_at: None,
            }],
            ..ServerRecord::default()
        },
        path,
    }
}

/// The name a checkout's manifest gives it, looked for in a fixed order: package.json,
/// pyproject.toml (`[project]`, then Poetry), Cargo.toml, go.mod's module path, an MCPB
/// manifest.json.
pub fn manifest_name(folder: &Path) -> Option<String> {
    let read = |file: &str| fs_err::read_to_string(folder.join(file)).ok();
    let json_field = |file: &str, field: &str| {
        let value: Value = serde_json::from_str(&read(file)?).ok()?;
        value.get(field)?.as_str().map(str::to_owned)
    };
    let toml_field = |file: &str, tables: &[&[&str]]| {
        let value: toml::Table = toml::from_str(&read(file)?).ok()?;
        tables.iter().find_map(|path| {
            let mut current = value.get(path[0])?;
            for key in &path[1..] {
                current = current.get(key)?;
            }
            current.as_str().map(str::to_owned)
        })
    };
    let candidates = [
        json_field("package.json", "name"),
        toml_field(
            "pyproject.toml",
            &[&["project", "name"], &["tool", "poetry", "name"]],
        ),
        toml_field("Cargo.toml", &[&["package", "name"]]),
        read("go.mod").and_then(|text| {
            text.lines()
                .find_map(|line| line.trim().strip_prefix("module "))
                .map(|module| module.trim().trim_matches('"').to_owned())
        }),
        json_field("manifest.json", "name"),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
}

fn manifest_description(folder: &Path) -> Option<String> {
    ["package.json", "manifest.json"].iter().find_map(|file| {
        let text = fs_err::read_to_string(folder.join(file)).ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        value
            .get("description")?
            .as_str()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    })
}

/// The URL of the `origin` remote in the checkout's git configuration, read from the file
/// (no git needed). A `.git` file (a worktree or submodule) is followed to its git folder,
/// and a worktree's shared `commondir` to the config they share.
pub fn origin_url(folder: &Path) -> Option<String> {
    let git = folder.join(".git");
    let git_dir = if git.is_file() {
        let text = fs_err::read_to_string(&git).ok()?;
        let target = text.lines().find_map(|line| line.strip_prefix("gitdir:"))?;
        let target = Path::new(target.trim());
        if target.is_absolute() {
            target.to_path_buf()
        } else {
            folder.join(target)
        }
    } else {
        git
    };
    let common = fs_err::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|text| {
            let path = Path::new(text.trim());
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                git_dir.join(path)
            }
        });
    [Some(git_dir), common]
        .into_iter()
        .flatten()
        .find_map(|dir| remote_url(&fs_err::read_to_string(dir.join("config")).ok()?, "origin"))
}

/// The `url` of `[remote "NAME"]` in git's configuration format.
pub fn remote_url(config: &str, remote: &str) -> Option<String> {
    let wanted = format!("[remote \"{remote}\"]");
    let mut inside = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line.replace(char::is_whitespace, "") == wanted.replace(' ', "");
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim().eq_ignore_ascii_case("url")
        {
            let value = value.trim().trim_matches('"');
            if !value.is_empty() {
                return Some(value.to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_remote_is_found_among_others() {
        let config = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://github.com/other/repo.git\n[remote \"origin\"]\n\turl = git@github.com:Acme/Weather.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n";
        assert_eq!(
            remote_url(config, "origin").as_deref(),
            Some("git@github.com:Acme/Weather.git")
        );
        assert_eq!(remote_url("[core]\n", "origin"), None);
    }
}
