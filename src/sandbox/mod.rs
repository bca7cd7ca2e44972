//! The cage for code nobody here wrote: a command run under bubblewrap with no network,
//! a read-only view of the system, one writable scratch folder, an environment of only
//! what the caller names, and resource limits; the whole process tree dies with it.
//!
//! Mechanism (why these tools): bubblewrap (`bwrap`, Debian package `bubblewrap`) builds
//! the namespaces and the mount tree; `prlimit` (util-linux) sets the rlimits just before
//! the server starts; when mcpwarden runs as root, `setpriv` (util-linux) drops the server
//! to the unprivileged `nobody` user inside the cage, because the kernel never applies the
//! process-count limit to root and root would own every file it can see. Writing these by
//! hand would mean `unsafe` `pre_exec` code (the crate forbids it) and re-implementing what
//! bubblewrap already does carefully. cgroups would give a whole-tree memory limit, but
//! they need delegation that a laptop, a container or a CI runner may not have; the
//! per-process memory limit times the process limit bounds the tree instead.
//!
//! Inside the cage:
//! - network: a namespace of its own with only a loopback that reaches nothing outside;
//! - files: `/usr` (and the `/bin`, `/lib`… links), a few files of `/etc` that programs
//!   need to start (loader cache, passwd, TLS roots, alternatives), the caller's read-only
//!   paths, a private `/tmp`, `/proc` of its own pid namespace, a minimal `/dev`; the
//!   scratch folder is the only writable place and is HOME and TMPDIR;
//! - everything else (the user's home, `~/.ssh`, other checkouts) does not exist;
//! - limits: writable memory, CPU seconds, processes, open files, file size;
//! - a new session (no terminal injection), no capabilities, `no_new_privs`.
//!
//! The wall-clock limit is the caller's: it kills `bwrap`, and `--die-with-parent` plus
//! the pid namespace take every process of the cage with it.

pub mod install;

use std::path::{Path, PathBuf};

/// Resource limits for one sandboxed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Writable memory per process, bytes (RLIMIT_DATA: heap and private writable
    /// mappings; not the address space, which V8 reserves in huge untouched blocks for
    /// WebAssembly, so an address-space limit breaks ordinary servers).
    pub memory_bytes: u64,
    /// CPU time per process, seconds.
    pub cpu_seconds: u64,
    /// Processes the cage may add (on top of those its user already has).
    pub processes: u64,
    /// Open file descriptors per process.
    pub open_files: u64,
    /// Largest file a process may write, bytes.
    pub file_size_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 4 << 30,
            cpu_seconds: 60,
            processes: 128,
            open_files: 512,
            file_size_bytes: 256 << 20,
        }
    }
}

/// What one sandboxed command may see and use.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The only writable folder (created if missing); HOME and TMPDIR point into it.
    pub scratch: PathBuf,
    /// Folders or files mounted read-only at the same path (the installed package, the
    /// interpreter's prefix). A path that does not exist is an error, not skipped.
    pub read_only: Vec<PathBuf>,
    /// The whole environment the command gets, besides HOME, TMPDIR and (if not given)
    /// PATH.
    pub env: Vec<(String, String)>,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "no sandbox: `{tool}` was not found on PATH. Install it (Debian/Ubuntu: `apt-get install \
         bubblewrap util-linux`) or, only for servers you trust, pass --live-unsandboxed"
    )]
    Missing { tool: &'static str },
    #[error(
        "no sandbox: bubblewrap is installed but cannot create namespaces here ({detail}). \
         Unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, \
         or on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0), or this container forbids \
         them. Only for servers you trust: --live-unsandboxed"
    )]
    Unusable { detail: String },
    #[error("sandbox: {path} cannot be mounted read-only: {source}")]
    ReadOnlyPath {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sandbox: cannot prepare the scratch folder {path}: {source}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sandbox: `{program}` is not an executable on PATH")]
    Program { program: String },
}

/// The uid and gid the server runs as inside the cage when mcpwarden is root (`nobody`).
pub const UNPRIVILEGED_ID: u32 = 65534;

