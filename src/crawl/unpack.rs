//! Safe unpacking of downloaded archives (npm tarballs, sdists, wheels, GitHub tarballs)
//! into a scratch directory, refusing anything that could write outside it or exhaust it.
//!
//! Each of these refuses the whole archive, with the entry and the reason:
//! - a path that is absolute or climbs out with `..`;
//! - a symbolic or hard link whose target lies outside the tree;
//! - more bytes than `max_total_bytes` or a file over `max_file_bytes` (sizes are counted
//!   as bytes are written, never taken from headers, which can lie);
//! - more entries than `max_entries`, or a path deeper than `max_depth`;
//! - device files, FIFOs and other special entries.
//!
//! Links that stay inside the tree are not created: static extraction reads files, and a
//! link in a scratch tree is one more thing a later write could follow. They are listed
//! in the report as skipped. Nothing is ever written except under `destination`, and on
//! refusal `destination` is removed again.
//!
//! The tar and zip crates parse the formats; the path and link policy is ours because
//! neither crate's built-in checks cover links, sizes and counts together.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use fs_err as fs;

/// Caps that keep a hostile archive from filling the disk or the inode table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    pub max_total_bytes: u64,
    pub max_file_bytes: u64,
    pub max_entries: usize,
    pub max_depth: usize,
}

impl Default for UnpackLimits {
    /// Generous for real packages (the largest npm tarballs of MCP servers unpack to tens of
    /// megabytes), far below what would hurt the machine.
    fn default() -> Self {
        UnpackLimits {
            max_total_bytes: 512 * 1024 * 1024,
            max_file_bytes: 64 * 1024 * 1024,
            max_entries: 50_000,
            max_depth: 48,
        }
    }
}

/// What an unpack wrote and what it passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackReport {
    pub files: usize,
    pub directories: usize,
    pub bytes: u64,
    /// Entries inside the tree that were not written (links), with why.
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{archive}: entry `{entry}` has an absolute path")]
    AbsolutePath { archive: PathBuf, entry: String },
    #[error("{archive}: entry `{entry}` climbs out of the tree with `..`")]
    PathTraversal { archive: PathBuf, entry: String },
    #[error("{archive}: link `{entry}` points outside the tree (to `{target}`)")]
    LinkOutOfTree {
        archive: PathBuf,
        entry: String,
        target: String,
    },
    #[error("{archive}: entry `{entry}` is a {kind}, which packages never need")]
    SpecialEntry {
        archive: PathBuf,
        entry: String,
        kind: &'static str,
    },
    #[error("{archive}: entry `{entry}` is nested deeper than {limit} folders")]
    TooDeep {
        archive: PathBuf,
        entry: String,
        limit: usize,
    },
    #[error("{archive}: more than {limit} entries (file-count bomb)")]
    TooManyEntries { archive: PathBuf, limit: usize },
    #[error("{archive}: entry `{entry}` is larger than {limit} bytes")]
    FileTooLarge {
        archive: PathBuf,
        entry: String,
        limit: u64,
    },
    #[error("{archive}: unpacks to more than {limit} bytes (size bomb)")]
    TotalTooLarge { archive: PathBuf, limit: u64 },
    #[error("{archive}: not a tar, tar.gz or zip archive")]
    UnknownFormat { archive: PathBuf },
    #[error("{archive}: the archive is damaged")]
    Corrupt {
        archive: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the unpacked tree under {destination}")]
    Write {
        destination: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Archive formats, told apart by their first bytes rather than by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    TarGz,
    Tar,
    Zip,
}

impl ArchiveKind {
    pub fn sniff(path: &Path) -> io::Result<Option<ArchiveKind>> {
        let mut head = [0u8; 262];
        let mut file = fs::File::open(path)?;
        let mut read = 0;
        while read < head.len() {
            match file.read(&mut head[read..])? {
                0 => break,
                n => read += n,
            }
        }
        let head = &head[..read];
        Ok(if head.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveKind::TarGz)
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(ArchiveKind::Zip)
        } else if head.len() >= 262 && &head[257..262] == b"ustar" {
            Some(ArchiveKind::Tar)
        } else {
            None
        })
    }
}

