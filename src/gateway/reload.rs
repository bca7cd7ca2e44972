//! Keeping the policy current: reloaded when its file changes (notify) or on SIGHUP. A new
//! policy that fails validation leaves the old one in force, and says why on stderr.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::judge::Shared;

/// Loads the policy file again and puts it in force if it is valid. Returns whether it
/// was put in force.
pub fn reload_now(path: &Path, shared: &Shared) -> bool {
    match crate::policy::load_file(path) {
        Ok(policy) => {
            shared.replace_policy(policy);
            eprintln!("mcpwarden: policy reloaded from {}", path.display());
            true
        }
        Err(error) => {
            eprintln!(
                "mcpwarden: kept the previous policy; the new {} is not usable: {error}",
                path.display()
            );
            if let crate::policy::PolicyError::Invalid { problems } = &error {
                for problem in problems {
                    eprintln!("  {problem}");
                }
            }
            false
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot watch the policy {path} for changes")]
pub struct WatchError {
    path: PathBuf,
    #[source]
    source: notify::Error,
}

/// Watches the policy's folder (editors often replace a file rather than write it in
/// place) and reloads when an event names the policy file. Keep the returned watcher
/// alive for as long as reloads should happen.
pub fn watch(path: &Path, shared: Arc<Shared>) -> Result<notify::RecommendedWatcher, WatchError> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let folder = absolute
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    let name = absolute.file_name().map(ToOwned::to_owned);
    let policy_path = absolute.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else {
            return;
        };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        let names_policy = event
            .paths
            .iter()
            .any(|changed| changed.file_name() == name.as_deref());
        if names_policy && policy_path.exists() {
            // Let a writer that truncates then writes finish before reading.
            std::thread::sleep(Duration::from_millis(30));
            reload_now(&policy_path, &shared);
        }
    })
    .map_err(|source| WatchError {
        path: path.to_owned(),
        source,
    })?;
    watcher
        .watch(&folder, RecursiveMode::NonRecursive)
        .map_err(|source| WatchError {
            path: path.to_owned(),
            source,
        })?;
    Ok(watcher)
}