/// Files of `/etc` mounted read-only when they exist: what dynamic loading, TLS, user
/// look-ups and Debian's alternatives links need. Nothing secret (no shadow, no keys).
const ETC_FILES: &[&str] = &[
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/os-release",
    "/etc/mime.types",
];

/// A usable sandbox on this machine: the tools found and checked once.
#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: PathBuf,
    prlimit: PathBuf,
    /// `Some` when mcpwarden runs as root: the server is dropped to [`UNPRIVILEGED_ID`].
    setpriv: Option<PathBuf>,
}

impl Sandbox {
    /// Finds bubblewrap and util-linux's tools and checks that a cage can really be made
    /// here (a trivial command run inside one), so a refusal comes before any install.
    pub fn detect() -> Result<Sandbox, SandboxError> {
        // $MCPWARDEN_BWRAP names a bubblewrap outside PATH (and lets a test name none).
        let bwrap = match std::env::var_os("MCPWARDEN_BWRAP") {
            Some(path) => Some(PathBuf::from(path)).filter(|path| path.is_file()),
            None => find_on_path("bwrap"),
        }
        .ok_or(SandboxError::Missing { tool: "bwrap" })?;
        let prlimit = find_on_path("prlimit").ok_or(SandboxError::Missing { tool: "prlimit" })?;
        let setpriv = if is_root() {
            Some(find_on_path("setpriv").ok_or(SandboxError::Missing { tool: "setpriv" })?)
        } else {
            None
        };
        let sandbox = Sandbox {
            bwrap,
            prlimit,
            setpriv,
        };
        sandbox.probe()?;
        Ok(sandbox)
    }

    fn probe(&self) -> Result<(), SandboxError> {
        let scratch = tempfile::Builder::new()
            .prefix("mcpwarden-sandbox-probe")
            .tempdir()
            .map_err(|source| SandboxError::Scratch {
                path: std::env::temp_dir(),
                source,
            })?;
        let spec = Spec {
            scratch: scratch.path().join("scratch"),
            read_only: Vec::new(),
            env: Vec::new(),
            limits: Limits::default(),
        };
        let (program, args) = self.argv(&spec, "true", &[])?;
        let output = std::process::Command::new(&program)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|error| SandboxError::Unusable {
                detail: format!("cannot run {}: {error}", program.display()),
            })?;
        if output.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(SandboxError::Unusable {
                detail: stderr
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("no message")
                    .to_owned(),
            })
        }
    }

    /// Whether the server is dropped to `nobody` (mcpwarden runs as root).
    pub fn drops_to_nobody(&self) -> bool {
        self.setpriv.is_some()
    }

    /// The command line that runs `program args` in the cage `spec` describes: the
    /// program to spawn and its arguments. Prepares the scratch folder.
    pub fn argv(
        &self,
        spec: &Spec,
        program: &str,
        args: &[String],
    ) -> Result<(PathBuf, Vec<String>), SandboxError> {
        let program_path = resolve_program(program, &spec.env)?;
        prepare_scratch(&spec.scratch, self.setpriv.is_some())?;
        let mut mounts = Mounts::default();
        let mut out: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| out.extend(items.iter().map(|item| (*item).to_owned()));
        push(&[
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
        ]);
        if self.setpriv.is_none() {
            push(&["--unshare-user", "--cap-drop", "ALL"]);
        }
        // As root, setpriv needs its capabilities to change user; changing from root to
        // nobody then clears them, and it empties the bounding and inheritable sets.
        mounts.system(&mut out);
        // The private /tmp first: a mount made before it at a path under /tmp (an install
        // or checkout that lives there) would be hidden by it.
        out.extend(["--proc", "/proc", "--dev", "/dev"].map(String::from));
        out.extend(["--perms", "1777", "--tmpfs", "/tmp"].map(String::from));
        mounts.dirs.push(PathBuf::from("/tmp"));
        for file in ETC_FILES {
            if Path::new(file).exists() {
                mounts.bind(&mut out, "--ro-bind", Path::new(file));
            }
        }
        let mut read_only = spec.read_only.clone();
        read_only.extend(interpreter_prefix(&program_path));
        for path in &read_only {
            let canonical =
                std::fs::canonicalize(path).map_err(|source| SandboxError::ReadOnlyPath {
                    path: path.clone(),
                    source,
                })?;
            if mounts.covered(&canonical) {
                continue;
            }
            mounts.bind(&mut out, "--ro-bind", &canonical);
            if canonical != *path && !mounts.covered(path) {
                // A path reached through a link (a venv's `home`) is mounted where it
                // points and where it was named.
                mounts.bind_at(&mut out, "--ro-bind", &canonical, path);
            }
        }
        let scratch =
            std::fs::canonicalize(&spec.scratch).map_err(|source| SandboxError::Scratch {
                path: spec.scratch.clone(),
                source,
            })?;
        mounts.bind(&mut out, "--bind", &scratch);
        let scratch_text = scratch.display().to_string();
        out.extend([
            "--chdir".to_owned(),
            scratch_text.clone(),
            "--clearenv".to_owned(),
        ]);
        let mut env: Vec<(String, String)> = vec![
            ("HOME".to_owned(), scratch_text.clone()),
            ("TMPDIR".to_owned(), format!("{scratch_text}/tmp")),
        ];
        if !spec.env.iter().any(|(name, _)| name == "PATH") {
            env.push(("PATH".to_owned(), DEFAULT_PATH.to_owned()));
        }
        env.extend(spec.env.iter().cloned());
        for (name, value) in env {
            out.extend(["--setenv".to_owned(), name, value]);
        }
        out.push("--".to_owned());
        if let Some(setpriv) = &self.setpriv {
            out.push(setpriv.display().to_string());
            let id = UNPRIVILEGED_ID.to_string();
            out.extend(
                [
                    "--reuid",
                    &id,
                    "--regid",
                    &id,
                    "--clear-groups",
                    "--no-new-privs",
                    "--bounding-set=-all",
                    "--inh-caps=-all",
                    "--",
                ]
                .map(String::from),
            );
        }
        let limits = &spec.limits;
        let processes = limits.processes + processes_of_runner(self.setpriv.is_some());
        out.push(self.prlimit.display().to_string());
        out.extend([
            format!("--data={}", limits.memory_bytes),
            format!("--cpu={}", limits.cpu_seconds),
            format!("--nproc={processes}"),
            format!("--nofile={}", limits.open_files),
            format!("--fsize={}", limits.file_size_bytes),
            "--".to_owned(),
        ]);
        out.push(program_path.display().to_string());
        out.extend(args.iter().cloned());
        Ok((self.bwrap.clone(), out))
    }
}