/// Unpacks `archive` into `destination` (created; must not exist yet or be empty).
pub fn unpack(
    archive: &Path,
    destination: &Path,
    limits: UnpackLimits,
) -> Result<UnpackReport, UnpackError> {
    let corrupt = |source| UnpackError::Corrupt {
        archive: archive.to_owned(),
        source,
    };
    let kind = ArchiveKind::sniff(archive)
        .map_err(corrupt)?
        .ok_or_else(|| UnpackError::UnknownFormat {
            archive: archive.to_owned(),
        })?;
    fs::create_dir_all(destination).map_err(|source| UnpackError::Write {
        destination: destination.to_owned(),
        source,
    })?;
    let mut writer = TreeWriter {
        archive: archive.to_owned(),
        root: destination.to_owned(),
        limits,
        report: UnpackReport::default(),
        entries: 0,
    };
    let result = match kind {
        ArchiveKind::TarGz => {
            let file = fs::File::open(archive).map_err(corrupt)?;
            unpack_tar(
                tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file))),
                &mut writer,
            )
        }
        ArchiveKind::Tar => {
            let file = fs::File::open(archive).map_err(corrupt)?;
            unpack_tar(tar::Archive::new(io::BufReader::new(file)), &mut writer)
        }
        ArchiveKind::Zip => unpack_zip(archive, &mut writer),
    };
    match result {
        Ok(()) => Ok(writer.report),
        Err(error) => {
            // Leave no half-written tree behind for a later stage to read.
            let _ = fs::remove_dir_all(destination);
            Err(error)
        }
    }
}

/// An entry as both formats describe it.
enum EntryKind<'a> {
    File,
    Directory,
    Link { target: &'a str, hard: bool },
    Special(&'static str),
}

struct TreeWriter {
    archive: PathBuf,
    root: PathBuf,
    limits: UnpackLimits,
    report: UnpackReport,
    entries: usize,
}

impl TreeWriter {
    /// Checks one entry's name and kind and writes it. `content` is read for files only.
    fn entry(
        &mut self,
        name: &str,
        kind: EntryKind,
        content: &mut dyn Read,
    ) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                archive: self.archive.clone(),
                limit: self.limits.max_entries,
            });
        }
        let relative = self.checked_relative(name)?;
        if relative.as_os_str().is_empty() {
            return Ok(()); // the archive's own root, e.g. `./`
        }
        match kind {
            EntryKind::Directory => {
                self.create_dir(&relative)?;
                self.report.directories += 1;
            }
            EntryKind::File => self.write_file(name, &relative, content)?,
            EntryKind::Link { target, hard } => {
                // A symlink's target is relative to the link's folder; a hard link's is
                // relative to the archive root.
                let base = if hard {
                    PathBuf::new()
                } else {
                    relative.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                if !stays_inside(&base, target) {
                    return Err(UnpackError::LinkOutOfTree {
                        archive: self.archive.clone(),
                        entry: name.to_owned(),
                        target: target.to_owned(),
                    });
                }
                self.report
                    .skipped
                    .push((name.to_owned(), format!("link to `{target}` not created")));
            }
            EntryKind::Special(kind) => {
                return Err(UnpackError::SpecialEntry {
                    archive: self.archive.clone(),
                    entry: name.to_owned(),
                    kind,
                });
            }
        }
        Ok(())
    }

    /// The entry's path relative to the root, or the reason it may not be written.
    fn checked_relative(&self, name: &str) -> Result<PathBuf, UnpackError> {
        let windows_absolute = name.as_bytes().get(1) == Some(&b':') || name.starts_with('\\');
        let path = Path::new(name);
        let mut relative = PathBuf::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => relative.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(UnpackError::PathTraversal {
                        archive: self.archive.clone(),
                        entry: name.to_owned(),
                    });
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(UnpackError::AbsolutePath {
                        archive: self.archive.clone(),
                        entry: name.to_owned(),
                    });
                }
            }
        }
        if windows_absolute {
            return Err(UnpackError::AbsolutePath {
                archive: self.archive.clone(),
                entry: name.to_owned(),
            });
        }
        if relative.components().count() > self.limits.max_depth {
            return Err(UnpackError::TooDeep {
                archive: self.archive.clone(),
                entry: name.to_owned(),
                limit: self.limits.max_depth,
            });
        }
        Ok(relative)
    }

    fn create_dir(&self, relative: &Path) -> Result<(), UnpackError> {
        fs::create_dir_all(self.root.join(relative)).map_err(|source| UnpackError::Write {
            destination: self.root.clone(),
            source,
        })
    }

    fn write_file(
        &mut self,
        name: &str,
        relative: &Path,
        content: &mut dyn Read,
    ) -> Result<(), UnpackError> {
        if let Some(parent) = relative.parent() {
            self.create_dir(parent)?;
        }
        let write_error = |source| UnpackError::Write {
            destination: self.root.clone(),
            source,
        };
        let path = self.root.join(relative);
        // A file written twice is replaced, never followed: remove whatever is there first.
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_file(&path).map_err(write_error)?;
        }
        let mut file = fs::File::create(&path).map_err(write_error)?;
        let remaining_total = self
            .limits
            .max_total_bytes
            .saturating_sub(self.report.bytes);
        let cap = self.limits.max_file_bytes.min(remaining_total);
        // Read one byte past the cap, so "exactly at the cap" and "over it" differ.
        let mut limited = content.take(cap + 1);
        let mut buffer = [0u8; 64 * 1024];
        let mut written: u64 = 0;
        loop {
            let n = limited
                .read(&mut buffer)
                .map_err(|source| UnpackError::Corrupt {
                    archive: self.archive.clone(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > cap {
                return Err(if written > self.limits.max_file_bytes {
                    UnpackError::FileTooLarge {
                        archive: self.archive.clone(),
                        entry: name.to_owned(),
                        limit: self.limits.max_file_bytes,
                    }
                } else {
                    UnpackError::TotalTooLarge {
                        archive: self.archive.clone(),
                        limit: self.limits.max_total_bytes,
                    }
                });
            }
            file.write_all(&buffer[..n]).map_err(write_error)?;
        }
        self.report.bytes += written;
        self.report.files += 1;
        Ok(())
    }
}

/// Whether `target`, taken relative to `base` (a folder inside the root), stays inside the
/// root after `..` are resolved lexically. Absolute targets never do.
fn stays_inside(base: &Path, target: &str) -> bool {
    if target.starts_with('/')
        || target.starts_with('\\')
        || target.as_bytes().get(1) == Some(&b':')
    {
        return false;
    }
    let mut depth: i64 = base.components().count() as i64;
    for component in Path::new(target).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

fn unpack_tar<R: Read>(
    mut archive: tar::Archive<R>,
    writer: &mut TreeWriter,
) -> Result<(), UnpackError> {
    let corrupt = |source| UnpackError::Corrupt {
        archive: writer.archive.clone(),
        source,
    };
    let entries = archive.entries().map_err(corrupt)?;
    for entry in entries {
        let mut entry = entry.map_err(|source| UnpackError::Corrupt {
            archive: writer.archive.clone(),
            source,
        })?;
        // The raw bytes, not `entry.path()`, which would already have reinterpreted them.
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link_target = entry
            .link_name_bytes()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                EntryKind::File
            }
            tar::EntryType::Directory => EntryKind::Directory,
            tar::EntryType::Symlink => EntryKind::Link {
                target: &link_target,
                hard: false,
            },
            tar::EntryType::Link => EntryKind::Link {
                target: &link_target,
                hard: true,
            },
            // Metadata entries (pax headers, GNU long names) are consumed by the tar crate
            // or carry nothing to write.
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {
                continue;
            }
            tar::EntryType::Char => EntryKind::Special("character device"),
            tar::EntryType::Block => EntryKind::Special("block device"),
            tar::EntryType::Fifo => EntryKind::Special("FIFO"),
            _ => EntryKind::Special("entry of an unknown type"),
        };
        writer.entry(&name, kind, &mut entry)?;
    }
    Ok(())
}