/// The PATH a sandboxed command gets unless the caller sets one.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Which paths are already in the mount tree, and the parents created for new ones (made
/// 0755 so that `nobody` can walk to a mounted path under a private folder like /root).
#[derive(Default)]
struct Mounts {
    mounted: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Mounts {
    /// `/usr` and the top-level folders Debian makes links into it (mounted as they are
    /// where they are real folders).
    fn system(&mut self, out: &mut Vec<String>) {
        self.bind(out, "--ro-bind", Path::new("/usr"));
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            let path = Path::new(top);
            match std::fs::read_link(path) {
                Ok(target) => {
                    out.extend([
                        "--symlink".to_owned(),
                        target.display().to_string(),
                        top.to_owned(),
                    ]);
                    self.mounted.push(path.to_owned());
                }
                Err(_) if path.is_dir() => self.bind(out, "--ro-bind", path),
                Err(_) => {}
            }
        }
    }

    fn covered(&self, path: &Path) -> bool {
        self.mounted.iter().any(|mounted| path.starts_with(mounted))
    }

    fn bind(&mut self, out: &mut Vec<String>, how: &str, path: &Path) {
        self.bind_at(out, how, path, path);
    }

    fn bind_at(&mut self, out: &mut Vec<String>, how: &str, source: &Path, target: &Path) {
        let mut parents: Vec<&Path> = target.ancestors().skip(1).collect();
        parents.reverse();
        for parent in parents {
            if parent == Path::new("/")
                || self.covered(parent)
                || self.dirs.iter().any(|d| d == parent)
            {
                continue;
            }
            out.extend([
                "--perms".to_owned(),
                "0755".to_owned(),
                "--dir".to_owned(),
                parent.display().to_string(),
            ]);
            self.dirs.push(parent.to_owned());
        }
        out.extend([
            how.to_owned(),
            source.display().to_string(),
            target.display().to_string(),
        ]);
        self.mounted.push(target.to_owned());
    }
}

/// The program as an absolute path: as given when it has a `/`, else looked up on the
/// PATH the command will get (the caller's PATH entries are not searched, so what runs is
/// what the cage can see).
fn resolve_program(program: &str, env: &[(String, String)]) -> Result<PathBuf, SandboxError> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(SandboxError::Program {
                program: program.to_owned(),
            })
        };
    }
    let path_var = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map_or(DEFAULT_PATH, |(_, value)| value.as_str());
    std::env::split_paths(path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| SandboxError::Program {
            program: program.to_owned(),
        })
}

/// An interpreter or program outside the system folders (a pyenv or nvm install, a
/// virtual environment's python) needs its installation mounted: the folder above its
/// `bin/`, found through links (a venv's `python` points into the base install).
fn interpreter_prefix(program: &Path) -> Vec<PathBuf> {
    let mut prefixes = Vec::new();
    let mut add = |path: &Path| {
        if path.starts_with("/usr") || path.starts_with("/bin") || path.starts_with("/lib") {
            return;
        }
        let prefix = match path.parent() {
            Some(bin) if bin.file_name().is_some_and(|name| name == "bin") => bin.parent(),
            other => other,
        };
        if let Some(prefix) = prefix
            && prefix != Path::new("/")
        {
            prefixes.push(prefix.to_owned());
        }
    };
    add(program);
    if let Ok(real) = std::fs::canonicalize(program)
        && real != program
    {
        add(&real);
    }
    prefixes
}

/// The scratch folder exists, with a `tmp` inside, and all of it (what the caller put
/// there too) belongs to the user the server runs as.
fn prepare_scratch(scratch: &Path, for_nobody: bool) -> Result<(), SandboxError> {
    let error = |source| SandboxError::Scratch {
        path: scratch.to_owned(),
        source,
    };
    std::fs::create_dir_all(scratch.join("tmp")).map_err(error)?;
    if for_nobody {
        for entry in walkdir::WalkDir::new(scratch).follow_links(false) {
            let entry = entry.map_err(|walk| error(walk.into()))?;
            std::os::unix::fs::lchown(entry.path(), Some(UNPRIVILEGED_ID), Some(UNPRIVILEGED_ID))
                .map_err(error)?;
        }
    }
    Ok(())
}

fn is_root() -> bool {
    // The owner of our own /proc entry is our effective uid (no libc call needed).
    std::fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
        .unwrap_or(false)
}

/// The kernel counts the process limit over every process of the real user, so the
/// limit given is on top of what that user already runs (`nobody` runs none normally).
fn processes_of_runner(as_nobody: bool) -> u64 {
    let uid = if as_nobody {
        UNPRIVILEGED_ID
    } else {
        std::fs::metadata("/proc/self")
            .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta))
            .unwrap_or(0)
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("status")).ok())
        .filter(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next())
                .and_then(|real| real.parse::<u32>().ok())
                == Some(uid)
        })
        .count() as u64
}

/// A program on the caller's PATH, then on [`DEFAULT_PATH`].
pub(crate) fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .chain(std::env::split_paths(DEFAULT_PATH))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_outside_the_system_folders_brings_its_prefix() {
        assert_eq!(
            interpreter_prefix(Path::new("/opt/node-v20/bin/node")),
            [PathBuf::from("/opt/node-v20")]
        );
        assert!(interpreter_prefix(Path::new("/usr/bin/node")).is_empty());
    }

    #[test]
    fn parents_of_a_mount_are_made_walkable_once() {
        let mut mounts = Mounts::default();
        let mut out = Vec::new();
        mounts.bind(&mut out, "--ro-bind", Path::new("/root/.pyenv/versions/3"));
        mounts.bind(&mut out, "--ro-bind", Path::new("/root/.pyenv/other"));
        let dirs: Vec<&String> = out
            .windows(2)
            .filter(|pair| pair[0] == "--dir")
            .map(|pair| &pair[1])
            .collect();
        assert_eq!(dirs, ["/root", "/root/.pyenv", "/root/.pyenv/versions"]);
    }
}