fn unpack_zip(path: &Path, writer: &mut TreeWriter) -> Result<(), UnpackError> {
    let corrupt = |source: io::Error| UnpackError::Corrupt {
        archive: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(corrupt)?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file))
        .map_err(|error| corrupt(io::Error::other(error)))?;
    if archive.len() > writer.limits.max_entries {
        return Err(UnpackError::TooManyEntries {
            archive: path.to_owned(),
            limit: writer.limits.max_entries,
        });
    }
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|error| corrupt(io::Error::other(error)))?;
        let name = entry
            .name()
            .map(|name| name.into_owned())
            .map_err(|error| corrupt(io::Error::other(error)))?;
        if entry.is_symlink() {
            // A zip symlink keeps its target as the entry's content; it is short.
            let mut target = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut target)
                .map_err(corrupt)?;
            writer.entry(
                &name,
                EntryKind::Link {
                    target: &target,
                    hard: false,
                },
                &mut io::empty(),
            )?;
        } else if entry.is_dir() {
            writer.entry(&name, EntryKind::Directory, &mut io::empty())?;
        } else {
            writer.entry(&name, EntryKind::File, &mut entry)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside_resolves_dot_dot_lexically() {
        assert!(stays_inside(Path::new("a/b"), "../c"));
        assert!(stays_inside(Path::new("a"), "../c"));
        assert!(!stays_inside(Path::new("a"), "../../c"));
        assert!(!stays_inside(Path::new(""), "../c"));
        assert!(!stays_inside(Path::new("a"), "/etc/passwd"));
        assert!(!stays_inside(Path::new("a"), "C:\\Windows"));
        assert!(stays_inside(Path::new(""), "./x/./y"));
    }
}
